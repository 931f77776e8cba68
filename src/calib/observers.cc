#include "calib/observers.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "numerics/quant_params.h"

namespace qdiff::calib {

Result<Method> parse_method(std::string_view text) {
  if (text == "minmax") return Method::kMinMax;
  if (text == "moving-average") return Method::kMovingAverageMinMax;
  if (text == "percentile") return Method::kPercentile;
  if (text == "mse") return Method::kMse;
  if (text == "entropy") return Method::kEntropy;
  return invalid_argument("unknown calibration method '" + std::string(text) +
                          "' (expected minmax, moving-average, percentile, mse or entropy)");
}

std::string_view method_name(Method method) {
  switch (method) {
    case Method::kMinMax:
      return "minmax";
    case Method::kMovingAverageMinMax:
      return "moving-average";
    case Method::kPercentile:
      return "percentile";
    case Method::kMse:
      return "mse";
    case Method::kEntropy:
      return "entropy";
  }
  return "?";
}

namespace {

bool is_histogram_method(Method m) {
  return m == Method::kPercentile || m == Method::kMse || m == Method::kEntropy;
}

constexpr int kMaxBins = 1 << 24;

}  // namespace

RangeObserver::RangeObserver(const ObserverOptions& options) : options_(options) {
  if (is_histogram_method(options.method)) histogram_.emplace(options.bins);
}

Result<RangeObserver> RangeObserver::create(const ObserverOptions& o) {
  if (!(o.percentile > 0.0 && o.percentile <= 100.0)) {
    return invalid_argument("calibration percentile must be in (0, 100], got " +
                            std::to_string(o.percentile));
  }
  if (!(o.averaging > 0.0 && o.averaging <= 1.0)) {
    return invalid_argument("moving-average averaging constant must be in (0, 1], got " +
                            std::to_string(o.averaging));
  }
  if (o.bins < 1 || o.bins > kMaxBins) {
    return invalid_argument("calibration histogram bins must be in [1, " +
                            std::to_string(kMaxBins) + "], got " + std::to_string(o.bins));
  }
  if (o.quantized_bins < 1 || o.quantized_bins > o.bins) {
    return invalid_argument("entropy quantized_bins must be in [1, bins = " +
                            std::to_string(o.bins) + "], got " + std::to_string(o.quantized_bins));
  }
  if (o.axis < -1) {
    return invalid_argument("calibration axis must be -1 (per tensor) or >= 0, got " +
                            std::to_string(o.axis));
  }
  if (o.axis >= 0 && is_histogram_method(o.method)) {
    return unsupported("per-channel calibration (axis " + std::to_string(o.axis) +
                       ") is only implemented for minmax and moving-average, not " +
                       std::string(method_name(o.method)));
  }
  return RangeObserver(o);
}

Status RangeObserver::update(const Tensor& t) {
  if (t.dtype() != DType::kFloat32) {
    return invalid_argument("calibration observes float32 tensors, got " +
                            std::string(dtype_name(t.dtype())) + " " + shape_to_string(t.shape()));
  }
  const Tensor plain = t.to_plain();
  const std::span<const float> values = plain.values<float>();

  if (histogram_) {
    const int64_t bad = histogram_->add(values);
    nonfinite_ += bad;
    finite_ += static_cast<int64_t>(values.size()) - bad;
    ++updates_;
    return Status::ok_status();
  }

  // MinMax / moving average, per tensor or per channel.
  int64_t channels = 1;
  int64_t inner = static_cast<int64_t>(values.size());
  if (options_.axis >= 0) {
    if (options_.axis >= plain.rank()) {
      return invalid_argument("calibration axis " + std::to_string(options_.axis) +
                              " is out of range for a rank-" + std::to_string(plain.rank()) +
                              " tensor " + shape_to_string(plain.shape()));
    }
    channels = plain.dim(options_.axis);
    inner = 1;
    for (int64_t d = options_.axis + 1; d < plain.rank(); ++d) inner *= plain.dim(d);
  }
  if (!min_.empty() && static_cast<int64_t>(min_.size()) != channels) {
    return invalid_argument("calibration tensor " + shape_to_string(plain.shape()) + " has " +
                            std::to_string(channels) + " channel(s) along axis " +
                            std::to_string(options_.axis) + ", earlier samples had " +
                            std::to_string(min_.size()));
  }
  if (min_.empty()) {
    min_.assign(static_cast<size_t>(channels), 0.0f);
    max_.assign(static_cast<size_t>(channels), 0.0f);
    seen_.assign(static_cast<size_t>(channels), 0);
  }
  // This batch's min / max per channel.
  std::vector<float> bmin(static_cast<size_t>(channels), std::numeric_limits<float>::infinity());
  std::vector<float> bmax(static_cast<size_t>(channels), -std::numeric_limits<float>::infinity());
  std::vector<uint8_t> bseen(static_cast<size_t>(channels), 0);
  int64_t bad = 0;
  for (size_t i = 0; i < values.size(); ++i) {
    const float v = values[i];
    if (!std::isfinite(v)) {
      ++bad;
      continue;
    }
    const size_t c =
        channels == 1 ? 0 : static_cast<size_t>((static_cast<int64_t>(i) / inner) % channels);
    bmin[c] = std::min(bmin[c], v);
    bmax[c] = std::max(bmax[c], v);
    bseen[c] = 1;
  }
  const bool moving = options_.method == Method::kMovingAverageMinMax;
  const float c_avg = static_cast<float>(options_.averaging);
  for (size_t c = 0; c < static_cast<size_t>(channels); ++c) {
    if (!bseen[c]) continue;  // nothing finite in this channel: no update (torch would give NaN)
    if (!seen_[c]) {
      min_[c] = bmin[c];
      max_[c] = bmax[c];
      seen_[c] = 1;
    } else if (moving) {
      // torch: min_val = min_val + c * (min_val_cur - min_val), each step rounded to float32.
      const float dmin = bmin[c] - min_[c];
      const float dmax = bmax[c] - max_[c];
      const float tmin = c_avg * dmin;
      const float tmax = c_avg * dmax;
      min_[c] = min_[c] + tmin;
      max_[c] = max_[c] + tmax;
    } else {
      min_[c] = std::min(min_[c], bmin[c]);
      max_[c] = std::max(max_[c], bmax[c]);
    }
  }
  nonfinite_ += bad;
  finite_ += static_cast<int64_t>(values.size()) - bad;
  ++updates_;
  return Status::ok_status();
}

namespace {

// Index of the minimum of cost(0..n-1): every stride-th index (and n - 1), then every index within
// one stride of the best. Ties keep the lowest index.
template <typename Cost>
size_t scan_min(size_t n, Cost cost) {
  QDIFF_ASSERT(n >= 1, "scan_min over nothing");
  const size_t stride = std::max<size_t>(1, (n + 255) / 256);
  size_t best = 0;
  double best_cost = std::numeric_limits<double>::infinity();
  const auto visit = [&](size_t i) {
    const double c = cost(i);
    if (c < best_cost || (c == best_cost && i < best)) {
      best_cost = c;
      best = i;
    }
  };
  for (size_t i = 0; i < n; i += stride) visit(i);
  visit(n - 1);
  if (stride > 1) {
    const size_t center = best;
    const size_t lo = center >= stride ? center - stride + 1 : 0;
    const size_t hi = std::min(n - 1, center + stride - 1);
    for (size_t i = lo; i <= hi; ++i) visit(i);
  }
  return best;
}

// Index of the last non-empty bin + 1.
size_t used_bins(const std::vector<int64_t>& h) {
  size_t n = h.size();
  while (n > 0 && h[n - 1] == 0) --n;
  return n;
}

}  // namespace

Result<std::pair<float, float>> RangeObserver::histogram_range(const Format& f) const {
  const StreamingHistogram& h = *histogram_;
  const float lo_obs = h.min();
  const float hi_obs = h.max();
  const auto clamp_range = [&](double lo, double hi) {
    const float a = std::max(lo_obs, static_cast<float>(std::max(lo, -3.0e38)));
    const float b = std::min(hi_obs, static_cast<float>(std::min(hi, 3.0e38)));
    return std::pair<float, float>(std::min(a, b), std::max(a, b));
  };
  if (!h.has_range()) return std::pair<float, float>(0.0f, 0.0f);  // nothing, or only zeros
  const double w = h.bin_width();
  const float max_abs = h.max_abs();
  const double total = static_cast<double>(h.total());

  switch (options_.method) {
    case Method::kPercentile: {
      if (f.symmetric) {
        const std::vector<int64_t> abs = h.absolute();
        const double target = options_.percentile / 100.0 * total;
        int64_t cum = 0;
        size_t k = 0;
        for (; k < abs.size(); ++k) {
          cum += abs[k];
          if (static_cast<double>(cum) >= target) break;
        }
        const double t = std::min(static_cast<double>(k + 1) * w, static_cast<double>(max_abs));
        return clamp_range(-t, t);
      }
      // Signed order: negative bins from the most negative, then the positive bins.
      const size_t n = h.positive().size();
      const double cut = (100.0 - options_.percentile) / 200.0 * total;
      const double upper_target = total - cut;
      double lower = lo_obs;
      double upper = hi_obs;
      bool have_lower = false;
      int64_t cum = 0;
      for (size_t r = 0; r < 2 * n; ++r) {
        const bool negative = r < n;
        const size_t k = negative ? n - 1 - r : r - n;
        cum += negative ? h.negative()[k] : h.positive()[k];
        const double lower_edge = negative ? -static_cast<double>(k + 1) * w : k * w;
        const double upper_edge = negative ? -static_cast<double>(k) * w : (k + 1) * w;
        if (!have_lower && static_cast<double>(cum) >= cut) {
          lower = lower_edge;
          have_lower = true;
        }
        if (static_cast<double>(cum) >= upper_target) {
          upper = upper_edge;
          break;
        }
      }
      return clamp_range(lower, upper);
    }
    case Method::kEntropy: {
      const EntropySearch s = entropy_search(h.absolute(), options_.quantized_bins);
      const double t = std::min(static_cast<double>(s.best_bins) * w, static_cast<double>(max_abs));
      return clamp_range(-t, t);
    }
    case Method::kMse: {
      const auto cost = [&](float lo, float hi) -> double {
        if (!(hi > lo)) return std::numeric_limits<double>::infinity();
        Result<QuantParams> p =
            choose_params(lo, hi, f.bits, f.is_signed, f.symmetric, f.narrow_range);
        QDIFF_ASSERT(p.ok(), "choose_params failed on a validated format");
        return expected_squared_error(h, p.value());
      };
      if (f.symmetric) {
        // Candidates t = w, 2w, ..., (n-1) w, then max|x|.
        const size_t n = used_bins(h.absolute());
        const auto t_of = [&](size_t i) {
          return i + 1 < n ? static_cast<float>(static_cast<double>(i + 1) * w) : max_abs;
        };
        const size_t best = scan_min(n, [&](size_t i) { return cost(-t_of(i), t_of(i)); });
        const float t = t_of(best);
        return clamp_range(-t, t);
      }
      // Asymmetric: lo candidates 0, -w, ..., min (index 0 = 0); hi candidates 0, w, ..., max.
      const size_t n_neg = lo_obs < 0.0f ? used_bins(h.negative()) : 0;
      const size_t n_pos = hi_obs > 0.0f ? used_bins(h.positive()) : 0;
      const auto lo_of = [&](size_t i) {
        return i == 0 ? 0.0f : i < n_neg ? static_cast<float>(-static_cast<double>(i) * w) : lo_obs;
      };
      const auto hi_of = [&](size_t i) {
        return i == 0 ? 0.0f : i < n_pos ? static_cast<float>(static_cast<double>(i) * w) : hi_obs;
      };
      size_t a = n_neg;  // start from the full observed range
      size_t b = n_pos;
      for (int iter = 0; iter < 16; ++iter) {
        const size_t nb = scan_min(n_pos + 1, [&](size_t i) { return cost(lo_of(a), hi_of(i)); });
        const size_t na = scan_min(n_neg + 1, [&](size_t i) { return cost(lo_of(i), hi_of(nb)); });
        const bool moved = na != a || nb != b;
        a = na;
        b = nb;
        if (!moved) break;
      }
      return clamp_range(lo_of(a), hi_of(b));
    }
    case Method::kMinMax:
    case Method::kMovingAverageMinMax:
      break;
  }
  QDIFF_ASSERT(false, "histogram_range called for a min/max method");
  return std::pair<float, float>(0.0f, 0.0f);
}

Result<std::vector<std::pair<float, float>>> RangeObserver::ranges(const Format& f) const {
  // Validates the format the way choose_params does (bits, narrow range only when symmetric).
  QDIFF_RETURN_IF_ERROR(
      choose_params(-1.0f, 1.0f, f.bits, f.is_signed, f.symmetric, f.narrow_range).status());
  if (histogram_) {
    Result<std::pair<float, float>> r = histogram_range(f);
    if (!r.ok()) return r.status();
    return std::vector<std::pair<float, float>>{r.value()};
  }
  std::vector<std::pair<float, float>> out;
  if (min_.empty()) {
    out.emplace_back(0.0f, 0.0f);  // nothing observed
    return out;
  }
  for (size_t c = 0; c < min_.size(); ++c) {
    if (seen_[c]) {
      out.emplace_back(min_[c], max_[c]);
    } else {
      out.emplace_back(0.0f, 0.0f);
    }
  }
  return out;
}

}  // namespace qdiff::calib
