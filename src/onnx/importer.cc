#include "onnx/importer.h"

#include <onnx/checker.h>
#include <onnx/onnx_pb.h>
#include <onnx/shape_inference/implementation.h>

#include <fstream>
#include <map>
#include <queue>
#include <set>
#include <sstream>

#include "onnx/tensor_proto.h"

namespace qdiff::onnx {
namespace {

namespace fs = std::filesystem;

// Newest default-domain opset and IR version Debian's libonnx has schemas for. Models beyond
// them skip the checker and libonnx shape inference and are imported all the same.
constexpr int64_t kLibOnnxMaxOpset = 17;
constexpr int64_t kLibOnnxMaxIrVersion = 8;

bool is_float16(int onnx_type) {
  return onnx_type == ::onnx::TensorProto::FLOAT16 || onnx_type == ::onnx::TensorProto::BFLOAT16;
}

ir::TensorType type_from_proto(const ::onnx::TypeProto& type, bool f16_to_f32) {
  ir::TensorType t;
  if (!type.has_tensor_type()) return t;
  const auto& tt = type.tensor_type();
  int elem = tt.elem_type();
  if (f16_to_f32 && is_float16(elem)) elem = ::onnx::TensorProto::FLOAT;
  t.dtype = dtype_from_onnx(elem).value_or(DType::kUndefined);
  if (tt.has_shape()) {
    std::vector<ir::Dim> dims;
    for (const auto& d : tt.shape().dim()) {
      ir::Dim dim;
      if (d.has_dim_value() && d.dim_value() >= 0) dim.size = d.dim_value();
      if (d.has_dim_param()) dim.param = d.dim_param();
      dims.push_back(dim);
    }
    t.dims = std::move(dims);
  }
  return t;
}

bool is_float16_type(const ::onnx::TypeProto& type) {
  return type.has_tensor_type() && is_float16(type.tensor_type().elem_type());
}

struct Importer {
  const ImportOptions& options;
  fs::path base_dir;
  ImportedModel* out;
  int converted_f16 = 0;

  Result<AttributeValue> attribute(const ::onnx::AttributeProto& a, const std::string& where) {
    using A = ::onnx::AttributeProto;
    switch (a.type()) {
      case A::INT:
        return AttributeValue(static_cast<int64_t>(a.i()));
      case A::FLOAT:
        return AttributeValue(a.f());
      case A::STRING:
        return AttributeValue(a.s());
      case A::TENSOR: {
        if (is_float16(a.t().data_type()) && options.float16_to_float32) ++converted_f16;
        auto t = tensor_from_proto(a.t(), base_dir, options.float16_to_float32);
        if (!t.ok()) return t.status().with_context(where);
        return AttributeValue(std::move(t).value());
      }
      case A::INTS:
        return AttributeValue(std::vector<int64_t>(a.ints().begin(), a.ints().end()));
      case A::FLOATS:
        return AttributeValue(std::vector<float>(a.floats().begin(), a.floats().end()));
      case A::STRINGS:
        return AttributeValue(std::vector<std::string>(a.strings().begin(), a.strings().end()));
      default:
        return unsupported(where + ": attribute '" + a.name() + "' has a type qdiff does not " +
                           "support (graphs, sparse tensors and type protos)");
    }
  }

  ir::ValueId value_for(ir::Graph& g, const std::string& name) {
    if (auto id = g.find_value(name)) return *id;
    ir::Value v;
    v.name = name;
    return g.add_value(std::move(v));
  }

