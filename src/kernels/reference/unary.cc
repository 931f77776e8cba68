// Reference kernels for elementwise unary ops: Abs, Neg, Ceil, Floor, Round, Sqrt, Reciprocal,
// Exp, Log, Sin, Cos, Tan, Erf, Acos, Asin, Atan, Sinh, Cosh, Asinh, Acosh, Atanh, Sign, IsNaN,
// IsInf, Shrink, Cast, CastLike, Identity, Dropout.
// Float math is done in the tensor's own type (float32 stays float32).
#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <type_traits>

#include "kernels/reference/common.h"
#include "kernels/reference/reference.h"

namespace qdiff::kernels::ref {
namespace {

// Round half to even, independent of the floating-point environment's rounding mode.
template <typename T>
T round_half_even(T x) {
  T r = std::floor(x);
  const T diff = x - r;  // exact for finite x
  if (diff > T(0.5)) {
    r += T(1);
  } else if (diff == T(0.5)) {
    if (std::fmod(r, T(2)) != T(0)) r += T(1);
  }
  if (r == T(0)) r = std::copysign(T(0), x);
  return std::isinf(x) ? x : r;
}

// Optional scalar input i read as double; `fallback` when absent.
Result<double> optional_scalar(const KernelContext& ctx, size_t i, const char* op, const char* name,
                               double fallback) {
  const Tensor* t = ctx.input(i);
  if (!t || !t->defined()) return fallback;
  if (t->numel() != 1)
    return invalid_model(std::string(op) + ": input '" + name + "' must be a scalar, got shape " +
                         shape_to_string(t->shape()));
  if (t->dtype() == DType::kBool) return t->data<bool>()[0] ? 1.0 : 0.0;
  if (t->dtype() == DType::kFloat64) return t->data<double>()[0];
  if (!dtype_is_float(t->dtype()))
    return invalid_model(std::string(op) + ": input '" + name + "' has type " +
                         std::string(dtype_name(t->dtype())));
  return static_cast<double>(t->to_f32_vector()[0]);
}

}  // namespace

Status Abs(KernelContext& ctx) {
  return unary<TypeSet::kNumeric>(ctx, "Abs", [](auto tag) {
    using T = decltype(tag);
    return [](T v) -> T {
      if constexpr (std::is_floating_point_v<T>) {
        return std::fabs(v);
      } else if constexpr (std::is_unsigned_v<T>) {
        return v;
      } else {
        using U = std::make_unsigned_t<T>;
        // |MIN| wraps to MIN, like two's complement hardware; no signed overflow.
        return v < 0 ? static_cast<T>(static_cast<U>(U{0} - static_cast<U>(v))) : v;
      }
    };
  });
}

Status Neg(KernelContext& ctx) {
  return unary<TypeSet::kSignedOrFloat>(ctx, "Neg", [](auto tag) {
    using T = decltype(tag);
    return [](T v) -> T {
      if constexpr (std::is_floating_point_v<T>) {
        return -v;
      } else {
        using U = std::make_unsigned_t<T>;
        return static_cast<T>(static_cast<U>(U{0} - static_cast<U>(v)));  // -MIN wraps to MIN
      }
    };
  });
}

Status Ceil(KernelContext& ctx) {
  return float_unary(ctx, "Ceil", [](auto v) { return std::ceil(v); });
}
Status Floor(KernelContext& ctx) {
  return float_unary(ctx, "Floor", [](auto v) { return std::floor(v); });
}
Status Round(KernelContext& ctx) {
  return float_unary(ctx, "Round", [](auto v) { return round_half_even(v); });
}
Status Sqrt(KernelContext& ctx) {
  return float_unary(ctx, "Sqrt", [](auto v) { return std::sqrt(v); });
}
Status Reciprocal(KernelContext& ctx) {
  return float_unary(ctx, "Reciprocal", [](auto v) { return decltype(v)(1) / v; });
}
Status Exp(KernelContext& ctx) {
  return float_unary(ctx, "Exp", [](auto v) { return std::exp(v); });
}
Status Log(KernelContext& ctx) {
  return float_unary(ctx, "Log", [](auto v) { return std::log(v); });
}
Status Sin(KernelContext& ctx) {
  return float_unary(ctx, "Sin", [](auto v) { return std::sin(v); });
}
Status Cos(KernelContext& ctx) {
  return float_unary(ctx, "Cos", [](auto v) { return std::cos(v); });
}
Status Tan(KernelContext& ctx) {
  return float_unary(ctx, "Tan", [](auto v) { return std::tan(v); });
}
Status Erf(KernelContext& ctx) {
  return float_unary(ctx, "Erf", [](auto v) { return std::erf(v); });
}

Status Acos(KernelContext& ctx) {
  return float_unary(ctx, "Acos", [](auto v) { return std::acos(v); });
}
Status Asin(KernelContext& ctx) {
  return float_unary(ctx, "Asin", [](auto v) { return std::asin(v); });
}
Status Atan(KernelContext& ctx) {
  return float_unary(ctx, "Atan", [](auto v) { return std::atan(v); });
}
Status Sinh(KernelContext& ctx) {
  return float_unary(ctx, "Sinh", [](auto v) { return std::sinh(v); });
}
Status Cosh(KernelContext& ctx) {
  return float_unary(ctx, "Cosh", [](auto v) { return std::cosh(v); });
}
Status Asinh(KernelContext& ctx) {
  return float_unary(ctx, "Asinh", [](auto v) { return std::asinh(v); });
}
Status Acosh(KernelContext& ctx) {
  return float_unary(ctx, "Acosh", [](auto v) { return std::acosh(v); });
}
Status Atanh(KernelContext& ctx) {
  return float_unary(ctx, "Atanh", [](auto v) { return std::atanh(v); });
}

// IsNaN / IsInf: float input, bool output.
namespace {
template <typename Pred>
Status float_predicate(KernelContext& ctx, const char* op, Pred pred) {
  QDIFF_ASSIGN_OR_RETURN(const Tensor* x, required_input(ctx, 0));
  if (x->dtype() != DType::kFloat32 && x->dtype() != DType::kFloat64)
    return dtype_error(op, 0, x->dtype(), "float32 or float64");
  QDIFF_ASSIGN_OR_RETURN(Tensor * out, ctx.alloc_output(0, DType::kBool, x->shape()));
  bool* po = out->mutable_data<bool>();
  visit_dtype(x->dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_floating_point_v<T>) {
      const T* px = x->data<T>();
      for (int64_t i = 0; i < x->numel(); ++i) po[i] = pred(static_cast<double>(px[i]));
    }
  });
  return Status::ok_status();
}
}  // namespace

