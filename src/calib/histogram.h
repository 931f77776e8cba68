// Streaming histogram of float values with bounded memory and a batching-independent result, and
// the histogram searches behind the percentile, entropy (KL) and MSE calibration methods.
//
// Scheme (the result depends only on the multiset of finite values and on `bins`):
//   The histogram keeps two arrays of `bins` counts, one for values >= 0 (+0 and -0 included) and
//   one for values < 0, both over magnitudes in [0, R) with R = 2^e the smallest power of two
//   strictly above the largest finite |x| seen so far. Bin width w = R / bins; a value goes to bin
//   k = floor(|x| * bins / R), computed exactly in double (|x| * bins needs at most 24 + 24 bits,
//   the division by R only shifts the exponent). When a larger |x| arrives, R doubles (as many
//   times as needed) and bin pairs are merged: new[j] = old[2j] + old[2j+1]. Because
//   floor(floor(y) / 2) = floor(y / 2), a value lands in the same bin whether it was added before
//   or after the doubling, so the final counts are exactly those of binning every value once over
//   the final R: any batching, any order gives the same histogram, bit for bit.
//   Memory: 2 * bins int64 counts, whatever the number of samples.
//   Consequence: the data occupy between bins/2 + 1 and bins bins (ONNX Runtime and TensorRT
//   histogram [0, max|x|] over exactly `bins` bins instead, with edges fixed by the first batch).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "numerics/quant_params.h"
#include "support/status.h"

namespace qdiff::calib {

class StreamingHistogram {
 public:
  // bins >= 1 (checked by the caller; asserted here).
  explicit StreamingHistogram(int bins);

  // Adds the finite values; returns how many were NaN or +-Inf (skipped).
  int64_t add(std::span<const float> values);

  int bins() const { return bins_; }
  // False until a non-zero finite value has been seen (then R and the bin width are defined).
  bool has_range() const { return has_range_; }
  // log2(R); meaningful when has_range().
  int exponent() const { return exponent_; }
  // R / bins (0 before a non-zero value).
  double bin_width() const;
  // positive()[k]: values in [k w, (k+1) w) (and +-0 in bin 0); negative()[k]: values in
  // (-(k+1) w, -k w].
  const std::vector<int64_t>& positive() const { return positive_; }
  const std::vector<int64_t>& negative() const { return negative_; }
  // Histogram of |x|: positive()[k] + negative()[k].
  std::vector<int64_t> absolute() const;
  // Number of finite values added, and their exact min / max (0 when none).
  int64_t total() const { return total_; }
  float min() const { return min_; }
  float max() const { return max_; }
  float max_abs() const;

 private:
  void grow_to(int exponent);

  int bins_;
  bool has_range_ = false;
  int exponent_ = 0;
  std::vector<int64_t> positive_;
  std::vector<int64_t> negative_;
  int64_t total_ = 0;
  float min_ = 0.0f;
  float max_ = 0.0f;
};

// Entropy calibration (TensorRT, "8-bit Inference with TensorRT", GTC 2017; ONNX Runtime
// HistogramCalibrater method 'entropy'; MXNet's _get_optimal_threshold), on a histogram of |x|
// `hist` whose last non-empty bin is n - 1. For every candidate i in [quantized_bins, n]
// (threshold = i bins):
//   P = hist[0, i) with the outliers sum(hist[i, n)) added to P[i-1]        (reference)
//   m = i / quantized_bins (integer division); quantized bin j sums hist[j m, (j+1) m) (the last
//   one also takes hist[quantized_bins m, i)); Q expands bin j back over its source bins,
//   Q[k] = bin_j / (number of k in the chunk with P[k] != 0) where P[k] != 0, else 0
//   P and Q are smoothed as ORT/MXNet smooth_distribution (eps = 1e-4 on counts: zero entries
//   get eps, non-zero ones lose eps * zeros / nonzeros)
//   divergence[i] = KL(P || Q) = sum p log(p / q) over the normalised P and Q (natural log)
// The chosen i is the first minimum. A candidate whose Q is all zero, or whose smoothing would
// make an entry non-positive, gets +inf (ORT returns None / asserts there).
// Differences from ORT: current ORT bins signed values over [-max|x|, max|x|] and grows the
// window symmetrically around the zero bin; its Q is an int64 array (the division truncates) and
// its expansion leaves the bins past quantized_bins * m at zero; here Q is real-valued and the
// last chunk extends to i, as in MXNet and the TensorRT description.
struct EntropySearch {
  int64_t best_bins = 0;        // chosen i (threshold = i * bin width); n when n < quantized_bins
  int64_t first_candidate = 0;  // divergence[0] is for i = first_candidate
  std::vector<double> divergence;  // one per candidate i in [first_candidate, n]
};
EntropySearch entropy_search(std::span<const int64_t> hist, int quantized_bins);

// Sum over the histogram of the squared quantization error of the quantizer `p` (per-tensor;
// levels (q - zp) * scale for q in [qmin, qmax], round to nearest, saturate), assuming the values
// of each bin are spread uniformly over the bin: per bin, count * (1 / w) * integral of
// (x - Q(x))^2 over the bin, in closed form (rounding part: s^3 / 12 per full step plus the
// partial steps; clipped part: integral of (x - level)^2). Divide by total() for the mean.
double expected_squared_error(const StreamingHistogram& h, const QuantParams& p);

}  // namespace qdiff::calib
