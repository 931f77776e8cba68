// Oracles: hand-derived numbers (commented where used), testdata/make_oracles.py (TensorRT's
// entropy description re-implemented with numpy; torch 1.13's moving-average observers; the
// MSE-optimal Laplace clip by numerical integration) and Banner et al.'s ACIQ closed form.
#include "calib/observers.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "numerics/quant_params.h"

namespace qdiff::calib {
namespace {

using Range = std::pair<float, float>;
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

Tensor vec(const std::vector<float>& v) {
  return Tensor::from_vector<float>({static_cast<int64_t>(v.size())}, v);
}

RangeObserver make(const ObserverOptions& o) {
  Result<RangeObserver> r = RangeObserver::create(o);
  EXPECT_TRUE(r.ok()) << r.status().message();
  return std::move(r).value();
}

ObserverOptions opts(Method m) {
  ObserverOptions o;
  o.method = m;
  return o;
}

Range one_range(const RangeObserver& obs, const Format& f = Format{}) {
  Result<std::vector<Range>> r = obs.ranges(f);
  EXPECT_TRUE(r.ok()) << r.status().message();
  if (!r.ok() || r.value().size() != 1) {
    ADD_FAILURE() << "expected exactly one range";
    return {kNaN, kNaN};
  }
  return r.value()[0];
}

::testing::AssertionResult fails_with(const Status& s, const std::string& fragment) {
  if (s.ok()) return ::testing::AssertionFailure() << "expected an error with '" << fragment << "'";
  if (s.message().find(fragment) == std::string::npos) {
    return ::testing::AssertionFailure() << "'" << s.message() << "' lacks '" << fragment << "'";
  }
  return ::testing::AssertionSuccess();
}

Format signed_symmetric(int bits, bool narrow = false) {
  return Format{bits, true, true, narrow};
}

// ---------------------------------------------------------------------------------------------

TEST(Calib, ParseMethod) {
  EXPECT_EQ(parse_method("minmax").value(), Method::kMinMax);
  EXPECT_EQ(parse_method("moving-average").value(), Method::kMovingAverageMinMax);
  EXPECT_EQ(parse_method("percentile").value(), Method::kPercentile);
  EXPECT_EQ(parse_method("mse").value(), Method::kMse);
  EXPECT_EQ(parse_method("entropy").value(), Method::kEntropy);
  for (Method m : {Method::kMinMax, Method::kMovingAverageMinMax, Method::kPercentile, Method::kMse,
                   Method::kEntropy}) {
    EXPECT_EQ(parse_method(method_name(m)).value(), m);
  }
  EXPECT_TRUE(fails_with(parse_method("kl").status(), "unknown calibration method 'kl'"));
}

TEST(Calib, MinMaxSequence) {
  RangeObserver obs = make(opts(Method::kMinMax));
  ASSERT_TRUE(obs.update(vec({3.0f, -1.0f, 2.0f})).ok());
  EXPECT_EQ(one_range(obs), Range(-1.0f, 3.0f));
  ASSERT_TRUE(obs.update(vec({-5.0f, 4.0f})).ok());
  ASSERT_TRUE(obs.update(vec({0.5f})).ok());
  EXPECT_EQ(one_range(obs), Range(-5.0f, 4.0f));
  EXPECT_EQ(obs.count(), 6);
  EXPECT_EQ(obs.updates(), 3);
  EXPECT_EQ(obs.nonfinite_count(), 0);
}

TEST(Calib, MinMaxPerChannel) {
  // [2, 3], axis 1: channel c holds elements (0, c) and (1, c).
  ObserverOptions o = opts(Method::kMinMax);
  o.axis = 1;
  RangeObserver obs = make(o);
  ASSERT_TRUE(obs.update(Tensor::from_vector<float>({2, 3}, {1, -2, 3, 4, 5, -6})).ok());
  ASSERT_TRUE(obs.update(Tensor::from_vector<float>({2, 3}, {0, 7, 2, 9, -8, 1})).ok());
  const std::vector<Range> expect = {{0, 9}, {-8, 7}, {-6, 3}};
  EXPECT_EQ(obs.ranges(Format{}).value(), expect);

  // axis 0 of a [2, 2, 2]: channel 0 = first 4 elements.
  o.axis = 0;
  RangeObserver obs0 = make(o);
  ASSERT_TRUE(
      obs0.update(Tensor::from_vector<float>({2, 2, 2}, {1, 2, 3, 4, -1, -2, -3, 10})).ok());
  const std::vector<Range> expect0 = {{1, 4}, {-3, 10}};
  EXPECT_EQ(obs0.ranges(Format{}).value(), expect0);
}

TEST(Calib, MovingAverageHand) {
  // c = 0.5 (exact): (1, 4); then min = 1 + 0.5 (-3 - 1) = -1, max = 4 + 0.5 (8 - 4) = 6;
  // then min = -1 + 0.5 (3 + 1) = 1, max = 6 + 0.5 (3 - 6) = 4.5.
  ObserverOptions o = opts(Method::kMovingAverageMinMax);
  o.averaging = 0.5;
  RangeObserver obs = make(o);
  ASSERT_TRUE(obs.update(vec({1.0f, 4.0f, 2.0f})).ok());
  EXPECT_EQ(one_range(obs), Range(1.0f, 4.0f));
  ASSERT_TRUE(obs.update(vec({-3.0f, 8.0f})).ok());
  EXPECT_EQ(one_range(obs), Range(-1.0f, 6.0f));
  // A batch with nothing finite changes nothing (counted).
  ASSERT_TRUE(obs.update(vec({kNaN, kInf})).ok());
  EXPECT_EQ(one_range(obs), Range(-1.0f, 6.0f));
  ASSERT_TRUE(obs.update(vec({3.0f})).ok());
  EXPECT_EQ(one_range(obs), Range(1.0f, 4.5f));
  EXPECT_EQ(obs.nonfinite_count(), 2);
}

TEST(Calib, MovingAverageMatchesTorch) {
  // testdata/make_oracles.py: torch MovingAverageMinMaxObserver() (averaging_constant 0.01).
  RangeObserver obs = make(opts(Method::kMovingAverageMinMax));
  const std::vector<std::vector<float>> batches = {
      {0.3f, -1.7f, 2.9f}, {5.1f, -0.2f}, {-4.4f, 1.0f, 0.7f}, {0.05f, 0.06f}};
  const std::vector<Range> torch = {{-0x1.b33334p+0f, 0x1.733334p+1f},
                                    {-0x1.af5c2ap+0f, 0x1.76041ap+1f},
                                    {-0x1.b64f78p+0f, 0x1.738e4cp+1f},
                                    {-0x1.b1cca0p+0f, 0x1.6feac6p+1f}};
  for (size_t i = 0; i < batches.size(); ++i) {
    ASSERT_TRUE(obs.update(vec(batches[i])).ok());
    EXPECT_EQ(one_range(obs), torch[i]) << "after batch " << i;
  }
  // torch MovingAveragePerChannelMinMaxObserver(averaging_constant=0.25, ch_axis=1).
  ObserverOptions o = opts(Method::kMovingAverageMinMax);
  o.averaging = 0.25;
  o.axis = 1;
  RangeObserver pc = make(o);
  ASSERT_TRUE(
      pc.update(Tensor::from_vector<float>({2, 3}, {1.0f, -2.0f, 0.5f, 3.0f, 4.0f, -1.5f})).ok());
  ASSERT_TRUE(
      pc.update(Tensor::from_vector<float>({2, 3}, {-6.0f, 8.0f, 0.25f, 2.0f, 1.0f, 0.125f})).ok());
  ASSERT_TRUE(
      pc.update(Tensor::from_vector<float>({2, 3}, {0.1f, 0.2f, 0.3f, 0.4f, -0.5f, 0.6f})).ok());
  const std::vector<Range> expect = {{-0x1.133334p-1f, 0x1.14ccccp+1f},
                                     {-0x1.1p+0f, 0x1.e66666p+1f},
                                     {-0x1.7d999ap-1f, 0x1.e9999ap-2f}};
  EXPECT_EQ(pc.ranges(Format{}).value(), expect);
}

// 0, 1, ..., 99999 as one tensor: max 99999 -> R = 2^17, 2048 bins of width 64.
Tensor integers(int from, int to) {
  std::vector<float> v;
  for (int i = from; i < to; ++i) v.push_back(static_cast<float>(i));
  return vec(v);
}

TEST(Calib, PercentileOnIntegers) {
  const Format sym = signed_symmetric(8);
  const Format asym{8, false, false, false};
  {
    // Symmetric, p = 99: the first bin where the count of |x| reaches 99000 is k with
    // 64 (k + 1) >= 99000 -> k = 1546, t = 1547 * 64 = 99008; the true 99th percentile is
    // 98999 (the 99000th value), one bin (64) away at most. Clamped to min 0.
    ObserverOptions o = opts(Method::kPercentile);
    o.percentile = 99.0;
    RangeObserver obs = make(o);
    ASSERT_TRUE(obs.update(integers(0, 100000)).ok());
    EXPECT_DOUBLE_EQ(obs.histogram()->bin_width(), 64.0);
    const Range r = one_range(obs, sym);
    EXPECT_EQ(r, Range(0.0f, 99008.0f));
    EXPECT_LE(std::fabs(r.second - 98999.0f), 64.0f);
    // Asymmetric: cut 500 per side. Lower: 64 (k + 1) >= 500 -> k = 7, lower edge 448 (true
    // 0.5th percentile 499). Upper: 64 (k + 1) >= 99500 -> k = 1554, edge 99520 (true 99499).
    const Range a = one_range(obs, asym);
    EXPECT_EQ(a, Range(448.0f, 99520.0f));
    EXPECT_LE(std::fabs(a.first - 499.0f), 64.0f);
    EXPECT_LE(std::fabs(a.second - 99499.0f), 64.0f);
  }
  {
    // Default 99.999: 64 (k + 1) >= 99999 -> k = 1562, edge 100032, clamped to the max 99999
    // (true: 99998).
    RangeObserver obs = make(opts(Method::kPercentile));
    ASSERT_TRUE(obs.update(integers(0, 100000)).ok());
    EXPECT_EQ(one_range(obs, sym), Range(0.0f, 99999.0f));
  }
  {
    // -50000..49999: max|x| 50000 -> R = 2^16, width 32. Asymmetric p = 99, cut 500 per side.
    // From the most negative: #(v <= -32k) = 50001 - 32k >= 500 for k <= 1546: lower edge of
    // negative bin 1546 = -1547 * 32 = -49504 (true: the 500th value, -49501).
    // Upper: 50000 + 32 (k + 1) >= 99500 -> k = 1546, edge 49504 (true: 49499).
    ObserverOptions o = opts(Method::kPercentile);
    o.percentile = 99.0;
    RangeObserver obs = make(o);
    ASSERT_TRUE(obs.update(integers(-50000, 50000)).ok());
    EXPECT_EQ(one_range(obs, asym), Range(-49504.0f, 49504.0f));
    // Symmetric: |x| count reaching 99000: |x| in [0, 32(k+1)) holds 2 * 32 (k + 1) - 1 values
    // (0 once) -> 64 (k + 1) - 1 >= 99000 -> k = 1546, t = 49504 (true: 49500).
    EXPECT_EQ(one_range(obs, sym), Range(-49504.0f, 49504.0f));
  }
}

// testdata/make_oracles.py hist_a / hist_b (integer recurrences, identical in both languages).
std::vector<int64_t> hist_a() {
  std::vector<int64_t> h(256, 0);
  int64_t v = 20000;
  for (int k = 0; k < 160; ++k) {
    h[static_cast<size_t>(k)] = v;
    v = v * 97 / 100;
  }
  h[200] = 5;
  h[255] = 1;
  return h;
}

std::vector<int64_t> hist_b() {
  std::vector<int64_t> h(256, 0);
  for (int k = 0; k < 256; ++k) {
    if (k < 40) {
      h[static_cast<size_t>(k)] = 3000 - 60 * k;
    } else if (k >= 90 && k < 130 && std::abs(k - 110) < 20) {
      h[static_cast<size_t>(k)] = 400 - 20 * std::abs(k - 110);
    }
  }
  h[180] = 7;
  h[250] = 2;
  return h;
}

TEST(Calib, EntropyOnKnownHistograms) {
  struct Case {
    std::vector<int64_t> hist;
    int64_t total;
    int64_t best;
    std::vector<std::pair<int64_t, double>> kl;  // i -> KL from the numpy oracle
  };
  const std::vector<Case> cases = {
      {hist_a(),
       659404,
       159,
       {{16, 1.2542753949491},
        {64, 0.32662199467087594},
        {158, 0.0033727543851420124},
        {159, 0.0032808643559975818},
        {160, 0.0038476275763775526}}},
      {hist_b(),
       81209,
       128,
       {{16, 0.8860831616291882},
        {64, 1.6916823916924357},
        {127, 0.007632269962669042},
        {128, 0.0051374053226069145},
        {129, 0.005626141299102123}}},
  };
  for (const Case& c : cases) {
    int64_t total = 0;
    for (int64_t x : c.hist) total += x;
    ASSERT_EQ(total, c.total);  // the same histogram as the oracle's
    const EntropySearch s = entropy_search(c.hist, 16);
    EXPECT_EQ(s.best_bins, c.best);
    EXPECT_EQ(s.first_candidate, 16);
    for (const auto& [i, kl] : c.kl) {
      const double got = s.divergence[static_cast<size_t>(i - s.first_candidate)];
      EXPECT_NEAR(got, kl, 1e-9 * kl) << "KL at i = " << i;
    }
  }
}

TEST(Calib, EntropyObserverEndToEnd) {
  // hist_a realised as values k + 0.5 (count hist[k]): max 255.5 -> R = 256, 256 bins of width 1,
  // so the observer's |x| histogram is hist_a and the threshold is 159 bins = 159.0; the range is
  // clamped to the observed minimum 0.5.
  const std::vector<int64_t> h = hist_a();
  std::vector<float> values;
  for (size_t k = 0; k < h.size(); ++k) {
    values.insert(values.end(), static_cast<size_t>(h[k]), static_cast<float>(k) + 0.5f);
  }
  ObserverOptions o = opts(Method::kEntropy);
  o.bins = 256;
  o.quantized_bins = 16;
  RangeObserver obs = make(o);
  ASSERT_TRUE(obs.update(vec(values)).ok());
  EXPECT_EQ(obs.histogram()->absolute(), h);
  EXPECT_EQ(one_range(obs, signed_symmetric(8)), Range(0.5f, 159.0f));
  // Mirrored (all negative): the same threshold on the other side.
  for (float& v : values) v = -v;
  RangeObserver neg = make(o);
  ASSERT_TRUE(neg.update(vec(values)).ok());
  EXPECT_EQ(one_range(neg, signed_symmetric(8)), Range(-159.0f, -0.5f));
}

TEST(Calib, ExpectedSquaredErrorHand) {
  // Values 0.25 and 0.75, 2 bins: R = 1, width 0.5, one value per bin.
  StreamingHistogram h(2);
  EXPECT_EQ(h.add(std::vector<float>{0.25f, 0.75f}), 0);
  ASSERT_EQ(h.positive(), (std::vector<int64_t>{1, 1}));
  QuantParams p;
  p.bits = 8;
  p.is_signed = true;
  p.scales = {1.0f};
  p.zero_points = {0};
  // Scale 1: [0, 0.5) rounds to 0: (1/0.5) * int x^2 = 1/12; [0.5, 1) rounds to 1: also 1/12.
  EXPECT_NEAR(expected_squared_error(h, p), 1.0 / 6.0, 1e-15);
  // int2 with scale 0.25: levels -0.5, -0.25, 0, 0.25; above 0.375 saturates to 0.25.
  // [0, 0.5): int_0^0.125 x^2 + int_0.125^0.375 (x - 0.25)^2 + int_0.375^0.5 (x - 0.25)^2
  //         = (2 * 0.125^3 + 0.25^3) / 3, divided by 0.5;
  // [0.5, 1): int (x - 0.25)^2 = (0.75^3 - 0.25^3) / 3, divided by 0.5.
  p.bits = 2;
  p.scales = {0.25f};
  const double expect =
      (2 * 0.125 * 0.125 * 0.125 + 0.25 * 0.25 * 0.25) / 3 / 0.5 + (0.421875 - 0.015625) / 3 / 0.5;
  EXPECT_NEAR(expected_squared_error(h, p), expect, 1e-15);
}

// Deterministic Laplace(0, b) sample: the quantiles F^-1((i + 1/2) / N).
std::vector<float> laplace_sample(int n, double b) {
  std::vector<float> v(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    const double u = (i + 0.5) / n - 0.5;
    const double x = -b * std::log1p(-2.0 * std::fabs(u));
    v[static_cast<size_t>(i)] = static_cast<float>(u < 0 ? -x : x);
  }
  return v;
}

double empirical_mse(const std::vector<float>& v, float lo, float hi, const Format& f) {
  const QuantParams p =
      choose_params(lo, hi, f.bits, f.is_signed, f.symmetric, f.narrow_range).value();
  double sum = 0.0;
  for (float x : v) {
    const double e = static_cast<double>(x) - fake_quant(x, p);
    sum += e * e;
  }
  return sum / static_cast<double>(v.size());
}

TEST(Calib, MseOnLaplace) {
  // Banner et al. (ACIQ): alpha* / b = 2.83, 3.89, 5.03, 9.89 for 2, 3, 4, 8 bits, for an ideal
  // midrise quantizer with 2^M cells over [-alpha, alpha]. The int grids choose_params builds
  // are (q - zp) s with s = 2t / (2^M - 1), levels -2^(M-1) s .. (2^(M-1) - 1) s: the positive
  // saturation edge is exactly t, the negative one t + s. The exact optimum of that grid for the
  // Laplace density (testdata/make_oracles.py --mse, numerical integration): 2.58, 3.77, 4.96,
  // 9.89 (narrow range: 2.00 for 2 bits). The offset grid is why 2 bits sits 9 % under ACIQ.
  const double b = 0.75;
  const std::vector<float> sample = laplace_sample(1 << 20, b);
  RangeObserver obs = make(opts(Method::kMse));
  // Two batches, the larger values second, to exercise range growth.
  std::vector<float> small;
  std::vector<float> large;
  for (float x : sample) (std::fabs(x) < 1.0f ? small : large).push_back(x);
  ASSERT_TRUE(obs.update(vec(small)).ok());
  ASSERT_TRUE(obs.update(vec(large)).ok());

  struct Case {
    int bits;
    bool narrow;
    double exact;  // optimum t / b of the real grid
    double aciq;   // Banner et al.
    double aciq_tolerance;
  };
  for (const Case& c : {Case{2, false, 2.58, 2.83, 0.10}, Case{3, false, 3.77, 3.89, 0.04},
                        Case{4, false, 4.96, 5.03, 0.03}, Case{8, false, 9.89, 9.89, 0.02},
                        Case{2, true, 2.00, 2.83, 0.30}}) {
    const Format f = signed_symmetric(c.bits, c.narrow);
    const Range r = one_range(obs, f);
    EXPECT_EQ(r.first, -r.second);
    const double t = r.second / b;
    EXPECT_NEAR(t, c.exact, 0.015 * c.exact) << c.bits << " bits, narrow " << c.narrow;
    EXPECT_NEAR(t, c.aciq, c.aciq_tolerance * c.aciq) << c.bits << " bits, narrow " << c.narrow;
    // The chosen clip beats its neighbours, ACIQ's and min/max on the sample itself
    // (fake_quant, not the histogram model).
    const double mse = empirical_mse(sample, r.first, r.second, f);
    for (double other : {0.95 * t, 1.05 * t, c.aciq, 14.0}) {
      const float o = static_cast<float>(other * b);
      EXPECT_LE(mse, empirical_mse(sample, -o, o, f) * 1.002)
          << c.bits << " bits: t " << t << " vs " << other;
    }
  }

  // Asymmetric uint4: many ranges give the same (scale, zero point); on symmetric data the
  // search lands on the symmetric optimum's grid, s = 2 * 4.96 b / 15 with zero point 8 (levels
  // -8 s .. 7 s, as signed int4), and does no worse than it on the sample.
  const Format u4{4, false, false, false};
  const Range a = one_range(obs, u4);
  const QuantParams pa = choose_params(a.first, a.second, 4, false, false, false).value();
  EXPECT_NEAR(pa.scales[0] / b, 2 * 4.96 / 15, 0.02 * 2 * 4.96 / 15);
  EXPECT_EQ(pa.zero_points[0], 8);
  const float s = static_cast<float>(4.96 * b);
  EXPECT_LE(empirical_mse(sample, a.first, a.second, u4), empirical_mse(sample, -s, s, u4) * 1.002);
}

TEST(Calib, MseNonNegativeAsymmetric) {
  // Exponential data (ReLU-like, all > 0), uint8 asymmetric: lo is the observed minimum (the
  // clamp), so the zero point is 0.
  std::vector<float> v = laplace_sample(1 << 16, 1.0);
  for (float& x : v) x = std::fabs(x);
  RangeObserver obs = make(opts(Method::kMse));
  ASSERT_TRUE(obs.update(vec(v)).ok());
  const Format u8{8, false, false, false};
  const Range r = one_range(obs, u8);
  EXPECT_EQ(r.first, obs.histogram()->min());
  EXPECT_EQ(choose_params(r.first, r.second, 8, false, false, false).value().zero_points[0], 0);
  EXPECT_GT(r.second, 5.0f);
  EXPECT_LE(r.second, obs.histogram()->max());
  EXPECT_LE(empirical_mse(v, r.first, r.second, u8),
            empirical_mse(v, 0.0f, obs.histogram()->max(), u8) * 1.002);
}

TEST(Calib, HistogramGrowthIsExact) {
  // 4 bins. 0.75 alone: R = 1, width 0.25 -> bin 3. Then 3.0: R = 4, width 1: two merges move
  // 0.75 to bin 0 and 3.0 goes to bin 3; -2.5 to negative bin 2; 0 and -0 to positive bin 0.
  StreamingHistogram h(4);
  EXPECT_EQ(h.add(std::vector<float>{0.75f}), 0);
  EXPECT_EQ(h.exponent(), 0);
  EXPECT_EQ(h.positive(), (std::vector<int64_t>{0, 0, 0, 1}));
  EXPECT_EQ(h.add(std::vector<float>{3.0f, -2.5f, 0.0f, -0.0f, kNaN}), 1);
  EXPECT_EQ(h.exponent(), 2);
  EXPECT_EQ(h.positive(), (std::vector<int64_t>{3, 0, 0, 1}));
  EXPECT_EQ(h.negative(), (std::vector<int64_t>{0, 0, 1, 0}));
  EXPECT_EQ(h.total(), 5);
  EXPECT_EQ(h.min(), -2.5f);
  EXPECT_EQ(h.max(), 3.0f);
  // A jump of many octaves at once, and subnormals.
  StreamingHistogram g(8);
  EXPECT_EQ(g.add(std::vector<float>{1e-44f, 3e-45f}), 0);
  EXPECT_EQ(g.add(std::vector<float>{1e30f}), 0);
  EXPECT_EQ(g.positive()[0], 2);
  // 1e30 = 0.789 * 2^100: R = 2^100, bin floor(8 * 0.789) = 6.
  EXPECT_EQ(g.exponent(), 100);
  EXPECT_EQ(g.positive()[6], 1);
}

TEST(Calib, BadInput) {
  // Non-float tensor.
  RangeObserver obs = make(opts(Method::kMinMax));
  EXPECT_TRUE(fails_with(obs.update(Tensor::from_vector<int8_t>({2}, {1, 2})),
                         "calibration observes float32 tensors, got int8 [2]"));
  // Axis out of range.
  ObserverOptions o = opts(Method::kMinMax);
  o.axis = 2;
  RangeObserver pc = make(o);
  EXPECT_TRUE(fails_with(pc.update(Tensor::from_vector<float>({2, 2}, {1, 2, 3, 4})),
                         "axis 2 is out of range for a rank-2 tensor [2,2]"));
  // Channel count changing between updates.
  o.axis = 0;
  RangeObserver pc0 = make(o);
  ASSERT_TRUE(pc0.update(Tensor::from_vector<float>({2, 2}, {1, 2, 3, 4})).ok());
  EXPECT_TRUE(fails_with(pc0.update(Tensor::from_vector<float>({3, 1}, {1, 2, 3})),
                         "has 3 channel(s) along axis 0, earlier samples had 2"));
  EXPECT_EQ(pc0.updates(), 1);
  // Options.
  for (double p : {0.0, -1.0, 100.5, static_cast<double>(kNaN)}) {
    ObserverOptions bad = opts(Method::kPercentile);
    bad.percentile = p;
    EXPECT_TRUE(fails_with(RangeObserver::create(bad).status(), "percentile must be in (0, 100]"));
  }
  ObserverOptions ok100 = opts(Method::kPercentile);
  ok100.percentile = 100.0;
  EXPECT_TRUE(RangeObserver::create(ok100).ok());
  ObserverOptions bad = opts(Method::kEntropy);
  bad.bins = 0;
  EXPECT_TRUE(
      fails_with(RangeObserver::create(bad).status(), "bins must be in [1, 16777216], got 0"));
  bad = opts(Method::kEntropy);
  bad.quantized_bins = 4096;
  EXPECT_TRUE(
      fails_with(RangeObserver::create(bad).status(), "quantized_bins must be in [1, bins"));
  bad = opts(Method::kMovingAverageMinMax);
  bad.averaging = 0.0;
  EXPECT_TRUE(fails_with(RangeObserver::create(bad).status(), "averaging constant"));
  bad = opts(Method::kMse);
  bad.axis = 0;
  EXPECT_TRUE(fails_with(RangeObserver::create(bad).status(), "only implemented for minmax"));
  bad = opts(Method::kMinMax);
  bad.axis = -2;
  EXPECT_TRUE(fails_with(RangeObserver::create(bad).status(), "axis must be -1"));
  // Format.
  EXPECT_TRUE(fails_with(obs.ranges(Format{1, true, true, false}).status(), "bits"));
  EXPECT_TRUE(fails_with(obs.ranges(Format{8, true, false, true}).status(), "narrow_range"));
}

TEST(Calib, NonFiniteCountedAndIgnored) {
  for (Method m : {Method::kMinMax, Method::kMovingAverageMinMax, Method::kPercentile, Method::kMse,
                   Method::kEntropy}) {
    ObserverOptions o = opts(m);
    o.percentile = 100.0;
    RangeObserver obs = make(o);
    ASSERT_TRUE(obs.update(vec({1.0f, kNaN, -kInf, 3.0f, kInf})).ok());
    EXPECT_EQ(obs.nonfinite_count(), 3) << method_name(m);
    EXPECT_EQ(obs.count(), 2) << method_name(m);
    const Range r = one_range(obs, Format{8, false, false, false});
    EXPECT_TRUE(std::isfinite(r.first) && std::isfinite(r.second)) << method_name(m);
    EXPECT_GE(r.first, 1.0f) << method_name(m);
    EXPECT_LE(r.second, 3.0f) << method_name(m);
    if (m == Method::kMinMax || m == Method::kPercentile) {
      EXPECT_EQ(r, Range(1.0f, 3.0f)) << method_name(m);
    }
    // Only non-finite values: the empty range.
    RangeObserver only_bad = make(o);
    ASSERT_TRUE(only_bad.update(vec({kNaN, kInf})).ok());
    EXPECT_EQ(one_range(only_bad), Range(0.0f, 0.0f)) << method_name(m);
  }
}

TEST(Calib, ZeroAndConstantTensors) {
  for (Method m : {Method::kMinMax, Method::kMovingAverageMinMax, Method::kPercentile, Method::kMse,
                   Method::kEntropy}) {
    for (const Format& f :
         {Format{8, false, false, false}, signed_symmetric(8, true), signed_symmetric(4)}) {
      RangeObserver zeros = make(opts(m));
      ASSERT_TRUE(zeros.update(vec(std::vector<float>(100, 0.0f))).ok());
      ASSERT_TRUE(zeros.update(vec({-0.0f})).ok());
      EXPECT_EQ(one_range(zeros, f), Range(0.0f, 0.0f)) << method_name(m);
      const Range z = one_range(zeros, f);
      EXPECT_TRUE(
          choose_params(z.first, z.second, f.bits, f.is_signed, f.symmetric, f.narrow_range).ok());

      RangeObserver constant = make(opts(m));
      ASSERT_TRUE(constant.update(vec(std::vector<float>(50, 2.5f))).ok());
      const Range c = one_range(constant, f);
      EXPECT_EQ(c, Range(2.5f, 2.5f)) << method_name(m);
      const Result<QuantParams> p =
          choose_params(c.first, c.second, f.bits, f.is_signed, f.symmetric, f.narrow_range);
      ASSERT_TRUE(p.ok());
      EXPECT_TRUE(std::isfinite(p.value().scales[0]) && p.value().scales[0] > 0.0f);
    }
  }
}

TEST(Calib, BatchingDoesNotChangeTheResult) {
  std::mt19937 rng(1234);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> all;
  for (int i = 0; i < 60000; ++i) {
    float x = normal(rng);
    if (i % 997 == 0) x *= 40.0f;  // sparse outliers: the range grows along the way
    all.push_back(i < 30000 ? 0.01f * x : x + 0.5f);
  }
  for (Method m : {Method::kMinMax, Method::kPercentile, Method::kMse, Method::kEntropy}) {
    ObserverOptions o = opts(m);
    o.percentile = 99.9;
    RangeObserver one = make(o);
    ASSERT_TRUE(one.update(vec(all)).ok());
    RangeObserver many = make(o);
    for (size_t i = 0; i < all.size(); i += 7) {
      std::vector<float> chunk(
          all.begin() + static_cast<std::ptrdiff_t>(i),
          all.begin() + static_cast<std::ptrdiff_t>(std::min(i + 7, all.size())));
      ASSERT_TRUE(many.update(vec(chunk)).ok());
    }
    RangeObserver reversed = make(o);
    std::vector<float> rev(all.rbegin(), all.rend());
    for (size_t i = 0; i < rev.size(); i += 1000) {
      std::vector<float> chunk(rev.begin() + static_cast<std::ptrdiff_t>(i),
                               rev.begin() + static_cast<std::ptrdiff_t>(i + 1000));
      ASSERT_TRUE(reversed.update(vec(chunk)).ok());
    }
    if (one.histogram() != nullptr) {
      EXPECT_EQ(one.histogram()->positive(), many.histogram()->positive());
      EXPECT_EQ(one.histogram()->negative(), many.histogram()->negative());
      EXPECT_EQ(one.histogram()->positive(), reversed.histogram()->positive());
    }
    for (const Format& f : {Format{8, false, false, false}, signed_symmetric(8)}) {
      const Range r = one_range(one, f);
      EXPECT_EQ(r, one_range(many, f)) << method_name(m);
      EXPECT_EQ(r, one_range(reversed, f)) << method_name(m);
      EXPECT_LT(r.first, r.second);
    }
  }
  // Per-channel MinMax: one [N, 3] tensor vs N [1, 3] tensors.
  ObserverOptions o = opts(Method::kMinMax);
  o.axis = 1;
  RangeObserver one = make(o);
  ASSERT_TRUE(one.update(Tensor::from_vector<float>({20000, 3}, all)).ok());
  RangeObserver many = make(o);
  for (size_t i = 0; i < all.size(); i += 3) {
    ASSERT_TRUE(many.update(Tensor::from_vector<float>(
                                {1, 3}, std::vector<float>(
                                            all.begin() + static_cast<std::ptrdiff_t>(i),
                                            all.begin() + static_cast<std::ptrdiff_t>(i + 3))))
                    .ok());
  }
  EXPECT_EQ(one.ranges(Format{}).value(), many.ranges(Format{}).value());
}

}  // namespace
}  // namespace qdiff::calib
