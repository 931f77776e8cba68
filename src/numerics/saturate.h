// Saturation (clamping) of integers and saturating float -> integer conversion.
//
// NaN policy (numerics.md §2.2 does not specify NaN; the real runtimes differ by ISA — e.g. x86
// cvtps2dq returns INT32_MIN, and a NaN fed to SSE maxps as the first operand yields the second):
// qdiff maps NaN to 0 *before* clamping, i.e. NaN behaves like real 0 (so a quantizer returns the
// zero point). This matches Tensor::cast (NaN -> 0) elsewhere in the project. +Inf saturates to the
// upper bound and -Inf to the lower bound. These conversions never invoke the undefined behaviour
// of an out-of-range static_cast<int>(float).
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "support/status.h"

namespace qdiff {

// Clamps v to [lo, hi] (requires lo <= hi).
inline int64_t saturate_to(int64_t v, int64_t lo, int64_t hi) {
  QDIFF_ASSERT(lo <= hi, "saturate_to: empty range");
  return v < lo ? lo : (v > hi ? hi : v);
}
inline int32_t saturate_to(int64_t v, int32_t lo, int32_t hi) {
  return static_cast<int32_t>(saturate_to(v, int64_t{lo}, int64_t{hi}));
}

// Clamps v to the range of the integer type T (int8 .. int64, uint8 .. uint32), sat_T in
// numerics.md.
template <typename T>
T saturate(int64_t v) {
  static_assert(std::is_integral_v<T> && sizeof(T) <= 8 && !std::is_same_v<T, bool>);
  static_assert(!(std::is_unsigned_v<T> && sizeof(T) == 8), "uint64 cannot be reached from int64");
  if constexpr (std::is_same_v<T, int64_t>) {
    return v;
  } else {
    constexpr int64_t lo = static_cast<int64_t>(std::numeric_limits<T>::min());
    constexpr int64_t hi = static_cast<int64_t>(std::numeric_limits<T>::max());
    return static_cast<T>(v < lo ? lo : (v > hi ? hi : v));
  }
}

// Converts x to an integer in [lo, hi]: NaN -> clamp(0), +-Inf and out-of-range values saturate,
// otherwise the value is truncated toward zero (callers round first with round_float). Defined for
// every input; float arguments promote to double exactly.
inline int64_t saturate_float(double x, int64_t lo, int64_t hi) {
  QDIFF_ASSERT(lo <= hi, "saturate_float: empty range");
  if (std::isnan(x)) x = 0.0;
  // Convert within int64's range first (2^63 is exact in double), then clamp exactly in int64.
  constexpr double kTwo63 = 9223372036854775808.0;
  int64_t t;
  if (x >= kTwo63) {
    t = std::numeric_limits<int64_t>::max();
  } else if (x <= -kTwo63) {
    t = std::numeric_limits<int64_t>::min();
  } else {
    t = static_cast<int64_t>(x);  // truncation toward zero, in range
  }
  return t < lo ? lo : (t > hi ? hi : t);
}

// saturate_float to the range of T.
template <typename T>
T saturate_cast(double x) {
  static_assert(std::is_integral_v<T> && !std::is_same_v<T, bool> &&
                !(std::is_unsigned_v<T> && sizeof(T) == 8));
  return static_cast<T>(saturate_float(x, static_cast<int64_t>(std::numeric_limits<T>::min()),
                                       static_cast<int64_t>(std::numeric_limits<T>::max())));
}

}  // namespace qdiff
