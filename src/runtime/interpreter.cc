#include "runtime/interpreter.h"

#include <chrono>
#include <limits>
#include <map>
#include <optional>

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
  it->plan_fusion();
  return it;
}

// Finds the Conv -> Relu/Clip pairs that may fuse: the Conv output has exactly one reader, the
// activation (as its data input), is no graph output and is not rounded to float16 (rounding
// sits between the two); Clip bounds must be constants. Whether the fast Conv then runs (and
// the observer lets the Conv output go unseen) is decided per run.
void Interpreter::plan_fusion() {
  const ir::Graph& graph = graph_;
  fuse_candidate_.assign(graph.num_nodes(), -1);
  fuse_activation_.assign(graph.num_nodes(), kernels::FusedActivation());
  fuse_plan_valid_ = false;
  if (!options_.use_fast || !options_.fuse_activations) return;
  std::vector<int> readers(graph.num_values(), 0);
  std::vector<int64_t> reader(graph.num_values(), -1);
  for (size_t i = 0; i < graph.num_nodes(); ++i)
    for (ir::ValueId in : graph.node(static_cast<ir::NodeId>(i)).inputs)
      if (in != ir::kNoValue) ++readers[in], reader[in] = static_cast<int64_t>(i);
  using Kind = kernels::FusedActivation::Kind;
  for (size_t i = 0; i < graph.num_nodes(); ++i) {
    const ir::Node& conv = graph.node(static_cast<ir::NodeId>(i));
    if (*conv.kind != ir::OpKind::kConv || conv.outputs.size() != 1) continue;
    const ir::ValueId v = conv.outputs[0];
    if (v == ir::kNoValue || is_output_[v] || readers[v] != 1) continue;
    if (options_.round_float16 && graph.value(v).float16_in_model) continue;
    const ir::Node& act = graph.node(static_cast<ir::NodeId>(reader[v]));
    if (act.inputs.empty() || act.inputs[0] != v || act.outputs.size() != 1 ||
        act.outputs[0] == ir::kNoValue)
      continue;
    kernels::FusedActivation fa;
    if (*act.kind == ir::OpKind::kRelu) {
      fa.kind = Kind::kRelu;
    } else if (*act.kind == ir::OpKind::kClip) {
      // As fast:clip reads its bounds (elementwise.cc).
      fa.kind = Kind::kClip;
      fa.lo = std::numeric_limits<float>::lowest();
      fa.hi = std::numeric_limits<float>::max();
      bool ok = true;
      if (act.opset < 11) {
        auto lo = act.attributes.get_float("min", fa.lo);
        auto hi = act.attributes.get_float("max", fa.hi);
        ok = lo.ok() && hi.ok();
        if (ok) fa.lo = lo.value(), fa.hi = hi.value();
      } else {
        for (size_t k : {size_t{1}, size_t{2}}) {
          if (k >= act.inputs.size() || act.inputs[k] == ir::kNoValue) continue;
          // An initializer, or a Constant node's `value` (as exporters write Clip(0, 6)).
          const ir::Value& bound = graph.value(act.inputs[k]);
          std::optional<Tensor> t = bound.initializer;
          if (!t && bound.producer != UINT32_MAX) {
            const ir::Node& p = graph.node(bound.producer);
            if (*p.kind == ir::OpKind::kConstant && p.attributes.all().size() == 1) {
              auto c = p.attributes.get_tensor("value");
              if (c.ok()) t = c.value();
            }
          }
          // (A Constant's output that a float16 run rounds is read as it runs.)
          if (!t || t->dtype() != DType::kFloat32 || t->numel() != 1 || !t->is_plain() ||
              (options_.round_float16 && bound.float16_in_model && !bound.initializer)) {
            ok = false;
            break;
          }
          (k == 1 ? fa.lo : fa.hi) = t->data<float>()[0];
        }
      }
      if (!ok) continue;
    } else {
      continue;
    }
    fuse_candidate_[i] = reader[v];
    fuse_activation_[i] = fa;
  }
}

