#include "quant/plan_edit.h"

#include <algorithm>
#include <vector>

namespace qdiff::quant {

std::pair<float, float> grid_range(const QuantParams& p) {
  const float s = p.scales.empty() ? 1.0f : p.scales[0];
  const int32_t zp = p.zero_points.empty() ? 0 : p.zero_points[0];
  return {static_cast<float>(static_cast<int64_t>(p.qmin()) - zp) * s,
          static_cast<float>(static_cast<int64_t>(p.qmax()) - zp) * s};
}

namespace {

// Whether a planned 32-bit bias has the scale s_in * s_w of its node's input and weight (other
// biases, such as the DPU's 8-bit ones, are taken as they are).
bool bias_consistent(const QuantPlan& plan, const ir::Graph& graph, const PlannedTensor& pt,
                     const TensorPlan& bias) {
  if (bias.params.bits != 32) return true;
  const TensorPlan* in = plan.find(graph.value(pt.source).name);
  const TensorPlan* w = plan.find(graph.value(pt.weight).name);
  if (!in || !w) return true;
  auto expected = bias_params(in->params, w->params);
  return !expected.ok() || expected.value() == bias.params;
}

}  // namespace

Result<QuantPlan> apply_plan_edit(const QuantPlan& plan, const ir::Graph& graph,
                                  const Scheme& scheme, const PlanEdit& edit) {
  // Precision per node: the plan's, with the edited units'.
  std::map<std::string, Precision> precision;
  std::set<std::string> changed_nodes;
  std::set<std::string> known_units;
  for (const NodePlan& np : plan.nodes) {
    known_units.insert(np.unit);
    known_units.insert(np.name);
  }
  std::map<std::string, ir::NodeId> node_ids;
  for (size_t i = 0; i < graph.num_nodes(); ++i)
    node_ids[graph.node(static_cast<ir::NodeId>(i)).name] = static_cast<ir::NodeId>(i);
  for (const auto& [name, p] : edit.precision)
    if (!known_units.count(name))
      return invalid_argument("plan edit: no node or unit '" + name + "' in the plan");
  std::vector<NodePlan> nodes = plan.nodes;
  for (NodePlan& np : nodes) {
    auto it = edit.precision.find(np.unit);
    if (it == edit.precision.end()) it = edit.precision.find(np.name);
    if (it != edit.precision.end() && it->second != np.precision) {
      np.precision = it->second;
      changed_nodes.insert(np.name);
    }
    if (np.precision != Precision::kInt8) precision[np.name] = np.precision;
  }
  QDIFF_ASSIGN_OR_RETURN(PlanStructure st, plan_structure(graph, precision, scheme.units));
  // The structure before the edit: a tensor it quantizes that the new one does not is one the
  // edit made unnecessary (an activation only float nodes produce and read now).
  std::map<std::string, Precision> old_precision;
  for (const NodePlan& np : plan.nodes)
    if (np.precision != Precision::kInt8) old_precision[np.name] = np.precision;
  QDIFF_ASSIGN_OR_RETURN(PlanStructure old_st, plan_structure(graph, old_precision, scheme.units));
  std::set<ir::ValueId> old_structure;
  for (const PlannedTensor& pt : old_st.tensors) old_structure.insert(pt.value);
  if (nodes.empty()) nodes = st.nodes;

  // Ranges: edited, else read back from the plan's grids (a dummy for tensors the plan lacks:
  // they take the new parameters only when the edit needs them, and then from a real range).
  std::map<ir::ValueId, std::pair<float, float>> ranges;
  for (const auto& [name, r] : edit.ranges) {
    const TensorPlan* tp = plan.find(name);
    if (!tp || tp->role != Role::kActivation)
      return invalid_argument("plan edit: '" + name + "' is no activation of the plan");
  }
  for (const PlannedTensor& pt : st.tensors) {
    if (pt.kind != TensorKind::kObserved) continue;
    const std::string& name = graph.value(pt.value).name;
    auto e = edit.ranges.find(name);
    const TensorPlan* tp = plan.find(name);
    if (e != edit.ranges.end())
      ranges[pt.value] = e->second;
    else if (tp && !tp->params.per_channel() && !tp->dynamic)
      ranges[pt.value] = grid_range(tp->params);
    else
      ranges[pt.value] = {0.0f, 1.0f};
  }
  for (const std::string& name : edit.per_channel) {
    const TensorPlan* tp = plan.find(name);
    if (!tp || tp->role != Role::kWeight)
      return invalid_argument("plan edit: '" + name + "' is no weight of the plan");
  }
  QDIFF_ASSIGN_OR_RETURN(QuantPlan fresh, make_plan(graph, st, scheme, ranges, edit.why));
  QuantPlan per_channel;
  if (!edit.per_channel.empty()) {
    Scheme pc = scheme;
    pc.per_channel_weights = true;
    pc.per_tensor_depthwise = false;
    QDIFF_ASSIGN_OR_RETURN(per_channel, make_plan(graph, st, pc, ranges, edit.why));
  }

  // Nodes whose weights and biases leave the plan (now float) or enter it (raised from float).
  std::set<ir::ValueId> float_params, raised_params;
  for (const NodePlan& np : nodes) {
    if (!changed_nodes.count(np.name)) continue;
    auto id = node_ids.find(np.name);
    if (id == node_ids.end()) continue;
    const ir::Node& n = graph.node(id->second);
    for (size_t i = 1; i < n.inputs.size(); ++i) {
      if (n.inputs[i] == ir::kNoValue) continue;
      (np.precision == Precision::kFloat ? float_params : raised_params).insert(n.inputs[i]);
    }
  }

  QuantPlan out;
  out.model = plan.model;
  out.origin = plan.origin;
  out.nodes = std::move(nodes);
  std::set<std::string> placed;
  std::vector<bool> affected(graph.num_values(), false);
  for (size_t i = 0; i < st.tensors.size(); ++i) {
    const PlannedTensor& pt = st.tensors[i];
    const std::string& name = graph.value(pt.value).name;
    const TensorPlan* old = plan.find(name);
    bool hit = false;
    switch (pt.kind) {
      case TensorKind::kObserved:
        hit = edit.ranges.count(name) || (old && old->params.bits != pt.bits) ||
              (!old && pt.bits == 16);
        break;
      case TensorKind::kShared:
        hit =
            affected[pt.source] || (old && old->params.bits != pt.bits) || (!old && pt.bits == 16);
        break;
      case TensorKind::kWeight:
        hit = edit.per_channel.count(name) || (!old && raised_params.count(pt.value));
        break;
      case TensorKind::kBias:
        hit = (old || raised_params.count(pt.value)) &&
              (affected[pt.source] || affected[pt.weight] || !old ||
               (edit.consistent_biases && !bias_consistent(plan, graph, pt, *old)));
        break;
    }
    affected[pt.value] = hit;
    if (hit) {
      // A per-channel weight and its bias come from the per-channel plan.
      const std::string& weight_name =
          pt.kind == TensorKind::kBias ? graph.value(pt.weight).name : name;
      const bool pc = (pt.kind == TensorKind::kWeight || pt.kind == TensorKind::kBias) &&
                      edit.per_channel.count(weight_name);
      const QuantPlan& from = pc ? per_channel : fresh;
      const TensorPlan* t = from.find(name);
      QDIFF_ASSERT(t, "make_plan left out a planned tensor");
      out.tensors.push_back(*t);
      placed.insert(name);
    } else if (old) {
      out.tensors.push_back(*old);
      placed.insert(name);
    }
  }
  // The plan's other tensors: kept when the planner's structure never had them (a quantized
  // model's own choices), dropped when the edit made them unnecessary or their node is float.
  for (const TensorPlan& tp : plan.tensors) {
    if (placed.count(tp.name)) continue;
    auto id = graph.find_value(tp.name);
    if (id && tp.role != Role::kActivation && float_params.count(*id)) continue;
    if (id && old_structure.count(*id)) continue;
    out.tensors.push_back(tp);
  }
  QDIFF_RETURN_IF_ERROR(check_plan(out, graph));
  return out;
}

}  // namespace qdiff::quant
