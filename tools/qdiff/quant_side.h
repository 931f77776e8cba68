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

// What diagnose and tune work on: a model, its samples, a target, and the quantization given or
// else the target's default int8 calibration (MinMax, the profile's scheme) on the samples.
struct TargetedModelOptions {
  std::string model;
  std::vector<std::string> data;
  std::string preprocess;
  std::string target = "ort-cpu";
  QuantSideOptions side;
};
void add_targeted_model_options(CLI::App& cmd, TargetedModelOptions& o);

struct TargetedModel {
  onnx::ImportedModel model;  // its graph the float graph a quantized MODEL computes
  targets::TargetProfile profile;
  std::optional<runtime::ImagePreprocess> preprocess;
  quant::QuantPlan plan;
  std::string plan_source;  // the file given, or "minmax calibration of the T scheme on the data"
};
// `samples`: at most this many samples calibrate (all when negative).
Result<TargetedModel> load_targeted_model(const TargetedModelOptions& o, int64_t samples,
                                          int threads);

// One integer class label per sample (.npy, 1-D); errors name the file.
Result<std::vector<int64_t>> load_labels(const std::string& path);

}  // namespace qdiff::cli
