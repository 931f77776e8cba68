// The float, fake-quant and integer worlds run side by side over the same samples, compared
// tensor by tensor (issue 5, analyses 1, 2, 4 and 5): the start of `qdiff diagnose`.
//
// Pairs of worlds (reference first):
//   quantization = float vs fake-quant   the error the plan's grids cause;
//   arithmetic   = fake-quant vs integer  the error the target's arithmetic adds (the integer
//                                         side dequantized with its parameters);
//   total        = float vs integer;
//   device       = integer vs a device's dump (attach_device): what the device adds to the
//                  target's emulated arithmetic (a compiler or kernel fault, or an emulation
//                  that is not the device's).
// Every float32 tensor the float model produces (graph inputs and node outputs, in topological
// order; outputs of Constant nodes left out: they are parameters) is compared in each pair where
// both worlds produce it: the integer world does not produce the tensors inside an integer unit
// (the Conv output of Conv+Clip). Metrics (analysis/metrics.h) stream: each world's tensors of one
// sample are held only until the sample's comparison is done, so memory does not grow with the
// number of samples. Results depend only on the samples and their order.
//
// Metric settings per tensor. A tensor the plan quantizes (static parameters) has a grid: its
// plan parameters. Max error in LSB is measured on that grid, saturation is that of the test
// side on the test world's grid, top-1 agreement is measured at graph outputs. In the arithmetic
// pair, where the integer world holds the tensor as integers on the plan's grid, the fake-quant
// values are quantized again with the plan's parameters (exact: they lie on the grid) and the
// integers compared too (integer_exact_match).
//
// First divergence of a pair: the first compared tensor, in topological order, whose
// accumulated error is beyond its tolerance:
//  - quantization and total pairs (float reference). A tensor may carry
//      own noise        n * step^2 / 12  (the rounding noise of a uniform grid), where step is
//                       the tensor's plan scale, capped by the step a min/max grid over the float
//                       values seen would have ((max(hi, 0) - min(lo, 0)) / (qmax - qmin)): a
//                       grid coarser than the values need is not an excuse; 0 without a grid;
//      inherited noise  r_in^2 * ||x||^2, with r_in^2 the sum over the node's inputs of their
//                       relative error energy ||x_i - y_i||^2 / ||x_i||^2 in the same pair
//                       (an input not compared in the pair, such as the Conv output inside a
//                       unit, contributes the inherited ratio of its own producer; a quantized
//                       weight its fake-quant error; other constants 0).
//    It diverges when ||x - y||^2 > k^2 * (own + inherited), k = WorldsOptions::noise_factor
//    (default 4: four times the RMS error the tensor may carry; a healthy ort-cpu plan of the
//    demo model peaks at 2.6, at a depthwise Conv, which amplifies white input noise more than
//    its smooth signal). Clipping is not budgeted: a grid that clips enough to quadruple the
//    error diverges.
//  - arithmetic and device pairs (fake-quant / integer reference, both sides on the same grid;
//    tensors without a grid are not judged). Let f be the fraction of the tensor's elements that
//    differ (integers where compared, else values) and f_in the largest f among its node's inputs
//    (for an input not compared in the pair, that of its own producer's inputs). The tensor
//    diverges when it has differences its inputs do not explain, f > g * f_in (g =
//    WorldsOptions::inherited_growth, default 10; any difference when the inputs agree exactly),
//    and either an element is off by more than one step (max error > 1.5 LSB: "step-error") or f >
//    WorldsOptions::differing_fraction (default 1%: "differing-fraction").
//    Why: one-step differences in a few elements are how a healthy target's rounding differs
//    from fake-quant; an input element one step off reaches every output that reads it and
//    flips some of them (on the demo model under ort-cpu the differing fraction grows up to ~7x
//    through a pointwise Conv, to 1.5% at the pooled features), and a steep node (a
//    HardSigmoid table) turns an inherited one-step input difference into several output steps.
//    A fault in the target's arithmetic (padding, accumulator width) changes far more elements
//    than its inputs explain, by more than one step.
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "analysis/dump_reader.h"
#include "analysis/metrics.h"
#include "ir/graph.h"
#include "quant/plan.h"
#include "support/status.h"
#include "targets/profile.h"
#include "tensor/tensor.h"

