// qdiff inspect MODEL: what the model is made of, and what will be hard to quantize.
#include <cinttypes>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "onnx/importer.h"
#include "runtime/model_info.h"

namespace qdiff::cli {
namespace {

struct InspectOptions {
  std::string model;
  std::vector<std::string> input_shapes;
  std::string json_path;
  bool all_weights = false;
  bool layers = false;
};

std::string human(double v) {
  char buf[32];
  if (v >= 1e9)
    std::snprintf(buf, sizeof buf, "%.2fG", v / 1e9);
  else if (v >= 1e6)
    std::snprintf(buf, sizeof buf, "%.2fM", v / 1e6);
  else if (v >= 1e3)
    std::snprintf(buf, sizeof buf, "%.1fk", v / 1e3);
  else
    std::snprintf(buf, sizeof buf, "%.0f", v);
  return buf;
}

Status write_json(const std::string& path, const onnx::ImportedModel& model,
                  const runtime::ModelInfo& info) {
  nlohmann::ordered_json j;
  j["schema"] = "qdiff.inspect/1";
  j["model"] = model.path.string();
  j["producer"] = model.producer;
  j["ir_version"] = model.ir_version;
  j["opsets"] = model.graph.opsets;
  j["notes"] = model.notes;
  j["op_counts"] = info.op_counts;
  j["unsupported"] = info.unsupported;
  j["parameters"] = info.parameters;
  j["parameter_bytes"] = info.parameter_bytes;
  j["shapes_known"] = info.shapes_known;
  if (!info.dry_run_error.empty()) j["shapes_error"] = info.dry_run_error;
  j["macs"] = info.total_macs;
  auto& nodes = j["nodes"] = nlohmann::ordered_json::array();
  for (const auto& n : info.nodes)
    nodes.push_back(
        {{"name", n.name}, {"op", n.op}, {"output_shapes", n.output_shapes}, {"macs", n.macs}});
  auto& w = j["weight_ranges"] = nlohmann::ordered_json::array();
  for (const auto& r : info.weight_ranges)
    w.push_back({{"node", r.node},
                 {"op", r.op},
                 {"weight_shape", r.weight_shape},
                 {"channels", r.channels},
                 {"min_channel_absmax", r.min_channel_absmax},
                 {"max_channel_absmax", r.max_channel_absmax},
                 {"dead_channels", r.dead_channels},
                 {"ratio", r.ratio}});
  std::ofstream out(path);
  out << j.dump(1) << "\n";
  if (!out) return io_error(path + ": cannot write");
  return Status();
}

Status run_inspect(const InspectOptions& o) {
  QDIFF_ASSIGN_OR_RETURN(onnx::ImportedModel model, onnx::import_model(o.model));
  std::map<std::string, Shape> shapes;
  for (const std::string& spec : o.input_shapes) {
    std::string name;
    Shape shape;
    QDIFF_RETURN_IF_ERROR(parse_input_shape(spec, &name, &shape));
    if (!model.graph.find_value(name))
      return invalid_argument("--input-shape: no input '" + name + "'");
    shapes[name] = shape;
  }
  const ir::Graph& g = model.graph;
  const runtime::ModelInfo info = runtime::inspect_graph(g, shapes);

  std::printf("model      %s\n", o.model.c_str());
  std::printf("producer   %s, IR version %" PRId64 ", opsets:", model.producer.c_str(),
              model.ir_version);
  for (const auto& [domain, v] : g.opsets)
    std::printf(" %s%" PRId64, domain.empty() ? "ai.onnx " : (domain + " ").c_str(), v);
  std::printf("\n");
  for (ir::ValueId id : g.inputs)
    std::printf("input      %s %s\n", g.value(id).name.c_str(),
                g.value(id).type.to_string().c_str());
  for (ir::ValueId id : g.outputs)
    std::printf("output     %s %s\n", g.value(id).name.c_str(),
                g.value(id).type.to_string().c_str());
  std::printf("nodes      %zu, parameters %s (%s bytes)\n", g.num_nodes(),
              human(static_cast<double>(info.parameters)).c_str(),
              human(static_cast<double>(info.parameter_bytes)).c_str());
  if (info.shapes_known)
    std::printf("compute    %s MACs (%s FLOPs) in Conv/ConvTranspose/Gemm/MatMul\n",
                human(static_cast<double>(info.total_macs)).c_str(),
                human(2.0 * static_cast<double>(info.total_macs)).c_str());
  else
    std::printf("compute    unknown: %s\n", info.dry_run_error.c_str());
  for (const std::string& note : model.notes) std::printf("note       %s\n", note.c_str());

  std::printf("\nops\n");
  std::vector<std::pair<std::string, int>> ops(info.op_counts.begin(), info.op_counts.end());
  std::stable_sort(ops.begin(), ops.end(), [](auto& a, auto& b) { return a.second > b.second; });
  for (const auto& [op, n] : ops) std::printf("  %-28s %5d\n", op.c_str(), n);
  if (!info.unsupported.empty()) {
    std::printf("\nunsupported ops (no kernel in qdiff; `qdiff run` will refuse the model)\n");
    for (const auto& line : info.unsupported) std::printf("  %s\n", line.c_str());
  }

  if (o.layers) {
    std::printf("\nlayers (output shapes and MACs from a dry run on zeros)\n");
    for (const auto& n : info.nodes) {
      std::string out_shapes;
      for (const auto& sh : n.output_shapes)
        out_shapes += (out_shapes.empty() ? "" : " ") + shape_to_string(sh);
      std::printf("  %-40s %-20s %-24s %s\n", n.name.c_str(), n.op.c_str(),
                  out_shapes.empty() ? "?" : out_shapes.c_str(),
                  n.macs ? (human(static_cast<double>(n.macs)) + " MACs").c_str() : "");
    }
  }
  if (!info.weight_ranges.empty()) {
    std::printf(
        "\nper-channel weight range (max|w| per output channel; ratio = widest / "
        "narrowest; a per-tensor scale gives the narrowest channel 1/ratio of the "
        "levels)\n");
    std::printf("  %-40s %-14s %-18s %6s %10s %10s %8s\n", "node", "op", "weight", "chan", "min",
                "max", "ratio");
    std::vector<const runtime::WeightRange*> rows;
    for (const auto& r : info.weight_ranges) rows.push_back(&r);
    size_t limit = rows.size();
    if (!o.all_weights && rows.size() > 25) {
      std::stable_sort(rows.begin(), rows.end(),
                       [](auto* a, auto* b) { return a->ratio > b->ratio; });
      limit = 25;
    }
    for (size_t i = 0; i < limit; ++i) {
      const auto& r = *rows[i];
      std::string dead = r.dead_channels ? " (" + std::to_string(r.dead_channels) + " dead)" : "";
      std::printf("  %-40s %-14s %-18s %6" PRId64 " %10.4g %10.4g %8.1f%s\n", r.node.c_str(),
                  r.op.c_str(), shape_to_string(r.weight_shape).c_str(), r.channels,
                  r.min_channel_absmax, r.max_channel_absmax, r.ratio, dead.c_str());
    }
    if (limit < rows.size())
      std::printf(
          "  ... %zu more (the 25 largest ratios are shown; --all-weights lists every "
          "layer in graph order)\n",
          rows.size() - limit);
  }
  if (!o.json_path.empty()) QDIFF_RETURN_IF_ERROR(write_json(o.json_path, model, info));
  return Status();
}

}  // namespace

Status parse_input_shape(const std::string& spec, std::string* name, std::vector<int64_t>* shape) {
  const auto eq = spec.rfind('=');
  if (eq == std::string::npos || eq == 0)
    return invalid_argument("--input-shape '" + spec + "': expected NAME=D1,D2,...");
  *name = spec.substr(0, eq);
  shape->clear();
  std::string dims = spec.substr(eq + 1);
  size_t pos = 0;
  while (pos <= dims.size()) {
    const size_t comma = dims.find(',', pos);
    const std::string d =
        dims.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    char* end = nullptr;
    const long long v = std::strtoll(d.c_str(), &end, 10);
    if (d.empty() || *end != '\0' || v < 0)
      return invalid_argument("--input-shape '" + spec + "': bad dimension '" + d + "'");
    shape->push_back(v);
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  return Status();
}

void add_inspect_command(CLI::App& app, std::function<Status()>& run) {
  auto o = std::make_shared<InspectOptions>();
  CLI::App* cmd =
      app.add_subcommand("inspect",
                         "Ops and counts, shapes, parameters, MACs, unsupported ops, and the "
                         "per-channel weight range ratio of every Conv/Gemm/MatMul.");
  cmd->add_option("model", o->model, "ONNX model file")->required();
  cmd->add_option("--input-shape", o->input_shapes,
                  "Shape for an input with unknown dims, NAME=D1,D2,... (repeatable)");
  cmd->add_option("--json", o->json_path, "Also write the report as JSON to this file");
  cmd->add_flag("--all-weights", o->all_weights, "List the weight range of every layer");
  cmd->add_flag("--layers", o->layers, "List every node with its output shapes and MACs");
  cmd->callback([o, &run] { run = [o] { return run_inspect(*o); }; });
}

}  // namespace qdiff::cli
