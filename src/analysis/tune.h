// qdiff tune: the smallest set of quantized units to raise (int16 activations, else float where
// the target has no 16-bit kernels (TargetProfile::int16_units) or its integer world cannot run
// the unit in int16) so that the deployed model meets a goal.
//
// The world measured is the target's integer world when it runs the plan (the deployment),
// else fake-quant. Each unit's sensitivity is the metric with that unit alone raised; units are
// raised in that order (most helpful first), and the smallest prefix that meets the goal is
// found by bisection, then each raised unit whose removal still meets the goal is dropped (the
// metric is not always monotonic in the prefix; every probe is a real run over every sample).
// When raising every unit to int16 is not enough, the same search runs with float.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ir/graph.h"
#include "quant/plan.h"
#include "support/status.h"
#include "targets/profile.h"
#include "tensor/tensor.h"

namespace qdiff::analysis {

struct Goal {
  enum class Metric : uint8_t {
    kCosine,         // cosine similarity of the outputs with float
    kSqnr,           // SQNR of the outputs against float, dB
    kTop1Agreement,  // % of rows whose top-1 agrees with float (first output)
    kTop1Drop,       // float accuracy - quantized accuracy, percentage points (needs labels)
  };
  Metric metric = Metric::kCosine;
  double bound = 0.99;
  bool at_least = true;  // metric >= bound (else <=)
  std::string text;      // as given

  bool met(double value) const { return at_least ? value >= bound : value <= bound; }
};

// "cosine>=0.99", "sqnr>=30", "top1-agreement>=99.5", "top1-drop<=0.5"; errors say what is
// accepted.
Result<Goal> parse_goal(std::string_view text);

struct TuneResult {
  quant::QuantPlan plan;  // the tuned plan (the base plan when the goal is met already)
  std::string world;      // "integer" or "fake-quant"
  bool met = false;
  double before = 0, after = 0;  // the goal's metric before and after
  struct Raised {
    std::string unit;
    quant::Precision precision;
  };
  std::vector<Raised> raised;  // in sensitivity order
  // Per unit: the metric with it alone raised, and how (sorted most helpful first).
  struct Sensitivity {
    std::string unit;
    quant::Precision precision;
    double metric;
  };
  std::vector<Sensitivity> sensitivity;
  int64_t runs = 0;  // worlds run (each over every sample)
};

// `samples` (each one tensor per graph input) are held by the caller; `labels` one per sample
// (required by kTop1Drop).
Result<TuneResult> tune(const ir::Graph& graph, const quant::QuantPlan& base,
                        const targets::TargetProfile& profile,
                        std::span<const std::vector<Tensor>> samples, std::vector<int64_t> labels,
                        const Goal& goal, int threads = 1);

}  // namespace qdiff::analysis
