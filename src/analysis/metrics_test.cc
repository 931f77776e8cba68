#include "analysis/metrics.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

namespace qdiff::analysis {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

MetricsAccumulator make(MetricsConfig c) {
  auto a = MetricsAccumulator::create(std::move(c));
  EXPECT_TRUE(a.ok()) << a.status().message();
  return std::move(a).value();
}

TensorMetrics one_sample(const std::vector<float>& x, const std::vector<float>& y,
                         MetricsConfig c = MetricsConfig()) {
  if (c.shape.empty()) c.shape = {static_cast<int64_t>(x.size())};
  MetricsAccumulator a = make(c);
  a.add({x, {}}, {y, {}});
  return a.result();
}

MetricsConfig cfg(Shape shape, std::optional<QuantGrid> lsb = std::nullopt,
                  std::optional<QuantGrid> test_grid = std::nullopt, bool top1 = false,
                  bool integers = false) {
  MetricsConfig c;
  c.shape = std::move(shape);
  c.lsb = std::move(lsb);
  c.test_grid = std::move(test_grid);
  c.top1 = top1;
  c.integers = integers;
  return c;
}

QuantGrid grid(std::vector<float> scales, std::vector<int32_t> zps, int64_t axis = -1) {
  QuantGrid g;
  g.scales = std::move(scales);
  g.zero_points = std::move(zps);
  g.axis = axis;
  return g;
}

TEST(Metrics, HandDerived) {
  // x = [1,2,3,4], y = [1,2,3,5]: sum x^2 = 30, sum y^2 = 39, sum xy = 34, sum (x-y)^2 = 1.
  // cosine = 34 / sqrt(30 * 39) = 34 / sqrt(1170) = 0.9939990885479664
  // SQNR = 10 log10(30 / 1) = 14.771212547196624 dB; MSE = 1/4; max |e| = 1; exact 3/4.
  const TensorMetrics m = one_sample({1, 2, 3, 4}, {1, 2, 3, 5});
  EXPECT_EQ(m.samples, 1);
  EXPECT_EQ(m.elements, 4);
  EXPECT_EQ(m.compared, 4);
  EXPECT_NEAR(m.cosine, 0.9939990885479664, 1e-15);
  EXPECT_NEAR(m.sqnr_db, 14.771212547196624, 1e-12);
  EXPECT_DOUBLE_EQ(m.mse, 0.25);
  EXPECT_DOUBLE_EQ(m.max_abs_error, 1.0);
  EXPECT_DOUBLE_EQ(m.exact_match, 0.75);
  EXPECT_DOUBLE_EQ(m.ref_norm, std::sqrt(30.0));
  EXPECT_DOUBLE_EQ(m.error_norm, 1.0);
  EXPECT_FALSE(m.max_error_lsb);
  EXPECT_FALSE(m.saturation);
  EXPECT_FALSE(m.top1);
  EXPECT_FALSE(m.integer_exact_match);
}

TEST(Metrics, AgainstNumpy) {
  // x[i] = float32(sin(0.37 i)), y[i] = float32(x[i] + float32(0.01) * float32(cos(1.3 i))),
  // i = 0..99. numpy (float64 over the float32 values):
  //   np.dot(x, y) / np.linalg.norm(x) / np.linalg.norm(y)         = 0.9999499515175696
  //   20 * np.log10(np.linalg.norm(x) / np.linalg.norm(x - y))     = 39.9955195783387
  //   np.mean((x - y) ** 2)                                        = 5.047996372283229e-05
  //   np.abs(x - y).max()                                          = 0.009999999776482582
  //   (x == y).sum()                                               = 0
  std::vector<float> x(100), y(100);
  for (int i = 0; i < 100; ++i) {
    x[i] = static_cast<float>(std::sin(i * 0.37));
    const float d = 0.01f * static_cast<float>(std::cos(i * 1.3));
    y[i] = x[i] + d;
  }
  const TensorMetrics m = one_sample(x, y);
  EXPECT_NEAR(m.cosine, 0.9999499515175696, 1e-13);
  EXPECT_NEAR(m.sqnr_db, 39.9955195783387, 1e-10);
  EXPECT_NEAR(m.mse, 5.047996372283229e-05, 1e-17);
  EXPECT_DOUBLE_EQ(m.max_abs_error, 0.009999999776482582);
  EXPECT_EQ(m.exact_match, 0.0);
}

TEST(Metrics, IdenticalAndZeroNorms) {
  TensorMetrics m = one_sample({0.1f, -2, 3.3f, 1e-3f}, {0.1f, -2, 3.3f, 1e-3f});
  EXPECT_EQ(m.sqnr_db, kInf);
  EXPECT_EQ(m.cosine, 1.0);
  EXPECT_EQ(m.mse, 0.0);
  EXPECT_EQ(m.exact_match, 1.0);
  // Both zero: identical.
  m = one_sample({0, 0}, {0, 0});
  EXPECT_EQ(m.sqnr_db, kInf);
  EXPECT_EQ(m.cosine, 1.0);
  // ||x|| = 0, y not: no signal, all noise.
  m = one_sample({0, 0}, {0, 1});
  EXPECT_EQ(m.sqnr_db, -kInf);
  EXPECT_EQ(m.cosine, 0.0);
  // y = 0, x not: SQNR 0 dB (the noise is the signal), cosine 0.
  m = one_sample({3, 4}, {0, 0});
  EXPECT_DOUBLE_EQ(m.sqnr_db, 0.0);
  EXPECT_EQ(m.cosine, 0.0);
  // Opposite signs: cosine -1, SQNR 20 log10(1/2).
  m = one_sample({1, 2}, {-1, -2});
  EXPECT_DOUBLE_EQ(m.cosine, -1.0);
  EXPECT_NEAR(m.sqnr_db, 20 * std::log10(0.5), 1e-12);
}

TEST(Metrics, NonFiniteCountedAndLeftOut) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  // Elements 1 (x NaN), 2 (y +inf) and 4 (x -inf, y NaN) leave the sums; 0 and 3 remain:
  // x = [1, 2], y = [1, 4]: sum x^2 = 5, sum e^2 = 4, MSE 2, max 2, exact 1/2.
  const TensorMetrics m = one_sample({1, nan, 5, 2, -inf}, {1, 0, inf, 4, nan});
  EXPECT_EQ(m.elements, 5);
  EXPECT_EQ(m.compared, 2);
  EXPECT_EQ(m.ref_nan, 1);
  EXPECT_EQ(m.ref_inf, 1);
  EXPECT_EQ(m.test_nan, 1);
  EXPECT_EQ(m.test_inf, 1);
  EXPECT_DOUBLE_EQ(m.mse, 2.0);
  EXPECT_DOUBLE_EQ(m.max_abs_error, 2.0);
  EXPECT_DOUBLE_EQ(m.exact_match, 0.5);
  EXPECT_NEAR(m.sqnr_db, 10 * std::log10(5.0 / 4.0), 1e-12);
  // Nothing finite on both sides: every metric is NaN (JSON null).
  const TensorMetrics none = one_sample({nan}, {1});
  EXPECT_EQ(none.compared, 0);
  EXPECT_TRUE(std::isnan(none.cosine));
  EXPECT_TRUE(std::isnan(none.sqnr_db));
  EXPECT_TRUE(std::isnan(none.mse));
  EXPECT_TRUE(to_json(none)["cosine"].is_null());
}

