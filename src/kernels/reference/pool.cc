// MaxPool, AveragePool, GlobalAveragePool, GlobalMaxPool and MaxUnpool reference kernels.
#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "kernels/reference/common.h"
#include "kernels/reference/reference.h"

namespace qdiff::kernels::ref {
namespace {

struct PoolGeom {
  std::vector<int64_t> in, out, kernel, strides, dilations, pads;  // spatial; pads begin+end
};

// Reads kernel_shape/strides/pads/dilations/auto_pad/ceil_mode and computes the output size.
Status pool_geometry(const KernelContext& ctx, const char* op, const Tensor& x, bool has_dilations,
                     PoolGeom* g) {
  const std::string o(op);
  if (x.rank() < 3)
    return invalid_model(o + ": X must have rank >= 3, got " + shape_to_string(x.shape()));
  const size_t nsp = static_cast<size_t>(x.rank() - 2);
  g->in.assign(x.shape().begin() + 2, x.shape().end());
  QDIFF_ASSIGN_OR_RETURN(g->kernel, ctx.attrs.get_ints("kernel_shape", {}));
  if (g->kernel.size() != nsp)
    return invalid_model(o + ": kernel_shape has " + str(static_cast<int64_t>(g->kernel.size())) +
                         " dims but X has " + str(static_cast<int64_t>(nsp)) + " spatial dims");
  QDIFF_ASSIGN_OR_RETURN(g->strides, ctx.attrs.get_ints("strides", std::vector<int64_t>(nsp, 1)));
  g->dilations.assign(nsp, 1);
  if (has_dilations) {
    QDIFF_ASSIGN_OR_RETURN(g->dilations,
                           ctx.attrs.get_ints("dilations", std::vector<int64_t>(nsp, 1)));
  }
  QDIFF_ASSIGN_OR_RETURN(g->pads, ctx.attrs.get_ints("pads", std::vector<int64_t>(2 * nsp, 0)));
  if (g->strides.empty()) g->strides.assign(nsp, 1);
  if (g->dilations.empty()) g->dilations.assign(nsp, 1);
  if (g->pads.empty()) g->pads.assign(2 * nsp, 0);
  if (g->strides.size() != nsp || g->dilations.size() != nsp || g->pads.size() != 2 * nsp)
    return invalid_model(o + ": strides/dilations/pads do not match the spatial rank");
  constexpr int64_t kMax = int64_t{1} << 30;
  for (size_t d = 0; d < nsp; ++d) {
    if (g->kernel[d] < 1 || g->kernel[d] > kMax || g->strides[d] < 1 || g->strides[d] > kMax ||
        g->dilations[d] < 1 || g->dilations[d] > kMax)
      return invalid_model(o + ": kernel_shape, strides and dilations must be positive");
  }
  for (int64_t p : g->pads)
    if (p < 0 || p > kMax) return invalid_model(o + ": pads must be non-negative");
  QDIFF_ASSIGN_OR_RETURN(std::string auto_pad, ctx.attrs.get_string("auto_pad", "NOTSET"));
  QDIFF_ASSIGN_OR_RETURN(int64_t ceil_mode, ctx.attrs.get_int("ceil_mode", 0));
  g->out.resize(nsp);
  for (size_t d = 0; d < nsp; ++d) {
    const int64_t in = g->in[d], s = g->strides[d];
    const int64_t dk = (g->kernel[d] - 1) * g->dilations[d] + 1;
    if (auto_pad == "NOTSET") {
      const int64_t pb = g->pads[d], pe = g->pads[d + nsp];
      const int64_t span = in + pb + pe - dk;
      if (span < 0)
        return invalid_argument(o + ": kernel extent " + str(dk) +
                                " is larger than the padded input in spatial dim " +
                                str(static_cast<int64_t>(d)));
      int64_t out = (ceil_mode ? (span + s - 1) / s : span / s) + 1;
      // With ceil_mode the last window must start inside the input or the left padding.
      if (ceil_mode && (out - 1) * s >= in + pb) --out;
      g->out[d] = out;
    } else if (auto_pad == "VALID") {
      if (in < dk)
        return invalid_argument(o + ": kernel extent " + str(dk) +
                                " is larger than the input in spatial dim " +
                                str(static_cast<int64_t>(d)));
      g->out[d] = (in - dk) / s + 1;
      g->pads[d] = g->pads[d + nsp] = 0;
    } else if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
      const int64_t out = (in + s - 1) / s;
      const int64_t total = std::max<int64_t>(0, (out - 1) * s + dk - in);
      if (auto_pad == "SAME_UPPER") {
        g->pads[d] = total / 2;
        g->pads[d + nsp] = total - total / 2;
      } else {
        g->pads[d + nsp] = total / 2;
        g->pads[d] = total - total / 2;
      }
      g->out[d] = out;
    } else {
      return invalid_model(o + ": invalid auto_pad '" + auto_pad + "'");
    }
  }
  return Status::ok_status();
}

// Calls f(out_flat, valid_in_offsets, in_pad_count) for each output position of one plane.
// valid offsets are row-major spatial offsets of the window elements inside the input;
// in_pad_count counts the window elements inside the padded input (input + pads).
template <typename F>
void for_each_window(const PoolGeom& g, F&& f) {
  const size_t nsp = g.in.size();
  const std::vector<int64_t> in_strides = strides_of(g.in);
  const int64_t out_size = shape_numel(g.out).value_or(0);
  const int64_t k_size = shape_numel(g.kernel).value_or(0);
  std::vector<int64_t> o_idx(nsp, 0), offs;
  std::vector<std::vector<int64_t>> coords;  // per valid element: spatial coords
  for (int64_t p = 0; p < out_size; ++p) {
    offs.clear();
    coords.clear();
    int64_t in_pad = 0;
    std::vector<int64_t> k_idx(nsp, 0);
    for (int64_t q = 0; q < k_size; ++q) {
      bool valid = true, padded = true;
      int64_t off = 0;
      std::vector<int64_t> c(nsp);
      for (size_t d = 0; d < nsp; ++d) {
        const int64_t i = o_idx[d] * g.strides[d] - g.pads[d] + k_idx[d] * g.dilations[d];
        if (i < 0 || i >= g.in[d]) valid = false;
        if (i >= g.in[d] + g.pads[d + nsp]) padded = false;
        c[d] = i;
        off += i * in_strides[d];
      }
      if (padded) ++in_pad;
      if (valid) {
        offs.push_back(off);
        coords.push_back(std::move(c));
      }
      next_index(k_idx, g.kernel);
    }
    f(p, offs, coords, in_pad);
    next_index(o_idx, g.out);
  }
}

template <typename T>
void maxpool_compute(const Tensor& x, const PoolGeom& g, bool col_major, Tensor* y,
                     Tensor* indices) {
  const int64_t planes = x.dim(0) * x.dim(1);
  const int64_t in_size = shape_numel(g.in).value_or(0);
  const int64_t out_size = shape_numel(g.out).value_or(0);
  const T* xd = x.data<T>();
  T* yd = y->mutable_data<T>();
  int64_t* id = indices ? indices->mutable_data<int64_t>() : nullptr;
  // Column-major spatial strides for storage_order=1.
  std::vector<int64_t> cm_strides(g.in.size(), 1);
  for (size_t d = 1; d < g.in.size(); ++d) cm_strides[d] = cm_strides[d - 1] * g.in[d - 1];
  for_each_window(g, [&](int64_t p, const std::vector<int64_t>& offs,
                         const std::vector<std::vector<int64_t>>& coords, int64_t) {
    for (int64_t pl = 0; pl < planes; ++pl) {
      const T* xs = xd + pl * in_size;
      T best = std::numeric_limits<T>::lowest();
      if constexpr (std::is_floating_point_v<T>) best = -std::numeric_limits<T>::infinity();
      size_t best_j = 0;
      bool found = false;
      for (size_t j = 0; j < offs.size(); ++j) {
        const T v = xs[offs[j]];
        if (!found || v > best) {
          best = v;
          best_j = j;
          found = true;
        }
      }
      yd[pl * out_size + p] = best;
      if (id) {
        int64_t idx = 0;
        if (found) {
          if (col_major) {
            for (size_t d = 0; d < g.in.size(); ++d) idx += coords[best_j][d] * cm_strides[d];
          } else {
            idx = offs[best_j];
          }
        }
        id[pl * out_size + p] = pl * in_size + idx;
      }
    }
  });
}

template <typename T>
void avgpool_compute(const Tensor& x, const PoolGeom& g, bool count_include_pad, Tensor* y) {
  const int64_t planes = x.dim(0) * x.dim(1);
  const int64_t in_size = shape_numel(g.in).value_or(0);
  const int64_t out_size = shape_numel(g.out).value_or(0);
  const T* xd = x.data<T>();
  T* yd = y->mutable_data<T>();
  for_each_window(g, [&](int64_t p, const std::vector<int64_t>& offs,
                         const std::vector<std::vector<int64_t>>&, int64_t in_pad) {
    const int64_t count = count_include_pad ? in_pad : static_cast<int64_t>(offs.size());
    for (int64_t pl = 0; pl < planes; ++pl) {
      const T* xs = xd + pl * in_size;
      double s = 0;
      for (int64_t off : offs) s += static_cast<double>(xs[off]);
      yd[pl * out_size + p] = count > 0 ? static_cast<T>(s / static_cast<double>(count)) : T(0);
    }
  });
}

qdiff::Shape pooled_shape(const Tensor& x, const std::vector<int64_t>& out) {
  qdiff::Shape s = {x.dim(0), x.dim(1)};
  s.insert(s.end(), out.begin(), out.end());
  return s;
}

template <bool kMax>
Status global_pool(KernelContext& ctx, const char* op) {
  QDIFF_ASSIGN_OR_RETURN(const Tensor* x, required_input(ctx, 0));
  if (x->dtype() != DType::kFloat32 && x->dtype() != DType::kFloat64)
    return dtype_error(op, 0, x->dtype(), "float32 or float64");
  if (x->rank() < 2)
    return invalid_model(std::string(op) + ": X must have rank >= 2, got " +
                         shape_to_string(x->shape()));
  qdiff::Shape out = {x->dim(0), x->dim(1)};
  out.resize(static_cast<size_t>(x->rank()), 1);
  const int64_t planes = x->dim(0) * x->dim(1);
  const int64_t inner = planes == 0 ? 0 : x->numel() / planes;
  if (inner == 0 && planes > 0)
    return invalid_argument(std::string(op) + ": empty spatial dims in " +
                            shape_to_string(x->shape()));
  QDIFF_ASSIGN_OR_RETURN(Tensor * y, ctx.alloc_output(0, x->dtype(), out));
  visit_dtype(x->dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_floating_point_v<T>) {
      const T* xd = x->data<T>();
      T* yd = y->mutable_data<T>();
      for (int64_t pl = 0; pl < planes; ++pl) {
        const T* xs = xd + pl * inner;
        if constexpr (kMax) {
          T m = xs[0];
          for (int64_t i = 1; i < inner; ++i) m = xs[i] > m ? xs[i] : m;
          yd[pl] = m;
        } else {
          double s = 0;
          for (int64_t i = 0; i < inner; ++i) s += static_cast<double>(xs[i]);
          yd[pl] = static_cast<T>(s / static_cast<double>(inner));
        }
      }
    }
  });
  return Status::ok_status();
}

}  // namespace

