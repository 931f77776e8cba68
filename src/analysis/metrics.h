// Streaming comparison of a reference tensor x and a test tensor y, accumulated over samples.
// One accumulator per tensor; add() one sample at a time (memory does not depend on the sample
// count). Every sum is a double accumulated in a fixed order, sample after sample, so a result
// depends only on the values and the order of the samples: byte-identical at any thread count
// (within a sample, element i goes to partial sum i % 8; the eight are added in a fixed order).
// Definitions (docs/compare-format.md):
//   Over the elements finite on both sides (NaN/Inf are counted per side and left out):
//   cosine   = sum(x*y) / (||x|| * ||y||); 1 when both norms are 0, 0 when exactly one is.
//   SQNR dB  = 20*log10(||x|| / ||x - y||) = 10*log10(sum(x^2) / sum((x-y)^2));
//              +inf when x == y everywhere (||x - y|| = 0, ||x|| = 0 included),
//              -inf when ||x|| = 0 and ||x - y|| > 0.
//   MSE      = sum((x-y)^2) / n;  max abs error = max |x - y|;
//   max LSB  = max |x - y| / scale (the scale of the element's channel), when a grid is given;
//   exact    = fraction of elements with x == y.
//   Saturation: fraction of the test tensor's finite elements whose integer is qmin or qmax
//   (the integers given with the sample; else values within half a step of the range's ends,
//   y <= (qmin - zero_point + 0.5) * scale or y >= (qmax - zero_point - 0.5) * scale).
//   Top-1: argmax over the last axis of each row, ties to the lowest index, NaN ignored (a row
//   of NaN has no argmax and never agrees); the fraction of rows whose argmax agrees.
// A metric with no element to measure (n = 0) is NaN.
#pragma once

#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <vector>

#include "support/status.h"
#include "tensor/tensor.h"

namespace qdiff::analysis {

// How a tensor's values lie on an integer grid: value = float32(q - zero_point) * scale.
struct QuantGrid {
  std::vector<float> scales;         // one (per tensor) or one per channel along `axis`
  std::vector<int32_t> zero_points;  // as many as `scales`
  int64_t axis = -1;                 // channel axis of the per-sample shape; -1 = per tensor
  bool has_range = false;            // [qmin, qmax] known (integer dtype or bits given)
  int64_t qmin = 0;
  int64_t qmax = 0;

  bool per_channel() const { return axis >= 0; }
  bool operator==(const QuantGrid&) const = default;
};

struct MetricsConfig {
  Shape shape;                         // of one sample (both sides)
  std::optional<QuantGrid> lsb;        // measure errors in steps of this grid's scale
  std::optional<QuantGrid> test_grid;  // the test tensor's grid: saturation (needs its range)
  bool top1 = false;                   // top-1 agreement (argmax over the last axis per row)
  bool integers = false;               // both sides give their integers: their exact match
  // Both sides' values are dequantized integers of the `lsb` grid (float32(q - zp) * scale):
  // their integers agree exactly where their values do, so integer_exact_match is the exact
  // match of the values (no integers needed).
  bool on_grid = false;
};

// One sample of one side: its values (plain, row-major over the config's shape) and, for a
// quantized tensor read as integers, those integers (else empty).
struct SampleView {
  std::span<const float> values;
  std::span<const int32_t> integers;
};

struct Top1 {
  int64_t rows = 0;
  int64_t agree = 0;
};

struct TensorMetrics {
  int64_t samples = 0;
  int64_t elements = 0;  // per side, over all samples
  int64_t compared = 0;  // elements finite on both sides: the domain of the sums
  int64_t ref_nan = 0, ref_inf = 0, test_nan = 0, test_inf = 0;
  double cosine = std::numeric_limits<double>::quiet_NaN();
  double sqnr_db = std::numeric_limits<double>::quiet_NaN();
  double mse = std::numeric_limits<double>::quiet_NaN();
  double max_abs_error = std::numeric_limits<double>::quiet_NaN();
  double exact_match = std::numeric_limits<double>::quiet_NaN();
  double ref_norm = 0;    // ||x||
  double error_norm = 0;  // ||x - y||
  std::optional<double> max_error_lsb;
  std::optional<int64_t> saturated;  // test elements at qmin or qmax
  std::optional<double> saturation;  // saturated / finite test elements
  std::optional<double> integer_exact_match;
  std::optional<Top1> top1;
};

class MetricsAccumulator {
 public:
  // Checks the config: grid axes within the shape, one scale per channel, positive finite
  // scales, a range for the saturation grid.
  static Result<MetricsAccumulator> create(MetricsConfig config);

  // Adds one sample. Both sides hold exactly numel(shape) values (and integers when the config
  // says `integers`; the test side's integers may also come alone, for saturation).
  // Returns this sample's sums over its finite elements: sum(x^2) and sum((x - y)^2).
  struct SampleSums {
    double ref = 0, err = 0;
  };
  SampleSums add(SampleView ref, SampleView test);
  // Adds what `later` accumulated (over later samples) to this one; the configs must be equal.
  // Sums of partial accumulators equal one accumulator's sums up to rounding: for results
  // that never change, split the samples and merge in a fixed order.
  void merge(const MetricsAccumulator& later);
  TensorMetrics result() const;
  const MetricsConfig& config() const { return config_; }

 private:
  explicit MetricsAccumulator(MetricsConfig config) : config_(std::move(config)) {}

  MetricsConfig config_;
  int64_t numel_ = 0;
  int64_t last_dim_ = 1;
  // Channel of element i along a grid's axis: (i / inner) % channels.
  int64_t lsb_inner_ = 1, lsb_channels_ = 1;
  int64_t grid_inner_ = 1, grid_channels_ = 1;
  std::vector<double> inv_lsb_;          // 1 / scale per channel
  std::vector<double> sat_lo_, sat_hi_;  // saturation bounds per channel of the test grid

  int64_t samples_ = 0, compared_ = 0, exact_ = 0;
  int64_t ref_nan_ = 0, ref_inf_ = 0, test_nan_ = 0, test_inf_ = 0;
  double sum_xx_ = 0, sum_yy_ = 0, sum_xy_ = 0, sum_ee_ = 0;
  double max_abs_ = 0, max_lsb_ = 0;
  int64_t saturated_ = 0, test_finite_ = 0;
  int64_t int_equal_ = 0, int_count_ = 0;
  int64_t rows_ = 0, rows_agree_ = 0;
};

// Index of the largest element of `row`, ties to the lowest index, NaN ignored; -1 when every
// element is NaN (or the row is empty).
int64_t argmax_row(std::span<const float> row);

// The metrics as JSON (docs/compare-format.md): stable key order; NaN -> null, +-inf ->
// "inf" / "-inf" (JSON has no infinities).
nlohmann::ordered_json to_json(const TensorMetrics& m);
// A double as JSON: a number, or null (NaN), or "inf" / "-inf".
nlohmann::ordered_json json_number(double v);

}  // namespace qdiff::analysis
