#include "quant/planner.h"

#include <algorithm>
#include <set>

#include "runtime/model_info.h"

namespace qdiff::quant {
namespace {

using ir::OpKind;

bool is_unit_head(OpKind k) {
  return k == OpKind::kConv || k == OpKind::kConvTranspose || k == OpKind::kGemm ||
         k == OpKind::kMatMul || k == OpKind::kAdd || k == OpKind::kMul;
}

// Elementwise ops a unit can grow through. After an Add/Mul head (a residual), or for targets
// that fuse only those, Relu/Clip.
bool extends_unit(OpKind k, bool relu_clip_only) {
  if (k == OpKind::kRelu || k == OpKind::kClip) return true;
  if (relu_clip_only) return false;
  switch (k) {
    case OpKind::kLeakyRelu:
    case OpKind::kHardSwish:
    case OpKind::kHardSigmoid:
    case OpKind::kSigmoid:
    case OpKind::kTanh:
    case OpKind::kBatchNormalization:
    case OpKind::kMul:
    case OpKind::kAdd:
    case OpKind::kSub:
    case OpKind::kDiv:
      return true;
    default:
      return false;
  }
}

// Ops whose output holds a subset of their first input's values (or zeros from padding).
bool moves_data(const ir::Node& n) {
  switch (*n.kind) {
    case OpKind::kReshape:
    case OpKind::kTranspose:
    case OpKind::kFlatten:
    case OpKind::kSqueeze:
    case OpKind::kUnsqueeze:
    case OpKind::kDepthToSpace:
    case OpKind::kSpaceToDepth:
    case OpKind::kMaxPool:
    case OpKind::kGlobalMaxPool:
    case OpKind::kSlice:
    case OpKind::kSplit:
    case OpKind::kGather:
    case OpKind::kIdentity:
    case OpKind::kExpand:
    case OpKind::kTile:
    case OpKind::kReduceMax:
    case OpKind::kReduceMin:
      return true;
    case OpKind::kResize: {
      auto mode = n.attributes.get_string("mode", "nearest");
      return mode.ok() && mode.value() == "nearest";
    }
    case OpKind::kPad: {
      auto mode = n.attributes.get_string("mode", "constant");
      // A constant pad of 0 adds a value on every grid (the range always includes 0); a
      // non-zero pad value would need its own check, so such a Pad is observed instead.
      return mode.ok() && mode.value() != "constant"
                 ? true
                 : n.inputs.size() < 3 || n.inputs[2] == ir::kNoValue;
    }
    default:
      return false;
  }
}

// Outputs of these are never quantized activations (integers, shapes, masks).
bool makes_no_activation(OpKind k) {
  switch (k) {
    case OpKind::kShape:
    case OpKind::kSize:
    case OpKind::kConstant:
    case OpKind::kConstantOfShape:
    case OpKind::kNonZero:
    case OpKind::kArgMax:
    case OpKind::kArgMin:
    case OpKind::kRange:
    case OpKind::kEqual:
    case OpKind::kGreater:
    case OpKind::kGreaterOrEqual:
    case OpKind::kLess:
    case OpKind::kLessOrEqual:
    case OpKind::kNot:
    case OpKind::kAnd:
    case OpKind::kOr:
    case OpKind::kXor:
    case OpKind::kCast:
      return true;
    default:
      return false;
  }
}

Format format_for(const Scheme& s, int bits) {
  return bits == 16 ? s.activation16 : s.activation;
}

Result<QuantParams> params_from_range(float lo, float hi, const Format& f) {
  QDIFF_ASSIGN_OR_RETURN(QuantParams p, choose_params(lo, hi, f.bits, f.is_signed, f.symmetric,
                                                      f.narrow_range || f.narrow_scale));
  if (f.narrow_scale) p.narrow_range = false;
  return p;
}

}  // namespace

Result<Scheme> scheme_for_target(std::string_view target) {
  Scheme s;
  s.target = std::string(target);
  s.activation16 = Format{16, true, true, false};
  if (target == "ort-cpu") {
    // quant_utils.get_qmin_qmax_for_qType(symmetric=True): int8 weights in [-127, 127].
    s.activation = Format{8, false, false, false};
    s.weight = Format{8, true, true, true};
  } else if (target == "tflite-int8" || target == "xnnpack-qs8") {
    s.activation = Format{8, true, false, false};
    s.weight = Format{8, true, true, true};
  } else if (target == "tensorrt-int8") {
    s.activation = Format{8, true, true, false, true};
    s.weight = Format{8, true, true, true};
    s.units = UnitGrowth::kEpilogue;
  } else {
    std::string names;
    for (const std::string& n : scheme_names()) names += (names.empty() ? "" : ", ") + n;
    return invalid_argument("unknown target '" + std::string(target) + "' (known: " + names + ")");
  }
  return s;
}

std::vector<std::string> scheme_names() {
  return {"ort-cpu", "tflite-int8", "xnnpack-qs8", "tensorrt-int8"};
}

std::vector<ir::ValueId> PlanStructure::observed() const {
  std::vector<ir::ValueId> out;
  for (const PlannedTensor& t : tensors)
    if (t.kind == TensorKind::kObserved) out.push_back(t.value);
  return out;
}

Result<PlanStructure> plan_structure(const ir::Graph& graph,
                                     const std::map<std::string, Precision>& precision,
                                     UnitGrowth units) {
  const size_t nv = graph.num_values();
  const size_t nn = graph.num_nodes();
  PlanStructure st;
  std::vector<Precision> prec(nn, Precision::kInt8);
  {
    std::map<std::string, size_t> by_name;
    for (size_t i = 0; i < nn; ++i) by_name[graph.node(static_cast<ir::NodeId>(i)).name] = i;
    for (const auto& [name, p] : precision) {
      auto it = by_name.find(name);
      if (it == by_name.end())
        return invalid_argument("precision override for node '" + name +
                                "': the model has no node of that name");
      prec[it->second] = p;
    }
  }
  std::vector<std::vector<size_t>> readers(nv);
  for (size_t i = 0; i < nn; ++i)
    for (ir::ValueId in : graph.node(static_cast<ir::NodeId>(i)).inputs)
      if (in != ir::kNoValue) readers[in].push_back(i);
  std::vector<bool> is_output(nv, false);
  for (ir::ValueId o : graph.outputs) is_output[o] = true;

  // Activations: float tensors computed from the graph inputs.
  std::vector<bool> activation(nv, false);
  for (ir::ValueId in : graph.inputs) {
    const DType dt = graph.value(in).type.dtype;
    activation[in] = dt == DType::kFloat32 || dt == DType::kUndefined;
  }
  for (size_t i = 0; i < nn; ++i) {
    const ir::Node& n = graph.node(static_cast<ir::NodeId>(i));
    if (!n.kind) return unsupported(n.describe() + " has no kernel in qdiff");
    bool from_input = false;
    for (ir::ValueId in : n.inputs)
      from_input = from_input || (in != ir::kNoValue && activation[in]);
    if (!from_input || makes_no_activation(*n.kind)) continue;
    for (ir::ValueId out : n.outputs) {
      if (out == ir::kNoValue) continue;
      const DType dt = graph.value(out).type.dtype;
      activation[out] = dt == DType::kFloat32 || dt == DType::kUndefined;
    }
  }

  // Units: a head takes the Relu/Clip after it, or (UnitGrowth::kEpilogue) grows through the
  // elementwise ops after it whose other operands are constants or tensors of the unit
  // (BatchNormalization or its Mul/Add form, activations, the x * relu6(x + 3) / 6 of an exported
  // HardSwish, x * sigmoid(x)), as long as exactly one tensor leaves the unit: its last node's
  // output.
  std::vector<size_t> unit(nn);
  for (size_t i = 0; i < nn; ++i) unit[i] = i;
  std::vector<bool> internal(nv, false);
  for (size_t i = 0; i < nn; ++i) {
    const ir::Node& n = graph.node(static_cast<ir::NodeId>(i));
    if (!is_unit_head(*n.kind) || n.outputs.size() != 1 || unit[i] != i) continue;
    const bool arith_head = *n.kind == OpKind::kAdd || *n.kind == OpKind::kMul;
    std::vector<size_t> members = {i};
    std::vector<bool> in_unit_value(nv, false);
    in_unit_value[n.outputs[0]] = true;
    for (size_t j = i + 1; j < nn && j <= members.back() + 8; ++j) {
      const ir::Node& m = graph.node(static_cast<ir::NodeId>(j));
      if (unit[j] != j || prec[j] != prec[i] || m.outputs.size() != 1 ||
          !extends_unit(*m.kind, arith_head || units == UnitGrowth::kReluClip))
        continue;
      bool reads_unit = false, reads_outside = false;
      for (ir::ValueId in : m.inputs) {
        if (in == ir::kNoValue || !activation[in]) continue;
        (in_unit_value[in] ? reads_unit : reads_outside) = true;
      }
      if (!reads_unit || reads_outside) continue;
      members.push_back(j);
      in_unit_value[m.outputs[0]] = true;
    }
    // Shrink until only the last member's output leaves the unit.
    while (members.size() > 1) {
      const ir::ValueId last = graph.node(static_cast<ir::NodeId>(members.back())).outputs[0];
      bool ok = true;
      for (size_t k = 0; k + 1 < members.size() && ok; ++k) {
        const ir::ValueId v = graph.node(static_cast<ir::NodeId>(members[k])).outputs[0];
        if (v == last || is_output[v]) ok = false;
        for (size_t r : readers[v])
          ok = ok && std::find(members.begin(), members.end(), r) != members.end();
      }
      if (ok) break;
      in_unit_value[graph.node(static_cast<ir::NodeId>(members.back())).outputs[0]] = false;
      members.pop_back();
    }
    for (size_t k = 1; k < members.size(); ++k) {
      unit[members[k]] = i;
      internal[graph.node(static_cast<ir::NodeId>(members[k - 1])).outputs[0]] = true;
    }
  }
  // Node plans for the nodes that compute on activations (constant computations have no
  // precision: they are folded before any target runs).
  for (size_t i = 0; i < nn; ++i) {
    const ir::Node& n = graph.node(static_cast<ir::NodeId>(i));
    bool on_activation = false;
    for (ir::ValueId in : n.inputs)
      on_activation = on_activation || (in != ir::kNoValue && activation[in]);
    if (on_activation)
      st.nodes.push_back({n.name, prec[i], graph.node(static_cast<ir::NodeId>(unit[i])).name});
  }

  // Activations to quantize, their bits and how their parameters are found.
  std::vector<int> planned(nv, -1);  // index into st.tensors
  auto add_activation = [&](ir::ValueId v, bool produced_int, bool produced_16,
                            const ir::Node* by) {
    if (!activation[v] || internal[v] || planned[v] >= 0) return;
    bool read_int = false, read_16 = false;
    for (size_t r : readers[v]) {
      read_int = read_int || prec[r] != Precision::kFloat;
      read_16 = read_16 || prec[r] == Precision::kInt16;
    }
    if (!produced_int && !read_int) return;
    PlannedTensor t;
    t.value = v;
    t.bits = produced_16 || read_16 ? 16 : 8;
    if (by && produced_int && moves_data(*by) && !by->inputs.empty() &&
        by->inputs[0] != ir::kNoValue && planned[by->inputs[0]] >= 0 &&
        st.tensors[static_cast<size_t>(planned[by->inputs[0]])].bits == t.bits) {
      t.kind = TensorKind::kShared;
      t.source = by->inputs[0];
    }
    planned[v] = static_cast<int>(st.tensors.size());
    st.tensors.push_back(t);
  };
  for (ir::ValueId in : graph.inputs) add_activation(in, false, false, nullptr);
  auto constant_float = [&](ir::ValueId v) {
    if (v == ir::kNoValue || activation[v]) return false;
    auto c = runtime::constant_value(graph, v);
    return c && c->dtype() == DType::kFloat32;
  };
  for (size_t i = 0; i < nn; ++i) {
    const ir::Node& n = graph.node(static_cast<ir::NodeId>(i));
    const bool is_int = prec[i] != Precision::kFloat;
    // Weights and biases of integer nodes.
    if (is_int && n.inputs.size() >= 2 && constant_float(n.inputs[1]) && planned[n.inputs[1]] < 0) {
      auto w = runtime::constant_value(graph, n.inputs[1]);
      int axis = -2;  // -2: not a weight
      if (*n.kind == OpKind::kConv) axis = 0;
      if (*n.kind == OpKind::kConvTranspose) axis = 1;
      if (*n.kind == OpKind::kGemm) {
        auto tb = n.attributes.get_int("transB", 0);
        axis = tb.ok() && tb.value() ? 0 : 1;
      }
      if (*n.kind == OpKind::kMatMul && w->rank() >= 2 && activation[n.inputs[0]])
        axis = static_cast<int>(w->rank()) - 1;
      if (axis != -2 && w->rank() >= 2) {
        PlannedTensor t;
        t.value = n.inputs[1];
        t.role = Role::kWeight;
        t.kind = TensorKind::kWeight;
        t.axis = axis;
        if (*n.kind == OpKind::kConv && w->rank() >= 3) {
          auto group = n.attributes.get_int("group", 1);
          // W is [C_out, C_in / group, ...]: depthwise when every group has one input channel.
          t.depthwise = group.ok() && group.value() > 1 && w->dim(1) == 1;
        }
        planned[t.value] = static_cast<int>(st.tensors.size());
        st.tensors.push_back(t);
        const bool has_bias = (*n.kind == OpKind::kConv || *n.kind == OpKind::kGemm) &&
                              n.inputs.size() >= 3 && constant_float(n.inputs[2]) &&
                              planned[n.inputs[2]] < 0 && planned[n.inputs[0]] >= 0;
        if (has_bias) {
          auto b = runtime::constant_value(graph, n.inputs[2]);
          const int64_t channels = w->dim(axis);
          if (b->rank() == 1 && b->dim(0) == channels) {
            PlannedTensor bt;
            bt.value = n.inputs[2];
            bt.role = Role::kBias;
            bt.kind = TensorKind::kBias;
            bt.bits = 32;
            bt.source = n.inputs[0];
            bt.weight = n.inputs[1];
            planned[bt.value] = static_cast<int>(st.tensors.size());
            st.tensors.push_back(bt);
          }
        }
      }
    }
    for (ir::ValueId out : n.outputs)
      if (out != ir::kNoValue) add_activation(out, is_int, prec[i] == Precision::kInt16, &n);
  }
  return st;
}

Result<QuantPlan> make_plan(const ir::Graph& graph, const PlanStructure& structure,
                            const Scheme& scheme,
                            const std::map<ir::ValueId, std::pair<float, float>>& ranges,
                            const std::string& method) {
  QuantPlan plan;
  plan.nodes = structure.nodes;
  std::map<ir::ValueId, size_t> index;
  for (const PlannedTensor& pt : structure.tensors) {
    const ir::Value& v = graph.value(pt.value);
    TensorPlan t;
    t.name = v.name;
    t.role = pt.role;
    t.rounding = scheme.rounding;
    switch (pt.kind) {
      case TensorKind::kObserved: {
        auto it = ranges.find(pt.value);
        if (it == ranges.end())
          return invalid_argument("no calibration range for tensor '" + v.name + "'");
        auto p =
            params_from_range(it->second.first, it->second.second, format_for(scheme, pt.bits));
        if (!p.ok()) return p.status().with_context("tensor '" + v.name + "'");
        t.params = std::move(p).value();
        t.source = method;
        break;
      }
      case TensorKind::kShared: {
        const TensorPlan& src = plan.tensors[index.at(pt.source)];
        t.params = src.params;
        t.rounding = src.rounding;
        t.source = "shared:" + src.name;
        break;
      }
      case TensorKind::kWeight: {
        const Tensor w = *runtime::constant_value(graph, pt.value);
        const std::vector<float> data = w.to_f32_vector();
        const bool per_channel =
            scheme.per_channel_weights && !(pt.depthwise && scheme.per_tensor_depthwise);
        const int64_t channels = per_channel ? w.dim(pt.axis) : 1;
        int64_t inner = 1;
        if (per_channel)
          for (int64_t d = pt.axis + 1; d < w.rank(); ++d) inner *= w.dim(d);
        std::vector<float> lo(static_cast<size_t>(channels), 0.0f);
        std::vector<float> hi(static_cast<size_t>(channels), 0.0f);
        for (size_t i = 0; i < data.size(); ++i) {
          const float x = data[i];
          if (!std::isfinite(x))
            return invalid_argument("weight '" + v.name + "' holds a NaN or Inf at element " +
                                    std::to_string(i));
          const size_t c =
              per_channel ? static_cast<size_t>((static_cast<int64_t>(i) / inner) % channels) : 0;
          lo[c] = std::min(lo[c], x);
          hi[c] = std::max(hi[c], x);
        }
        t.params.axis = per_channel ? pt.axis : -1;
        for (size_t c = 0; c < lo.size(); ++c) {
          auto p = params_from_range(lo[c], hi[c], scheme.weight);
          if (!p.ok()) return p.status().with_context("weight '" + v.name + "'");
          t.params.bits = p.value().bits;
          t.params.is_signed = p.value().is_signed;
          t.params.symmetric = p.value().symmetric;
          t.params.narrow_range = p.value().narrow_range;
          t.params.scales.push_back(p.value().scales[0]);
          t.params.zero_points.push_back(p.value().zero_points[0]);
        }
        t.source = per_channel ? "minmax per channel" : "minmax per tensor";
        break;
      }
      case TensorKind::kBias: {
        const TensorPlan& in = plan.tensors[index.at(pt.source)];
        const TensorPlan& w = plan.tensors[index.at(pt.weight)];
        auto p = bias_params(in.params, w.params);
        if (!p.ok()) return p.status().with_context("bias '" + v.name + "'");
        t.params = std::move(p).value();
        t.source = "s_in * s_w";
        break;
      }
    }
    index[pt.value] = plan.tensors.size();
    plan.tensors.push_back(std::move(t));
  }
  return plan;
}

}  // namespace qdiff::quant
