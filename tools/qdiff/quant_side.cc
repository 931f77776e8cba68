#include "quant_side.h"

#include "quant/calibrate.h"
#include "runtime/samples.h"
#include "tensor/npy.h"

#include <filesystem>

#include "encodings/encodings.h"
#include "qdq/qdq_import.h"

namespace qdiff::cli {
namespace {

// The tensor readers see for an activation imported from a QDQ model: the output of the
// DequantizeLinear after the QuantizeLinear node named in `source` ("qdq:NODE"), looking
// through Casts (torch writes Q -> Cast -> DQ). Empty if there is none.
std::string dequantized_name(const ir::Graph& q, const std::string& source) {
  if (!source.starts_with("qdq:")) return "";
  const std::string node = source.substr(4);
  std::vector<std::vector<size_t>> readers(q.num_values());
  for (size_t i = 0; i < q.num_nodes(); ++i)
    for (ir::ValueId in : q.node(static_cast<ir::NodeId>(i)).inputs)
      if (in != ir::kNoValue) readers[in].push_back(i);
  for (const ir::Node& n : q.nodes()) {
    if (n.name != node || n.outputs.empty()) continue;
    ir::ValueId v = n.outputs[0];
    for (int hops = 0; hops < 4 && v != ir::kNoValue; ++hops) {
      ir::ValueId next = ir::kNoValue;
      for (size_t r : readers[v]) {
        const ir::Node& rn = q.node(static_cast<ir::NodeId>(r));
        if (rn.op_type == "DequantizeLinear") return q.value(rn.outputs[0]).name;
        if (rn.op_type == "Cast") next = rn.outputs[0];
      }
      v = next;
    }
  }
  return "";
}

}  // namespace

void add_quant_side_options(CLI::App& cmd, QuantSideOptions& o) {
  cmd.add_option("--plan", o.plan, "Quantization plan JSON (qdiff calibrate -o)");
  cmd.add_option("--quantized", o.quantized,
                 "Quantized ONNX model (QDQ, QLinear ops, or ConvInteger/MatMulInteger with "
                 "dynamic quantization) of MODEL, or MODEL itself");
  cmd.add_option("--save-plan", o.save_plan,
                 "Write the quantization plan the run uses (after import and mapping) as JSON");
  cmd.add_option("--encodings", o.encodings,
                 "AIMET-style encodings JSON (0.6.1 or 1.0.0) naming the float model's tensors");
}

Result<QuantSide> load_quant_side(const onnx::ImportedModel& float_model,
                                  const QuantSideOptions& o) {
  const int given = !o.plan.empty() + !o.quantized.empty() + !o.encodings.empty();
  if (given != 1) return invalid_argument("give exactly one of --plan, --quantized, --encodings");
  QuantSide side;
  std::string what;
  if (!o.plan.empty()) {
    what = o.plan;
    QDIFF_ASSIGN_OR_RETURN(side.plan, quant::load_plan(o.plan));
  } else if (!o.quantized.empty()) {
    what = o.quantized;
    QDIFF_ASSIGN_OR_RETURN(onnx::ImportedModel qm, onnx::import_model(o.quantized));
    QDIFF_ASSIGN_OR_RETURN(qdq::ImportedQuantModel imported,
                           qdq::import_quantized(qm.graph, o.quantized));
    side.notes = imported.notes;
    std::error_code ec;
    if (std::filesystem::equivalent(o.quantized, float_model.path, ec)) {
      side.plan = imported.plan;
      side.float_graph = std::move(imported.float_graph);
    } else {
      QDIFF_ASSIGN_OR_RETURN(qdq::PlanMapping mapped,
                             qdq::map_plan(imported.plan, imported.float_graph, float_model.graph));
      for (const std::string& note : mapped.notes) side.notes.push_back(note);
      for (const std::string& u : mapped.unmatched)
        side.notes.push_back("not mapped onto " + float_model.path.string() + ": " + u);
      side.plan = std::move(mapped.plan);
    }
    for (const quant::TensorPlan& t : side.plan.tensors)
      if (t.role == quant::Role::kActivation)
        if (std::string ref = dequantized_name(qm.graph, t.source); !ref.empty())
          side.reference_names[t.name] = ref;
  } else if (!o.encodings.empty()) {
    what = o.encodings;
    std::vector<std::string> float_tensors;
    QDIFF_ASSIGN_OR_RETURN(side.plan, encodings::load_encodings(o.encodings, float_model.graph,
                                                                &side.notes, &float_tensors));
  }
  Status s = quant::check_plan(side.plan, side.float_graph ? *side.float_graph : float_model.graph);
  if (!s.ok()) return s.with_context(what + " against " + float_model.path.string());
  if (!o.save_plan.empty()) QDIFF_RETURN_IF_ERROR(quant::save_plan(side.plan, o.save_plan));
  return side;
}

void add_targeted_model_options(CLI::App& cmd, TargetedModelOptions& o) {
  cmd.add_option("model", o.model, "Float ONNX model (or a quantized model with --quantized)")
      ->required();
  cmd.add_option("--data", o.data,
                 "Samples: a directory of .npy files or of images (with --preprocess), a "
                 "stacked .npy, or NAME=PATH per input")
      ->required();
  cmd.add_option("--preprocess", o.preprocess, "How images become inputs (as in qdiff run)");
  cmd.add_option("--target", o.target,
                 "Target profile: ort-cpu, tflite-int8, xnnpack-qs8, vitis-dpu, tensorrt-int8, "
                 "... or a profile JSON")
      ->default_val("ort-cpu");
  add_quant_side_options(cmd, o.side);
}

Result<TargetedModel> load_targeted_model(const TargetedModelOptions& o, int64_t samples,
                                          int threads) {
  TargetedModel t;
  QDIFF_ASSIGN_OR_RETURN(t.model, onnx::import_model(o.model));
  QDIFF_ASSIGN_OR_RETURN(t.profile, targets::load_profile(o.target));
  if (!o.preprocess.empty()) {
    QDIFF_ASSIGN_OR_RETURN(t.preprocess, runtime::parse_preprocess(o.preprocess));
  }
  if (o.side.given()) {
    QDIFF_ASSIGN_OR_RETURN(QuantSide q, load_quant_side(t.model, o.side));
    if (q.float_graph) t.model.graph = std::move(*q.float_graph);
    t.plan = std::move(q.plan);
    t.plan_source = !o.side.plan.empty()        ? o.side.plan
                    : !o.side.quantized.empty() ? o.side.quantized
                                                : o.side.encodings;
    return t;
  }
  quant::CalibrationOptions co;
  co.scheme = t.profile.scheme;
  co.threads = threads;
  co.max_samples = samples;
  QDIFF_ASSIGN_OR_RETURN(runtime::SampleReader cal,
                         runtime::SampleReader::open(t.model.graph, o.data, t.preprocess));
  QDIFF_ASSIGN_OR_RETURN(quant::CalibrationReport report, quant::calibrate(t.model.graph, cal, co));
  t.plan = std::move(report.plan);
  t.plan_source = "minmax calibration of the " + o.target + " scheme on the data";
  return t;
}

Result<std::vector<int64_t>> load_labels(const std::string& path) {
  QDIFF_ASSIGN_OR_RETURN(Tensor labels, read_npy(path));
  if (!dtype_is_integer(labels.dtype()) || labels.rank() != 1)
    return invalid_argument(path + ": expected a 1-D array of integer labels, got " +
                            std::string(dtype_name(labels.dtype())) +
                            shape_to_string(labels.shape()));
  return labels.to_i64_vector();
}

}  // namespace qdiff::cli