  Status import_graph(const ::onnx::ModelProto& model) {
    const ::onnx::GraphProto& gp = model.graph();
    ir::Graph& g = out->graph;
    g.name = gp.name();
    for (const auto& op : model.opset_import()) {
      const std::string domain = op.domain() == "ai.onnx" ? "" : op.domain();
      g.opsets[domain] = op.version();
    }
    if (!g.opsets.count("")) g.opsets[""] = 1;  // ONNX default when unspecified
    if (gp.sparse_initializer_size() > 0)
      return unsupported("sparse initializers are not supported");

    for (const auto& init : gp.initializer()) {
      if (init.name().empty()) return invalid_model("an initializer has no name");
      if (g.find_value(init.name()))
        return invalid_model("initializer '" + init.name() + "' is defined twice");
      if (is_float16(init.data_type()) && options.float16_to_float32) ++converted_f16;
      auto t = tensor_from_proto(init, base_dir, options.float16_to_float32);
      if (!t.ok()) return t.status();
      ir::Value v;
      v.name = init.name();
      v.type.dtype = t->dtype();
      std::vector<ir::Dim> dims;
      for (int64_t d : t->shape()) dims.push_back({d, ""});
      v.type.dims = std::move(dims);
      v.initializer = std::move(t).value();
      v.float16_in_model = is_float16(init.data_type());
      g.add_value(std::move(v));
    }
    for (const auto& in : gp.input()) {
      if (auto id = g.find_value(in.name())) {  // old-style: initializers listed as inputs
        if (!g.value(*id).initializer)
          return invalid_model("graph input '" + in.name() + "' is listed twice");
        continue;
      }
      if (!in.type().has_tensor_type())
        return unsupported(
            "graph input '" + in.name() +
            "' is not a tensor (sequence, map and optional types are not supported)");
      ir::Value v;
      v.name = in.name();
      v.type = type_from_proto(in.type(), options.float16_to_float32);
      v.float16_in_model = is_float16_type(in.type());
      if (is_float16(in.type().tensor_type().elem_type()) && options.float16_to_float32)
        out->notes.push_back("graph input '" + in.name() + "' is float16 in the model; qdiff " +
                             "runs it as float32");
      g.inputs.push_back(g.add_value(std::move(v)));
    }
    for (const auto& vi : gp.value_info()) {
      const ir::ValueId id = value_for(g, vi.name());
      if (!g.value(id).initializer) {
        g.value(id).type = type_from_proto(vi.type(), options.float16_to_float32);
        g.value(id).float16_in_model = is_float16_type(vi.type());
      }
    }

    std::set<std::string> node_names;
    for (int i = 0; i < gp.node_size(); ++i) {
      const auto& np = gp.node(i);
      ir::Node node;
      node.op_type = np.op_type();
      node.domain = np.domain() == "ai.onnx" ? "" : np.domain();
      node.name = np.name().empty() ? np.op_type() + "_" + std::to_string(i) : np.name();
      while (!node_names.insert(node.name).second) node.name += "_" + std::to_string(i);
      node.kind = ir::op_kind_from_onnx(node.domain, node.op_type);
      auto opset = g.opsets.find(node.domain);
      if (opset == g.opsets.end())
        return invalid_model(node.describe() + ": domain '" + node.domain +
                             "' is not in the model's opset imports");
      node.opset = opset->second;
      // Kernels read the default-domain opset; ORT's contrib Q/DQ (com.microsoft version 1)
      // behave as the default domain's opset 21 ones (per-axis, 16-bit types).
      if (node.domain == "com.microsoft" && node.kind) node.opset = 21;
      for (const auto& a : np.attribute()) {
        if (a.has_ref_attr_name())
          return unsupported(node.describe() + ": attribute references are not supported");
        auto v = attribute(a, node.describe());
        if (!v.ok()) {
          // Subgraph attributes (If/Loop/Scan) make the op unsupported, not the model invalid.
          if (node.kind) return v.status();
          continue;
        }
        node.attributes.set(a.name(), std::move(v).value());
      }
      if (options.float16_to_float32 && node.op_type == "Cast" && node.domain.empty()) {
        auto to = node.attributes.get_int("to", 0);
        if (to.ok() && is_float16(static_cast<int>(*to))) {
          node.attributes.set("to", static_cast<int64_t>(::onnx::TensorProto::FLOAT));
          out->notes.push_back(node.describe() + " casts to float16 in the model; qdiff casts " +
                               "to float32");
        }
      }
      for (const auto& name : np.input())
        node.inputs.push_back(name.empty() ? ir::kNoValue : value_for(g, name));
      for (const auto& name : np.output()) {
        if (name.empty()) {
          node.outputs.push_back(ir::kNoValue);
          continue;
        }
        const ir::ValueId id = value_for(g, name);
        if (g.value(id).producer != UINT32_MAX || g.value(id).initializer)
          return invalid_model(node.describe() + ": output '" + name + "' is produced twice");
        node.outputs.push_back(id);
      }
      g.add_node(std::move(node));
    }
    for (const auto& o : gp.output()) {
      auto id = g.find_value(o.name());
      if (!id) return invalid_model("graph output '" + o.name() + "' is never produced");
      if (!o.type().has_tensor_type() && o.type().value_case() != ::onnx::TypeProto::VALUE_NOT_SET)
        return unsupported(
            "graph output '" + o.name() +
            "' is not a tensor (sequence, map and optional types are not supported)");
      ir::TensorType t = type_from_proto(o.type(), options.float16_to_float32);
      if (t.dtype != DType::kUndefined && !g.value(*id).initializer) {
        g.value(*id).type = t;
        g.value(*id).float16_in_model = is_float16_type(o.type());
      }
      g.outputs.push_back(*id);
    }
    if (converted_f16 > 0)
      out->notes.push_back("converted " + std::to_string(converted_f16) +
                           " float16 constants to float32");
    QDIFF_RETURN_IF_ERROR(g.sort_topologically());
    return g.verify();
  }
};

// Some exporters write nodes out of order; ONNX requires topological order and libonnx's checker
// and shape inference rely on it. Reorders (stable) when needed; leaves cycles to the verifier.
void sort_nodes(::onnx::GraphProto* g) {
  const int n = g->node_size();
  std::map<std::string, int> producer;
  for (int i = 0; i < n; ++i)
    for (const auto& out : g->node(i).output()) producer.emplace(out, i);
  std::vector<int> pending(static_cast<size_t>(n), 0);
  std::vector<std::vector<int>> users(static_cast<size_t>(n));
  bool sorted = true;
  for (int i = 0; i < n; ++i) {
    for (const auto& in : g->node(i).input()) {
      auto it = producer.find(in);
      if (in.empty() || it == producer.end() || it->second == i) continue;
      ++pending[static_cast<size_t>(i)];
      users[static_cast<size_t>(it->second)].push_back(i);
      sorted = sorted && it->second < i;
    }
  }
  if (sorted) return;
  std::priority_queue<int, std::vector<int>, std::greater<>> ready;
  for (int i = 0; i < n; ++i)
    if (pending[static_cast<size_t>(i)] == 0) ready.push(i);
  std::vector<int> order;
  while (!ready.empty()) {
    const int i = ready.top();
    ready.pop();
    order.push_back(i);
    for (int u : users[static_cast<size_t>(i)])
      if (--pending[static_cast<size_t>(u)] == 0) ready.push(u);
  }
  if (static_cast<int>(order.size()) != n) return;  // a cycle: the verifier reports it
  google::protobuf::RepeatedPtrField<::onnx::NodeProto> nodes;
  nodes.Swap(g->mutable_node());
  for (int i : order) *g->add_node() = std::move(*nodes.Mutable(i));
}

bool has_external_data(const ::onnx::GraphProto& g) {
  for (const auto& t : g.initializer())
    if (t.data_location() == ::onnx::TensorProto::EXTERNAL) return true;
  return false;
}

}  // namespace

Result<ImportedModel> import_model_from_bytes(const std::string& bytes, const fs::path& base_dir,
                                              const std::string& display_name,
                                              const ImportOptions& options) {
  ::onnx::ModelProto model;
  if (bytes.empty()) return invalid_model(display_name + ": file is empty");
  if (!model.ParseFromString(bytes))
    return invalid_model(display_name + ": not a valid ONNX model (protobuf parse failed; " +
                         "the file may be truncated or not an .onnx file)");
  if (!model.has_graph() || model.graph().node_size() == 0)
    return invalid_model(display_name + ": not a valid ONNX model (no graph or no nodes)");

  ImportedModel out;
  out.ir_version = model.ir_version();
  out.producer = model.producer_name() +
                 (model.producer_version().empty() ? "" : " " + model.producer_version());

  int64_t opset = 0;
  for (const auto& op : model.opset_import())
    if (op.domain().empty() || op.domain() == "ai.onnx") opset = op.version();
  const bool libonnx_knows =
      opset <= kLibOnnxMaxOpset && model.ir_version() <= kLibOnnxMaxIrVersion;
  if (!libonnx_knows) {
    out.notes.push_back("opset " + std::to_string(opset) + " / IR version " +
                        std::to_string(model.ir_version()) + " is newer than the ONNX checker " +
                        "qdiff links (opset " + std::to_string(kLibOnnxMaxOpset) +
                        "); checked by qdiff's own rules only");
  }
  sort_nodes(model.mutable_graph());
  if (options.run_checker && libonnx_knows) {
    try {
      if (has_external_data(model.graph()))
        ::onnx::checker::check_model((base_dir / fs::path(display_name).filename()).string());
      else
        ::onnx::checker::check_model(model);
    } catch (const std::exception& e) {
      std::string what = e.what();
      if (auto nl = what.find('\n'); nl != std::string::npos) what.resize(nl);
      return invalid_model(display_name + ": ONNX checker: " + what);
    }
  }
  if (options.run_shape_inference && libonnx_knows && !has_external_data(model.graph())) {
    try {
      ::onnx::ShapeInferenceOptions si{false, 0, false};
      ::onnx::shape_inference::InferShapes(model, ::onnx::OpSchemaRegistry::Instance(), si);
    } catch (const std::exception& e) {
      out.notes.push_back(std::string("ONNX shape inference failed: ") + e.what());
    }
  }
  Importer importer{options, base_dir, &out};
  Status s = importer.import_graph(model);
  if (!s.ok()) return s.with_context(display_name);
  return out;
}

Result<ImportedModel> import_model(const fs::path& path, const ImportOptions& options) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return io_error(path.string() + ": cannot open model file");
  std::ostringstream ss;
  ss << in.rdbuf();
  auto r = import_model_from_bytes(ss.str(), path.parent_path(), path.string(), options);
  if (!r.ok()) return r.status();
  r->path = path;
  return r;
}

}  // namespace qdiff::onnx
