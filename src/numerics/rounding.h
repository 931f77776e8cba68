// Rounding modes and rounding primitives of the integer world (numerics.md §0).
//
// Every primitive here is an explicit integer (or exact floating-point) operation: nothing depends
// on the floating-point environment (fesetround) or on the C library's nearbyint/lrint.
//
// Which mode reproduces which source (numerics.md notation in brackets):
//   kHalfToEven        [rhe]  nearbyint/lrintf under FE_TONEAREST, cvtps2dq, vcvtnq, np.round,
//                             the float "magic bias" trick; ORT QuantizeLinear, MLAS/XNNPACK fp32
//                             requantization, TensorRT, PyTorch quantize, vai_q
//                             PY3_ROUND/half_even.
//   kHalfAwayFromZero  [rhaz] std::round, TfLiteRound, gemmlowp RoundingDivideByPOT (P2), CMSIS-NN
//                             arm_nn_divide_by_power_of_two, XNNPACK "rndna", vai_q STD_ROUND.
//   kHalfUp            [rhu]  floor(v + 1/2): ARM srshl/vrshl/vqrdmulh, gemmlowp SRDHM (P1),
//                             TFLite single rounding (P4), XNNPACK "rndnu", Vitis DPU_ROUND.
//   kHalfDown                 ceil(v - 1/2): vai_q_pytorch method 6 (half_down).
//   kFloor                    asr (arithmetic shift right), vai_q method 4.
//   kCeil                     vai_q method 7.
//   kTowardZero               C truncation (static_cast<int>, astype(int8)).
#pragma once

#include <cmath>
#include <cstdint>
#include <string_view>
#include <type_traits>

#include "support/status.h"

