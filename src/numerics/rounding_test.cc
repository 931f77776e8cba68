#include "numerics/rounding.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cfenv>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

namespace qdiff {
namespace {

__extension__ typedef __int128 int128;

using RM = RoundingMode;

// Oracle on an exactly representable real value, built from the C library's own rounding
// functions (an independent statement of each mode). Valid when v + 0.5 and v - 0.5 are exact.
long double oracle_round(long double v, RM mode) {
  switch (mode) {
    case RM::kHalfToEven:
      return std::nearbyint(v);  // default FE_TONEAREST
    case RM::kHalfAwayFromZero:
      return std::round(v);
    case RM::kHalfUp:
      return std::floor(v + 0.5L);
    case RM::kHalfDown:
      return std::ceil(v - 0.5L);
    case RM::kFloor:
      return std::floor(v);
    case RM::kCeil:
      return std::ceil(v);
    case RM::kTowardZero:
      return std::trunc(v);
  }
  return 0;
}

// Integer oracle for x / 2^e: floor division plus a comparison of twice the remainder with 2^e.
int128 oracle_shift(int128 x, int e, RM mode) {
  const int128 d = int128{1} << e;
  int128 q = x / d;  // truncates
  int128 r = x - q * d;
  if (r < 0) {  // make it floor
    q -= 1;
    r += d;
  }
  if (r == 0) return q;
  const int128 twice = 2 * r;
  bool up = false;
  switch (mode) {
    case RM::kHalfToEven:
      up = twice > d || (twice == d && (q % 2 != 0));
      break;
    case RM::kHalfAwayFromZero:
      up = twice > d || (twice == d && x > 0);
      break;
    case RM::kHalfUp:
      up = twice >= d;
      break;
    case RM::kHalfDown:
      up = twice > d;
      break;
    case RM::kFloor:
      up = false;
      break;
    case RM::kCeil:
      up = true;
      break;
    case RM::kTowardZero:
      up = x < 0;
      break;
  }
  return up ? q + 1 : q;
}

TEST(RoundingMode, NamesRoundTripAndAliases) {
  static_assert(std::numeric_limits<long double>::digits >= 64, "the oracles need x87 long double");
  ASSERT_EQ(std::fegetround(), FE_TONEAREST);
  for (RM mode : kAllRoundingModes) {
    auto parsed = parse_rounding_mode(rounding_mode_name(mode));
    ASSERT_TRUE(parsed.ok()) << rounding_mode_name(mode);
    EXPECT_EQ(*parsed, mode);
  }
  EXPECT_EQ(parse_rounding_mode("RHE").value(), RM::kHalfToEven);
  EXPECT_EQ(parse_rounding_mode("py3_round").value(), RM::kHalfToEven);
  EXPECT_EQ(parse_rounding_mode("std_round").value(), RM::kHalfAwayFromZero);
  EXPECT_EQ(parse_rounding_mode("DPU_ROUND").value(), RM::kHalfUp);
  EXPECT_EQ(parse_rounding_mode("half-up").value(), RM::kHalfUp);
  EXPECT_EQ(parse_rounding_mode("trunc").value(), RM::kTowardZero);
  auto bad = parse_rounding_mode("bankers");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("unknown rounding mode 'bankers'"), std::string::npos);
  EXPECT_NE(bad.status().message().find("half_to_even"), std::string::npos);
}

// Hand table: ties and near-ties for every mode (numerics.md §0 and §5.2: DPU_ROUND(-1.5) = -1).
TEST(RoundFloat, TieTable) {
  struct Row {
    double x;
    double even, away, up, down, floor, ceil, trunc;
  };
  const Row rows[] = {
      {0.5, 0, 1, 1, 0, 0, 1, 0},
      {1.5, 2, 2, 2, 1, 1, 2, 1},
      {2.5, 2, 3, 3, 2, 2, 3, 2},
      {-0.5, 0, -1, 0, -1, -1, 0, 0},
      {-1.5, -2, -2, -1, -2, -2, -1, -1},
      {-2.5, -2, -3, -2, -3, -3, -2, -2},
      {2.7, 3, 3, 3, 3, 2, 3, 2},
      {-2.7, -3, -3, -3, -3, -3, -2, -2},
      {0.49999999999999994, 0, 0, 0, 0, 0, 1, 0},  // largest double below 1/2: floor(x+0.5) fails
      {-0.49999999999999994, 0, 0, 0, 0, -1, 0, 0},
      {4503599627370495.5, 4503599627370496, 4503599627370496, 4503599627370496, 4503599627370495,
       4503599627370495, 4503599627370496, 4503599627370495},
      {7.0, 7, 7, 7, 7, 7, 7, 7},
  };
  for (const Row& r : rows) {
    SCOPED_TRACE(r.x);
    EXPECT_EQ(round_float(r.x, RM::kHalfToEven), r.even);
    EXPECT_EQ(round_float(r.x, RM::kHalfAwayFromZero), r.away);
    EXPECT_EQ(round_float(r.x, RM::kHalfUp), r.up);
    EXPECT_EQ(round_float(r.x, RM::kHalfDown), r.down);
    EXPECT_EQ(round_float(r.x, RM::kFloor), r.floor);
    EXPECT_EQ(round_float(r.x, RM::kCeil), r.ceil);
    EXPECT_EQ(round_float(r.x, RM::kTowardZero), r.trunc);
    // float overload, where representable
    const float xf = static_cast<float>(r.x);
    if (static_cast<double>(xf) == r.x) {
      EXPECT_EQ(round_float(xf, RM::kHalfToEven), static_cast<float>(r.even));
      EXPECT_EQ(round_float(xf, RM::kHalfUp), static_cast<float>(r.up));
    }
  }
}

TEST(RoundFloat, NonFiniteAndSignedZero) {
  const double inf = std::numeric_limits<double>::infinity();
  for (RM mode : kAllRoundingModes) {
    EXPECT_TRUE(std::isnan(round_float(std::nan(""), mode)));
    EXPECT_EQ(round_float(inf, mode), inf);
    EXPECT_EQ(round_float(-inf, mode), -inf);
    EXPECT_TRUE(std::isnan(round_float(std::numeric_limits<float>::quiet_NaN(), mode)));
    EXPECT_EQ(round_float(-std::numeric_limits<float>::infinity(), mode),
              -std::numeric_limits<float>::infinity());
    EXPECT_EQ(round_float(std::numeric_limits<double>::max(), mode),
              std::numeric_limits<double>::max());
  }
  EXPECT_TRUE(std::signbit(round_float(-0.3, RM::kHalfToEven)));
  EXPECT_TRUE(std::signbit(round_float(-0.5, RM::kHalfUp)));
  EXPECT_FALSE(std::signbit(round_float(0.3, RM::kCeil) - 1.0));
  EXPECT_EQ(round_float(std::numeric_limits<double>::denorm_min(), RM::kCeil), 1.0);
  EXPECT_EQ(round_float(-std::numeric_limits<double>::denorm_min(), RM::kFloor), -1.0);
}

// Neighbours of integers and of halves at many magnitudes: catches the x - floor(x) trap
// (-0.49999999999999994 + 1 rounds to 0.5 in double, -0.49999997f + 1 to 0.5f in float).
TEST(RoundFloat, NeighboursOfTiesAgainstLibraryOracle) {
  for (int k = -300; k <= 300; ++k) {
    for (int e = 0; e <= 24; ++e) {
      for (double base : {k + 0.5, static_cast<double>(k)}) {
        double d = std::ldexp(base, -e);
        float f = static_cast<float>(d);
        double dn = d, dp = d;
        float fn = f, fp = f;
        for (int step = 0; step < 4; ++step) {
          for (RM mode : kAllRoundingModes) {
            for (double x : {dn, dp}) {
              ASSERT_EQ(round_float(x, mode), static_cast<double>(oracle_round(x, mode)))
                  << x << " " << rounding_mode_name(mode);
            }
            for (float x : {fn, fp}) {
              ASSERT_EQ(round_float(x, mode), static_cast<float>(oracle_round(x, mode)))
                  << x << " " << rounding_mode_name(mode);
            }
          }
          dn = std::nextafter(dn, -1e300);
          dp = std::nextafter(dp, 1e300);
          fn = std::nextafter(fn, -1e30f);
          fp = std::nextafter(fp, 1e30f);
        }
      }
    }
  }
  EXPECT_EQ(round_float(-0.49999997f, RM::kHalfAwayFromZero), 0.0f);
  EXPECT_EQ(round_float(-0.49999997f, RM::kHalfDown), 0.0f);
  EXPECT_EQ(round_float(-1.4999999f, RM::kHalfDown), -1.0f);
}

// Random values on a fine dyadic grid (exact in long double) against the library oracle.
TEST(RoundFloat, RandomAgainstLibraryOracle) {
  std::mt19937_64 rng(1234);
  std::uniform_int_distribution<int64_t> k(-(int64_t{1} << 40), int64_t{1} << 40);
  std::uniform_int_distribution<int> e(0, 12);
  for (int i = 0; i < 200000; ++i) {
    const double x = std::ldexp(static_cast<double>(k(rng)), -e(rng));
    const float xf = static_cast<float>(x);
    for (RM mode : kAllRoundingModes) {
      ASSERT_EQ(round_float(x, mode), static_cast<double>(oracle_round(x, mode)))
          << x << " " << rounding_mode_name(mode);
      ASSERT_EQ(round_float(xf, mode), static_cast<float>(oracle_round(xf, mode)))
          << xf << " " << rounding_mode_name(mode);
    }
  }
}

// Every int16 value, every exponent 0..31, every mode, against the float oracle (x / 2^e is exact
// and v +- 0.5 is exact in long double).
TEST(RoundingDivideByPot, ExhaustiveInt16AllExponentsAllModes) {
  for (int e = 0; e <= 31; ++e) {
    for (int32_t x = -32768; x <= 32767; ++x) {
      const long double v = std::ldexp(static_cast<long double>(x), -e);
      for (RM mode : kAllRoundingModes) {
        const int32_t expected = static_cast<int32_t>(oracle_round(v, mode));
        const int32_t got = rounding_divide_by_pot(x, e, mode);
        if (got != expected) {
          FAIL() << "x=" << x << " e=" << e << " mode=" << rounding_mode_name(mode)
                 << " got=" << got << " expected=" << expected;
        }
      }
      ASSERT_EQ(gemmlowp_rounding_divide_by_pot(x, e),
                rounding_divide_by_pot(x, e, RM::kHalfAwayFromZero))
          << x << " " << e;
    }
  }
}

std::vector<int64_t> int32_edges() {
  std::vector<int64_t> v = {INT32_MIN, INT32_MIN + 1, INT32_MAX, INT32_MAX - 1, 0, 1, -1, 2, -2, 3,
                            -3};
  for (int b = 1; b < 31; ++b) {
    for (int64_t d : {-1, 0, 1}) {
      v.push_back((int64_t{1} << b) + d);
      v.push_back(-(int64_t{1} << b) + d);
      v.push_back((int64_t{3} << (b - 1)) + d);  // odd multiples of halves
      v.push_back(-(int64_t{3} << (b - 1)) + d);
    }
  }
  return v;
}

TEST(RoundingDivideByPot, Int32EdgesAndRandomAgainstIntegerOracle) {
  std::vector<int64_t> xs = int32_edges();
  std::mt19937 rng(99);
  for (int i = 0; i < 20000; ++i) xs.push_back(static_cast<int32_t>(rng()));
  for (int64_t x64 : xs) {
    const int32_t x = static_cast<int32_t>(x64);
    for (int e = 0; e <= 31; ++e) {
      for (RM mode : kAllRoundingModes) {
        ASSERT_EQ(rounding_divide_by_pot(x, e, mode),
                  static_cast<int32_t>(oracle_shift(x, e, mode)))
            << x << " " << e << " " << rounding_mode_name(mode);
        ASSERT_EQ(rounding_shift_right(x, e, mode), rounding_divide_by_pot(x, e, mode));
      }
      ASSERT_EQ(gemmlowp_rounding_divide_by_pot(x, e),
                rounding_divide_by_pot(x, e, RM::kHalfAwayFromZero));
    }
  }
  // INT32_MIN / 2^31 = -1 exactly; INT32_MAX / 2^31 = 1 - 2^-31.
  EXPECT_EQ(rounding_divide_by_pot(INT32_MIN, 31, RM::kCeil), -1);
  EXPECT_EQ(rounding_divide_by_pot(INT32_MAX, 31, RM::kHalfToEven), 1);
  EXPECT_EQ(rounding_divide_by_pot(INT32_MAX, 31, RM::kFloor), 0);
  // -2^30 / 2^31 = -0.5 exactly: the three tie rules disagree.
  EXPECT_EQ(rounding_divide_by_pot(-(1 << 30), 31, RM::kHalfAwayFromZero), -1);
  EXPECT_EQ(rounding_divide_by_pot(-(1 << 30), 31, RM::kHalfUp), 0);
  EXPECT_EQ(rounding_divide_by_pot(-(1 << 30), 31, RM::kHalfToEven), 0);
}

TEST(RoundingShiftRight, Int64EdgesAndRandomAgainstIntegerOracle) {
  std::vector<int64_t> xs = {INT64_MIN, INT64_MIN + 1, INT64_MAX, INT64_MAX - 1, 0, 1, -1};
  for (int b = 1; b < 63; ++b) {
    for (int64_t d : {-1, 0, 1}) {
      xs.push_back((int64_t{1} << b) + d);
      xs.push_back(-(int64_t{1} << b) + d);
    }
  }
  std::mt19937_64 rng(7);
  for (int i = 0; i < 5000; ++i) {
    xs.push_back(static_cast<int64_t>(rng()));
    xs.push_back(static_cast<int64_t>(rng()) >> (rng() % 60));
  }
  for (int64_t x : xs) {
    for (int e = 0; e <= 63; ++e) {
      for (RM mode : kAllRoundingModes) {
        ASSERT_EQ(rounding_shift_right(x, e, mode), static_cast<int64_t>(oracle_shift(x, e, mode)))
            << x << " " << e << " " << rounding_mode_name(mode);
      }
    }
  }
  EXPECT_EQ(rounding_shift_right(INT64_MIN, 63, RM::kFloor), -1);
  EXPECT_EQ(rounding_shift_right(INT64_MAX, 63, RM::kHalfUp), 1);
  EXPECT_EQ(rounding_shift_right(INT64_MIN, 0, RM::kHalfUp), INT64_MIN);
}

}  // namespace
}  // namespace qdiff

