// Calibration: streams samples through the float graph, feeds every activation the planner
// wants observed to a range observer (src/calib), and makes the plan from the ranges found.
// Memory holds one sample and the observers' fixed-size state, whatever the number of samples.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "calib/observers.h"
#include "ir/graph.h"
#include "quant/plan.h"
#include "quant/planner.h"
#include "runtime/samples.h"
#include "support/status.h"

namespace qdiff::quant {

struct CalibrationOptions {
  calib::ObserverOptions observer;             // method and its settings (per tensor)
  Scheme scheme;                               // formats, granularity, rounding
  std::map<std::string, Precision> precision;  // per-node overrides of int8
  int threads = 1;
  int64_t max_samples = -1;  // -1: all
  bool progress = false;     // a progress bar on stderr
};

struct CalibrationReport {
  QuantPlan plan;
  int64_t samples_used = 0;
  // Samples left out because an input held NaN or Inf, by name.
  std::vector<std::string> bad_samples;
  // Observed tensors that produced NaN/Inf values from finite inputs: "name: count".
  std::vector<std::string> nonfinite_tensors;
};

Result<CalibrationReport> calibrate(const ir::Graph& graph, runtime::SampleReader& samples,
                                    const CalibrationOptions& options);

// "minmax", "percentile(99.999)", ...: the method as the plan records it.
std::string describe_method(const calib::ObserverOptions& o);

}  // namespace qdiff::quant