Status IsNaN(KernelContext& ctx) {
  return float_predicate(ctx, "IsNaN", [](double v) { return std::isnan(v); });
}

Status IsInf(KernelContext& ctx) {
  QDIFF_ASSIGN_OR_RETURN(int64_t neg, ctx.attrs.get_int("detect_negative", 1));
  QDIFF_ASSIGN_OR_RETURN(int64_t pos, ctx.attrs.get_int("detect_positive", 1));
  return float_predicate(ctx, "IsInf", [&](double v) {
    return std::isinf(v) && ((v > 0 && pos != 0) || (v < 0 && neg != 0));
  });
}

// Shrink: y = x + bias for x < -lambd, x - bias for x > lambd, 0 otherwise. Integer inputs
// compute in double and convert back with truncation, clamped to the type's range.
Status Shrink(KernelContext& ctx) {
  QDIFF_ASSIGN_OR_RETURN(float lambd, ctx.attrs.get_float("lambd", 0.5f));
  QDIFF_ASSIGN_OR_RETURN(float bias, ctx.attrs.get_float("bias", 0.0f));
  return unary<TypeSet::kNumeric>(ctx, "Shrink", [&](auto tag) {
    using T = decltype(tag);
    return [lambd, bias](T v) -> T {
      if constexpr (std::is_floating_point_v<T>) {
        if (v < static_cast<T>(-lambd)) return v + static_cast<T>(bias);
        if (v > static_cast<T>(lambd)) return v - static_cast<T>(bias);
        return T{0};
      } else {
        const double d = static_cast<double>(v);
        double r = 0;
        if (d < -static_cast<double>(lambd)) {
          r = d + static_cast<double>(bias);
        } else if (d > static_cast<double>(lambd)) {
          r = d - static_cast<double>(bias);
        }
        if (std::isnan(r)) return T{0};
        r = std::trunc(r);
        if (r <= static_cast<double>(std::numeric_limits<T>::lowest()))
          return std::numeric_limits<T>::lowest();
        if (r >= static_cast<double>(std::numeric_limits<T>::max()))
          return std::numeric_limits<T>::max();
        return static_cast<T>(r);
      }
    };
  });
}

Status Sign(KernelContext& ctx) {
  return unary<TypeSet::kNumeric>(ctx, "Sign", [](auto tag) {
    using T = decltype(tag);
    return [](T v) -> T {
      if constexpr (std::is_floating_point_v<T>) {
        if (std::isnan(v)) return v;
      }
      if (v > T(0)) return T(1);
      if constexpr (std::is_signed_v<T>) {
        if (v < T(0)) return T(-1);
      }
      return T(0);
    };
  });
}