namespace qdiff {
namespace {

TEST(Rounding, RheClampedQuotientIsRoundHalfEvenOfTheClampedQuotient) {
  // Every quotient from -2^16 - 3 to 2^16 + 3 in steps of a quarter (ties included) against
  // round_float, clamped to [-128, 127] and to the widest range; NaN gives 0.
  for (float lo : {-128.0f, -65536.0f}) {
    const float hi = lo == -128.0f ? 127.0f : 65535.0f;
    for (int k = -4 * 65539; k <= 4 * 65539; ++k) {
      const float x = 0.25f * static_cast<float>(k);
      const float want =
          round_float(std::min(std::max(x, lo), hi), RoundingMode::kHalfToEven) + 0.0f;
      ASSERT_EQ(std::bit_cast<uint32_t>(rhe_clamped_quotient(x, 1.0f, lo, hi)),
                std::bit_cast<uint32_t>(want))
          << x;
    }
  }
  EXPECT_EQ(rhe_clamped_quotient(NAN, 0.5f, -128, 127), 0.0f);
  EXPECT_EQ(rhe_clamped_quotient(INFINITY, 0.5f, -128, 127), 127.0f);
  EXPECT_EQ(rhe_clamped_quotient(3.0f, 2.0f, -128, 127), 2.0f);  // 1.5 -> 2
  EXPECT_EQ(rhe_clamped_quotient(5.0f, 2.0f, -128, 127), 2.0f);  // 2.5 -> 2
}

}  // namespace
}  // namespace qdiff
