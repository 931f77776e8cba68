#include "analysis/metrics.h"

#include <algorithm>
#include <cmath>
#include <string>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace qdiff::analysis {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

// Validates a grid against the per-sample shape; sets the channel stride and count.
Status check_grid(const QuantGrid& g, const Shape& shape, const char* what, int64_t* inner,
                  int64_t* channels) {
  const std::string name(what);
  if (g.scales.empty()) return invalid_argument(name + ": no scale");
  if (g.zero_points.size() != g.scales.size())
    return invalid_argument(name + ": " + std::to_string(g.zero_points.size()) +
                            " zero points for " + std::to_string(g.scales.size()) + " scales");
  for (float s : g.scales)
    if (!(s > 0) || !std::isfinite(s))
      return invalid_argument(name + ": scale " + std::to_string(s) + " is not positive finite");
  *inner = 1;
  *channels = 1;
  if (!g.per_channel()) {
    if (g.scales.size() != 1)
      return invalid_argument(name + ": " + std::to_string(g.scales.size()) +
                              " scales need a channel axis");
    return Status();
  }
  if (g.axis >= static_cast<int64_t>(shape.size()))
    return invalid_argument(name + ": axis " + std::to_string(g.axis) + " out of range for shape " +
                            shape_to_string(shape));
  const int64_t c = shape[static_cast<size_t>(g.axis)];
  if (static_cast<int64_t>(g.scales.size()) != c)
    return invalid_argument(name + ": " + std::to_string(g.scales.size()) + " scales for " +
                            std::to_string(c) + " channels along axis " + std::to_string(g.axis) +
                            " of shape " + shape_to_string(shape));
  for (size_t d = static_cast<size_t>(g.axis) + 1; d < shape.size(); ++d) *inner *= shape[d];
  *channels = c;
  return Status();
}

// Partial sums of the elementwise metrics in eight lanes (element i of a run of whole blocks
// goes to lane i % 8): the canonical order of the sums, which every code path keeps.
struct Lanes {
  double xx[8] = {}, yy[8] = {}, xy[8] = {}, ee[8] = {};
  double max_abs = 0;
  int64_t exact = 0;
};

// Blocks of eight finite pairs from `i` on, into the lanes; returns where it stopped (a block
// holding a non-finite value, or the last whole block's end).
size_t lanes_scalar(const float* x, const float* y, size_t i, size_t n, Lanes& l) {
  for (; i + 8 <= n; i += 8) {
    bool finite = true;
    for (size_t k = 0; k < 8; ++k)
      finite = finite && std::isfinite(x[i + k]) && std::isfinite(y[i + k]);
    if (!finite) return i;
    for (size_t k = 0; k < 8; ++k) {
      const double a = x[i + k], b = y[i + k], d = a - b;
      l.xx[k] += a * a;
      l.yy[k] += b * b;
      l.xy[k] += a * b;
      l.ee[k] += d * d;
      l.max_abs = std::max(l.max_abs, std::fabs(d));
      l.exact += a == b;
    }
  }
  return i;
}

