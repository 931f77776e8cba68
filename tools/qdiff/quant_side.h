// The quantized side of a comparison, however the user describes it: a plan JSON, a quantized
// ONNX model (QDQ, QLinear or ConvInteger), or an encodings JSON over the float model. Each
// becomes a QuantPlan over the float model's tensor names.
#pragma once

#include <CLI/CLI.hpp>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "onnx/importer.h"
#include "quant/plan.h"
#include "runtime/images.h"
#include "support/status.h"
#include "targets/profile.h"

namespace qdiff::cli {

struct QuantSideOptions {
  std::string plan;
  std::string quantized;
  std::string encodings;
  std::string save_plan;  // write the plan the run uses (after import and mapping) here
  bool given() const { return !plan.empty() || !quantized.empty() || !encodings.empty(); }
};

struct QuantSide {
  quant::QuantPlan plan;
  std::vector<std::string> notes;
  // Float tensor name -> the quantized model's tensor that holds the value its readers see
  // (the DequantizeLinear output); only with --quantized.
  std::map<std::string, std::string> reference_names;
  // When MODEL is the quantized model itself, the float graph it computes (quantization taken
  // out), which the caller runs instead of MODEL's graph.
  std::optional<ir::Graph> float_graph;
};

void add_quant_side_options(CLI::App& cmd, QuantSideOptions& o);
// Exactly one of the options must be set; errors name the file. With --quantized, MODEL may be
// the float original (the plan is mapped onto its tensors by name and structure) or the
// quantized model itself.
Result<QuantSide> load_quant_side(const onnx::ImportedModel& float_model,
                                  const QuantSideOptions& o);

// The plan a command works on: the quantized side given (MODEL's graph replaced by the float
// graph a quantized MODEL computes), else the target's default int8 calibration (MinMax, the
// profile's scheme) on the first `samples` of `data` (all when negative).
struct PlanForTarget {
  quant::QuantPlan plan;
  std::string source;  // the file given, or "minmax calibration of the T scheme on the data"
};
Result<PlanForTarget> plan_for_target(onnx::ImportedModel& model, const QuantSideOptions& side,
                                      const targets::TargetProfile& profile,
                                      const std::string& target_name,
                                      const std::vector<std::string>& data,
                                      const std::optional<runtime::ImagePreprocess>& preprocess,
                                      int64_t samples, int threads);

}  // namespace qdiff::cli
