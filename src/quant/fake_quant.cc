#include "quant/fake_quant.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "numerics/rounding.h"
#include "numerics/rounding_avx512.h"
#include "runtime/model_info.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace qdiff::quant {

namespace {

// dst[i] = rhe(clamp(src[i] / scale, lo, hi)) * scale, NaN -> 0 (fake_quantize's rhe path;
// rhe_clamped_quotient).
void fake_quant_rhe_scalar(const float* src, int64_t n, float scale, float lo, float hi,
                           float* dst) {
  for (int64_t i = 0; i < n; ++i) dst[i] = rhe_clamped_quotient(src[i], scale, lo, hi) * scale;
}

#if defined(__x86_64__)
#pragma GCC diagnostic push
// GCC 12 warns inside its own AVX-512 headers (_mm512_undefined_* operands of masked forms).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
// The same 16 at a time (rhe_clamped_quotient16, then vmulps).
__attribute__((target("avx512f"))) void fake_quant_rhe_avx512(const float* src, int64_t n,
                                                              float scale, float lo, float hi,
                                                              float* dst) {
  const __m512 vs = _mm512_set1_ps(scale), vlo = _mm512_set1_ps(lo), vhi = _mm512_set1_ps(hi);
  for (int64_t i = 0; i < n; i += 16) {
    __mmask16 m;
    const __m512 v = rhe_clamped_quotient16(src + i, n - i, vs, vlo, vhi, &m);
    _mm512_mask_storeu_ps(dst + i, m, _mm512_mul_ps(v, vs));
  }
}
#pragma GCC diagnostic pop
#endif

void fake_quant_rhe(const float* src, int64_t n, float scale, float lo, float hi, float* dst) {
#if defined(__x86_64__)
  static const bool avx512 = __builtin_cpu_supports("avx512f");
  if (avx512) return fake_quant_rhe_avx512(src, n, scale, lo, hi, dst);
#endif
  fake_quant_rhe_scalar(src, n, scale, lo, hi, dst);
}

}  // namespace

Result<Tensor> fake_quantize(const Tensor& x_in, const QuantParams& p, RoundingMode mode,
                             bool reciprocal) {
  if (x_in.dtype() != DType::kFloat32)
    return invalid_argument("only float32 tensors can be fake-quantized, got " +
                            std::string(dtype_name(x_in.dtype())));
  // Per tensor, fake-quantization is elementwise: a channels-last tensor is quantized in its
  // own storage order and stays channels-last (no reorder either way).
  if (!x_in.is_plain() && !p.per_channel()) {
    QDIFF_ASSIGN_OR_RETURN(Tensor q, fake_quantize(x_in.physical(), p, mode, reciprocal));
    return q.with_physical_layout(x_in.layout());
  }
  const Tensor x = x_in.to_plain();
  int64_t channels = 1;
  int64_t inner = x.numel();
  if (p.per_channel()) {
    if (p.axis >= x.rank())
      return invalid_argument("quantization axis " + std::to_string(p.axis) +
                              " is out of range for shape " + shape_to_string(x.shape()));
    channels = x.dim(p.axis);
    inner = 1;
    for (int64_t d = p.axis + 1; d < x.rank(); ++d) inner *= x.dim(d);
  }
  if (static_cast<size_t>(channels) != p.scales.size())
    return invalid_argument(std::to_string(p.scales.size()) + " scales for " +
                            std::to_string(channels) + " channels of shape " +
                            shape_to_string(x.shape()));
  QDIFF_ASSIGN_OR_RETURN(Tensor out, Tensor::create_for_overwrite(DType::kFloat32, x.shape()));
  const float* src = x.data<float>();
  float* dst = out.mutable_data<float>();
  const int32_t qmin = p.qmin();
  const int32_t qmax = p.qmax();
  const int64_t n = x.numel();
  if (mode == RoundingMode::kHalfToEven && p.bits <= 16 && !reciprocal) {
    // The same numbers as fake_quant(): for q in range, dequantize(quantize(x)) =
    // f32(rhe(clamp(x / s, qmin - zp, qmax - zp))) * s. NaN -> 0. fake_quant_test checks it
    // against fake_quant() on ties, clamps and random values.
    for (int64_t start = 0; start < n; start += inner) {
      const size_t c = static_cast<size_t>((start / inner) % channels);
      fake_quant_rhe(src + start, std::min(n, start + inner) - start, p.scales[c],
                     static_cast<float>(qmin - p.zero_points[c]),
                     static_cast<float>(qmax - p.zero_points[c]), dst + start);
    }
    return out;
  }
  for (int64_t i = 0; i < n; ++i) {
    const size_t c = static_cast<size_t>((i / inner) % channels);
    dst[i] = reciprocal ? dequantize(quantize_by_reciprocal(src[i], p.scales[c], p.zero_points[c],
                                                            qmin, qmax, mode),
                                     p.scales[c], p.zero_points[c])
                        : fake_quant(src[i], p.scales[c], p.zero_points[c], qmin, qmax, mode);
  }
  return out;
}

