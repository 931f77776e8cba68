// map_plan: a plan made over an imported quantized model's float graph, renamed onto the user's
// float model (see qdq_import.h).
#include <algorithm>
#include <map>
#include <set>

#include "numerics/quant_params.h"
#include "qdq/qdq_import.h"
#include "runtime/model_info.h"

namespace qdiff::qdq {
namespace {

using ir::kNoValue;
using ir::NodeId;
using ir::ValueId;

constexpr NodeId kNoNode = UINT32_MAX;

bool is_pass_through(const ir::Node& n) {
  return n.domain.empty() && (n.op_type == "Identity" || n.op_type == "Dropout") &&
         !n.inputs.empty() && n.inputs[0] != kNoValue;
}

// The value `v` copies through Identity/Dropout nodes.
ValueId source_of(const ir::Graph& g, ValueId v) {
  while (v != kNoValue) {
    const NodeId p = g.value(v).producer;
    if (p == UINT32_MAX || !is_pass_through(g.node(p)) || g.node(p).outputs.empty() ||
        g.node(p).outputs[0] != v)
      break;
    v = g.node(p).inputs[0];
  }
  return v;
}

// Initializers and Constant node outputs (a float model may keep its weights in either).
bool is_constant(const ir::Graph& g, ValueId v) {
  if (v == kNoValue) return false;
  if (g.value(v).initializer) return true;
  const NodeId p = g.value(v).producer;
  return p != UINT32_MAX && g.node(p).kind == ir::OpKind::kConstant;
}

std::optional<Tensor> constant(const ir::Graph& g, ValueId v) {
  return runtime::constant_value(g, v);
}

// Values of `x` that quantize (with `mode`, dividing or multiplying by the reciprocal) to
// another integer than the one `want` (the quantized model's dequantized integers) holds.
int64_t differing(const Tensor& x, const Tensor& want, const QuantParams& p, RoundingMode mode,
                  bool reciprocal) {
  const std::vector<float> xs = x.to_f32_vector();
  const std::vector<float> ws = want.to_f32_vector();
  int64_t inner = 1, channels = 1;
  if (p.per_channel()) {
    channels = x.dim(p.axis);
    for (int64_t d = p.axis + 1; d < x.rank(); ++d) inner *= x.dim(d);
  }
  int64_t n = 0;
  for (size_t i = 0; i < xs.size(); ++i) {
    const size_t c =
        p.per_channel() ? static_cast<size_t>((static_cast<int64_t>(i) / inner) % channels) : 0;
    const int32_t q =
        reciprocal
            ? quantize_by_reciprocal(xs[i], p.scales[c], p.zero_points[c], p.qmin(), p.qmax(), mode)
            : quantize(xs[i], p.scales[c], p.zero_points[c], p.qmin(), p.qmax(), mode);
    n += dequantize(q, p.scales[c], p.zero_points[c]) != ws[i] ? 1 : 0;
  }
  return n;
}

// How the float model's constant `x` quantizes to the integers the quantized model stores
// (`want`): the plan's own rounding when it does, else the rounding mode and division or
// reciprocal multiplication that misses fewest values (torch 1.13 truncates biases and
// multiplies weights by f32(1 / scale)). Adds a note when it is not the plan's own or when no
// choice reproduces every value.
void fit_rounding(quant::TensorPlan* t, const std::string& fname, const Tensor& x,
                  const Tensor& want, std::vector<std::string>* notes) {
  if (x.dtype() != DType::kFloat32 || want.dtype() != DType::kFloat32 ||
      x.shape() != want.shape() || t->dynamic || t->params.validate().ok() == false)
    return;
  if (t->params.per_channel() && t->params.axis >= x.rank()) return;
  const int64_t own = differing(x, want, t->params, t->rounding, t->reciprocal);
  if (own == 0) return;
  RoundingMode best = t->rounding;
  bool best_reciprocal = t->reciprocal;
  int64_t best_n = own;
  for (bool reciprocal : {false, true}) {
    for (RoundingMode m : kAllRoundingModes) {
      const int64_t n = differing(x, want, t->params, m, reciprocal);
      if (n < best_n) best = m, best_reciprocal = reciprocal, best_n = n;
    }
  }
  const auto describe = [](RoundingMode m, bool reciprocal) {
    return std::string(rounding_mode_name(m)) + (reciprocal ? " of x * (1 / scale)" : "");
  };
  const std::string what = "tensor '" + fname + "' (" + std::string(quant::role_name(t->role)) +
                           ", '" + t->name + "' in the quantized model)";
  if (best != t->rounding || best_reciprocal != t->reciprocal)
    notes->push_back(what + ": rounding " + describe(best, best_reciprocal) +
                     " reproduces the quantized model's integers better (" +
                     std::to_string(best_n) + " of " + std::to_string(x.numel()) +
                     " values differ; " + describe(t->rounding, t->reciprocal) + ": " +
                     std::to_string(own) + "); the plan uses it");
  if (best_n > 0)
    notes->push_back(what + ": " + std::to_string(best_n) + " of " + std::to_string(x.numel()) +
                     " values of the float model quantize to another integer than the quantized "
                     "model stores (rounding " +
                     describe(best, best_reciprocal) +
                     "); the fake-quant world cannot reproduce them");
  t->rounding = best;
  t->reciprocal = best_reciprocal;
}

std::optional<Shape> init_shape(const ir::Graph& g, ValueId v) {
  if (!is_constant(g, v)) return std::nullopt;
  auto c = constant(g, v);
  if (!c) return std::nullopt;
  return c->shape();
}

}  // namespace

Result<PlanMapping> map_plan(const quant::QuantPlan& plan, const ir::Graph& s, const ir::Graph& f) {
  std::vector<ValueId> vm(s.num_values(), kNoValue);  // stripped value -> float value
  std::vector<NodeId> nm(s.num_nodes(), kNoNode);     // stripped node -> float node
  std::vector<bool> f_node_taken(f.num_nodes(), false);

  // Graph inputs: by name, else by position.
  std::set<ValueId> f_inputs(f.inputs.begin(), f.inputs.end());
  for (size_t k = 0; k < s.inputs.size(); ++k) {
    const ValueId sv = s.inputs[k];
    auto fv = f.find_value(s.value(sv).name);
    if (fv && f_inputs.count(*fv))
      vm[sv] = *fv;
    else if (k < f.inputs.size())
      vm[sv] = f.inputs[k];
  }
  // Float nodes by the (pass-through resolved) activations they read.
  std::map<ValueId, std::vector<NodeId>> f_readers;
  for (NodeId i = 0; i < f.num_nodes(); ++i) {
    const ir::Node& n = f.node(i);
    if (is_pass_through(n)) continue;
    std::set<ValueId> seen;
    for (ValueId v : n.inputs)
      if (v != kNoValue && !is_constant(f, v) && seen.insert(source_of(f, v)).second)
        f_readers[source_of(f, v)].push_back(i);
  }
  std::vector<NodeId> f_sources;  // float nodes without activation inputs
  for (NodeId i = 0; i < f.num_nodes(); ++i) {
    bool any = false;
    for (ValueId v : f.node(i).inputs) any = any || (v != kNoValue && !is_constant(f, v));
    if (!any && !is_pass_through(f.node(i))) f_sources.push_back(i);
  }

  for (NodeId i = 0; i < s.num_nodes(); ++i) {
    const ir::Node& n = s.node(i);
    if (is_pass_through(n)) {
      if (!n.outputs.empty() && n.outputs[0] != kNoValue) vm[n.outputs[0]] = vm[n.inputs[0]];
      continue;
    }
    std::vector<ValueId> acts;  // mapped activation inputs, in order
    bool all_mapped = true;
    for (ValueId v : n.inputs) {
      if (v == kNoValue || is_constant(s, v)) continue;
      if (vm[v] == kNoValue) all_mapped = false;
      acts.push_back(vm[v] == kNoValue ? kNoValue : source_of(f, vm[v]));
    }
    if (!all_mapped) continue;
    const std::vector<NodeId>* pool = &f_sources;
    if (!acts.empty()) {
      auto it = f_readers.find(acts[0]);
      if (it == f_readers.end()) continue;
      pool = &it->second;
    }
    auto matches = [&](NodeId c) {
      const ir::Node& fn = f.node(c);
      if (f_node_taken[c] || fn.op_type != n.op_type) return false;
      std::vector<ValueId> fa;
      for (ValueId v : fn.inputs)
        if (v != kNoValue && !is_constant(f, v)) fa.push_back(source_of(f, v));
      return fa == acts;
    };
    auto shapes_agree = [&](NodeId c) {
      const ir::Node& fn = f.node(c);
      for (size_t j = 0; j < n.inputs.size() && j < fn.inputs.size(); ++j) {
        auto a = init_shape(s, n.inputs[j]);
        auto b = init_shape(f, fn.inputs[j]);
        if (a && b && *a != *b) return false;
      }
      return true;
    };
    NodeId pick = kNoNode;
    for (NodeId c : *pool)
      if (matches(c) && f.node(c).name == n.name) pick = c;
    if (pick == kNoNode)
      for (NodeId c : *pool)
        if (matches(c) && shapes_agree(c)) {
          pick = c;
          break;
        }
    if (pick == kNoNode)
      for (NodeId c : *pool)
        if (matches(c)) {
          pick = c;
          break;
        }
    if (pick == kNoNode) continue;
    nm[i] = pick;
    f_node_taken[pick] = true;
    const ir::Node& fn = f.node(pick);
    for (size_t k = 0; k < n.outputs.size() && k < fn.outputs.size(); ++k)
      if (n.outputs[k] != kNoValue && fn.outputs[k] != kNoValue) vm[n.outputs[k]] = fn.outputs[k];
  }

  // Readers in the stripped graph, for weights and biases (node, slot).
  std::vector<std::vector<std::pair<NodeId, size_t>>> s_readers(s.num_values());
  for (NodeId i = 0; i < s.num_nodes(); ++i)
    for (size_t j = 0; j < s.node(i).inputs.size(); ++j)
      if (s.node(i).inputs[j] != kNoValue) s_readers[s.node(i).inputs[j]].push_back({i, j});

  PlanMapping out;
  out.plan.model = plan.model;
  out.plan.origin = plan.origin + ", mapped onto the float model";
  std::map<ValueId, std::string> taken;  // float value -> plan tensor that took it
  std::vector<std::pair<ValueId, quant::TensorPlan>> tensors;
  for (const quant::TensorPlan& t : plan.tensors) {
    auto sv = s.find_value(t.name);
    if (!sv)
      return invalid_argument("plan tensor '" + t.name +
                              "' is not a tensor of the imported float graph");
    const std::string what =
        "tensor '" + t.name + "' (" + std::string(quant::role_name(t.role)) + ")";
    ValueId fv = kNoValue;
    std::string why;
    if (t.role == quant::Role::kActivation) {
      auto byname = f.find_value(t.name);
      if (byname && !is_constant(f, *byname)) {
        fv = *byname;
      } else if (vm[*sv] != kNoValue) {
        fv = vm[*sv];
      } else {
        const NodeId p = s.value(*sv).producer;
        why = p == UINT32_MAX ? "no graph input of the float model matches"
                              : "its producer " + s.node(p).describe() +
                                    " has no counterpart in the float model";
      }
    } else {
      const Shape shape = s.value(*sv).initializer ? s.value(*sv).initializer->shape() : Shape{};
      for (const auto& [r, j] : s_readers[*sv]) {
        if (nm[r] == kNoNode) continue;
        const ir::Node& fn = f.node(nm[r]);
        if (j >= fn.inputs.size()) continue;
        const ValueId c = source_of(f, fn.inputs[j]);
        if (is_constant(f, c) && init_shape(f, c) == shape) {
          fv = c;
          break;
        }
      }
      if (fv == kNoValue) {
        auto byname = f.find_value(t.name);
        if (byname && is_constant(f, *byname) && init_shape(f, *byname) == shape) fv = *byname;
      }
      if (fv == kNoValue)
        why = "no initializer of the same shape in the same input slot of a matched node";
    }
    if (fv != kNoValue && taken.count(fv)) {
      why = "its counterpart '" + f.value(fv).name + "' is already taken by tensor '" + taken[fv] +
            "'";
      fv = kNoValue;
    }
    if (fv == kNoValue) {
      out.unmatched.push_back(what + ": " + why);
      continue;
    }
    taken[fv] = t.name;
    quant::TensorPlan m = t;
    m.name = f.value(fv).name;
    if (t.role != quant::Role::kActivation && s.value(*sv).initializer && constant(f, fv))
      fit_rounding(&m, m.name, *constant(f, fv), *s.value(*sv).initializer, &out.notes);
    tensors.emplace_back(fv, std::move(m));
  }
  std::sort(tensors.begin(), tensors.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  for (auto& [id, t] : tensors) out.plan.tensors.push_back(std::move(t));

  std::map<std::string, NodeId> s_node_by_name;
  for (NodeId i = 0; i < s.num_nodes(); ++i) s_node_by_name[s.node(i).name] = i;
  std::vector<std::pair<NodeId, quant::NodePlan>> nodes;
  for (const quant::NodePlan& np : plan.nodes) {
    auto it = s_node_by_name.find(np.name);
    if (it == s_node_by_name.end())
      return invalid_argument("plan node '" + np.name +
                              "' is not a node of the imported float graph");
    if (nm[it->second] == kNoNode) {
      if (!is_pass_through(s.node(it->second)))
        out.unmatched.push_back("node '" + np.name + "': no node of the float model matches");
      continue;
    }
    quant::NodePlan m = np;
    m.name = f.node(nm[it->second]).name;
    auto u = s_node_by_name.find(np.unit);
    if (u != s_node_by_name.end() && nm[u->second] != kNoNode) {
      m.unit = f.node(nm[u->second]).name;
    } else {
      m.unit = m.name;
      if (np.unit != np.name)
        out.unmatched.push_back("node '" + np.name + "': the head '" + np.unit +
                                "' of its unit has no counterpart; it stands alone");
    }
    nodes.emplace_back(nm[it->second], std::move(m));
  }
  std::sort(nodes.begin(), nodes.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  for (auto& [id, n] : nodes) out.plan.nodes.push_back(std::move(n));
  return out;
}

}  // namespace qdiff::qdq
