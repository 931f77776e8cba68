#include "calib/histogram.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace qdiff::calib {

StreamingHistogram::StreamingHistogram(int bins)
    : bins_(bins),
      positive_(static_cast<size_t>(bins), 0),
      negative_(static_cast<size_t>(bins), 0) {
  QDIFF_ASSERT(bins >= 1, "StreamingHistogram needs at least one bin");
}

double StreamingHistogram::bin_width() const {
  return has_range_ ? std::ldexp(1.0, exponent_) / bins_ : 0.0;
}

float StreamingHistogram::max_abs() const {
  return std::max(std::fabs(min_), std::fabs(max_));
}

std::vector<int64_t> StreamingHistogram::absolute() const {
  std::vector<int64_t> out(positive_.size());
  for (size_t k = 0; k < out.size(); ++k) out[k] = positive_[k] + negative_[k];
  return out;
}

void StreamingHistogram::grow_to(int exponent) {
  if (!has_range_) {
    // Only zeros so far: they sit in bin 0 for any R.
    has_range_ = true;
    exponent_ = exponent;
    return;
  }
  const size_t n = positive_.size();
  for (int step = exponent_; step < exponent; ++step) {
    // After ~log2(bins) halvings everything is in bin 0; further ones change nothing.
    bool all_in_zero = true;
    for (size_t k = 1; k < n && all_in_zero; ++k) {
      all_in_zero = positive_[k] == 0 && negative_[k] == 0;
    }
    if (all_in_zero) break;
    for (std::vector<int64_t>* h : {&positive_, &negative_}) {
      std::vector<int64_t>& v = *h;
      for (size_t j = 0; j < n; ++j) {
        const size_t a = 2 * j;
        int64_t sum = 0;
        if (a < n) sum += v[a];
        if (a + 1 < n) sum += v[a + 1];
        v[j] = sum;  // j <= a: the sources are read before being overwritten
      }
    }
  }
  exponent_ = exponent;
}

int64_t StreamingHistogram::add(std::span<const float> values) {
  int64_t nonfinite = 0;
  float batch_max_abs = 0.0f;
  for (float v : values) {
    if (!std::isfinite(v)) {
      ++nonfinite;
      continue;
    }
    if (total_ == 0) {
      min_ = v;
      max_ = v;
    } else {
      min_ = std::min(min_, v);
      max_ = std::max(max_, v);
    }
    ++total_;
    batch_max_abs = std::max(batch_max_abs, std::fabs(v));
  }
  if (batch_max_abs > 0.0f) {
    // Smallest power of two strictly above batch_max_abs (ilogb is exact, subnormals included).
    const int e = std::ilogb(batch_max_abs) + 1;
    if (!has_range_ || e > exponent_) grow_to(e);
  }
  const double bins = static_cast<double>(bins_);
  for (float v : values) {
    if (!std::isfinite(v)) continue;
    size_t k = 0;
    if (v != 0.0f) {
      // Exact: |v| * bins fits a double's 53 bits; ldexp only changes the exponent.
      const double y = std::ldexp(static_cast<double>(std::fabs(v)) * bins, -exponent_);
      k = static_cast<size_t>(y);
      QDIFF_ASSERT(k < positive_.size(), "histogram bin out of range");
    }
    if (v < 0.0f) {
      ++negative_[k];
    } else {
      ++positive_[k];
    }
  }
  return nonfinite;
}

namespace {

// ORT / MXNet smooth_distribution on counts; false when it cannot (all zero, or an entry would
// become non-positive).
bool smooth(std::vector<double>& v) {
  constexpr double kEps = 1e-4;
  size_t zeros = 0;
  for (double x : v) zeros += x == 0.0 ? 1 : 0;
  const size_t nonzeros = v.size() - zeros;
  if (nonzeros == 0) return false;
  const double eps1 = kEps * static_cast<double>(zeros) / static_cast<double>(nonzeros);
  for (double& x : v) {
    x = x == 0.0 ? kEps : x - eps1;
    if (!(x > 0.0)) return false;
  }
  return true;
}

double kl_divergence(const std::vector<double>& p, const std::vector<double>& q) {
  double sp = 0.0;
  double sq = 0.0;
  for (size_t k = 0; k < p.size(); ++k) {
    sp += p[k];
    sq += q[k];
  }
  double kl = 0.0;
  for (size_t k = 0; k < p.size(); ++k) {
    const double pk = p[k] / sp;
    const double qk = q[k] / sq;
    kl += pk * std::log(pk / qk);
  }
  return kl;
}

}  // namespace