TEST(Metrics, AccumulatesOverSamplesLikeOneLongVector) {
  // Five samples of [3, 7] against a plain computation over all 105 values, written as a
  // single pass with long double sums.
  std::mt19937 rng(7);
  std::normal_distribution<float> dist(0.0f, 2.0f);
  MetricsAccumulator a = make(cfg({3, 7}));
  long double xx = 0, ee = 0, xy = 0, yy = 0;
  double worst = 0;
  for (int s = 0; s < 5; ++s) {
    std::vector<float> x(21), y(21);
    for (size_t i = 0; i < 21; ++i) {
      x[i] = dist(rng);
      y[i] = (i % 4 == 0) ? x[i] : x[i] + 0.1f * dist(rng);
      const long double lx = x[i], ly = y[i];
      xx += lx * lx;
      yy += ly * ly;
      xy += lx * ly;
      ee += (lx - ly) * (lx - ly);
      worst = std::max(worst, static_cast<double>(std::fabs(lx - ly)));
    }
    a.add({x, {}}, {y, {}});
  }
  const TensorMetrics m = a.result();
  EXPECT_EQ(m.samples, 5);
  EXPECT_EQ(m.elements, 105);
  EXPECT_NEAR(m.cosine, static_cast<double>(xy / std::sqrt(xx * yy)), 1e-14);
  EXPECT_NEAR(m.sqnr_db, static_cast<double>(10 * std::log10(xx / ee)), 1e-11);
  EXPECT_NEAR(m.mse, static_cast<double>(ee / 105), 1e-15);
  EXPECT_EQ(m.max_abs_error, worst);
  EXPECT_DOUBLE_EQ(m.exact_match, 30.0 / 105.0);  // i = 0, 4, 8, 12, 16, 20 of each sample
}

