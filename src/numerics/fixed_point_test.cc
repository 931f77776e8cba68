#include "numerics/fixed_point.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <random>
#include <vector>

namespace qdiff {
namespace {

__extension__ typedef __int128 int128;

// floor(n / 2^k) and the three tie rules, written with 128-bit division (independent of the
// shift-and-mask code under test).
int128 floor_div_pot(int128 n, int k) {
  const int128 d = int128{1} << k;
  int128 q = n / d;
  if (q * d != n && n < 0) q -= 1;
  return q;
}
int128 rhu_div_pot(int128 n, int k) {  // floor(n / 2^k + 1/2)
  if (k == 0) return n;
  return floor_div_pot(2 * n + (int128{1} << k), k + 1);
}
int128 rhaz_div_pot(int128 n, int k) {  // sign(n) * floor(|n| / 2^k + 1/2)
  return n < 0 ? -rhu_div_pot(-n, k) : rhu_div_pot(n, k);
}

int32_t oracle_srdhm(int32_t a, int32_t b) {
  if (a == INT32_MIN && b == INT32_MIN) return INT32_MAX;
  return static_cast<int32_t>(rhu_div_pot(int128{a} * b, 31));
}

std::vector<int32_t> edge_values() {
  return {INT32_MIN,
          INT32_MIN + 1,
          INT32_MAX,
          INT32_MAX - 1,
          0,
          1,
          -1,
          2,
          -2,
          1 << 30,
          -(1 << 30),
          (1 << 30) + 1,
          -(1 << 30) - 1,
          1 << 15,
          -(1 << 15),
          46341,
          -46341};
}

TEST(Srdhm, EdgePairsAndRandomAgainstWideOracle) {
  const std::vector<int32_t> edges = edge_values();
  for (int32_t a : edges) {
    for (int32_t b : edges) {
      ASSERT_EQ(saturating_rounding_doubling_high_mul(a, b), oracle_srdhm(a, b)) << a << " " << b;
    }
  }
  std::mt19937 rng(42);
  for (int i = 0; i < 1000000; ++i) {
    int32_t a = static_cast<int32_t>(rng());
    int32_t b = static_cast<int32_t>(rng());
    if (i % 4 == 1) a >>= rng() % 31;  // smaller magnitudes too
    if (i % 4 == 2) b = edges[rng() % edges.size()];
    ASSERT_EQ(saturating_rounding_doubling_high_mul(a, b), oracle_srdhm(a, b)) << a << " " << b;
  }
}

// numerics.md P1: ties go to +inf (it is *not* round-half-away).
TEST(Srdhm, HandVectors) {
  EXPECT_EQ(saturating_rounding_doubling_high_mul(INT32_MIN, INT32_MIN), INT32_MAX);
  EXPECT_EQ(saturating_rounding_doubling_high_mul(INT32_MIN, INT32_MAX), -INT32_MAX);
  EXPECT_EQ(saturating_rounding_doubling_high_mul(INT32_MAX, INT32_MAX), INT32_MAX - 1);
  EXPECT_EQ(saturating_rounding_doubling_high_mul(1 << 30, 1 << 30), 1 << 29);  // 0.5 * 0.5
  EXPECT_EQ(saturating_rounding_doubling_high_mul(1, 1 << 30), 1);              // 0.5 -> 1
  EXPECT_EQ(saturating_rounding_doubling_high_mul(-1, 1 << 30), 0);             // -0.5 -> 0 (rhu)
  EXPECT_EQ(saturating_rounding_doubling_high_mul(-3, 1 << 30), -1);            // -1.5 -> -1
  EXPECT_EQ(saturating_rounding_doubling_high_mul(3, 1 << 30), 2);              // 1.5 -> 2
}

TEST(QuantizeMultiplier, HandVectors) {
  using QM = QuantizedMultiplier;
  EXPECT_EQ(quantize_multiplier(0.0), (QM{0, 0}));
  EXPECT_EQ(quantize_multiplier(0.5), (QM{1 << 30, 0}));
  EXPECT_EQ(quantize_multiplier(1.0), (QM{1 << 30, 1}));
  EXPECT_EQ(quantize_multiplier(0.25), (QM{1 << 30, -1}));
  EXPECT_EQ(quantize_multiplier(0.75), (QM{1610612736, 0}));
  EXPECT_EQ(quantize_multiplier(3.0), (QM{1610612736, 2}));
  EXPECT_EQ(quantize_multiplier(-0.5), (QM{-(1 << 30), 0}));
  // q * 2^31 rounds up to 2^31: halve and bump the exponent.
  EXPECT_EQ(quantize_multiplier(1.0 - std::ldexp(1.0, -40)), (QM{1 << 30, 1}));
  EXPECT_EQ(quantize_multiplier(std::nextafter(0.5, 0.0)), (QM{1 << 30, 0}));
  // rhaz at the tie: q = 0.5 + 2^-32 -> q*2^31 = 2^30 + 0.5 -> 2^30 + 1.
  EXPECT_EQ(quantize_multiplier(0.5 + std::ldexp(1.0, -32)), (QM{(1 << 30) + 1, 0}));
  // Flush below 2^-32.
  EXPECT_EQ(quantize_multiplier(std::ldexp(1.0, -31)), (QM{1 << 30, -30}));
  EXPECT_EQ(quantize_multiplier(std::ldexp(1.0, -32)), (QM{1 << 30, -31}));
  EXPECT_EQ(quantize_multiplier(std::ldexp(1.0, -33)), (QM{0, 0}));
  EXPECT_EQ(quantize_multiplier(std::ldexp(0.99, -32)), (QM{0, 0}));
  // Large multipliers keep their exponent unless single rounding caps it.
  EXPECT_EQ(quantize_multiplier(std::ldexp(1.0, 40)), (QM{1 << 30, 41}));
  EXPECT_EQ(quantize_multiplier_single_rounding(std::ldexp(1.0, 40)), (QM{INT32_MAX, 30}));
  EXPECT_EQ(quantize_multiplier_single_rounding(std::ldexp(1.0, 30)), (QM{INT32_MAX, 30}));
  EXPECT_EQ(quantize_multiplier_single_rounding(std::ldexp(1.0, 29)), (QM{1 << 30, 30}));
  EXPECT_EQ(quantize_multiplier_single_rounding(0.75), (QM{1610612736, 0}));
  // 15-bit variant of the recipe.
  EXPECT_EQ(quantize_multiplier(0.75, 15), (QM{24576, 0}));
  EXPECT_EQ(quantize_multiplier(1.0 - std::ldexp(1.0, -20), 15), (QM{1 << 14, 1}));
}

// For many reals in (0, 1) and > 1: multiplier in [2^30, 2^31) and M * 2^(shift - 31)
// reconstructs the real value within 2^-31 relative (2^-bits for other widths).
TEST(QuantizeMultiplier, RandomReconstruction) {
  std::mt19937_64 rng(5);
  std::uniform_real_distribution<double> log2r(-33.0, 24.0);
  for (int bits : {31, 24, 15, 8}) {
    for (int i = 0; i < 200000; ++i) {
      const double real = std::exp2(log2r(rng));
      const QuantizedMultiplier m = quantize_multiplier(real, bits);
      if (m.multiplier == 0) {  // flushed: every product would shift out
        ASSERT_LT(real, std::ldexp(1.0, -32)) << real;
        ASSERT_EQ(m.shift, 0);
        continue;
      }
      ASSERT_GE(m.multiplier, int64_t{1} << (bits - 1)) << real;
      ASSERT_LT(m.multiplier, int64_t{1} << bits) << real;
      const double recon = std::ldexp(static_cast<double>(m.multiplier), m.shift - bits);
      ASSERT_LE(std::fabs(recon - real), std::ldexp(real, -bits)) << real << " bits " << bits;
      if (bits == 31) {
        ASSERT_GE(m.shift, -31);
        const QuantizedMultiplier s = quantize_multiplier_single_rounding(real);
        ASSERT_EQ(s, m);  // reals < 2^24 never hit the cap
      }
    }
  }
}

TEST(ReduceMultiplier, HandVectors) {
  EXPECT_EQ(reduce_multiplier_to_15bit(1 << 30), 1 << 14);
  EXPECT_EQ(reduce_multiplier_to_15bit((1 << 30) + (1 << 15)), (1 << 14) + 1);  // tie rounds up
  EXPECT_EQ(reduce_multiplier_to_15bit((1 << 30) + (1 << 15) - 1), 1 << 14);
  EXPECT_EQ(reduce_multiplier_to_15bit(0x7FFEFFFF), 0x7FFF);
  EXPECT_EQ(reduce_multiplier_to_15bit(0x7FFF0000), 0x7FFF);
  EXPECT_EQ(reduce_multiplier_to_15bit(INT32_MAX), 0x7FFF);
}

// Hand-derived from numerics.md P3/P4: M = 2^30 (0.5), shift -1 -> real multiplier 0.25.
//   x = -2: SRDHM = rhu(-1) = -1, RDBPOT(-1, 1) = rhaz(-0.5) = -1; single: rhu(-0.5) = 0.
//   x =  5: SRDHM = rhu(2.5) = 3, RDBPOT(3, 1) = rhaz(1.5) = 2;   single: rhu(1.25) = 1.
//   x =  2: both 1 (rhaz and rhu agree on positive halves).
//   x = -6, shift -2 (0.125): SRDHM = -3, rhaz(-0.75) = -1; single rhu(-0.75) = -1.
TEST(MultiplyByQuantizedMultiplier, DoubleVersusSingleHandVectors) {
  struct Row {
    int32_t x, m;
    int shift;
    int32_t dbl, sgl;
  };
  const Row rows[] = {
      {-2, 1 << 30, -1, -1, 0},
      {5, 1 << 30, -1, 2, 1},
      {2, 1 << 30, -1, 1, 1},
      {-6, 1 << 30, -2, -1, -1},
      {-1, 1 << 30, 0, 0, 0},
      {-3, 1 << 30, 0, -1, -1},
      {-4, 1 << 30, -2, -1, 0},
      {-12, 1 << 30, -3, -1, -1},
      {100, 1 << 30, 1, 100, 100},
      {-2, 1 << 30, -31, 0, 0},
      {INT32_MIN, 1 << 30, 1, 0, INT32_MIN},  // x << 1 wraps to 0
  };
  for (const Row& r : rows) {
    SCOPED_TRACE(::testing::Message() << r.x << " " << r.m << " " << r.shift);
    EXPECT_EQ(multiply_by_quantized_multiplier_double_rounding(r.x, r.m, r.shift), r.dbl);
    EXPECT_EQ(multiply_by_quantized_multiplier_single_rounding(r.x, r.m, r.shift), r.sgl);
  }
  // The left shift wraps like the hardware (TFLite UB): 2^30 << 1 = INT32_MIN, times 0.5.
  EXPECT_EQ(multiply_by_quantized_multiplier_double_rounding(1 << 30, 1 << 30, 1), -(1 << 30));
  EXPECT_EQ(multiply_by_quantized_multiplier_single_rounding(1 << 30, 1 << 30, 1), 1 << 30);
  // Single rounding saturates instead of overflowing.
  EXPECT_EQ(multiply_by_quantized_multiplier_single_rounding(INT32_MAX, INT32_MAX, 30), INT32_MAX);
  EXPECT_EQ(multiply_by_quantized_multiplier_single_rounding(INT32_MIN, INT32_MAX, 30), INT32_MIN);
}

TEST(MultiplyByQuantizedMultiplier, IdentityMultiplierOnEveryInt16) {
  const QuantizedMultiplier one = quantize_multiplier(1.0);
  for (int32_t x = -32768; x <= 32767; ++x) {
    ASSERT_EQ(multiply_by_quantized_multiplier_double_rounding(x, one.multiplier, one.shift), x);
    ASSERT_EQ(multiply_by_quantized_multiplier_single_rounding(x, one.multiplier, one.shift), x);
    ASSERT_EQ(multiply_by_quantized_multiplier_int64(x, one.multiplier, one.shift), x);
  }
}

TEST(MultiplyByQuantizedMultiplier, RandomAgainstOraclesAndDisagreementRates) {
  std::mt19937 rng(2024);
  std::uniform_int_distribution<int32_t> xd(-(1 << 22), 1 << 22);
  std::uniform_int_distribution<int32_t> md(1 << 30, INT32_MAX);
  for (int rs : {1, 2, 4, 8, 12}) {
    int differ = 0;
    const int n = 400000;
    for (int i = 0; i < n; ++i) {
      const int32_t x = xd(rng);
      const int32_t m = md(rng);
      const int shift = -rs;
      const int32_t dbl = multiply_by_quantized_multiplier_double_rounding(x, m, shift);
      const int32_t sgl = multiply_by_quantized_multiplier_single_rounding(x, m, shift);
      const int128 prod = int128{x} * m;
      ASSERT_EQ(sgl, static_cast<int32_t>(rhu_div_pot(prod, 31 + rs))) << x << " " << m;
      ASSERT_EQ(dbl, static_cast<int32_t>(rhaz_div_pot(rhu_div_pot(prod, 31), rs)))
          << x << " " << m;
      ASSERT_LE(std::abs(dbl - sgl), 1);
      differ += dbl != sgl;
    }
    // numerics.md §0 measured 25.0 %, 12.5 %, 3.1 %, 0.19 %, 0.013 % for rs = 1, 2, 4, 8, 12.
    const double rate = static_cast<double>(differ) / n;
    const double expected = std::ldexp(1.0, -(rs + 1));
    EXPECT_NEAR(rate, expected, 0.1 * expected + 3e-4) << "right shift " << rs;
  }
  // Left shifts (real multiplier > 1) with values that do not overflow.
  for (int i = 0; i < 200000; ++i) {
    const int ls = static_cast<int>(rng() % 8) + 1;
    const int32_t x = xd(rng) >> ls;
    const int32_t m = md(rng);
    const int128 prod = int128{x} * m;
    ASSERT_EQ(multiply_by_quantized_multiplier_double_rounding(x, m, ls),
              static_cast<int32_t>(rhu_div_pot(prod * (int128{1} << ls), 31)));
    ASSERT_EQ(multiply_by_quantized_multiplier_single_rounding(x, m, ls),
              static_cast<int32_t>(rhu_div_pot(prod, 31 - ls)));
  }
}

// P5: hand vectors (M = 2^30 -> M16 = 2^14, real 0.5) and a 128-bit oracle.
TEST(MultiplyByQuantizedMultiplier, Int64Path) {
  EXPECT_EQ(multiply_by_quantized_multiplier_int64(3, 1 << 30, 0), 2);    // rhu(1.5)
  EXPECT_EQ(multiply_by_quantized_multiplier_int64(-3, 1 << 30, 0), -1);  // rhu(-1.5)
  EXPECT_EQ(multiply_by_quantized_multiplier_int64(-1, 1 << 30, 0), 0);   // rhu(-0.5)
  EXPECT_EQ(multiply_by_quantized_multiplier_int64(int64_t{1} << 40, 1 << 30, 0), INT32_MAX);
  EXPECT_EQ(multiply_by_quantized_multiplier_int64(-(int64_t{1} << 47), 1 << 30, 7), INT32_MIN);
  // The 15-bit multiplier is visibly coarser than the 31-bit one.
  const QuantizedMultiplier m = quantize_multiplier(0.7);
  EXPECT_NE(multiply_by_quantized_multiplier_int64(int64_t{1} << 30, m.multiplier, m.shift),
            multiply_by_quantized_multiplier_single_rounding(1 << 30, m.multiplier, m.shift));
  std::mt19937_64 rng(11);
  for (int i = 0; i < 300000; ++i) {
    const int64_t x = static_cast<int64_t>(rng()) >> 17;  // |x| < 2^47
    const int32_t mult = static_cast<int32_t>((rng() % (uint64_t{1} << 30)) + (uint64_t{1} << 30));
    const int shift = static_cast<int>(rng() % 39) - 31;  // [-31, 7]
    const int32_t m16 = mult < 0x7FFF0000 ? (mult + (1 << 15)) >> 16 : 0x7FFF;
    int128 expect = rhu_div_pot(int128{x} * m16, 15 - shift);
    if (expect > INT32_MAX) expect = INT32_MAX;
    if (expect < INT32_MIN) expect = INT32_MIN;
    ASSERT_EQ(multiply_by_quantized_multiplier_int64(x, mult, shift), static_cast<int32_t>(expect));
  }
}

TEST(FloatMantissaMultiplier, DerivationAndRounding) {
  EXPECT_EQ(float_mantissa_multiplier(0.5f), (FloatMantissaMultiplier{1 << 23, 24}));
  EXPECT_EQ(float_mantissa_multiplier(1.0f), (FloatMantissaMultiplier{1 << 23, 23}));
  EXPECT_EQ(float_mantissa_multiplier(0.75f), (FloatMantissaMultiplier{3 << 22, 24}));
  EXPECT_EQ(float_mantissa_multiplier(0x1.0p-32f).shift, 55);
  EXPECT_EQ(float_mantissa_multiplier(255.0f).shift, 16);
  const FloatMantissaMultiplier half = float_mantissa_multiplier(0.5f);
  // -0.5: rndnu (rhu) -> 0, rndna (rhaz) -> -1, rhe -> 0; -1.5: -1, -2, -2.
  EXPECT_EQ(requantize_float_mantissa(-1, half, 0, -128, 127, RoundingMode::kHalfUp), 0);
  EXPECT_EQ(requantize_float_mantissa(-1, half, 0, -128, 127, RoundingMode::kHalfAwayFromZero), -1);
  EXPECT_EQ(requantize_float_mantissa(-1, half, 0, -128, 127, RoundingMode::kHalfToEven), 0);
  EXPECT_EQ(requantize_float_mantissa(-3, half, 0, -128, 127, RoundingMode::kHalfUp), -1);
  EXPECT_EQ(requantize_float_mantissa(-3, half, 0, -128, 127, RoundingMode::kHalfAwayFromZero), -2);
  EXPECT_EQ(requantize_float_mantissa(-3, half, 5, -128, 127, RoundingMode::kHalfUp), 4);
  EXPECT_EQ(requantize_float_mantissa(1000, half, 5, -128, 127, RoundingMode::kHalfUp), 127);
  EXPECT_EQ(requantize_float_mantissa(INT32_MIN, half, 5, -128, 127, RoundingMode::kHalfUp), -128);
  // Random: equals the exact rational rounding, and is within 1 of the fp32 path.
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> ls(-20.0f, 2.0f);
  for (int i = 0; i < 200000; ++i) {
    const float scale = std::exp2(ls(rng));
    const FloatMantissaMultiplier m = float_mantissa_multiplier(scale);
    ASSERT_EQ(std::ldexp(static_cast<double>(m.multiplier), -m.shift), static_cast<double>(scale));
    const int32_t acc = static_cast<int32_t>(rng()) >> (rng() % 31);
    const int32_t zp = static_cast<int32_t>(rng() % 256) - 128;
    int128 y = rhu_div_pot(int128{acc} * m.multiplier, m.shift);
    y = y < -128 - zp ? -128 - zp : (y > 127 - zp ? 127 - zp : y);
    const int32_t got = requantize_float_mantissa(acc, m, zp, -128, 127, RoundingMode::kHalfUp);
    ASSERT_EQ(got, static_cast<int32_t>(y + zp));
    ASSERT_LE(std::abs(got - requantize_fp32(acc, scale, zp, -128, 127)), 1);
  }
}

TEST(RequantizeFp32, HandVectors) {
  // Ties go to even (P6): 2.5 -> 2, 3.5 -> 4, -2.5 -> -2, -3.5 -> -4.
  EXPECT_EQ(requantize_fp32(5, 0.5f, 0, -128, 127), 2);
  EXPECT_EQ(requantize_fp32(7, 0.5f, 0, -128, 127), 4);
  EXPECT_EQ(requantize_fp32(-5, 0.5f, 0, -128, 127), -2);
  EXPECT_EQ(requantize_fp32(-7, 0.5f, 0, -128, 127), -4);
  EXPECT_EQ(requantize_fp32(5, 0.5f, 10, -128, 127), 12);
  EXPECT_EQ(requantize_fp32(-5, 0.5f, 0, -128, 127, RoundingMode::kHalfAwayFromZero), -3);
  EXPECT_EQ(requantize_fp32(-5, 0.5f, 0, -128, 127, RoundingMode::kHalfUp), -2);
  EXPECT_EQ(requantize_fp32(1000, 0.5f, 10, -128, 127), 127);
  EXPECT_EQ(requantize_fp32(-1000, 0.5f, 10, 0, 255), 0);
  // f32(acc) is exact only up to 2^24: 16777219 becomes 16777220 (ties to even).
  EXPECT_EQ(requantize_fp32(16777219, 1.0f, 0, INT32_MIN, INT32_MAX), 16777220);
  EXPECT_EQ(requantize_fp32(INT32_MAX, 1.0f, 0, INT32_MIN, INT32_MAX), INT32_MAX);
  EXPECT_EQ(requantize_fp32(INT32_MIN, 1.0f, 0, INT32_MIN, INT32_MAX), INT32_MIN);
  // float32 product rounding: 5 * 0.1f = 0.5000000075 exactly, f32 -> 0.5 -> rhe 0 (double: 1).
  EXPECT_EQ(requantize_fp32(5, 0.1f, 0, -128, 127), 0);
  EXPECT_EQ(std::nearbyint(5.0 * static_cast<double>(0.1f)), 1.0);
  // NaN -> zp; Inf saturates.
  const float inf = std::numeric_limits<float>::infinity();
  EXPECT_EQ(requantize_fp32(0, inf, 7, -128, 127), 7);
  EXPECT_EQ(requantize_fp32(1, inf, 7, -128, 127), 127);
  EXPECT_EQ(requantize_fp32(-1, inf, 7, -128, 127), -128);
  EXPECT_EQ(requantize_fp32(3, std::nanf(""), 7, -128, 127), 7);
  EXPECT_EQ(requantize_fp32_mlas(3, std::nanf(""), 7, -128, 127), 7);
  EXPECT_EQ(requantize_fp32_xnnpack_fmagic(3, std::nanf(""), 7, -128, 127), 7);
  EXPECT_EQ(requantize_fp32_xnnpack_imagic(3, std::nanf(""), 7, -128, 127), 7);
}

// The literal MLAS / XNNPACK magic-number forms agree with the generic rhe path and with an
// independent nearbyint-based formula, for int8, uint8 and int16 ranges.
TEST(RequantizeFp32, LiteralVariantsAgree) {
  std::mt19937 rng(77);
  std::uniform_real_distribution<float> ls(-24.0f, 4.0f);
  struct Range {
    int32_t qmin, qmax;
  };
  const Range ranges[] = {{-128, 127}, {0, 255}, {-127, 127}, {-32768, 32767}};
  for (const Range& r : ranges) {
    for (int i = 0; i < 300000; ++i) {
      const float scale = std::exp2(ls(rng));
      const int32_t acc = static_cast<int32_t>(rng()) >> (rng() % 32);
      const int32_t zp = r.qmin + static_cast<int32_t>(rng() % (r.qmax - r.qmin + 1));
      const float y = static_cast<float>(acc) * scale;
      const int64_t expected = std::clamp<int64_t>(
          static_cast<int64_t>(std::nearbyint(static_cast<double>(y))) + zp, r.qmin, r.qmax);
      ASSERT_EQ(requantize_fp32(acc, scale, zp, r.qmin, r.qmax), expected) << acc << " " << scale;
      ASSERT_EQ(requantize_fp32_mlas(acc, scale, zp, r.qmin, r.qmax), expected);
      ASSERT_EQ(requantize_fp32_xnnpack_fmagic(acc, scale, zp, r.qmin, r.qmax), expected);
      ASSERT_EQ(requantize_fp32_xnnpack_imagic(acc, scale, zp, r.qmin, r.qmax), expected);
    }
  }
  // Exact ties through every variant.
  for (int32_t acc = -1000; acc <= 1000; ++acc) {
    const int64_t expected =
        std::clamp<int64_t>(static_cast<int64_t>(std::nearbyint(acc * 0.25)), -128, 127);
    ASSERT_EQ(requantize_fp32_mlas(acc, 0.25f, 0, -128, 127), expected);
    ASSERT_EQ(requantize_fp32_xnnpack_fmagic(acc, 0.25f, 0, -128, 127), expected);
    ASSERT_EQ(requantize_fp32_xnnpack_imagic(acc, 0.25f, 0, -128, 127), expected);
  }
}

TEST(ScaleDerivation, OrtFloat32TwoStepAndTfliteDouble) {
  const float sx = 0.1f, sw = 0.003f, sy = 0.07f;
  EXPECT_EQ(ort_requant_scale(sx, sw, sy), (sx * sw) / sy);
  EXPECT_EQ(tflite_real_multiplier(sx, sw, sy),
            static_cast<double>(sx) * static_cast<double>(sw) / static_cast<double>(sy));
  // The float32 two-step result is generally not the float32 rounding of the exact ratio.
  int differ = 0;
  std::mt19937 rng(8);
  std::uniform_real_distribution<float> u(0.001f, 1.0f);
  for (int i = 0; i < 10000; ++i) {
    const float a = u(rng), b = u(rng), c = u(rng);
    differ += ort_requant_scale(a, b, c) != static_cast<float>(tflite_real_multiplier(a, b, c));
  }
  EXPECT_GT(differ, 0);
}

}  // namespace
}  // namespace qdiff
