#include "intkernels/requantizer.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "numerics/saturate.h"

namespace qdiff::intkernels {

using targets::Requant;
using targets::ScaleMath;

RequantSpec requant_spec(const targets::TargetProfile& profile) {
  RequantSpec s;
  s.requant = profile.requant;
  s.scale_math = profile.scale_math;
  s.multiplier_bits = profile.multiplier_bits;
  s.requant_rounding = profile.requant_rounding;
  return s;
}

void fused_activation_bounds(float lo, float hi, float s_y, int32_t z_y, int32_t qmin, int32_t qmax,
                             RoundingMode mode, int32_t* act_min, int32_t* act_max) {
  auto to_q = [&](float v) -> int64_t {
    const double r = round_float(static_cast<double>(v) / static_cast<double>(s_y), mode);
    return static_cast<int64_t>(z_y) + saturate_float(r, INT32_MIN, INT32_MAX);
  };
  *act_min = std::isfinite(lo) ? static_cast<int32_t>(saturate_to(to_q(lo), qmin, qmax)) : qmin;
  *act_max = std::isfinite(hi) ? static_cast<int32_t>(saturate_to(to_q(hi), qmin, qmax)) : qmax;
}

namespace {

std::string channel_name(size_t c, size_t n) {
  return n > 1 ? " (channel " + std::to_string(c) + ")" : std::string();
}

bool positive_finite(float v) {
  return std::isfinite(v) && v > 0.0f;
}

}  // namespace

Result<Requantizer> Requantizer::create(const RequantInputs& in, const RequantSpec& spec) {
  if (in.s_w.empty()) return invalid_argument("requantizer: no weight scale");
  if (!positive_finite(in.s_x)) return invalid_argument("requantizer: input scale must be > 0");
  if (!positive_finite(in.s_y)) return invalid_argument("requantizer: output scale must be > 0");
  if (in.qmin > in.qmax) return invalid_argument("requantizer: qmin > qmax");
  if (spec.multiplier_bits < 8 || spec.multiplier_bits > 31) {
    return invalid_argument("requantizer: multiplier_bits must be in [8, 31], got " +
                            std::to_string(spec.multiplier_bits));
  }
  Requantizer r;
  r.spec_ = spec;
  r.z_y_ = in.z_y;
  r.s_y_ = in.s_y;
  r.lo_ = std::max(in.qmin, in.act_min);
  r.hi_ = std::min(in.qmax, in.act_max);
  if (r.lo_ > r.hi_) return invalid_argument("requantizer: fused activation range is empty");
  if (in.z_y < in.qmin || in.z_y > in.qmax) {
    return invalid_argument("requantizer: output zero point outside [qmin, qmax]");
  }
  if (!in.float_bias.empty()) {
    if (spec.requant != Requant::kFloat32) {
      return invalid_argument(
          "requantizer: a float bias (bias_bits 0) needs the float32 requantization");
    }
    if (in.float_bias.size() != 1 && in.float_bias.size() != in.s_w.size()) {
      return invalid_argument("requantizer: float bias length does not match the channels");
    }
    r.float_bias_ = in.float_bias;
  }
  const size_t n = in.s_w.size();
  for (size_t c = 0; c < n; ++c) {
    const float s_w = in.s_w[c];
    const std::string where = channel_name(c, n);
    if (!positive_finite(s_w)) {
      return invalid_argument("requantizer: weight scale must be > 0" + where);
    }
    // The real multiplier as the target forms it from the stored float32 scales.
    double real = 0.0;
    float fscale = 0.0f;
    switch (spec.scale_math) {
      case ScaleMath::kFloat32TwoStep:
      case ScaleMath::kFloat32Product:  // f32(s_x * s_w) / s_y left to right: the same two steps
        fscale = ort_requant_scale(in.s_x, s_w, in.s_y);
        real = static_cast<double>(fscale);
        break;
      case ScaleMath::kDouble:
        real = tflite_real_multiplier(in.s_x, s_w, in.s_y);
        fscale = static_cast<float>(real);
        break;
    }
    if (!std::isfinite(fscale) || !(fscale > 0.0f)) {
      return invalid_argument("requantizer: multiplier s_x * s_w / s_y is not a positive float32" +
                              where);
    }
    r.float_scale_.push_back(fscale);
    QuantizedMultiplier qm;
    FloatMantissaMultiplier mm;
    int shift_cut = 0;
    switch (spec.requant) {
      case Requant::kFloat32:
        break;
      case Requant::kDoubleRounding:
      case Requant::kSingleRounding:
      case Requant::kInt64Reduced: {
        const int bits = spec.requant == Requant::kInt64Reduced ? 31 : spec.multiplier_bits;
        qm = (spec.requant == Requant::kSingleRounding && bits == 31)
                 ? quantize_multiplier_single_rounding(real)
                 : quantize_multiplier(real, bits);
        if (qm.multiplier == 0) {
          return invalid_argument("requantizer: multiplier " + std::to_string(real) +
                                  " underflows the fixed-point representation" + where);
        }
        qm.multiplier = static_cast<int32_t>(int64_t{qm.multiplier} << (31 - bits));
        const int max_shift = spec.requant == Requant::kDoubleRounding   ? 31
                              : spec.requant == Requant::kSingleRounding ? 30
                                                                         : 7;
        if (qm.shift < -31 || qm.shift > max_shift) {
          return invalid_argument("requantizer: multiplier " + std::to_string(real) +
                                  " needs shift " + std::to_string(qm.shift) +
                                  ", outside the mechanism's range [-31, " +
                                  std::to_string(max_shift) + "]" + where);
        }
        break;
      }
      case Requant::kRndnu:
        if (!(fscale >= 0x1.0p-32f && fscale < 256.0f)) {
          return invalid_argument("requantizer: XNNPACK rndnu needs a scale in [2^-32, 256), got " +
                                  std::to_string(fscale) + where);
        }
        mm = float_mantissa_multiplier(fscale);
        break;
      case Requant::kPowerOfTwo: {
        // Exact in double: products and quotients of powers of two.
        const double ratio =
            static_cast<double>(in.s_x) * static_cast<double>(s_w) / static_cast<double>(in.s_y);
        int e = 0;
        const double m = std::frexp(ratio, &e);
        if (m != 0.5) {
          return invalid_argument(
              "requantizer: power-of-two requantization needs power-of-two scales (s_x * s_w / "
              "s_y = " +
              std::to_string(ratio) + ")" + where);
        }
        shift_cut = -(e - 1);  // ratio = 2^(e-1) = 2^-shift_cut
        if (shift_cut < -31 || shift_cut > 62) {
          return invalid_argument("requantizer: shift_cut " + std::to_string(shift_cut) +
                                  " out of range" + where);
        }
        break;
      }
    }
    r.fixed_.push_back(qm);
    r.mantissa_.push_back(mm);
    r.shift_cut_.push_back(shift_cut);
  }
  return r;
}

size_t Requantizer::index(int64_t channel) const {
  if (float_scale_.size() == 1) return 0;
  QDIFF_ASSERT(channel >= 0 && channel < channels(), "requantizer: channel out of range");
  return static_cast<size_t>(channel);
}

int32_t Requantizer::apply(int64_t acc, int64_t channel) const {
  const size_t c = index(channel);
  const auto wrap32 = [](int64_t v) {
    return static_cast<int32_t>(static_cast<uint32_t>(static_cast<uint64_t>(v)));
  };
  int64_t y = 0;
  switch (spec_.requant) {
    case Requant::kFloat32: {
      const bool fits = acc >= INT32_MIN && acc <= INT32_MAX;
      if (float_bias_.empty() && fits) {
        return requantize_fp32(static_cast<int32_t>(acc), float_scale_[c], z_y_, lo_, hi_,
                               spec_.requant_rounding);
      }
      // P6 with a float bias in output units (TensorRT-style epilogue) or an accumulator wider
      // than int32 (f32(acc) rounds it): the same steps spelled out.
      float v = static_cast<float>(acc) * float_scale_[c];
      if (!float_bias_.empty()) {
        const float b = float_bias_[float_bias_.size() == 1 ? 0 : c];
        v = v + b / s_y_;
      }
      if (std::isnan(v)) return z_y_;
      const float fmin = static_cast<float>(lo_ - z_y_);
      const float fmax = static_cast<float>(hi_ - z_y_);
      v = std::min(std::max(v, fmin), fmax);
      v = round_float(v, spec_.requant_rounding);
      return static_cast<int32_t>(saturate_float(v, lo_ - z_y_, hi_ - z_y_) + z_y_);
    }
    case Requant::kDoubleRounding:
      y = multiply_by_quantized_multiplier_double_rounding(wrap32(acc), fixed_[c].multiplier,
                                                           fixed_[c].shift);
      break;
    case Requant::kSingleRounding:
      y = multiply_by_quantized_multiplier_single_rounding(wrap32(acc), fixed_[c].multiplier,
                                                           fixed_[c].shift);
      break;
    case Requant::kInt64Reduced:
      y = multiply_by_quantized_multiplier_int64(acc, fixed_[c].multiplier, fixed_[c].shift);
      break;
    case Requant::kRndnu:
      return requantize_float_mantissa(wrap32(acc), mantissa_[c], z_y_, lo_, hi_,
                                       RoundingMode::kHalfUp);
    case Requant::kPowerOfTwo: {
      const int s = shift_cut_[c];
      if (s >= 0) {
        y = rounding_shift_right(acc, s, RoundingMode::kHalfUp);
      } else {
        const int64_t limit = INT64_MAX >> -s;  // |acc| above it would overflow the left shift
        y = acc > limit ? INT64_MAX : (acc < -limit ? INT64_MIN : acc * (int64_t{1} << -s));
      }
      break;
    }
  }
  // y is at most int64-ranged here; adding z_y cannot overflow after this clamp.
  y = saturate_to(y, int64_t{INT32_MIN}, int64_t{INT32_MAX});
  return static_cast<int32_t>(saturate_to(y + z_y_, int64_t{lo_}, int64_t{hi_}));
}

}  // namespace qdiff::intkernels
