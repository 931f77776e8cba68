// qdiff diagnose MODEL --data D [--target T] [--plan P | --quantized Q | --encodings E]: the float,
// fake-quant and integer worlds of MODEL run side by side over the samples (analysis/worlds.h),
// every tensor compared in each pair of worlds, the first divergence of each pair located, then
// the causes found and their fixes verified on the first samples (analysis/findings.h).
// Exit code 1 when a finding has severity error.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include <unistd.h>

#include "analysis/findings.h"
#include "analysis/worlds.h"
#include "commands.h"
#include "onnx/importer.h"
#include "quant/calibrate.h"
#include "quant_side.h"
#include "report/html.h"
#include "runtime/images.h"
#include "runtime/samples.h"
#include "targets/profile.h"
#include "tensor/npy.h"

namespace qdiff::cli {

namespace {

struct DiagnoseOptions {
  TargetedModelOptions in;
  int64_t samples = -1;
  int64_t verify_samples = 16;
  int64_t candidates = 6;
  int64_t split_points = 9;
  int threads = 1;
  std::string json;
  std::string html;
  std::string device_dump;
  std::string labels;
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
  QDIFF_ASSIGN_OR_RETURN(TargetedModel in, load_targeted_model(o.in, o.samples, o.threads));
  const targets::TargetProfile& profile = in.profile;
  const quant::QuantPlan& plan = in.plan;
  const std::string& plan_source = in.plan_source;
  const auto& preprocess = in.preprocess;
  const onnx::ImportedModel& model = in.model;
  const ir::Graph& g = model.graph;
  analysis::WorldsOptions wo;
  wo.threads = o.threads;
  QDIFF_ASSIGN_OR_RETURN(std::unique_ptr<analysis::WorldRunner> runner,
                         analysis::WorldRunner::create(g, plan, profile, wo));
  if (!o.device_dump.empty()) {
    QDIFF_ASSIGN_OR_RETURN(analysis::DumpReader dump, analysis::DumpReader::open(o.device_dump));
    QDIFF_RETURN_IF_ERROR(runner->attach_device(std::move(dump)));
  }
  if (!o.labels.empty()) {
    QDIFF_ASSIGN_OR_RETURN(std::vector<int64_t> labels, load_labels(o.labels));
    Status s = runner->set_labels(std::move(labels));
    if (!s.ok()) return s.with_context(o.labels);
  }
  QDIFF_ASSIGN_OR_RETURN(runtime::SampleReader reader,
                         runtime::SampleReader::open(g, o.in.data, preprocess));
  std::vector<Tensor> inputs;
  std::vector<std::vector<Tensor>> verify;  // the first samples: the fixes are verified on them
  std::string name;
  const bool progress = isatty(fileno(stderr));
  while (o.samples < 0 || runner->samples() < o.samples) {
    QDIFF_ASSIGN_OR_RETURN(bool more, reader.next(&inputs, &name));
    if (!more) break;
    Status s = runner->run_sample(inputs, name);
    if (!s.ok()) return s.with_context("sample " + name);
    if (static_cast<int64_t>(verify.size()) < o.verify_samples) verify.push_back(inputs);
    if (progress)
      std::fprintf(stderr, "\r  worlds: %lld samples", static_cast<long long>(runner->samples()));
  }
  if (runner->samples() == 0) return invalid_argument("no samples in --data");
  const analysis::DeviceAlignment* alignment = runner->device_alignment();
  if (!o.device_dump.empty()) {
    QDIFF_ASSIGN_OR_RETURN(analysis::DumpReader dump, analysis::DumpReader::open(o.device_dump));
    if (dump.sample_count() != runner->samples())
      return invalid_argument("device dump " + o.device_dump + " holds " +
                              std::to_string(dump.sample_count()) + " samples; " +
                              std::to_string(runner->samples()) +
                              " ran (--data and --samples must give the dump's samples, in "
                              "its order)");
  }
  if (progress)
    std::fprintf(stderr, "\r  finding causes on %zu samples...          ", verify.size());
  analysis::FindingsOptions fo;
  fo.candidates = o.candidates;
  fo.split_points = o.split_points;
  fo.threads = o.threads;
  QDIFF_ASSIGN_OR_RETURN(analysis::Diagnosis dx, analysis::find_causes(*runner, verify, fo));
  if (progress) std::fprintf(stderr, "\r%60s\r", "");

