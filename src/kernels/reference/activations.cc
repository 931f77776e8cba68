// Reference kernels for activations: Relu, LeakyRelu, PRelu, Sigmoid, HardSigmoid, HardSwish,
// Tanh, Elu, Selu, Celu, Softplus, Softsign, ThresholdedRelu, Mish, Gelu, Clip.
// Math is done in the tensor's own type (float32 stays float32), following the formulas of the
// ONNX operator documentation.
#include <cmath>
#include <limits>
#include <numbers>
#include <string>
#include <type_traits>
#include <vector>

#include "kernels/reference/common.h"
#include "kernels/reference/reference.h"

namespace qdiff::kernels::ref {
namespace {

Result<float> float_attr(const KernelContext& ctx, const char* name, float fallback) {
  return ctx.attrs.get_float(name, fallback);
}

// log(1 + exp(x)) without overflow for large x.
template <typename T>
T softplus(T x) {
  return x > T(0) ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x));
}

// max(0, min(1, y)), NaN preserved.
template <typename T>
T clamp01(T y) {
  return y < T(0) ? T(0) : (y > T(1) ? T(1) : y);
}

// Reads an optional scalar bound input of Clip (opset >= 11).
template <typename T>
Status clip_bound(const KernelContext& ctx, size_t i, const Tensor& x, const char* name, T& v) {
  const Tensor* t = ctx.input(i);
  if (!t || !t->defined()) return Status::ok_status();
  if (t->dtype() != x.dtype())
    return invalid_model("Clip: input '" + std::string(name) + "' has type " +
                         std::string(dtype_name(t->dtype())) + " but the input has type " +
                         std::string(dtype_name(x.dtype())));
  if (t->numel() != 1)
    return invalid_model("Clip: input '" + std::string(name) + "' must be a scalar, got shape " +
                         shape_to_string(t->shape()));
  v = t->data<T>()[0];
  return Status::ok_status();
}

}  // namespace

Status Relu(KernelContext& ctx) {
  return unary<TypeSet::kSignedOrFloat>(ctx, "Relu", [](auto tag) {
    using T = decltype(tag);
    return [](T v) -> T { return v < T(0) ? T(0) : v; };  // NaN stays NaN
  });
}

Status LeakyRelu(KernelContext& ctx) {
  QDIFF_ASSIGN_OR_RETURN(const float alpha, float_attr(ctx, "alpha", 0.01f));
  return float_unary(ctx, "LeakyRelu", [alpha](auto v) {
    using T = decltype(v);
    return v < T(0) ? static_cast<T>(alpha) * v : v;
  });
}

Status PRelu(KernelContext& ctx) {
  QDIFF_ASSIGN_OR_RETURN(const Tensor* x, required_input(ctx, 0));
  QDIFF_ASSIGN_OR_RETURN(const Tensor* slope, required_input(ctx, 1));
  if (slope->dtype() != x->dtype())
    return invalid_model("PRelu: slope has type " + std::string(dtype_name(slope->dtype())) +
                         " but X has type " + std::string(dtype_name(x->dtype())));
  // Unidirectional broadcast: slope must broadcast to X's shape without changing it.
  const qdiff::Shape& xs = x->shape();
  const qdiff::Shape& ss = slope->shape();
  auto bs = broadcast_shapes(xs, ss);
  if (!bs.ok() || *bs != xs)
    return invalid_argument("PRelu: slope shape " + shape_to_string(ss) +
                            " is not unidirectionally broadcastable to X shape " +
                            shape_to_string(xs));
  // Slope stride for each X dim (0 where broadcast).
  const size_t rank = xs.size();
  std::vector<int64_t> sst(rank, 0);
  {
    int64_t stride = 1;
    const size_t off = rank - ss.size();
    for (size_t i = ss.size(); i-- > 0;) {
      sst[off + i] = ss[i] == 1 ? 0 : stride;
      stride *= ss[i];
    }
  }
  return dispatch<TypeSet::kNumeric>("PRelu", 0, x->dtype(), [&](auto tag) -> Status {
    using T = decltype(tag);
    QDIFF_ASSIGN_OR_RETURN(Tensor * out, ctx.alloc_output(0, dtype_of<T>(), xs));
    const T* px = x->data<T>();
    const T* ps = slope->data<T>();
    T* po = out->mutable_data<T>();
    std::vector<int64_t> idx(rank, 0);
    int64_t s_off = 0;
    for (int64_t i = 0; i < x->numel(); ++i) {
      const T v = px[i];
      po[i] = v < T(0) ? wrap_mul(ps[s_off], v) : v;
      for (size_t d = rank; d-- > 0;) {  // odometer increment
        ++idx[d];
        s_off += sst[d];
        if (idx[d] < xs[d]) break;
        s_off -= sst[d] * idx[d];
        idx[d] = 0;
      }
    }
    return Status::ok_status();
  });
}