namespace qdiff {

enum class RoundingMode : uint8_t {
  kHalfToEven,
  kHalfAwayFromZero,
  kHalfUp,    // ties toward +inf
  kHalfDown,  // ties toward -inf
  kFloor,
  kCeil,
  kTowardZero,
};

inline constexpr RoundingMode kAllRoundingModes[] = {
    RoundingMode::kHalfToEven, RoundingMode::kHalfAwayFromZero,
    RoundingMode::kHalfUp,     RoundingMode::kHalfDown,
    RoundingMode::kFloor,      RoundingMode::kCeil,
    RoundingMode::kTowardZero};

// Canonical names: "half_to_even", "half_away_from_zero", "half_up", "half_down", "floor", "ceil",
// "toward_zero".
std::string_view rounding_mode_name(RoundingMode mode);
// Accepts the canonical names and the aliases used in numerics.md and by the runtimes
// (case-insensitive): rhe, rne, nearest_even, py3_round, half_even; rhaz, half_away, std_round,
// round; rhu, dpu_round, rndnu; floor; ceil; trunc, truncate.
Result<RoundingMode> parse_rounding_mode(std::string_view text);

namespace numerics_detail {

template <typename F>
F round_float_impl(F x, RoundingMode mode) {
  static_assert(std::is_floating_point_v<F>);
  if (!std::isfinite(x)) return x;  // NaN and +-Inf pass through unchanged
  // x - trunc(x) is exact (the low bits of x); x - floor(x) is NOT for negative x (e.g.
  // -0.49999999999999994 + 1 rounds to 0.5).
  const F t = std::trunc(x);
  const F f = x - t;  // |f| < 1, same sign as x
  if (f == F(0)) return x;
  const F a = std::fabs(f);
  const F half = F(0.5);
  const bool positive = x > F(0);
  bool away = false;  // away from zero (t + sign(x)) or toward zero (t)
  switch (mode) {
    case RoundingMode::kHalfToEven:
      away = a > half || (a == half && std::fmod(t, F(2)) != F(0));
      break;
    case RoundingMode::kHalfAwayFromZero:
      away = a >= half;
      break;
    case RoundingMode::kHalfUp:
      away = positive ? a >= half : a > half;
      break;
    case RoundingMode::kHalfDown:
      away = positive ? a > half : a >= half;
      break;
    case RoundingMode::kFloor:
      away = !positive;
      break;
    case RoundingMode::kCeil:
      away = positive;
      break;
    case RoundingMode::kTowardZero:
      away = false;
      break;
  }
  // Here |x| < 2^(mantissa bits), so t +- 1 is exact.
  const F r = away ? (positive ? t + F(1) : t - F(1)) : t;
  return r == F(0) ? std::copysign(F(0), x) : r;  // keep the sign of zero like std::round
}

template <typename I>
I rounding_shift_right_impl(I x, int exponent, RoundingMode mode) {
  static_assert(std::is_signed_v<I> && std::is_integral_v<I>);
  using U = std::make_unsigned_t<I>;
  constexpr int kBits = static_cast<int>(sizeof(I) * 8);
  QDIFF_ASSERT(exponent >= 0 && exponent < kBits, "rounding shift exponent out of range");
  if (exponent == 0) return x;
  const I fl = static_cast<I>(x >> exponent);  // floor(x / 2^e); arithmetic shift (C++20)
  const U mask = static_cast<U>((U(1) << exponent) - 1);
  const U rem = static_cast<U>(static_cast<U>(x) & mask);  // x - fl * 2^e, in [0, 2^e)
  const U half = static_cast<U>(U(1) << (exponent - 1));
  bool up = false;
  switch (mode) {
    case RoundingMode::kHalfToEven:
      up = rem > half || (rem == half && (fl & 1) != 0);
      break;
    case RoundingMode::kHalfAwayFromZero:
      up = rem > half || (rem == half && x >= 0);
      break;
    case RoundingMode::kHalfUp:
      up = rem >= half;
      break;
    case RoundingMode::kHalfDown:
      up = rem > half;
      break;
    case RoundingMode::kFloor:
      up = false;
      break;
    case RoundingMode::kCeil:
      up = rem != 0;
      break;
    case RoundingMode::kTowardZero:
      up = rem != 0 && x < 0;
      break;
  }
  // e >= 1 gives |fl| <= 2^(bits-2), so fl + 1 cannot overflow.
  return up ? static_cast<I>(fl + 1) : fl;
}

}  // namespace numerics_detail

// Rounds x to an integer-valued float with `mode`, exactly (no FE-mode dependence). NaN and +-Inf
// are returned unchanged; a zero result keeps the sign of x (like std::round / nearbyint).
inline double round_float(double x, RoundingMode mode) {
  return numerics_detail::round_float_impl(x, mode);
}
inline float round_float(float x, RoundingMode mode) {
  return numerics_detail::round_float_impl(x, mode);
}

// The quantization step of QuantizeLinear with round half to even, as a float: rhe(clamp(x / s,
// lo, hi)) with lo = qmin - zp and hi = qmax - zp, NaN -> 0. For |v| <= 2^16 rhe(v) = (v + 1.5 *
// 2^23) - 1.5 * 2^23 exactly in float32 (round to nearest even is the only floating-point
// environment qdiff runs in), so this is branch-free and vectorizes; the quantized integer is
// the result + zp, the fake-quantized value the result * s. Requires |lo|, |hi| <= 2^16.
inline float rhe_clamped_quotient(float x, float scale, float lo, float hi) {
  constexpr float kMagic = 12582912.0f;
  float v = x / scale;
  v = v != v ? 0.0f : v;
  v = v < lo ? lo : (v > hi ? hi : v);
  return (v + kMagic) - kMagic;
}

// round(x / 2^exponent) with `mode`, exponent in [0, 31]; defined for every int32 x (INT32_MIN
// included) and never overflows. With kHalfAwayFromZero this is gemmlowp's RoundingDivideByPOT
// (numerics.md P2, TFLite reference, CMSIS-NN arm_nn_divide_by_power_of_two); with kHalfUp it is
// ARM's rounding shift (srshl / vrshl, XNNPACK rndnu, DPU_ROUND); with kFloor it is asr.
inline int32_t rounding_divide_by_pot(int32_t x, int exponent, RoundingMode mode) {
  return numerics_detail::rounding_shift_right_impl<int32_t>(x, exponent, mode);
}

// Same operation under the name used for shifts; int32 with exponent in [0, 31], int64 with
// exponent in [0, 63].
inline int32_t rounding_shift_right(int32_t x, int exponent, RoundingMode mode) {
  return numerics_detail::rounding_shift_right_impl<int32_t>(x, exponent, mode);
}
inline int64_t rounding_shift_right(int64_t x, int exponent, RoundingMode mode) {
  return numerics_detail::rounding_shift_right_impl<int64_t>(x, exponent, mode);
}

// gemmlowp's RoundingDivideByPOT written literally as in gemmlowp/fixedpoint/fixedpoint.h (mask,
// remainder, threshold = (mask >> 1) + (x < 0)); kept as an independent statement of the source to
// test rounding_divide_by_pot(x, e, kHalfAwayFromZero) against. exponent in [0, 31].
inline int32_t gemmlowp_rounding_divide_by_pot(int32_t x, int exponent) {
  QDIFF_ASSERT(exponent >= 0 && exponent <= 31, "RoundingDivideByPOT exponent out of range");
  const int32_t mask = static_cast<int32_t>((int64_t{1} << exponent) - 1);
  const int32_t remainder = x & mask;
  const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
  return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

}  // namespace qdiff