namespace qdiff::analysis {

enum class WorldPair : uint8_t { kQuantization, kArithmetic, kTotal, kDevice };
// "quantization", "arithmetic", "total", "device"
std::string_view world_pair_name(WorldPair p);

struct WorldsOptions {
  int threads = 1;  // per world; results do not depend on it
  double noise_factor = 4.0;
  double differing_fraction = 0.01;
  double inherited_growth = 10.0;
};

// One tensor of the float model, compared in each pair of worlds that produce it.
struct TensorComparison {
  ir::ValueId value = 0;
  std::string name;
  std::string node;           // producing node ("" for a graph input)
  std::string op_type;        // its op ("" for a graph input)
  int64_t index = 0;          // position in the table: topological order
  int64_t node_index = -1;    // the producing node's index in the graph; -1 for a graph input
  std::optional<float> step;  // the plan's scale (per tensor; the largest when per channel)
  std::optional<TensorMetrics> quantization, arithmetic, total, device;
  std::string device_tensor;  // the device dump's name for it (when a device dump is attached)

  const std::optional<TensorMetrics>& of(WorldPair p) const {
    return p == WorldPair::kQuantization ? quantization
           : p == WorldPair::kArithmetic ? arithmetic
           : p == WorldPair::kTotal      ? total
                                         : device;
  }
};

// How a device dump's tensors were matched to the model's (see WorldRunner::attach_device).
struct DeviceAlignment {
  struct Match {
    std::string dump_name, tensor;
    std::string how;           // "name", "values" or "name and values" (see attach_device)
    double correlation = 1.0;  // by values: Pearson correlation on the first sample
    double runner_up = 0.0;    // by values: the next best candidate's correlation
    bool permuted = false;     // the rows were read NHWC -> NCHW to match
  };
  std::vector<Match> matched;
  // Dump tensors matched to nothing, with why ("no model tensor of this size", "no clear match
  // by values ...").
  std::vector<std::pair<std::string, std::string>> unmatched;
  // Dump tensors named after a model tensor that no pair compares (a constant, a tensor inside
  // an integer unit), or holding the values of a tensor another dump tensor holds.
  std::vector<std::string> not_compared;
};

// Where a pair of worlds first stops agreeing, with the numbers of the rule (see the top).
struct Divergence {
  WorldPair pair = WorldPair::kQuantization;
  ir::ValueId value = 0;
  std::string tensor, node, op_type;
  int64_t index = 0;
  std::string rule;  // "noise-budget", "step-error" or "differing-fraction"
  // Float-reference pairs: RMS per element of the error, of the own and inherited noise and of
  // the tolerance (k * sqrt(own + inherited)).
  double error_rms = 0, own_noise_rms = 0, inherited_noise_rms = 0, tolerance_rms = 0;
  // Arithmetic pair.
  double max_error_lsb = 0, differing_fraction = 0, inherited_fraction = 0;
};

// Top-1 accuracy of each world against labels (WorldRunner::set_labels).
struct Accuracy {
  int64_t rows = 0;
  int64_t float_correct = 0, fake_quant_correct = 0, integer_correct = 0, device_correct = 0;
  bool has_integer = false, has_device = false;
};

// SQNR (dB) of each sample at each compared tensor in one pair of worlds: the total pair, or
// the quantization pair when the integer world does not run. NaN where a tensor was not
// compared, +inf where the sample agrees exactly.
struct SampleMap {
  WorldPair pair = WorldPair::kTotal;
  std::vector<std::string> tensors;  // topological order
  std::vector<std::string> samples;
  std::vector<std::vector<float>> sqnr_db;  // [sample][tensor]
};

// The samples with the lowest SQNR at the first graph output, worst first, each with the first
// tensor (topological order) where its SQNR falls below 20 dB ("" if none).
struct WorstSample {
  std::string sample;
  double output_sqnr_db = 0;
  std::string first_below;
};
std::vector<WorstSample> worst_samples(const SampleMap& map, const ir::Graph& graph, size_t n);

class WorldRunner {
 public:
  // Builds the three worlds; errors from the plan (check_plan) and the profile. A plan the
  // target cannot run as integers (weights only, a unit its kernels lack) leaves the integer
  // world out (integer_world_error() says why): the pairs with it are then not compared.
  static Result<std::unique_ptr<WorldRunner>> create(const ir::Graph& graph,
                                                     const quant::QuantPlan& plan,
                                                     const targets::TargetProfile& profile,
                                                     const WorldsOptions& options = {});
  ~WorldRunner();