#if defined(__x86_64__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
// The same, eight lanes at once (the same IEEE operations per lane: convert, subtract,
// multiply, add; no fused multiply-add).
__attribute__((target("avx512f"))) size_t lanes_avx512(const float* x, const float* y, size_t i,
                                                       size_t n, Lanes& l) {
  __m512d xx = _mm512_loadu_pd(l.xx), yy = _mm512_loadu_pd(l.yy), xy = _mm512_loadu_pd(l.xy),
          ee = _mm512_loadu_pd(l.ee), m = _mm512_setzero_pd();
  const __m512d zero = _mm512_setzero_pd();
  int64_t exact = 0;
  for (; i + 8 <= n; i += 8) {
    const __m512d a = _mm512_cvtps_pd(_mm256_loadu_ps(x + i));
    const __m512d b = _mm512_cvtps_pd(_mm256_loadu_ps(y + i));
    // x - x is 0 exactly when x is finite.
    const __mmask8 fa = _mm512_cmp_pd_mask(_mm512_sub_pd(a, a), zero, _CMP_EQ_OQ);
    const __mmask8 fb = _mm512_cmp_pd_mask(_mm512_sub_pd(b, b), zero, _CMP_EQ_OQ);
    if ((fa & fb) != 0xFF) break;
    const __m512d d = _mm512_sub_pd(a, b);
    xx = _mm512_add_pd(xx, _mm512_mul_pd(a, a));
    yy = _mm512_add_pd(yy, _mm512_mul_pd(b, b));
    xy = _mm512_add_pd(xy, _mm512_mul_pd(a, b));
    ee = _mm512_add_pd(ee, _mm512_mul_pd(d, d));
    m = _mm512_max_pd(m, _mm512_abs_pd(d));
    exact += __builtin_popcount(_mm512_cmp_pd_mask(a, b, _CMP_EQ_OQ));
  }
  _mm512_storeu_pd(l.xx, xx);
  _mm512_storeu_pd(l.yy, yy);
  _mm512_storeu_pd(l.xy, xy);
  _mm512_storeu_pd(l.ee, ee);
  double ms[8];
  _mm512_storeu_pd(ms, m);
  for (double v : ms) l.max_abs = std::max(l.max_abs, v);
  l.exact += exact;
  return i;
}
#pragma GCC diagnostic pop
#endif

// Over y[0, n): finite elements, and those of them at or beyond [lo, hi] (compared as doubles).
void saturation_scalar(const float* y, size_t n, double lo, double hi, int64_t& finite,
                       int64_t& sat) {
  for (size_t i = 0; i < n; ++i) {
    const double v = y[i];
    if (!std::isfinite(v)) continue;
    ++finite;
    sat += v <= lo || v >= hi;
  }
}

#if defined(__x86_64__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
__attribute__((target("avx512f,avx512vl"))) void saturation_avx512(const float* y, size_t n,
                                                                   double lo, double hi,
                                                                   int64_t& finite, int64_t& sat) {
  const __m512d vlo = _mm512_set1_pd(lo), vhi = _mm512_set1_pd(hi), zero = _mm512_setzero_pd();
  for (size_t i = 0; i < n; i += 8) {
    const size_t left = n - i;
    const __mmask8 m = left >= 8 ? __mmask8(0xFF) : __mmask8((1u << left) - 1);
    const __m512d v = _mm512_cvtps_pd(_mm256_maskz_loadu_ps(m, y + i));
    const __mmask8 f = m & _mm512_cmp_pd_mask(_mm512_sub_pd(v, v), zero, _CMP_EQ_OQ);
    const __mmask8 s =
        f & (_mm512_cmp_pd_mask(v, vlo, _CMP_LE_OQ) | _mm512_cmp_pd_mask(v, vhi, _CMP_GE_OQ));
    finite += __builtin_popcount(f);
    sat += __builtin_popcount(s);
  }
}
#pragma GCC diagnostic pop
#endif

void saturation(const float* y, size_t n, double lo, double hi, int64_t& finite, int64_t& sat) {
#if defined(__x86_64__)
  static const bool avx512 =
      __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl");
  if (avx512) return saturation_avx512(y, n, lo, hi, finite, sat);
#endif
  saturation_scalar(y, n, lo, hi, finite, sat);
}

size_t lanes(const float* x, const float* y, size_t i, size_t n, Lanes& l) {
#if defined(__x86_64__)
  static const bool avx512 = __builtin_cpu_supports("avx512f");
  if (avx512) return lanes_avx512(x, y, i, n, l);
#endif
  return lanes_scalar(x, y, i, n, l);
}

}  // namespace

int64_t argmax_row(std::span<const float> row) {
  int64_t best = -1;
  for (size_t i = 0; i < row.size(); ++i) {
    if (std::isnan(row[i])) continue;
    if (best < 0 || row[i] > row[static_cast<size_t>(best)]) best = static_cast<int64_t>(i);
  }
  return best;
}

