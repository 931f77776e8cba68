#include "intworld/int_world.h"

#include <algorithm>
#include <bit>
#include <chrono>
#include <cmath>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <unordered_map>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "intkernels/common.h"
#include "intkernels/elementwise.h"
#include "intkernels/fast_conv.h"
#include "intkernels/fast_pool.h"
#include "intkernels/linear.h"
#include "intkernels/pool.h"
#include "intkernels/quantize.h"
#include "intkernels/requantizer.h"
#include "kernels/fast/dnnl_common.h"
#include "kernels/kernel.h"
#include "quant/planner.h"
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

// The DPU adds its bias as q_b * 2^shift_bias, shift_bias = pos_in + pos_w - pos_b (numerics.md
// §5.3): the integer bias of its own power-of-two grid, brought to the accumulator's units.
Result<Tensor> bias_in_accumulator_units(const Tensor& qb, const QuantParams& bp, float s_x,
                                         const std::vector<float>& s_w, const std::string& where) {
  const std::vector<int64_t> v = qb.to_i64_vector();
  if (qb.rank() > 1 || (s_w.size() > 1 && s_w.size() != v.size()) ||
      (bp.per_channel() && bp.scales.size() != v.size()))
    return unsupported(where + ": a power-of-two bias must be one value per output channel");
  std::vector<int64_t> out(v.size());
  for (size_t c = 0; c < v.size(); ++c) {
    const double s_b = bp.scales[bp.per_channel() ? c : 0];
    const double ratio = s_b / (static_cast<double>(s_x) * s_w[s_w.size() == 1 ? 0 : c]);
    int e = 0;
    if (std::frexp(ratio, &e) != 0.5)
      return unsupported(where + ": the bias scale is not a power-of-two multiple of s_x * s_w");
    const int shift_bias = e - 1;
    if (shift_bias < 0 || shift_bias > 30)
      return unsupported(where + ": shift_bias " + std::to_string(shift_bias) +
                         " outside [0, 30] (the bias must not have finer steps than the "
                         "accumulator)");
    out[c] = v[c] * (int64_t{1} << shift_bias);
    if (out[c] < INT32_MIN || out[c] > INT32_MAX)
      return unsupported(where + ": the shifted bias does not fit int32");
  }
  return intkernels::make_integer_tensor(DType::kInt32, qb.shape(), out);
}

// TensorRT's float epilogue of one accumulator (numerics.md §8): f32(acc) * f32(s_x * s_w[c]) +
// bias[c], each operation rounded to float32 (no contraction).
float epilogue_value(int64_t acc, float acc_scale, float bias) {
  const float scaled = static_cast<float>(acc) * acc_scale;
  return scaled + bias;
}

// VART conv-fix with a fused LEAKYRELU (numerics.md §5.3-5.4): t = acc / 2^shift_cut in double;
// t < 0 takes the slope (the DPU's round(alpha * 256) / 256 when `dpu_slope`, else alpha);
// DPU_ROUND (rhu); clamped to [qmin, qmax].
int32_t dpu_conv_fix_leaky(int64_t acc, int shift_cut, float alpha, bool dpu_slope, int32_t qmin,
                           int32_t qmax) {
  double t = std::ldexp(static_cast<double>(acc), -shift_cut);
  if (acc < 0)
    t *= static_cast<double>(dpu_slope ? intkernels::dpu_leaky_relu_alpha(alpha) : alpha);
  const double r = round_float(t, RoundingMode::kHalfUp);
  return static_cast<int32_t>(std::clamp(r, static_cast<double>(qmin), static_cast<double>(qmax)));
}

// fix_pos of a per-tensor int8 power-of-two tensor with zero point 0, or nullopt.
std::optional<int> dpu_position(const QuantParams& p) {
  if (p.per_channel() || p.bits != 8 || !p.is_signed || p.zero_points[0] != 0) return std::nullopt;
  int e = 0;
  if (std::frexp(p.scales[0], &e) != 0.5f) return std::nullopt;
  return -(e - 1);
}

}  // namespace

namespace {

// d[i] = f32(v[i] - zp) * scale for integers of up to 16 bits (v[i] - zp is exact in int32).
void dequantize_block_scalar(const int32_t* v, int64_t n, int32_t zp, float scale, float* d) {
  for (int64_t i = 0; i < n; ++i) d[i] = static_cast<float>(v[i] - zp) * scale;
}

#if defined(__x86_64__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
// The same, 16 at a time (vcvtdq2ps rounds to nearest even, as the conversion does).
__attribute__((target("avx512f"))) void dequantize_block_avx512(const int32_t* v, int64_t n,
                                                                int32_t zp, float scale, float* d) {
  const __m512i vz = _mm512_set1_epi32(zp);
  const __m512 vs = _mm512_set1_ps(scale);
  for (int64_t i = 0; i < n; i += 16) {
    const int64_t left = n - i;
    const __mmask16 m = left >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << left) - 1);
    const __m512i q = _mm512_sub_epi32(_mm512_maskz_loadu_epi32(m, v + i), vz);
    _mm512_mask_storeu_ps(d + i, m, _mm512_mul_ps(_mm512_cvtepi32_ps(q), vs));
  }
}
#pragma GCC diagnostic pop
#endif

