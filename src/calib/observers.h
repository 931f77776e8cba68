// Calibration range observers: stream float32 tensors (one per calibration sample, any number of
// samples, bounded memory) and produce the clipping range [min, max] that choose_params()
// (numerics/quant_params.h) turns into scale and zero point.
//
// Methods (what ranges() returns; "clamped" = intersected with the observed [min, max]):
//   kMinMax              running min / max of all finite values, per tensor or per channel
//                        (ORT MinMaxCalibrater, torch MinMaxObserver /
//                        PerChannelMinMaxObserver). The format is not used: choose_params()
//                        itself widens to include 0 and makes the range symmetric.
//   kMovingAverageMinMax torch MovingAverageMinMaxObserver (and its per-channel variant): the
//                        first update with finite values sets min / max to that batch's; each
//                        later one does min += c * (batch_min - min), max += c * (batch_max - max)
//                        in float32 (c = averaging, as float32), as torch's tensor arithmetic.
//                        Depends on the batching by definition (one update = one batch).
//   kPercentile          ORT HistogramCalibrater 'percentile' on the streaming histogram
//                        (histogram.h). Symmetric formats: histogram of |x|, t = upper edge of the
//                        first bin where the cumulative count reaches percentile/100 * total,
//                        range (-t, t) clamped. Asymmetric: cut (100 - percentile) / 200 of the
//                        values on each side of the signed histogram: lower = lower edge of the
//                        first bin where the cumulative count reaches cut * total, upper = upper
//                        edge of the first bin where it reaches (1 - cut) * total; clamped.
//                        (ORT takes the lower edge of the right-hand bin, clipping up to one bin
//                        more; here neither end clips more than the requested share.)
//   kMse                 the range minimising the expected squared quantization error of the
//                        quantizer choose_params() builds for the format, rounding noise inside
//                        and clipping error outside, evaluated exactly on the histogram with the
//                        values of each bin spread uniformly (expected_squared_error()).
//                        Symmetric formats: 1-D search over t in {w, 2w, ..., max|x|}, range
//                        (-t, t). Asymmetric: coordinate descent over [lo, hi] (lo in {0, -w,
//                        ..., min}, hi in {0, w, ..., max}), starting from [min, max], alternately
//                        optimising hi then lo until neither moves. Each 1-D scan evaluates every
//                        ceil(n / 256)-th candidate, then every candidate around the best one.
//                        The result is clamped to the observed range. Several ranges give the
//                        same (scale, zero point); the search keeps the one met first (the
//                        smallest |lo| and hi among equal costs).
//   kEntropy             TensorRT entropy calibration (entropy_search() in histogram.h) on the
//                        |x| histogram: t = chosen bins * w, range (-t, t) clamped (as ORT clamps
//                        its entropy thresholds to the observed min / max).
//
// Determinism: MinMax (both per-tensor and per-channel) is exact and independent of batching.
// The histogram methods depend only on the multiset of finite values and on `bins` (the
// histogram is bit-identical for any batching or order; see histogram.h), so their ranges are
// identical for any batching. Moving average depends on the batching by definition.
//
// NaN and +-Inf are skipped by every statistic and counted in nonfinite_count(). A tensor (or
// channel) with no finite value, or only zeros, gives the range (0, 0), which choose_params()
// maps to scale 1, zero point 0.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

#include "calib/histogram.h"
#include "support/status.h"
#include "tensor/tensor.h"

namespace qdiff::calib {

enum class Method : uint8_t { kMinMax, kMovingAverageMinMax, kPercentile, kMse, kEntropy };

// "minmax", "moving-average", "percentile", "mse", "entropy".
Result<Method> parse_method(std::string_view text);
std::string_view method_name(Method method);

struct ObserverOptions {
  Method method = Method::kMinMax;
  double percentile = 99.999;  // kPercentile: in (0, 100]
  double averaging = 0.01;     // kMovingAverageMinMax: in (0, 1]
  int bins = 2048;             // histogram methods: in [1, 2^24]
  int quantized_bins = 128;    // kEntropy: in [1, bins]
  int axis = -1;               // -1 per tensor; >= 0 per channel (kMinMax, kMovingAverageMinMax)
};

// The target format (as choose_params takes it).
struct Format {
  int bits = 8;
  bool is_signed = false;
  bool symmetric = false;
  bool narrow_range = false;
};

class RangeObserver {
 public:
  // Errors: percentile outside (0, 100], averaging outside (0, 1], bins or quantized_bins out of
  // range, axis < -1, or a per-channel axis with a histogram method.
  static Result<RangeObserver> create(const ObserverOptions& options);

  // Adds one tensor (float32, plain layout). Errors name the problem: another dtype, an axis out
  // of range for the tensor's rank, a channel count different from the earlier updates'.
  Status update(const Tensor& t);

  // One (min, max) per channel (one pair per tensor when axis == -1); min <= max, finite.
  // Errors: an invalid format (as choose_params reports it).
  Result<std::vector<std::pair<float, float>>> ranges(const Format& format) const;

  const ObserverOptions& options() const { return options_; }
  int64_t nonfinite_count() const { return nonfinite_; }
  int64_t count() const { return finite_; }     // finite values observed
  int64_t updates() const { return updates_; }  // update() calls that succeeded
  // The histogram (histogram methods only; nullptr otherwise).
  const StreamingHistogram* histogram() const { return histogram_ ? &*histogram_ : nullptr; }

 private:
  explicit RangeObserver(const ObserverOptions& options);
  Result<std::pair<float, float>> histogram_range(const Format& format) const;

  ObserverOptions options_;
  int64_t nonfinite_ = 0;
  int64_t finite_ = 0;
  int64_t updates_ = 0;
  // MinMax / moving average, one entry per channel (1 when per tensor).
  std::vector<float> min_;
  std::vector<float> max_;
  std::vector<uint8_t> seen_;  // channel has had a finite value
  std::optional<StreamingHistogram> histogram_;
};

}  // namespace qdiff::calib