Status MaxPool(KernelContext& ctx) {
  QDIFF_ASSIGN_OR_RETURN(const Tensor* x, required_input(ctx, 0));
  const DType dt = x->dtype();
  if (dt != DType::kFloat32 && dt != DType::kFloat64 && dt != DType::kInt8 && dt != DType::kUInt8)
    return dtype_error("MaxPool", 0, dt, "float32, float64, int8 or uint8");
  PoolGeom g;
  QDIFF_RETURN_IF_ERROR(pool_geometry(ctx, "MaxPool", *x, ctx.opset >= 10, &g));
  QDIFF_ASSIGN_OR_RETURN(int64_t storage_order, ctx.attrs.get_int("storage_order", 0));
  if (storage_order != 0 && storage_order != 1)
    return invalid_model("MaxPool: storage_order must be 0 or 1");
  const qdiff::Shape out = pooled_shape(*x, g.out);
  QDIFF_ASSIGN_OR_RETURN(Tensor * y, ctx.alloc_output(0, dt, out));
  Tensor* indices = nullptr;
  if (ctx.outputs.size() > 1) {
    QDIFF_ASSIGN_OR_RETURN(indices, ctx.alloc_output(1, DType::kInt64, out));
  }
  visit_dtype(dt, [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double> ||
                  std::is_same_v<T, int8_t> || std::is_same_v<T, uint8_t>)
      maxpool_compute<T>(*x, g, storage_order == 1, y, indices);
  });
  return Status::ok_status();
}

