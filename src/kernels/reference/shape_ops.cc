// Shape manipulation and constants: Reshape, Flatten, Squeeze, Unsqueeze (views sharing the
// input's storage), Shape, Size, Constant, ConstantOfShape, Range.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "kernels/reference/common.h"
#include "kernels/reference/reference.h"

namespace qdiff::kernels::ref {
namespace {

// Reads a 1-D (or 0-D) int64/int32 tensor (shape, axes).
Result<std::vector<int64_t>> read_int_list(const char* op, size_t i, const Tensor& t) {
  if (t.dtype() != DType::kInt64 && t.dtype() != DType::kInt32)
    return dtype_error(op, i, t.dtype(), "int64");
  if (t.rank() > 1)
    return invalid_model(std::string(op) + ": input " + std::to_string(i) +
                         " must be 1-D, got shape " + shape_to_string(t.shape()));
  return t.to_i64_vector();
}

// Axes (attribute before opset 13, optional input from 13) for Squeeze/Unsqueeze.
// `present` tells whether any were given.
Result<std::vector<int64_t>> read_axes(const KernelContext& ctx, const char* op, bool* present) {
  *present = false;
  if (ctx.opset >= 13) {
    if (ctx.attrs.has("axes"))
      return invalid_model(std::string(op) + ": from opset 13 axes is an input, not an attribute");
    if (const Tensor* a = ctx.input(1); a && a->defined()) {
      *present = true;
      return read_int_list(op, 1, *a);
    }
    return std::vector<int64_t>{};
  }
  if (const Tensor* a = ctx.input(1); a && a->defined())
    return invalid_model(std::string(op) + ": before opset 13 axes is an attribute, not an input");
  if (!ctx.attrs.has("axes")) return std::vector<int64_t>{};
  *present = true;
  return ctx.attrs.get_ints("axes");
}

// Normalises each axis against `rank` and rejects repeats; the result is a per-dim mask.
Result<std::vector<bool>> axes_mask(const char* op, const std::vector<int64_t>& axes,
                                    int64_t rank) {
  std::vector<bool> mask(static_cast<size_t>(rank), false);
  for (int64_t a : axes) {
    if (a < -rank || a >= rank)
      return invalid_model(std::string(op) + ": axis " + std::to_string(a) +
                           " out of range for rank " + std::to_string(rank));
    const size_t d = static_cast<size_t>(a < 0 ? a + rank : a);
    if (mask[d])
      return invalid_model(std::string(op) + ": axis " + std::to_string(a) + " repeated");
    mask[d] = true;
  }
  return mask;
}

// Product of shape[begin:end], nullopt on overflow.
std::optional<int64_t> checked_product(const qdiff::Shape& shape, size_t begin, size_t end) {
  return shape_numel(qdiff::Shape(shape.begin() + static_cast<std::ptrdiff_t>(begin),
                                  shape.begin() + static_cast<std::ptrdiff_t>(end)));
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Reshape: 0 copies the input's dim (unless allowzero=1, opset 14), -1 is inferred.

Status Reshape(KernelContext& ctx) {
  QDIFF_ASSIGN_OR_RETURN(const Tensor* x, required_input(ctx, 0));
  std::vector<int64_t> requested;
  if (ctx.opset >= 5) {
    QDIFF_ASSIGN_OR_RETURN(const Tensor* s, required_input(ctx, 1));
    if (s->dtype() != DType::kInt64) return dtype_error("Reshape", 1, s->dtype(), "int64");
    if (s->rank() != 1)
      return invalid_model("Reshape: shape must be 1-D, got shape " + shape_to_string(s->shape()));
    requested = s->to_i64_vector();
  } else {
    QDIFF_ASSIGN_OR_RETURN(requested, ctx.attrs.get_ints("shape"));
  }
  int64_t allowzero = 0;
  if (ctx.opset >= 14) {
    QDIFF_ASSIGN_OR_RETURN(allowzero, ctx.attrs.get_int("allowzero", 0));
  }
  qdiff::Shape out(requested.size());
  int64_t infer = -1;
  bool has_zero = false;
  for (size_t i = 0; i < requested.size(); ++i) {
    const int64_t v = requested[i];
    if (v == -1) {
      if (infer >= 0) return invalid_argument("Reshape: more than one -1 in shape");
      infer = static_cast<int64_t>(i);
      out[i] = 1;
    } else if (v == 0 && allowzero == 0) {
      if (static_cast<int64_t>(i) >= x->rank())
        return invalid_argument("Reshape: shape[" + std::to_string(i) +
                                "] is 0 but the input has rank " + std::to_string(x->rank()));
      out[i] = x->shape()[i];
    } else if (v < 0) {
      return invalid_argument("Reshape: invalid dimension " + std::to_string(v) + " in shape");
    } else {
      out[i] = v;
      has_zero = has_zero || v == 0;
    }
  }
  if (infer >= 0 && has_zero)
    return invalid_argument("Reshape: with allowzero=1 the shape cannot hold both 0 and -1");
  const auto known = shape_numel(out);
  if (!known)
    return invalid_argument("Reshape: shape " + shape_to_string(requested) + " overflows");
  if (infer >= 0) {
    if (*known == 0 || x->numel() % *known != 0)
      return invalid_argument("Reshape: cannot infer the -1 dimension reshaping " +
                              shape_to_string(x->shape()) + " to " + shape_to_string(requested));
    out[static_cast<size_t>(infer)] = x->numel() / *known;
  } else if (*known != x->numel()) {
    return invalid_argument("Reshape: cannot reshape " + shape_to_string(x->shape()) + " (" +
                            std::to_string(x->numel()) + " elements) to " + shape_to_string(out));
  }
  ctx.set_output(0, x->reshaped(out));
  return Status::ok_status();
}

// ---------------------------------------------------------------------------------------------
// Flatten: [d0..d(axis-1)] x [d(axis)..] as a 2-D matrix.

Status Flatten(KernelContext& ctx) {
  QDIFF_ASSIGN_OR_RETURN(const Tensor* x, required_input(ctx, 0));
  QDIFF_ASSIGN_OR_RETURN(int64_t axis, ctx.attrs.get_int("axis", 1));
  const int64_t rank = x->rank();
  const int64_t lo = ctx.opset >= 11 ? -rank : 0;
  if (axis < lo || axis > rank)
    return invalid_model("Flatten: axis " + std::to_string(axis) + " out of range [" +
                         std::to_string(lo) + ", " + std::to_string(rank) + "] at opset " +
                         std::to_string(ctx.opset));
  if (axis < 0) axis += rank;
  const qdiff::Shape& s = x->shape();
  const auto rows = checked_product(s, 0, static_cast<size_t>(axis));
  const auto cols = checked_product(s, static_cast<size_t>(axis), s.size());
  if (!rows || !cols)
    return invalid_argument("Flatten: dimensions of " + shape_to_string(s) + " overflow");
  ctx.set_output(0, x->reshaped({*rows, *cols}));
  return Status::ok_status();
}

// ---------------------------------------------------------------------------------------------
// Squeeze / Unsqueeze

Status Squeeze(KernelContext& ctx) {
  QDIFF_ASSIGN_OR_RETURN(const Tensor* x, required_input(ctx, 0));
  bool present = false;
  QDIFF_ASSIGN_OR_RETURN(std::vector<int64_t> axes, read_axes(ctx, "Squeeze", &present));
  const int64_t rank = x->rank();
  const qdiff::Shape& s = x->shape();
  std::vector<bool> mask(static_cast<size_t>(rank), false);
  if (axes.empty()) {
    // No axes: remove every dimension of size 1.
    for (size_t d = 0; d < s.size(); ++d) mask[d] = s[d] == 1;
  } else {
    QDIFF_ASSIGN_OR_RETURN(mask, axes_mask("Squeeze", axes, rank));
    for (size_t d = 0; d < s.size(); ++d) {
      if (mask[d] && s[d] != 1)
        return invalid_argument("Squeeze: dimension " + std::to_string(d) + " of " +
                                shape_to_string(s) + " is not 1");
    }
  }
  qdiff::Shape out;
  for (size_t d = 0; d < s.size(); ++d) {
    if (!mask[d]) out.push_back(s[d]);
  }
  ctx.set_output(0, x->reshaped(out));
  return Status::ok_status();
}

Status Unsqueeze(KernelContext& ctx) {
  QDIFF_ASSIGN_OR_RETURN(const Tensor* x, required_input(ctx, 0));
  bool present = false;
  QDIFF_ASSIGN_OR_RETURN(std::vector<int64_t> axes, read_axes(ctx, "Unsqueeze", &present));
  if (!present) return invalid_model("Unsqueeze: axes are required");
  // Axes refer to the output, whose rank is the input's plus one per axis.
  const int64_t out_rank = x->rank() + static_cast<int64_t>(axes.size());
  QDIFF_ASSIGN_OR_RETURN(std::vector<bool> mask, axes_mask("Unsqueeze", axes, out_rank));
  qdiff::Shape out;
  size_t next = 0;
  for (size_t d = 0; d < mask.size(); ++d) out.push_back(mask[d] ? 1 : x->shape()[next++]);
  ctx.set_output(0, x->reshaped(out));
  return Status::ok_status();
}

// ---------------------------------------------------------------------------------------------
// qdiff::Shape / Size

Status Shape(KernelContext& ctx) {
  QDIFF_ASSIGN_OR_RETURN(const Tensor* x, required_input(ctx, 0));
  const int64_t rank = x->rank();
  int64_t start = 0, end = rank;
  if (ctx.opset >= 15) {
    QDIFF_ASSIGN_OR_RETURN(start, ctx.attrs.get_int("start", 0));
    QDIFF_ASSIGN_OR_RETURN(end, ctx.attrs.get_int("end", rank));
  }
  // Negative values count from the back; out-of-range values are clamped to [0, rank].
  if (start < 0) start += rank;
  if (end < 0) end += rank;
  start = std::clamp<int64_t>(start, 0, rank);
  end = std::clamp<int64_t>(end, 0, rank);
  const int64_t n = end > start ? end - start : 0;
  QDIFF_ASSIGN_OR_RETURN(Tensor * out, ctx.alloc_output(0, DType::kInt64, {n}));
  int64_t* y = out->mutable_data<int64_t>();
  for (int64_t i = 0; i < n; ++i) y[i] = x->shape()[static_cast<size_t>(start + i)];
  return Status::ok_status();
}

Status Size(KernelContext& ctx) {
  QDIFF_ASSIGN_OR_RETURN(const Tensor* x, required_input(ctx, 0));
  QDIFF_ASSIGN_OR_RETURN(Tensor * out, ctx.alloc_output(0, DType::kInt64, {}));
  out->mutable_data<int64_t>()[0] = x->numel();
  return Status::ok_status();
}

// ---------------------------------------------------------------------------------------------
// Constant / ConstantOfShape

Status Constant(KernelContext& ctx) {
  static const char* const kForms[] = {"value",         "value_float", "value_floats",
                                       "value_int",     "value_ints",  "value_string",
                                       "value_strings", "sparse_value"};
  int count = 0;
  for (const char* f : kForms) count += ctx.attrs.has(f) ? 1 : 0;
  if (count != 1)
    return invalid_model("Constant: exactly one of the value attributes must be given, got " +
                         std::to_string(count));
  if (ctx.attrs.has("value")) {
    QDIFF_ASSIGN_OR_RETURN(Tensor v, ctx.attrs.get_tensor("value"));
    if (!v.defined()) return invalid_model("Constant: 'value' is an empty tensor");
    ctx.set_output(0, v);
  } else if (ctx.attrs.has("value_float")) {
    QDIFF_ASSIGN_OR_RETURN(float v, ctx.attrs.get_float("value_float", 0.0f));
    QDIFF_ASSIGN_OR_RETURN(Tensor * out, ctx.alloc_output(0, DType::kFloat32, {}));
    out->mutable_data<float>()[0] = v;
  } else if (ctx.attrs.has("value_floats")) {
    QDIFF_ASSIGN_OR_RETURN(std::vector<float> v, ctx.attrs.get_floats("value_floats"));
    QDIFF_ASSIGN_OR_RETURN(Tensor * out,
                           ctx.alloc_output(0, DType::kFloat32, {static_cast<int64_t>(v.size())}));
    for (size_t i = 0; i < v.size(); ++i) out->mutable_data<float>()[i] = v[i];
  } else if (ctx.attrs.has("value_int")) {
    QDIFF_ASSIGN_OR_RETURN(int64_t v, ctx.attrs.get_int("value_int", 0));
    QDIFF_ASSIGN_OR_RETURN(Tensor * out, ctx.alloc_output(0, DType::kInt64, {}));
    out->mutable_data<int64_t>()[0] = v;
  } else if (ctx.attrs.has("value_ints")) {
    QDIFF_ASSIGN_OR_RETURN(std::vector<int64_t> v, ctx.attrs.get_ints("value_ints"));
    QDIFF_ASSIGN_OR_RETURN(Tensor * out,
                           ctx.alloc_output(0, DType::kInt64, {static_cast<int64_t>(v.size())}));
    for (size_t i = 0; i < v.size(); ++i) out->mutable_data<int64_t>()[i] = v[i];
  } else if (ctx.attrs.has("sparse_value")) {
    return unsupported("Constant: sparse_value is not supported");
  } else {
    return unsupported("Constant: string constants are not supported");
  }
  return Status::ok_status();
}

Status ConstantOfShape(KernelContext& ctx) {
  QDIFF_ASSIGN_OR_RETURN(const Tensor* s, required_input(ctx, 0));
  if (s->dtype() != DType::kInt64) return dtype_error("ConstantOfShape", 0, s->dtype(), "int64");
  if (s->rank() != 1)
    return invalid_model("ConstantOfShape: input must be 1-D, got shape " +
                         shape_to_string(s->shape()));
  const qdiff::Shape shape = s->to_i64_vector();
  for (int64_t d : shape) {
    if (d < 0)
      return invalid_argument("ConstantOfShape: negative dimension in " + shape_to_string(shape));
  }
  Tensor value = Tensor::scalar_f32(0.0f);
  if (ctx.attrs.has("value")) {
    QDIFF_ASSIGN_OR_RETURN(value, ctx.attrs.get_tensor("value"));
    if (value.numel() != 1 || dtype_size(value.dtype()) == 0)
      return invalid_model("ConstantOfShape: 'value' must hold exactly one numeric element");
  }
  QDIFF_ASSIGN_OR_RETURN(Tensor * out, ctx.alloc_output(0, value.dtype(), shape));
  const size_t es = dtype_size(value.dtype());
  std::byte* dst = out->raw_mutable();
  for (int64_t i = 0; i < out->numel(); ++i)
    std::memcpy(dst + static_cast<size_t>(i) * es, value.raw(), es);
  return Status::ok_status();
}

// ---------------------------------------------------------------------------------------------
// Range: max(ceil((limit - start) / delta), 0) elements, output[i] = start + i * delta.

namespace {

template <typename T>
Status range_typed(KernelContext& ctx, const Tensor& start_t, const Tensor& limit_t,
                   const Tensor& delta_t) {
  const T start = start_t.data<T>()[0];
  const T limit = limit_t.data<T>()[0];
  const T delta = delta_t.data<T>()[0];
  int64_t n = 0;
  if constexpr (std::is_floating_point_v<T>) {
    if (delta == T{0}) return invalid_argument("Range: delta must not be 0");
    // As onnxruntime: the difference in T, the division in double.
    const double count = std::ceil(static_cast<double>(limit - start) / static_cast<double>(delta));
    if (std::isnan(count) || count >= 9.2e18)
      return invalid_argument("Range: the number of elements is not finite");
    n = count > 0 ? static_cast<int64_t>(count) : 0;
  } else {
    // Exact integer arithmetic (values widened to int64, differences taken as uint64).
    const int64_t s = start, l = limit, d = delta;
    if (d == 0) return invalid_argument("Range: delta must not be 0");
    uint64_t count = 0;
    if (d > 0 && l > s) {
      const uint64_t diff = static_cast<uint64_t>(l) - static_cast<uint64_t>(s);
      count = (diff - 1) / static_cast<uint64_t>(d) + 1;
    } else if (d < 0 && l < s) {
      const uint64_t diff = static_cast<uint64_t>(s) - static_cast<uint64_t>(l);
      const uint64_t mag = static_cast<uint64_t>(-(d + 1)) + 1;
      count = (diff - 1) / mag + 1;
    }
    if (count > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      return resource_limit("Range: too many elements");
    n = static_cast<int64_t>(count);
  }
  QDIFF_ASSIGN_OR_RETURN(Tensor * out, ctx.alloc_output(0, dtype_of<T>(), {n}));
  T* y = out->mutable_data<T>();
  for (int64_t i = 0; i < n; ++i) {
    if constexpr (std::is_floating_point_v<T>) {
      y[i] = start + static_cast<T>(i) * delta;
    } else {
      // In range by construction: every value lies between start and limit.
      y[i] = static_cast<T>(static_cast<int64_t>(
          static_cast<uint64_t>(start) + static_cast<uint64_t>(i) * static_cast<uint64_t>(delta)));
    }
  }
  return Status::ok_status();
}

}  // namespace

Status Range(KernelContext& ctx) {
  const Tensor* in[3];
  for (size_t i = 0; i < 3; ++i) {
    QDIFF_ASSIGN_OR_RETURN(in[i], required_input(ctx, i));
    if (in[i]->numel() != 1 || in[i]->rank() > 1)
      return invalid_model("Range: input " + std::to_string(i) + " must be a scalar, got shape " +
                           shape_to_string(in[i]->shape()));
    if (in[i]->dtype() != in[0]->dtype())
      return invalid_model("Range: inputs must have the same type");
  }
  switch (in[0]->dtype()) {
    case DType::kFloat32:
      return range_typed<float>(ctx, *in[0], *in[1], *in[2]);
    case DType::kFloat64:
      return range_typed<double>(ctx, *in[0], *in[1], *in[2]);
    case DType::kInt16:
      return range_typed<int16_t>(ctx, *in[0], *in[1], *in[2]);
    case DType::kInt32:
      return range_typed<int32_t>(ctx, *in[0], *in[1], *in[2]);
    case DType::kInt64:
      return range_typed<int64_t>(ctx, *in[0], *in[1], *in[2]);
    default:
      return dtype_error("Range", 0, in[0]->dtype(), "float, double, int16, int32 or int64");
  }
}

}  // namespace qdiff::kernels::ref
