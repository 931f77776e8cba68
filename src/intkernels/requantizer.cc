#include "intkernels/requantizer.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <string>
#include <type_traits>

#include "numerics/saturate.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

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

namespace {

#if defined(__x86_64__)
#pragma GCC diagnostic push
// GCC 12 warns inside its own AVX-512 headers (_mm512_undefined_* operands of masked forms).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
// Stores 16 int32 (already in T's range) as T: narrowed in a register and stored whole, or
// through the mask for a partial vector (a narrowing store to memory is much slower).
template <typename T>
__attribute__((target("avx512f,avx512bw,avx512vl"))) inline void store_narrow(T* o, __m512i q,
                                                                              bool full,
                                                                              __mmask16 m) {
  if constexpr (sizeof(T) == 1) {
    const __m128i b = std::is_signed_v<T> ? _mm512_cvtsepi32_epi8(q) : _mm512_cvtusepi32_epi8(q);
    if (full)
      _mm_storeu_si128(reinterpret_cast<__m128i*>(o), b);
    else
      _mm_mask_storeu_epi8(o, m, b);
  } else {
    const __m256i w = std::is_signed_v<T> ? _mm512_cvtsepi32_epi16(q) : _mm512_cvtusepi32_epi16(q);
    if (full)
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(o), w);
    else
      _mm256_mask_storeu_epi16(o, m, w);
  }
}

// One channels-last row block of the vector path below, 16 channels at a time with AVX-512 (the
// same operations: f32 multiply, clamp, cvtps2dq rounding half to even, + z; masked tail).
template <typename T>
__attribute__((target("avx512f,avx512bw,avx512vl"))) void requant_row_avx512(
    const int32_t* a, const int32_t* bias, const float* scale, int64_t channels, float fmin,
    float fmax, int32_t z, T* o) {
  const __m512 vmin = _mm512_set1_ps(fmin), vmax = _mm512_set1_ps(fmax);
  const __m512i vz = _mm512_set1_epi32(z);
  for (int64_t c = 0; c < channels; c += 16) {
    const int64_t left = channels - c;
    const __mmask16 m = left >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << left) - 1);
    const __m512i s =
        _mm512_add_epi32(_mm512_maskz_loadu_epi32(m, a + c), _mm512_maskz_loadu_epi32(m, bias + c));
    __m512 v = _mm512_mul_ps(_mm512_cvtepi32_ps(s), _mm512_maskz_loadu_ps(m, scale + c));
    v = _mm512_min_ps(_mm512_max_ps(v, vmin), vmax);
    const __m512i q = _mm512_add_epi32(_mm512_cvtps_epi32(v), vz);
    store_narrow(o + c, q, left >= 16, m);
  }
}
#pragma GCC diagnostic pop
#endif

}  // namespace