Result<MetricsAccumulator> MetricsAccumulator::create(MetricsConfig config) {
  auto numel = shape_numel(config.shape);
  if (!numel) return invalid_argument("bad shape " + shape_to_string(config.shape));
  MetricsAccumulator a(std::move(config));
  a.numel_ = *numel;
  const MetricsConfig& c = a.config_;
  if (!c.shape.empty()) a.last_dim_ = c.shape.back();
  if (c.lsb) {
    QDIFF_RETURN_IF_ERROR(check_grid(*c.lsb, c.shape, "LSB grid", &a.lsb_inner_, &a.lsb_channels_));
    for (float s : c.lsb->scales) a.inv_lsb_.push_back(1.0 / static_cast<double>(s));
  }
  if (c.test_grid) {
    QDIFF_RETURN_IF_ERROR(
        check_grid(*c.test_grid, c.shape, "test grid", &a.grid_inner_, &a.grid_channels_));
    if (!c.test_grid->has_range || c.test_grid->qmin > c.test_grid->qmax)
      return invalid_argument("test grid: no integer range [qmin, qmax]");
    const QuantGrid& g = *c.test_grid;
    for (size_t ch = 0; ch < g.scales.size(); ++ch) {
      const double s = g.scales[ch], z = g.zero_points[ch];
      a.sat_lo_.push_back((static_cast<double>(g.qmin) - z + 0.5) * s);
      a.sat_hi_.push_back((static_cast<double>(g.qmax) - z - 0.5) * s);
    }
  }
  return a;
}