Status AveragePool(KernelContext& ctx) {
  QDIFF_ASSIGN_OR_RETURN(const Tensor* x, required_input(ctx, 0));
  const DType dt = x->dtype();
  if (dt != DType::kFloat32 && dt != DType::kFloat64)
    return dtype_error("AveragePool", 0, dt, "float32 or float64");
  PoolGeom g;
  QDIFF_RETURN_IF_ERROR(pool_geometry(ctx, "AveragePool", *x, ctx.opset >= 19, &g));
  QDIFF_ASSIGN_OR_RETURN(int64_t cip, ctx.attrs.get_int("count_include_pad", 0));
  QDIFF_ASSIGN_OR_RETURN(Tensor * y, ctx.alloc_output(0, dt, pooled_shape(*x, g.out)));
  if (dt == DType::kFloat32)
    avgpool_compute<float>(*x, g, cip != 0, y);
  else
    avgpool_compute<double>(*x, g, cip != 0, y);
  return Status::ok_status();
}

Status GlobalAveragePool(KernelContext& ctx) {
  return global_pool<false>(ctx, "GlobalAveragePool");
}

Status GlobalMaxPool(KernelContext& ctx) {
  return global_pool<true>(ctx, "GlobalMaxPool");
}

// MaxUnpool: a zero tensor with X[j] written at flat output index I[j] (MaxPool's Indices,
// flattened over the whole output). The output shape is the optional third input, or else
// (in - 1) * stride + kernel - pad_begin - pad_end per spatial dim.
Status MaxUnpool(KernelContext& ctx) {
  QDIFF_ASSIGN_OR_RETURN(const Tensor* x, required_input(ctx, 0));
  QDIFF_ASSIGN_OR_RETURN(const Tensor* ind, required_input(ctx, 1));
  if (x->dtype() != DType::kFloat32 && x->dtype() != DType::kFloat64)
    return dtype_error("MaxUnpool", 0, x->dtype(), "float32 or float64");
  if (ind->dtype() != DType::kInt64) return dtype_error("MaxUnpool", 1, ind->dtype(), "int64");
  if (x->rank() < 3)
    return invalid_argument("MaxUnpool: X must have rank >= 3, got " + shape_to_string(x->shape()));
  if (ind->shape() != x->shape())
    return invalid_argument("MaxUnpool: I has shape " + shape_to_string(ind->shape()) + ", X has " +
                            shape_to_string(x->shape()));
  const size_t sp = static_cast<size_t>(x->rank() - 2);
  if (!ctx.attrs.has("kernel_shape"))
    return invalid_model("MaxUnpool: missing required attribute 'kernel_shape'");
  QDIFF_ASSIGN_OR_RETURN(std::vector<int64_t> kernel, ctx.attrs.get_ints("kernel_shape"));
  QDIFF_ASSIGN_OR_RETURN(std::vector<int64_t> strides,
                         ctx.attrs.get_ints("strides", std::vector<int64_t>(sp, 1)));
  QDIFF_ASSIGN_OR_RETURN(std::vector<int64_t> pads,
                         ctx.attrs.get_ints("pads", std::vector<int64_t>(2 * sp, 0)));
  if (kernel.size() != sp || strides.size() != sp || pads.size() != 2 * sp)
    return invalid_model("MaxUnpool: kernel_shape, strides and pads must match the " + str(sp) +
                         " spatial dims");
  qdiff::Shape out_shape;
  if (const Tensor* os = ctx.input(2); os && os->defined()) {
    if (os->dtype() != DType::kInt64) return dtype_error("MaxUnpool", 2, os->dtype(), "int64");
    out_shape = os->to_i64_vector();
    if (out_shape.size() != x->shape().size() || out_shape[0] != x->dim(0) ||
        out_shape[1] != x->dim(1))
      return invalid_argument("MaxUnpool: output_shape " + shape_to_string(out_shape) +
                              " does not match X " + shape_to_string(x->shape()));
  } else {
    out_shape = {x->dim(0), x->dim(1)};
    for (size_t d = 0; d < sp; ++d) {
      const int64_t in = x->dim(static_cast<int64_t>(d) + 2);
      if (kernel[d] < 1 || strides[d] < 1 || pads[d] < 0 || pads[d + sp] < 0 ||
          kernel[d] > (int64_t{1} << 31) || strides[d] > (int64_t{1} << 31) ||
          pads[d] > (int64_t{1} << 31) || pads[d + sp] > (int64_t{1} << 31))
        return invalid_model("MaxUnpool: invalid kernel_shape, strides or pads");
      // in <= 2^63 / (numel of X) and the attributes are bounded, so this cannot overflow
      // for any tensor that exists; alloc_output refuses a result over the limit.
      if (in > 0 && strides[d] > std::numeric_limits<int64_t>::max() / 4 / in)
        return invalid_argument("MaxUnpool: output shape overflows");
      const int64_t o = (in - 1) * strides[d] + kernel[d] - pads[d] - pads[d + sp];
      if (o < 0) return invalid_argument("MaxUnpool: negative output size");
      out_shape.push_back(o);
    }
  }
  QDIFF_ASSIGN_OR_RETURN(Tensor * y, ctx.alloc_output(0, x->dtype(), out_shape));
  const int64_t total = y->numel();
  const int64_t* pi = ind->data<int64_t>();
  for (int64_t j = 0; j < ind->numel(); ++j)
    if (pi[j] < 0 || pi[j] >= total)
      return invalid_argument("MaxUnpool: index " + str(pi[j]) + " out of range for an output of " +
                              str(total) + " elements");
  visit_dtype(x->dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_floating_point_v<T>) {
      const T* px = x->data<T>();
      T* py = y->mutable_data<T>();
      for (int64_t j = 0; j < x->numel(); ++j) py[pi[j]] = px[j];
    }
  });
  return Status::ok_status();
}

}  // namespace qdiff::kernels::ref