void dequantize_block(const int32_t* v, int64_t n, int32_t zp, float scale, float* d) {
#if defined(__x86_64__)
  static const bool avx512 = __builtin_cpu_supports("avx512f");
  if (avx512) return dequantize_block_avx512(v, n, zp, scale, d);
#endif
  dequantize_block_scalar(v, n, zp, scale, d);
}

}  // namespace

Result<Tensor> dequantize_tensor(const Tensor& q_in, const QuantParams& p) {
  const Tensor q = q_in.to_plain();
  QDIFF_ASSIGN_OR_RETURN(ChannelMap cm, channel_map(p, q.shape()));
  QDIFF_ASSIGN_OR_RETURN(Tensor out, Tensor::create_for_overwrite(DType::kFloat32, q.shape()));
  float* d = out.mutable_data<float>();
  const DType t = q.dtype();
  if (t == DType::kInt8 || t == DType::kUInt8 || t == DType::kInt16 || t == DType::kUInt16) {
    // dequantize() per channel block, in a form the compiler vectorizes: q - z of 16-bit
    // integers is exact in int32 and converts to the same float as in int64.
    const Tensor q32 = q.cast(DType::kInt32);
    const int32_t* v = q32.data<int32_t>();
    const int64_t block = p.per_channel() ? cm.inner : q.numel();
    for (int64_t start = 0; start < q.numel(); start += block) {
      const auto c = static_cast<size_t>(cm(start));
      dequantize_block(v + start, std::min(q.numel(), start + block) - start, p.zero_points[c],
                       p.scales[c], d + start);
    }
    return out;
  }
  QDIFF_ASSIGN_OR_RETURN(std::vector<int64_t> v, intkernels::integer_values(q, "dequantize"));
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
  const float* s = x.data<float>();
  const int32_t qmin = p.qmin();
  const int32_t qmax = p.qmax();
  if (!p.per_channel() && mode == RoundingMode::kHalfToEven && !reciprocal && p.bits <= 16) {
    QDIFF_ASSIGN_OR_RETURN(Tensor y,
                           Tensor::create_for_overwrite(intkernels::storage_dtype(p), x.shape()));
    switch (y.dtype()) {
      case DType::kUInt8:
        intkernels::quantize_rhe(s, x.numel(), p.scales[0], p.zero_points[0], qmin, qmax,
                                 y.mutable_data<uint8_t>());
        break;
      case DType::kInt8:
        intkernels::quantize_rhe(s, x.numel(), p.scales[0], p.zero_points[0], qmin, qmax,
                                 y.mutable_data<int8_t>());
        break;
      case DType::kUInt16:
        intkernels::quantize_rhe(s, x.numel(), p.scales[0], p.zero_points[0], qmin, qmax,
                                 y.mutable_data<uint16_t>());
        break;
      default:
        intkernels::quantize_rhe(s, x.numel(), p.scales[0], p.zero_points[0], qmin, qmax,
                                 y.mutable_data<int16_t>());
        break;
    }
    return y;
  }
  std::vector<int64_t> v(static_cast<size_t>(x.numel()));
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
  kEpilogue,    // Conv / Gemm / MatMul unit: int32 accumulators, float epilogue of the members
  kDpuConvFix,  // Conv / Gemm / MatMul + LeakyRelu on the DPU: the slope before the one rounding
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
  // kLinear Conv fast path (IntWorldOptions::fast): oneDNN int32 accumulators, built for the
  // first input shape seen (`fast_shape`); null when it does not apply (the reference runs).
  std::unique_ptr<intkernels::Int8Conv> fast;
  Shape fast_shape;
  std::vector<int32_t> bias32;     // st.bias as a vector (empty: no bias)
  std::vector<int32_t> fast_bias;  // bias32 plus the fast kernel's channel offset
  // kMove MaxPool fast path (oneDNN int8 max pooling, channels-last).
  std::unique_ptr<intkernels::Int8MaxPool> fast_pool;
  // kFloat: per input, the planned weight or bias as the target holds it (dequantized from its
  // integers), or undefined (the value itself).
  std::vector<Tensor> float_consts;
  // kBinary
  intkernels::BinaryOp binop = intkernels::BinaryOp::kAdd;
  bool relu = false;
  // kAvgPool
  intkernels::PoolParams pool;
  // kLut
  intkernels::Lut lut;
  // kEpilogue: the member nodes (graph order), f32(s_x * s_w[c]) per weight channel, the float
  // bias (bias_bits 0; empty otherwise).
  std::vector<size_t> members;
  std::vector<float> acc_scale;
  std::vector<float> float_bias;
  std::map<ir::ValueId, Tensor> constants;  // the members' constant operands
  // kDpuConvFix: shift_cut per weight channel and the LeakyRelu's alpha.
  std::vector<int> shift_cut;
  float leaky_alpha = 0.01f;
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
  IntWorldOptions options;
  std::vector<int32_t> acc32;  // the fast kernels' accumulators, one buffer shared by all steps
  std::vector<double> step_ms;
  // Per value: every reader takes a channels-last (NHWC) tensor and it is no graph output, so
  // its producer may leave it NHWC (see plan_layouts).
  std::vector<bool> nhwc_ok;

  const QuantParams* qp(ir::ValueId v) const {
    return v != ir::kNoValue && qplan[v] ? &qplan[v]->params : nullptr;
  }
  Status prepare();
  Status prepare_linear(size_t i, const std::vector<size_t>& members);
  Status prepare_linear_operands(size_t i, const QuantParams& x_p, std::vector<float>* float_bias);
  Status prepare_lut(size_t i);
  Status prepare_epilogue(size_t i, const std::vector<size_t>& members);
  Status prepare_dpu_conv_fix(size_t i, const std::vector<size_t>& members);
  Result<bool> prepare_dpu_approximation(size_t i);
  Result<const QuantParams*> unit_io(const ir::Node& node, ir::ValueId out,
                                     const std::string& where) const;
  Result<Tensor> linear_accumulators(size_t i, const std::vector<Tensor>& values) const;
  Status run_epilogue(size_t i, std::vector<Tensor>& values);
  Status run_dpu_conv_fix(size_t i, std::vector<Tensor>& values);
  Result<Tensor> quantize_activation(ir::ValueId id, const Tensor& x) const;
  Status run_step(size_t i, std::vector<Tensor>& values);
  void plan_layouts();
  Status prepare_float_constants();
  // The fast path of a Conv unit; false (nothing done) when it does not apply.
  Result<bool> run_fast_conv(size_t i, std::vector<Tensor>& values);
  // The same for an integer MaxPool (one output).
  Result<bool> run_fast_maxpool(size_t i, std::vector<Tensor>& values);
};

