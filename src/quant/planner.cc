#include "quant/planner.h"

#include <algorithm>
#include <cmath>
#include <limits>
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
// that fuse only those, Relu/Clip; the DPU's conv-fix also a LeakyRelu.
bool extends_unit(OpKind k, UnitGrowth growth) {
  if (k == OpKind::kRelu || k == OpKind::kClip) return true;
  if (growth == UnitGrowth::kConvFix) return k == OpKind::kLeakyRelu;
  if (growth == UnitGrowth::kReluClip) return false;
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
  } else if (target == "vitis-dpu") {
    // numerics.md §5.1: int8 symmetric full range, per tensor, power of two; vai_q_pytorch's
    // activation rounding half_up (= DPU_ROUND).
    s.activation = Format{8, true, true, false};
    s.weight = Format{8, true, true, false};
    s.per_channel_weights = false;
    s.rounding = RoundingMode::kHalfUp;
    s.units = UnitGrowth::kConvFix;
    s.power_of_two_scales = true;
  } else {
    std::string names;
    for (const std::string& n : scheme_names()) names += (names.empty() ? "" : ", ") + n;
    return invalid_argument("unknown target '" + std::string(target) + "' (known: " + names + ")");
  }
  return s;
}

std::vector<std::string> scheme_names() {
  return {"ort-cpu", "tflite-int8", "xnnpack-qs8", "tensorrt-int8", "vitis-dpu"};
}

bool is_relu6_hard_sigmoid(const ir::Node& node) {
  if (!node.kind || *node.kind != OpKind::kHardSigmoid) return false;
  auto alpha = node.attributes.get_float("alpha", 0.2f);
  auto beta = node.attributes.get_float("beta", 0.5f);
  return alpha.ok() && beta.ok() && std::fabs(alpha.value() - 1.0f / 6.0f) < 1e-6f &&
         beta.value() == 0.5f;
}

namespace {

int32_t grid_max(const Format& f) {
  return f.is_signed ? (1 << (f.bits - 1)) - 1 : (1 << f.bits) - 1;
}
int32_t grid_min(const Format& f) {
  return f.is_signed ? -(1 << (f.bits - 1)) + (f.narrow_range ? 1 : 0) : 0;
}

constexpr int kMaxFixPos = 100;

QuantParams pow2_params(int pos, const Format& f) {
  QuantParams p;
  p.bits = f.bits;
  p.is_signed = f.is_signed;
  p.symmetric = f.symmetric;
  p.narrow_range = f.narrow_range;
  p.scales = {pot_scale(pos)};
  p.zero_points = {0};
  return p;
}

int scale_pos(float scale) {  // scale = 2^-pos exactly
  return -std::ilogb(scale);
}

}  // namespace

int fix_pos_for_absmax(double absmax, const Format& f) {
  if (!(absmax > 0.0) || !std::isfinite(absmax)) return 0;
  const double qmax = grid_max(f);
  int pos = static_cast<int>(std::floor(std::log2(qmax / absmax)));
  // log2 in double can land one off near powers of two; settle on the exact condition.
  while (pos > -kMaxFixPos && std::ldexp(absmax, pos) > qmax) --pos;
  while (pos < kMaxFixPos && std::ldexp(absmax, pos + 1) <= qmax) ++pos;
  return std::clamp(pos, -kMaxFixPos, kMaxFixPos);
}

int fix_pos_min_mse(std::span<const float> values, const Format& f, RoundingMode mode) {
  double absmax = 0.0;
  for (float v : values) absmax = std::max(absmax, std::fabs(static_cast<double>(v)));
  const int pos0 = fix_pos_for_absmax(absmax, f);
  const int32_t qmin = grid_min(f), qmax = grid_max(f);
  int best = pos0;
  double best_err = std::numeric_limits<double>::infinity();
  for (int pos = pos0; pos <= std::min(pos0 + 4, kMaxFixPos); ++pos) {
    const float s = pot_scale(pos);
    double err = 0.0;
    for (float v : values) {
      const double d = static_cast<double>(v) -
                       static_cast<double>(dequantize(quantize(v, s, 0, qmin, qmax, mode), s, 0));
      err += d * d;
    }
    if (err < best_err) best = pos, best_err = err;
  }
  return best;
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
          !extends_unit(*m.kind, arith_head ? UnitGrowth::kReluClip : units))
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

