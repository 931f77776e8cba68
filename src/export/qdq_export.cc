#include "export/qdq_export.h"

#include <onnx/checker.h>
#include <onnx/onnx_pb.h>
#include <onnx/shape_inference/implementation.h>
#include <onnx/version_converter/convert.h>

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

#include <bit>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <vector>

#include "onnx/tensor_proto.h"

namespace qdiff::exporter {
namespace {

namespace fs = std::filesystem;
using quant::Role;
using quant::TensorPlan;

static_assert(std::endian::native == std::endian::little, "raw_data is written little endian");

// Newest opset / IR version Debian's libonnx has schemas for (as in the importer).
constexpr int64_t kLibOnnxMaxOpset = 17;
constexpr int64_t kLibOnnxMaxIrVersion = 8;
constexpr char kMsDomain[] = "com.microsoft";
constexpr int64_t kPerAxisOpset = 13;   // per-axis QuantizeLinear/DequantizeLinear
constexpr int64_t kQdqOpset = 10;       // QuantizeLinear/DequantizeLinear
constexpr int64_t kInt16QdqOpset = 21;  // 16-bit Q/DQ in the default domain

bool is_default_domain(const std::string& d) {
  return d.empty() || d == "ai.onnx";
}

int64_t default_opset(const ::onnx::ModelProto& m) {
  for (const auto& op : m.opset_import())
    if (is_default_domain(op.domain())) return op.version();
  return 0;
}

// The integer type a tensor of `p` is stored in.
DType storage_type(const QuantParams& p) {
  if (p.bits <= 8) return p.is_signed ? DType::kInt8 : DType::kUInt8;
  if (p.bits <= 16) return p.is_signed ? DType::kInt16 : DType::kUInt16;
  return DType::kInt32;
}

// Appends `v` as a little-endian integer of `t`.
void append_int(std::string* raw, DType t, int32_t v) {
  switch (t) {
    case DType::kInt8: {
      const auto x = static_cast<int8_t>(v);
      raw->append(reinterpret_cast<const char*>(&x), sizeof(x));
      break;
    }
    case DType::kUInt8: {
      const auto x = static_cast<uint8_t>(v);
      raw->append(reinterpret_cast<const char*>(&x), sizeof(x));
      break;
    }
    case DType::kInt16: {
      const auto x = static_cast<int16_t>(v);
      raw->append(reinterpret_cast<const char*>(&x), sizeof(x));
      break;
    }
    case DType::kUInt16: {
      const auto x = static_cast<uint16_t>(v);
      raw->append(reinterpret_cast<const char*>(&x), sizeof(x));
      break;
    }
    case DType::kInt32:
      raw->append(reinterpret_cast<const char*>(&v), sizeof(v));
      break;
    default:
      QDIFF_ASSERT(false, "append_int: not an integer storage type");
  }
}

::onnx::TensorProto make_tensor(const std::string& name, DType t, const Shape& dims,
                                std::string raw) {
  ::onnx::TensorProto tp;
  tp.set_name(name);
  tp.set_data_type(static_cast<int32_t>(t));
  for (int64_t d : dims) tp.add_dims(d);
  tp.set_raw_data(std::move(raw));
  return tp;
}

// Scale (float32) and zero point initializers: scalars per tensor, 1-D per channel.
void add_params(const QuantParams& p, const std::string& scale_name, const std::string& zp_name,
                std::vector<::onnx::TensorProto>* inits) {
  const Shape dims = p.per_channel() ? Shape{static_cast<int64_t>(p.scales.size())} : Shape{};
  std::string scales(reinterpret_cast<const char*>(p.scales.data()),
                     p.scales.size() * sizeof(float));
  inits->push_back(make_tensor(scale_name, DType::kFloat32, dims, std::move(scales)));
  std::string zps;
  const DType zt = storage_type(p);
  for (int32_t z : p.zero_points) append_int(&zps, zt, z);
  inits->push_back(make_tensor(zp_name, zt, dims, std::move(zps)));
}

// Every name the graph uses (values and nodes), subgraphs included, so new names never clash.
void collect_names(const ::onnx::GraphProto& g, std::set<std::string>* names) {
  for (const auto& v : g.input()) names->insert(v.name());
  for (const auto& v : g.output()) names->insert(v.name());
  for (const auto& v : g.value_info()) names->insert(v.name());
  for (const auto& t : g.initializer()) names->insert(t.name());
  for (const auto& n : g.node()) {
    names->insert(n.name());
    for (const auto& s : n.input()) names->insert(s);
    for (const auto& s : n.output()) names->insert(s);
    for (const auto& a : n.attribute()) {
      if (a.has_g()) collect_names(a.g(), names);
      for (const auto& sg : a.graphs()) collect_names(sg, names);
    }
  }
}

struct NameTable {
  std::set<std::string> used;
  std::string fresh(const std::string& want) {
    std::string name = want;
    for (int i = 1; used.count(name); ++i) name = want + "_" + std::to_string(i);
    used.insert(name);
    return name;
  }
};

// Renames node inputs per `renames`, in subgraphs too (outer-scope reads). A subgraph that
// defines a name of its own shadowing a renamed one is not told apart (rare; documented).
void rename_inputs(::onnx::GraphProto* g, const std::map<std::string, std::string>& renames) {
  for (auto& n : *g->mutable_node()) {
    for (auto& s : *n.mutable_input()) {
      auto it = renames.find(s);
      if (it != renames.end()) s = it->second;
    }
    for (auto& a : *n.mutable_attribute()) {
      if (a.has_g()) rename_inputs(a.mutable_g(), renames);
      for (auto& sg : *a.mutable_graphs()) rename_inputs(&sg, renames);
    }
  }
}

::onnx::NodeProto make_qdq_node(const char* op, const std::string& name, const std::string& in,
                                const std::string& scale, const std::string& zp,
                                const std::string& out, const QuantParams& p,
                                const std::string& domain) {
  ::onnx::NodeProto n;
  n.set_op_type(op);
  n.set_name(name);
  n.add_input(in);
  n.add_input(scale);
  n.add_input(zp);
  n.add_output(out);
  if (!domain.empty()) n.set_domain(domain);
  if (p.per_channel()) {
    auto* a = n.add_attribute();
    a->set_name("axis");
    a->set_type(::onnx::AttributeProto::INT);
    a->set_i(p.axis);
  }
  return n;
}

// Replaces external data by raw_data so the exported file stands alone.
Status inline_external_data(::onnx::GraphProto* g, const fs::path& base_dir) {
  for (auto& t : *g->mutable_initializer()) {
    if (t.data_location() != ::onnx::TensorProto::EXTERNAL) continue;
    QDIFF_ASSIGN_OR_RETURN(Tensor value, onnx::tensor_from_proto(t, base_dir, false));
    t.clear_external_data();
    t.set_data_location(::onnx::TensorProto::DEFAULT);
    t.set_raw_data(std::string(reinterpret_cast<const char*>(value.raw()), value.nbytes()));
  }
  return Status::ok_status();
}

// Element types (ONNX TensorProto codes) of the graph's values: declared ones, and what libonnx's
// shape inference adds where it knows the opset.
std::map<std::string, int32_t> value_types(const ::onnx::ModelProto& model) {
  std::map<std::string, int32_t> types;
  auto take = [&](const ::onnx::GraphProto& g) {
    for (const auto* list : {&g.input(), &g.output(), &g.value_info()})
      for (const auto& v : *list)
        if (v.type().has_tensor_type() && v.type().tensor_type().elem_type() != 0)
          types[v.name()] = v.type().tensor_type().elem_type();
  };
  take(model.graph());
  if (default_opset(model) <= kLibOnnxMaxOpset && model.ir_version() <= kLibOnnxMaxIrVersion) {
    ::onnx::ModelProto copy;
    *copy.mutable_opset_import() = model.opset_import();
    copy.set_ir_version(model.ir_version());
    *copy.mutable_graph() = model.graph();
    try {
      ::onnx::ShapeInferenceOptions si{false, 0, false};
      ::onnx::shape_inference::InferShapes(copy, ::onnx::OpSchemaRegistry::Instance(), si);
      take(copy.graph());
    } catch (const std::exception&) {
      // Types stay the declared ones; the checks below accept unknown types.
    }
  }
  return types;
}

// Reads the float value of a weight/bias (initializer or Constant `value`).
Result<Tensor> read_float(const ::onnx::TensorProto& tp, const fs::path& base_dir,
                          const std::string& where) {
  if (tp.data_type() != ::onnx::TensorProto::FLOAT)
    return invalid_argument(where +
                            ": only float32 tensors can be quantized, this one has ONNX "
                            "data type " +
                            std::to_string(tp.data_type()));
  auto t = onnx::tensor_from_proto(tp, base_dir, false);
  if (!t.ok()) return invalid_model(where + ": " + t.status().message());
  return std::move(t).value();
}

struct Entry {
  const TensorPlan* plan = nullptr;
  Tensor value;               // weights and biases: the float tensor
  int constant_node = -1;     // weights and biases from a Constant node: its index
  bool graph_input = false;   // activations
  bool graph_output = false;  // activations
};

Result<std::string> export_impl(::onnx::ModelProto model, const fs::path& base_dir,
                                const std::string& display, const quant::QuantPlan& plan,
                                const ExportOptions& options) {
  auto* g = model.mutable_graph();
  QDIFF_RETURN_IF_ERROR(inline_external_data(g, base_dir).with_context(display));

  // Opset: what the plan needs, and what the policy does about it.
  bool any_per_channel = false, any_16bit = false;
  for (const TensorPlan& t : plan.tensors) {
    any_per_channel = any_per_channel || t.params.per_channel();
    any_16bit = any_16bit || (t.role != Role::kBias && t.params.bits > 8);
  }
  int64_t opset = default_opset(model);
  if (opset == 0) return invalid_model(display + ": the model imports no default-domain opset");
  const bool upgrade = options.opset_policy == OpsetPolicy::kUpgrade &&
                       (opset < kQdqOpset || (opset < kPerAxisOpset && any_per_channel));
  if (upgrade) {
    try {
      model = ::onnx::version_conversion::ConvertVersion(model, static_cast<int>(kPerAxisOpset));
    } catch (const std::exception& e) {
      std::string what = e.what();
      if (auto nl = what.find('\n'); nl != std::string::npos) what.resize(nl);
      return unsupported(display + ": opset " + std::to_string(opset) +
                         " is too old for per-channel QDQ (needs 13) and libonnx's version "
                         "converter cannot upgrade it (" +
                         what + "); export with OpsetPolicy::kContribOps instead");
    }
    g = model.mutable_graph();
    opset = kPerAxisOpset;
    if (model.ir_version() < 7) model.set_ir_version(7);  // IR 7 goes with opset 13
  }
  const bool ms_domain =
      options.opset_policy == OpsetPolicy::kContribOps || (any_16bit && opset < kInt16QdqOpset);
  const std::string qdq_domain = ms_domain ? kMsDomain : "";

  // What the graph holds.
  std::map<std::string, int> initializer_index;
  for (int i = 0; i < g->initializer_size(); ++i) initializer_index[g->initializer(i).name()] = i;
  std::set<std::string> graph_inputs, graph_outputs;
  for (const auto& v : g->input()) graph_inputs.insert(v.name());
  for (const auto& v : g->output()) graph_outputs.insert(v.name());
  std::map<std::string, int> producer;  // node output -> node index
  for (int i = 0; i < g->node_size(); ++i)
    for (const auto& o : g->node(i).output())
      if (!o.empty()) producer[o] = i;
  const std::map<std::string, int32_t> types = value_types(model);

  // Check every plan entry and gather what the rewrite needs.
  std::vector<Entry> entries;
  std::set<std::string> seen;
  for (const TensorPlan& t : plan.tensors) {
    const std::string where = display + ": plan tensor '" + t.name + "'";
    if (!seen.insert(t.name).second) return invalid_argument(where + ": listed twice");
    Entry e;
    e.plan = &t;
    const bool is_init = initializer_index.count(t.name) > 0;
    const auto prod = producer.find(t.name);
    const bool is_input = graph_inputs.count(t.name) > 0 && !is_init;
    if (!is_init && prod == producer.end() && !is_input)
      return invalid_argument(where + ": the model has no tensor of that name");
    if (t.dynamic)
      return unsupported(where +
                         ": dynamic quantization (DynamicQuantizeLinear) cannot be "
                         "written as QDQ");
    Status valid = t.params.validate();
    if (!valid.ok()) return invalid_argument(where + ": " + valid.message());
    const int32_t elem = [&] {
      auto it = types.find(t.name);
      return it == types.end() ? 0 : it->second;
    }();

    if (t.role == Role::kActivation) {
      if (is_init)
        return invalid_argument(where + ": an initializer must have role weight or bias");
      if (t.params.bits != 8 && t.params.bits != 16)
        return unsupported(where + ": activations of " + std::to_string(t.params.bits) +
                           " bits have no QuantizeLinear type (8 or 16 bits only)");
      if (t.rounding != RoundingMode::kHalfToEven)
        return unsupported(where + ": QuantizeLinear rounds half to even; rounding '" +
                           std::string(rounding_mode_name(t.rounding)) +
                           "' of an activation cannot be expressed in QDQ");
      if (t.reciprocal)
        return unsupported(where +
                           ": QuantizeLinear divides by the scale; quantizing an "
                           "activation by the reciprocal cannot be expressed in QDQ");
      if (elem != 0 && elem != ::onnx::TensorProto::FLOAT)
        return invalid_argument(where +
                                ": only float32 tensors can be quantized, this one has "
                                "ONNX data type " +
                                std::to_string(elem));
      e.graph_input = is_input;
      e.graph_output = graph_outputs.count(t.name) > 0;
      if (e.graph_input && e.graph_output)
        return unsupported(where +
                           ": a graph input that is also a graph output cannot be "
                           "quantized in QDQ");
    } else {
      const std::string role(quant::role_name(t.role));
      const ::onnx::TensorProto* tp = nullptr;
      if (is_init) {
        tp = &g->initializer(initializer_index[t.name]);
      } else if (prod != producer.end() && g->node(prod->second).op_type() == "Constant" &&
                 is_default_domain(g->node(prod->second).domain())) {
        e.constant_node = prod->second;
        for (const auto& a : g->node(prod->second).attribute())
          if (a.name() == "value" && a.has_t()) tp = &a.t();
        if (!tp)
          return unsupported(where + ": the Constant node '" + g->node(prod->second).name() +
                             "' holds no 'value' tensor");
      } else {
        return invalid_argument(where + ": a " + role +
                                " must be an initializer or the output of a Constant node");
      }
      if (graph_outputs.count(t.name))
        return unsupported(where + ": a " + role + " that is a graph output is not supported");
      QDIFF_ASSIGN_OR_RETURN(e.value, read_float(*tp, base_dir, where));
      if (t.role == Role::kBias) {
        if (t.params.bits != 32 || !t.params.is_signed)
          return invalid_argument(where + ": a bias is quantized to 32 bits signed");
        for (int32_t z : t.params.zero_points)
          if (z != 0)
            return invalid_argument(where + ": an int32 bias needs zero point 0, not " +
                                    std::to_string(z));
      } else if (t.params.bits > 16) {
        return invalid_argument(where + ": bits must be at most 16 outside biases");
      }
    }
    // Per-channel axis and scale count against the weight's shape.
    if (t.role != Role::kActivation) {
      Status c = quant::check_channels(t.params, e.value.shape());
      if (!c.ok()) return invalid_argument(where + ": " + c.message());
    }
    entries.push_back(std::move(e));
  }

  // Names.
  NameTable names;
  collect_names(*g, &names.used);
  std::map<std::string, std::string> input_renames;   // readers of X read this instead
  std::map<std::string, std::string> output_renames;  // producers of X write this instead
  std::set<std::string> removed;                      // float weights/biases no longer in the graph
  std::vector<::onnx::NodeProto> head_nodes;          // before every original node
  std::map<int, std::vector<::onnx::NodeProto>> after_node;    // after original node i
  std::map<int, std::vector<::onnx::NodeProto>> replace_node;  // Constant i replaced by these
  std::vector<::onnx::TensorProto> new_inits;

  for (const Entry& e : entries) {
    const TensorPlan& t = *e.plan;
    const QuantParams& p = t.params;
    const std::string& x = t.name;
    if (t.role == Role::kActivation) {
      const std::string scale = names.fresh(x + "_scale");
      const std::string zp = names.fresh(x + "_zero_point");
      add_params(p, scale, zp, &new_inits);
      std::string q_in = x, dq_out;
      if (e.graph_output) {
        q_in = names.fresh(x + "_QuantizeLinear_Input");
        dq_out = x;
        output_renames[x] = q_in;
      } else {
        dq_out = names.fresh(x + "_DequantizeLinear_Output");
        input_renames[x] = dq_out;
      }
      const std::string q_out = names.fresh(x + "_QuantizeLinear_Output");
      std::vector<::onnx::NodeProto> pair;
      pair.push_back(make_qdq_node("QuantizeLinear", names.fresh(x + "_QuantizeLinear"), q_in,
                                   scale, zp, q_out, p, qdq_domain));
      pair.push_back(make_qdq_node("DequantizeLinear", names.fresh(x + "_DequantizeLinear"), q_out,
                                   scale, zp, dq_out, p, qdq_domain));
      auto& dst = e.graph_input ? head_nodes : after_node[producer.at(x)];
      dst.insert(dst.end(), pair.begin(), pair.end());
      continue;
    }
    // Weight or bias: quantize offline with the plan's rounding mode.
    const bool bias = t.role == Role::kBias;
    const std::string q_name = names.fresh(x + "_quantized");
    const std::string scale = names.fresh(bias ? q_name + "_scale" : x + "_scale");
    const std::string zp = names.fresh(bias ? q_name + "_zero_point" : x + "_zero_point");
    const DType st = storage_type(p);
    std::string raw;
    raw.reserve(static_cast<size_t>(e.value.numel()) * dtype_size(st));
    int64_t inner = 1, channels = 1;
    if (p.per_channel()) {
      channels = e.value.dim(p.axis);
      for (int64_t d = p.axis + 1; d < e.value.rank(); ++d) inner *= e.value.dim(d);
    }
    const float* w = e.value.data<float>();
    for (int64_t k = 0; k < e.value.numel(); ++k) {
      const int64_t c = p.per_channel() ? (k / inner) % channels : 0;
      append_int(&raw, st,
                 t.reciprocal ? quantize_by_reciprocal(w[k], p.scales[static_cast<size_t>(c)],
                                                       p.zero_points[static_cast<size_t>(c)],
                                                       p.qmin(), p.qmax(), t.rounding)
                              : quantize(w[k], p, c, t.rounding));
    }
    new_inits.push_back(make_tensor(q_name, st, e.value.shape(), std::move(raw)));
    add_params(p, scale, zp, &new_inits);
    std::string dq_out = x;  // a bias's DQ writes the bias's own name (ORT)
    if (!bias) {
      dq_out = names.fresh(x + "_DequantizeLinear_Output");
      input_renames[x] = dq_out;
    }
    removed.insert(x);
    ::onnx::NodeProto dq = make_qdq_node("DequantizeLinear", names.fresh(x + "_DequantizeLinear"),
                                         q_name, scale, zp, dq_out, p, qdq_domain);
    if (e.constant_node >= 0)
      replace_node[e.constant_node].push_back(std::move(dq));
    else
      head_nodes.push_back(std::move(dq));
  }

  // Rewrite: original nodes with renamed inputs/outputs, new nodes where they belong.
  rename_inputs(g, input_renames);
  std::vector<::onnx::NodeProto> nodes(head_nodes.begin(), head_nodes.end());
  for (int i = 0; i < g->node_size(); ++i) {
    if (auto r = replace_node.find(i); r != replace_node.end()) {
      nodes.insert(nodes.end(), r->second.begin(), r->second.end());
      continue;
    }
    ::onnx::NodeProto n = g->node(i);
    for (auto& o : *n.mutable_output()) {
      auto it = output_renames.find(o);
      if (it != output_renames.end()) o = it->second;
    }
    nodes.push_back(std::move(n));
    if (auto a = after_node.find(i); a != after_node.end())
      nodes.insert(nodes.end(), a->second.begin(), a->second.end());
  }
  g->clear_node();
  for (auto& n : nodes) *g->add_node() = std::move(n);

  // Initializers: the float weights/biases go; their graph-input and value_info entries too (a
  // bias name is written by its DequantizeLinear now, so it cannot stay a graph input).
  auto* inits = g->mutable_initializer();
  for (int i = inits->size() - 1; i >= 0; --i)
    if (removed.count(inits->Get(i).name())) inits->DeleteSubrange(i, 1);
  for (auto& t : new_inits) *g->add_initializer() = std::move(t);
  auto* inputs = g->mutable_input();
  for (int i = inputs->size() - 1; i >= 0; --i)
    if (removed.count(inputs->Get(i).name())) inputs->DeleteSubrange(i, 1);
  auto* vis = g->mutable_value_info();
  for (int i = vis->size() - 1; i >= 0; --i)
    if (removed.count(vis->Get(i).name())) vis->DeleteSubrange(i, 1);

  if (ms_domain) {
    bool has = false;
    for (const auto& op : model.opset_import()) has = has || op.domain() == kMsDomain;
    if (!has) {
      auto* op = model.add_opset_import();
      op->set_domain(kMsDomain);
      op->set_version(1);
    }
  }
  model.set_producer_name("qdiff");
  model.set_producer_version("qdq-export/1");

  if (options.run_checker && opset <= kLibOnnxMaxOpset &&
      model.ir_version() <= kLibOnnxMaxIrVersion) {
    try {
      ::onnx::checker::check_model(model);
    } catch (const std::exception& e) {
      std::string what = e.what();
      if (auto nl = what.find('\n'); nl != std::string::npos) what.resize(nl);
      return Status(ErrorCode::kInternal,
                    display + ": the exported QDQ model fails the ONNX checker: " + what);
    }
  }

  std::string out;
  {
    google::protobuf::io::StringOutputStream sos(&out);
    google::protobuf::io::CodedOutputStream cos(&sos);
    cos.SetSerializationDeterministic(true);
    if (!model.SerializeToCodedStream(&cos))
      return Status(ErrorCode::kInternal, display + ": cannot serialize the exported model");
  }
  return out;
}

}  // namespace

Result<std::string> export_qdq_to_bytes(const std::string& float_model_bytes,
                                        const fs::path& base_dir, const std::string& display_name,
                                        const quant::QuantPlan& plan,
                                        const ExportOptions& options) {
  ::onnx::ModelProto model;
  if (float_model_bytes.empty()) return invalid_model(display_name + ": file is empty");
  if (!model.ParseFromString(float_model_bytes))
    return invalid_model(display_name + ": not a valid ONNX model (protobuf parse failed)");
  if (!model.has_graph())
    return invalid_model(display_name + ": not a valid ONNX model (no graph)");
  return export_impl(std::move(model), base_dir, display_name, plan, options);
}

Status export_qdq(const fs::path& float_model, const quant::QuantPlan& plan, const fs::path& out,
                  const ExportOptions& options) {
  std::string bytes;
  {
    std::ifstream in(float_model, std::ios::binary);
    if (!in) return io_error(float_model.string() + ": cannot open model file");
    std::ostringstream ss;
    ss << in.rdbuf();
    bytes = ss.str();
  }
  QDIFF_ASSIGN_OR_RETURN(std::string q, export_qdq_to_bytes(bytes, float_model.parent_path(),
                                                            float_model.string(), plan, options));
  std::ofstream o(out, std::ios::binary | std::ios::trunc);
  if (!o) return io_error(out.string() + ": cannot open for writing");
  o.write(q.data(), static_cast<std::streamsize>(q.size()));
  if (!o) return io_error(out.string() + ": write failed");
  return Status::ok_status();
}

}  // namespace qdiff::exporter
