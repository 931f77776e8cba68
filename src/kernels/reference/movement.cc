// Data movement: Concat, Split, Slice, Gather, Transpose, Expand, Tile.
//
// None of these look at element values (except Gather's indices), so they work for every dtype
// by copying elements as raw bytes of dtype_size(dtype).
#include <algorithm>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "kernels/reference/common.h"
#include "kernels/reference/reference.h"

namespace qdiff::kernels::ref {
namespace {

// out[k] = in[source(k)], where the input element offset of output element k is the sum over
// output dims d of offsets[d][index of k along d]. Transpose, Slice, Expand and Tile differ
// only in their offset tables. kSize is the element size in bytes (0: use `es`, any size).
template <size_t kSize>
void copy_by_offsets_sized(const std::byte* in, std::byte* out, const qdiff::Shape& shape,
                           const std::vector<std::vector<int64_t>>& offsets, int64_t n, size_t es) {
  const size_t size = kSize != 0 ? kSize : es;
  const size_t rank = shape.size();
  std::vector<int64_t> idx(rank, 0);
  int64_t src = 0;
  for (size_t d = 0; d < rank; ++d) src += offsets[d][0];
  for (int64_t k = 0; k < n; ++k) {
    std::memcpy(out + static_cast<size_t>(k) * size, in + static_cast<size_t>(src) * size, size);
    for (size_t d = rank; d-- > 0;) {  // odometer increment
      src -= offsets[d][static_cast<size_t>(idx[d])];
      if (++idx[d] < shape[d]) {
        src += offsets[d][static_cast<size_t>(idx[d])];
        break;
      }
      idx[d] = 0;
      src += offsets[d][0];
    }
  }
}

void copy_by_dim_offsets(const Tensor& in, Tensor& out,
                         const std::vector<std::vector<int64_t>>& offsets) {
  const int64_t n = out.numel();
  if (n == 0) return;
  const size_t es = dtype_size(in.dtype());
  const std::byte* src = in.raw();
  std::byte* dst = out.raw_mutable();
  switch (es) {
    case 1:
      copy_by_offsets_sized<1>(src, dst, out.shape(), offsets, n, es);
      break;
    case 2:
      copy_by_offsets_sized<2>(src, dst, out.shape(), offsets, n, es);
      break;
    case 4:
      copy_by_offsets_sized<4>(src, dst, out.shape(), offsets, n, es);
      break;
    case 8:
      copy_by_offsets_sized<8>(src, dst, out.shape(), offsets, n, es);
      break;
    default:
      copy_by_offsets_sized<0>(src, dst, out.shape(), offsets, n, es);
      break;
  }
}

// Reads a 1-D (or 0-D) int64/int32 tensor of indices-like values (starts, repeats, split, ...).
Result<std::vector<int64_t>> read_int_list(const char* op, size_t i, const Tensor& t) {
  if (t.dtype() != DType::kInt64 && t.dtype() != DType::kInt32)
    return dtype_error(op, i, t.dtype(), "int64 or int32");
  if (t.rank() > 1)
    return invalid_model(std::string(op) + ": input " + std::to_string(i) +
                         " must be 1-D, got shape " + shape_to_string(t.shape()));
  return t.to_i64_vector();
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Concat

Status Concat(KernelContext& ctx) {
  const size_t n_in = ctx.num_inputs();
  if (n_in == 0) return invalid_model("Concat: needs at least one input");
  std::vector<const Tensor*> xs;
  for (size_t i = 0; i < n_in; ++i) {
    QDIFF_ASSIGN_OR_RETURN(const Tensor* t, required_input(ctx, i));
    QDIFF_RETURN_IF_ERROR(check_data_dtype("Concat", i, *t));
    xs.push_back(t);
  }
  if (ctx.opset >= 4 && !ctx.attrs.has("axis"))
    return invalid_model("Concat: missing required attribute 'axis'");
  QDIFF_ASSIGN_OR_RETURN(int64_t axis_attr, ctx.attrs.get_int("axis", 1));
  const Tensor& first = *xs[0];
  const int64_t rank = first.rank();
  if (rank == 0) return invalid_model("Concat: inputs must have rank >= 1");
  QDIFF_ASSIGN_OR_RETURN(int64_t axis, checked_axis("Concat", axis_attr, rank));
  const size_t ax = static_cast<size_t>(axis);
  qdiff::Shape out_shape = first.shape();
  out_shape[ax] = 0;
  for (size_t i = 0; i < xs.size(); ++i) {
    const Tensor& t = *xs[i];
    if (t.dtype() != first.dtype())
      return invalid_model("Concat: input " + std::to_string(i) + " has type " +
                           std::string(dtype_name(t.dtype())) + " but input 0 has " +
                           std::string(dtype_name(first.dtype())));
    bool compatible = t.rank() == rank;
    for (size_t d = 0; compatible && d < static_cast<size_t>(rank); ++d)
      compatible = d == ax || t.shape()[d] == first.shape()[d];
    if (!compatible)
      return invalid_argument("Concat: input " + std::to_string(i) + " has shape " +
                              shape_to_string(t.shape()) + ", incompatible with input 0 " +
                              shape_to_string(first.shape()) + " on axis " + std::to_string(axis));
    out_shape[ax] += t.shape()[ax];  // bounded: each term is a dim of an existing tensor
  }
  QDIFF_ASSIGN_OR_RETURN(Tensor * out, ctx.alloc_output(0, first.dtype(), out_shape));
  if (out->numel() == 0) return Status::ok_status();
  const size_t es = dtype_size(first.dtype());
  const int64_t outer = dim_product(out_shape, 0, ax);
  const int64_t inner = dim_product(out_shape, ax + 1, out_shape.size());
  std::byte* dst = out->raw_mutable();
  for (int64_t o = 0; o < outer; ++o) {
    for (const Tensor* t : xs) {
      const size_t block = static_cast<size_t>(t->shape()[ax] * inner) * es;
      if (block == 0) continue;
      std::memcpy(dst, t->raw() + static_cast<size_t>(o) * block, block);
      dst += block;
    }
  }
  return Status::ok_status();
}

// ---------------------------------------------------------------------------------------------
// Split

Status Split(KernelContext& ctx) {
  QDIFF_ASSIGN_OR_RETURN(const Tensor* x, required_input(ctx, 0));
  QDIFF_RETURN_IF_ERROR(check_data_dtype("Split", 0, *x));
  const int64_t rank = x->rank();
  if (rank == 0) return invalid_model("Split: input must have rank >= 1");
  QDIFF_ASSIGN_OR_RETURN(int64_t axis_attr, ctx.attrs.get_int("axis", 0));
  QDIFF_ASSIGN_OR_RETURN(int64_t axis, checked_axis("Split", axis_attr, rank));
  const size_t ax = static_cast<size_t>(axis);
  const int64_t dim = x->shape()[ax];
  const size_t n_out = ctx.outputs.size();
  if (n_out == 0) return invalid_model("Split: node has no outputs");

  // Sizes from the 'split' attribute (< 13) or input (>= 13), else from num_outputs (>= 18),
  // else an even split into as many parts as the node has outputs.
  std::vector<int64_t> split;
  bool have_split = false;
  if (ctx.opset >= 13) {
    if (ctx.attrs.has("split"))
      return invalid_model("Split: from opset 13 'split' is an input, not an attribute");
    if (const Tensor* s = ctx.input(1); s && s->defined()) {
      QDIFF_ASSIGN_OR_RETURN(split, read_int_list("Split", 1, *s));
      have_split = true;
    }
  } else {
    if (const Tensor* s = ctx.input(1); s && s->defined())
      return invalid_model("Split: before opset 13 'split' is an attribute, not an input");
    if (ctx.attrs.has("split")) {
      QDIFF_ASSIGN_OR_RETURN(split, ctx.attrs.get_ints("split"));
      have_split = true;
    }
  }
  const bool have_num_outputs = ctx.opset >= 18 && ctx.attrs.has("num_outputs");
  if (have_split) {
    if (have_num_outputs)
      return invalid_model("Split: 'split' and 'num_outputs' must not both be given");
    if (split.size() != n_out)
      return invalid_model("Split: 'split' has " + std::to_string(split.size()) +
                           " entries but the node has " + std::to_string(n_out) + " outputs");
    int64_t sum = 0;
    for (int64_t s : split) {
      if (s < 0 || s > dim - sum)
        return invalid_argument(
            "Split: split sizes must be non-negative and sum to the axis "
            "dimension " +
            std::to_string(dim));
      sum += s;
    }
    if (sum != dim)
      return invalid_argument("Split: split sizes sum to " + std::to_string(sum) +
                              " but the axis dimension is " + std::to_string(dim));
  } else {
    const int64_t parts = static_cast<int64_t>(n_out);
    if (have_num_outputs) {
      QDIFF_ASSIGN_OR_RETURN(int64_t num_outputs, ctx.attrs.get_int("num_outputs", 0));
      if (num_outputs != parts)
        return invalid_model("Split: num_outputs is " + std::to_string(num_outputs) +
                             " but the node has " + std::to_string(n_out) + " outputs");
      // Opset 18: chunks of ceil(dim / n); the last one takes what is left (may be smaller).
      const int64_t chunk = dim / parts + (dim % parts != 0 ? 1 : 0);
      const int64_t last = dim - chunk * (parts - 1);
      if (last < 0)
        return invalid_argument("Split: cannot split a dimension of " + std::to_string(dim) +
                                " into " + std::to_string(parts) + " chunks of " +
                                std::to_string(chunk));
      split.assign(n_out, chunk);
      split.back() = last;
    } else {
      if (dim % parts != 0)
        return invalid_argument("Split: axis dimension " + std::to_string(dim) +
                                " is not divisible into " + std::to_string(parts) + " equal parts");
      split.assign(n_out, dim / parts);
    }
  }

  const qdiff::Shape& s = x->shape();
  const size_t es = dtype_size(x->dtype());
  // With no elements there is nothing to copy, and the products below might not be bounded.
  const bool empty = x->numel() == 0;
  const int64_t outer = empty ? 0 : dim_product(s, 0, ax);
  const int64_t inner = empty ? 0 : dim_product(s, ax + 1, s.size());
  int64_t offset = 0;  // along the axis
  for (size_t k = 0; k < n_out; ++k) {
    qdiff::Shape out_shape = s;
    out_shape[ax] = split[k];
    QDIFF_ASSIGN_OR_RETURN(Tensor * out, ctx.alloc_output(k, x->dtype(), out_shape));
    const size_t block = static_cast<size_t>(split[k] * inner) * es;
    if (block != 0) {
      for (int64_t o = 0; o < outer; ++o) {
        std::memcpy(out->raw_mutable() + static_cast<size_t>(o) * block,
                    x->raw() + (static_cast<size_t>((o * dim + offset) * inner)) * es, block);
      }
    }
    offset += split[k];
  }
  return Status::ok_status();
}

// ---------------------------------------------------------------------------------------------
// Slice

Status Slice(KernelContext& ctx) {
  QDIFF_ASSIGN_OR_RETURN(const Tensor* x, required_input(ctx, 0));
  QDIFF_RETURN_IF_ERROR(check_data_dtype("Slice", 0, *x));
  const int64_t rank = x->rank();
  std::vector<int64_t> starts, ends, axes, steps;
  bool have_axes = false, have_steps = false;
  if (ctx.opset < 10) {
    if (!ctx.attrs.has("starts") || !ctx.attrs.has("ends"))
      return invalid_model("Slice: attributes 'starts' and 'ends' are required before opset 10");
    QDIFF_ASSIGN_OR_RETURN(starts, ctx.attrs.get_ints("starts"));
    QDIFF_ASSIGN_OR_RETURN(ends, ctx.attrs.get_ints("ends"));
    if (ctx.attrs.has("axes")) {
      QDIFF_ASSIGN_OR_RETURN(axes, ctx.attrs.get_ints("axes"));
      have_axes = true;
    }
  } else {
    QDIFF_ASSIGN_OR_RETURN(const Tensor* st, required_input(ctx, 1));
    QDIFF_ASSIGN_OR_RETURN(const Tensor* en, required_input(ctx, 2));
    QDIFF_ASSIGN_OR_RETURN(starts, read_int_list("Slice", 1, *st));
    QDIFF_ASSIGN_OR_RETURN(ends, read_int_list("Slice", 2, *en));
    if (const Tensor* a = ctx.input(3); a && a->defined()) {
      QDIFF_ASSIGN_OR_RETURN(axes, read_int_list("Slice", 3, *a));
      have_axes = true;
    }
    if (const Tensor* p = ctx.input(4); p && p->defined()) {
      QDIFF_ASSIGN_OR_RETURN(steps, read_int_list("Slice", 4, *p));
      have_steps = true;
    }
  }
  const size_t n = starts.size();
  if (ends.size() != n)
    return invalid_model("Slice: starts has " + std::to_string(n) + " entries but ends has " +
                         std::to_string(ends.size()));
  if (!have_axes) {
    if (n > static_cast<size_t>(rank))
      return invalid_model("Slice: " + std::to_string(n) + " starts for a tensor of rank " +
                           std::to_string(rank));
    for (size_t i = 0; i < n; ++i) axes.push_back(static_cast<int64_t>(i));
  }
  if (!have_steps) steps.assign(n, 1);
  if (axes.size() != n || steps.size() != n)
    return invalid_model("Slice: starts, ends, axes and steps must have the same length");

  // Per input dim: first index, step and count; untouched dims keep everything.
  std::vector<int64_t> first(static_cast<size_t>(rank), 0), step(static_cast<size_t>(rank), 1);
  qdiff::Shape out_shape = x->shape();
  std::vector<bool> seen(static_cast<size_t>(rank), false);
  for (size_t i = 0; i < n; ++i) {
    QDIFF_ASSIGN_OR_RETURN(int64_t axis, checked_axis("Slice", axes[i], rank));
    const size_t d = static_cast<size_t>(axis);
    if (seen[d]) return invalid_model("Slice: axis " + std::to_string(axes[i]) + " repeated");
    seen[d] = true;
    const int64_t dim = x->shape()[d];
    const int64_t st = steps[i];
    if (st == 0) return invalid_argument("Slice: steps must not be 0");
    int64_t b = starts[i], e = ends[i];
    if (b < 0) b += dim;  // cannot overflow: dim >= 0 and b < 0
    if (e < 0) e += dim;
    int64_t count;
    if (st > 0) {
      b = std::clamp<int64_t>(b, 0, dim);
      e = std::clamp<int64_t>(e, 0, dim);
      count = e > b ? 1 + (e - b - 1) / st : 0;
    } else {
      b = std::clamp<int64_t>(b, 0, dim - 1);
      e = std::clamp<int64_t>(e, -1, dim - 1);
      const int64_t neg =
          st == std::numeric_limits<int64_t>::min() ? std::numeric_limits<int64_t>::max() : -st;
      count = b > e ? 1 + (b - e - 1) / neg : 0;
    }
    first[d] = count > 0 ? b : 0;
    step[d] = st;
    out_shape[d] = count;
  }
  QDIFF_ASSIGN_OR_RETURN(Tensor * out, ctx.alloc_output(0, x->dtype(), out_shape));
  if (out->numel() == 0) return Status::ok_status();
  const std::vector<int64_t> strides = strides_of(x->shape());
  std::vector<std::vector<int64_t>> offsets(static_cast<size_t>(rank));
  for (size_t d = 0; d < static_cast<size_t>(rank); ++d) {
    offsets[d].resize(static_cast<size_t>(out_shape[d]));
    for (int64_t i = 0; i < out_shape[d]; ++i)
      offsets[d][static_cast<size_t>(i)] = (first[d] + i * step[d]) * strides[d];
  }
  copy_by_dim_offsets(*x, *out, offsets);
  return Status::ok_status();
}

// ---------------------------------------------------------------------------------------------
// Gather

Status Gather(KernelContext& ctx) {
  QDIFF_ASSIGN_OR_RETURN(const Tensor* x, required_input(ctx, 0));
  QDIFF_ASSIGN_OR_RETURN(const Tensor* ind, required_input(ctx, 1));
  QDIFF_RETURN_IF_ERROR(check_data_dtype("Gather", 0, *x));
  if (ind->dtype() != DType::kInt64 && ind->dtype() != DType::kInt32)
    return dtype_error("Gather", 1, ind->dtype(), "int64 or int32");
  const int64_t rank = x->rank();
  if (rank == 0) return invalid_model("Gather: data must have rank >= 1");
  QDIFF_ASSIGN_OR_RETURN(int64_t axis_attr, ctx.attrs.get_int("axis", 0));
  QDIFF_ASSIGN_OR_RETURN(int64_t axis, checked_axis("Gather", axis_attr, rank));
  const size_t ax = static_cast<size_t>(axis);
  const qdiff::Shape& s = x->shape();
  const int64_t dim = s[ax];
  qdiff::Shape out_shape(s.begin(), s.begin() + axis);
  out_shape.insert(out_shape.end(), ind->shape().begin(), ind->shape().end());
  out_shape.insert(out_shape.end(), s.begin() + axis + 1, s.end());
  const std::vector<int64_t> idx = ind->to_i64_vector();
  for (int64_t v : idx) {
    if (v < -dim || v >= dim)
      return invalid_argument("Gather: index " + std::to_string(v) +
                              " out of range for axis of size " + std::to_string(dim));
  }
  QDIFF_ASSIGN_OR_RETURN(Tensor * out, ctx.alloc_output(0, x->dtype(), out_shape));
  if (out->numel() == 0) return Status::ok_status();
  const size_t es = dtype_size(x->dtype());
  const int64_t outer = dim_product(s, 0, ax);
  const int64_t inner = dim_product(s, ax + 1, s.size());
  const size_t block = static_cast<size_t>(inner) * es;
  std::byte* dst = out->raw_mutable();
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t v : idx) {
      const int64_t k = v < 0 ? v + dim : v;
      std::memcpy(dst, x->raw() + static_cast<size_t>((o * dim + k) * inner) * es, block);
      dst += block;
    }
  }
  return Status::ok_status();
}

// ---------------------------------------------------------------------------------------------
// Transpose

Status Transpose(KernelContext& ctx) {
  QDIFF_ASSIGN_OR_RETURN(const Tensor* x, required_input(ctx, 0));
  QDIFF_RETURN_IF_ERROR(check_data_dtype("Transpose", 0, *x));
  const int64_t rank = x->rank();
  std::vector<int64_t> perm;
  if (ctx.attrs.has("perm")) {
    QDIFF_ASSIGN_OR_RETURN(perm, ctx.attrs.get_ints("perm"));
  } else {
    for (int64_t d = rank; d-- > 0;) perm.push_back(d);
  }
  if (static_cast<int64_t>(perm.size()) != rank)
    return invalid_model("Transpose: perm has " + std::to_string(perm.size()) +
                         " entries for a tensor of rank " + std::to_string(rank));
  std::vector<bool> used(static_cast<size_t>(rank), false);
  for (int64_t p : perm) {
    if (p < 0 || p >= rank || used[static_cast<size_t>(p)])
      return invalid_model("Transpose: perm is not a permutation of 0.." +
                           std::to_string(rank - 1));
    used[static_cast<size_t>(p)] = true;
  }
  qdiff::Shape out_shape(static_cast<size_t>(rank));
  for (size_t d = 0; d < perm.size(); ++d) out_shape[d] = x->shape()[static_cast<size_t>(perm[d])];
  QDIFF_ASSIGN_OR_RETURN(Tensor * out, ctx.alloc_output(0, x->dtype(), out_shape));
  if (out->numel() == 0) return Status::ok_status();
  const std::vector<int64_t> strides = strides_of(x->shape());
  std::vector<std::vector<int64_t>> offsets(perm.size());
  for (size_t d = 0; d < perm.size(); ++d) {
    const int64_t st = strides[static_cast<size_t>(perm[d])];
    for (int64_t i = 0; i < out_shape[d]; ++i) offsets[d].push_back(i * st);
  }
  copy_by_dim_offsets(*x, *out, offsets);
  return Status::ok_status();
}

// ---------------------------------------------------------------------------------------------
// Expand

Status Expand(KernelContext& ctx) {
  QDIFF_ASSIGN_OR_RETURN(const Tensor* x, required_input(ctx, 0));
  QDIFF_ASSIGN_OR_RETURN(const Tensor* shape_t, required_input(ctx, 1));
  QDIFF_RETURN_IF_ERROR(check_data_dtype("Expand", 0, *x));
  if (shape_t->dtype() != DType::kInt64) return dtype_error("Expand", 1, shape_t->dtype(), "int64");
  if (shape_t->rank() != 1)
    return invalid_model("Expand: shape must be 1-D, got shape " +
                         shape_to_string(shape_t->shape()));
  const std::vector<int64_t> target = shape_t->to_i64_vector();
  for (int64_t d : target) {
    if (d < 0)
      return invalid_argument("Expand: negative dimension in shape " + shape_to_string(target));
  }
  // Bidirectional (numpy) broadcast: a 1 in the requested shape keeps the input's dim.
  QDIFF_ASSIGN_OR_RETURN(qdiff::Shape out_shape, broadcast_shapes(x->shape(), target));
  QDIFF_ASSIGN_OR_RETURN(Tensor * out, ctx.alloc_output(0, x->dtype(), out_shape));
  if (out->numel() == 0) return Status::ok_status();
  const size_t r_out = out_shape.size();
  const size_t lead = r_out - static_cast<size_t>(x->rank());
  const std::vector<int64_t> strides = strides_of(x->shape());
  std::vector<std::vector<int64_t>> offsets(r_out);
  for (size_t d = 0; d < r_out; ++d) {
    const bool broadcast = d < lead || x->shape()[d - lead] == 1;
    const int64_t st = broadcast ? 0 : strides[d - lead];
    for (int64_t i = 0; i < out_shape[d]; ++i) offsets[d].push_back(i * st);
  }
  copy_by_dim_offsets(*x, *out, offsets);
  return Status::ok_status();
}

// ---------------------------------------------------------------------------------------------
// Tile

Status Tile(KernelContext& ctx) {
  QDIFF_ASSIGN_OR_RETURN(const Tensor* x, required_input(ctx, 0));
  QDIFF_ASSIGN_OR_RETURN(const Tensor* rep_t, required_input(ctx, 1));
  QDIFF_RETURN_IF_ERROR(check_data_dtype("Tile", 0, *x));
  if (rep_t->dtype() != DType::kInt64) return dtype_error("Tile", 1, rep_t->dtype(), "int64");
  if (rep_t->rank() != 1)
    return invalid_model("Tile: repeats must be 1-D, got shape " + shape_to_string(rep_t->shape()));
  const std::vector<int64_t> repeats = rep_t->to_i64_vector();
  const int64_t rank = x->rank();
  if (static_cast<int64_t>(repeats.size()) != rank)
    return invalid_model("Tile: repeats has " + std::to_string(repeats.size()) +
                         " entries for a tensor of rank " + std::to_string(rank));
  qdiff::Shape out_shape(static_cast<size_t>(rank));
  for (size_t d = 0; d < repeats.size(); ++d) {
    const int64_t dim = x->shape()[d];
    if (repeats[d] < 0) return invalid_argument("Tile: repeats must be non-negative");
    if (dim != 0 && repeats[d] > std::numeric_limits<int64_t>::max() / dim)
      return resource_limit("Tile: output dimension overflows");
    out_shape[d] = dim * repeats[d];
  }
  QDIFF_ASSIGN_OR_RETURN(Tensor * out, ctx.alloc_output(0, x->dtype(), out_shape));
  if (out->numel() == 0) return Status::ok_status();
  const std::vector<int64_t> strides = strides_of(x->shape());
  std::vector<std::vector<int64_t>> offsets(static_cast<size_t>(rank));
  for (size_t d = 0; d < static_cast<size_t>(rank); ++d) {
    const int64_t dim = x->shape()[d];
    for (int64_t i = 0; i < out_shape[d]; ++i) offsets[d].push_back((i % dim) * strides[d]);
  }
  copy_by_dim_offsets(*x, *out, offsets);
  return Status::ok_status();
}

}  // namespace qdiff::kernels::ref
