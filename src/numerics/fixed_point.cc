#include "numerics/fixed_point.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>

#include "numerics/quant_params.h"
#include "numerics/saturate.h"

namespace qdiff {
namespace {

__extension__ typedef __int128 int128;

constexpr int32_t kInt32Min = std::numeric_limits<int32_t>::min();
constexpr int32_t kInt32Max = std::numeric_limits<int32_t>::max();
constexpr float kMagicBias = 12582912.0f;  // 1.5 * 2^23
constexpr int32_t kMagicBiasBits = 0x4B400000;

int32_t float_bits(float f) {
  return static_cast<int32_t>(std::bit_cast<uint32_t>(f));
}

// The magic-number variants are exact only while the clamped value stays below 2^22 in magnitude.
void check_magic_range(int32_t zp, int32_t qmin, int32_t qmax) {
  QDIFF_ASSERT(qmin <= qmax, "requantize: qmin > qmax");
  const int64_t lo = int64_t{qmin} - zp;
  const int64_t hi = int64_t{qmax} - zp;
  QDIFF_ASSERT(lo >= -(int64_t{1} << 22) && hi <= (int64_t{1} << 22),
               "magic-number requantization needs |q - zp| <= 2^22");
}

}  // namespace

int32_t saturating_rounding_doubling_high_mul(int32_t a, int32_t b) {
  // Literal gemmlowp: the only overflow is INT32_MIN * INT32_MIN (2^62 / 2^31 = 2^31).
  const bool overflow = a == b && a == kInt32Min;
  const int64_t ab = int64_t{a} * int64_t{b};
  const int64_t nudge = ab >= 0 ? (int64_t{1} << 30) : (1 - (int64_t{1} << 30));
  const int32_t ab_x2_high32 = static_cast<int32_t>((ab + nudge) / (int64_t{1} << 31));
  return overflow ? kInt32Max : ab_x2_high32;
}

QuantizedMultiplier quantize_multiplier(double real, int bits) {
  QDIFF_ASSERT(bits >= 1 && bits <= 31, "quantize_multiplier: bits must be in [1, 31]");
  QDIFF_ASSERT(std::isfinite(real), "quantize_multiplier: real multiplier must be finite");
  if (real == 0.0) return {};
  int shift = 0;
  const double q = std::frexp(real, &shift);  // |q| in [0.5, 1)
  // TfLiteRound = std::round (half away from zero); q * 2^bits is exact in double.
  int64_t q_fixed = static_cast<int64_t>(std::round(q * static_cast<double>(int64_t{1} << bits)));
  if (q_fixed == (int64_t{1} << bits)) {
    q_fixed /= 2;
    ++shift;
  }
  if (shift < -31) {  // TFLite's limit (RoundingDivideByPOT exponent), whatever the width
    shift = 0;
    q_fixed = 0;
  }
  return {static_cast<int32_t>(q_fixed), shift};
}

QuantizedMultiplier quantize_multiplier_single_rounding(double real) {
  QuantizedMultiplier m = quantize_multiplier(real, 31);
  if (m.shift > 30) m = {kInt32Max, 30};
  return m;
}

int32_t reduce_multiplier_to_15bit(int32_t multiplier) {
  return multiplier < 0x7FFF0000 ? (multiplier + (1 << 15)) >> 16 : 0x7FFF;
}

int32_t multiply_by_quantized_multiplier_double_rounding(int32_t x, int32_t multiplier, int shift) {
  QDIFF_ASSERT(shift >= -31 && shift <= 31, "MultiplyByQuantizedMultiplier: shift out of range");
  const int left_shift = shift > 0 ? shift : 0;
  const int right_shift = shift > 0 ? 0 : -shift;
  // x * (1 << left_shift) in two's complement (wraps where TFLite has UB).
  const int32_t shifted = static_cast<int32_t>(static_cast<uint32_t>(x) << left_shift);
  return rounding_divide_by_pot(saturating_rounding_doubling_high_mul(shifted, multiplier),
                                right_shift, RoundingMode::kHalfAwayFromZero);
}

int32_t multiply_by_quantized_multiplier_single_rounding(int32_t x, int32_t multiplier, int shift) {
  QDIFF_ASSERT(shift >= -31 && shift <= 30, "single-rounding multiplier: shift out of range");
  const int total_shift = 31 - shift;  // in [1, 62]
  const int64_t round = int64_t{1} << (total_shift - 1);
  // |x * M| <= 2^62 and round <= 2^61: no overflow in int64.
  const int64_t result = (int64_t{x} * int64_t{multiplier} + round) >> total_shift;
  return saturate<int32_t>(result);
}

int32_t multiply_by_quantized_multiplier_int64(int64_t x, int32_t multiplier, int shift) {
  QDIFF_ASSERT(shift >= -31 && shift <= 7, "int64 multiplier: shift out of range");
  const int32_t reduced = reduce_multiplier_to_15bit(multiplier);
  const int total_shift = 15 - shift;  // in [8, 46]
  const int128 round = int128{1} << (total_shift - 1);
  const int128 result = (int128{x} * int128{reduced} + round) >> total_shift;
  if (result < kInt32Min) return kInt32Min;
  if (result > kInt32Max) return kInt32Max;
  return static_cast<int32_t>(result);
}

FloatMantissaMultiplier float_mantissa_multiplier(float scale) {
  QDIFF_ASSERT(scale >= 0x1.0p-32f && scale < 256.0f,
               "XNNPACK rndnu requires a scale in [2^-32, 256)");
  const uint32_t bits = std::bit_cast<uint32_t>(scale);
  const int32_t multiplier = static_cast<int32_t>((bits & 0x007FFFFFu) | 0x00800000u);
  const int shift = 127 + 23 - static_cast<int>(bits >> 23);
  return {multiplier, shift};
}

int32_t requantize_float_mantissa(int32_t acc, FloatMantissaMultiplier m, int32_t zp, int32_t qmin,
                                  int32_t qmax, RoundingMode mode) {
  QDIFF_ASSERT(m.shift >= 1 && m.shift <= 62, "mantissa multiplier: shift out of range");
  // |acc * M24| < 2^55: exact in int64.
  const int64_t y = rounding_shift_right(int64_t{acc} * int64_t{m.multiplier}, m.shift, mode);
  const int64_t lo = int64_t{qmin} - zp;
  const int64_t hi = int64_t{qmax} - zp;
  return static_cast<int32_t>(saturate_to(y, lo, hi) + zp);
}

int32_t requantize_fp32(int32_t acc, float scale, int32_t zp, int32_t qmin, int32_t qmax,
                        RoundingMode mode) {
  return round_to_grid(static_cast<float>(acc) * scale, zp, qmin, qmax, mode);
}

int32_t requantize_fp32_mlas(int32_t acc, float scale, int32_t zp, int32_t qmin, int32_t qmax) {
  check_magic_range(zp, qmin, qmax);
  float y = static_cast<float>(acc) * scale;
  const float lo = static_cast<float>(qmin - zp);
  const float hi = static_cast<float>(qmax - zp);
  y = std::max(y, lo);          // std::max(NaN, lo) = NaN ...
  y = std::min(y, hi);          // ... and std::min(NaN, hi) = NaN, as in MLAS
  if (std::isnan(y)) y = 0.0f;  // qdiff's NaN policy (see fixed_point.h)
  const int32_t q = float_bits(y + kMagicBias) - kMagicBiasBits;
  return q + zp;
}

int32_t requantize_fp32_xnnpack_fmagic(int32_t acc, float scale, int32_t zp, int32_t qmin,
                                       int32_t qmax) {
  check_magic_range(zp, qmin, qmax);
  float y = static_cast<float>(acc) * scale;
  if (std::isnan(y)) y = 0.0f;  // qdiff's NaN policy (see fixed_point.h)
  const float lo = static_cast<float>(qmin - zp);
  const float hi = static_cast<float>(qmax - zp);
  y = y > lo ? y : lo;  // math_max_f32
  y = y < hi ? y : hi;  // math_min_f32
  y += kMagicBias;
  return float_bits(y) - (kMagicBiasBits - zp);
}

int32_t requantize_fp32_xnnpack_imagic(int32_t acc, float scale, int32_t zp, int32_t qmin,
                                       int32_t qmax) {
  check_magic_range(zp, qmin, qmax);
  float y = static_cast<float>(acc) * scale;
  if (std::isnan(y)) y = 0.0f;  // qdiff's NaN policy (see fixed_point.h)
  y += kMagicBias;
  int32_t b = float_bits(y);
  const int32_t magic_min = float_bits(kMagicBias + static_cast<float>(qmin - zp));
  const int32_t magic_max = float_bits(kMagicBias + static_cast<float>(qmax - zp));
  b = std::max(b, magic_min);
  b = std::min(b, magic_max);
  return b - (kMagicBiasBits - zp);
}

float ort_requant_scale(float s_x, float s_w, float s_y) {
  const float product = s_x * s_w;
  return product / s_y;
}

double tflite_real_multiplier(float s_x, float s_w, float s_y) {
  return static_cast<double>(s_x) * static_cast<double>(s_w) / static_cast<double>(s_y);
}

}  // namespace qdiff
