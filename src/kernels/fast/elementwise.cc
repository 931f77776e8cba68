// Fast float32 elementwise kernels: Relu, Clip, LeakyRelu, Sigmoid, HardSigmoid, HardSwish
// ("fast:<op>") and Add, Sub, Mul, Div.
//
// Each element is computed with exactly the reference kernel's float operations in the same
// order (kernels/reference/activations.cc, elementwise.cc), so results are bit-identical to the
// reference; the loops are plain, marked `omp simd` so that the compiler vectorises them at -O2
// (no reassociation is involved: each element is independent; -ffp-contract=off keeps a*x+b
// unfused as in the reference). Sigmoid calls libm's expf per element, as the reference does. Large
// tensors are split into contiguous chunks over ctx.threads OpenMP threads; an element's value does
// not depend on the split.
//
// One exception, as between any two compilations of `a + b`: when both operands are NaN, which
// one's sign/payload propagates follows the operand order the compiler picks for a commutative
// op (C++ does not specify it); the result is NaN either way.
//
// Layouts: elementwise ops do not care how the elements are ordered, so an NHWC input gives an
// NHWC output when the context allows it (else the input is made plain first). Binary ops
// cover same-shape operands, a one-element operand, and a per-channel operand ([C,1,1] or
// [1,C,1,1] against a 4-D [N,C,H,W], either side); other broadcasts, other dtypes and invalid
// models return kUnsupported (the reference kernel then runs, and reports errors).
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>

#include "kernels/fast/activation.h"
#include "kernels/fast/fast.h"