QuantParams dynamic_params(const Tensor& x_in) {
  const Tensor x = x_in.to_plain();
  float lo = 0.0f;
  float hi = 0.0f;
  for (float v : x.values<float>()) {
    if (std::isnan(v)) continue;
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  QuantParams p;
  p.bits = 8;
  p.is_signed = false;
  // ONNX DynamicQuantizeLinear: float32 arithmetic throughout.
  const float scale = (hi - lo) / 255.0f;
  if (!(scale > 0.0f) || !std::isfinite(scale)) {
    p.scales = {1.0f};
    p.zero_points = {0};
    return p;
  }
  p.scales = {scale};
  p.zero_points = {static_cast<int32_t>(
      std::min(255.0f, std::max(0.0f, round_float(0.0f - lo / scale, RoundingMode::kHalfToEven))))};
  return p;
}

Result<Tensor> FakeQuantWorld::Transform::apply(ir::ValueId id, const Tensor& value) {
  const TensorPlan& t = *entries[id];
  auto r =
      fake_quantize(value, t.dynamic ? dynamic_params(value) : t.params, t.rounding, t.reciprocal);
  if (!r.ok()) return r.status().with_context("fake-quant of tensor '" + t.name + "'");
  return r;
}

Result<std::unique_ptr<FakeQuantWorld>> FakeQuantWorld::create(const ir::Graph& graph,
                                                               const QuantPlan& plan) {
  QDIFF_RETURN_IF_ERROR(check_plan(plan, graph));
  std::unique_ptr<FakeQuantWorld> w(new FakeQuantWorld());
  w->plan_ = plan;
  w->graph_ = graph;
  w->transform_.entries.assign(graph.num_values(), nullptr);
  w->transform_.graph = &w->graph_;
  for (const TensorPlan& t : w->plan_.tensors) {
    const ir::ValueId id = *graph.find_value(t.name);  // check_plan found it
    if (t.role == Role::kActivation) {
      w->transform_.entries[id] = &t;
      continue;
    }
    // Weights and biases: fake-quantized once, in the world's copy of the graph.
    const std::optional<Tensor> c = runtime::constant_value(graph, id);
    QDIFF_ASSERT(c.has_value(), "check_plan let a non-constant weight through");
    auto fq = fake_quantize(*c, t.params, t.rounding, t.reciprocal);
    if (!fq.ok()) return fq.status().with_context("plan tensor '" + t.name + "'");
    ir::Value& v = w->graph_.value(id);
    if (v.initializer) {
      v.initializer = std::move(fq).value();
    } else {
      w->graph_.node(v.producer).attributes.set("value", AttributeValue(std::move(fq).value()));
    }
  }
  return w;
}

double relative_fake_quant_error(const Tensor& x, const TensorPlan& t) {
  if (x.dtype() != DType::kFloat32) return std::nan("");
  auto q = fake_quantize(x, t.params, t.rounding, t.reciprocal);
  if (!q.ok()) return std::nan("");
  double xx = 0, ee = 0;
  const std::vector<float> a = x.to_f32_vector(), b = q->to_f32_vector();
  for (size_t i = 0; i < a.size(); ++i) {
    xx += static_cast<double>(a[i]) * a[i];
    ee += (static_cast<double>(a[i]) - b[i]) * (static_cast<double>(a[i]) - b[i]);
  }
  return xx > 0 ? ee / xx : 0.0;
}

}  // namespace qdiff::quant
