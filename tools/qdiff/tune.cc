// qdiff tune MODEL --data D --target T --goal G -o plan.json: the smallest set of units to
// raise (int16, else float) for the target's deployed model to meet the goal (analysis/tune.h);
// exit 1 when even raising every unit does not meet it (the best plan found is still written).
#include <cstdio>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "analysis/tune.h"
#include "commands.h"
#include "encodings/encodings.h"
#include "export/qdq_export.h"
#include "onnx/importer.h"
#include "quant_side.h"
#include "runtime/images.h"
#include "runtime/samples.h"
#include "targets/profile.h"
#include "tensor/npy.h"

namespace qdiff::cli {

namespace {

struct TuneOptions {
  TargetedModelOptions in;
  std::string goal;
  std::string output;
  std::string labels;
  std::string export_qdq;
  std::string encodings_out;
  int64_t samples = 64;
  int threads = 1;
};

Status run_tune(const TuneOptions& o) {
  QDIFF_ASSIGN_OR_RETURN(analysis::Goal goal, analysis::parse_goal(o.goal));
  QDIFF_ASSIGN_OR_RETURN(TargetedModel t, load_targeted_model(o.in, o.samples, o.threads));
  const ir::Graph& g = t.model.graph;
  // The samples, held in memory: every candidate plan runs over all of them.
  QDIFF_ASSIGN_OR_RETURN(runtime::SampleReader reader,
                         runtime::SampleReader::open(g, o.in.data, t.preprocess));
  std::vector<std::vector<Tensor>> samples;
  std::vector<Tensor> inputs;
  std::string name;
  while (static_cast<int64_t>(samples.size()) < o.samples) {
    QDIFF_ASSIGN_OR_RETURN(bool more, reader.next(&inputs, &name));
    if (!more) break;
    samples.push_back(inputs);
  }
  if (samples.empty()) return invalid_argument("no samples in --data");
  std::vector<int64_t> labels;
  if (!o.labels.empty()) {
    QDIFF_ASSIGN_OR_RETURN(labels, load_labels(o.labels));
    if (labels.size() < samples.size())
      return invalid_argument(o.labels + ": " + std::to_string(labels.size()) + " labels for " +
                              std::to_string(samples.size()) + " samples");
  }
  std::printf("qdiff tune: %s, %zu samples, target %s, goal %s\n  quantization: %s\n",
              o.in.model.c_str(), samples.size(), o.in.target.c_str(), goal.text.c_str(),
              t.plan_source.c_str());
  std::fflush(stdout);
  QDIFF_ASSIGN_OR_RETURN(analysis::TuneResult r,
                         analysis::tune(g, t.plan, t.profile, samples, labels, goal, o.threads));
  std::printf("  measured in the %s world; before: %.6g\n", r.world.c_str(), r.before);
  if (!r.sensitivity.empty()) {
    std::printf("  sensitivity (the goal's metric with one unit raised, best first):\n");
    for (size_t i = 0; i < r.sensitivity.size() && i < 8; ++i)
      std::printf("    %-40s %-6s %.6g\n", r.sensitivity[i].unit.c_str(),
                  std::string(quant::precision_name(r.sensitivity[i].precision)).c_str(),
                  r.sensitivity[i].metric);
  }
  std::printf("  %s: %s %.6g with %zu unit%s raised (%lld runs)\n",
              r.met ? "goal met" : "goal NOT met", goal.text.c_str(), r.after, r.raised.size(),
              r.raised.size() == 1 ? "" : "s", static_cast<long long>(r.runs));
  for (const auto& u : r.raised)
    std::printf("    %s -> %s\n", u.unit.c_str(),
                std::string(quant::precision_name(u.precision)).c_str());
  r.plan.origin = "qdiff tune (" + goal.text + ") of " + t.plan_source;
  QDIFF_RETURN_IF_ERROR(quant::save_plan(r.plan, o.output));
  std::printf("  plan: %s\n", o.output.c_str());
  if (!o.export_qdq.empty()) {
    QDIFF_RETURN_IF_ERROR(exporter::export_qdq(o.in.model, r.plan, o.export_qdq, {}));
    std::printf("  qdq model: %s\n", o.export_qdq.c_str());
  }
  if (!o.encodings_out.empty()) {
    QDIFF_ASSIGN_OR_RETURN(std::string text, encodings::export_encodings(
                                                 r.plan, g, encodings::EncodingsVersion::k1_0_0));
    std::ofstream out(o.encodings_out, std::ios::binary);
    out << text;
    if (!out) return io_error(o.encodings_out + ": cannot write");
    std::printf("  encodings: %s\n", o.encodings_out.c_str());
  }
  if (!r.met)
    return goal_failed("tune: the goal " + goal.text + " is not met even with every unit raised");
  return Status();
}

}  // namespace

void add_tune_command(CLI::App& app, std::function<Status()>& run) {
  auto o = std::make_shared<TuneOptions>();
  CLI::App* cmd = app.add_subcommand(
      "tune",
      "Find the smallest set of units to raise (int16, else float) so that the target's "
      "deployed model meets a goal; writes the plan (exit 1 when the goal cannot be met)");
  add_targeted_model_options(*cmd, o->in);
  cmd->add_option("--goal", o->goal,
                  "cosine>=X, sqnr>=DB, top1-agreement>=PCT, or top1-drop<=PCT (with --labels)")
      ->required();
  cmd->add_option("-o,--output", o->output, "Write the tuned plan here")->required();
  cmd->add_option("--labels", o->labels, "Integer class labels (.npy, one per sample)");
  cmd->add_option("--export", o->export_qdq, "Also export the tuned plan as a QDQ model");
  cmd->add_option("--encodings-out", o->encodings_out, "Also write it as an encodings JSON");
  cmd->add_option("--samples", o->samples, "Samples held in memory and measured")
      ->default_val(64)
      ->check(CLI::Range(int64_t{1}, int64_t{100000}));
  cmd->add_option("--threads", o->threads, "Threads (results do not depend on it)")->default_val(1);
  cmd->callback([o, &run] { run = [o] { return run_tune(*o); }; });
}

}  // namespace qdiff::cli