namespace qdiff::kernels::fast {
namespace {

using detail::kParallelMin;
using detail::parallel_chunks;

// The input as the kernel may read it: NHWC stays NHWC only when the output may be NHWC.
Tensor usable(const KernelContext& ctx, const Tensor& t) {
  return t.is_plain() || ctx.nhwc_output ? t : t.to_plain();
}

// Y = f(X) for float32 X; kSimd: vectorise the loop.
template <bool kSimd = true, typename F>
Status unary(KernelContext& ctx, const char* name, F f) {
  const Tensor* xin = ctx.input(0);
  if (!xin || !xin->defined()) return unsupported(std::string(name) + ": missing input");
  if (xin->dtype() != DType::kFloat32) return unsupported(std::string(name) + ": float32 only");
  const Tensor x = usable(ctx, *xin);
  QDIFF_ASSIGN_OR_RETURN(Tensor * y,
                         ctx.alloc_output_for_overwrite(0, DType::kFloat32, x.shape(), x.layout()));
  const float* px = reinterpret_cast<const float*>(x.raw());
  float* py = reinterpret_cast<float*>(y->raw_mutable());
  parallel_chunks(ctx.threads, x.numel(), kParallelMin, [&](int64_t b, int64_t e) {
    if constexpr (kSimd) {
#pragma omp simd
      for (int64_t i = b; i < e; ++i) py[i] = f(px[i]);
    } else {
      for (int64_t i = b; i < e; ++i) py[i] = f(px[i]);
    }
  });
  return Status::ok_status();
}

Result<float> float_attr(const KernelContext& ctx, const char* name, float fallback) {
  return ctx.attrs.get_float(name, fallback);
}

// max(0, min(1, y)), NaN preserved (reference clamp01).
inline float clamp01(float y) {
  return y < 0.0f ? 0.0f : (y > 1.0f ? 1.0f : y);
}

// A per-channel operand: the channel count when `v` is [C,1,1] or [1,C,1,1] against the 4-D
// `x` of shape [N,C,H,W] (C > 1), else 0.
int64_t per_channel(const Tensor& x, const Tensor& v) {
  if (x.rank() != 4 || v.rank() < 3 || v.rank() > 4) return 0;
  const int64_t off = 4 - v.rank();
  for (int64_t d = 0; d < v.rank(); ++d)
    if (v.dim(d) != (d + off == 1 ? x.dim(1) : 1)) return 0;
  return x.dim(1) > 1 ? x.dim(1) : 0;
}

// out = f(a, b) over float32 operands (see the file comment for the covered broadcasts).
template <typename F>
Status binary(KernelContext& ctx, const char* name, F f) {
  const Tensor* ain = ctx.input(0);
  const Tensor* bin = ctx.input(1);
  if (!ain || !bin || !ain->defined() || !bin->defined())
    return unsupported(std::string(name) + ": missing input");
  if (ain->dtype() != DType::kFloat32 || bin->dtype() != DType::kFloat32)
    return unsupported(std::string(name) + ": float32 only");
  Tensor a = usable(ctx, *ain), b = usable(ctx, *bin);
  const int threads = ctx.threads;
  if (a.shape() == b.shape()) {
    if (a.layout() != b.layout()) a = a.to_plain(), b = b.to_plain();
    QDIFF_ASSIGN_OR_RETURN(
        Tensor * y, ctx.alloc_output_for_overwrite(0, DType::kFloat32, a.shape(), a.layout()));
    const float* pa = reinterpret_cast<const float*>(a.raw());
    const float* pb = reinterpret_cast<const float*>(b.raw());
    float* py = reinterpret_cast<float*>(y->raw_mutable());
    parallel_chunks(threads, a.numel(), kParallelMin, [&](int64_t lo, int64_t hi) {
#pragma omp simd
      for (int64_t i = lo; i < hi; ++i) py[i] = f(pa[i], pb[i]);
    });
    return Status::ok_status();
  }
  // One-element operand (of rank <= the other's, so the output has the other's shape).
  const bool b_one = b.numel() == 1 && b.rank() <= a.rank();
  const bool a_one = a.numel() == 1 && a.rank() <= b.rank();
  if (a_one || b_one) {
    const Tensor& full = b_one ? a : b;
    const float s = b_one ? reinterpret_cast<const float*>(b.raw())[0]
                          : reinterpret_cast<const float*>(a.raw())[0];
    QDIFF_ASSIGN_OR_RETURN(Tensor * y, ctx.alloc_output_for_overwrite(0, DType::kFloat32,
                                                                      full.shape(), full.layout()));
    const float* px = reinterpret_cast<const float*>(full.raw());
    float* py = reinterpret_cast<float*>(y->raw_mutable());
    parallel_chunks(threads, full.numel(), kParallelMin, [&](int64_t lo, int64_t hi) {
      if (b_one) {
#pragma omp simd
        for (int64_t i = lo; i < hi; ++i) py[i] = f(px[i], s);
      } else {
#pragma omp simd
        for (int64_t i = lo; i < hi; ++i) py[i] = f(s, px[i]);
      }
    });
    return Status::ok_status();
  }
  // Per-channel operand.
  const int64_t cb = per_channel(a, b), ca = cb ? 0 : per_channel(b, a);
  if (!cb && !ca) return unsupported(std::string(name) + ": broadcast not covered");
  const Tensor& full = cb ? a : b;
  const Tensor& vec = cb ? b : a;
  const int64_t c = cb ? cb : ca;
  const float* px = reinterpret_cast<const float*>(full.raw());
  const float* pv = reinterpret_cast<const float*>(vec.raw());
  QDIFF_ASSIGN_OR_RETURN(
      Tensor * y, ctx.alloc_output_for_overwrite(0, DType::kFloat32, full.shape(), full.layout()));
  float* py = reinterpret_cast<float*>(y->raw_mutable());
  const bool nhwc = full.layout() == Layout::kNhwc;
  const int64_t hw = full.dim(2) * full.dim(3);
  // Rows of `inner` elements: plain [N*C rows][HW], channel = row % C; NHWC [N*HW rows][C].
  const int64_t inner = nhwc ? c : hw, rows = full.numel() / std::max<int64_t>(1, inner);
  const int64_t min_rows = std::max<int64_t>(1, kParallelMin / std::max<int64_t>(1, inner));
  parallel_chunks(threads, rows, min_rows, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* x = px + r * inner;
      float* o = py + r * inner;
      const float s = pv[r % c];
      if (nhwc && cb) {
#pragma omp simd
        for (int64_t i = 0; i < inner; ++i) o[i] = f(x[i], pv[i]);
      } else if (nhwc) {
#pragma omp simd
        for (int64_t i = 0; i < inner; ++i) o[i] = f(pv[i], x[i]);
      } else if (cb) {
#pragma omp simd
        for (int64_t i = 0; i < inner; ++i) o[i] = f(x[i], s);
      } else {
#pragma omp simd
        for (int64_t i = 0; i < inner; ++i) o[i] = f(s, x[i]);
      }
    }
  });
  return Status::ok_status();
}

}  // namespace

