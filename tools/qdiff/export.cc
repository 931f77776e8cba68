// qdiff export FLOAT.onnx --plan plan.json -o Q.onnx: the plan as a QDQ model ONNX Runtime runs.
#include <cstdio>

#include <fstream>

#include "commands.h"
#include "encodings/encodings.h"
#include "export/qdq_export.h"
#include "onnx/importer.h"
#include "quant/plan.h"

namespace qdiff::cli {
namespace {

struct ExportCommandOptions {
  std::string model;
  std::string plan;
  std::string output;
  std::string encodings_out;
  std::string encodings_version = "1.0.0";
  bool contrib_ops = false;
};

Status run_export(const ExportCommandOptions& o) {
  QDIFF_ASSIGN_OR_RETURN(onnx::ImportedModel model, onnx::import_model(o.model));
  QDIFF_ASSIGN_OR_RETURN(quant::QuantPlan plan, quant::load_plan(o.plan));
  Status s = quant::check_plan(plan, model.graph);
  if (!s.ok()) return s.with_context(o.plan + " against " + o.model);
  if (o.output.empty() && o.encodings_out.empty())
    return invalid_argument("give -o Q.onnx and/or --encodings-out E.json");
  size_t acts = 0, consts = 0;
  for (const quant::TensorPlan& t : plan.tensors)
    (t.role == quant::Role::kActivation ? acts : consts)++;
  if (!o.output.empty()) {
    exporter::ExportOptions eo;
    if (o.contrib_ops) eo.opset_policy = exporter::OpsetPolicy::kContribOps;
    QDIFF_RETURN_IF_ERROR(exporter::export_qdq(o.model, plan, o.output, eo));
    std::printf("qdiff export: %s -> %s (QDQ: %zu activations, %zu weights and biases)\n",
                o.plan.c_str(), o.output.c_str(), acts, consts);
  }
  if (!o.encodings_out.empty()) {
    encodings::EncodingsVersion v;
    if (o.encodings_version == "1.0.0")
      v = encodings::EncodingsVersion::k1_0_0;
    else if (o.encodings_version == "0.6.1")
      v = encodings::EncodingsVersion::k0_6_1;
    else
      return invalid_argument("--encodings-version must be 1.0.0 or 0.6.1");
    QDIFF_ASSIGN_OR_RETURN(std::string text, encodings::export_encodings(plan, model.graph, v));
    std::ofstream out(o.encodings_out, std::ios::binary);
    out << text;
    out.close();
    if (!out) return Status(ErrorCode::kIo, o.encodings_out + ": cannot write");
    std::printf("qdiff export: %s -> %s (encodings %s)\n", o.plan.c_str(), o.encodings_out.c_str(),
                o.encodings_version.c_str());
  }
  return Status();
}

}  // namespace

void add_export_command(CLI::App& app, std::function<Status()>& run) {
  auto o = std::make_shared<ExportCommandOptions>();
  CLI::App* cmd = app.add_subcommand(
      "export",
      "Write a quantization plan as a QDQ ONNX model (ONNX Runtime's quantizer format) and/or "
      "an encodings JSON");
  cmd->add_option("model", o->model, "Float ONNX model the plan was made for")->required();
  cmd->add_option("--plan", o->plan, "Quantization plan JSON")->required();
  cmd->add_option("-o,--output", o->output, "QDQ ONNX model to write");
  cmd->add_option("--encodings-out", o->encodings_out, "Encodings JSON to write");
  cmd->add_option("--encodings-version", o->encodings_version, "1.0.0 or 0.6.1")
      ->default_val("1.0.0");
  cmd->add_flag("--contrib-ops", o->contrib_ops,
                "Keep the model's opset and write com.microsoft Q/DQ nodes (ORT only) instead of "
                "upgrading models below opset 13 that need per-channel parameters");
  cmd->callback([o, &run] { run = [o] { return run_export(*o); }; });
}

}  // namespace qdiff::cli