// A float step is the target's DQ -> float op -> Q: a weight or bias the plan quantizes enters it
// as DequantizeLinear of its integers (ORT's DQ of the stored initializer), not as the float
// original.
Status IntWorld::Impl::prepare_float_constants() {
  for (size_t i = 0; i < graph.num_nodes(); ++i) {
    Step& st = steps[i];
    if (st.kind != StepKind::kFloat) continue;
    const ir::Node& node = graph.node(static_cast<ir::NodeId>(i));
    for (size_t k = 0; k < node.inputs.size(); ++k) {
      const ir::ValueId v = node.inputs[k];
      if (v == ir::kNoValue || qp(v)) continue;
      const TensorPlan* tp = plan.find(graph.value(v).name);
      if (!tp || (tp->role != Role::kWeight && tp->role != Role::kBias)) continue;
      std::optional<Tensor> c = runtime::constant_value(graph, v);
      if (!c || c->dtype() != DType::kFloat32) continue;
      const std::string where = node.describe() + ": '" + tp->name + "'";
      Result<Tensor> q = quantize_tensor(*c, tp->params, tp->rounding, tp->reciprocal);
      if (!q.ok()) return q.status().with_context(where);
      Result<Tensor> d = dequantize_tensor(*q, tp->params);
      if (!d.ok()) return d.status().with_context(where);
      st.float_consts.resize(node.inputs.size());
      st.float_consts[k] = std::move(*d);
    }
  }
  return Status::ok_status();
}

void IntWorld::Impl::plan_layouts() {
  nhwc_ok.assign(graph.num_values(), options.fast);
  for (ir::ValueId o : graph.outputs) nhwc_ok[o] = false;
  for (size_t i = 0; i < graph.num_nodes(); ++i) {
    const ir::Node& node = graph.node(static_cast<ir::NodeId>(i));
    const Step& st = steps[i];
    for (size_t k = 0; k < node.inputs.size(); ++k) {
      if (node.inputs[k] == ir::kNoValue) continue;
      const bool reads_nhwc = (st.kind == StepKind::kLinear && st.op == OpKind::kConv && k == 0) ||
                              st.kind == StepKind::kBinary ||
                              (st.kind == StepKind::kMove && node.kind == OpKind::kMaxPool);
      if (!reads_nhwc) nhwc_ok[node.inputs[k]] = false;
    }
  }
}

namespace {

// An int8 matrix transposed (Gemm weights without transB).
Tensor transpose_2d(const Tensor& w) {
  const int64_t r = w.dim(0), c = w.dim(1);
  Tensor t = Tensor::zeros(w.dtype(), {c, r});
  const int8_t* src = w.data<int8_t>();
  int8_t* dst = t.mutable_data<int8_t>();
  for (int64_t i = 0; i < r; ++i)
    for (int64_t j = 0; j < c; ++j) dst[j * r + i] = src[i * c + j];
  return t;
}

}  // namespace