Status Sigmoid(KernelContext& ctx) {
  return float_unary(ctx, "Sigmoid", [](auto v) {
    using T = decltype(v);
    return T(1) / (T(1) + std::exp(-v));
  });
}

Status HardSigmoid(KernelContext& ctx) {
  QDIFF_ASSIGN_OR_RETURN(const float alpha, float_attr(ctx, "alpha", 0.2f));
  QDIFF_ASSIGN_OR_RETURN(const float beta, float_attr(ctx, "beta", 0.5f));
  return float_unary(ctx, "HardSigmoid", [alpha, beta](auto v) {
    using T = decltype(v);
    const T y = static_cast<T>(alpha) * v + static_cast<T>(beta);
    return clamp01(y);
  });
}

Status HardSwish(KernelContext& ctx) {
  // HardSwish(x) = x * HardSigmoid(x) with alpha = 1/6, beta = 0.5.
  return float_unary(ctx, "HardSwish", [](auto v) {
    using T = decltype(v);
    const T h = static_cast<T>(1.0 / 6.0) * v + T(0.5);
    return v * clamp01(h);
  });
}

Status Tanh(KernelContext& ctx) {
  return float_unary(ctx, "Tanh", [](auto v) { return std::tanh(v); });
}

Status Elu(KernelContext& ctx) {
  QDIFF_ASSIGN_OR_RETURN(const float alpha, float_attr(ctx, "alpha", 1.0f));
  return float_unary(ctx, "Elu", [alpha](auto v) {
    using T = decltype(v);
    return v < T(0) ? static_cast<T>(alpha) * std::expm1(v) : v;
  });
}

Status Selu(KernelContext& ctx) {
  QDIFF_ASSIGN_OR_RETURN(const float alpha, float_attr(ctx, "alpha", 1.67326319217681884765625f));
  QDIFF_ASSIGN_OR_RETURN(const float gamma, float_attr(ctx, "gamma", 1.05070102214813232421875f));
  return float_unary(ctx, "Selu", [alpha, gamma](auto v) {
    using T = decltype(v);
    const T a = static_cast<T>(alpha);
    const T g = static_cast<T>(gamma);
    return v > T(0) ? g * v : g * (a * std::exp(v) - a);
  });
}

Status Celu(KernelContext& ctx) {
  QDIFF_ASSIGN_OR_RETURN(const float alpha, float_attr(ctx, "alpha", 1.0f));
  if (alpha == 0.0f || !std::isfinite(alpha))
    return invalid_model("Celu: alpha must be finite and nonzero, got " + std::to_string(alpha));
  // max(0, x) + min(0, alpha * (exp(x / alpha) - 1))
  return float_unary(ctx, "Celu", [alpha](auto v) {
    using T = decltype(v);
    const T a = static_cast<T>(alpha);
    const T neg = a * std::expm1(v / a);
    return (v > T(0) ? v : T(0)) + (neg < T(0) ? neg : T(0));
  });
}

Status Softplus(KernelContext& ctx) {
  return float_unary(ctx, "Softplus", [](auto v) { return softplus(v); });
}