MetricsAccumulator::SampleSums MetricsAccumulator::add(SampleView ref, SampleView test) {
  const auto n = static_cast<size_t>(numel_);
  QDIFF_ASSERT(ref.values.size() == n && test.values.size() == n, "sample size mismatch");
  QDIFF_ASSERT(!config_.integers || (ref.integers.size() == n && test.integers.size() == n),
               "integers missing");
  QDIFF_ASSERT(test.integers.empty() || test.integers.size() == n, "test integers size mismatch");
  ++samples_;
  const float* x = ref.values.data();
  const float* y = test.values.data();
  // Eight partial sums per quantity (element i into lane i % 8), added to the totals in a fixed
  // tree order once per sample: results depend on nothing but the data.
  Lanes l;
  double max_abs = max_abs_, max_lsb = max_lsb_;
  int64_t exact = 0, compared = 0;
  // One element into lane i % 8; returns its absolute error (0 when either side is not finite:
  // counted, left out).
  auto element = [&](size_t i) {
    const float xv = x[i], yv = y[i];
    if (!std::isfinite(xv) || !std::isfinite(yv)) [[unlikely]] {
      if (!std::isfinite(xv)) ++(std::isnan(xv) ? ref_nan_ : ref_inf_);
      if (!std::isfinite(yv)) ++(std::isnan(yv) ? test_nan_ : test_inf_);
      return 0.0;
    }
    const size_t lane = i & 7;
    const double xd = xv, yd = yv, e = xd - yd;
    l.xx[lane] += xd * xd;
    l.yy[lane] += yd * yd;
    l.xy[lane] += xd * yd;
    l.ee[lane] += e * e;
    exact += xd == yd;
    ++compared;
    return std::fabs(e);
  };
  const bool lsb = config_.lsb.has_value();
  if (!lsb || lsb_channels_ == 1) {
    // One step for the whole tensor: max LSB error = max abs error * (1 / step). Blocks of eight
    // finite pairs go through the vector lanes; a block with a non-finite value element by
    // element.
    double m = 0;
    size_t i = 0;
    while (i + 8 <= n) {
      const size_t stop = lanes(x, y, i, n, l);
      compared += static_cast<int64_t>(stop - i);
      i = stop;
      if (i + 8 > n) break;
      for (size_t k = 0; k < 8; ++k) m = std::max(m, element(i + k));
      i += 8;
    }
    for (; i < n; ++i) m = std::max(m, element(i));
    m = std::max(m, l.max_abs);
    exact += l.exact;
    max_abs = std::max(max_abs, m);
    if (lsb) max_lsb = std::max(max_lsb, m * inv_lsb_[0]);
  } else {
    // Per channel: the channel of element i advanced element by element (no division).
    size_t channel = 0;
    int64_t in_channel = 0;
    double inv_lsb = inv_lsb_[0];
    for (size_t i = 0; i < n; ++i) {
      const double ae = element(i);
      max_abs = std::max(max_abs, ae);
      max_lsb = std::max(max_lsb, ae * inv_lsb);
      if (++in_channel == lsb_inner_) {
        in_channel = 0;
        if (++channel == static_cast<size_t>(lsb_channels_)) channel = 0;
        inv_lsb = inv_lsb_[channel];
      }
    }
  }
  auto total = [](const double(&v)[8]) {
    return ((v[0] + v[1]) + (v[2] + v[3])) + ((v[4] + v[5]) + (v[6] + v[7]));
  };
  const SampleSums sums{total(l.xx), total(l.ee)};
  sum_xx_ += sums.ref;
  sum_yy_ += total(l.yy);
  sum_xy_ += total(l.xy);
  sum_ee_ += sums.err;
  max_abs_ = max_abs;
  max_lsb_ = max_lsb;
  exact_ += exact;
  compared_ += compared;
  if (config_.test_grid) {
    const QuantGrid& g = *config_.test_grid;
    if (!test.integers.empty()) {
      const int32_t* q = test.integers.data();
      const int32_t qmin = g.qmin, qmax = g.qmax;
      int64_t sat = 0;
#pragma omp simd reduction(+ : sat)
      for (size_t i = 0; i < n; ++i) sat += (q[i] <= qmin) | (q[i] >= qmax);
      saturated_ += sat;
      test_finite_ += numel_;
    } else {
      // Within half a step of the range's ends (the bounds per channel, set at create()), one
      // channel's block at a time.
      const size_t inner = grid_channels_ == 1 ? n : static_cast<size_t>(grid_inner_);
      int64_t finite = 0, sat = 0;
      for (size_t start = 0, c = 0; start < n; start += inner) {
        saturation(y + start, std::min(n, start + inner) - start, sat_lo_[c], sat_hi_[c], finite,
                   sat);
        if (++c == static_cast<size_t>(grid_channels_)) c = 0;
      }
      test_finite_ += finite;
      saturated_ += sat;
    }
  }
  if (config_.integers) {
    int_count_ += numel_;
    const int32_t* a = ref.integers.data();
    const int32_t* b = test.integers.data();
    int64_t equal = 0;
#pragma omp simd reduction(+ : equal)
    for (size_t i = 0; i < n; ++i) equal += a[i] == b[i];
    int_equal_ += equal;
  }
  if (config_.top1 && last_dim_ > 0) {
    const auto len = static_cast<size_t>(last_dim_);
    for (size_t r = 0; r + len <= n; r += len) {
      const int64_t a = argmax_row(ref.values.subspan(r, len));
      const int64_t b = argmax_row(test.values.subspan(r, len));
      ++rows_;
      rows_agree_ += a >= 0 && a == b;
    }
  }
  return sums;
}

void MetricsAccumulator::merge(const MetricsAccumulator& later) {
  QDIFF_ASSERT(
      config_.shape == later.config_.shape && config_.lsb == later.config_.lsb &&
          config_.test_grid == later.config_.test_grid && config_.top1 == later.config_.top1 &&
          config_.integers == later.config_.integers && config_.on_grid == later.config_.on_grid,
      "merging accumulators of different configs");
  samples_ += later.samples_;
  compared_ += later.compared_;
  exact_ += later.exact_;
  ref_nan_ += later.ref_nan_;
  ref_inf_ += later.ref_inf_;
  test_nan_ += later.test_nan_;
  test_inf_ += later.test_inf_;
  sum_xx_ += later.sum_xx_;
  sum_yy_ += later.sum_yy_;
  sum_xy_ += later.sum_xy_;
  sum_ee_ += later.sum_ee_;
  max_abs_ = std::max(max_abs_, later.max_abs_);
  max_lsb_ = std::max(max_lsb_, later.max_lsb_);
  saturated_ += later.saturated_;
  test_finite_ += later.test_finite_;
  int_equal_ += later.int_equal_;
  int_count_ += later.int_count_;
  rows_ += later.rows_;
  rows_agree_ += later.rows_agree_;
}