TEST(Metrics, SumsFollowTheEightLaneOrderBitForBit) {
  // The canonical order (element i into lane i % 8, lanes added as a fixed tree), written out
  // plainly; the accumulator must give the same doubles on any CPU (vector or portable path),
  // with a block holding a NaN and a tail that is not a whole block.
  std::mt19937 rng(3);
  std::normal_distribution<float> dist(0.0f, 3.0f);
  const size_t n = 203;
  std::vector<float> x(n), y(n);
  for (size_t i = 0; i < n; ++i) {
    x[i] = dist(rng);
    y[i] = i % 5 == 0 ? x[i] : x[i] + 0.01f * dist(rng);
  }
  y[37] = NAN;
  double xx[8] = {}, ee[8] = {};
  for (size_t i = 0; i < n; ++i) {
    if (i == 37) continue;
    const double a = x[i], b = y[i];
    xx[i % 8] += a * a;
    ee[i % 8] += (a - b) * (a - b);
  }
  auto total = [](const double(&v)[8]) {
    return ((v[0] + v[1]) + (v[2] + v[3])) + ((v[4] + v[5]) + (v[6] + v[7]));
  };
  MetricsAccumulator acc = make(cfg({static_cast<int64_t>(n)}));
  const MetricsAccumulator::SampleSums sums = acc.add({x, {}}, {y, {}});
  EXPECT_EQ(sums.ref, total(xx));
  EXPECT_EQ(sums.err, total(ee));
  const TensorMetrics m = acc.result();
  EXPECT_EQ(m.compared, static_cast<int64_t>(n - 1));
  EXPECT_EQ(m.test_nan, 1);
}

TEST(Metrics, MergeEqualsOneAccumulatorAndIsDeterministic) {
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<std::vector<float>> xs, ys;
  for (int s = 0; s < 10; ++s) {
    std::vector<float> x(16), y(16);
    for (size_t i = 0; i < 16; ++i) {
      x[i] = dist(rng);
      y[i] = std::round(x[i] * 50) / 50;
    }
    xs.push_back(x);
    ys.push_back(y);
  }
  MetricsConfig c = cfg({4, 4}, grid({0.02f}, {0}), std::nullopt, true);
  auto run = [&](int split) {
    MetricsAccumulator first = make(c), second = make(c);
    for (int s = 0; s < 10; ++s) (s < split ? first : second).add({xs[s], {}}, {ys[s], {}});
    first.merge(second);
    return first.result();
  };
  const TensorMetrics whole = run(10), halves = run(5), again = run(5);
  EXPECT_EQ(halves.samples, 10);
  EXPECT_EQ(halves.compared, whole.compared);
  EXPECT_EQ(halves.exact_match, whole.exact_match);
  EXPECT_EQ(halves.max_abs_error, whole.max_abs_error);
  EXPECT_EQ(*halves.max_error_lsb, *whole.max_error_lsb);
  EXPECT_EQ(halves.top1->rows, 40);
  EXPECT_EQ(halves.top1->agree, whole.top1->agree);
  EXPECT_NEAR(halves.cosine, whole.cosine, 1e-13);
  EXPECT_NEAR(halves.sqnr_db, whole.sqnr_db, 1e-12);
  // The same split twice gives the same bytes.
  EXPECT_EQ(to_json(halves).dump(), to_json(again).dump());
}

TEST(Metrics, MaxErrorInLsbPerChannel) {
  // Shape [2, 3], channels along axis 1 with scales 0.5, 1, 2. Errors:
  //   row 0: 0.5, 1, 1   -> 1, 1, 0.5 LSB
  //   row 1: 0, 3, 4     -> 0, 3, 2 LSB   => max 3 LSB (channel 1), max abs 4.
  MetricsConfig c = cfg({2, 3}, grid({0.5f, 1.0f, 2.0f}, {0, 0, 0}, 1));
  const TensorMetrics m = one_sample({0, 0, 0, 0, 0, 0}, {0.5f, 1, 1, 0, 3, -4}, c);
  EXPECT_DOUBLE_EQ(*m.max_error_lsb, 3.0);
  EXPECT_DOUBLE_EQ(m.max_abs_error, 4.0);
  // Per tensor, scale 0.25: 4 / 0.25 = 16 LSB.
  c.lsb = grid({0.25f}, {0});
  EXPECT_DOUBLE_EQ(*one_sample({0, 0, 0, 0, 0, 0}, {0.5f, 1, 1, 0, 3, -4}, c).max_error_lsb, 16.0);
}

