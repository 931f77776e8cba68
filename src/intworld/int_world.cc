#include "intworld/int_world.h"

#include <bit>
#include <cmath>
#include <limits>
#include <optional>
#include <set>
#include <unordered_map>

#include "intkernels/common.h"
#include "intkernels/elementwise.h"
#include "intkernels/linear.h"
#include "intkernels/pool.h"
#include "intkernels/requantizer.h"
#include "kernels/kernel.h"
#include "runtime/interpreter.h"
#include "runtime/model_info.h"
#include "runtime/registry.h"

namespace qdiff::intworld {

using ir::OpKind;
using quant::Precision;
using quant::Role;
using quant::TensorPlan;

namespace {

// Channel of flat element i for per-channel params along `axis` of `shape`.
struct ChannelMap {
  int64_t inner = 1;
  int64_t channels = 1;
  int64_t operator()(int64_t i) const { return (i / inner) % channels; }
};

Result<ChannelMap> channel_map(const QuantParams& p, const Shape& shape) {
  ChannelMap m;
  if (!p.per_channel()) return m;
  if (p.axis >= static_cast<int>(shape.size()))
    return invalid_argument("per-channel axis " + std::to_string(p.axis) + " out of range for " +
                            shape_to_string(shape));
  m.channels = shape[static_cast<size_t>(p.axis)];
  if (m.channels != static_cast<int64_t>(p.scales.size()))
    return invalid_argument("per-channel parameters: " + std::to_string(p.scales.size()) +
                            " scales for " + std::to_string(m.channels) + " channels");
  for (size_t d = static_cast<size_t>(p.axis) + 1; d < shape.size(); ++d) m.inner *= shape[d];
  return m;
}

bool is_move_op(OpKind k) {
  switch (k) {
    case OpKind::kReshape:
    case OpKind::kFlatten:
    case OpKind::kTranspose:
    case OpKind::kSqueeze:
    case OpKind::kUnsqueeze:
    case OpKind::kDepthToSpace:
    case OpKind::kSpaceToDepth:
    case OpKind::kSlice:
    case OpKind::kGather:
    case OpKind::kIdentity:
    case OpKind::kSplit:
    case OpKind::kMaxPool:
    case OpKind::kResize:
      return true;
    default:
      return false;
  }
}

bool is_lut_op(OpKind k) {
  return k == OpKind::kSigmoid || k == OpKind::kTanh || k == OpKind::kHardSigmoid ||
         k == OpKind::kHardSwish || k == OpKind::kLeakyRelu;
}

bool same_format(const QuantParams& a, const QuantParams& b) {
  return a.bits == b.bits && a.is_signed == b.is_signed && a.scales == b.scales &&
         a.zero_points == b.zero_points && a.axis == b.axis;
}

// Runs the float reference kernel of `node` on `inputs`.
Result<std::vector<Tensor>> run_reference(const ir::Node& node,
                                          const std::vector<const Tensor*>& inputs,
                                          std::unique_ptr<kernels::KernelState>* state) {
  std::vector<Tensor> outputs(node.outputs.size());
  kernels::KernelContext ctx{node.attributes, inputs, outputs, node.opset, 1, state};
  const runtime::KernelEntry ref = runtime::reference_kernel(*node.kind);
  Status s = ref.fn(ctx);
  if (!s.ok()) return s.with_context(node.describe());
  for (size_t o = 0; o < outputs.size(); ++o)
    if (node.outputs[o] != ir::kNoValue && !outputs[o].defined())
      return Status(ErrorCode::kInternal,
                    node.describe() + ": kernel did not produce output " + std::to_string(o));
  return outputs;
}

}  // namespace

Result<Tensor> dequantize_tensor(const Tensor& q_in, const QuantParams& p) {
  const Tensor q = q_in.to_plain();
  QDIFF_ASSIGN_OR_RETURN(std::vector<int64_t> v, intkernels::integer_values(q, "dequantize"));
  QDIFF_ASSIGN_OR_RETURN(ChannelMap cm, channel_map(p, q.shape()));
  Tensor out = Tensor::zeros(DType::kFloat32, q.shape());
  float* d = out.mutable_data<float>();
  for (int64_t i = 0; i < q.numel(); ++i)
    d[i] = dequantize(static_cast<int32_t>(v[static_cast<size_t>(i)]), p, cm(i));
  return out;
}

Result<Tensor> quantize_tensor(const Tensor& x_in, const QuantParams& p, RoundingMode mode,
                               bool reciprocal) {
  const Tensor x = x_in.to_plain();
  if (x.dtype() != DType::kFloat32)
    return invalid_argument("quantize: expected float32, got " +
                            std::string(dtype_name(x.dtype())));
  QDIFF_ASSIGN_OR_RETURN(ChannelMap cm, channel_map(p, x.shape()));
  std::vector<int64_t> v(static_cast<size_t>(x.numel()));
  const float* s = x.data<float>();
  const int32_t qmin = p.qmin();
  const int32_t qmax = p.qmax();
  for (int64_t i = 0; i < x.numel(); ++i) {
    const size_t c = static_cast<size_t>(cm(i));
    v[static_cast<size_t>(i)] =
        reciprocal ? quantize_by_reciprocal(s[i], p.scales[c], p.zero_points[c], qmin, qmax, mode)
                   : quantize(s[i], p.scales[c], p.zero_points[c], qmin, qmax, mode);
  }
  return intkernels::make_integer_tensor(intkernels::storage_dtype(p), x.shape(), v);
}

// ------------------------------------------------------------------------------------------------

enum class StepKind : uint8_t {
  kFloat,   // dequantize inputs, float reference kernel, quantize planned outputs
  kMember,  // inside an integer unit: computed by the unit's head
  kLinear,  // Conv / Gemm / MatMul unit
  kBinary,  // Add / Sub / Mul (+ Relu)
  kMove,    // data movement on integers held as float
  kAvgPool,
  kGlobalAvgPool,
  kLut,
  kConcat,
};

struct Step {
  StepKind kind = StepKind::kFloat;
  ir::ValueId out = ir::kNoValue;  // the unit's output (kLinear, kBinary)
  // kLinear
  OpKind op = OpKind::kConv;
  Tensor weight;  // integer
  QuantParams w_params;
  Tensor bias;  // int32 or undefined
  std::optional<intkernels::Requantizer> rq;
  intkernels::ConvParams conv;
  bool trans_a = false, trans_b = false;
  int64_t channel_axis = -1;
  bool weight_is_activation = false;  // MatMul of two activations
  // kBinary
  intkernels::BinaryOp binop = intkernels::BinaryOp::kAdd;
  bool relu = false;
  // kAvgPool
  intkernels::PoolParams pool;
  // kLut
  intkernels::Lut lut;
};

struct IntWorld::Impl {
  ir::Graph graph;
  quant::QuantPlan plan;
  targets::TargetProfile profile;
  intkernels::AccumulatorModel model;
  std::vector<const TensorPlan*> qplan;  // per value: activation plan (held as integers)
  std::vector<Step> steps;               // per node
  std::vector<std::string> step_names;
  std::vector<int64_t> last_use;
  std::vector<bool> is_output;
  std::vector<std::unique_ptr<kernels::KernelState>> states;

