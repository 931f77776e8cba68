// qdiff diagnose MODEL --data D [--target T] [--plan P | --quantized Q | --encodings E]: the float,
// fake-quant and integer worlds of MODEL run side by side over the samples (analysis/worlds.h),
// every tensor compared in each pair of worlds, the first divergence of each pair located. The
// findings of issue 5 (causes, fixes, verified re-runs) are built on this; this command reports
// the comparisons they start from.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "analysis/worlds.h"
#include "commands.h"
#include "onnx/importer.h"
#include "quant/calibrate.h"
#include "quant_side.h"
#include "runtime/images.h"
#include "runtime/samples.h"
#include "targets/profile.h"

namespace qdiff::cli {

namespace {

struct DiagnoseOptions {
  std::string model;
  std::vector<std::string> data;
  std::string preprocess;
  std::string target = "ort-cpu";
  QuantSideOptions side;
  int64_t samples = -1;
  int threads = 1;
  std::string json;
};

std::string fmt_db(double v) {
  if (std::isnan(v)) return "-";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char b[32];
  std::snprintf(b, sizeof b, "%.1f", v);
  return b;
}

// A bar of `width` cells for an SQNR in [0, 60] dB: longer is better.
std::string bar(double db, int width = 12) {
  const double f = std::isnan(db) ? 0.0 : std::isinf(db) ? 1.0 : std::clamp(db / 60.0, 0.0, 1.0);
  const int n = static_cast<int>(std::lround(f * width));
  return std::string(static_cast<size_t>(n), '#') +
         std::string(static_cast<size_t>(width - n), '.');
}

std::string clip_name(const std::string& s, size_t n) {
  return s.size() <= n ? s : "..." + s.substr(s.size() - (n - 3));
}

Status run_diagnose(const DiagnoseOptions& o) {
  QDIFF_ASSIGN_OR_RETURN(onnx::ImportedModel model, onnx::import_model(o.model));
  QDIFF_ASSIGN_OR_RETURN(targets::TargetProfile profile, targets::load_profile(o.target));
  std::optional<runtime::ImagePreprocess> preprocess;
  if (!o.preprocess.empty()) {
    QDIFF_ASSIGN_OR_RETURN(preprocess, runtime::parse_preprocess(o.preprocess));
  }
  quant::QuantPlan plan;
  std::string plan_source;
  if (o.side.given()) {
    QDIFF_ASSIGN_OR_RETURN(QuantSide side, load_quant_side(model, o.side));
    if (side.float_graph) model.graph = std::move(*side.float_graph);
    plan = std::move(side.plan);
    plan_source = !o.side.plan.empty()        ? o.side.plan
                  : !o.side.quantized.empty() ? o.side.quantized
                                              : o.side.encodings;
  } else {
    // No quantization given: the target's default int8 calibration (MinMax) on the same data.
    quant::CalibrationOptions co;
    co.scheme = profile.scheme;
    co.threads = o.threads;
    co.max_samples = o.samples;
    QDIFF_ASSIGN_OR_RETURN(runtime::SampleReader cal,
                           runtime::SampleReader::open(model.graph, o.data, preprocess));
    QDIFF_ASSIGN_OR_RETURN(quant::CalibrationReport report, quant::calibrate(model.graph, cal, co));
    plan = std::move(report.plan);
    plan_source = "minmax calibration of the " + o.target + " scheme on the data";
  }
  const ir::Graph& g = model.graph;
  analysis::WorldsOptions wo;
  wo.threads = o.threads;
  QDIFF_ASSIGN_OR_RETURN(std::unique_ptr<analysis::WorldRunner> runner,
                         analysis::WorldRunner::create(g, plan, profile, wo));
  QDIFF_ASSIGN_OR_RETURN(runtime::SampleReader reader,
                         runtime::SampleReader::open(g, o.data, preprocess));
  std::vector<Tensor> inputs;
  std::string name;
  while (o.samples < 0 || runner->samples() < o.samples) {
    QDIFF_ASSIGN_OR_RETURN(bool more, reader.next(&inputs, &name));
    if (!more) break;
    Status s = runner->run_sample(inputs);
    if (!s.ok()) return s.with_context("sample " + name);
  }
  if (runner->samples() == 0) return invalid_argument("no samples in --data");

  const std::vector<analysis::TensorComparison> tensors = runner->tensors();
  std::printf("qdiff diagnose: %s, %lld samples, target %s\n  quantization: %s\n", o.model.c_str(),
              static_cast<long long>(runner->samples()), o.target.c_str(), plan_source.c_str());
  using analysis::WorldPair;
  const WorldPair pairs[] = {WorldPair::kQuantization, WorldPair::kArithmetic, WorldPair::kTotal};
  auto pair_metrics = [](const analysis::TensorComparison& t, WorldPair p) {
    return p == WorldPair::kQuantization ? t.quantization
           : p == WorldPair::kArithmetic ? t.arithmetic
                                         : t.total;
  };
  // Outputs: per pair, what the model's users see.
  for (ir::ValueId out : g.outputs) {
    const auto it =
        std::find_if(tensors.begin(), tensors.end(), [&](const auto& t) { return t.value == out; });
    if (it == tensors.end()) continue;
    std::printf("  output %s:\n", it->name.c_str());
    for (WorldPair p : pairs) {
      const std::optional<analysis::TensorMetrics> m = pair_metrics(*it, p);
      if (!m) continue;
      std::printf("    %-13s cosine %.6f  SQNR %s dB", std::string(world_pair_name(p)).c_str(),
                  m->cosine, fmt_db(m->sqnr_db).c_str());
      if (m->top1)
        std::printf("  top-1 agreement %.2f%% (%lld/%lld)",
                    m->top1->rows ? 100.0 * static_cast<double>(m->top1->agree) /
                                        static_cast<double>(m->top1->rows)
                                  : 0.0,
                    static_cast<long long>(m->top1->agree), static_cast<long long>(m->top1->rows));
      std::printf("\n");
    }
  }
  std::printf("  first divergence (analysis/worlds.h gives the rules):\n");
  for (WorldPair p : pairs) {
    const std::optional<analysis::Divergence> d = runner->first_divergence(p);
    std::printf("    %-13s ", std::string(world_pair_name(p)).c_str());
    if (!d) {
      std::printf("none\n");
      continue;
    }
    std::printf("%s (node %s, %s): %s", d->tensor.c_str(), d->node.c_str(), d->op_type.c_str(),
                d->rule.c_str());
    if (p == WorldPair::kArithmetic)
      std::printf(", max %.1f LSB, %.3f%% of elements differ (inputs %.3f%%)\n", d->max_error_lsb,
                  100.0 * d->differing_fraction, 100.0 * d->inherited_fraction);
    else
      std::printf(", error RMS %.3g > tolerance %.3g (own noise %.3g, inherited %.3g)\n",
                  d->error_rms, d->tolerance_rms, d->own_noise_rms, d->inherited_noise_rms);
  }
  std::printf("  %-44s %-18s %-12s %8s %9s %8s\n", "tensor", "op", "quant SQNR", "dB", "arith dB",
              "max LSB");
  for (const analysis::TensorComparison& t : tensors) {
    const double q = t.quantization ? t.quantization->sqnr_db : std::nan("");
    const double a = t.arithmetic ? t.arithmetic->sqnr_db : std::nan("");
    const std::string lsb =
        t.arithmetic && t.arithmetic->max_error_lsb ? fmt_db(*t.arithmetic->max_error_lsb) : "-";
    std::printf("  %-44s %-18s %s %8s %9s %8s\n", clip_name(t.name, 44).c_str(),
                clip_name(t.op_type.empty() ? "(input)" : t.op_type, 18).c_str(), bar(q).c_str(),
                fmt_db(q).c_str(), fmt_db(a).c_str(), lsb.c_str());
  }
  if (!o.json.empty()) {
    nlohmann::ordered_json j;
    j["schema"] = "qdiff.diagnose/1";
    j["model"] = o.model;
    j["target"] = o.target;
    j["quantization"] = plan_source;
    j["analyses"] = {"worlds", "first_divergence"};
    nlohmann::ordered_json w = analysis::worlds_to_json(*runner);
    for (auto& [k, v] : w.items()) j[k] = v;
    std::ofstream out(o.json, std::ios::trunc);
    if (!out) return io_error(o.json + ": cannot write");
    out << j.dump(1) << "\n";
    if (!out) return io_error(o.json + ": write failed");
    std::printf("  json: %s\n", o.json.c_str());
  }
  return Status();
}

}  // namespace

void add_diagnose_command(CLI::App& app, std::function<Status()>& run) {
  auto o = std::make_shared<DiagnoseOptions>();
  CLI::App* cmd = app.add_subcommand(
      "diagnose",
      "Run the float, fake-quant and integer (target) worlds side by side over the samples, "
      "compare every tensor in each pair of worlds and locate where each pair first diverges");
  cmd->add_option("model", o->model, "Float ONNX model (or a quantized model with --quantized)")
      ->required();
  cmd->add_option("--data", o->data,
                  "Samples: a directory of .npy files or of images (with --preprocess), a "
                  "stacked .npy, or NAME=PATH per input")
      ->required();
  cmd->add_option("--preprocess", o->preprocess, "How images become inputs (as in qdiff run)");
  cmd->add_option("--target", o->target,
                  "Target profile of the integer world: ort-cpu, tflite-int8, xnnpack-qs8, "
                  "vitis-dpu, tensorrt-int8, ... or a profile JSON")
      ->default_val("ort-cpu");
  add_quant_side_options(*cmd, o->side);
  cmd->add_option("--samples", o->samples, "At most this many samples (default: all)");
  cmd->add_option("--threads", o->threads, "Threads (results do not depend on it)")->default_val(1);
  cmd->add_option("--json", o->json, "Write the comparison as JSON (schema qdiff.diagnose/1)");
  cmd->callback([o, &run] { run = [o] { return run_diagnose(*o); }; });
}

}  // namespace qdiff::cli