const std::vector<int64_t>& Interpreter::fusion_plan(const Observer* observer,
                                                     const ValueTransform* transform) {
  std::vector<bool> key;
  for (size_t i = 0; i < fuse_candidate_.size(); ++i) {
    if (fuse_candidate_[i] < 0) continue;
    const ir::ValueId v = graph_.node(static_cast<ir::NodeId>(i)).outputs[0];
    key.push_back((observer && observer->wants(v)) || (transform && transform->applies(v)));
  }
  if (fuse_plan_valid_ && key == fuse_plan_key_) return fuse_plan_;
  fuse_plan_.assign(graph_.num_nodes(), -1);
  size_t k = 0;
  for (size_t i = 0; i < fuse_candidate_.size(); ++i)
    if (fuse_candidate_[i] >= 0 && !key[k++]) fuse_plan_[i] = fuse_candidate_[i];
  fuse_plan_key_ = std::move(key);
  fuse_plan_valid_ = true;
  return fuse_plan_;
}

Status Interpreter::check_input(size_t index, const Tensor& t) const {
  const ir::Value& v = graph_.value(graph_.inputs[index]);
  return check_tensor_type("input '" + v.name + "'", v.type, t);
}

Result<std::vector<Tensor>> Interpreter::run(std::span<const Tensor> inputs, Observer* observer,
                                             ValueTransform* transform, const Resume* resume) {
  QDIFF_ASSERT(!resume || (resume->given && resume->given->size() == graph_.num_values() &&
                           resume->rerun && resume->rerun->size() == graph_.num_nodes()),
               "Resume does not fit the graph");
  if (inputs.size() != graph_.inputs.size())
    return invalid_argument("the model has " + std::to_string(graph_.inputs.size()) +
                            " inputs, got " + std::to_string(inputs.size()));
  std::vector<Tensor> values(graph_.num_values());
  for (ir::ValueId id = 0; id < graph_.num_values(); ++id)
    if (graph_.value(id).initializer) values[id] = *graph_.value(id).initializer;
  // A produced value (or graph input) as its readers see it: rounded to float16 where the model
  // stores it so, changed by the transform, shown to the observer, released if nobody reads it.
  auto hand_out = [&](ir::ValueId id) -> Status {
    Tensor& v = values[id];
    if (options_.round_float16 && graph_.value(id).float16_in_model && v.dtype() == DType::kFloat32)
      v = v.to_plain().cast(DType::kFloat16).cast(DType::kFloat32);
    if (transform && transform->applies(id)) {
      QDIFF_ASSIGN_OR_RETURN(v, transform->apply(id, transform->any_layout() ? v : v.to_plain()));
    }
    if (observer && observer->wants(id))
      QDIFF_RETURN_IF_ERROR(observer->observe(id, observer->any_layout() ? v : v.to_plain()));
    if (last_use_[id] < 0 && !is_output_[id]) v = Tensor();  // nobody reads it
    return Status::ok_status();
  };
  for (size_t i = 0; i < inputs.size(); ++i) {
    QDIFF_RETURN_IF_ERROR(check_input(i, inputs[i]));
    const ir::ValueId id = graph_.inputs[i];
    values[id] = inputs[i];
    QDIFF_RETURN_IF_ERROR(hand_out(id));
  }

  // Per node, this run: the activation fused into it (-1 none), and whether a fused Conv ran
  // (so its activation node only hands out the value the Conv produced).
  const std::vector<int64_t>& fuse = fusion_plan(observer, transform);
  std::vector<bool> done_by_fusion(graph_.num_nodes(), false);

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
  // Releases the inputs node i reads last.
  auto release_inputs = [&](const ir::Node& node, size_t i) {
    for (ir::ValueId in : node.inputs)
      if (in != ir::kNoValue && last_use_[in] == static_cast<int64_t>(i) && !is_output_[in] &&
          !graph_.value(in).initializer)
        values[in] = Tensor();
  };
  using Clock = std::chrono::steady_clock;
  for (size_t i = 0; i < graph_.num_nodes(); ++i) {
    const ir::Node& node = graph_.node(static_cast<ir::NodeId>(i));
    const Clock::time_point t0 = options_.time_nodes ? Clock::now() : Clock::time_point();
    if (resume && !(*resume->rerun)[i]) {  // its outputs as the earlier run handed them out
      for (ir::ValueId id : node.outputs) {
        if (id == ir::kNoValue) continue;
        values[id] = (*resume->given)[id];
        if ((last_use_[id] >= 0 || is_output_[id]) && !values[id].defined())
          return Status(ErrorCode::kInternal, node.describe() + ": a partial run lacks output '" +
                                                  graph_.value(id).name +
                                                  "' of a node it does not rerun");
        if (observer && observer->wants(id) && values[id].defined())
          QDIFF_RETURN_IF_ERROR(
              observer->observe(id, observer->any_layout() ? values[id] : values[id].to_plain()));
      }
      QDIFF_ASSERT(!done_by_fusion[i], "a partial run skips an activation fused into a rerun");
      release_inputs(node, i);
      kernel_names_[i] = "resumed";
      continue;
    }
    if (done_by_fusion[i]) {  // the fused Conv computed this node's output
      QDIFF_RETURN_IF_ERROR(hand_out(node.outputs[0]));
      kernel_names_[i] = "fused";
      if (options_.time_nodes)
        node_times_ms_[i] = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
      continue;
    }
    const KernelEntry fast = fast_kernel(*node.kind);
    const bool try_fast = options_.use_fast && fast.fn && !fast_refused_[i];
    const int64_t fused_act = try_fast ? fuse[i] : -1;
    // With an activation fused in, output 0 is the activation node's output.
    const ir::ValueId out0 =
        node.outputs.empty()
            ? ir::kNoValue
            : (fused_act >= 0 ? graph_.node(static_cast<ir::NodeId>(fused_act)).outputs[0]
                              : node.outputs[0]);
    QDIFF_RETURN_IF_ERROR(gather_inputs(node, try_fast && fast.nhwc));
    node_outputs.assign(node.outputs.size(), Tensor());
    kernels::KernelContext ctx{node.attributes, node_inputs,      node_outputs,
                               node.opset,      options_.threads, &states_[i]};
    Status s;
    bool ran = false;
    if (try_fast) {
      ctx.nhwc_output = fast.nhwc && out0 != ir::kNoValue && nhwc_ok_[out0];
      if (fused_act >= 0) ctx.fused = fuse_activation_[i];
      s = fast.fn(ctx);
      if (s.ok()) {
        ran = true;
        kernel_names_[i] = fast.name;
        if (fused_act >= 0) {
          done_by_fusion[static_cast<size_t>(fused_act)] = true;
          kernel_names_[i] +=
              ctx.fused.kind == kernels::FusedActivation::Kind::kRelu ? "+relu" : "+clip";
        }
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
      ctx.fused = kernels::FusedActivation();  // the activation node runs on its own
      const KernelEntry ref = reference_kernel(*node.kind);
      s = ref.fn(ctx);
      if (!s.ok()) return s.with_context(node.describe());
      kernel_names_[i] = ref.name;
    }
    const bool fused_ran = fused_act >= 0 && done_by_fusion[static_cast<size_t>(fused_act)];
    for (size_t o = 0; o < node.outputs.size(); ++o) {
      const ir::ValueId id = o == 0 && fused_ran ? out0 : node.outputs[o];
      if (id == ir::kNoValue) continue;
      if (!node_outputs[o].defined())
        return Status(ErrorCode::kInternal,
                      node.describe() + ": kernel did not produce output " + std::to_string(o));
      if (!node_outputs[o].is_plain() && !(o == 0 && ctx.nhwc_output))
        return Status(
            ErrorCode::kInternal,
            node.describe() + ": kernel produced a non-plain output " + std::to_string(o));
      values[id] = std::move(node_outputs[o]);
      if (id == out0 && fused_ran) continue;  // handed out when its own node's turn comes
      QDIFF_RETURN_IF_ERROR(hand_out(id));
    }
    release_inputs(node, i);
    if (options_.time_nodes)
      node_times_ms_[i] = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  }
  std::vector<Tensor> outputs;
  for (ir::ValueId id : graph_.outputs) outputs.push_back(values[id].to_plain());
  return outputs;
}

}  // namespace qdiff::runtime
