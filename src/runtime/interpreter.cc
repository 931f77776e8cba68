#include "runtime/interpreter.h"

#include <chrono>
#include <map>

#include "runtime/registry.h"

namespace qdiff::runtime {

Status check_tensor_type(const std::string& what, const ir::TensorType& type, const Tensor& t) {
  if (type.dtype != DType::kUndefined && type.dtype != t.dtype())
    return invalid_argument(what + ": expected " + type.to_string() + ", got " +
                            std::string(dtype_name(t.dtype())) + shape_to_string(t.shape()));
  if (!type.dims) return Status();
  bool match = type.dims->size() == t.shape().size();
  for (size_t i = 0; match && i < type.dims->size(); ++i)
    match = !(*type.dims)[i].known() || (*type.dims)[i].size == t.shape()[i];
  if (!match)
    return invalid_argument(what + ": expected shape " + type.to_string() + ", got " +
                            shape_to_string(t.shape()));
  return Status();
}

std::vector<std::string> Interpreter::unsupported_ops(const ir::Graph& graph) {
  std::map<std::string, std::vector<std::string>> missing;
  for (const ir::Node& n : graph.nodes())
    if (!n.kind) missing[(n.domain.empty() ? "" : n.domain + ":") + n.op_type].push_back(n.name);
  std::vector<std::string> lines;
  for (const auto& [op, nodes] : missing) {
    std::string line =
        op + " (" + std::to_string(nodes.size()) + " node" + (nodes.size() > 1 ? "s" : "") + ": ";
    for (size_t i = 0; i < nodes.size() && i < 3; ++i) line += (i ? ", " : "") + nodes[i];
    lines.push_back(line + (nodes.size() > 3 ? ", ...)" : ")"));
  }
  return lines;
}

Interpreter::Interpreter(const ir::Graph& graph, RunOptions options)
    : graph_(graph), options_(options) {}

Result<std::unique_ptr<Interpreter>> Interpreter::create(const ir::Graph& graph,
                                                         RunOptions options) {
  const std::vector<std::string> missing = unsupported_ops(graph);
  if (!missing.empty()) {
    std::string msg = "the model uses ops qdiff does not support: ";
    for (size_t i = 0; i < missing.size(); ++i) msg += (i ? "; " : "") + missing[i];
    return unsupported(msg);
  }
  if (options.threads < 1) return invalid_argument("--threads must be at least 1");
  std::unique_ptr<Interpreter> it(new Interpreter(graph, options));
  it->last_use_.assign(graph.num_values(), -1);
  it->is_output_.assign(graph.num_values(), false);
  for (size_t i = 0; i < graph.num_nodes(); ++i)
    for (ir::ValueId in : graph.node(static_cast<ir::NodeId>(i)).inputs)
      if (in != ir::kNoValue) it->last_use_[in] = static_cast<int64_t>(i);
  for (ir::ValueId out : graph.outputs) it->is_output_[out] = true;
  it->states_.resize(graph.num_nodes());
  it->fast_refused_.assign(graph.num_nodes(), false);
  it->kernel_names_.resize(graph.num_nodes());
  it->node_times_ms_.assign(graph.num_nodes(), 0.0);
  // A value may be stored NHWC when all its readers take NHWC (each reader that falls back to
  // its reference kernel converts it back, so this is only a performance guess).
  it->nhwc_ok_.assign(graph.num_values(), options.use_fast && options.propagate_layouts);
  for (ir::ValueId out : graph.outputs) it->nhwc_ok_[out] = false;
  for (size_t i = 0; i < graph.num_nodes(); ++i) {
    const ir::Node& n = graph.node(static_cast<ir::NodeId>(i));
    if (fast_kernel(*n.kind).nhwc) continue;
    for (ir::ValueId in : n.inputs)
      if (in != ir::kNoValue) it->nhwc_ok_[in] = false;
  }
  for (ir::ValueId v = 0; v < graph.num_values(); ++v)
    if (it->last_use_[v] < 0) it->nhwc_ok_[v] = false;
  return it;
}

Status Interpreter::check_input(size_t index, const Tensor& t) const {
  const ir::Value& v = graph_.value(graph_.inputs[index]);
  return check_tensor_type("input '" + v.name + "'", v.type, t);
}

Result<std::vector<Tensor>> Interpreter::run(std::span<const Tensor> inputs, Observer* observer) {
  if (inputs.size() != graph_.inputs.size())
    return invalid_argument("the model has " + std::to_string(graph_.inputs.size()) +
                            " inputs, got " + std::to_string(inputs.size()));
  std::vector<Tensor> values(graph_.num_values());
  for (ir::ValueId id = 0; id < graph_.num_values(); ++id)
    if (graph_.value(id).initializer) values[id] = *graph_.value(id).initializer;
  for (size_t i = 0; i < inputs.size(); ++i) {
    QDIFF_RETURN_IF_ERROR(check_input(i, inputs[i]));
    const ir::ValueId id = graph_.inputs[i];
    values[id] = inputs[i];
    if (options_.round_float16 && graph_.value(id).float16_in_model)
      values[id] = values[id].cast(DType::kFloat16).cast(DType::kFloat32);
    if (observer && observer->wants(id)) QDIFF_RETURN_IF_ERROR(observer->observe(id, values[id]));
  }

  std::vector<const Tensor*> node_inputs;
  std::vector<Tensor> node_outputs;
  // Points node_inputs at the node's input values, first converting to plain those that are
  // not (kept converted: later readers reuse the plain copy) unless `keep_layouts`.
  auto gather_inputs = [&](const ir::Node& node, bool keep_layouts) -> Status {
    node_inputs.clear();
    for (ir::ValueId in : node.inputs) {
      node_inputs.push_back(in == ir::kNoValue ? nullptr : &values[in]);
      if (in == ir::kNoValue) continue;
      if (!values[in].defined())
        return Status(ErrorCode::kInternal, node.describe() + ": input '" + graph_.value(in).name +
                                                "' was released early");
      if (!keep_layouts && !values[in].is_plain()) values[in] = values[in].to_plain();
    }
    return Status::ok_status();
  };
  using Clock = std::chrono::steady_clock;
  for (size_t i = 0; i < graph_.num_nodes(); ++i) {
    const ir::Node& node = graph_.node(static_cast<ir::NodeId>(i));
    const Clock::time_point t0 = options_.time_nodes ? Clock::now() : Clock::time_point();
    const KernelEntry fast = fast_kernel(*node.kind);
    const bool try_fast = options_.use_fast && fast.fn && !fast_refused_[i];
    QDIFF_RETURN_IF_ERROR(gather_inputs(node, try_fast && fast.nhwc));
    node_outputs.assign(node.outputs.size(), Tensor());
    kernels::KernelContext ctx{node.attributes, node_inputs,      node_outputs,
                               node.opset,      options_.threads, &states_[i]};
    Status s;
    bool ran = false;
    if (try_fast) {
      ctx.nhwc_output = fast.nhwc && !node.outputs.empty() && node.outputs[0] != ir::kNoValue &&
                        nhwc_ok_[node.outputs[0]];
      s = fast.fn(ctx);
      if (s.ok()) {
        ran = true;
        kernel_names_[i] = fast.name;
      } else if (s.code() == ErrorCode::kUnsupported) {
        fast_refused_[i] = true;  // e.g. an attribute combination the fast path does not cover
        node_outputs.assign(node.outputs.size(), Tensor());
      } else {
        return s.with_context(node.describe());
      }
    }
    if (!ran) {
      QDIFF_RETURN_IF_ERROR(gather_inputs(node, false));
      ctx.nhwc_output = false;
      const KernelEntry ref = reference_kernel(*node.kind);
      s = ref.fn(ctx);
      if (!s.ok()) return s.with_context(node.describe());
      kernel_names_[i] = ref.name;
    }
    for (size_t o = 0; o < node.outputs.size(); ++o) {
      const ir::ValueId id = node.outputs[o];
      if (id == ir::kNoValue) continue;
      if (!node_outputs[o].defined())
        return Status(ErrorCode::kInternal,
                      node.describe() + ": kernel did not produce output " + std::to_string(o));
      if (!node_outputs[o].is_plain() && !(o == 0 && ctx.nhwc_output))
        return Status(
            ErrorCode::kInternal,
            node.describe() + ": kernel produced a non-plain output " + std::to_string(o));
      values[id] = std::move(node_outputs[o]);
      if (options_.round_float16 && graph_.value(id).float16_in_model &&
          values[id].dtype() == DType::kFloat32)
        values[id] = values[id].to_plain().cast(DType::kFloat16).cast(DType::kFloat32);
      if (observer && observer->wants(id))
        QDIFF_RETURN_IF_ERROR(observer->observe(id, values[id].to_plain()));
      if (last_use_[id] < 0 && !is_output_[id]) values[id] = Tensor();  // nobody reads it
    }
    for (ir::ValueId in : node.inputs)
      if (in != ir::kNoValue && last_use_[in] == static_cast<int64_t>(i) && !is_output_[in] &&
          !graph_.value(in).initializer)
        values[in] = Tensor();
    if (options_.time_nodes)
      node_times_ms_[i] = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  }
  std::vector<Tensor> outputs;
  for (ir::ValueId id : graph_.outputs) outputs.push_back(values[id].to_plain());
  return outputs;
}

}  // namespace qdiff::runtime
