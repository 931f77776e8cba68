#include "numerics/quant_params.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>

namespace qdiff {
namespace {

using RM = RoundingMode;

QuantParams per_tensor(int bits, bool is_signed, bool symmetric, bool narrow, float scale,
                       int32_t zp) {
  QuantParams p;
  p.bits = bits;
  p.is_signed = is_signed;
  p.symmetric = symmetric;
  p.narrow_range = narrow;
  p.scales = {scale};
  p.zero_points = {zp};
  return p;
}

::testing::AssertionResult fails_with(const Status& s, const std::string& fragment) {
  if (s.ok())
    return ::testing::AssertionFailure() << "expected an error containing '" << fragment << "'";
  if (s.code() != ErrorCode::kInvalidArgument)
    return ::testing::AssertionFailure() << "wrong code: " << s.message();
  if (s.message().find(fragment) == std::string::npos)
    return ::testing::AssertionFailure()
           << "message '" << s.message() << "' lacks '" << fragment << "'";
  return ::testing::AssertionSuccess();
}

TEST(QuantParams, Ranges) {
  EXPECT_EQ(per_tensor(8, true, false, false, 1, 0).qmin(), -128);
  EXPECT_EQ(per_tensor(8, true, false, false, 1, 0).qmax(), 127);
  EXPECT_EQ(per_tensor(8, true, true, true, 1, 0).qmin(), -127);
  EXPECT_EQ(per_tensor(8, false, false, false, 1, 0).qmin(), 0);
  EXPECT_EQ(per_tensor(8, false, false, false, 1, 0).qmax(), 255);
  EXPECT_EQ(per_tensor(8, false, true, true, 1, 128).qmin(), 1);
  EXPECT_EQ(per_tensor(4, true, false, false, 1, 0).qmin(), -8);
  EXPECT_EQ(per_tensor(4, true, false, false, 1, 0).qmax(), 7);
  EXPECT_EQ(per_tensor(16, true, false, false, 1, 0).qmin(), -32768);
  EXPECT_EQ(per_tensor(16, false, false, false, 1, 0).qmax(), 65535);
  EXPECT_EQ(per_tensor(2, true, false, false, 1, 0).qmax(), 1);
}

TEST(QuantParams, ValidateAcceptsGoodParams) {
  EXPECT_TRUE(per_tensor(8, true, false, false, 0.1f, -3).validate().ok());
  EXPECT_TRUE(per_tensor(8, true, true, true, 0.1f, 0).validate().ok());
  EXPECT_TRUE(per_tensor(8, false, true, false, 0.1f, 128).validate().ok());
  EXPECT_TRUE(per_tensor(8, false, true, true, 0.1f, 128).validate().ok());
  EXPECT_TRUE(per_tensor(4, false, true, false, 0.1f, 8).validate().ok());
  QuantParams pc = per_tensor(8, true, true, true, 0.1f, 0);
  pc.axis = 0;
  pc.scales = {0.1f, 0.2f, 0.3f};
  pc.zero_points = {0, 0, 0};
  EXPECT_TRUE(pc.validate().ok());
  EXPECT_TRUE(pc.per_channel());
}

TEST(QuantParams, ValidateMessages) {
  EXPECT_TRUE(fails_with(per_tensor(1, true, false, false, 1, 0).validate(),
                         "quantization bits must be in [2, 16] (or 32 signed, for biases), got 1"));
  EXPECT_TRUE(
      fails_with(per_tensor(17, true, false, false, 1, 0).validate(),
                 "quantization bits must be in [2, 16] (or 32 signed, for biases), got 17"));
  EXPECT_TRUE(
      fails_with(per_tensor(32, false, false, false, 1, 0).validate(),
                 "quantization bits must be in [2, 16] (or 32 signed, for biases), got 32"));
  const QuantParams bias = per_tensor(32, true, false, false, 0.25f, 0);
  EXPECT_TRUE(bias.validate().ok());
  EXPECT_EQ(bias.qmin(), INT32_MIN);
  EXPECT_EQ(bias.qmax(), INT32_MAX);
  EXPECT_EQ(quantize(1e9f, bias), INT32_MAX);
  EXPECT_EQ(quantize(-1e9f, bias), INT32_MIN);
  EXPECT_EQ(quantize(3.125f, bias), 12);  // 12.5 -> 12 (half to even)
  EXPECT_TRUE(fails_with(per_tensor(8, true, false, true, 1, 0).validate(),
                         "narrow_range is only supported with symmetric quantization"));
  EXPECT_TRUE(fails_with(per_tensor(8, true, false, false, 0.0f, 0).validate(),
                         "scale must be positive and finite, got 0"));
  EXPECT_TRUE(fails_with(per_tensor(8, true, false, false, -0.5f, 0).validate(),
                         "scale must be positive and finite, got -0.5"));
  EXPECT_TRUE(fails_with(per_tensor(8, true, false, false, std::nanf(""), 0).validate(),
                         "scale must be positive and finite, got nan"));
  EXPECT_TRUE(fails_with(
      per_tensor(8, true, false, false, std::numeric_limits<float>::infinity(), 0).validate(),
      "scale must be positive and finite, got inf"));
  EXPECT_TRUE(fails_with(per_tensor(8, true, false, false, 1, 128).validate(),
                         "zero point is 128, outside the quantized range [-128, 127]"));
  EXPECT_TRUE(fails_with(per_tensor(8, false, false, false, 1, -1).validate(),
                         "zero point is -1, outside the quantized range [0, 255]"));
  EXPECT_TRUE(fails_with(per_tensor(8, true, true, false, 1, 3).validate(),
                         "symmetric quantization needs zero point 0, but the zero point is 3"));
  EXPECT_TRUE(fails_with(per_tensor(8, false, true, false, 1, 127).validate(),
                         "symmetric quantization needs zero point 128"));
  QuantParams p = per_tensor(8, true, false, false, 1, 0);
  p.zero_points.clear();
  EXPECT_TRUE(fails_with(p.validate(), "have 1 scale(s) but 0 zero point(s)"));
  p.scales.clear();
  EXPECT_TRUE(fails_with(p.validate(), "have no scale"));
  p = per_tensor(8, true, false, false, 1, 0);
  p.scales = {1, 2};
  p.zero_points = {0, 0};
  EXPECT_TRUE(fails_with(p.validate(), "per-tensor quantization needs exactly 1 scale, got 2"));
  p.axis = -2;
  EXPECT_TRUE(fails_with(p.validate(), "axis must be -1 (per-tensor) or >= 0, got -2"));
  p.axis = 1;
  p.scales = {1, -2};
  EXPECT_TRUE(fails_with(p.validate(), "scale of channel 1 must be positive"));
  p.scales = {1, 2};
  p.zero_points = {0, 200};
  EXPECT_TRUE(fails_with(p.validate(), "zero point of channel 1 is 200"));
}

TEST(ChooseParams, HandVectors) {
  // uint8 asymmetric [-1, 3]: scale 4/255, zp = rhe(0 + 1 / (4/255)) = rhe(63.75) = 64.
  auto p = choose_params(-1.0f, 3.0f, 8, false, false, false);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->scales[0], static_cast<float>(4.0 / 255.0));
  EXPECT_EQ(p->zero_points[0], 64);
  EXPECT_EQ(p->axis, -1);
  // The range always includes 0: [1, 2] behaves like [0, 2].
  p = choose_params(1.0f, 2.0f, 8, false, false, false);
  EXPECT_EQ(p->scales[0], static_cast<float>(2.0 / 255.0));
  EXPECT_EQ(p->zero_points[0], 0);
  p = choose_params(1.0f, 2.0f, 8, true, false, false);
  EXPECT_EQ(p->zero_points[0], -128);
  p = choose_params(-2.0f, -1.0f, 8, true, false, false);
  EXPECT_EQ(p->zero_points[0], 127);
  // Symmetric signed narrow: absmax / 127 (TFLite/ORT/TRT weights), zp 0.
  p = choose_params(-0.5f, 1.27f, 8, true, true, true);
  EXPECT_EQ(p->scales[0], static_cast<float>(static_cast<double>(1.27f) / 127.0));
  EXPECT_EQ(p->zero_points[0], 0);
  EXPECT_EQ(p->qmin(), -127);
  // Symmetric signed full range: absmax / 127.5 (PyTorch observer), zp rhe(-0.5) = 0.
  p = choose_params(-1.27f, 0.5f, 8, true, true, false);
  EXPECT_EQ(p->scales[0], static_cast<float>(static_cast<double>(1.27f) / 127.5));
  EXPECT_EQ(p->zero_points[0], 0);
  // Symmetric unsigned: zp = rhe(255 / 2) = 128.
  p = choose_params(-1.0f, 0.5f, 8, false, true, false);
  EXPECT_EQ(p->zero_points[0], 128);
  EXPECT_EQ(p->scales[0], static_cast<float>(2.0 / 255.0));
  // Degenerate range: scale 1, zp 0.
  p = choose_params(0.0f, 0.0f, 8, true, false, false);
  EXPECT_EQ(p->scales[0], 1.0f);
  EXPECT_EQ(p->zero_points[0], 0);
  // Errors.
  EXPECT_TRUE(fails_with(choose_params(std::nanf(""), 1.0f, 8, true, false, false).status(),
                         "non-finite range"));
  EXPECT_TRUE(fails_with(choose_params(2.0f, 1.0f, 8, true, false, false).status(), "min 2"));
  EXPECT_TRUE(fails_with(choose_params(-1.0f, 1.0f, 20, true, false, false).status(), "bits"));
  EXPECT_TRUE(fails_with(choose_params(-1.0f, 1.0f, 8, true, false, true).status(), "narrow"));
  EXPECT_TRUE(fails_with(choose_params(-3e38f, 3e38f, 8, true, false, false).status(),
                         "overflows float32"));
}

TEST(ChooseParams, RandomRangesValidateAndRepresentZeroExactly) {
  std::mt19937 rng(17);
  std::uniform_real_distribution<float> u(-10.0f, 10.0f);
  for (int i = 0; i < 20000; ++i) {
    float a = u(rng) * std::exp2(static_cast<float>(static_cast<int>(rng() % 20) - 10));
    float b = u(rng);
    if (a > b) std::swap(a, b);
    for (int bits : {4, 8, 16}) {
      for (bool is_signed : {false, true}) {
        for (bool symmetric : {false, true}) {
          auto p = choose_params(a, b, bits, is_signed, symmetric, symmetric && is_signed);
          ASSERT_TRUE(p.ok()) << p.status().message();
          ASSERT_TRUE(p->validate().ok()) << p->validate().message() << " " << a << " " << b;
          EXPECT_EQ(fake_quant(0.0f, *p), 0.0f);
          // The observed range is covered up to half a step (plus float rounding).
          const float s = p->scales[0];
          const int32_t zp = p->zero_points[0];
          EXPECT_LE(dequantize(p->qmin(), s, zp),
                    std::min(a, 0.0f) + 0.5f * s + 1e-6f * std::fabs(a));
          EXPECT_GE(dequantize(p->qmax(), s, zp),
                    std::max(b, 0.0f) - 0.5f * s - 1e-6f * std::fabs(b));
        }
      }
    }
  }
}

// quantize() ties with each rounding mode (scale 1, zp 0, int8), numerics.md §0 table.
TEST(Quantize, TiesForEveryMode) {
  struct Row {
    float x;
    int32_t even, away, up, down, floor, ceil, trunc;
  };
  const Row rows[] = {
      {0.5f, 0, 1, 1, 0, 0, 1, 0},         {1.5f, 2, 2, 2, 1, 1, 2, 1},
      {2.5f, 2, 3, 3, 2, 2, 3, 2},         {-0.5f, 0, -1, 0, -1, -1, 0, 0},
      {-1.5f, -2, -2, -1, -2, -2, -1, -1}, {-2.5f, -2, -3, -2, -3, -3, -2, -2},
  };
  for (const Row& r : rows) {
    SCOPED_TRACE(r.x);
    EXPECT_EQ(quantize(r.x, 1.0f, 0, -128, 127, RM::kHalfToEven), r.even);
    EXPECT_EQ(quantize(r.x, 1.0f, 0, -128, 127, RM::kHalfAwayFromZero), r.away);
    EXPECT_EQ(quantize(r.x, 1.0f, 0, -128, 127, RM::kHalfUp), r.up);
    EXPECT_EQ(quantize(r.x, 1.0f, 0, -128, 127, RM::kHalfDown), r.down);
    EXPECT_EQ(quantize(r.x, 1.0f, 0, -128, 127, RM::kFloor), r.floor);
    EXPECT_EQ(quantize(r.x, 1.0f, 0, -128, 127, RM::kCeil), r.ceil);
    EXPECT_EQ(quantize(r.x, 1.0f, 0, -128, 127, RM::kTowardZero), r.trunc);
    // Default is ONNX QuantizeLinear (rhe); the zero point is added after rounding.
    EXPECT_EQ(quantize(r.x, 1.0f, 10, -128, 127), r.even + 10);
    // Scaled ties: x / 0.25 is exact.
    EXPECT_EQ(quantize(r.x * 0.25f, 0.25f, 0, -128, 127, RM::kHalfUp), r.up);
  }
  // DPU: pow2 scale 2^-3, x = -0.1875 -> -1.5 -> DPU_ROUND -1, ORT rhe -2, TFLite rhaz -2.
  EXPECT_EQ(quantize(-0.1875f, pot_scale(3), 0, -128, 127, RM::kHalfUp), -1);
  EXPECT_EQ(quantize(-0.1875f, pot_scale(3), 0, -128, 127), -2);
  EXPECT_EQ(quantize(-0.1875f, pot_scale(3), 0, -128, 127, RM::kHalfAwayFromZero), -2);
}

TEST(Quantize, SaturationAndNonFinite) {
  const float inf = std::numeric_limits<float>::infinity();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  EXPECT_EQ(quantize(1000.0f, 1.0f, 0, -128, 127), 127);
  EXPECT_EQ(quantize(-1000.0f, 1.0f, 0, -128, 127), -128);
  EXPECT_EQ(quantize(127.5f, 1.0f, 0, -128, 127), 127);  // rhe would give 128: saturates
  EXPECT_EQ(quantize(-128.5f, 1.0f, 0, -128, 127), -128);
  EXPECT_EQ(quantize(inf, 0.1f, 3, -128, 127), 127);
  EXPECT_EQ(quantize(-inf, 0.1f, 3, -128, 127), -128);
  EXPECT_EQ(quantize(nan, 0.1f, 3, -128, 127), 3);
  EXPECT_EQ(quantize(nan, 0.1f, 128, 0, 255), 128);
  EXPECT_EQ(quantize(-1e30f, 1e-30f, 128, 0, 255), 0);
  EXPECT_EQ(quantize(1e30f, 1e-30f, 128, 0, 255), 255);
  EXPECT_EQ(quantize(-5.0f, 1.0f, 0, -127, 127), -5);
  EXPECT_EQ(quantize(-200.0f, 1.0f, 0, -127, 127), -127);                  // narrow range
  EXPECT_EQ(quantize(3e38f, 1e-38f, 0, INT32_MIN, INT32_MAX), INT32_MAX);  // x / s = inf
  EXPECT_EQ(quantize(-3e38f, 1e-38f, 0, INT32_MIN, INT32_MAX), INT32_MIN);
  EXPECT_EQ(quantize(2147483520.0f, 1.0f, 0, INT32_MIN, INT32_MAX), 2147483520);
  EXPECT_EQ(quantize(1.0f, 0.0f, 0, -128, 127), 127);  // invalid scale still has no UB
  EXPECT_EQ(quantize(0.0f, 0.0f, 5, -128, 127), 5);    // 0/0 = NaN -> zp
  EXPECT_TRUE(std::isnan(dequantize(3, nan, 0)));
  EXPECT_EQ(dequantize(-128, 0.5f, 127), -127.5f);
  EXPECT_EQ(dequantize(INT32_MIN, 1.0f, INT32_MAX), -4294967295.0f);
}

// Every 4099th float32 bit pattern (NaNs, infinities, subnormals included) against an
// independent formula: round the float32 quotient in double with the C library, add zp, clamp in
// int64 (clamping after rounding is equivalent because the bounds are integers).
TEST(Quantize, Float32GridAgainstIndependentFormula) {
  struct Case {
    float scale;
    int32_t zp, qmin, qmax;
  };
  const Case cases[] = {{0.1f, 0, -128, 127},
                        {0.0078125f, -3, -128, 127},
                        {0.023529412f, 128, 0, 255},
                        {3.0517578e-05f, 0, -32768, 32767},
                        {1.7f, 5, -8, 7},
                        {1e-20f, 0, -128, 127}};
  int64_t checked = 0;
  for (uint64_t bits = 0; bits <= 0xFFFFFFFFull; bits += 4099) {
    const float x = std::bit_cast<float>(static_cast<uint32_t>(bits));
    for (const Case& c : cases) {
      const float v = x / c.scale;
      for (RM mode : {RM::kHalfToEven, RM::kHalfAwayFromZero, RM::kHalfUp, RM::kTowardZero}) {
        int64_t expected;
        if (std::isnan(v)) {
          expected = c.zp;
        } else if (std::isinf(v)) {
          expected = v > 0 ? c.qmax : c.qmin;
        } else {
          const double d = static_cast<double>(v);
          double r = 0;
          switch (mode) {
            case RM::kHalfToEven:
              r = std::nearbyint(d);
              break;
            case RM::kHalfAwayFromZero:
              r = std::round(d);
              break;
            case RM::kHalfUp:
              r = std::round(d) - ((d - std::trunc(d)) == -0.5 ? -1.0 : 0.0);
              break;
            default:
              r = std::trunc(d);
              break;
          }
          const double clamped =
              std::clamp(r + c.zp, static_cast<double>(c.qmin), static_cast<double>(c.qmax));
          expected = static_cast<int64_t>(clamped);
        }
        ASSERT_EQ(quantize(x, c.scale, c.zp, c.qmin, c.qmax, mode), expected)
            << "x=" << x << " scale=" << c.scale << " mode=" << rounding_mode_name(mode);
        ++checked;
      }
    }
  }
  EXPECT_GT(checked, 20000000);
}

// ORT divides (numerics.md §2.2), PyTorch multiplies by the reciprocal (§3.1): 1 LSB apart at
// near-ties, never more.
TEST(Quantize, DivisionVersusReciprocal) {
  int differ = 0;
  for (float scale : {0.1f, 0.3f, 0.7f, 0.0117f}) {
    for (int k = -200000; k <= 200000; ++k) {
      const float x = static_cast<float>(k) * 0.000731f;
      const int32_t a = quantize(x, scale, 0, -32768, 32767);
      const int32_t b = quantize_by_reciprocal(x, scale, 0, -32768, 32767);
      ASSERT_LE(std::abs(a - b), 1);
      differ += a != b;
    }
  }
  EXPECT_GT(differ, 0);
  EXPECT_EQ(quantize_by_reciprocal(0.25f, 0.5f, 0, -128, 127), 0);  // 0.5 -> rhe 0
  EXPECT_EQ(quantize_by_reciprocal(std::nanf(""), 0.5f, 9, -128, 127), 9);
}

TEST(FakeQuant, IdempotentAndWithinHalfStep) {
  std::mt19937 rng(23);
  std::uniform_real_distribution<float> u(-3.0f, 3.0f);
  std::uniform_real_distribution<float> ls(-12.0f, 2.0f);
  int directed_moved = 0;
  for (int i = 0; i < 500000; ++i) {
    const float scale = std::exp2(ls(rng));
    const bool is_signed = (i & 1) != 0;
    const int32_t qmin = is_signed ? -128 : 0;
    const int32_t qmax = is_signed ? 127 : 255;
    const int32_t zp = qmin + static_cast<int32_t>(rng() % 256);
    const RM mode = kAllRoundingModes[rng() % 7];
    const float x = u(rng) * std::exp2(static_cast<float>(static_cast<int>(rng() % 12) - 6));
    const float y = fake_quant(x, scale, zp, qmin, qmax, mode);
    const bool nearest = mode != RM::kFloor && mode != RM::kCeil && mode != RM::kTowardZero;
    if (nearest) {
      ASSERT_EQ(fake_quant(y, scale, zp, qmin, qmax, mode), y) << x << " " << scale << " " << zp;
      ASSERT_EQ(quantize(y, scale, zp, qmin, qmax, mode), quantize(x, scale, zp, qmin, qmax, mode));
    } else {
      // Directed modes are not idempotent in float32: f32(f32(k * s) / s) may land just above or
      // below k, and floor/ceil/trunc then move one step.
      ASSERT_LE(std::abs(quantize(y, scale, zp, qmin, qmax, mode) -
                         quantize(x, scale, zp, qmin, qmax, mode)),
                1);
      directed_moved += fake_quant(y, scale, zp, qmin, qmax, mode) != y;
    }
    const float lo = dequantize(qmin, scale, zp);
    const float hi = dequantize(qmax, scale, zp);
    if (x > lo && x < hi) {
      ASSERT_LE(std::fabs(y - x), (nearest ? 0.5f : 1.0f) * scale * 1.0001f) << x << " " << scale;
    }
  }
  EXPECT_GT(directed_moved, 0);  // documents the float32 effect above
  // Per-channel overloads pick the channel's parameters.
  QuantParams p;
  p.symmetric = true;
  p.narrow_range = true;
  p.axis = 0;
  p.scales = {0.5f, 0.25f};
  p.zero_points = {0, 0};
  ASSERT_TRUE(p.validate().ok());
  EXPECT_EQ(quantize(1.3f, p, 0), 3);
  EXPECT_EQ(quantize(1.3f, p, 1), 5);
  EXPECT_EQ(fake_quant(1.3f, p, 1), 1.25f);
  EXPECT_EQ(dequantize(-127, p, 0), -63.5f);
  EXPECT_EQ(fake_quant(-100.0f, p, 0), -63.5f);
}

TEST(PowerOfTwo, ScalesAndFixPos) {
  EXPECT_EQ(pot_scale(3), 0.125f);
  EXPECT_EQ(pot_scale(0), 1.0f);
  EXPECT_EQ(pot_scale(-2), 4.0f);
  EXPECT_EQ(pot_scale(149), std::numeric_limits<float>::denorm_min());
  EXPECT_EQ(pot_scale(-127), 0x1.0p127f);
  for (int pos = -127; pos <= 149; ++pos) {
    ASSERT_EQ(fix_pos_from_scale(pot_scale(pos), FixPosRule::kNearest).value(), pos);
    ASSERT_EQ(fix_pos_from_scale(pot_scale(pos), FixPosRule::kOverflow).value(), pos);
  }
  // 0.3: -log2 = 1.737 -> nearest 2 (scale 0.25 < 0.3: clips more), overflow 1 (0.5 >= 0.3).
  EXPECT_EQ(fix_pos_from_scale(0.3f).value(), 2);
  EXPECT_EQ(fix_pos_from_scale(0.3f, FixPosRule::kOverflow).value(), 1);
  EXPECT_EQ(fix_pos_from_scale(0.1f).value(), 3);
  EXPECT_EQ(fix_pos_from_scale(0.1f, FixPosRule::kOverflow).value(), 3);
  EXPECT_EQ(fix_pos_from_scale(0.7f).value(), 1);
  EXPECT_EQ(fix_pos_from_scale(0.7f, FixPosRule::kOverflow).value(), 0);
  EXPECT_EQ(fix_pos_from_scale(3.0f).value(), -2);
  EXPECT_EQ(fix_pos_from_scale(3.0f, FixPosRule::kOverflow).value(), -2);
  // The overflow rule never picks a scale below the given one.
  std::mt19937 rng(31);
  std::uniform_real_distribution<float> ls(-20.0f, 10.0f);
  for (int i = 0; i < 100000; ++i) {
    const float s = std::exp2(ls(rng));
    const int over = fix_pos_from_scale(s, FixPosRule::kOverflow).value();
    const int near = fix_pos_from_scale(s, FixPosRule::kNearest).value();
    ASSERT_GE(pot_scale(over), s);
    ASSERT_LT(pot_scale(over + 1), s);
    ASSERT_TRUE(near == over || near == over + 1);
  }
  EXPECT_TRUE(fails_with(fix_pos_from_scale(0.0f).status(), "positive and finite"));
  EXPECT_TRUE(fails_with(fix_pos_from_scale(-1.0f).status(), "positive and finite"));
  EXPECT_TRUE(fails_with(fix_pos_from_scale(std::nanf("")).status(), "positive and finite"));
}

}  // namespace
}  // namespace qdiff
