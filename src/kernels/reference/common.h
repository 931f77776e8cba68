// Helpers shared by the reference kernels: input checks, axis handling, broadcasting, strides.
#pragma once

#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include "kernels/kernel.h"

namespace qdiff::kernels::ref {

// Input i, or an error naming the missing input.
Result<const Tensor*> required_input(const KernelContext& ctx, size_t i);

// Normalises an axis in [-rank, rank) to [0, rank); error when out of range.
Result<int64_t> normalize_axis(int64_t axis, int64_t rank);

// Row-major strides of a shape (in elements).
std::vector<int64_t> strides_of(const Shape& shape);

// Numpy-style multidirectional broadcast of two shapes; error when incompatible.
Result<Shape> broadcast_shapes(const Shape& a, const Shape& b);

// For each output element index (row-major over `out`), the flat index into an input of shape
// `in` broadcast to `out` (in must be broadcastable to out; rank may be lower).
std::vector<int64_t> broadcast_index_map(const Shape& in, const Shape& out);

// Decimal text of v, for error messages.
inline std::string str(int64_t v) {
  return std::to_string(v);
}

// Normalises an axis in [-rank, rank) to [0, rank); error "<op>: axis .. out of range" otherwise.
Result<int64_t> checked_axis(const char* op, int64_t axis, int64_t rank);

// Product of shape[begin:end]; the caller knows it is bounded by an existing tensor's size.
int64_t dim_product(const Shape& shape, size_t begin, size_t end);

// Advances a row-major multi-index over `dims`; returns false (all zeros again) after the last.
bool next_index(std::vector<int64_t>& idx, const std::vector<int64_t>& dims);

// Error unless input i has a fixed-size (numeric or bool) element type.
Status check_data_dtype(const char* op, size_t i, const Tensor& t);

// Integer arithmetic that wraps modulo 2^bits instead of overflowing (signed overflow is UB).
// For bool, add is "or" and mul is "and".
template <typename T>
T wrap_add(T a, T b) {
  if constexpr (std::is_same_v<T, bool>) {
    return a || b;
  } else if constexpr (std::is_integral_v<T>) {
    return static_cast<T>(static_cast<uint64_t>(a) + static_cast<uint64_t>(b));
  } else {
    return a + b;
  }
}
template <typename T>
T wrap_mul(T a, T b) {
  if constexpr (std::is_same_v<T, bool>) {
    return a && b;
  } else if constexpr (std::is_integral_v<T>) {
    return static_cast<T>(static_cast<uint64_t>(a) * static_cast<uint64_t>(b));
  } else {
    return a * b;
  }
}

// Error for an unsupported input dtype: "<op>: input <i> has type <t>, expected ...".
Status dtype_error(const char* op, size_t input, DType got, const char* expected);

// The element types an op accepts, for dispatch and for its error message.
enum class TypeSet { kFloat, kSignedOrFloat, kNumeric, kNumericOrBool, kBool };

template <TypeSet S, typename T>
constexpr bool in_set() {
  constexpr bool is_bool = std::is_same_v<T, bool>;
  switch (S) {
    case TypeSet::kFloat:
      return std::is_floating_point_v<T>;
    case TypeSet::kSignedOrFloat:
      return !is_bool && std::is_signed_v<T>;
    case TypeSet::kNumeric:
      return !is_bool;
    case TypeSet::kNumericOrBool:
      return true;
    case TypeSet::kBool:
      return is_bool;
  }
  return false;
}

constexpr const char* set_name(TypeSet s) {
  switch (s) {
    case TypeSet::kFloat:
      return "float32 or float64";
    case TypeSet::kSignedOrFloat:
      return "a float or signed integer type";
    case TypeSet::kNumeric:
      return "a numeric type";
    case TypeSet::kNumericOrBool:
      return "a numeric type or bool";
    case TypeSet::kBool:
      return "bool";
  }
  return "";
}

// Calls f(T{}) (returning Status) for the C++ type of `dt` when it is in set S; otherwise the
// dtype_error for input `input` of `op`.
template <TypeSet S, typename F>
Status dispatch(const char* op, size_t input, DType dt, F&& f) {
  Status st = dtype_error(op, input, dt, set_name(S));
  visit_dtype(dt, [&](auto tag) {
    using T = decltype(tag);
    if constexpr (in_set<S, T>()) st = f(tag);
  });
  return st;
}

// Y = f(X) elementwise with Y of X's type, X in set S; make(T{}) returns the functor for element
// type T.
template <TypeSet S, typename Make>
Status unary(KernelContext& ctx, const char* op, Make&& make) {
  QDIFF_ASSIGN_OR_RETURN(const Tensor* x, required_input(ctx, 0));
  return dispatch<S>(op, 0, x->dtype(), [&](auto tag) -> Status {
    using T = decltype(tag);
    auto f = make(tag);
    QDIFF_ASSIGN_OR_RETURN(Tensor * out, ctx.alloc_output(0, dtype_of<T>(), x->shape()));
    const T* px = x->data<T>();
    T* po = out->mutable_data<T>();
    for (int64_t i = 0; i < x->numel(); ++i) po[i] = f(px[i]);
    return Status::ok_status();
  });
}

// Shorthand for float-only ops given as a generic lambda over the value.
template <typename F>
Status float_unary(KernelContext& ctx, const char* op, F f) {
  return unary<TypeSet::kFloat>(ctx, op, [&](auto tag) {
    using T = decltype(tag);
    return [&](T v) -> T { return f(v); };
  });
}

}  // namespace qdiff::kernels::ref