namespace {

// vai_q's refine step on a power-of-two plan (the rules are listed at make_plan). Positions are
// read from and written to the plan's scales; a shared tensor (data movement) stands for the
// tensor it shares, and takes its parameters again at the end.
class FixPositions {
 public:
  FixPositions(const ir::Graph& g, const PlanStructure& st, QuantPlan& plan)
      : g_(g), st_(st), plan_(plan) {
    for (size_t i = 0; i < st.tensors.size(); ++i) {
      index_[st.tensors[i].value] = i;
      if (st.tensors[i].kind == TensorKind::kShared)
        source_[st.tensors[i].value] = st.tensors[i].source;
    }
    std::map<std::string, ir::NodeId> by_name;
    for (size_t i = 0; i < g.num_nodes(); ++i)
      by_name[g.node(static_cast<ir::NodeId>(i)).name] = static_cast<ir::NodeId>(i);
    for (const NodePlan& np : st.nodes) {
      const ir::NodeId id = by_name.at(np.name);
      if (!g.node(id).outputs.empty()) unit_out_[np.unit] = g.node(id).outputs[0];
      if (np.unit == np.name && np.precision != Precision::kFloat) heads_.push_back(id);
    }
  }

  void refine() {
    for (int loop = 0; loop < 5; ++loop) {
      bool changed = false;
      for (ir::NodeId id : heads_) changed = apply_rules(g_.node(id)) || changed;
      if (!changed) break;
    }
    // Biases last: shift_bias = pos_in + pos_w - pos_b in [0, 15] for every weight channel.
    for (const PlannedTensor& pt : st_.tensors) {
      if (pt.kind != TensorKind::kBias) continue;
      const int ip = pos(pt.source);
      int lo = -kMaxFixPos, hi = kMaxFixPos;
      const TensorPlan& w = at(pt.weight);
      for (float sw : w.params.scales) {
        lo = std::max(lo, ip + scale_pos(sw) - 15);
        hi = std::min(hi, ip + scale_pos(sw));
      }
      set(pt.value, std::min(std::max(pos(pt.value), lo), hi));
    }
    for (size_t i = 0; i < st_.tensors.size(); ++i)
      if (st_.tensors[i].kind == TensorKind::kShared)
        plan_.tensors[i].params = plan_.tensors[index_.at(st_.tensors[i].source)].params;
  }

 private:
  ir::ValueId root(ir::ValueId v) const {
    for (auto it = source_.find(v); it != source_.end(); it = source_.find(v)) v = it->second;
    return v;
  }
  bool has(ir::ValueId v) const { return v != ir::kNoValue && index_.count(v) > 0; }
  TensorPlan& at(ir::ValueId v) { return plan_.tensors[index_.at(root(v))]; }
  int pos(ir::ValueId v, size_t c = 0) { return scale_pos(at(v).params.scales[c]); }
  // Sets every channel (c < 0) or one channel to 2^-p; true when a scale changed.
  bool set(ir::ValueId v, int p, int c = -1) {
    p = std::clamp(p, -kMaxFixPos, kMaxFixPos);
    bool changed = false;
    std::vector<float>& scales = at(v).params.scales;
    for (size_t k = 0; k < scales.size(); ++k) {
      if (c >= 0 && static_cast<size_t>(c) != k) continue;
      changed = changed || scales[k] != pot_scale(p);
      scales[k] = pot_scale(p);
    }
    std::string& source = at(v).source;
    if (changed && !source.ends_with(", refined")) source += ", refined";
    return changed;
  }
  bool is_hard_sigmoid(const ir::Node& n) const {
    return is_relu6_hard_sigmoid(n) || (n.kind && *n.kind == OpKind::kSigmoid);
  }