  // A fourth world: a device's tensor dump (dump_reader.h), compared with the integer world
  // (pair "device") sample by sample, in the dump's sample order. Its tensors are matched to
  // the model's by name; on the first sample, a dump tensor whose name matches none is matched
  // by its values: among the tensors the integer world holds with the same element count, the
  // one whose values correlate best with it (as stored, or NHWC read as NCHW; Pearson
  // correlation, so a dump of raw integers matches too), when that correlation is at least 0.9
  // and beats the runner-up by 0.05, or, at 0.9 or more, whose name the dump's name contains
  // (exporters name a QuantizeLinear output after its tensor). A dump tensor whose best match
  // another dump tensor already holds (a quantized copy of a float output) is not compared.
  // Call before the first sample.
  Status attach_device(DumpReader dump);
  // Null without a device dump or before the first sample.
  const DeviceAlignment* device_alignment() const;
  // The device's rows of one compared tensor for its first `n` samples (float32, the tensor's
  // shape, plain), re-read from the dump; empty when the dump does not hold it.
  Result<std::vector<Tensor>> device_rows(ir::ValueId value, int64_t n) const;

  // Runs one sample (one tensor per graph input) in the three worlds and adds it to every
  // tensor's metrics. Errors: a world's run fails, or a tensor's shape differs from the one
  // earlier samples gave it.
  // `name` names the sample in the sample map (its index when empty).
  Status run_sample(std::span<const Tensor> inputs, std::string_view name = {});
  int64_t samples() const;

  // The tensors compared so far, in topological order.
  std::vector<TensorComparison> tensors() const;
  // The first divergence of a pair (rules at the top), or nullopt.
  std::optional<Divergence> first_divergence(WorldPair pair) const;
  // Per tensor compared in the pair, in topological order: what its node's inputs bring (the
  // rules at the top): the sum of their relative error energies (float-reference pairs) or the
  // largest differing fraction among them (arithmetic pair). A tensor's own contribution (its
  // local error) is what it carries beyond that.
  std::vector<std::pair<ir::ValueId, double>> inherited(WorldPair pair) const;

  // Task accuracy: one integer class label per sample (in sample order) for the first graph
  // output, which must hold one row of class scores per sample; top-1 (argmax, ties to the
  // lowest index) of each world is counted against it. Call before the first sample.
  Status set_labels(std::vector<int64_t> labels);
  std::optional<Accuracy> accuracy() const;

  // The SQNR of every sample at every compared tensor (per-sample statistics: memory grows
  // with samples x tensors floats).
  SampleMap sample_map() const;

  const ir::Graph& graph() const;
  const quant::QuantPlan& plan() const;
  const targets::TargetProfile& profile() const;
  // Why the integer world could not be built ("" when it runs).
  const std::string& integer_world_error() const;

  struct Impl;

 private:
  explicit WorldRunner(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The fraction of a tensor's elements that differ in a pair: integers where compared, else
// values (0 when nothing was compared).
double differing_fraction(const TensorMetrics& tm);

// Stable key order: {"samples", "tensors": [...], "first_divergence": {pair: ... or null}}.
nlohmann::ordered_json to_json(const TensorComparison& t);
nlohmann::ordered_json to_json(const Divergence& d);
nlohmann::ordered_json worlds_to_json(const WorldRunner& runner);

}  // namespace qdiff::analysis