template <typename T>
void Requantizer::apply_channels_last(const int32_t* acc, const int32_t* bias, int64_t pixels,
                                      int64_t channels, T* out) const {
  QDIFF_ASSERT(channels >= 1 && (this->channels() == 1 || this->channels() == channels),
               "apply_channels_last: channel count mismatch");
  QDIFF_ASSERT(lo_ >= std::numeric_limits<T>::min() && hi_ <= std::numeric_limits<T>::max(),
               "apply_channels_last: output grid wider than the storage type");
  const bool vector = spec_.requant == Requant::kFloat32 && float_bias_.empty() &&
                      spec_.requant_rounding == RoundingMode::kHalfToEven;
  if (!vector) {
    for (int64_t p = 0; p < pixels; ++p) {
      const int32_t* a = acc + p * channels;
      T* o = out + p * channels;
      for (int64_t c = 0; c < channels; ++c)
        o[c] = static_cast<T>(apply(int64_t{a[c]} + (bias ? bias[c] : 0), c));
    }
    return;
  }
  // requantize_fp32 with half-to-even: clamp f32(acc) * S to [lo - z, hi - z] in float, round
  // to nearest even (cvtps2dq under the default MXCSR; nearbyint in the scalar tail), add z.
  std::vector<float> scale(static_cast<size_t>(channels));
  std::vector<int32_t> zero_bias;
  for (int64_t c = 0; c < channels; ++c) scale[c] = float_scale_[index(c)];
  if (bias == nullptr) {
    zero_bias.assign(static_cast<size_t>(channels), 0);
    bias = zero_bias.data();
  }
  const float fmin = static_cast<float>(lo_ - z_y_), fmax = static_cast<float>(hi_ - z_y_);
#if defined(__x86_64__)
  static const bool avx512 = __builtin_cpu_supports("avx512f") &&
                             __builtin_cpu_supports("avx512bw") &&
                             __builtin_cpu_supports("avx512vl");
  if (avx512) {
    // k = 16 / gcd(C, 16) pixels hold k * C values, a whole number of vectors: with scale and
    // bias repeated k times the rows run as groups of k pixels without masks or partial vectors.
    const int64_t k = 16 / std::gcd(channels, int64_t{16});
    const int64_t span = k * channels;
    std::vector<float> scale_k(static_cast<size_t>(span));
    std::vector<int32_t> bias_k(static_cast<size_t>(span));
    for (int64_t i = 0; i < span; ++i) {
      scale_k[static_cast<size_t>(i)] = scale[static_cast<size_t>(i % channels)];
      bias_k[static_cast<size_t>(i)] = bias[i % channels];
    }
    const int64_t groups = pixels / k;
    // Elementwise: the same results with any number of threads.
#pragma omp parallel for schedule(static) if (groups * span >= (1 << 18))
    for (int64_t g = 0; g < groups; ++g)
      requant_row_avx512(acc + g * span, bias_k.data(), scale_k.data(), span, fmin, fmax, z_y_,
                         out + g * span);
    for (int64_t p = groups * k; p < pixels; ++p)
      requant_row_avx512(acc + p * channels, bias, scale.data(), channels, fmin, fmax, z_y_,
                         out + p * channels);
    return;
  }
#endif
  for (int64_t p = 0; p < pixels; ++p) {
    const int32_t* a = acc + p * channels;
    T* o = out + p * channels;
    int64_t c = 0;
#if defined(__SSE2__)
    const __m128 vmin = _mm_set1_ps(fmin), vmax = _mm_set1_ps(fmax);
    const __m128i vz = _mm_set1_epi32(z_y_);
    alignas(16) int32_t q[4];
    for (; c + 4 <= channels; c += 4) {
      const __m128i s = _mm_add_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(a + c)),
                                      _mm_loadu_si128(reinterpret_cast<const __m128i*>(bias + c)));
      __m128 v = _mm_mul_ps(_mm_cvtepi32_ps(s), _mm_loadu_ps(scale.data() + c));
      v = _mm_min_ps(_mm_max_ps(v, vmin), vmax);
      _mm_store_si128(reinterpret_cast<__m128i*>(q), _mm_add_epi32(_mm_cvtps_epi32(v), vz));
      for (int k = 0; k < 4; ++k) o[c + k] = static_cast<T>(q[k]);
    }
#endif
    for (; c < channels; ++c) {
      float v = static_cast<float>(a[c] + bias[c]) * scale[c];
      v = std::min(std::max(v, fmin), fmax);
      o[c] = static_cast<T>(static_cast<int32_t>(std::nearbyint(v)) + z_y_);
    }
  }
}

template void Requantizer::apply_channels_last<uint8_t>(const int32_t*, const int32_t*, int64_t,
                                                        int64_t, uint8_t*) const;
template void Requantizer::apply_channels_last<int8_t>(const int32_t*, const int32_t*, int64_t,
                                                       int64_t, int8_t*) const;
template void Requantizer::apply_channels_last<uint16_t>(const int32_t*, const int32_t*, int64_t,
                                                         int64_t, uint16_t*) const;
template void Requantizer::apply_channels_last<int16_t>(const int32_t*, const int32_t*, int64_t,
                                                        int64_t, int16_t*) const;

}  // namespace qdiff::intkernels
