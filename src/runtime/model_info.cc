#include "runtime/model_info.h"

#include <algorithm>
#include <cmath>

#include "runtime/interpreter.h"

namespace qdiff::runtime {
namespace {

// Records only shapes: keeps no tensor alive.
class ShapeObserver : public Observer {
 public:
  Status observe(ir::ValueId id, const Tensor& value) override {
    shapes[id] = value.shape();
    return Status();
  }
  std::map<ir::ValueId, Shape> shapes;
};

int64_t product(const Shape& s, size_t from, size_t to) {
  int64_t p = 1;
  for (size_t i = from; i < to && i < s.size(); ++i) p *= s[i];
  return p;
}

int64_t node_macs(const ir::Node& node, const std::map<ir::ValueId, Shape>& shapes) {
  auto shape_of = [&](size_t input) -> const Shape* {
    if (input >= node.inputs.size()) return nullptr;
    auto it = shapes.find(node.inputs[input]);
    return it == shapes.end() ? nullptr : &it->second;
  };
  auto out_it = node.outputs.empty() ? shapes.end() : shapes.find(node.outputs[0]);
  if (out_it == shapes.end()) return 0;
  const Shape& y = out_it->second;
  const Shape* w = shape_of(1);
  const Shape* x = shape_of(0);
  if (!w || !x) return 0;
  switch (*node.kind) {
    case ir::OpKind::kConv:  // every output element: Cin/group * kernel MACs
      return product(y, 0, y.size()) * product(*w, 1, w->size());
    case ir::OpKind::kConvTranspose:  // every input element scatters into Cout/group * kernel
      return product(*x, 0, x->size()) * product(*w, 1, w->size());
    case ir::OpKind::kGemm:
    case ir::OpKind::kMatMul: {
      const int64_t k = x->empty() ? 1 : x->back();
      return product(y, 0, y.size()) * k;
    }
    default:
      return 0;
  }
}

// A channel whose max |w| is below this fraction of the widest channel's is counted as dead
// (pruned or collapsed by training) rather than setting the ratio.
constexpr double kDeadChannel = 1e-6;

std::optional<WeightRange> weight_range(const ir::Graph& graph, const ir::Node& node) {
  if (!node.kind || node.inputs.size() < 2) return std::nullopt;
  int64_t axis;  // the output-channel axis of the weight
  switch (*node.kind) {
    case ir::OpKind::kConv:
      axis = 0;
      break;
    case ir::OpKind::kConvTranspose:
      axis = 1;
      break;
    case ir::OpKind::kGemm:
      axis = node.attributes.get_int("transB", 0).value_or(0) ? 0 : 1;
      break;
    case ir::OpKind::kMatMul:
      axis = 1;
      break;
    default:
      return std::nullopt;
  }
  auto w = constant_value(graph, node.inputs[1]);
  if (!w || !dtype_is_float(w->dtype()) || w->rank() < 2) return std::nullopt;
  if (*node.kind == ir::OpKind::kMatMul) axis = w->rank() - 1;
  const std::vector<float> v = w->to_f32_vector();
  const Shape& s = w->shape();
  const int64_t channels = s[static_cast<size_t>(axis)];
  const int64_t inner = product(s, static_cast<size_t>(axis) + 1, s.size());
  std::vector<double> absmax(static_cast<size_t>(channels), 0.0);
  for (size_t i = 0; i < v.size(); ++i) {
    const auto c = static_cast<size_t>((static_cast<int64_t>(i) / inner) % channels);
    absmax[c] = std::max(absmax[c], static_cast<double>(std::fabs(v[i])));
  }
  WeightRange r;
  r.node = node.name;
  r.op = node.op_type;
  r.weight_shape = s;
  r.channels = channels;
  r.min_channel_absmax = INFINITY;
  const double widest = *std::max_element(absmax.begin(), absmax.end());
  for (double a : absmax) {
    if (a <= kDeadChannel * widest) {
      ++r.dead_channels;
      continue;
    }
    r.min_channel_absmax = std::min(r.min_channel_absmax, a);
    r.max_channel_absmax = std::max(r.max_channel_absmax, a);
  }
  if (r.dead_channels == channels) r.min_channel_absmax = 0;
  r.ratio = r.min_channel_absmax > 0 ? r.max_channel_absmax / r.min_channel_absmax : 1.0;
  return r;
}

}  // namespace

std::optional<Tensor> constant_value(const ir::Graph& graph, ir::ValueId id) {
  if (id == ir::kNoValue) return std::nullopt;
  const ir::Value& v = graph.value(id);
  if (v.initializer) return v.initializer;
  if (v.producer == UINT32_MAX) return std::nullopt;
  const ir::Node& p = graph.node(v.producer);
  if (p.kind != ir::OpKind::kConstant) return std::nullopt;
  auto t = p.attributes.get_tensor("value");
  if (!t.ok()) return std::nullopt;
  return std::move(t).value();
}

ModelInfo inspect_graph(const ir::Graph& graph, const std::map<std::string, Shape>& input_shapes) {
  ModelInfo info;
  info.unsupported = Interpreter::unsupported_ops(graph);
  for (const ir::Node& n : graph.nodes()) {
    ++info.op_counts[(n.domain.empty() ? "" : n.domain + ":") + n.op_type];
    if (auto r = weight_range(graph, n)) info.weight_ranges.push_back(*r);
  }
  for (ir::ValueId id = 0; id < graph.num_values(); ++id) {
    auto t = constant_value(graph, id);
    if (t && dtype_is_float(t->dtype())) {
      info.parameters += t->numel();
      info.parameter_bytes += static_cast<int64_t>(t->nbytes());
    }
  }

  // Dry run on zeros for shapes and MACs.
  ShapeObserver observer;
  for (ir::ValueId id = 0; id < graph.num_values(); ++id)
    if (graph.value(id).initializer) observer.shapes[id] = graph.value(id).initializer->shape();
  std::vector<Tensor> inputs;
  for (ir::ValueId id : graph.inputs) {
    const ir::Value& v = graph.value(id);
    Shape shape;
    if (auto it = input_shapes.find(v.name); it != input_shapes.end()) {
      shape = it->second;
    } else if (v.type.fully_known()) {
      shape = v.type.shape();
    } else {
      info.dry_run_error = "input '" + v.name + "' has shape " + v.type.to_string() +
                           "; give --input-shape " + v.name + "=... for shapes and MACs";
      break;
    }
    auto t =
        Tensor::create(v.type.dtype == DType::kUndefined ? DType::kFloat32 : v.type.dtype, shape);
    if (!t.ok()) {
      info.dry_run_error = t.status().message();
      break;
    }
    inputs.push_back(std::move(t).value());
  }
  if (info.dry_run_error.empty() && info.unsupported.empty()) {
    auto interp = Interpreter::create(graph, {});
    Status s = interp.ok() ? (*interp)->run(inputs, &observer).status() : interp.status();
    if (s.ok())
      info.shapes_known = true;
    else
      info.dry_run_error = s.message();
  } else if (info.dry_run_error.empty()) {
    info.dry_run_error = "the model has unsupported ops";
  }
  for (const ir::Node& n : graph.nodes()) {
    NodeInfo ni{n.name, n.op_type, {}, 0};
    if (info.shapes_known) {
      for (ir::ValueId out : n.outputs)
        if (auto it = observer.shapes.find(out); it != observer.shapes.end())
          ni.output_shapes.push_back(it->second);
      if (n.kind) ni.macs = node_macs(n, observer.shapes);
      info.total_macs += ni.macs;
    }
    info.nodes.push_back(std::move(ni));
  }
  return info;
}

}  // namespace qdiff::runtime