  const std::vector<analysis::TensorComparison> tensors = runner->tensors();
  std::printf("qdiff diagnose: %s, %lld samples, target %s\n  quantization: %s\n",
              o.in.model.c_str(), static_cast<long long>(runner->samples()), o.in.target.c_str(),
              plan_source.c_str());
  if (!runner->integer_world_error().empty())
    std::printf("  integer world: not run (%s): only float and fake-quant are compared\n",
                runner->integer_world_error().c_str());
  using analysis::WorldPair;
  std::vector<WorldPair> pairs = {WorldPair::kQuantization, WorldPair::kArithmetic,
                                  WorldPair::kTotal};
  if (alignment) {
    pairs.push_back(WorldPair::kDevice);
    int64_t by_values = 0;
    for (const auto& m : alignment->matched) by_values += m.how != "name";
    std::printf(
        "  device dump: %s, %zu tensors matched (%lld by values), %zu unmatched, %zu not "
        "compared\n",
        o.device_dump.c_str(), alignment->matched.size(), static_cast<long long>(by_values),
        alignment->unmatched.size(), alignment->not_compared.size());
    for (const auto& m : alignment->matched)
      if (m.how != "name")
        std::printf("    %s -> %s (%s, correlation %.4f, runner-up %.4f%s)\n", m.dump_name.c_str(),
                    m.tensor.c_str(), m.how.c_str(), m.correlation, m.runner_up,
                    m.permuted ? ", NHWC read as NCHW" : "");
    for (const auto& [dump_name, why] : alignment->unmatched)
      std::printf("    %s: unmatched: %s\n", dump_name.c_str(), why.c_str());
  }
  auto pair_metrics = [](const analysis::TensorComparison& t, WorldPair p) { return t.of(p); };
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
  const std::optional<analysis::Accuracy> accuracy = runner->accuracy();
  auto pct = [](int64_t n, int64_t d) {
    return d ? 100.0 * static_cast<double>(n) / static_cast<double>(d) : 0.0;
  };
  if (accuracy) {
    std::printf("  accuracy (top-1 against %s): float %.2f%%, fake-quant %.2f%%", o.labels.c_str(),
                pct(accuracy->float_correct, accuracy->rows),
                pct(accuracy->fake_quant_correct, accuracy->rows));
    if (accuracy->has_integer)
      std::printf(", integer %.2f%%", pct(accuracy->integer_correct, accuracy->rows));
    if (accuracy->has_device)
      std::printf(", device %.2f%%", pct(accuracy->device_correct, accuracy->rows));
    std::printf(" (%lld samples)\n", static_cast<long long>(accuracy->rows));
  }
  int64_t counts[3] = {0, 0, 0};  // error, warning, info
  for (const analysis::Finding& f : dx.findings)
    ++counts[f.severity == "error" ? 0 : f.severity == "warning" ? 1 : 2];
  std::printf("  verdict: %s (%lld error, %lld warning, %lld info findings)\n", dx.verdict.c_str(),
              static_cast<long long>(counts[0]), static_cast<long long>(counts[1]),
              static_cast<long long>(counts[2]));
  if (dx.findings.empty())
    std::printf("  findings: none\n");
  else
    std::printf(
        "  findings (by severity, then by the share of the output error their fix removes):\n");
  for (size_t i = 0; i < dx.findings.size(); ++i) {
    const analysis::Finding& f = dx.findings[i];
    std::printf("  %2zu. %-7s %-18s %s (%s)\n      %s\n      fix: %s\n", i + 1, f.severity.c_str(),
                f.category.c_str(), f.node.empty() ? "graph input" : f.node.c_str(),
                f.tensor.c_str(), f.summary.c_str(), f.fix.c_str());
    if (f.fix_verified)
      std::printf("      verified on %zu samples: %s %s -> %s\n", verify.size(),
                  f.fix_verified->metric.c_str(), fmt_db(f.fix_verified->before).c_str(),
                  fmt_db(f.fix_verified->after).c_str());
  }
  {
    const analysis::SampleMap map = runner->sample_map();
    const auto worst = analysis::worst_samples(map, g, 3);
    if (!worst.empty()) {
      std::printf(
          "  worst samples (%s SQNR at %s):", std::string(world_pair_name(map.pair)).c_str(),
          g.value(g.outputs[0]).name.c_str());
      for (const analysis::WorstSample& w : worst)
        std::printf(" %s %s dB%s", w.sample.c_str(), fmt_db(w.output_sqnr_db).c_str(),
                    &w == &worst.back() ? "\n" : ",");
    }
  }
  if (dx.analyses.contains("split_curves")) {
    const auto& c = dx.analyses["split_curves"];
    std::printf(
        "  split points (output SQNR dB vs float; k of %lld units quantized first / float "
        "first):\n   ",
        static_cast<long long>(c["units"].get<int64_t>()));
    for (size_t i = 0; i < c["forward"].size() && i < c["reverse"].size(); ++i) {
      auto db = [](const nlohmann::ordered_json& v) {
        return v.is_number() ? fmt_db(v.get<double>()) : v.is_string() ? v.get<std::string>() : "-";
      };
      std::printf(" k=%lld %s/%s", static_cast<long long>(c["forward"][i]["k"].get<int64_t>()),
                  db(c["forward"][i]["sqnr_db"]).c_str(), db(c["reverse"][i]["sqnr_db"]).c_str());
    }
    std::printf("\n");
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
    if (p == WorldPair::kArithmetic || p == WorldPair::kDevice)
      std::printf(", max %.1f LSB, %.3f%% of elements differ (inputs %.3f%%)\n", d->max_error_lsb,
                  100.0 * d->differing_fraction, 100.0 * d->inherited_fraction);
    else
      std::printf(", error RMS %.3g > tolerance %.3g (own noise %.3g, inherited %.3g)\n",
                  d->error_rms, d->tolerance_rms, d->own_noise_rms, d->inherited_noise_rms);
  }
  std::printf("  %-44s %-18s %-12s %8s %9s %8s%s\n", "tensor", "op", "quant SQNR", "dB", "arith dB",
              "max LSB", alignment ? " device dB" : "");
  for (const analysis::TensorComparison& t : tensors) {
    const double q = t.quantization ? t.quantization->sqnr_db : std::nan("");
    const double a = t.arithmetic ? t.arithmetic->sqnr_db : std::nan("");
    const std::string lsb =
        t.arithmetic && t.arithmetic->max_error_lsb ? fmt_db(*t.arithmetic->max_error_lsb) : "-";
    char device[16] = "";
    if (alignment)
      std::snprintf(device, sizeof device, " %9s",
                    t.device ? fmt_db(t.device->sqnr_db).c_str() : "-");
    std::printf("  %-44s %-18s %s %8s %9s %8s%s\n", clip_name(t.name, 44).c_str(),
                clip_name(t.op_type.empty() ? "(input)" : t.op_type, 18).c_str(), bar(q).c_str(),
                fmt_db(q).c_str(), fmt_db(a).c_str(), lsb.c_str(), device);
  }
  if (!o.json.empty() || !o.html.empty()) {
    nlohmann::ordered_json j;
    j["schema"] = "qdiff.diagnose/1";
    j["model"] = o.in.model;
    j["target"] = o.in.target;
    j["quantization"] = plan_source;
    nlohmann::ordered_json analyses = nlohmann::ordered_json::array();
    for (const char* a :
         {"worlds", "first_divergence", "local_error", "sensitivity", "fix_verification",
          "mechanism_differential", "split_curves", "sample_map"})
      analyses.push_back(a);
    j["analyses"] = std::move(analyses);
    nlohmann::ordered_json w = analysis::worlds_to_json(*runner);
    nlohmann::ordered_json summary;
    summary["verdict"] = dx.verdict;
    nlohmann::ordered_json outs = nlohmann::ordered_json::array();
    for (ir::ValueId out : g.outputs)
      for (const analysis::TensorComparison& t : tensors)
        if (t.value == out) {
          nlohmann::ordered_json oj;
          oj["tensor"] = t.name;
          oj["quantization"] = t.quantization ? analysis::to_json(*t.quantization) : nullptr;
          oj["arithmetic"] = t.arithmetic ? analysis::to_json(*t.arithmetic) : nullptr;
          oj["total"] = t.total ? analysis::to_json(*t.total) : nullptr;
          if (alignment) oj["device"] = t.device ? analysis::to_json(*t.device) : nullptr;
          outs.push_back(std::move(oj));
        }
    summary["outputs"] = std::move(outs);
    if (accuracy) {
      nlohmann::ordered_json aj;
      aj["samples"] = accuracy->rows;
      aj["float"] = pct(accuracy->float_correct, accuracy->rows) / 100.0;
      aj["fake-quant"] = pct(accuracy->fake_quant_correct, accuracy->rows) / 100.0;
      if (accuracy->has_integer)
        aj["integer"] = pct(accuracy->integer_correct, accuracy->rows) / 100.0;
      if (accuracy->has_device)
        aj["device"] = pct(accuracy->device_correct, accuracy->rows) / 100.0;
      summary["accuracy"] = std::move(aj);
    }
    nlohmann::ordered_json count_json;
    count_json["error"] = counts[0];
    count_json["warning"] = counts[1];
    count_json["info"] = counts[2];
    summary["findings"] = std::move(count_json);
    j["samples"] = w["samples"];
    j["summary"] = std::move(summary);
    nlohmann::ordered_json fl = nlohmann::ordered_json::array();
    for (size_t i = 0; i < dx.findings.size(); ++i) {
      nlohmann::ordered_json fj;
      fj["rank"] = static_cast<int64_t>(i + 1);
      const nlohmann::ordered_json body = analysis::to_json(dx.findings[i]);
      for (auto it = body.begin(); it != body.end(); ++it) fj[it.key()] = it.value();
      fl.push_back(std::move(fj));
    }
    j["findings"] = std::move(fl);
    j["first_divergence"] = w["first_divergence"];
    if (w.contains("device_alignment")) j["device_alignment"] = w["device_alignment"];
    j["tensors"] = w["tensors"];
    j["sample_map"] = w["sample_map"];
    if (dx.analyses.contains("split_curves")) j["split_curves"] = dx.analyses["split_curves"];
    j["evidence"] = dx.analyses;
    auto write = [](const std::string& path, const std::string& text) -> Status {
      std::ofstream out(path, std::ios::trunc | std::ios::binary);
      if (!out) return io_error(path + ": cannot write");
      out << text;
      if (!out) return io_error(path + ": write failed");
      return Status();
    };
    if (!o.json.empty()) {
      QDIFF_RETURN_IF_ERROR(write(o.json, j.dump(1) + "\n"));
      std::printf("  json: %s\n", o.json.c_str());
    }
    if (!o.html.empty()) {
      QDIFF_ASSIGN_OR_RETURN(std::string page, report::diagnose_html(j));
      QDIFF_RETURN_IF_ERROR(write(o.html, page));
      std::printf("  html: %s\n", o.html.c_str());
    }
  }
  if (counts[0] > 0)
    return goal_failed("diagnose: " + std::to_string(counts[0]) + " finding(s) of severity error");
  return Status();
}

}  // namespace

void add_diagnose_command(CLI::App& app, std::function<Status()>& run) {
  auto o = std::make_shared<DiagnoseOptions>();
  CLI::App* cmd = app.add_subcommand(
      "diagnose",
      "Run the float, fake-quant and integer (target) worlds side by side over the samples, "
      "compare every tensor in each pair of worlds, locate where each pair first diverges, and "
      "find the causes with fixes verified by re-running (exit 1 on an error finding)");
  add_targeted_model_options(*cmd, o->in);
  cmd->add_option("--samples", o->samples, "At most this many samples (default: all)");
  cmd->add_option("--device-dump", o->device_dump,
                  "A device's tensor dump (docs/dump-format.md) of the same samples: a fourth "
                  "world, compared with the integer emulation of --target");
  cmd->add_option("--labels", o->labels,
                  "Integer class labels (.npy, one per sample): top-1 accuracy of every world");
  cmd->add_option("--verify-samples", o->verify_samples,
                  "Verify fixes on the first N samples (held in memory)")
      ->default_val(16)
      ->check(CLI::Range(int64_t{1}, int64_t{100000}));
  cmd->add_option("--candidates", o->candidates,
                  "Units examined for a quantization cause (by their local error)")
      ->default_val(6)
      ->check(CLI::Range(int64_t{0}, int64_t{100000}));
  cmd->add_option("--split-points", o->split_points,
                  "Points of each split-point curve (0: no curves)")
      ->default_val(9)
      ->check(CLI::Range(int64_t{0}, int64_t{1000}));
  cmd->add_option("--threads", o->threads, "Threads (results do not depend on it)")->default_val(1);
  cmd->add_option("--json", o->json, "Write the report as JSON (schema qdiff.diagnose/1)");
  cmd->add_option("--html", o->html, "Write the report as one self-contained HTML page");
  cmd->callback([o, &run] { run = [o] { return run_diagnose(*o); }; });
}

}  // namespace qdiff::cli