Result<bool> IntWorld::Impl::run_fast_conv(size_t i, std::vector<Tensor>& values) {
  const ir::Node& node = graph.node(static_cast<ir::NodeId>(i));
  Step& st = steps[i];
  const bool gemm = st.op == OpKind::kGemm;
  Tensor x = values[node.inputs[0]];
  if (gemm) {
    // Gemm (A [M, K], no transA) = a 1x1 convolution of A as [M, K, 1, 1] by W as [N, K, 1, 1];
    // its channels-last output [M, 1, 1, N] is the plain [M, N].
    if (st.trans_a || x.rank() != 2 || st.weight.rank() != 2 || st.weight.dtype() != DType::kInt8)
      return false;
    x = x.reshaped({x.dim(0), x.dim(1), 1, 1});
  }
  if (st.fast_shape != x.shape()) {
    const QuantParams& xp = *qp(node.inputs[0]);
    int64_t bias_max = 0;
    for (int32_t b : st.bias32) bias_max = std::max<int64_t>(bias_max, std::abs(int64_t{b}));
    Tensor w = st.weight;
    if (gemm) {
      const int64_t k = st.trans_b ? w.dim(1) : w.dim(0), n = st.trans_b ? w.dim(0) : w.dim(1);
      if (!st.trans_b) w = transpose_2d(w);
      w = w.reshaped({n, k, 1, 1});
    }
    st.fast = st.bias32.empty() || static_cast<int64_t>(st.bias32.size()) == w.dim(0)
                  ? intkernels::Int8Conv::create(x.shape(), x.dtype(), xp.zero_points[0], w,
                                                 st.w_params.zero_points, bias_max, st.conv, model)
                  : nullptr;
    st.fast_shape = x.shape();
    st.fast_bias.clear();
    if (st.fast && !(st.bias32.empty() && st.fast->channel_offset().empty())) {
      // Both fit int32 and so does their sum (Int8Conv::create checked the bounds).
      st.fast_bias.assign(static_cast<size_t>(w.dim(0)), 0);
      for (size_t c = 0; c < st.fast_bias.size(); ++c)
        st.fast_bias[c] = (st.bias32.empty() ? 0 : st.bias32[c]) +
                          (st.fast->channel_offset().empty() ? 0 : st.fast->channel_offset()[c]);
    }
  }
  if (!st.fast) return false;
  const Shape& ys = st.fast->out_shape();
  const size_t need = static_cast<size_t>(ys[0] * ys[1] * ys[2] * ys[3]);
  if (acc32.size() < need) acc32.resize(need);
  const DType dt = intkernels::storage_dtype(*qp(st.out));
  QDIFF_ASSIGN_OR_RETURN(Tensor y, gemm ? Tensor::create_for_overwrite(dt, {ys[0], ys[1]})
                                        : Tensor::create_for_overwrite(dt, ys, Layout::kNhwc));
  QDIFF_RETURN_IF_ERROR(st.fast->run(x, acc32.data()));
  const int32_t* bias = st.fast_bias.empty() ? nullptr : st.fast_bias.data();
  const int64_t pixels = ys[0] * ys[2] * ys[3];
  auto requantize = [&](auto* out) {
    st.rq->apply_channels_last(acc32.data(), bias, pixels, ys[1], out);
  };
  switch (dt) {
    case DType::kUInt8:
      requantize(reinterpret_cast<uint8_t*>(y.raw_mutable()));
      break;
    case DType::kInt8:
      requantize(reinterpret_cast<int8_t*>(y.raw_mutable()));
      break;
    case DType::kUInt16:
      requantize(reinterpret_cast<uint16_t*>(y.raw_mutable()));
      break;
    case DType::kInt16:
      requantize(reinterpret_cast<int16_t*>(y.raw_mutable()));
      break;
    default:
      QDIFF_ASSERT(false, "integer storage dtype expected");
  }
  values[st.out] = nhwc_ok[st.out] || gemm ? std::move(y) : y.to_plain();
  return true;
}

Result<bool> IntWorld::Impl::run_fast_maxpool(size_t i, std::vector<Tensor>& values) {
  const ir::Node& node = graph.node(static_cast<ir::NodeId>(i));
  Step& st = steps[i];
  const Tensor& x = values[node.inputs[0]];
  if (node.outputs.size() > 1 && node.outputs[1] != ir::kNoValue) return false;  // Indices
  if (st.fast_shape != x.shape()) {
    st.fast_shape = x.shape();
    st.fast_pool = nullptr;
    intkernels::MaxPoolGeometry geo;
    QDIFF_ASSIGN_OR_RETURN(std::string auto_pad, node.attributes.get_string("auto_pad", "NOTSET"));
    QDIFF_ASSIGN_OR_RETURN(int64_t ceil_mode, node.attributes.get_int("ceil_mode", 0));
    QDIFF_ASSIGN_OR_RETURN(int64_t storage_order, node.attributes.get_int("storage_order", 0));
    QDIFF_ASSIGN_OR_RETURN(geo.kernel, node.attributes.get_ints("kernel_shape"));
    QDIFF_ASSIGN_OR_RETURN(geo.strides, node.attributes.get_ints("strides"));
    QDIFF_ASSIGN_OR_RETURN(geo.dilations, node.attributes.get_ints("dilations"));
    QDIFF_ASSIGN_OR_RETURN(geo.pads, node.attributes.get_ints("pads"));
    geo.ceil_mode = ceil_mode != 0;
    if (auto_pad == "NOTSET" && storage_order == 0)
      st.fast_pool = intkernels::Int8MaxPool::create(x.shape(), x.dtype(), geo);
  }
  if (!st.fast_pool) return false;
  QDIFF_ASSIGN_OR_RETURN(Tensor y, st.fast_pool->run(x));
  values[node.outputs[0]] = nhwc_ok[node.outputs[0]] ? std::move(y) : y.to_plain();
  return true;
}

Result<Tensor> IntWorld::Impl::quantize_activation(ir::ValueId id, const Tensor& x) const {
  return quantize_tensor(x, qplan[id]->params, profile.quantize_rounding,
                         profile.quantize_by_reciprocal);
}

