// qdiff run MODEL --input X.npy|DIR --dump DIR: run every sample, tap every tensor, dump them.
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "intworld/int_world.h"
#include "onnx/importer.h"
#include "quant/fake_quant.h"
#include "quant_side.h"
#include "runtime/dump.h"
#include "runtime/interpreter.h"
#include "runtime/samples.h"
#include "targets/profile.h"
#include "tensor/npy.h"

namespace qdiff::cli {
namespace {

struct RunCommandOptions {
  std::string model;
  std::vector<std::string> inputs;
  std::string preprocess;
  std::string dump_dir;
  std::string tensors = "all";
  std::string labels;
  std::string mode = "float";
  std::string target;  // --mode int: a built-in profile name or a profile JSON
  QuantSideOptions quant;
  int threads = 1;
  bool reference = false;
  bool stop_on_nonfinite = false;
  bool round_float16 = false;
  int64_t max_tensor_mb = 8192;
};

Result<std::vector<ir::ValueId>> select_tensors(const ir::Graph& g, const std::string& spec) {
  std::vector<ir::ValueId> ids;
  if (spec == "all") return ids;  // empty = all
  if (spec == "outputs") return g.outputs;
  size_t pos = 0;
  while (pos <= spec.size()) {
    const size_t comma = spec.find(',', pos);
    const std::string name =
        spec.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    auto id = g.find_value(name);
    if (!id) return invalid_argument("--tensors: the model has no tensor named '" + name + "'");
    ids.push_back(*id);
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  return ids;
}

// Index of the largest element (first on ties), over all elements of a [1, classes] output.
int64_t argmax(const Tensor& t) {
  const std::vector<float> v = t.to_f32_vector();
  int64_t best = 0;
  for (size_t i = 1; i < v.size(); ++i)
    if (v[i] > v[static_cast<size_t>(best)]) best = static_cast<int64_t>(i);
  return best;
}

Status run_run(const RunCommandOptions& o) {
  if (o.mode != "float" && o.mode != "fakequant" && o.mode != "int")
    return invalid_argument("--mode " + o.mode + ": expected float, fakequant or int");
  if (o.mode == "float" && o.quant.given())
    return invalid_argument("--plan, --quantized and --encodings need --mode fakequant or int");
  if ((o.mode == "int") != !o.target.empty())
    return invalid_argument("--target goes with --mode int (and --mode int needs --target)");
  if (o.max_tensor_mb <= 0) return invalid_argument("--max-tensor-mb must be positive");
  set_tensor_byte_limit(static_cast<uint64_t>(o.max_tensor_mb) << 20);
  QDIFF_ASSIGN_OR_RETURN(onnx::ImportedModel model, onnx::import_model(o.model));
  std::unique_ptr<quant::FakeQuantWorld> world;
  QuantSide side;
  std::unique_ptr<intworld::IntWorld> int_world;
  if (o.mode != "float") {
    QDIFF_ASSIGN_OR_RETURN(side, load_quant_side(model, o.quant));
    for (const std::string& note : side.notes) std::printf("note: %s\n", note.c_str());
    if (side.float_graph) model.graph = std::move(*side.float_graph);
  }
  if (o.mode == "fakequant") {
    QDIFF_ASSIGN_OR_RETURN(world, quant::FakeQuantWorld::create(model.graph, side.plan));
  } else if (o.mode == "int") {
    QDIFF_ASSIGN_OR_RETURN(targets::TargetProfile profile, targets::load_profile(o.target));
    QDIFF_ASSIGN_OR_RETURN(int_world, intworld::IntWorld::create(model.graph, side.plan, profile,
                                                                 {o.threads, !o.reference}));
  }
  const ir::Graph& g = world ? world->graph() : model.graph;
  QDIFF_ASSIGN_OR_RETURN(
      auto interp, runtime::Interpreter::create(g, {o.threads, !o.reference, o.round_float16}));
  runtime::ValueTransform* transform = world ? world->transform() : nullptr;
  std::optional<runtime::ImagePreprocess> preprocess;
  if (!o.preprocess.empty()) {
    QDIFF_ASSIGN_OR_RETURN(preprocess, runtime::parse_preprocess(o.preprocess));
  }
  QDIFF_ASSIGN_OR_RETURN(runtime::Samples samples, runtime::load_samples(g, o.inputs, preprocess));
  QDIFF_ASSIGN_OR_RETURN(std::vector<ir::ValueId> selection, select_tensors(g, o.tensors));
  std::optional<Tensor> labels;
  if (!o.labels.empty()) {
    QDIFF_ASSIGN_OR_RETURN(labels, read_npy(o.labels));
    if (labels->numel() != static_cast<int64_t>(samples.names.size()) ||
        !dtype_is_integer(labels->dtype()))
      return invalid_argument(o.labels + ": expected " + std::to_string(samples.names.size()) +
                              " integer labels, got " + std::string(dtype_name(labels->dtype())) +
                              shape_to_string(labels->shape()));
  }

  runtime::ObserverList observers;
  std::unique_ptr<runtime::DumpWriter> dump;
  if (!o.dump_dir.empty()) {
    QDIFF_ASSIGN_OR_RETURN(dump,
                           runtime::DumpWriter::create(o.dump_dir, g, selection, samples.names));
    observers.add(dump.get());
    // Each quantized activation's parameters (and its name in the quantized model, when there
    // is one) go into the manifest, so a dump can be compared step by step.
    for (const quant::TensorPlan& t : side.plan.tensors) {
      if (t.role != quant::Role::kActivation) continue;
      nlohmann::ordered_json q;
      q["bits"] = t.params.bits;
      q["signed"] = t.params.is_signed;
      q["dynamic"] = t.dynamic;
      std::vector<double> scales(t.params.scales.begin(), t.params.scales.end());
      q["scale"] = scales;
      q["zero_point"] = t.params.zero_points;
      q["axis"] = t.params.axis;
      if (auto r = side.reference_names.find(t.name); r != side.reference_names.end())
        q["ref"] = r->second;
      dump->annotate(*g.find_value(t.name), "quant", q.dump());
    }
  }
  runtime::NonFiniteGuard guard(g);
  if (o.stop_on_nonfinite) observers.add(&guard);

  std::printf("qdiff run: %s, %zu sample%s, mode %s, %d thread%s%s\n", o.model.c_str(),
              samples.names.size(), samples.names.size() == 1 ? "" : "s", o.mode.c_str(), o.threads,
              o.threads == 1 ? "" : "s", o.reference ? ", reference kernels" : "");
  std::vector<int64_t> labels_v = labels ? labels->to_i64_vector() : std::vector<int64_t>{};
  int64_t correct = 0;
  const auto start = std::chrono::steady_clock::now();
  for (size_t i = 0; i < samples.names.size(); ++i) {
    auto outputs = int_world ? int_world->run(samples.inputs[i], &observers)
                             : interp->run(samples.inputs[i], &observers, transform);
    if (!outputs.ok()) return outputs.status().with_context("sample " + samples.names[i]);
    Tensor first = (*outputs)[0];
    if (int_world && int_world->quantized(g.outputs[0])) {
      QDIFF_ASSIGN_OR_RETURN(
          first, intworld::dequantize_tensor(first, int_world->quantized(g.outputs[0])->params));
    }
    if (labels && argmax(first) == labels_v[i]) ++correct;
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("  ran in %.3f s (%.2f ms/sample), peak tensor memory %.1f MiB\n", seconds,
              1e3 * seconds / static_cast<double>(std::max<size_t>(samples.names.size(), 1)),
              static_cast<double>(tensor_peak_bytes()) / (1 << 20));
  if (labels)
    std::printf("  top-1 %.4f (%" PRId64 "/%zu) of output '%s' against %s\n",
                static_cast<double>(correct) / static_cast<double>(samples.names.size()), correct,
                samples.names.size(), g.value(g.outputs[0]).name.c_str(), o.labels.c_str());
  if (dump) {
    QDIFF_RETURN_IF_ERROR(dump->finish(o.model, o.mode));
    std::printf("  dump: %s/manifest.json (%zu tensors)\n", o.dump_dir.c_str(),
                dump->tensor_count());
  }
  return Status();
}

}  // namespace

void add_run_command(CLI::App& app, std::function<Status()>& run) {
  auto o = std::make_shared<RunCommandOptions>();
  CLI::App* cmd = app.add_subcommand(
      "run",
      "Run the model on every sample and tap every tensor; write a dump directory "
      "(manifest.json + one .npy per tensor, one row per sample).");
  cmd->add_option("model", o->model, "ONNX model file")->required();
  cmd->add_option("--input", o->inputs,
                  "Samples: X.npy (one sample, or a stack along a new leading dim), a directory "
                  "of .npy files, an image or a directory of images (PNG/JPEG/BMP, with "
                  "--preprocess), or NAME=PATH per model input")
      ->required();
  cmd->add_option("--preprocess", o->preprocess,
                  "How images become inputs, e.g. \"resize=224x224,scale=1/255,"
                  "mean=0.485,0.456,0.406,std=0.229,0.224,0.225,rgb,nchw\" (keys: resize=HxW|S, "
                  "crop=HxW, antialias, scale, mean, std, rgb|bgr, nchw|nhwc, dtype)");
  cmd->add_option("--dump", o->dump_dir, "Write the dump directory here");
  cmd->add_option("--tensors", o->tensors,
                  "Tensors to dump: all, outputs, or a comma-separated list of names")
      ->default_val("all");
  cmd->add_option("--labels", o->labels,
                  "Integer class labels (.npy, one per sample): report top-1 of the first output");
  cmd->add_option(
         "--mode", o->mode,
         "Numeric world: float, or fakequant (float kernels, every tensor the plan "
         "quantizes quantized-dequantized), or int (the integer world of --target: quantized "
         "tensors as integers)")
      ->default_val("float");
  add_quant_side_options(*cmd, o->quant);
  cmd->add_option("--target", o->target,
                  "--mode int: a target profile (ort-cpu, tflite-int8, xnnpack-qs8, vitis-dpu, "
                  "tensorrt-int8, ...) or a profile JSON");
  cmd->add_option("--threads", o->threads, "Threads (results do not depend on it)")
      ->default_val(1)
      ->check(CLI::Range(1, 256));
  cmd->add_flag("--reference", o->reference, "Use only the reference kernels (the specification)");
  cmd->add_flag("--round-float16", o->round_float16,
                "For a float16 model: round each tensor the model stores as float16 to float16 "
                "precision, as a float16 runtime does (default: run its float32 original)");
  cmd->add_flag("--stop-on-nonfinite", o->stop_on_nonfinite,
                "Stop at the first tensor holding NaN or Inf, naming it");
  cmd->add_option("--max-tensor-mb", o->max_tensor_mb, "Refuse any tensor larger than this (MiB)")
      ->default_val(8192);
  cmd->callback([o, &run] { run = [o] { return run_run(*o); }; });
}

}  // namespace qdiff::cli