TensorMetrics MetricsAccumulator::result() const {
  TensorMetrics m;
  m.samples = samples_;
  m.elements = samples_ * numel_;
  m.compared = compared_;
  m.ref_nan = ref_nan_;
  m.ref_inf = ref_inf_;
  m.test_nan = test_nan_;
  m.test_inf = test_inf_;
  m.ref_norm = std::sqrt(sum_xx_);
  m.error_norm = std::sqrt(sum_ee_);
  if (compared_ > 0) {
    const double nx = std::sqrt(sum_xx_);
    const double ny = std::sqrt(sum_yy_);
    if (sum_ee_ == 0)
      m.cosine = 1.0;  // identical: exactly 1, whatever the rounding of the norms
    else if (nx == 0 || ny == 0)
      m.cosine = nx == ny ? 1.0 : 0.0;
    else
      m.cosine = std::clamp(sum_xy_ / (nx * ny), -1.0, 1.0);
    if (sum_ee_ == 0)
      m.sqnr_db = kInf;
    else if (sum_xx_ == 0)
      m.sqnr_db = -kInf;
    else
      m.sqnr_db = 10.0 * std::log10(sum_xx_ / sum_ee_);
    m.mse = sum_ee_ / static_cast<double>(compared_);
    m.max_abs_error = max_abs_;
    m.exact_match = static_cast<double>(exact_) / static_cast<double>(compared_);
    if (config_.lsb) m.max_error_lsb = max_lsb_;
  } else if (config_.lsb) {
    m.max_error_lsb = kNaN;
  }
  if (config_.test_grid) {
    m.saturated = saturated_;
    m.saturation =
        test_finite_ ? static_cast<double>(saturated_) / static_cast<double>(test_finite_) : kNaN;
  }
  if (config_.integers)
    m.integer_exact_match =
        int_count_ ? static_cast<double>(int_equal_) / static_cast<double>(int_count_) : kNaN;
  else if (config_.on_grid)
    m.integer_exact_match = compared_ ? m.exact_match : kNaN;
  if (config_.top1) m.top1 = Top1{rows_, rows_agree_};
  return m;
}

nlohmann::ordered_json json_number(double v) {
  if (std::isnan(v)) return nullptr;
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  return v;
}

nlohmann::ordered_json to_json(const TensorMetrics& m) {
  nlohmann::ordered_json j;
  j["samples"] = m.samples;
  j["elements"] = m.elements;
  j["compared"] = m.compared;
  j["cosine"] = json_number(m.cosine);
  j["sqnr_db"] = json_number(m.sqnr_db);
  j["mse"] = json_number(m.mse);
  j["max_abs_error"] = json_number(m.max_abs_error);
  j["max_error_lsb"] = m.max_error_lsb ? json_number(*m.max_error_lsb) : nullptr;
  j["exact_match"] = json_number(m.exact_match);
  j["integer_exact_match"] = m.integer_exact_match ? json_number(*m.integer_exact_match) : nullptr;
  if (m.saturation) {
    j["saturation"] = json_number(*m.saturation);
    j["saturated"] = *m.saturated;
  } else {
    j["saturation"] = nullptr;
    j["saturated"] = nullptr;
  }
  if (m.top1) {
    j["top1"] = {{"rows", m.top1->rows},
                 {"agree", m.top1->agree},
                 {"agreement", m.top1->rows ? json_number(static_cast<double>(m.top1->agree) /
                                                          static_cast<double>(m.top1->rows))
                                            : nullptr}};
  } else {
    j["top1"] = nullptr;
  }
  j["ref_norm"] = json_number(m.ref_norm);
  j["error_norm"] = json_number(m.error_norm);
  j["nonfinite"] = {{"ref_nan", m.ref_nan},
                    {"ref_inf", m.ref_inf},
                    {"test_nan", m.test_nan},
                    {"test_inf", m.test_inf}};
  return j;
}

}  // namespace qdiff::analysis