  bool apply_rules(const ir::Node& n) {
    const OpKind k = *n.kind;
    auto it = unit_out_.find(n.name);
    const ir::ValueId out = it == unit_out_.end() ? ir::kNoValue : it->second;
    if (!has(out) || n.inputs.empty() || !has(n.inputs[0])) return false;
    const ir::ValueId x = n.inputs[0];
    bool changed = false;
    if (k == OpKind::kMaxPool || k == OpKind::kAveragePool || k == OpKind::kGlobalAveragePool) {
      if (root(x) == root(out)) return false;
      const int m = std::min(pos(x), pos(out));  // align_pool
      changed = set(x, m);
      return set(out, m) || changed;
    }
    if (is_hard_sigmoid(n)) {  // adjust_hard_sigmoid
      const int ip = std::clamp(pos(x), 0, 15);
      int op = std::max(pos(out), 7);
      if (14 + ip - op < 0) op = 14 + ip;
      changed = set(x, ip);
      return set(out, op) || changed;
    }
    const bool two = n.inputs.size() == 2 && has(n.inputs[1]);
    if (two && k == OpKind::kMul) {
      const ir::ValueId y = n.inputs[1];
      auto hsig_of = [&](ir::ValueId h, ir::ValueId v) {
        const ir::Value& hv = g_.value(h);
        if (hv.producer >= g_.num_nodes()) return false;
        const ir::Node& hn = g_.node(hv.producer);
        return is_hard_sigmoid(hn) && !hn.inputs.empty() && hn.inputs[0] == v;
      };
      const int sum = pos(x) + pos(y);
      if (hsig_of(x, y) || hsig_of(y, x))  // adjust_shift_swish
        changed = set(out, sum - std::clamp(sum - pos(out), 0, 15));
      return set(out, sum - std::clamp(sum - pos(out), 0, 32)) || changed;  // shift_write
    }
    if (two && (k == OpKind::kAdd || k == OpKind::kSub)) {
      const ir::ValueId y = n.inputs[1];
      if (pos(x) > pos(y) + 7) changed = set(x, pos(y) + 7);  // adjust_shift_read
      if (pos(y) > pos(x) + 7) changed = set(y, pos(x) + 7) || changed;
      const int lo = std::min(pos(x), pos(y));  // adjust_shift_write
      return set(out, lo - std::clamp(lo - pos(out), -7, 25)) || changed;
    }
    if ((k == OpKind::kConv || k == OpKind::kGemm || k == OpKind::kMatMul) &&
        n.inputs.size() >= 2 && has(n.inputs[1]) &&
        st_.tensors[index_.at(n.inputs[1])].kind == TensorKind::kWeight) {
      const ir::ValueId w = n.inputs[1];  // adjust_shift_cut moves the weight
      const int ip = pos(x), op = pos(out);
      for (size_t c = 0; c < at(w).params.scales.size(); ++c) {
        const int sc = pos(w, c) + ip - op;
        changed = set(w, std::clamp(sc, 0, 16) + op - ip, static_cast<int>(c)) || changed;
      }
    }
    return changed;
  }

  const ir::Graph& g_;
  const PlanStructure& st_;
  QuantPlan& plan_;
  std::map<ir::ValueId, size_t> index_;
  std::map<ir::ValueId, ir::ValueId> source_;
  std::map<std::string, ir::ValueId> unit_out_;
  std::vector<ir::NodeId> heads_;
};

Status check_pow2_format(const Format& f, const char* what) {
  if (!f.is_signed || !f.symmetric || f.narrow_scale)
    return invalid_argument(std::string("power-of-two scales need a signed symmetric ") + what +
                            " format (zero point 0, no narrow_scale)");
  return Status::ok_status();
}

}  // namespace

