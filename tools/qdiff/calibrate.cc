// qdiff calibrate MODEL --data D -o plan.json: streams samples through the float model, observes
// every activation the target quantizes and writes the quantization plan.
#include <chrono>
#include <cstdio>

#include "commands.h"
#include "onnx/importer.h"
#include "quant/calibrate.h"

namespace qdiff::cli {
namespace {

struct CalibrateOptions {
  std::string model;
  std::vector<std::string> data;
  std::string preprocess;
  std::string output;
  std::string target = "ort-cpu";
  std::string method = "minmax";
  double percentile = 99.999;
  double averaging = 0.01;
  std::string granularity = "per-channel";
  int activation_bits = 8;
  std::vector<std::string> int16_nodes;
  std::vector<std::string> float_nodes;
  int64_t samples = -1;
  int threads = 1;
  std::string quantize = "all";
  std::string units;
};

Status run_calibrate(const CalibrateOptions& o) {
  QDIFF_ASSIGN_OR_RETURN(onnx::ImportedModel model, onnx::import_model(o.model));
  const ir::Graph& g = model.graph;
  quant::CalibrationOptions co;
  QDIFF_ASSIGN_OR_RETURN(co.scheme, quant::scheme_for_target(o.target));
  if (o.granularity == "per-tensor")
    co.scheme.per_channel_weights = false;
  else if (o.granularity == "per-tensor-depthwise")
    co.scheme.per_tensor_depthwise = true;
  else if (o.granularity != "per-channel")
    return invalid_argument("--granularity " + o.granularity +
                            ": expected per-channel, per-tensor or per-tensor-depthwise");
  if (o.units == "relu-clip")
    co.scheme.units = quant::UnitGrowth::kReluClip;
  else if (o.units == "epilogue")
    co.scheme.units = quant::UnitGrowth::kEpilogue;
  else if (o.units == "conv-fix")
    co.scheme.units = quant::UnitGrowth::kConvFix;
  else if (!o.units.empty())
    return invalid_argument("--units " + o.units + ": expected relu-clip, epilogue or conv-fix");
  QDIFF_ASSIGN_OR_RETURN(co.observer.method, calib::parse_method(o.method));
  co.observer.percentile = o.percentile;
  co.observer.averaging = o.averaging;
  if (o.activation_bits != 8 && o.activation_bits != 16)
    return invalid_argument("--activation-bits must be 8 or 16");
  if (o.activation_bits == 16)
    for (const ir::Node& n : g.nodes()) co.precision[n.name] = quant::Precision::kInt16;
  for (const std::string& n : o.int16_nodes) co.precision[n] = quant::Precision::kInt16;
  for (const std::string& n : o.float_nodes) co.precision[n] = quant::Precision::kFloat;
  co.threads = o.threads;
  co.max_samples = o.samples;
  co.progress = true;
  std::optional<runtime::ImagePreprocess> preprocess;
  if (!o.preprocess.empty()) {
    QDIFF_ASSIGN_OR_RETURN(preprocess, runtime::parse_preprocess(o.preprocess));
  }
  QDIFF_ASSIGN_OR_RETURN(runtime::SampleReader reader,
                         runtime::SampleReader::open(g, o.data, preprocess));
  const auto start = std::chrono::steady_clock::now();
  QDIFF_ASSIGN_OR_RETURN(quant::CalibrationReport report, quant::calibrate(g, reader, co));
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (o.quantize != "all") {
    if (o.quantize != "weights" && o.quantize != "activations")
      return invalid_argument("--quantize must be all, weights or activations");
    const bool keep_weights = o.quantize == "weights";
    std::erase_if(report.plan.tensors, [&](const quant::TensorPlan& t) {
      return (t.role != quant::Role::kActivation) != keep_weights;
    });
    report.plan.origin += ", " + o.quantize + " only";
  }
  report.plan.model = o.model;
  QDIFF_RETURN_IF_ERROR(quant::save_plan(report.plan, o.output));
  size_t acts = 0, weights = 0, biases = 0, per_channel = 0;
  for (const quant::TensorPlan& t : report.plan.tensors) {
    if (t.role == quant::Role::kActivation) ++acts;
    if (t.role == quant::Role::kWeight) ++weights, per_channel += t.params.per_channel();
    if (t.role == quant::Role::kBias) ++biases;
  }
  std::printf("qdiff calibrate: %s, target %s, method %s, %lld samples in %.2f s\n",
              o.model.c_str(), o.target.c_str(), quant::describe_method(co.observer).c_str(),
              static_cast<long long>(report.samples_used), seconds);
  std::printf("  quantized: %zu activations, %zu weights (%zu per channel), %zu biases\n", acts,
              weights, per_channel, biases);
  if (!report.bad_samples.empty()) {
    std::printf("  left out %zu sample%s holding NaN or Inf:", report.bad_samples.size(),
                report.bad_samples.size() == 1 ? "" : "s");
    for (size_t i = 0; i < report.bad_samples.size() && i < 5; ++i)
      std::printf(" %s", report.bad_samples[i].c_str());
    std::printf("%s\n", report.bad_samples.size() > 5 ? " ..." : "");
  }
  for (const std::string& t : report.nonfinite_tensors)
    std::printf("  warning: NaN/Inf values produced in tensor %s (ignored by the ranges)\n",
                t.c_str());
  std::printf("  plan: %s\n", o.output.c_str());
  return Status();
}

}  // namespace

void add_calibrate_command(CLI::App& app, std::function<Status()>& run) {
  auto o = std::make_shared<CalibrateOptions>();
  CLI::App* cmd = app.add_subcommand(
      "calibrate", "Calibrate the float model on sample data and write a quantization plan");
  cmd->add_option("model", o->model, "Float ONNX model")->required();
  cmd->add_option("--data", o->data,
                  "Samples: a directory of .npy files or of images (PNG/JPEG/BMP, with "
                  "--preprocess), a stacked .npy, or NAME=PATH per input")
      ->required();
  cmd->add_option("--preprocess", o->preprocess,
                  "How images become inputs, e.g. \"resize=224x224,scale=1/255,"
                  "mean=0.485,0.456,0.406,std=0.229,0.224,0.225,rgb,nchw\" (keys: resize=HxW|S, "
                  "crop=HxW, antialias, scale, mean, std, rgb|bgr, nchw|nhwc, dtype)");
  cmd->add_option("-o,--output", o->output, "Plan JSON to write")->required();
  cmd->add_option("--target", o->target, "Quantization scheme of the target")
      ->default_val("ort-cpu");
  cmd->add_option("--method", o->method,
                  "Range observer: minmax, moving-average, percentile, mse, entropy")
      ->default_val("minmax");
  cmd->add_option("--percentile", o->percentile, "Percentile for --method percentile")
      ->default_val(99.999);
  cmd->add_option("--averaging", o->averaging, "Averaging constant for --method moving-average")
      ->default_val(0.01);
  cmd->add_option("--granularity", o->granularity,
                  "Weights: per-channel, per-tensor, or per-tensor-depthwise (per channel except "
                  "depthwise convolutions)")
      ->default_val("per-channel");
  cmd->add_option("--activation-bits", o->activation_bits, "8 or 16 (all nodes)")->default_val(8);
  cmd->add_option("--int16", o->int16_nodes, "Nodes to run with 16-bit activations")
      ->delimiter(',');
  cmd->add_option("--float", o->float_nodes, "Nodes to keep in float")->delimiter(',');
  cmd->add_option("--units", o->units,
                  "Quantized units: relu-clip (a Conv/Gemm/MatMul takes a following Relu/Clip) or "
                  "epilogue (it grows through BatchNorm and activations) or conv-fix (Relu, Clip, "
                  "LeakyRelu: the Vitis DPU); default: the target's");
  cmd->add_option("--quantize", o->quantize,
                  "What the plan quantizes: all, weights (and biases) only, or activations only")
      ->default_val("all");
  cmd->add_option("--samples", o->samples, "Use at most this many samples")->default_val(-1);
  cmd->add_option("--threads", o->threads, "Threads (results do not depend on it)")
      ->default_val(1)
      ->check(CLI::Range(1, 256));
  cmd->callback([o, &run] { run = [o] { return run_calibrate(*o); }; });
}

}  // namespace qdiff::cli
