#include "numerics/quant_params.h"

#include <cfloat>
#include <cmath>
#include <string>

#include "numerics/saturate.h"

namespace qdiff {
namespace {

// rhe((qmin + qmax) / 2): ORT's symmetric zero point (0 for signed, 128 for uint8).
int32_t symmetric_zero_point(int32_t qmin, int32_t qmax) {
  return rounding_shift_right(qmin + qmax, 1, RoundingMode::kHalfToEven);
}

Status check_format(int bits, bool is_signed, bool symmetric, bool narrow_range) {
  if ((bits < 2 || bits > 16) && !(bits == 32 && is_signed)) {
    return invalid_argument(
        "quantization bits must be in [2, 16] (or 32 signed, for biases), got " +
        std::to_string(bits));
  }
  if (narrow_range && !symmetric) {
    return invalid_argument("narrow_range is only supported with symmetric quantization");
  }
  return Status::ok_status();
}

}  // namespace

int32_t QuantParams::qmin() const {
  QDIFF_ASSERT(bits >= 1 && bits <= 32, "QuantParams::qmin: bits out of range");
  const int32_t base = is_signed ? static_cast<int32_t>(-(int64_t{1} << (bits - 1))) : 0;
  return narrow_range ? base + 1 : base;
}

int32_t QuantParams::qmax() const {
  QDIFF_ASSERT(bits >= 1 && (bits <= 31 || (bits == 32 && is_signed)),
               "QuantParams::qmax: bits out of range");
  return is_signed ? static_cast<int32_t>((int64_t{1} << (bits - 1)) - 1)
                   : static_cast<int32_t>((int64_t{1} << bits) - 1);
}

Status QuantParams::validate() const {
  QDIFF_RETURN_IF_ERROR(check_format(bits, is_signed, symmetric, narrow_range));
  if (axis < -1) {
    return invalid_argument("quantization axis must be -1 (per-tensor) or >= 0, got " +
                            std::to_string(axis));
  }
  if (scales.empty()) return invalid_argument("quantization parameters have no scale");
  if (axis == -1 && scales.size() != 1) {
    return invalid_argument("per-tensor quantization needs exactly 1 scale, got " +
                            std::to_string(scales.size()));
  }
  if (zero_points.size() != scales.size()) {
    return invalid_argument("quantization parameters have " + std::to_string(scales.size()) +
                            " scale(s) but " + std::to_string(zero_points.size()) +
                            " zero point(s)");
  }
  const int32_t lo = qmin();
  const int32_t hi = qmax();
  const int32_t sym_zp = symmetric_zero_point(lo, hi);
  for (size_t c = 0; c < scales.size(); ++c) {
    const std::string where = scales.size() == 1 ? "" : " of channel " + std::to_string(c);
    const float s = scales[c];
    if (std::isnan(s) || std::isinf(s) || s <= 0.0f) {
      return invalid_argument("scale" + where + " must be positive and finite, got " +
                              std::to_string(s));
    }
    const int32_t zp = zero_points[c];
    if (zp < lo || zp > hi) {
      return invalid_argument("zero point" + where + " is " + std::to_string(zp) +
                              ", outside the quantized range [" + std::to_string(lo) + ", " +
                              std::to_string(hi) + "]");
    }
    if (symmetric && zp != sym_zp) {
      return invalid_argument("symmetric quantization needs zero point " + std::to_string(sym_zp) +
                              ", but the zero point" + where + " is " + std::to_string(zp));
    }
  }
  return Status::ok_status();
}

Result<QuantParams> choose_params(float min, float max, int bits, bool is_signed, bool symmetric,
                                  bool narrow_range) {
  QDIFF_RETURN_IF_ERROR(check_format(bits, is_signed, symmetric, narrow_range));
  if (!std::isfinite(min) || !std::isfinite(max)) {
    return invalid_argument("cannot choose quantization parameters for a non-finite range [" +
                            std::to_string(min) + ", " + std::to_string(max) + "]");
  }
  if (min > max) {
    return invalid_argument("cannot choose quantization parameters: min " + std::to_string(min) +
                            " > max " + std::to_string(max));
  }
  QuantParams p;
  p.bits = bits;
  p.is_signed = is_signed;
  p.symmetric = symmetric;
  p.narrow_range = narrow_range;
  const int32_t qmin = p.qmin();
  const int32_t qmax = p.qmax();

  float rmin = std::min(min, 0.0f);
  float rmax = std::max(max, 0.0f);
  if (symmetric) {
    const float absmax = std::max(std::fabs(rmin), std::fabs(rmax));
    rmin = -absmax;
    rmax = absmax;
  }
  // ORT: dr = float64(rmax - rmin) with the subtraction in float32 (numpy float32 arrays).
  const float dr32 = rmax - rmin;
  if (std::isinf(dr32)) {
    return invalid_argument("quantization range [" + std::to_string(min) + ", " +
                            std::to_string(max) + "] overflows float32");
  }
  const double dq = static_cast<double>(qmax) - static_cast<double>(qmin);
  const double scale = static_cast<double>(dr32) / dq;
  int32_t zp = 0;
  float scale32 = 1.0f;
  if (scale >= static_cast<double>(FLT_MIN)) {
    if (symmetric) {
      zp = symmetric_zero_point(qmin, qmax);
    } else {
      const double z = static_cast<double>(qmin) - static_cast<double>(rmin) / scale;
      zp = static_cast<int32_t>(
          saturate_float(round_float(z, RoundingMode::kHalfToEven), qmin, qmax));
    }
    scale32 = static_cast<float>(scale);
  } else {
    // ORT: a degenerate (all-zero) range gets scale 1 and zero point 0; for unsigned symmetric
    // ranges 0 is not the middle code, so keep the symmetric zero point instead.
    zp = symmetric ? symmetric_zero_point(qmin, qmax) : std::max(qmin, 0);
  }
  p.scales = {scale32};
  p.zero_points = {zp};
  return p;
}

int32_t round_to_grid(float v, int32_t zp, int32_t qmin, int32_t qmax, RoundingMode mode) {
  QDIFF_ASSERT(qmin <= qmax, "round_to_grid: qmin > qmax");
  if (std::isnan(v)) v = 0.0f;
  const float lo = static_cast<float>(int64_t{qmin} - zp);
  const float hi = static_cast<float>(int64_t{qmax} - zp);
  v = v < lo ? lo : (v > hi ? hi : v);
  const float r = round_float(v, mode);
  // r is an integer in [qmin - zp, qmax - zp] (bounds exact for |bound| <= 2^24).
  return saturate_to(static_cast<int64_t>(r) + zp, qmin, qmax);
}

int32_t quantize(float x, float scale, int32_t zp, int32_t qmin, int32_t qmax, RoundingMode mode) {
  return round_to_grid(x / scale, zp, qmin, qmax, mode);  // float32 division, as ORT
}

int32_t quantize_by_reciprocal(float x, float scale, int32_t zp, int32_t qmin, int32_t qmax,
                               RoundingMode mode) {
  return round_to_grid(x * (1.0f / scale), zp, qmin, qmax, mode);
}

float dequantize(int32_t q, float scale, int32_t zp) {
  return static_cast<float>(int64_t{q} - int64_t{zp}) * scale;
}

float fake_quant(float x, float scale, int32_t zp, int32_t qmin, int32_t qmax, RoundingMode mode) {
  return dequantize(quantize(x, scale, zp, qmin, qmax, mode), scale, zp);
}

int32_t quantize(float x, const QuantParams& p, int64_t channel, RoundingMode mode) {
  QDIFF_ASSERT(channel >= 0 && static_cast<size_t>(channel) < p.scales.size() &&
                   p.zero_points.size() == p.scales.size(),
               "quantize: channel out of range");
  const size_t c = static_cast<size_t>(channel);
  return quantize(x, p.scales[c], p.zero_points[c], p.qmin(), p.qmax(), mode);
}

float dequantize(int32_t q, const QuantParams& p, int64_t channel) {
  QDIFF_ASSERT(channel >= 0 && static_cast<size_t>(channel) < p.scales.size() &&
                   p.zero_points.size() == p.scales.size(),
               "dequantize: channel out of range");
  const size_t c = static_cast<size_t>(channel);
  return dequantize(q, p.scales[c], p.zero_points[c]);
}

float fake_quant(float x, const QuantParams& p, int64_t channel, RoundingMode mode) {
  return dequantize(quantize(x, p, channel, mode), p, channel);
}

float pot_scale(int fix_pos) {
  QDIFF_ASSERT(fix_pos >= -127 && fix_pos <= 149, "pot_scale: fix_pos out of float range");
  return std::ldexp(1.0f, -fix_pos);
}

Result<int> fix_pos_from_scale(float scale, FixPosRule rule) {
  if (!std::isfinite(scale) || !(scale > 0.0f)) {
    return invalid_argument("cannot derive a fix_pos from scale " + std::to_string(scale) +
                            "; the scale must be positive and finite");
  }
  const double s = static_cast<double>(scale);
  double pos = 0.0;
  switch (rule) {
    case FixPosRule::kNearest:
      pos = round_float(-std::log2(s), RoundingMode::kHalfToEven);
      break;
    case FixPosRule::kOverflow:
      pos = std::floor(std::log2(1.0 / s));
      break;
  }
  return static_cast<int>(pos);
}

}  // namespace qdiff