Status Relu(KernelContext& ctx) {
  return unary(ctx, "fast:relu", [](float v) { return detail::relu_op(v); });
}

Status LeakyRelu(KernelContext& ctx) {
  auto alpha = float_attr(ctx, "alpha", 0.01f);
  if (!alpha.ok()) return unsupported("fast:leakyrelu: unreadable alpha");
  const float a = alpha.value();
  return unary(ctx, "fast:leakyrelu", [a](float v) { return v < 0.0f ? a * v : v; });
}

Status Sigmoid(KernelContext& ctx) {
  return unary<false>(ctx, "fast:sigmoid", [](float v) { return 1.0f / (1.0f + std::exp(-v)); });
}

Status HardSigmoid(KernelContext& ctx) {
  auto alpha = float_attr(ctx, "alpha", 0.2f);
  auto beta = float_attr(ctx, "beta", 0.5f);
  if (!alpha.ok() || !beta.ok()) return unsupported("fast:hardsigmoid: unreadable attributes");
  const float a = alpha.value(), b = beta.value();
  return unary(ctx, "fast:hardsigmoid", [a, b](float v) {
    const float y = a * v + b;
    return clamp01(y);
  });
}

Status HardSwish(KernelContext& ctx) {
  return unary(ctx, "fast:hardswish", [](float v) {
    const float h = static_cast<float>(1.0 / 6.0) * v + 0.5f;
    return v * clamp01(h);
  });
}

Status Clip(KernelContext& ctx) {
  float lo = std::numeric_limits<float>::lowest();
  float hi = std::numeric_limits<float>::max();
  if (ctx.opset < 11) {
    auto min_attr = float_attr(ctx, "min", lo);
    auto max_attr = float_attr(ctx, "max", hi);
    if (!min_attr.ok() || !max_attr.ok()) return unsupported("fast:clip: unreadable attributes");
    lo = min_attr.value(), hi = max_attr.value();
  } else {
    for (size_t i : {size_t{1}, size_t{2}}) {
      const Tensor* t = ctx.input(i);
      if (!t || !t->defined()) continue;
      if (t->dtype() != DType::kFloat32 || t->numel() != 1 || !t->is_plain())
        return unsupported("fast:clip: min/max must be float32 scalars");
      (i == 1 ? lo : hi) = t->data<float>()[0];
    }
  }
  return unary(ctx, "fast:clip", [lo, hi](float v) { return detail::clip_op(v, lo, hi); });
}

Status Add(KernelContext& ctx) {
  return binary(ctx, "fast:add", [](float a, float b) { return a + b; });
}

Status Sub(KernelContext& ctx) {
  return binary(ctx, "fast:sub", [](float a, float b) { return a - b; });
}

Status Mul(KernelContext& ctx) {
  return binary(ctx, "fast:mul", [](float a, float b) { return a * b; });
}

Status Div(KernelContext& ctx) {
  return binary(ctx, "fast:div", [](float a, float b) { return a / b; });
}

}  // namespace qdiff::kernels::fast