EntropySearch entropy_search(std::span<const int64_t> hist, int quantized_bins) {
  QDIFF_ASSERT(quantized_bins >= 1, "entropy_search needs quantized_bins >= 1");
  int64_t n = static_cast<int64_t>(hist.size());
  while (n > 0 && hist[static_cast<size_t>(n - 1)] == 0) --n;
  EntropySearch out;
  const int64_t nq = quantized_bins;
  out.first_candidate = nq;
  if (n < nq) {
    out.best_bins = n;  // fewer bins than quantization levels: nothing to clip
    return out;
  }
  // suffix[i] = sum(hist[i, n))
  std::vector<int64_t> suffix(static_cast<size_t>(n) + 1, 0);
  for (int64_t k = n - 1; k >= 0; --k) {
    suffix[static_cast<size_t>(k)] =
        suffix[static_cast<size_t>(k) + 1] + hist[static_cast<size_t>(k)];
  }
  double best = std::numeric_limits<double>::infinity();
  out.best_bins = n;
  std::vector<double> p;
  std::vector<double> q;
  for (int64_t i = nq; i <= n; ++i) {
    p.assign(hist.begin(), hist.begin() + i);
    p[static_cast<size_t>(i - 1)] += static_cast<double>(suffix[static_cast<size_t>(i)]);
    q.assign(static_cast<size_t>(i), 0.0);
    const int64_t m = i / nq;
    for (int64_t j = 0; j < nq; ++j) {
      const int64_t start = j * m;
      const int64_t stop = j == nq - 1 ? i : start + m;
      int64_t merged = 0;
      int64_t nonzero = 0;
      for (int64_t k = start; k < stop; ++k) {
        merged += hist[static_cast<size_t>(k)];
        nonzero += p[static_cast<size_t>(k)] != 0.0 ? 1 : 0;
      }
      if (nonzero == 0) continue;
      const double value = static_cast<double>(merged) / static_cast<double>(nonzero);
      for (int64_t k = start; k < stop; ++k) {
        if (p[static_cast<size_t>(k)] != 0.0) q[static_cast<size_t>(k)] = value;
      }
    }
    double div = std::numeric_limits<double>::infinity();
    if (smooth(p) && smooth(q)) div = kl_divergence(p, q);
    out.divergence.push_back(div);
    if (div < best) {
      best = div;
      out.best_bins = i;
    }
  }
  return out;
}

namespace {

// Integral of (x - c)^2 over [a, b].
double square_integral(double a, double b, double c) {
  const double hb = b - c;
  const double ha = a - c;
  return (hb * hb * hb - ha * ha * ha) / 3.0;
}

// Integral of (x - s * round(x / s))^2 over [a, b] (no clipping): with u = x / s + 1/2,
// n = floor(u), f = u - n, the antiderivative is s^3 (n / 12 + ((f - 1/2)^3 + 1/8) / 3).
double rounding_integral(double a, double b, double s) {
  const double ua = a / s + 0.5;
  const double ub = b / s + 0.5;
  const double na = std::floor(ua);
  const double nb = std::floor(ub);
  const auto partial = [](double f) { return ((f - 0.5) * (f - 0.5) * (f - 0.5) + 0.125) / 3.0; };
  return s * s * s * ((nb - na) / 12.0 + partial(ub - nb) - partial(ua - na));
}

}  // namespace

double expected_squared_error(const StreamingHistogram& h, const QuantParams& p) {
  QDIFF_ASSERT(p.scales.size() == 1 && p.zero_points.size() == 1,
               "expected_squared_error needs per-tensor parameters");
  const double s = p.scales[0];
  const double jmin = static_cast<double>(p.qmin()) - p.zero_points[0];
  const double jmax = static_cast<double>(p.qmax()) - p.zero_points[0];
  const double low_level = jmin * s;
  const double high_level = jmax * s;
  const double lo_edge = (jmin - 0.5) * s;  // below: saturates to low_level
  const double hi_edge = (jmax + 0.5) * s;  // above: saturates to high_level
  const double w = h.bin_width();
  const auto bin_error = [&](double a, double b) {
    double e = 0.0;
    if (a < lo_edge) e += square_integral(a, std::min(b, lo_edge), low_level);
    if (b > hi_edge) e += square_integral(std::max(a, hi_edge), b, high_level);
    const double ma = std::max(a, lo_edge);
    const double mb = std::min(b, hi_edge);
    if (mb > ma) e += rounding_integral(ma, mb, s);
    return e / (b - a);
  };
  if (w == 0.0) {
    // Only zeros: zero is always exactly representable.
    return 0.0;
  }
  double total = 0.0;
  const size_t n = h.positive().size();
  for (size_t k = 0; k < n; ++k) {
    const double a = static_cast<double>(k) * w;
    const double b = a + w;
    if (h.positive()[k] != 0) total += static_cast<double>(h.positive()[k]) * bin_error(a, b);
    if (h.negative()[k] != 0) total += static_cast<double>(h.negative()[k]) * bin_error(-b, -a);
  }
  return total;
}

}  // namespace qdiff::calib
