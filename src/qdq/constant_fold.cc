#include "qdq/constant_fold.h"

#include <algorithm>
#include <memory>
#include <set>

#include "kernels/kernel.h"
#include "runtime/registry.h"

namespace qdiff::qdq {
namespace {

using ir::kNoValue;
using ir::NodeId;
using ir::ValueId;

constexpr NodeId kNoNode = UINT32_MAX;

// Elements of a broadcast of shapes `a` and `b` (numpy rules); nullopt when they do not broadcast
// or on overflow.
std::optional<int64_t> broadcast_numel(const Shape& a, const Shape& b) {
  Shape out(std::max(a.size(), b.size()), 1);
  for (size_t i = 0; i < out.size(); ++i) {
    const int64_t x = i < a.size() ? a[a.size() - 1 - i] : 1;
    const int64_t y = i < b.size() ? b[b.size() - 1 - i] : 1;
    if (x != y && x != 1 && y != 1) return std::nullopt;
    out[out.size() - 1 - i] = x == 1 ? y : x;
  }
  return shape_numel(out);
}

}  // namespace

ConstantFolder::ConstantFolder(const ir::Graph& graph, FoldOptions options)
    : g_(graph),
      options_(std::move(options)),
      state_(graph.num_values(), State::kUnknown),
      cache_(graph.num_values()) {}

bool ConstantFolder::foldable_op(NodeId n) const {
  const ir::Node& node = g_.node(n);
  if (!(node.domain.empty() || node.domain == "ai.onnx")) return false;
  if (!node.kind || node.outputs.empty()) return false;
  if (options_.keep_ops.count(node.op_type)) return false;
  for (ValueId o : node.outputs)
    if (o != kNoValue && g_.value(o).float16_in_model) return false;
  return runtime::reference_kernel(*node.kind).fn != nullptr;
}

void ConstantFolder::mark_outputs(const ir::Node& n, State s) {
  for (ValueId o : n.outputs)
    if (o != kNoValue && state_[o] == State::kUnknown) state_[o] = s;
}

const Tensor* ConstantFolder::value(ValueId v) {
  if (v == kNoValue || v >= g_.num_values()) return nullptr;
  if (g_.value(v).initializer) return &*g_.value(v).initializer;
  if (state_[v] == State::kUnknown) {
    // The undecided nodes `v` depends on, up to initializers, decided values and nodes that
    // cannot fold; then each evaluated once, in graph (topological) order.
    std::vector<NodeId> todo;
    std::set<NodeId> seen;
    std::vector<ValueId> stack = {v};
    while (!stack.empty()) {
      const ValueId x = stack.back();
      stack.pop_back();
      if (x == kNoValue || g_.value(x).initializer || state_[x] != State::kUnknown) continue;
      const NodeId p = g_.value(x).producer;
      if (p == kNoNode) {
        state_[x] = State::kNotConstant;  // a graph input
        continue;
      }
      if (!seen.insert(p).second) continue;
      if (!foldable_op(p)) {
        mark_outputs(g_.node(p), State::kNotConstant);
        continue;
      }
      todo.push_back(p);
      for (ValueId in : g_.node(p).inputs) stack.push_back(in);
    }
    std::sort(todo.begin(), todo.end());
    for (NodeId p : todo) evaluate(p);
  }
  return state_[v] == State::kConstant ? &cache_[v] : nullptr;
}

void ConstantFolder::evaluate(NodeId n) {
  const ir::Node& node = g_.node(n);
  bool undecided = false;
  for (ValueId o : node.outputs)
    undecided = undecided || (o != kNoValue && state_[o] == State::kUnknown);
  if (!undecided) return;
  std::vector<const Tensor*> ins;
  int64_t largest = 0;
  for (ValueId in : node.inputs) {
    if (in == kNoValue) {
      ins.push_back(nullptr);
      continue;
    }
    const Tensor* t = nullptr;
    if (g_.value(in).initializer)
      t = &*g_.value(in).initializer;
    else if (state_[in] == State::kConstant)
      t = &cache_[in];
    if (!t) {  // not constant (or, in an unsorted graph, not decided yet: left alone)
      mark_outputs(node, State::kNotConstant);
      return;
    }
    ins.push_back(t);
    largest = std::max(largest, t->numel());
  }
  // The size cap, before running where the output size is known, and after.
  const bool capped = node.op_type != "Constant";
  const int64_t limit = std::max(options_.max_grown_elements, largest);
  auto too_big = [&](std::optional<int64_t> numel) { return capped && (!numel || *numel > limit); };
  std::optional<int64_t> expected;
  if (node.op_type == "ConstantOfShape" && !ins.empty() && ins[0] &&
      ins[0]->dtype() == DType::kInt64) {
    expected = shape_numel(ins[0]->to_i64_vector());
    if (!expected) expected = -1;  // negative dimension: the kernel reports it
  } else if (node.op_type == "Expand" && ins.size() >= 2 && ins[0] && ins[1] &&
             ins[1]->dtype() == DType::kInt64) {
    expected = broadcast_numel(ins[0]->shape(), ins[1]->to_i64_vector());
  } else if (node.op_type == "Tile" && ins.size() >= 2 && ins[0] && ins[1] &&
             ins[1]->dtype() == DType::kInt64) {
    Shape reps = ins[1]->to_i64_vector();
    reps.push_back(ins[0]->numel());
    expected = shape_numel(reps);
  }
  if (expected && *expected >= 0 && too_big(expected)) {
    mark_outputs(node, State::kNotConstant);
    return;
  }
  for (ValueId o : node.outputs) {
    if (o == kNoValue || !g_.value(o).type.fully_known()) continue;
    if (too_big(shape_numel(g_.value(o).type.shape()))) {
      mark_outputs(node, State::kNotConstant);
      return;
    }
  }
  std::vector<Tensor> outs(node.outputs.size());
  std::unique_ptr<kernels::KernelState> kstate;
  kernels::KernelContext ctx{node.attributes, ins, outs, node.opset, 1, &kstate};
  const Status s = runtime::reference_kernel(*node.kind).fn(ctx);
  ++evaluated_;
  bool ok = s.ok();
  for (size_t i = 0; ok && i < outs.size(); ++i) {
    if (node.outputs[i] == kNoValue) continue;
    ok = outs[i].defined() && !too_big(outs[i].numel());
  }
  if (!ok) {
    mark_outputs(node, State::kNotConstant);
    return;
  }
  for (size_t i = 0; i < outs.size(); ++i) {
    const ValueId o = node.outputs[i];
    if (o == kNoValue) continue;
    cache_[o] = outs[i].to_plain();
    state_[o] = State::kConstant;
  }
}

bool ConstantFolder::node_folds(NodeId n) {
  bool any = false;
  for (ValueId o : g_.node(n).outputs) {
    if (o == kNoValue) continue;
    if (!value(o)) return false;
    any = true;
  }
  return any;
}

Result<FoldedGraph> fold_constants(const ir::Graph& graph, const FoldOptions& options) {
  ConstantFolder folder(graph, options);
  std::vector<bool> is_output(graph.num_values(), false);
  for (ValueId o : graph.outputs) is_output[o] = true;
  FoldedGraph r;
  std::vector<bool> fold(graph.num_nodes(), false);
  for (NodeId i = 0; i < graph.num_nodes(); ++i) {
    bool feeds_output = false;
    for (ValueId o : graph.node(i).outputs)
      feeds_output = feeds_output || (o != kNoValue && is_output[o]);
    fold[i] = !feeds_output && folder.node_folds(i);
    if (fold[i]) r.folded.push_back(graph.node(i).name);
  }
  ir::Graph& g = r.graph;
  g.name = graph.name;
  g.opsets = graph.opsets;
  for (ValueId v = 0; v < graph.num_values(); ++v) {
    ir::Value nv = graph.value(v);
    const NodeId p = nv.producer;
    nv.producer = kNoNode;
    if (p != kNoNode && fold[p]) {
      const Tensor* t = folder.value(v);
      QDIFF_ASSERT(t != nullptr, "folded node output without a value");
      nv.initializer = *t;
      nv.type.dtype = t->dtype();
      std::vector<ir::Dim> dims;
      for (int64_t d : t->shape()) dims.push_back({d, ""});
      nv.type.dims = std::move(dims);
    }
    const ValueId id = g.add_value(std::move(nv));
    QDIFF_ASSERT(id == v, "value ids must be kept");
  }
  for (NodeId i = 0; i < graph.num_nodes(); ++i)
    if (!fold[i]) g.add_node(graph.node(i));
  g.inputs = graph.inputs;
  g.outputs = graph.outputs;
  Status s = g.verify();
  if (!s.ok()) return Status(ErrorCode::kInternal, "constant folding: " + s.message());
  return r;
}

}  // namespace qdiff::qdq
