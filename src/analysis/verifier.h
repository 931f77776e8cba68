// Re-running worlds over a few samples held in memory and scoring their graph outputs: how
// qdiff verifies a fix (analysis/findings.h) and searches for a plan that meets a goal
// (analysis/tune.h).
#pragma once

#include <cstdint>
#include <limits>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <vector>

#include "ir/graph.h"
#include "quant/fake_quant.h"
#include "quant/plan.h"
#include "runtime/observer.h"
#include "support/status.h"
#include "targets/profile.h"
#include "tensor/tensor.h"

namespace qdiff::analysis {

// A test world's graph outputs against a reference world's, summed over the samples and over
// every output element (non-finite pairs counted and left out): error energy sum((x - y)^2),
// reference energy sum(x^2), test energy and cross term (cosine), the top-1 agreement of the
// first output (when its last axis has two or more classes), and with labels the test world's
// top-1 correct count on the first output.
struct Score {
  double err = 0, ref = 0, test = 0, cross = 0;
  int64_t rows = 0, agree = 0;
  int64_t labelled = 0, correct = 0;
  int64_t nonfinite = 0;

  double sqnr_db() const {
    return err > 0 ? 10.0 * std::log10(ref / err) : std::numeric_limits<double>::infinity();
  }
  double cosine() const;
  bool classifier() const { return rows > 0; }
  double top1() const { return rows ? static_cast<double>(agree) / static_cast<double>(rows) : 1; }
  double accuracy() const {
    return labelled ? static_cast<double>(correct) / static_cast<double>(labelled) : 0.0;
  }
  // The fraction of this score's error `after` removes (1 when it removes all; negative when it
  // adds error).
  double removed_by(const Score& after) const;
};

nlohmann::ordered_json score_json(const Score& s);

// Re-runs are incremental: init() keeps every tensor of the float world and of the base
// fake-quant world (when they fit kCacheBytes), and a fake-quant world of another plan reruns
// only the nodes downstream of what the plan changes, against whichever of the two differs less
// (a split point's tail from the base, a reverse split point's tail from float). The scores are
// the same as a full run's, bit for bit.
class Verifier {
 public:
  static constexpr int64_t kCacheBytes = int64_t{2} << 30;

  // `samples` (each one tensor per graph input) must outlive the verifier; `labels` (one per
  // sample, or empty) score task accuracy.
  Verifier(const ir::Graph& graph, std::span<const std::vector<Tensor>> samples, int threads,
           std::vector<int64_t> labels = {});

  Verifier(const Verifier&) = delete;
  Verifier& operator=(const Verifier&) = delete;
  ~Verifier();

  // Runs the float world and the fake-quant world of `base` once (the references).
  Status init(const quant::QuantPlan& base);
  // Whether re-runs are incremental (the two worlds' tensors fit kCacheBytes), and how many
  // nodes the fake-quant re-runs have run against how many a full run would have.
  bool incremental() const { return !float_values_.empty(); }
  std::pair<int64_t, int64_t> nodes_rerun() const { return {nodes_run_, nodes_full_}; }

  // Fake-quant world of `plan` against the float world.
  Result<Score> fake_quant(const quant::QuantPlan& plan) const;
  Score base_fake_quant() const;
  // Integer world of `plan` under `profile` against the base fake-quant world, or against the
  // float world.
  Result<Score> integer(const quant::QuantPlan& plan, const targets::TargetProfile& profile) const;
  Result<Score> integer_vs_float(const quant::QuantPlan& plan,
                                 const targets::TargetProfile& profile) const;
  // The float world against itself: its task accuracy (labels).
  Score float_self() const;
  // The integer world of `plan` under `profile` at one tensor (dequantized), per sample.
  Result<std::vector<Tensor>> integer_at(const quant::QuantPlan& plan,
                                         const targets::TargetProfile& profile,
                                         ir::ValueId probe) const;
  // Runs the float world and hands `observer` the tensors it wants.
  Status observe_float(runtime::Observer& observer) const;

 private:
  using Outputs = std::vector<Tensor>;
  Result<std::vector<Outputs>> fake_quant_outputs(const quant::QuantPlan& plan) const;
  Result<std::vector<Outputs>> integer_outputs(const quant::QuantPlan& plan,
                                               const targets::TargetProfile& profile) const;
  Score score(const std::vector<Outputs>& ref, const std::vector<Outputs>& test) const;

  // Per sample, per value: the tensors a world handed out.
  using Values = std::vector<std::vector<Tensor>>;
  Result<Values> record(const ir::Graph& g, runtime::ValueTransform* transform) const;

  const ir::Graph& g_;
  std::span<const std::vector<Tensor>> samples_;
  int threads_;
  std::vector<int64_t> labels_;
  std::vector<Outputs> float_, fq_base_;
  std::unique_ptr<quant::FakeQuantWorld> fq_base_world_;
  Values float_values_, fq_values_;
  mutable int64_t nodes_run_ = 0, nodes_full_ = 0;
};

}  // namespace qdiff::analysis