  const QuantParams* qp(ir::ValueId v) const {
    return v != ir::kNoValue && qplan[v] ? &qplan[v]->params : nullptr;
  }
  Status prepare();
  Status prepare_linear(size_t i, const std::vector<size_t>& members);
  Status prepare_lut(size_t i);
  Result<Tensor> quantize_activation(ir::ValueId id, const Tensor& x) const;
  Status run_step(size_t i, std::vector<Tensor>& values);
};

Result<Tensor> IntWorld::Impl::quantize_activation(ir::ValueId id, const Tensor& x) const {
  return quantize_tensor(x, qplan[id]->params, profile.quantize_rounding,
                         profile.quantize_by_reciprocal);
}

Status IntWorld::Impl::prepare_linear(size_t i, const std::vector<size_t>& members) {
  const ir::Node& node = graph.node(static_cast<ir::NodeId>(i));
  Step& st = steps[i];
  st.kind = StepKind::kLinear;
  st.op = *node.kind;
  const std::string where = node.describe() + ": integer unit";
  // Members: Relu / Clip only; the unit's output is the last member's.
  float lo = -std::numeric_limits<float>::infinity();
  float hi = std::numeric_limits<float>::infinity();
  ir::ValueId prev = node.outputs[0];
  for (size_t m : members) {
    const ir::Node& mn = graph.node(static_cast<ir::NodeId>(m));
    if (mn.inputs.empty() || mn.inputs[0] != prev)
      return unsupported(where + " cannot run as integers: member " + mn.describe() +
                         " does not read the unit's previous tensor");
    if (mn.kind == OpKind::kRelu) {
      lo = std::max(lo, 0.0f);
    } else if (mn.kind == OpKind::kClip) {
      float cmin = -std::numeric_limits<float>::infinity();
      float cmax = std::numeric_limits<float>::infinity();
      if (mn.opset < 11) {
        QDIFF_ASSIGN_OR_RETURN(cmin, mn.attributes.get_float("min", cmin));
        QDIFF_ASSIGN_OR_RETURN(cmax, mn.attributes.get_float("max", cmax));
      } else {
        for (size_t k = 1; k < 3 && k < mn.inputs.size(); ++k) {
          if (mn.inputs[k] == ir::kNoValue) continue;
          std::optional<Tensor> c = runtime::constant_value(graph, mn.inputs[k]);
          if (!c || c->numel() != 1)
            return unsupported(where + " cannot run as integers: " + mn.describe() +
                               " has non-constant bounds");
          (k == 1 ? cmin : cmax) = c->to_f32_vector()[0];
        }
      }
      lo = std::max(lo, cmin);
      hi = std::min(hi, cmax);
    } else {
      return unsupported(where + " cannot run as integers: member " + mn.describe() +
                         " is not a Relu or Clip the requantization can fold");
    }
    prev = mn.outputs[0];
  }
  st.out = prev;
  const QuantParams* x_p = qp(node.inputs[0]);
  const QuantParams* y_p = qp(st.out);
  if (!x_p)
    return unsupported(where + " cannot run as integers: its input '" +
                       graph.value(node.inputs[0]).name + "' is not quantized");
  if (!y_p)
    return unsupported(where + " cannot run as integers: its output '" + graph.value(st.out).name +
                       "' is not quantized");
  if (x_p->per_channel() || y_p->per_channel())
    return unsupported(where + ": input and output must be quantized per tensor");
  // Weight: a planned constant, or (MatMul) a second quantized activation.
  if (node.inputs.size() < 2 || node.inputs[1] == ir::kNoValue)
    return invalid_model(node.describe() + ": missing second input");
  const ir::ValueId wid = node.inputs[1];
  const TensorPlan* wp = plan.find(graph.value(wid).name);
  if (wp && wp->role == Role::kWeight) {
    std::optional<Tensor> w = runtime::constant_value(graph, wid);
    if (!w) return invalid_argument(where + ": weight '" + wp->name + "' is not a constant");
    st.w_params = wp->params;
    QDIFF_ASSIGN_OR_RETURN(st.weight,
                           quantize_tensor(*w, wp->params, wp->rounding, wp->reciprocal));
  } else if (st.op == OpKind::kMatMul && qp(wid)) {
    st.weight_is_activation = true;
    st.w_params = *qp(wid);
  } else {
    return unsupported(where + " cannot run as integers: its weight '" + graph.value(wid).name +
                       "' has no quantization parameters in the plan");
  }
  // Bias: int32 (plan parameters, or s_x * s_w), or a float epilogue bias (bias_bits = 0).
  std::vector<float> float_bias;
  const ir::ValueId bid = st.op == OpKind::kMatMul
                              ? ir::kNoValue
                              : (node.inputs.size() > 2 ? node.inputs[2] : ir::kNoValue);
  if (bid != ir::kNoValue) {
    std::optional<Tensor> b = runtime::constant_value(graph, bid);
    if (!b)
      return unsupported(where + " cannot run as integers: its bias '" + graph.value(bid).name +
                         "' is not a constant");
    if (profile.bias_bits == 0) {
      float_bias = b->to_f32_vector();
    } else {
      const TensorPlan* bp = plan.find(graph.value(bid).name);
      QuantParams params;
      RoundingMode mode = RoundingMode::kHalfToEven;
      bool reciprocal = false;
      if (bp && bp->role == Role::kBias) {
        params = bp->params;
        mode = bp->rounding;
        reciprocal = bp->reciprocal;
      } else {
        QDIFF_ASSIGN_OR_RETURN(params, quant::bias_params(*x_p, st.w_params));
        if (params.per_channel()) params.axis = 0;
      }
      QDIFF_ASSIGN_OR_RETURN(Tensor bq, quantize_tensor(*b, params, mode, reciprocal));
      st.bias = bq.cast(DType::kInt32);
    }
  }
  // Attributes.
  if (st.op == OpKind::kConv) {
    QDIFF_ASSIGN_OR_RETURN(std::string auto_pad, node.attributes.get_string("auto_pad", "NOTSET"));
    if (auto_pad != "NOTSET")
      return unsupported(where + ": auto_pad " + auto_pad + " is not supported");
    if (st.weight.rank() != 4) return unsupported(where + ": only 2-D convolutions");
    QDIFF_ASSIGN_OR_RETURN(st.conv.group, node.attributes.get_int("group", 1));
    QDIFF_ASSIGN_OR_RETURN(st.conv.strides, node.attributes.get_ints("strides"));
    QDIFF_ASSIGN_OR_RETURN(st.conv.dilations, node.attributes.get_ints("dilations"));
    QDIFF_ASSIGN_OR_RETURN(st.conv.pads, node.attributes.get_ints("pads"));
    if (!profile.pad_with_zero_point) st.conv.pad_value = profile.pad_value;
    if (st.w_params.per_channel() && st.w_params.axis != 0)
      return unsupported(where + ": per-channel Conv weights must use axis 0");
    st.channel_axis = 1;
  } else if (st.op == OpKind::kGemm) {
    QDIFF_ASSIGN_OR_RETURN(float alpha, node.attributes.get_float("alpha", 1.0f));
    QDIFF_ASSIGN_OR_RETURN(float beta, node.attributes.get_float("beta", 1.0f));
    if (alpha != 1.0f || (beta != 1.0f && bid != ir::kNoValue))
      return unsupported(where + ": Gemm with alpha or beta other than 1");
    QDIFF_ASSIGN_OR_RETURN(int64_t ta, node.attributes.get_int("transA", 0));
    QDIFF_ASSIGN_OR_RETURN(int64_t tb, node.attributes.get_int("transB", 0));
    st.trans_a = ta != 0;
    st.trans_b = tb != 0;
    if (st.w_params.per_channel() && st.w_params.axis != (st.trans_b ? 0 : 1))
      return unsupported(where + ": per-channel Gemm weights must be per output column");
    st.channel_axis = st.w_params.per_channel() ? 1 : -1;
  } else {
    if (st.w_params.per_channel() &&
        (st.weight_is_activation || st.w_params.axis != static_cast<int>(st.weight.rank()) - 1))
      return unsupported(where + ": per-channel MatMul weights must be per output column");
    st.channel_axis = st.w_params.per_channel() ? -2 : -1;  // -2: last axis, set per run
  }
  intkernels::RequantInputs in;
  in.s_x = x_p->scales[0];
  in.s_w = st.w_params.scales;
  in.s_y = y_p->scales[0];
  in.z_y = y_p->zero_points[0];
  in.qmin = y_p->qmin();
  in.qmax = y_p->qmax();
  in.float_bias = float_bias;
  if (std::isfinite(lo) || std::isfinite(hi))
    intkernels::fused_activation_bounds(lo, hi, in.s_y, in.z_y, in.qmin, in.qmax,
                                        profile.quantize_rounding, &in.act_min, &in.act_max);
  auto rq = intkernels::Requantizer::create(in, intkernels::requant_spec(profile));
  if (!rq.ok()) return rq.status().with_context(where);
  st.rq = std::move(*rq);
  return Status::ok_status();
}

Status IntWorld::Impl::prepare_lut(size_t i) {
  const ir::Node& node = graph.node(static_cast<ir::NodeId>(i));
  Step& st = steps[i];
  const QuantParams& in = *qp(node.inputs[0]);
  const QuantParams& out = *qp(node.outputs[0]);
  // The real function's values on the input grid, from the float reference kernel (the values
  // ORT's DQ -> op -> Q computes); Sigmoid as ORT's QLinearSigmoid table (MlasComputeLogistic).
  const int32_t qmin = in.qmin(), qmax = in.qmax();
  std::vector<float> xs;
  for (int32_t q = qmin; q <= qmax; ++q) xs.push_back(dequantize(q, in, 0));
  const Tensor xt = Tensor::from_vector<float>({static_cast<int64_t>(xs.size())}, xs);
  std::vector<float> ys;
  if (node.kind == OpKind::kSigmoid && profile.lut == targets::LutScheme::kFloatRhe) {
    for (float x : xs) ys.push_back(intkernels::mlas_logistic(x, true));
  } else {
    std::unique_ptr<kernels::KernelState> state;
    QDIFF_ASSIGN_OR_RETURN(std::vector<Tensor> o, run_reference(node, {&xt}, &state));
    ys = o[0].to_f32_vector();
  }
  auto table = std::make_shared<std::unordered_map<uint32_t, float>>();
  for (size_t k = 0; k < xs.size(); ++k) (*table)[std::bit_cast<uint32_t>(xs[k])] = ys[k];
  auto f = [table](float x) {
    auto it = table->find(std::bit_cast<uint32_t>(x));
    QDIFF_ASSERT(it != table->end(), "LUT input off the quantization grid");
    return it->second;
  };
  auto lut = intkernels::build_lut(f, in, out, profile.lut);
  if (!lut.ok()) return lut.status().with_context(node.describe());
  st.lut = std::move(*lut);
  st.kind = StepKind::kLut;
  return Status::ok_status();
}

Status IntWorld::Impl::prepare() {
  const size_t nv = graph.num_values();
  qplan.assign(nv, nullptr);
  for (const TensorPlan& t : plan.tensors) {
    if (t.role != Role::kActivation) continue;
    auto id = graph.find_value(t.name);
    QDIFF_ASSERT(id.has_value(), "check_plan let an unknown tensor through");
    if (t.dynamic)
      return unsupported("plan tensor '" + t.name +
                         "': dynamic quantization is not supported by the integer world");
    if (t.params.per_channel())
      return unsupported("plan tensor '" + t.name +
                         "': per-channel activations are not supported by the integer world");
    qplan[*id] = &t;
  }
  const size_t nn = graph.num_nodes();
  steps.assign(nn, Step());
  step_names.assign(nn, "float");
  states.resize(nn);
  last_use.assign(nv, -1);
  is_output.assign(nv, false);
  for (ir::ValueId o : graph.outputs) is_output[o] = true;
  // Unit members by head name.
  std::unordered_map<std::string, std::vector<size_t>> members;
  std::unordered_map<std::string, const quant::NodePlan*> node_plans;
  for (const quant::NodePlan& np : plan.nodes) node_plans[np.name] = &np;
  for (size_t i = 0; i < nn; ++i) {
    const ir::Node& node = graph.node(static_cast<ir::NodeId>(i));
    if (!node.kind)
      return unsupported(node.describe() + ": qdiff has no kernel for op " + node.op_type);
    for (ir::ValueId in : node.inputs)
      if (in != ir::kNoValue) last_use[in] = static_cast<int64_t>(i);
    auto it = node_plans.find(node.name);
    if (it != node_plans.end() && it->second->unit != node.name)
      members[it->second->unit].push_back(i);
  }
  // Heads of units that run as float nodes (DQ -> float ops -> Q: what ORT does with a unit it
  // has no integer kernel for, e.g. Add(x, 3) + Clip of an exported HardSwish).
  std::set<std::string> float_units;
  for (size_t i = 0; i < nn; ++i) {
    const ir::Node& node = graph.node(static_cast<ir::NodeId>(i));
    auto it = node_plans.find(node.name);
    const quant::NodePlan* np = it == node_plans.end() ? nullptr : it->second;
    if (!np || np->precision == Precision::kFloat) continue;  // float step
    if (np->unit != node.name) {
      auto head = node_plans.find(np->unit);
      if (head != node_plans.end() && head->second->precision != Precision::kFloat &&
          !float_units.count(np->unit)) {
        steps[i].kind = StepKind::kMember;
        step_names[i] = "unit member";
      }
      continue;
    }
    const std::vector<size_t>& mem = members[node.name];
    const OpKind k = *node.kind;
    auto int_in = [&](size_t idx) {
      return idx < node.inputs.size() && qp(node.inputs[idx]) != nullptr;
    };
    const bool out_int = !node.outputs.empty() && qp(node.outputs[0]) != nullptr;
    if (k == OpKind::kConv || k == OpKind::kGemm || k == OpKind::kMatMul) {
      QDIFF_RETURN_IF_ERROR(prepare_linear(i, mem));
      step_names[i] = "int:linear";
      continue;
    }
    if (k == OpKind::kAdd || k == OpKind::kSub || k == OpKind::kMul) {
      Step& st = steps[i];
      ir::ValueId out = node.outputs[0];
      bool relu_only = true;
      for (size_t m : mem) {
        const ir::Node& mn = graph.node(static_cast<ir::NodeId>(m));
        relu_only = relu_only && mn.kind == OpKind::kRelu && mn.inputs[0] == out;
        st.relu = true;
        out = mn.outputs[0];
      }
      if (relu_only && int_in(0) && int_in(1) && qp(out)) {
        st.kind = StepKind::kBinary;
        st.out = out;
        st.binop = k == OpKind::kAdd   ? intkernels::BinaryOp::kAdd
                   : k == OpKind::kSub ? intkernels::BinaryOp::kSub
                                       : intkernels::BinaryOp::kMul;
        step_names[i] = "int:binary";
        continue;
      }
      st = Step();
      float_units.insert(node.name);
      continue;  // float steps (a Mul by a float constant, Add + Clip...)
    }
    if (!mem.empty()) {
      float_units.insert(node.name);
      continue;
    }
    if (!int_in(0) || !out_int) continue;
    const QuantParams& in0 = *qp(node.inputs[0]);
    if (is_move_op(k)) {
      bool ok = true;
      for (ir::ValueId o : node.outputs)
        ok = ok && o != ir::kNoValue && qp(o) && same_format(*qp(o), in0);
      for (size_t k2 = 1; k2 < node.inputs.size(); ++k2) ok = ok && !int_in(k2);
      if (k == OpKind::kResize) {
        QDIFF_ASSIGN_OR_RETURN(std::string mode, node.attributes.get_string("mode", "nearest"));
        ok = ok && mode == "nearest";
      }
      if (ok) {
        steps[i].kind = StepKind::kMove;
        step_names[i] = "int:move";
      }
      continue;
    }
    if ((k == OpKind::kGlobalAveragePool || k == OpKind::kAveragePool) &&
        profile.avgpool != targets::AvgPoolScheme::kFloat &&
        !same_format(in0, *qp(node.outputs[0])))
      return unsupported(node.describe() + ": the target's integer average pooling (" +
                         std::string(targets::avgpool_scheme_name(profile.avgpool)) +
                         ") needs equal input and output parameters");
    if (k == OpKind::kGlobalAveragePool) {
      steps[i].kind = StepKind::kGlobalAvgPool;
      step_names[i] = "int:pool";
      continue;
    }
    if (k == OpKind::kAveragePool) {
      Step& st = steps[i];
      QDIFF_ASSIGN_OR_RETURN(int64_t ceil_mode, node.attributes.get_int("ceil_mode", 0));
      QDIFF_ASSIGN_OR_RETURN(std::string auto_pad,
                             node.attributes.get_string("auto_pad", "NOTSET"));
      if (ceil_mode != 0 || auto_pad != "NOTSET") continue;  // float step
      QDIFF_ASSIGN_OR_RETURN(st.pool.kernel, node.attributes.get_ints("kernel_shape"));
      QDIFF_ASSIGN_OR_RETURN(st.pool.strides, node.attributes.get_ints("strides"));
      QDIFF_ASSIGN_OR_RETURN(st.pool.pads, node.attributes.get_ints("pads"));
      QDIFF_ASSIGN_OR_RETURN(int64_t cip, node.attributes.get_int("count_include_pad", 0));
      st.pool.count_include_pad = cip != 0;
      if (st.pool.kernel.size() != 2) continue;
      st.kind = StepKind::kAvgPool;
      step_names[i] = "int:pool";
      continue;
    }
    if (is_lut_op(k) && node.inputs.size() == 1 && in0.bits <= 16) {
      QDIFF_RETURN_IF_ERROR(prepare_lut(i));
      step_names[i] = "int:lut";
      continue;
    }
    if (k == OpKind::kConcat) {
      bool all = true;
      for (size_t k2 = 0; k2 < node.inputs.size(); ++k2) all = all && int_in(k2);
      if (all) {
        steps[i].kind = StepKind::kConcat;
        step_names[i] = "int:concat";
      }
      continue;
    }
  }
  return Status::ok_status();
}

Status IntWorld::Impl::run_step(size_t i, std::vector<Tensor>& values) {
  const ir::Node& node = graph.node(static_cast<ir::NodeId>(i));
  Step& st = steps[i];
  auto in = [&](size_t k) -> const Tensor& { return values[node.inputs[k]]; };
  auto ctx = [&](Status s) { return s.with_context(node.describe()); };
  switch (st.kind) {
    case StepKind::kMember:
      return Status::ok_status();
    case StepKind::kLinear: {
      const QuantParams& xp = *qp(node.inputs[0]);
      const QuantParams& yp = *qp(st.out);
      const Tensor& w = st.weight_is_activation ? in(1) : st.weight;
      Result<Tensor> acc = Status();
      if (st.op == OpKind::kConv) {
        acc = intkernels::conv_accumulate(in(0), xp.zero_points[0], w, st.w_params.zero_points,
                                          st.bias, st.conv, model);
      } else if (st.op == OpKind::kGemm) {
        acc = intkernels::gemm_accumulate(in(0), xp.zero_points[0], w, st.w_params.zero_points,
                                          st.trans_a, st.trans_b, st.bias, model);
      } else {
        acc = intkernels::matmul_accumulate(in(0), xp.zero_points[0], w, st.w_params.zero_points,
                                            model);
      }
      if (!acc.ok()) return ctx(acc.status());
      const int64_t axis = st.channel_axis == -2 ? acc->rank() - 1 : st.channel_axis;
      Result<Tensor> y =
          intkernels::requantize_accumulators(*acc, *st.rq, axis, intkernels::storage_dtype(yp));
      if (!y.ok()) return ctx(y.status());
      values[st.out] = std::move(*y);
      return Status::ok_status();
    }
    case StepKind::kBinary: {
      Result<Tensor> y =
          intkernels::qlinear_binary(st.binop, in(0), *qp(node.inputs[0]), in(1),
                                     *qp(node.inputs[1]), *qp(st.out), profile.add, st.relu);
      if (!y.ok()) return ctx(y.status());
      values[st.out] = std::move(*y);
      return Status::ok_status();
    }
    case StepKind::kMove: {
      const DType dt = in(0).dtype();
      const Tensor xf = in(0).cast(DType::kFloat32);
      std::vector<const Tensor*> ins;
      for (size_t k = 0; k < node.inputs.size(); ++k)
        ins.push_back(k == 0 ? &xf : (node.inputs[k] == ir::kNoValue ? nullptr : &in(k)));
      QDIFF_ASSIGN_OR_RETURN(std::vector<Tensor> outs, run_reference(node, ins, &states[i]));
      for (size_t o = 0; o < outs.size(); ++o)
        if (node.outputs[o] != ir::kNoValue) values[node.outputs[o]] = outs[o].cast(dt);
      return Status::ok_status();
    }
    case StepKind::kGlobalAvgPool: {
      Result<Tensor> y = intkernels::global_avg_pool(in(0), *qp(node.inputs[0]),
                                                     *qp(node.outputs[0]), profile.avgpool);
      if (!y.ok()) return ctx(y.status());
      values[node.outputs[0]] = std::move(*y);
      return Status::ok_status();
    }
    case StepKind::kAvgPool: {
      Result<Tensor> y = intkernels::avg_pool(in(0), *qp(node.inputs[0]), *qp(node.outputs[0]),
                                              st.pool, profile.avgpool);
      if (!y.ok()) return ctx(y.status());
      values[node.outputs[0]] = std::move(*y);
      return Status::ok_status();
    }
    case StepKind::kLut: {
      Result<Tensor> y =
          intkernels::apply_lut(in(0), st.lut, intkernels::storage_dtype(*qp(node.outputs[0])));
      if (!y.ok()) return ctx(y.status());
      values[node.outputs[0]] = std::move(*y);
      return Status::ok_status();
    }
    case StepKind::kConcat: {
      std::vector<Tensor> ins;
      std::vector<QuantParams> ps;
      for (size_t k = 0; k < node.inputs.size(); ++k) {
        ins.push_back(in(k));
        ps.push_back(*qp(node.inputs[k]));
      }
      QDIFF_ASSIGN_OR_RETURN(int64_t axis, node.attributes.get_int("axis", 0));
      if (axis < 0) axis += ins[0].rank();
      Result<Tensor> y =
          intkernels::qlinear_concat(ins, ps, *qp(node.outputs[0]), axis, profile.lut);
      if (!y.ok()) return ctx(y.status());
      values[node.outputs[0]] = std::move(*y);
      return Status::ok_status();
    }
    case StepKind::kFloat:
      break;
  }
  // Float step: DQ -> float reference kernel -> Q.
  std::vector<Tensor> deq(node.inputs.size());
  std::vector<const Tensor*> ins(node.inputs.size(), nullptr);
  for (size_t k = 0; k < node.inputs.size(); ++k) {
    const ir::ValueId v = node.inputs[k];
    if (v == ir::kNoValue) continue;
    if (qp(v)) {
      auto d = dequantize_tensor(values[v], *qp(v));
      if (!d.ok()) return ctx(d.status());
      deq[k] = std::move(*d);
      ins[k] = &deq[k];
    } else {
      ins[k] = &values[v];
    }
  }
  QDIFF_ASSIGN_OR_RETURN(std::vector<Tensor> outs, run_reference(node, ins, &states[i]));
  for (size_t o = 0; o < outs.size(); ++o) {
    const ir::ValueId v = node.outputs[o];
    if (v == ir::kNoValue) continue;
    if (qp(v)) {
      auto q = quantize_activation(v, outs[o]);
      if (!q.ok()) return ctx(q.status().with_context("tensor '" + graph.value(v).name + "'"));
      values[v] = std::move(*q);
    } else {
      values[v] = std::move(outs[o]);
    }
  }
  return Status::ok_status();
}

// ------------------------------------------------------------------------------------------------

IntWorld::IntWorld(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
IntWorld::~IntWorld() = default;

Result<std::unique_ptr<IntWorld>> IntWorld::create(const ir::Graph& float_graph,
                                                   const quant::QuantPlan& plan,
                                                   const targets::TargetProfile& profile) {
  QDIFF_RETURN_IF_ERROR(quant::check_plan(plan, float_graph));
  QDIFF_RETURN_IF_ERROR(targets::check_profile(profile));
  auto impl = std::make_unique<Impl>();
  impl->graph = float_graph;
  impl->plan = plan;
  impl->profile = profile;
  impl->model = intkernels::accumulator_model(profile);
  QDIFF_RETURN_IF_ERROR(impl->prepare());
  return std::unique_ptr<IntWorld>(new IntWorld(std::move(impl)));
}

const ir::Graph& IntWorld::graph() const {
  return impl_->graph;
}
const quant::TensorPlan* IntWorld::quantized(ir::ValueId id) const {
  return id < impl_->qplan.size() ? impl_->qplan[id] : nullptr;
}
const std::vector<std::string>& IntWorld::step_names() const {
  return impl_->step_names;
}

Result<std::vector<Tensor>> IntWorld::run(std::span<const Tensor> inputs,
                                          runtime::Observer* observer) {
  Impl& w = *impl_;
  const ir::Graph& g = w.graph;
  if (inputs.size() != g.inputs.size())
    return invalid_argument("expected " + std::to_string(g.inputs.size()) + " inputs, got " +
                            std::to_string(inputs.size()));
  std::vector<Tensor> values(g.num_values());
  auto hand_out = [&](ir::ValueId id) -> Status {
    if (observer && observer->wants(id)) return observer->observe(id, values[id]);
    return Status::ok_status();
  };
  for (ir::ValueId id = 0; id < g.num_values(); ++id)
    if (g.value(id).initializer) values[id] = *g.value(id).initializer;
  for (size_t k = 0; k < inputs.size(); ++k) {
    const ir::ValueId id = g.inputs[k];
    QDIFF_RETURN_IF_ERROR(runtime::check_tensor_type("input '" + g.value(id).name + "'",
                                                     g.value(id).type, inputs[k]));
    if (w.qp(id)) {
      auto q = w.quantize_activation(id, inputs[k]);
      if (!q.ok()) return q.status().with_context("input '" + g.value(id).name + "'");
      values[id] = std::move(*q);
    } else {
      values[id] = inputs[k].to_plain();
    }
    QDIFF_RETURN_IF_ERROR(hand_out(id));
  }
  for (size_t i = 0; i < g.num_nodes(); ++i) {
    const ir::Node& node = g.node(static_cast<ir::NodeId>(i));
    const Step& st = w.steps[i];
    QDIFF_RETURN_IF_ERROR(w.run_step(i, values));
    if (st.kind == StepKind::kLinear || st.kind == StepKind::kBinary) {
      QDIFF_RETURN_IF_ERROR(hand_out(st.out));
    } else if (st.kind != StepKind::kMember) {
      for (ir::ValueId o : node.outputs)
        if (o != ir::kNoValue) QDIFF_RETURN_IF_ERROR(hand_out(o));
    }
    for (ir::ValueId in : node.inputs)
      if (in != ir::kNoValue && w.last_use[in] == static_cast<int64_t>(i) && !w.is_output[in] &&
          !g.value(in).initializer)
        values[in] = Tensor();
  }
  std::vector<Tensor> outputs;
  for (ir::ValueId id : g.outputs) {
    if (!values[id].defined())
      return Status(ErrorCode::kInternal, "graph output '" + g.value(id).name + "' not produced");
    outputs.push_back(values[id]);
  }
  return outputs;
}

}  // namespace qdiff::intworld
