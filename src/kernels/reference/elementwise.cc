// Reference kernels for elementwise binary and variadic ops with numpy broadcasting:
// Add, Sub, Mul, Div, Pow, Mod, Max, Min, Mean, Sum, Equal, Greater, GreaterOrEqual, Less,
// LessOrEqual, And, Or, Xor, Not, Where.
//
// Integer semantics (ONNX leaves them to the runtime; these follow ONNX Runtime / C):
// - Add/Sub/Mul/Sum wrap modulo 2^bits (no undefined signed overflow).
// - Div truncates toward zero; MIN / -1 wraps to MIN; division by zero is an error.
// - Pow with an integer base: exact integer power (wrapping) for integer exponents; a float
//   exponent computes in double and truncates toward zero, clamping to the type's range.
// - Mod: fmod=0 gives the remainder with the divisor's sign (Python %), fmod=1 the C fmod
//   (dividend's sign); floats require fmod=1; integer modulo by zero is an error.
// Float Max/Min propagate NaN (numpy maximum/minimum, which generated the ONNX test data).
#include <array>
#include <cmath>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "kernels/reference/common.h"
#include "kernels/reference/reference.h"

namespace qdiff::kernels::ref {
namespace {

// ---------------------------------------------------------------------------------------------
// Broadcast iteration.

// Strides (in elements) of `in` laid over `out` (left-padded to out's rank); 0 on broadcast dims.
std::vector<int64_t> aligned_strides(const qdiff::Shape& in, const qdiff::Shape& out) {
  std::vector<int64_t> s(out.size(), 0);
  const size_t off = out.size() - in.size();
  int64_t stride = 1;
  for (size_t i = in.size(); i-- > 0;) {
    s[off + i] = in[i] == 1 ? 0 : stride;
    stride *= in[i];
  }
  return s;
}

// Calls f(out_index, offsets) for every element of `out` in row-major order, where offsets[k] is
// the flat index of the matching element of input k (each input broadcastable to out).
template <size_t N, typename F>
void for_each_broadcast(const qdiff::Shape& out, const std::array<const qdiff::Shape*, N>& ins,
                        F&& f) {
  const int64_t n = shape_numel(out).value_or(0);
  if (n == 0) return;
  std::array<int64_t, N> off{};
  if (out.empty()) {
    f(int64_t{0}, off);
    return;
  }
  std::array<std::vector<int64_t>, N> st;
  for (size_t k = 0; k < N; ++k) st[k] = aligned_strides(*ins[k], out);
  const size_t r = out.size();
  const int64_t inner = out[r - 1];
  std::array<int64_t, N> inner_st{};
  for (size_t k = 0; k < N; ++k) inner_st[k] = st[k][r - 1];
  std::vector<int64_t> idx(r, 0);
  for (int64_t o = 0; o < n; o += inner) {
    std::array<int64_t, N> cur = off;
    for (int64_t j = 0; j < inner; ++j) {
      f(o + j, cur);
      for (size_t k = 0; k < N; ++k) cur[k] += inner_st[k];
    }
    for (size_t d = r - 1; d-- > 0;) {  // odometer over the outer dims
      ++idx[d];
      for (size_t k = 0; k < N; ++k) off[k] += st[k][d];
      if (idx[d] < out[d]) break;
      for (size_t k = 0; k < N; ++k) off[k] -= st[k][d] * idx[d];
      idx[d] = 0;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Dtype dispatch.

Status check_same_dtype(const char* op, const Tensor& a, size_t ia, const Tensor& b, size_t ib) {
  if (a.dtype() == b.dtype()) return Status::ok_status();
  return invalid_model(std::string(op) + ": input " + std::to_string(ib) + " has type " +
                       std::string(dtype_name(b.dtype())) + " but input " + std::to_string(ia) +
                       " has type " + std::string(dtype_name(a.dtype())));
}

Result<qdiff::Shape> broadcast_for(const char* op, const qdiff::Shape& a, const qdiff::Shape& b) {
  auto r = broadcast_shapes(a, b);
  if (!r.ok()) return invalid_argument(std::string(op) + ": " + r.status().message());
  return r;
}

// ---------------------------------------------------------------------------------------------
// Integer helpers without undefined behaviour.

// Unsigned type at least as wide as `unsigned` that holds T's bits (avoids promotion to int).
template <typename T>
using WideUnsigned =
    std::conditional_t<(sizeof(T) < sizeof(unsigned)), unsigned, std::make_unsigned_t<T>>;

template <typename T>
T add_op(T a, T b) {
  if constexpr (std::is_integral_v<T>) {
    using W = WideUnsigned<T>;
    return static_cast<T>(static_cast<W>(static_cast<W>(a) + static_cast<W>(b)));
  } else {
    return a + b;
  }
}
template <typename T>
T sub_op(T a, T b) {
  if constexpr (std::is_integral_v<T>) {
    using W = WideUnsigned<T>;
    return static_cast<T>(static_cast<W>(static_cast<W>(a) - static_cast<W>(b)));
  } else {
    return a - b;
  }
}
template <typename T>
T mul_op(T a, T b) {
  if constexpr (std::is_integral_v<T>) {
    using W = WideUnsigned<T>;
    return static_cast<T>(static_cast<W>(static_cast<W>(a) * static_cast<W>(b)));
  } else {
    return a * b;
  }
}

// Float to integer: truncation toward zero, clamped to T's range, NaN -> 0.
template <typename T>
T float_to_int(double v) {
  if (std::isnan(v)) return T{0};
  v = std::trunc(v);
  if (v <= static_cast<double>(std::numeric_limits<T>::lowest()))
    return std::numeric_limits<T>::lowest();
  if (v >= static_cast<double>(std::numeric_limits<T>::max())) return std::numeric_limits<T>::max();
  return static_cast<T>(v);
}

template <typename T>
T max_op(T a, T b) {
  if constexpr (std::is_floating_point_v<T>) {
    if (std::isnan(a) || std::isnan(b)) return std::numeric_limits<T>::quiet_NaN();
  }
  return a < b ? b : a;
}
template <typename T>
T min_op(T a, T b) {
  if constexpr (std::is_floating_point_v<T>) {
    if (std::isnan(a) || std::isnan(b)) return std::numeric_limits<T>::quiet_NaN();
  }
  return b < a ? b : a;
}

// ---------------------------------------------------------------------------------------------
// Generic binary kernel: out[i] = f(a[ia], b[ib]) with Out the output element type.

template <typename In, typename Out, typename F>
Status binary_loop(KernelContext& ctx, const char* op, const Tensor& a, const Tensor& b, F&& f) {
  QDIFF_ASSIGN_OR_RETURN(qdiff::Shape out_shape, broadcast_for(op, a.shape(), b.shape()));
  QDIFF_ASSIGN_OR_RETURN(Tensor * out, ctx.alloc_output(0, dtype_of<Out>(), out_shape));
  const In* pa = a.data<In>();
  const In* pb = b.data<In>();
  Out* po = out->mutable_data<Out>();
  if (a.shape() == b.shape()) {
    for (int64_t i = 0; i < out->numel(); ++i) po[i] = f(pa[i], pb[i]);
  } else if (b.numel() == 1 && a.shape() == out_shape) {
    const In bv = pb[0];
    for (int64_t i = 0; i < out->numel(); ++i) po[i] = f(pa[i], bv);
  } else {
    for_each_broadcast<2>(
        out_shape, {&a.shape(), &b.shape()},
        [&](int64_t o, const std::array<int64_t, 2>& k) { po[o] = f(pa[k[0]], pb[k[1]]); });
  }
  return Status::ok_status();
}

// Binary op whose output has the inputs' type. Make(T{}) returns the elementwise functor.
template <TypeSet S, typename Make>
Status same_type_binary(KernelContext& ctx, const char* op, Make&& make) {
  QDIFF_ASSIGN_OR_RETURN(const Tensor* a, required_input(ctx, 0));
  QDIFF_ASSIGN_OR_RETURN(const Tensor* b, required_input(ctx, 1));
  QDIFF_RETURN_IF_ERROR(check_same_dtype(op, *a, 0, *b, 1));
  return dispatch<S>(op, 0, a->dtype(), [&](auto tag) -> Status {
    using T = decltype(tag);
    return binary_loop<T, T>(ctx, op, *a, *b, make(tag));
  });
}

// Comparison: bool output.
template <TypeSet S, typename Cmp>
Status compare(KernelContext& ctx, const char* op, Cmp cmp) {
  QDIFF_ASSIGN_OR_RETURN(const Tensor* a, required_input(ctx, 0));
  QDIFF_ASSIGN_OR_RETURN(const Tensor* b, required_input(ctx, 1));
  QDIFF_RETURN_IF_ERROR(check_same_dtype(op, *a, 0, *b, 1));
  return dispatch<S>(op, 0, a->dtype(), [&](auto tag) -> Status {
    using T = decltype(tag);
    return binary_loop<T, bool>(ctx, op, *a, *b, [&](T x, T y) { return cmp(x, y); });
  });
}

// Variadic op (Max, Min, Sum, Mean): folds the inputs left to right with broadcasting, then
// applies finish(acc, n) to each element.
template <TypeSet S, typename Make, typename Finish>
Status variadic(KernelContext& ctx, const char* op, Make&& make, Finish&& finish) {
  const size_t n = ctx.num_inputs();
  if (n == 0) return invalid_model(std::string(op) + ": needs at least one input");
  std::vector<const Tensor*> ins(n);
  for (size_t i = 0; i < n; ++i) {
    QDIFF_ASSIGN_OR_RETURN(ins[i], required_input(ctx, i));
    QDIFF_RETURN_IF_ERROR(check_same_dtype(op, *ins[0], 0, *ins[i], i));
  }
  qdiff::Shape out_shape = ins[0]->shape();
  for (size_t i = 1; i < n; ++i) {
    QDIFF_ASSIGN_OR_RETURN(out_shape, broadcast_for(op, out_shape, ins[i]->shape()));
  }
  return dispatch<S>(op, 0, ins[0]->dtype(), [&](auto tag) -> Status {
    using T = decltype(tag);
    auto f = make(tag);
    QDIFF_ASSIGN_OR_RETURN(Tensor * out, ctx.alloc_output(0, dtype_of<T>(), out_shape));
    T* po = out->mutable_data<T>();
    const T* p0 = ins[0]->data<T>();
    for_each_broadcast<1>(out_shape, {&ins[0]->shape()},
                          [&](int64_t o, const std::array<int64_t, 1>& k) { po[o] = p0[k[0]]; });
    for (size_t i = 1; i < n; ++i) {
      const T* pi = ins[i]->data<T>();
      for_each_broadcast<1>(
          out_shape, {&ins[i]->shape()},
          [&](int64_t o, const std::array<int64_t, 1>& k) { po[o] = f(po[o], pi[k[0]]); });
    }
    for (int64_t o = 0; o < out->numel(); ++o) po[o] = finish(po[o], n);
    return Status::ok_status();
  });
}

// Pow element: base T, exponent E. `error` is set for 0 to a negative integer power.
template <typename T, typename E>
T pow_elem(T x, E y, bool& error) {
  if constexpr (std::is_floating_point_v<T>) {
    return std::pow(x, static_cast<T>(y));
  } else if constexpr (std::is_floating_point_v<E>) {
    return float_to_int<T>(std::pow(static_cast<double>(x), static_cast<double>(y)));
  } else {
    if constexpr (std::is_signed_v<E>) {
      if (y < 0) {
        if (x == 1) return T{1};
        if constexpr (std::is_signed_v<T>) {
          if (x == -1) return (y % 2 == 0) ? T{1} : T{-1};
        }
        if (x == 0) error = true;
        return T{0};  // |x| > 1: the true result is in (-1, 1), truncated to 0
      }
    }
    using W = WideUnsigned<T>;
    W result = 1;
    W base = static_cast<W>(x);
    auto e = static_cast<uint64_t>(y);
    while (e != 0) {
      if (e & 1u) result = static_cast<W>(result * base);
      base = static_cast<W>(base * base);
      e >>= 1;
    }
    return static_cast<T>(result);
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Arithmetic.

Status Add(KernelContext& ctx) {
  return same_type_binary<TypeSet::kNumeric>(ctx, "Add", [](auto tag) {
    using T = decltype(tag);
    return [](T a, T b) { return add_op(a, b); };
  });
}

Status Sub(KernelContext& ctx) {
  return same_type_binary<TypeSet::kNumeric>(ctx, "Sub", [](auto tag) {
    using T = decltype(tag);
    return [](T a, T b) { return sub_op(a, b); };
  });
}

Status Mul(KernelContext& ctx) {
  return same_type_binary<TypeSet::kNumeric>(ctx, "Mul", [](auto tag) {
    using T = decltype(tag);
    return [](T a, T b) { return mul_op(a, b); };
  });
}

Status Div(KernelContext& ctx) {
  bool div_by_zero = false;
  QDIFF_RETURN_IF_ERROR(same_type_binary<TypeSet::kNumeric>(ctx, "Div", [&](auto tag) {
    using T = decltype(tag);
    return [&](T a, T b) -> T {
      if constexpr (std::is_floating_point_v<T>) {
        return a / b;
      } else {
        if (b == 0) {
          div_by_zero = true;
          return T{0};
        }
        if constexpr (std::is_signed_v<T>) {
          if (b == -1) return sub_op(T{0}, a);  // MIN / -1 wraps instead of trapping
        }
        return static_cast<T>(a / b);
      }
    };
  }));
  if (div_by_zero) {
    ctx.set_output(0, Tensor());
    return invalid_argument("Div: integer division by zero");
  }
  return Status::ok_status();
}

Status Pow(KernelContext& ctx) {
  QDIFF_ASSIGN_OR_RETURN(const Tensor* x, required_input(ctx, 0));
  QDIFF_ASSIGN_OR_RETURN(const Tensor* y, required_input(ctx, 1));
  if (ctx.opset < 12) QDIFF_RETURN_IF_ERROR(check_same_dtype("Pow", *x, 0, *y, 1));
  bool error = false;
  QDIFF_RETURN_IF_ERROR(dispatch<TypeSet::kNumeric>("Pow", 0, x->dtype(), [&](auto xtag) {
    using T = decltype(xtag);
    return dispatch<TypeSet::kNumeric>("Pow", 1, y->dtype(), [&](auto ytag) -> Status {
      using E = decltype(ytag);
      QDIFF_ASSIGN_OR_RETURN(qdiff::Shape out_shape, broadcast_for("Pow", x->shape(), y->shape()));
      QDIFF_ASSIGN_OR_RETURN(Tensor * out, ctx.alloc_output(0, dtype_of<T>(), out_shape));
      const T* px = x->data<T>();
      const E* py = y->data<E>();
      T* po = out->mutable_data<T>();
      for_each_broadcast<2>(out_shape, {&x->shape(), &y->shape()},
                            [&](int64_t o, const std::array<int64_t, 2>& k) {
                              po[o] = pow_elem<T, E>(px[k[0]], py[k[1]], error);
                            });
      return Status::ok_status();
    });
  }));
  if (error) {
    ctx.set_output(0, Tensor());
    return invalid_argument("Pow: integer zero raised to a negative power");
  }
  return Status::ok_status();
}

// ---------------------------------------------------------------------------------------------
// Variadic.

Status Max(KernelContext& ctx) {
  return variadic<TypeSet::kNumeric>(
      ctx, "Max",
      [](auto tag) {
        using T = decltype(tag);
        return [](T a, T b) { return max_op(a, b); };
      },
      [](auto v, size_t) { return v; });
}

Status Min(KernelContext& ctx) {
  return variadic<TypeSet::kNumeric>(
      ctx, "Min",
      [](auto tag) {
        using T = decltype(tag);
        return [](T a, T b) { return min_op(a, b); };
      },
      [](auto v, size_t) { return v; });
}

Status Sum(KernelContext& ctx) {
  return variadic<TypeSet::kNumeric>(
      ctx, "Sum",
      [](auto tag) {
        using T = decltype(tag);
        return [](T a, T b) { return add_op(a, b); };
      },
      [](auto v, size_t) { return v; });
}

Status Mean(KernelContext& ctx) {
  return variadic<TypeSet::kFloat>(
      ctx, "Mean",
      [](auto tag) {
        using T = decltype(tag);
        return [](T a, T b) { return a + b; };
      },
      [](auto v, size_t n) { return v / static_cast<decltype(v)>(n); });
}

// ---------------------------------------------------------------------------------------------
// Comparisons.

Status Equal(KernelContext& ctx) {
  return compare<TypeSet::kNumericOrBool>(ctx, "Equal", [](auto a, auto b) { return a == b; });
}
Status Greater(KernelContext& ctx) {
  return compare<TypeSet::kNumeric>(ctx, "Greater", [](auto a, auto b) { return a > b; });
}
Status GreaterOrEqual(KernelContext& ctx) {
  return compare<TypeSet::kNumeric>(ctx, "GreaterOrEqual", [](auto a, auto b) { return a >= b; });
}
Status Less(KernelContext& ctx) {
  return compare<TypeSet::kNumeric>(ctx, "Less", [](auto a, auto b) { return a < b; });
}
Status LessOrEqual(KernelContext& ctx) {
  return compare<TypeSet::kNumeric>(ctx, "LessOrEqual", [](auto a, auto b) { return a <= b; });
}

// ---------------------------------------------------------------------------------------------
// Logic.

Status And(KernelContext& ctx) {
  return compare<TypeSet::kBool>(ctx, "And", [](bool a, bool b) { return a && b; });
}
Status Or(KernelContext& ctx) {
  return compare<TypeSet::kBool>(ctx, "Or", [](bool a, bool b) { return a || b; });
}
Status Xor(KernelContext& ctx) {
  return compare<TypeSet::kBool>(ctx, "Xor", [](bool a, bool b) { return a != b; });
}

Status Not(KernelContext& ctx) {
  QDIFF_ASSIGN_OR_RETURN(const Tensor* x, required_input(ctx, 0));
  if (x->dtype() != DType::kBool) return dtype_error("Not", 0, x->dtype(), "bool");
  QDIFF_ASSIGN_OR_RETURN(Tensor * out, ctx.alloc_output(0, DType::kBool, x->shape()));
  const bool* px = x->data<bool>();
  bool* po = out->mutable_data<bool>();
  for (int64_t i = 0; i < x->numel(); ++i) po[i] = !px[i];
  return Status::ok_status();
}

Status Where(KernelContext& ctx) {
  QDIFF_ASSIGN_OR_RETURN(const Tensor* c, required_input(ctx, 0));
  QDIFF_ASSIGN_OR_RETURN(const Tensor* x, required_input(ctx, 1));
  QDIFF_ASSIGN_OR_RETURN(const Tensor* y, required_input(ctx, 2));
  if (c->dtype() != DType::kBool) return dtype_error("Where", 0, c->dtype(), "bool");
  QDIFF_RETURN_IF_ERROR(check_same_dtype("Where", *x, 1, *y, 2));
  QDIFF_ASSIGN_OR_RETURN(qdiff::Shape s, broadcast_for("Where", c->shape(), x->shape()));
  QDIFF_ASSIGN_OR_RETURN(s, broadcast_for("Where", s, y->shape()));
  return dispatch<TypeSet::kNumericOrBool>("Where", 1, x->dtype(), [&](auto tag) -> Status {
    using T = decltype(tag);
    QDIFF_ASSIGN_OR_RETURN(Tensor * out, ctx.alloc_output(0, dtype_of<T>(), s));
    const bool* pc = c->data<bool>();
    const T* px = x->data<T>();
    const T* py = y->data<T>();
    T* po = out->mutable_data<T>();
    for_each_broadcast<3>(s, {&c->shape(), &x->shape(), &y->shape()},
                          [&](int64_t o, const std::array<int64_t, 3>& k) {
                            po[o] = pc[k[0]] ? px[k[1]] : py[k[2]];
                          });
    return Status::ok_status();
  });
}

// ---------------------------------------------------------------------------------------------
// Mod.

Status Mod(KernelContext& ctx) {
  QDIFF_ASSIGN_OR_RETURN(int64_t fmod_attr, ctx.attrs.get_int("fmod", 0));
  if (fmod_attr != 0 && fmod_attr != 1)
    return invalid_model("Mod: fmod must be 0 or 1, got " + std::to_string(fmod_attr));
  const bool use_fmod = fmod_attr == 1;
  QDIFF_ASSIGN_OR_RETURN(const Tensor* a, required_input(ctx, 0));
  if (dtype_is_float(a->dtype()) && !use_fmod)
    return invalid_model("Mod: fmod must be 1 for floating-point inputs");
  bool div_by_zero = false;
  QDIFF_RETURN_IF_ERROR(same_type_binary<TypeSet::kNumeric>(ctx, "Mod", [&](auto tag) {
    using T = decltype(tag);
    return [&](T x, T y) -> T {
      if constexpr (std::is_floating_point_v<T>) {
        return std::fmod(x, y);
      } else {
        if (y == 0) {
          div_by_zero = true;
          return T{0};
        }
        if constexpr (std::is_signed_v<T>) {
          if (y == -1) return T{0};  // MIN % -1 would trap
          const T r = static_cast<T>(x % y);
          if (!use_fmod && r != 0 && ((r < 0) != (y < 0))) return static_cast<T>(r + y);
          return r;
        } else {
          return static_cast<T>(x % y);
        }
      }
    };
  }));
  if (div_by_zero) {
    ctx.set_output(0, Tensor());
    return invalid_argument("Mod: integer modulo by zero");
  }
  return Status::ok_status();
}

}  // namespace qdiff::kernels::ref