Status Softsign(KernelContext& ctx) {
  return float_unary(ctx, "Softsign", [](auto v) {
    using T = decltype(v);
    return v / (T(1) + std::fabs(v));
  });
}

Status ThresholdedRelu(KernelContext& ctx) {
  QDIFF_ASSIGN_OR_RETURN(const float alpha, float_attr(ctx, "alpha", 1.0f));
  return float_unary(ctx, "ThresholdedRelu", [alpha](auto v) {
    using T = decltype(v);
    return v > static_cast<T>(alpha) ? v : T(0);
  });
}

Status Mish(KernelContext& ctx) {
  return float_unary(ctx, "Mish", [](auto v) { return v * std::tanh(softplus(v)); });
}

Status Gelu(KernelContext& ctx) {
  Result<std::string> approx_attr = ctx.attrs.get_string("approximate", "none");
  if (!approx_attr.ok()) return approx_attr.status();
  const std::string& approximate = approx_attr.value();
  if (approximate == "none") {
    // 0.5 * x * (1 + erf(x / sqrt(2)))
    return float_unary(ctx, "Gelu", [](auto v) {
      using T = decltype(v);
      return T(0.5) * v * (T(1) + std::erf(v * static_cast<T>(1.0 / std::numbers::sqrt2)));
    });
  }
  if (approximate == "tanh") {
    // 0.5 * x * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 * x^3)))
    return float_unary(ctx, "Gelu", [](auto v) {
      using T = decltype(v);
      const T k = static_cast<T>(std::sqrt(2.0 / std::numbers::pi));
      return T(0.5) * v * (T(1) + std::tanh(k * (v + T(0.044715) * v * v * v)));
    });
  }
  return invalid_model("Gelu: attribute 'approximate' must be 'none' or 'tanh', got '" +
                       approximate + "'");
}

Status Clip(KernelContext& ctx) {
  QDIFF_ASSIGN_OR_RETURN(const Tensor* x, required_input(ctx, 0));
  if (ctx.opset < 11) {
    // min/max attributes (float), defaulting to the float range.
    QDIFF_ASSIGN_OR_RETURN(const float lo_attr,
                           float_attr(ctx, "min", std::numeric_limits<float>::lowest()));
    QDIFF_ASSIGN_OR_RETURN(const float hi_attr,
                           float_attr(ctx, "max", std::numeric_limits<float>::max()));
    return unary<TypeSet::kFloat>(ctx, "Clip", [&](auto tag) {
      using T = decltype(tag);
      const T lo =
          ctx.attrs.has("min") ? static_cast<T>(lo_attr) : std::numeric_limits<T>::lowest();
      const T hi = ctx.attrs.has("max") ? static_cast<T>(hi_attr) : std::numeric_limits<T>::max();
      return [lo, hi](T v) -> T {
        const T y = v < lo ? lo : v;  // NaN stays NaN; min > max gives max
        return y > hi ? hi : y;
      };
    });
  }
  return dispatch<TypeSet::kNumeric>("Clip", 0, x->dtype(), [&](auto tag) -> Status {
    using T = decltype(tag);
    T lo = std::numeric_limits<T>::lowest();
    T hi = std::numeric_limits<T>::max();
    QDIFF_RETURN_IF_ERROR(clip_bound<T>(ctx, 1, *x, "min", lo));
    QDIFF_RETURN_IF_ERROR(clip_bound<T>(ctx, 2, *x, "max", hi));
    QDIFF_ASSIGN_OR_RETURN(Tensor * out, ctx.alloc_output(0, dtype_of<T>(), x->shape()));
    const T* px = x->data<T>();
    T* po = out->mutable_data<T>();
    for (int64_t i = 0; i < x->numel(); ++i) {
      const T y = px[i] < lo ? lo : px[i];  // NaN stays NaN; min > max gives max
      po[i] = y > hi ? hi : y;
    }
    return Status::ok_status();
  });
}

}  // namespace qdiff::kernels::ref