// The operands of a Conv / Gemm / MatMul head shared by every linear step kind: the integer
// weight (or a second quantized activation), the bias (int32 in the accumulator, or the float
// bias of a bias_bits 0 target in `float_bias`) and the attributes.
Status IntWorld::Impl::prepare_linear_operands(size_t i, const QuantParams& x_p,
                                               std::vector<float>* float_bias) {
  const ir::Node& node = graph.node(static_cast<ir::NodeId>(i));
  Step& st = steps[i];
  st.op = *node.kind;
  const std::string where = node.describe() + ": integer unit";
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
  const ir::ValueId bid = st.op == OpKind::kMatMul
                              ? ir::kNoValue
                              : (node.inputs.size() > 2 ? node.inputs[2] : ir::kNoValue);
  if (bid != ir::kNoValue) {
    std::optional<Tensor> b = runtime::constant_value(graph, bid);
    if (!b)
      return unsupported(where + " cannot run as integers: its bias '" + graph.value(bid).name +
                         "' is not a constant");
    if (profile.bias_bits == 0) {
      *float_bias = b->to_f32_vector();
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
        QDIFF_ASSIGN_OR_RETURN(params, quant::bias_params(x_p, st.w_params));
        if (params.per_channel()) params.axis = 0;
      }
      QDIFF_ASSIGN_OR_RETURN(Tensor bq, quantize_tensor(*b, params, mode, reciprocal));
      st.bias = bq.cast(DType::kInt32);
      if (profile.power_of_two_scales) {
        QDIFF_ASSIGN_OR_RETURN(st.bias, bias_in_accumulator_units(st.bias, params, x_p.scales[0],
                                                                  st.w_params.scales, where));
      }
      st.bias32 =
          std::vector<int32_t>(st.bias.data<int32_t>(), st.bias.data<int32_t>() + st.bias.numel());
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
  return Status::ok_status();
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
  std::vector<float> float_bias;
  QDIFF_RETURN_IF_ERROR(prepare_linear_operands(i, *x_p, &float_bias));
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

// The unit's input and output parameters (per tensor); returns the output's.
Result<const QuantParams*> IntWorld::Impl::unit_io(const ir::Node& node, ir::ValueId out,
                                                   const std::string& where) const {
  const QuantParams* x_p = qp(node.inputs[0]);
  const QuantParams* y_p = qp(out);
  if (!x_p)
    return unsupported(where + " cannot run as integers: its input '" +
                       graph.value(node.inputs[0]).name + "' is not quantized");
  if (!y_p)
    return unsupported(where + " cannot run as integers: its output '" + graph.value(out).name +
                       "' is not quantized");
  if (x_p->per_channel() || y_p->per_channel())
    return unsupported(where + ": input and output must be quantized per tensor");
  return y_p;
}

// An epilogue unit (TensorRT, numerics.md §8): int32 accumulators, then in float32
// f32(acc) * f32(s_x * s_w[c]) + bias[c], the member nodes' float reference kernels, and one
// quantization of the unit's output.
Status IntWorld::Impl::prepare_epilogue(size_t i, const std::vector<size_t>& members) {
  const ir::Node& node = graph.node(static_cast<ir::NodeId>(i));
  Step& st = steps[i];
  const std::string where = node.describe() + ": epilogue unit";
  std::set<ir::ValueId> unit_values = {node.outputs[0]};
  for (size_t m : members) {
    const ir::Node& mn = graph.node(static_cast<ir::NodeId>(m));
    if (mn.outputs.size() != 1)
      return unsupported(where + " cannot run as integers: member " + mn.describe() +
                         " has more than one output");
    for (ir::ValueId v : mn.inputs) {
      if (v == ir::kNoValue || unit_values.count(v)) continue;
      // Constant nodes may come after the head in graph order: their values are kept here.
      if (std::optional<Tensor> c = runtime::constant_value(graph, v)) {
        st.constants[v] = std::move(*c);
        continue;
      }
      return unsupported(where + " cannot run as integers: member " + mn.describe() + " reads '" +
                         graph.value(v).name + "', neither a tensor of the unit nor a constant");
    }
    unit_values.insert(mn.outputs[0]);
  }
  st.out = members.empty() ? node.outputs[0]
                           : graph.node(static_cast<ir::NodeId>(members.back())).outputs[0];
  QDIFF_RETURN_IF_ERROR(unit_io(node, st.out, where).status());
  const QuantParams& x_p = *qp(node.inputs[0]);
  std::vector<float> float_bias;
  QDIFF_RETURN_IF_ERROR(prepare_linear_operands(i, x_p, &float_bias));
  st.kind = StepKind::kEpilogue;
  st.members = members;
  st.float_bias = std::move(float_bias);
  st.acc_scale.clear();
  for (float s_w : st.w_params.scales) st.acc_scale.push_back(x_p.scales[0] * s_w);
  return Status::ok_status();
}

// A Conv / Gemm / MatMul + LeakyRelu unit on a power-of-two target: the DPU's conv-fix applies
// the slope to the exact accumulator before its one DPU_ROUND (VART conv-fix, numerics.md §5.3).
Status IntWorld::Impl::prepare_dpu_conv_fix(size_t i, const std::vector<size_t>& members) {
  const ir::Node& node = graph.node(static_cast<ir::NodeId>(i));
  Step& st = steps[i];
  const std::string where = node.describe() + ": DPU conv-fix unit";
  const ir::Node& mn = graph.node(static_cast<ir::NodeId>(members.at(0)));
  if (members.size() != 1 || mn.kind != OpKind::kLeakyRelu || mn.inputs.empty() ||
      mn.inputs[0] != node.outputs[0])
    return unsupported(where + " cannot run as integers: only one LeakyRelu may follow the " +
                       "head in a unit with a LeakyRelu");
  st.out = mn.outputs[0];
  QDIFF_ASSIGN_OR_RETURN(const QuantParams* y_p, unit_io(node, st.out, where));
  const QuantParams& x_p = *qp(node.inputs[0]);
  if (y_p->zero_points[0] != 0)
    return unsupported(where + ": the output must be symmetric (zero point 0)");
  std::vector<float> float_bias;
  QDIFF_RETURN_IF_ERROR(prepare_linear_operands(i, x_p, &float_bias));
  if (!float_bias.empty()) return unsupported(where + ": a float bias needs bias_bits > 0");
  QDIFF_ASSIGN_OR_RETURN(st.leaky_alpha, mn.attributes.get_float("alpha", 0.01f));
  intkernels::RequantInputs in;
  in.s_x = x_p.scales[0];
  in.s_w = st.w_params.scales;
  in.s_y = y_p->scales[0];
  in.qmin = y_p->qmin();
  in.qmax = y_p->qmax();
  auto rq = intkernels::Requantizer::create(in, intkernels::requant_spec(profile));
  if (!rq.ok()) return rq.status().with_context(where);
  st.shift_cut.clear();
  for (int64_t c = 0; c < rq->channels(); ++c) st.shift_cut.push_back(rq->shift_cut(c));
  st.kind = StepKind::kDpuConvFix;
  return Status::ok_status();
}

// LeakyRelu, HardSigmoid (relu6(x + 3) / 6), Sigmoid and HardSwish as the DPU computes them when
// the profile's approximation fields say so (numerics.md §5.4), tabulated over the int8 input
// grid: dpu_leaky_relu (slope round(alpha * 256) / 256), dpu_hard_sigmoid (2731 / 2^14; Sigmoid
// too when the compiler replaces it), dpu_hard_swish. False when no approximation applies.
Result<bool> IntWorld::Impl::prepare_dpu_approximation(size_t i) {
  const ir::Node& node = graph.node(static_cast<ir::NodeId>(i));
  const OpKind k = *node.kind;
  enum class Approx { kLeaky, kHardSigmoid, kHardSwish };
  Approx approx = Approx::kLeaky;
  if (k == OpKind::kLeakyRelu && profile.leaky_relu_26_256) {
    approx = Approx::kLeaky;
  } else if ((k == OpKind::kHardSigmoid && profile.hard_sigmoid_2731 &&
              quant::is_relu6_hard_sigmoid(node)) ||
             (k == OpKind::kSigmoid && profile.sigmoid_as_hard_sigmoid &&
              profile.hard_sigmoid_2731)) {
    approx = Approx::kHardSigmoid;
  } else if (k == OpKind::kHardSwish && profile.hard_sigmoid_2731) {
    approx = Approx::kHardSwish;
  } else {
    return false;
  }
  const QuantParams& in = *qp(node.inputs[0]);
  const QuantParams& out = *qp(node.outputs[0]);
  const std::optional<int> pin = dpu_position(in), pout = dpu_position(out);
  if (!pin || !pout)
    return unsupported(node.describe() +
                       ": the DPU approximation needs int8 power-of-two input and output "
                       "(zero point 0)");
  if (approx != Approx::kLeaky) {
    const int shift = 14 + *pin - (approx == Approx::kHardSigmoid ? *pout : 7);
    if (*pin < 0 || *pin > 15 || shift < 0 || shift > 31)
      return unsupported(node.describe() +
                         ": the DPU hard-sigmoid needs an input fix_pos in "
                         "[0, 15] and 14 + pos_in - pos_out in [0, 31] (got " +
                         std::to_string(*pin) + ", " + std::to_string(shift) + ")");
  }
  float alpha = 0.01f;
  if (approx == Approx::kLeaky) {
    QDIFF_ASSIGN_OR_RETURN(alpha, node.attributes.get_float("alpha", 0.01f));
  }
  Step& st = steps[i];
  st.lut.in_min = in.qmin();
  st.lut.table.clear();
  for (int32_t q = in.qmin(); q <= in.qmax(); ++q) {
    switch (approx) {
      case Approx::kLeaky:
        st.lut.table.push_back(intkernels::dpu_leaky_relu(q, *pin, *pout, alpha));
        break;
      case Approx::kHardSigmoid:
        st.lut.table.push_back(intkernels::dpu_hard_sigmoid(q, *pin, *pout));
        break;
      case Approx::kHardSwish:
        st.lut.table.push_back(intkernels::dpu_hard_swish(q, *pin, *pout));
        break;
    }
  }
  st.kind = StepKind::kLut;
  return true;
}

Status IntWorld::Impl::prepare_lut(size_t i) {
  const ir::Node& node = graph.node(static_cast<ir::NodeId>(i));
  Step& st = steps[i];
  const QuantParams& in = *qp(node.inputs[0]);
  const QuantParams& out = *qp(node.outputs[0]);
  // The real function's values on the input grid, from the float reference kernel (the values
  // ORT's DQ -> op -> Q computes); Sigmoid as ORT's QLinearSigmoid table (MlasComputeLogistic).
  // A coarse table also reads f on the full-range format and one step past its top.
  const bool coarse = profile.lut_bits > 0 && profile.lut_bits < in.bits;
  const int32_t full_min = in.is_signed ? -(int32_t{1} << (in.bits - 1)) : 0;
  const int32_t qmin = coarse ? full_min : in.qmin();
  const int32_t qmax = coarse ? qmin + (int32_t{1} << in.bits) : in.qmax();
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
  auto lut =
      intkernels::build_lut(f, in, out, profile.lut, profile.lut_bits, profile.lut_interpolation);
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
  steps.clear();
  steps.resize(nn);
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
      // A float epilogue target (TensorRT) runs every linear unit through its epilogue; a
      // power-of-two target (DPU) folds a LeakyRelu into the conv-fix rounding.
      if (profile.scheme.units == quant::UnitGrowth::kEpilogue &&
          profile.requant == targets::Requant::kFloat32) {
        QDIFF_RETURN_IF_ERROR(prepare_epilogue(i, mem));
        step_names[i] = "int:epilogue";
        continue;
      }
      if (profile.requant == targets::Requant::kPowerOfTwo && !mem.empty() &&
          std::any_of(mem.begin(), mem.end(), [&](size_t m) {
            return graph.node(static_cast<ir::NodeId>(m)).kind == OpKind::kLeakyRelu;
          })) {
        QDIFF_RETURN_IF_ERROR(prepare_dpu_conv_fix(i, mem));
        step_names[i] = "int:dpu-conv-fix";
        continue;
      }
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
    if (is_lut_op(k) && node.inputs.size() == 1) {
      QDIFF_ASSIGN_OR_RETURN(bool dpu, prepare_dpu_approximation(i));
      if (dpu) {
        step_names[i] = "int:dpu-approx";
        continue;
      }
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
  if (st.kind == StepKind::kLinear && (st.op == OpKind::kConv || st.op == OpKind::kGemm) &&
      options.fast && !st.weight_is_activation) {
    Result<bool> done = run_fast_conv(i, values);
    if (!done.ok()) return ctx(done.status());
    if (*done) return Status::ok_status();
  }
  if (st.kind == StepKind::kMove && node.kind == OpKind::kMaxPool && options.fast) {
    Result<bool> done = run_fast_maxpool(i, values);
    if (!done.ok()) return ctx(done.status());
    if (*done) return Status::ok_status();
  }
  // Every other kernel reads plain tensors (qlinear_binary takes two alike).
  if (st.kind != StepKind::kBinary)
    for (ir::ValueId v : node.inputs)
      if (v != ir::kNoValue && !values[v].is_plain()) values[v] = values[v].to_plain();
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
    case StepKind::kEpilogue:
      return run_epilogue(i, values);
    case StepKind::kDpuConvFix:
      return run_dpu_conv_fix(i, values);
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
    } else if (k < st.float_consts.size() && st.float_consts[k].defined()) {
      ins[k] = &st.float_consts[k];
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

Result<Tensor> IntWorld::Impl::linear_accumulators(size_t i,
                                                   const std::vector<Tensor>& values) const {
  const ir::Node& node = graph.node(static_cast<ir::NodeId>(i));
  const Step& st = steps[i];
  const Tensor& x = values[node.inputs[0]];
  const int32_t z_x = qp(node.inputs[0])->zero_points[0];
  const Tensor& w = st.weight_is_activation ? values[node.inputs[1]] : st.weight;
  if (st.op == OpKind::kConv)
    return intkernels::conv_accumulate(x, z_x, w, st.w_params.zero_points, st.bias, st.conv, model);
  if (st.op == OpKind::kGemm)
    return intkernels::gemm_accumulate(x, z_x, w, st.w_params.zero_points, st.trans_a, st.trans_b,
                                       st.bias, model);
  return intkernels::matmul_accumulate(x, z_x, w, st.w_params.zero_points, model);
}

namespace {

// Output channels of accumulators: axis 1 (Conv NCHW, Gemm [M, N]) or the last (MatMul).
ChannelMap output_channels(const Tensor& acc, OpKind op) {
  const int64_t axis = op == OpKind::kMatMul ? acc.rank() - 1 : 1;
  ChannelMap m;
  m.channels = acc.dim(axis);
  for (int64_t d = axis + 1; d < acc.rank(); ++d) m.inner *= acc.dim(d);
  return m;
}

Status check_per_channel(size_t n, int64_t channels, const std::string& what) {
  if (n == 1 || static_cast<int64_t>(n) == channels) return Status::ok_status();
  return unsupported(what + ": " + std::to_string(n) + " values for " + std::to_string(channels) +
                     " output channels");
}

}  // namespace

Status IntWorld::Impl::run_epilogue(size_t i, std::vector<Tensor>& values) {
  const ir::Node& node = graph.node(static_cast<ir::NodeId>(i));
  const Step& st = steps[i];
  auto ctx = [&](Status s) { return s.with_context(node.describe()); };
  Result<Tensor> acc = linear_accumulators(i, values);
  if (!acc.ok()) return ctx(acc.status());
  const ChannelMap cm = output_channels(*acc, st.op);
  QDIFF_RETURN_IF_ERROR(ctx(check_per_channel(st.acc_scale.size(), cm.channels, "weight scales")));
  if (!st.float_bias.empty()) {
    QDIFF_RETURN_IF_ERROR(ctx(check_per_channel(st.float_bias.size(), cm.channels, "bias")));
  }
  Tensor r = Tensor::zeros(DType::kFloat32, acc->shape());
  float* d = r.mutable_data<float>();
  const int64_t* a = acc->data<int64_t>();
  for (int64_t e = 0; e < acc->numel(); ++e) {
    const size_t c = static_cast<size_t>(cm(e));
    const float bias =
        st.float_bias.empty() ? 0.0f : st.float_bias[st.float_bias.size() == 1 ? 0 : c];
    d[e] = epilogue_value(a[e], st.acc_scale[st.acc_scale.size() == 1 ? 0 : c], bias);
  }
  // The members in float, on the unit's own tensors (never tapped: they do not exist on the
  // target) and constants.
  std::unordered_map<ir::ValueId, Tensor> local;
  local[node.outputs[0]] = std::move(r);
  for (size_t m : st.members) {
    const ir::Node& mn = graph.node(static_cast<ir::NodeId>(m));
    std::vector<const Tensor*> ins;
    for (ir::ValueId v : mn.inputs) {
      if (v == ir::kNoValue) {
        ins.push_back(nullptr);
        continue;
      }
      auto it = local.find(v);
      ins.push_back(it != local.end() ? &it->second : &st.constants.at(v));
    }
    QDIFF_ASSIGN_OR_RETURN(std::vector<Tensor> outs, run_reference(mn, ins, &states[m]));
    local[mn.outputs[0]] = std::move(outs[0]);
  }
  auto q = quantize_tensor(local.at(st.out), *qp(st.out), profile.requant_rounding,
                           profile.quantize_by_reciprocal);
  if (!q.ok()) return ctx(q.status());
  values[st.out] = std::move(*q);
  return Status::ok_status();
}

Status IntWorld::Impl::run_dpu_conv_fix(size_t i, std::vector<Tensor>& values) {
  const ir::Node& node = graph.node(static_cast<ir::NodeId>(i));
  const Step& st = steps[i];
  auto ctx = [&](Status s) { return s.with_context(node.describe()); };
  Result<Tensor> acc = linear_accumulators(i, values);
  if (!acc.ok()) return ctx(acc.status());
  const ChannelMap cm = output_channels(*acc, st.op);
  QDIFF_RETURN_IF_ERROR(ctx(check_per_channel(st.shift_cut.size(), cm.channels, "weight scales")));
  const QuantParams& yp = *qp(st.out);
  const int64_t* a = acc->data<int64_t>();
  std::vector<int64_t> y(static_cast<size_t>(acc->numel()));
  for (int64_t e = 0; e < acc->numel(); ++e) {
    const int sc = st.shift_cut[st.shift_cut.size() == 1 ? 0 : static_cast<size_t>(cm(e))];
    y[static_cast<size_t>(e)] = dpu_conv_fix_leaky(a[e], sc, st.leaky_alpha,
                                                   profile.leaky_relu_26_256, yp.qmin(), yp.qmax());
  }
  values[st.out] = intkernels::make_integer_tensor(intkernels::storage_dtype(yp), acc->shape(), y);
  return Status::ok_status();
}

// ------------------------------------------------------------------------------------------------

IntWorld::IntWorld(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
IntWorld::~IntWorld() = default;

Result<std::unique_ptr<IntWorld>> IntWorld::create(const ir::Graph& float_graph,
                                                   const quant::QuantPlan& plan,
                                                   const targets::TargetProfile& profile,
                                                   const IntWorldOptions& options) {
  QDIFF_RETURN_IF_ERROR(quant::check_plan(plan, float_graph));
  QDIFF_RETURN_IF_ERROR(targets::check_profile(profile));
  auto impl = std::make_unique<Impl>();
  impl->graph = float_graph;
  impl->plan = plan;
  impl->profile = profile;
  impl->model = intkernels::accumulator_model(profile);
  impl->options = options;
  impl->options.threads = std::max(1, options.threads);
  QDIFF_RETURN_IF_ERROR(impl->prepare());
  QDIFF_RETURN_IF_ERROR(impl->prepare_float_constants());
  impl->plan_layouts();
  impl->step_ms.assign(float_graph.num_nodes(), 0.0);
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
const std::vector<double>& IntWorld::step_times_ms() const {
  return impl_->step_ms;
}

Result<std::vector<Tensor>> IntWorld::run(std::span<const Tensor> inputs,
                                          runtime::Observer* observer) {
  Impl& w = *impl_;
  const ir::Graph& g = w.graph;
  if (inputs.size() != g.inputs.size())
    return invalid_argument("expected " + std::to_string(g.inputs.size()) + " inputs, got " +
                            std::to_string(inputs.size()));
  kernels::fast::dnnl_detail::ThreadScope threads(w.options.threads);
  std::vector<Tensor> values(g.num_values());
  auto hand_out = [&](ir::ValueId id) -> Status {
    if (observer && observer->wants(id))
      return observer->observe(id, observer->any_layout() ? values[id] : values[id].to_plain());
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
    const auto t0 = std::chrono::steady_clock::now();
    QDIFF_RETURN_IF_ERROR(w.run_step(i, values));
    if (w.options.time_steps)
      w.step_ms[i] =
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    if (st.kind == StepKind::kLinear || st.kind == StepKind::kBinary ||
        st.kind == StepKind::kEpilogue || st.kind == StepKind::kDpuConvFix) {
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
    outputs.push_back(values[id].to_plain());
  }
  return outputs;
}

}  // namespace qdiff::intworld
