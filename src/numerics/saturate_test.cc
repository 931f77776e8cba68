#include "numerics/saturate.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

namespace qdiff {
namespace {

template <typename T>
void check_saturate_exhaustive_int16() {
  const int64_t lo = std::numeric_limits<T>::min();
  const int64_t hi = std::numeric_limits<T>::max();
  for (int64_t v = -32768; v <= 32767; ++v) {
    ASSERT_EQ(static_cast<int64_t>(saturate<T>(v)), std::clamp(v, lo, hi)) << v;
  }
  for (int64_t v : {INT64_MIN, INT64_MIN + 1, INT64_MAX, int64_t{INT32_MIN} - 1,
                    int64_t{INT32_MAX} + 1, int64_t{UINT32_MAX} + 1}) {
    ASSERT_EQ(static_cast<int64_t>(saturate<T>(v)), std::clamp(v, lo, hi)) << v;
  }
}

TEST(Saturate, EveryInt16ValueIntoEveryType) {
  check_saturate_exhaustive_int16<int8_t>();
  check_saturate_exhaustive_int16<uint8_t>();
  check_saturate_exhaustive_int16<int16_t>();
  check_saturate_exhaustive_int16<uint16_t>();
  check_saturate_exhaustive_int16<int32_t>();
  check_saturate_exhaustive_int16<uint32_t>();
  EXPECT_EQ(saturate<int64_t>(INT64_MIN), INT64_MIN);
}

TEST(Saturate, SaturateTo) {
  for (int64_t v = -40000; v <= 40000; ++v) {
    ASSERT_EQ(saturate_to(v, int32_t{-127}, int32_t{127}), std::clamp<int64_t>(v, -127, 127));
    ASSERT_EQ(saturate_to(v, int32_t{1}, int32_t{255}), std::clamp<int64_t>(v, 1, 255));
  }
  EXPECT_EQ(saturate_to(INT64_MIN, INT32_MIN, INT32_MAX), INT32_MIN);
  EXPECT_EQ(saturate_to(INT64_MAX, INT32_MIN, INT32_MAX), INT32_MAX);
  EXPECT_EQ(saturate_to(5, int32_t{5}, int32_t{5}), 5);
  EXPECT_EQ(saturate_to(INT64_MIN, INT64_MIN, INT64_MAX), INT64_MIN);
}

// NaN -> 0 (then clamped), +-Inf -> the bounds, finite values truncate toward zero then clamp.
TEST(Saturate, FloatConversionIsDefinedEverywhere) {
  const double inf = std::numeric_limits<double>::infinity();
  const double nan = std::numeric_limits<double>::quiet_NaN();
  EXPECT_EQ(saturate_float(nan, -128, 127), 0);
  EXPECT_EQ(saturate_float(nan, 1, 255), 1);  // 0 clamped into [1, 255]
  EXPECT_EQ(saturate_float(nan, -9, -3), -3);
  EXPECT_EQ(saturate_float(inf, -128, 127), 127);
  EXPECT_EQ(saturate_float(-inf, -128, 127), -128);
  EXPECT_EQ(saturate_float(1e300, INT64_MIN, INT64_MAX), INT64_MAX);
  EXPECT_EQ(saturate_float(-1e300, INT64_MIN, INT64_MAX), INT64_MIN);
  EXPECT_EQ(saturate_float(9223372036854775808.0, INT64_MIN, INT64_MAX), INT64_MAX);
  EXPECT_EQ(saturate_float(-9223372036854775808.0, INT64_MIN, INT64_MAX), INT64_MIN);
  EXPECT_EQ(saturate_float(9223372036854774784.0, INT64_MIN, INT64_MAX), 9223372036854774784);
  EXPECT_EQ(saturate_float(2.9, -128, 127), 2);
  EXPECT_EQ(saturate_float(-2.9, -128, 127), -2);
  EXPECT_EQ(saturate_float(-0.0, -128, 127), 0);
  EXPECT_EQ(saturate_float(127.99, -128, 127), 127);
  EXPECT_EQ(saturate_float(-128.99, -128, 127), -128);
  // Bounds that are not representable in double are still honoured exactly.
  const int64_t odd = (int64_t{1} << 53) + 1;
  EXPECT_EQ(saturate_float(9007199254740992.0, 0, odd), int64_t{1} << 53);
  EXPECT_EQ(saturate_float(1e17, 0, odd), odd);
  EXPECT_EQ(saturate_cast<int8_t>(300.0), 127);
  EXPECT_EQ(saturate_cast<int8_t>(-300.0f), -128);
  EXPECT_EQ(saturate_cast<uint8_t>(-1.0), 0);
  EXPECT_EQ(saturate_cast<uint8_t>(nan), 0);
  EXPECT_EQ(saturate_cast<int32_t>(3e9), INT32_MAX);
  EXPECT_EQ(saturate_cast<int32_t>(-3e9), INT32_MIN);
  EXPECT_EQ(saturate_cast<uint32_t>(4294967295.0), UINT32_MAX);
  EXPECT_EQ(saturate_cast<int64_t>(-inf), INT64_MIN);
}

}  // namespace
}  // namespace qdiff