Result<QuantPlan> make_plan(const ir::Graph& graph, const PlanStructure& structure,
                            const Scheme& scheme,
                            const std::map<ir::ValueId, std::pair<float, float>>& ranges,
                            const std::string& method) {
  const bool pow2 = scheme.power_of_two_scales;
  if (pow2) {
    QDIFF_RETURN_IF_ERROR(check_pow2_format(scheme.activation, "activation"));
    QDIFF_RETURN_IF_ERROR(check_pow2_format(scheme.activation16, "activation16"));
    QDIFF_RETURN_IF_ERROR(check_pow2_format(scheme.weight, "weight"));
  }
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
        if (pow2) {
          const double absmax = std::max(std::fabs(static_cast<double>(it->second.first)),
                                         std::fabs(static_cast<double>(it->second.second)));
          const Format& f = format_for(scheme, pt.bits);
          t.params = pow2_params(fix_pos_for_absmax(absmax, f), f);
          t.source = method + ", power of two";
          break;
        }
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
        const Tensor w = runtime::constant_value(graph, pt.value)->to_plain().cast(DType::kFloat32);
        const std::span<const float> data = w.values<float>();
        const bool per_channel =
            scheme.per_channel_weights && !(pt.depthwise && scheme.per_tensor_depthwise);
        const int64_t channels = per_channel ? w.dim(pt.axis) : 1;
        int64_t inner = per_channel ? 1 : std::max<int64_t>(w.numel(), 1);
        if (per_channel)
          for (int64_t d = pt.axis + 1; d < w.rank(); ++d) inner *= w.dim(d);
        std::vector<float> lo(static_cast<size_t>(channels), 0.0f);
        std::vector<float> hi(static_cast<size_t>(channels), 0.0f);
        // One channel's block of `inner` elements at a time.
        for (size_t start = 0, block = 0; start < data.size();
             start += static_cast<size_t>(inner), ++block) {
          const size_t c = block % static_cast<size_t>(channels);
          const size_t end = std::min(data.size(), start + static_cast<size_t>(inner));
          float l = lo[c], h = hi[c];
          bool finite = true;
          for (size_t i = start; i < end; ++i) {
            finite = finite && std::isfinite(data[i]);
            l = std::min(l, data[i]);
            h = std::max(h, data[i]);
          }
          if (!finite) {
            for (size_t i = start; i < end; ++i)
              if (!std::isfinite(data[i]))
                return invalid_argument("weight '" + v.name + "' holds a NaN or Inf at element " +
                                        std::to_string(i));
          }
          lo[c] = l;
          hi[c] = h;
        }
        t.params.axis = per_channel ? pt.axis : -1;
        if (pow2) {
          std::vector<std::vector<float>> by_channel(lo.size());
          for (size_t i = 0; i < data.size(); ++i)
            by_channel[per_channel
                           ? static_cast<size_t>((static_cast<int64_t>(i) / inner) % channels)
                           : 0]
                .push_back(data[i]);
          t.params = pow2_params(0, scheme.weight);
          t.params.axis = per_channel ? pt.axis : -1;
          t.params.scales.clear();
          t.params.zero_points.clear();
          for (const std::vector<float>& values : by_channel) {
            t.params.scales.push_back(
                pot_scale(fix_pos_min_mse(values, scheme.weight, scheme.rounding)));
            t.params.zero_points.push_back(0);
          }
          t.source = per_channel ? "min mse per channel, power of two"
                                 : "min mse per tensor, power of two";
          break;
        }
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
        if (pow2) {  // vai_q: the bias is a power-of-two tensor of the weight format
          const std::vector<float> values =
              runtime::constant_value(graph, pt.value)->to_f32_vector();
          for (float x : values)
            if (!std::isfinite(x))
              return invalid_argument("bias '" + v.name + "' holds a NaN or Inf");
          t.params =
              pow2_params(fix_pos_min_mse(values, scheme.weight, scheme.rounding), scheme.weight);
          t.source = "min mse per tensor, power of two";
          break;
        }
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
  if (pow2) FixPositions(graph, structure, plan).refine();
  return plan;
}

}  // namespace qdiff::quant