TEST(Metrics, SaturationFromValuesAndFromIntegers) {
  // uint8 grid, scale 0.1, zero point 10: q = 0 is -1.0, q = 255 is 24.5.
  QuantGrid g = grid({0.1f}, {10});
  g.has_range = true;
  g.qmin = 0;
  g.qmax = 255;
  MetricsConfig c = cfg({5}, std::nullopt, g);
  // Dequantized values of q = 0, 10, 11, 255, 255 (float32 products, as a dump holds them).
  std::vector<int32_t> q = {0, 10, 11, 255, 255};
  std::vector<float> y;
  for (int32_t v : q) y.push_back(static_cast<float>(v - 10) * 0.1f);
  const std::vector<float> x = {-1.2f, 0.0f, 0.1f, 30.0f, 24.5f};
  TensorMetrics m = one_sample(x, y, c);
  EXPECT_EQ(*m.saturated, 3);
  EXPECT_DOUBLE_EQ(*m.saturation, 0.6);
  // The same from the integers themselves.
  MetricsAccumulator a = make(c);
  a.add({x, {}}, {y, q});
  EXPECT_EQ(*a.result().saturated, 3);
  // A grid without a range is refused.
  g.has_range = false;
  EXPECT_FALSE(MetricsAccumulator::create(cfg({5}, std::nullopt, g)).ok());
}

TEST(Metrics, IntegerExactMatch) {
  MetricsAccumulator a = make(cfg({4}, std::nullopt, std::nullopt, false, true));
  const std::vector<int32_t> qa = {1, 2, 3, 4}, qb = {1, 2, 4, 4};
  const std::vector<float> va = {1, 2, 3, 4}, vb = {1, 2, 4, 4};
  a.add({va, qa}, {vb, qb});
  a.add({va, qa}, {va, qa});
  EXPECT_DOUBLE_EQ(*a.result().integer_exact_match, 7.0 / 8.0);
}

TEST(Metrics, Top1PerRowTiesLowestNaNIgnored) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  EXPECT_EQ(argmax_row(std::vector<float>{1, 3, 3, 2}), 1);
  EXPECT_EQ(argmax_row(std::vector<float>{nan, 1, 0}), 1);
  EXPECT_EQ(argmax_row(std::vector<float>{nan, nan}), -1);
  EXPECT_EQ(argmax_row(std::vector<float>{}), -1);
  // Shape [4, 3]: rows agree, tie (lowest index on both sides: agree), differ, all-NaN (never).
  const std::vector<float> x = {0, 5, 1, 2, 2, 0, 9, 1, 0, nan, nan, nan};
  const std::vector<float> y = {0, 4, 1, 1, 1, 1, 0, 1, 0, nan, nan, nan};
  const TensorMetrics m = one_sample(x, y, cfg({4, 3}, std::nullopt, std::nullopt, true));
  EXPECT_EQ(m.top1->rows, 4);
  EXPECT_EQ(m.top1->agree, 2);
  const auto j = to_json(m);
  EXPECT_EQ(j["top1"]["agreement"].get<double>(), 0.5);
}

TEST(Metrics, ConfigErrors) {
  EXPECT_FALSE(MetricsAccumulator::create(cfg({2, 3}, grid({1, 2}, {0, 0}, 1))).ok());
  EXPECT_FALSE(MetricsAccumulator::create(cfg({2, 3}, grid({1, 2, 3}, {0, 0, 0}, 2))).ok());
  EXPECT_FALSE(MetricsAccumulator::create(cfg({2}, grid({0.0f}, {0}))).ok());
  EXPECT_FALSE(MetricsAccumulator::create(cfg({2}, grid({1, 1}, {0, 0}))).ok());
  EXPECT_FALSE(MetricsAccumulator::create(cfg({2}, grid({1}, {0, 0}))).ok());
  EXPECT_FALSE(MetricsAccumulator::create(cfg({-1})).ok());
  const auto s = MetricsAccumulator::create(cfg({2, 3}, grid({1, 2}, {0, 0}, 1)));
  EXPECT_NE(s.status().message().find("2 scales for 3 channels"), std::string::npos)
      << s.status().message();
}

TEST(Metrics, JsonKeysAndInfinities) {
  const TensorMetrics m = one_sample({1, 2}, {1, 2});
  const auto j = to_json(m);
  EXPECT_EQ(j["sqnr_db"], "inf");
  EXPECT_TRUE(j["max_error_lsb"].is_null());
  std::vector<std::string> keys;
  for (const auto& [k, v] : j.items()) keys.push_back(k);
  const std::vector<std::string> want = {
      "samples",    "elements",      "compared",      "cosine",      "sqnr_db",
      "mse",        "max_abs_error", "max_error_lsb", "exact_match", "integer_exact_match",
      "saturation", "saturated",     "top1",          "ref_norm",    "error_norm",
      "nonfinite"};
  EXPECT_EQ(keys, want);
  EXPECT_EQ(json_number(-kInf), "-inf");
  EXPECT_TRUE(json_number(std::nan("")).is_null());
}

}  // namespace
}  // namespace qdiff::analysis