Status Cast(KernelContext& ctx) {
  QDIFF_ASSIGN_OR_RETURN(const Tensor* x, required_input(ctx, 0));
  if (!ctx.attrs.has("to")) return invalid_model("Cast: missing required attribute 'to'");
  QDIFF_ASSIGN_OR_RETURN(int64_t to, ctx.attrs.get_int("to", 0));
  if (to < 0 || to > std::numeric_limits<int>::max())
    return invalid_model("Cast: invalid target type " + std::to_string(to));
  const std::optional<DType> target = dtype_from_onnx(static_cast<int>(to));
  if (!target || dtype_size(*target) == 0)
    return unsupported("Cast: target type " + std::to_string(to) +
                       " (ONNX TensorProto.DataType) is not supported (string, complex, float8 and "
                       "int4 types are not)");
  if (dtype_size(x->dtype()) == 0)
    return dtype_error("Cast", 0, x->dtype(), "a numeric type or bool");
  if (*target == x->dtype()) {
    ctx.set_output(0, *x);
    return Status::ok_status();
  }
  QDIFF_ASSIGN_OR_RETURN(Tensor * out, ctx.alloc_output(0, *target, x->shape()));
  *out = x->cast(*target);
  return Status::ok_status();
}

// CastLike (opset 15+): Cast to the element type of input 1.
Status CastLike(KernelContext& ctx) {
  QDIFF_ASSIGN_OR_RETURN(const Tensor* x, required_input(ctx, 0));
  QDIFF_ASSIGN_OR_RETURN(const Tensor* like, required_input(ctx, 1));
  const DType target = like->dtype();
  if (dtype_size(target) == 0)
    return unsupported("CastLike: target type " + std::string(dtype_name(target)) +
                       " is not supported");
  if (dtype_size(x->dtype()) == 0)
    return dtype_error("CastLike", 0, x->dtype(), "a numeric type or bool");
  if (target == x->dtype()) {
    ctx.set_output(0, *x);
    return Status::ok_status();
  }
  QDIFF_ASSIGN_OR_RETURN(Tensor * out, ctx.alloc_output(0, target, x->shape()));
  *out = x->cast(target);
  return Status::ok_status();
}

Status Identity(KernelContext& ctx) {
  QDIFF_ASSIGN_OR_RETURN(const Tensor* x, required_input(ctx, 0));
  ctx.set_output(0, *x);
  return Status::ok_status();
}

Status Dropout(KernelContext& ctx) {
  QDIFF_ASSIGN_OR_RETURN(const Tensor* x, required_input(ctx, 0));
  if (ctx.opset >= 12) {
    QDIFF_ASSIGN_OR_RETURN(double ratio, optional_scalar(ctx, 1, "Dropout", "ratio", 0.5));
    QDIFF_ASSIGN_OR_RETURN(double training, optional_scalar(ctx, 2, "Dropout", "training_mode", 0));
    const Tensor* t = ctx.input(2);
    if (t && t->defined() && t->dtype() != DType::kBool)
      return dtype_error("Dropout", 2, t->dtype(), "bool");
    if (training != 0) {
      if (!(ratio >= 0 && ratio < 1))
        return invalid_model("Dropout: ratio " + std::to_string(ratio) + " is not in [0, 1)");
      if (ratio != 0)
        return unsupported(
            "Dropout: training_mode=true with a nonzero ratio is random; qdiff runs inference");
    }
  } else {
    QDIFF_ASSIGN_OR_RETURN(float ratio, ctx.attrs.get_float("ratio", 0.5f));
    (void)ratio;  // inference: ignored
  }
  ctx.set_output(0, *x);
  if (ctx.outputs.size() > 1) {
    // Nothing is dropped: the mask is all true (bool since opset 10, the data type before).
    const DType mask_type = ctx.opset >= 10 ? DType::kBool : x->dtype();
    QDIFF_ASSIGN_OR_RETURN(Tensor * mask, ctx.alloc_output(1, mask_type, x->shape()));
    const bool filled = visit_dtype(mask_type, [&](auto tag) {
      using T = decltype(tag);
      T* p = mask->mutable_data<T>();
      std::fill(p, p + mask->numel(), static_cast<T>(1));
    });
    if (!filled) {  // float16/bfloat16 data (opset < 10): fill in float32 and convert
      Tensor ones = Tensor::zeros(DType::kFloat32, x->shape());
      float* p = ones.mutable_data<float>();
      std::fill(p, p + ones.numel(), 1.0f);
      *mask = ones.cast(mask_type);
    }
  }
  return Status::ok_status();
}

}  // namespace qdiff::kernels::ref
