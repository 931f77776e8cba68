// Index-driven ops: GatherElements, GatherND, ScatterElements, Scatter, ScatterND, OneHot,
// NonZero, Trilu, EyeLike, CumSum and TopK.
//
// Every index read from a tensor is checked against its axis before use: an index outside
// [-dim, dim) is an invalid_argument error (OneHot excepted: ONNX defines out-of-range indices
// to give an all-off row). Negative indices count from the end of the axis.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "kernels/reference/common.h"
#include "kernels/reference/reference.h"

namespace qdiff::kernels::ref {
namespace {

Result<std::vector<int64_t>> read_indices(const char* op, size_t i, const Tensor& t) {
  if (t.dtype() != DType::kInt64 && t.dtype() != DType::kInt32)
    return dtype_error(op, i, t.dtype(), "int64 or int32");
  return t.to_i64_vector();
}

// Index v into an axis of size dim, normalised to [0, dim); error when out of range.
Result<int64_t> checked_index(const char* op, int64_t v, int64_t dim) {
  if (v < -dim || v >= dim)
    return invalid_argument(std::string(op) + ": index " + std::to_string(v) +
                            " out of range for an axis of size " + std::to_string(dim));
  return v < 0 ? v + dim : v;
}

enum class Reduction { kNone, kAdd, kMul, kMax, kMin };

Result<Reduction> read_reduction(const KernelContext& ctx, const char* op) {
  QDIFF_ASSIGN_OR_RETURN(std::string r, ctx.attrs.get_string("reduction", "none"));
  if (r == "none") return Reduction::kNone;
  if (r == "add") return Reduction::kAdd;
  if (r == "mul") return Reduction::kMul;
  if (r == "max") return Reduction::kMax;
  if (r == "min") return Reduction::kMin;
  return invalid_model(std::string(op) + ": unknown reduction '" + r + "'");
}

template <typename T>
T reduce_elem(Reduction r, T cur, T upd) {
  switch (r) {
    case Reduction::kNone:
      return upd;
    case Reduction::kAdd:
      return wrap_add(cur, upd);
    case Reduction::kMul:
      return wrap_mul(cur, upd);
    case Reduction::kMax:
      if constexpr (std::is_floating_point_v<T>) {
        if (std::isnan(cur) || std::isnan(upd)) return std::numeric_limits<T>::quiet_NaN();
      }
      return cur < upd ? upd : cur;
    case Reduction::kMin:
      if constexpr (std::is_floating_point_v<T>) {
        if (std::isnan(cur) || std::isnan(upd)) return std::numeric_limits<T>::quiet_NaN();
      }
      return upd < cur ? upd : cur;
  }
  return upd;
}

// out[dst[j]] = reduce(out[dst[j]], updates[j]) for j in order (later writes win for kNone).
Status scatter_apply(const char* op, Reduction red, const Tensor& updates,
                     const std::vector<int64_t>& dst, int64_t slice, Tensor& out) {
  if (slice == 0 || dst.empty()) return Status::ok_status();
  if (red == Reduction::kNone) {
    const size_t es = dtype_size(out.dtype());
    for (size_t j = 0; j < dst.size(); ++j)
      std::memcpy(out.raw_mutable() + static_cast<size_t>(dst[j]) * es,
                  updates.raw() + j * static_cast<size_t>(slice) * es,
                  static_cast<size_t>(slice) * es);
    return Status::ok_status();
  }
  const bool ok = visit_dtype(out.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T* po = out.mutable_data<T>();
    const T* pu = updates.data<T>();
    for (size_t j = 0; j < dst.size(); ++j)
      for (int64_t s = 0; s < slice; ++s) {
        T& o = po[dst[j] + s];
        o = reduce_elem(red, o, pu[static_cast<int64_t>(j) * slice + s]);
      }
  });
  if (!ok) return dtype_error(op, 0, out.dtype(), "a numeric type");
  return Status::ok_status();
}

// Shared by ScatterElements and Scatter.
Status scatter_elements(KernelContext& ctx, const char* op, bool allow_reduction) {
  QDIFF_ASSIGN_OR_RETURN(const Tensor* x, required_input(ctx, 0));
  QDIFF_ASSIGN_OR_RETURN(const Tensor* ind, required_input(ctx, 1));
  QDIFF_ASSIGN_OR_RETURN(const Tensor* upd, required_input(ctx, 2));
  QDIFF_RETURN_IF_ERROR(check_data_dtype(op, 0, *x));
  Reduction red = Reduction::kNone;
  if (allow_reduction) {
    QDIFF_ASSIGN_OR_RETURN(red, read_reduction(ctx, op));
  }
  if (upd->dtype() != x->dtype())
    return invalid_model(std::string(op) + ": updates type " +
                         std::string(dtype_name(upd->dtype())) + " differs from data type " +
                         std::string(dtype_name(x->dtype())));
  const int64_t rank = x->rank();
  if (rank == 0) return invalid_model(std::string(op) + ": data must have rank >= 1");
  if (ind->rank() != rank || upd->shape() != ind->shape())
    return invalid_argument(std::string(op) + ": indices " + shape_to_string(ind->shape()) +
                            " and updates " + shape_to_string(upd->shape()) +
                            " must have the same shape and data's rank (data " +
                            shape_to_string(x->shape()) + ")");
  QDIFF_ASSIGN_OR_RETURN(int64_t axis_attr, ctx.attrs.get_int("axis", 0));
  QDIFF_ASSIGN_OR_RETURN(int64_t axis, checked_axis(op, axis_attr, rank));
  for (int64_t d = 0; d < rank; ++d) {
    if (d != axis && ind->dim(d) > x->dim(d))
      return invalid_argument(std::string(op) + ": indices shape " + shape_to_string(ind->shape()) +
                              " exceeds data shape " + shape_to_string(x->shape()) + " on axis " +
                              std::to_string(d));
  }
  QDIFF_ASSIGN_OR_RETURN(std::vector<int64_t> idx, read_indices(op, 1, *ind));
  const std::vector<int64_t> strides = strides_of(x->shape());
  std::vector<int64_t> dst(idx.size());
  std::vector<int64_t> pos(static_cast<size_t>(rank), 0);
  for (size_t j = 0; j < idx.size(); ++j) {
    QDIFF_ASSIGN_OR_RETURN(int64_t k, checked_index(op, idx[j], x->dim(axis)));
    int64_t off = 0;
    for (size_t d = 0; d < pos.size(); ++d)
      off += (static_cast<int64_t>(d) == axis ? k : pos[d]) * strides[d];
    dst[j] = off;
    next_index(pos, ind->shape());
  }
  QDIFF_ASSIGN_OR_RETURN(Tensor * out, ctx.alloc_output(0, x->dtype(), x->shape()));
  if (x->nbytes() != 0) std::memcpy(out->raw_mutable(), x->raw(), x->nbytes());
  return scatter_apply(op, red, *upd, dst, 1, *out);
}

// Index v of any numeric dtype as an int64; nullopt when not integral-representable (NaN, out of
// range). Floats truncate toward zero.
template <typename T>
std::optional<int64_t> as_index(T v) {
  if constexpr (std::is_floating_point_v<T>) {
    if (!(v > -9.2e18 && v < 9.2e18)) return std::nullopt;
    return static_cast<int64_t>(v);
  } else if constexpr (std::is_same_v<T, uint64_t>) {
    if (v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return std::nullopt;
    return static_cast<int64_t>(v);
  } else {
    return static_cast<int64_t>(v);
  }
}

// All elements of a numeric tensor as optional int64 indices.
Result<std::vector<std::optional<int64_t>>> numeric_as_indices(const char* op, size_t i,
                                                               const Tensor& t) {
  std::vector<std::optional<int64_t>> out;
  const bool ok = visit_dtype(t.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (!std::is_same_v<T, bool>) {
      for (T v : t.values<T>()) out.push_back(as_index(v));
    }
  });
  if (!ok || t.dtype() == DType::kBool) return dtype_error(op, i, t.dtype(), "a numeric type");
  return out;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// GatherElements

Status GatherElements(KernelContext& ctx) {
  QDIFF_ASSIGN_OR_RETURN(const Tensor* x, required_input(ctx, 0));
  QDIFF_ASSIGN_OR_RETURN(const Tensor* ind, required_input(ctx, 1));
  QDIFF_RETURN_IF_ERROR(check_data_dtype("GatherElements", 0, *x));
  const int64_t rank = x->rank();
  if (rank == 0) return invalid_model("GatherElements: data must have rank >= 1");
  if (ind->rank() != rank)
    return invalid_argument("GatherElements: indices " + shape_to_string(ind->shape()) +
                            " must have the rank of data " + shape_to_string(x->shape()));
  QDIFF_ASSIGN_OR_RETURN(int64_t axis_attr, ctx.attrs.get_int("axis", 0));
  QDIFF_ASSIGN_OR_RETURN(int64_t axis, checked_axis("GatherElements", axis_attr, rank));
  for (int64_t d = 0; d < rank; ++d) {
    if (d != axis && ind->dim(d) > x->dim(d))
      return invalid_argument("GatherElements: indices shape " + shape_to_string(ind->shape()) +
                              " exceeds data shape " + shape_to_string(x->shape()) + " on axis " +
                              std::to_string(d));
  }
  QDIFF_ASSIGN_OR_RETURN(std::vector<int64_t> idx, read_indices("GatherElements", 1, *ind));
  const std::vector<int64_t> strides = strides_of(x->shape());
  std::vector<int64_t> src(idx.size());
  std::vector<int64_t> pos(static_cast<size_t>(rank), 0);
  for (size_t j = 0; j < idx.size(); ++j) {
    QDIFF_ASSIGN_OR_RETURN(int64_t k, checked_index("GatherElements", idx[j], x->dim(axis)));
    int64_t off = 0;
    for (size_t d = 0; d < pos.size(); ++d)
      off += (static_cast<int64_t>(d) == axis ? k : pos[d]) * strides[d];
    src[j] = off;
    next_index(pos, ind->shape());
  }
  QDIFF_ASSIGN_OR_RETURN(Tensor * out, ctx.alloc_output(0, x->dtype(), ind->shape()));
  const size_t es = dtype_size(x->dtype());
  for (size_t j = 0; j < src.size(); ++j)
    std::memcpy(out->raw_mutable() + j * es, x->raw() + static_cast<size_t>(src[j]) * es, es);
  return Status::ok_status();
}

// ---------------------------------------------------------------------------------------------
// GatherND / ScatterND geometry

namespace {

struct NdGeometry {
  std::vector<int64_t> offsets;  // per index tuple: element offset of its slice in data
  int64_t slice = 1;             // elements per slice
};

// Indices [b..., q..., k] into data [b..., k dims, slice dims...]; batch_dims b.
Result<NdGeometry> nd_geometry(const char* op, const Tensor& x, const Tensor& ind, int64_t b) {
  const int64_t r = x.rank();
  const int64_t q = ind.rank();
  if (r < 1 || q < 1)
    return invalid_argument(std::string(op) + ": data and indices must have rank >= 1");
  if (b < 0 || b >= std::min(r, q))
    return invalid_model(std::string(op) + ": batch_dims " + std::to_string(b) +
                         " must be in [0, min(rank(data), rank(indices)))");
  for (int64_t d = 0; d < b; ++d) {
    if (x.dim(d) != ind.dim(d))
      return invalid_argument(std::string(op) + ": batch dims of data " +
                              shape_to_string(x.shape()) + " and indices " +
                              shape_to_string(ind.shape()) + " differ");
  }
  const int64_t k = ind.dim(q - 1);
  if (k < 1 || k > r - b)
    return invalid_argument(std::string(op) + ": last dim of indices " +
                            shape_to_string(ind.shape()) + " must be in [1, " +
                            std::to_string(r - b) + "]");
  QDIFF_ASSIGN_OR_RETURN(std::vector<int64_t> idx, read_indices(op, 1, ind));
  const std::vector<int64_t> strides = strides_of(x.shape());
  NdGeometry g;
  g.slice = dim_product(x.shape(), static_cast<size_t>(b + k), static_cast<size_t>(r));
  const int64_t batch_stride = b == 0 ? 0 : strides[static_cast<size_t>(b - 1)];
  const int64_t n_tuples = k == 0 ? 0 : static_cast<int64_t>(idx.size()) / k;
  const int64_t per_batch =
      dim_product(ind.shape(), static_cast<size_t>(b), static_cast<size_t>(q - 1));
  g.offsets.resize(static_cast<size_t>(n_tuples));
  for (int64_t t = 0; t < n_tuples; ++t) {
    int64_t off = per_batch == 0 ? 0 : (t / per_batch) * batch_stride;
    for (int64_t j = 0; j < k; ++j) {
      const size_t d = static_cast<size_t>(b + j);
      QDIFF_ASSIGN_OR_RETURN(int64_t v,
                             checked_index(op, idx[static_cast<size_t>(t * k + j)], x.shape()[d]));
      off += v * strides[d];
    }
    g.offsets[static_cast<size_t>(t)] = off;
  }
  return g;
}

}  // namespace

Status GatherND(KernelContext& ctx) {
  QDIFF_ASSIGN_OR_RETURN(const Tensor* x, required_input(ctx, 0));
  QDIFF_ASSIGN_OR_RETURN(const Tensor* ind, required_input(ctx, 1));
  QDIFF_RETURN_IF_ERROR(check_data_dtype("GatherND", 0, *x));
  QDIFF_ASSIGN_OR_RETURN(int64_t b, ctx.attrs.get_int("batch_dims", 0));
  QDIFF_ASSIGN_OR_RETURN(NdGeometry g, nd_geometry("GatherND", *x, *ind, b));
  const int64_t k = ind->dim(ind->rank() - 1);
  qdiff::Shape out_shape(ind->shape().begin(), ind->shape().end() - 1);
  out_shape.insert(out_shape.end(), x->shape().begin() + b + k, x->shape().end());
  QDIFF_ASSIGN_OR_RETURN(Tensor * out, ctx.alloc_output(0, x->dtype(), out_shape));
  const size_t es = dtype_size(x->dtype());
  const size_t block = static_cast<size_t>(g.slice) * es;
  if (out->numel() == 0) return Status::ok_status();
  for (size_t t = 0; t < g.offsets.size(); ++t)
    std::memcpy(out->raw_mutable() + t * block, x->raw() + static_cast<size_t>(g.offsets[t]) * es,
                block);
  return Status::ok_status();
}

Status ScatterND(KernelContext& ctx) {
  QDIFF_ASSIGN_OR_RETURN(const Tensor* x, required_input(ctx, 0));
  QDIFF_ASSIGN_OR_RETURN(const Tensor* ind, required_input(ctx, 1));
  QDIFF_ASSIGN_OR_RETURN(const Tensor* upd, required_input(ctx, 2));
  QDIFF_RETURN_IF_ERROR(check_data_dtype("ScatterND", 0, *x));
  QDIFF_ASSIGN_OR_RETURN(Reduction red, read_reduction(ctx, "ScatterND"));
  if (upd->dtype() != x->dtype())
    return invalid_model("ScatterND: updates type " + std::string(dtype_name(upd->dtype())) +
                         " differs from data type " + std::string(dtype_name(x->dtype())));
  QDIFF_ASSIGN_OR_RETURN(NdGeometry g, nd_geometry("ScatterND", *x, *ind, 0));
  const int64_t k = ind->dim(ind->rank() - 1);
  qdiff::Shape want(ind->shape().begin(), ind->shape().end() - 1);
  want.insert(want.end(), x->shape().begin() + k, x->shape().end());
  if (upd->shape() != want)
    return invalid_argument("ScatterND: updates shape " + shape_to_string(upd->shape()) +
                            " must be " + shape_to_string(want));
  QDIFF_ASSIGN_OR_RETURN(Tensor * out, ctx.alloc_output(0, x->dtype(), x->shape()));
  if (x->nbytes() != 0) std::memcpy(out->raw_mutable(), x->raw(), x->nbytes());
  return scatter_apply("ScatterND", red, *upd, g.offsets, g.slice, *out);
}

Status ScatterElements(KernelContext& ctx) {
  return scatter_elements(ctx, "ScatterElements", true);
}

Status Scatter(KernelContext& ctx) {
  return scatter_elements(ctx, "Scatter", false);
}

// ---------------------------------------------------------------------------------------------
// OneHot

Status OneHot(KernelContext& ctx) {
  QDIFF_ASSIGN_OR_RETURN(const Tensor* ind, required_input(ctx, 0));
  QDIFF_ASSIGN_OR_RETURN(const Tensor* depth_t, required_input(ctx, 1));
  QDIFF_ASSIGN_OR_RETURN(const Tensor* values, required_input(ctx, 2));
  QDIFF_RETURN_IF_ERROR(check_data_dtype("OneHot", 2, *values));
  if (depth_t->numel() != 1)
    return invalid_model("OneHot: depth must have exactly one element, got shape " +
                         shape_to_string(depth_t->shape()));
  if (values->rank() != 1 || values->numel() != 2)
    return invalid_model("OneHot: values must be [off_value, on_value], got shape " +
                         shape_to_string(values->shape()));
  QDIFF_ASSIGN_OR_RETURN(auto depth_v, numeric_as_indices("OneHot", 1, *depth_t));
  if (!depth_v[0] || *depth_v[0] < 1)
    return invalid_argument("OneHot: depth must be a positive integer");
  const int64_t depth = *depth_v[0];
  QDIFF_ASSIGN_OR_RETURN(auto idx, numeric_as_indices("OneHot", 0, *ind));
  const int64_t out_rank = ind->rank() + 1;
  QDIFF_ASSIGN_OR_RETURN(int64_t axis_attr, ctx.attrs.get_int("axis", -1));
  QDIFF_ASSIGN_OR_RETURN(int64_t axis, checked_axis("OneHot", axis_attr, out_rank));
  qdiff::Shape out_shape = ind->shape();
  out_shape.insert(out_shape.begin() + axis, depth);
  QDIFF_ASSIGN_OR_RETURN(Tensor * out, ctx.alloc_output(0, values->dtype(), out_shape));
  const size_t es = dtype_size(values->dtype());
  const std::byte* off_v = values->raw();
  const std::byte* on_v = values->raw() + es;
  // Output as outer x depth x inner, with the indices laid out as outer x inner.
  const int64_t outer = dim_product(ind->shape(), 0, static_cast<size_t>(axis));
  const int64_t inner = dim_product(ind->shape(), static_cast<size_t>(axis), ind->shape().size());
  std::byte* po = out->raw_mutable();
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t d = 0; d < depth; ++d)
      for (int64_t i = 0; i < inner; ++i) {
        const std::optional<int64_t>& v = idx[static_cast<size_t>(o * inner + i)];
        bool on = false;
        if (v && *v >= -depth && *v < depth) on = (*v < 0 ? *v + depth : *v) == d;
        std::memcpy(po + static_cast<size_t>((o * depth + d) * inner + i) * es, on ? on_v : off_v,
                    es);
      }
  return Status::ok_status();
}

// ---------------------------------------------------------------------------------------------
// NonZero

Status NonZero(KernelContext& ctx) {
  QDIFF_ASSIGN_OR_RETURN(const Tensor* x, required_input(ctx, 0));
  std::vector<bool> nz(static_cast<size_t>(x->numel()));
  const bool ok = visit_dtype(x->dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* p = x->data<T>();
    for (int64_t i = 0; i < x->numel(); ++i) nz[static_cast<size_t>(i)] = p[i] != T{0};
  });
  if (!ok) return dtype_error("NonZero", 0, x->dtype(), "a numeric or bool type");
  const int64_t count = std::count(nz.begin(), nz.end(), true);
  // A scalar behaves like a 1-element vector (numpy's nonzero of a 0-d array).
  const qdiff::Shape shape = x->rank() == 0 ? qdiff::Shape{1} : x->shape();
  const int64_t rank = static_cast<int64_t>(shape.size());
  QDIFF_ASSIGN_OR_RETURN(Tensor * out, ctx.alloc_output(0, DType::kInt64, {rank, count}));
  int64_t* po = out->mutable_data<int64_t>();
  std::vector<int64_t> pos(shape.size(), 0);
  int64_t c = 0;
  for (size_t i = 0; i < nz.size(); ++i) {
    if (nz[i]) {
      for (int64_t d = 0; d < rank; ++d) po[d * count + c] = pos[static_cast<size_t>(d)];
      ++c;
    }
    next_index(pos, shape);
  }
  return Status::ok_status();
}

// ---------------------------------------------------------------------------------------------
// Trilu and EyeLike

Status Trilu(KernelContext& ctx) {
  QDIFF_ASSIGN_OR_RETURN(const Tensor* x, required_input(ctx, 0));
  QDIFF_RETURN_IF_ERROR(check_data_dtype("Trilu", 0, *x));
  if (x->rank() < 2)
    return invalid_argument("Trilu: input must have rank >= 2, got shape " +
                            shape_to_string(x->shape()));
  int64_t k = 0;
  if (const Tensor* kt = ctx.input(1); kt && kt->defined()) {
    if (kt->dtype() != DType::kInt64) return dtype_error("Trilu", 1, kt->dtype(), "int64");
    if (kt->numel() != 1)
      return invalid_model("Trilu: k must be a scalar, got shape " + shape_to_string(kt->shape()));
    k = kt->data<int64_t>()[0];
  }
  QDIFF_ASSIGN_OR_RETURN(int64_t upper, ctx.attrs.get_int("upper", 1));
  QDIFF_ASSIGN_OR_RETURN(Tensor * out, ctx.alloc_output(0, x->dtype(), x->shape()));
  const int64_t rows = x->dim(x->rank() - 2);
  const int64_t cols = x->dim(x->rank() - 1);
  const size_t es = dtype_size(x->dtype());
  const int64_t mats = rows * cols == 0 ? 0 : x->numel() / (rows * cols);
  for (int64_t m = 0; m < mats; ++m)
    for (int64_t i = 0; i < rows; ++i)
      for (int64_t j = 0; j < cols; ++j) {
        // j - i is bounded by the dims, so the comparison with any k cannot overflow.
        const bool keep = upper != 0 ? j - i >= k : j - i <= k;
        if (keep) {
          const size_t at = static_cast<size_t>((m * rows + i) * cols + j) * es;
          std::memcpy(out->raw_mutable() + at, x->raw() + at, es);
        }
      }
  return Status::ok_status();
}

Status EyeLike(KernelContext& ctx) {
  QDIFF_ASSIGN_OR_RETURN(const Tensor* x, required_input(ctx, 0));
  if (x->rank() != 2)
    return invalid_argument("EyeLike: input must be 2-D, got shape " + shape_to_string(x->shape()));
  DType target = x->dtype();
  if (ctx.attrs.has("dtype")) {
    QDIFF_ASSIGN_OR_RETURN(int64_t dt, ctx.attrs.get_int("dtype", 1));
    const std::optional<DType> d = dt >= 0 && dt <= std::numeric_limits<int>::max()
                                       ? dtype_from_onnx(static_cast<int>(dt))
                                       : std::nullopt;
    if (!d || dtype_size(*d) == 0)
      return unsupported("EyeLike: dtype " + std::to_string(dt) + " is not supported");
    target = *d;
  }
  if (dtype_size(target) == 0) return dtype_error("EyeLike", 0, target, "a numeric or bool type");
  QDIFF_ASSIGN_OR_RETURN(int64_t k, ctx.attrs.get_int("k", 0));
  QDIFF_ASSIGN_OR_RETURN(Tensor * out, ctx.alloc_output(0, target, x->shape()));
  const int64_t rows = x->dim(0);
  const int64_t cols = x->dim(1);
  Tensor ones = Tensor::zeros(DType::kFloat32, x->shape());
  float* p = ones.mutable_data<float>();
  for (int64_t i = 0; i < rows; ++i) {
    // Column i + k, computed without overflow for any k.
    if (k >= cols || k <= -rows) break;
    const int64_t j = i + k;
    if (j >= 0 && j < cols) p[i * cols + j] = 1.0f;
  }
  *out = target == DType::kFloat32 ? ones : ones.cast(target);
  return Status::ok_status();
}

// ---------------------------------------------------------------------------------------------
// CumSum

Status CumSum(KernelContext& ctx) {
  QDIFF_ASSIGN_OR_RETURN(const Tensor* x, required_input(ctx, 0));
  QDIFF_ASSIGN_OR_RETURN(const Tensor* axis_t, required_input(ctx, 1));
  if (axis_t->dtype() != DType::kInt64 && axis_t->dtype() != DType::kInt32)
    return dtype_error("CumSum", 1, axis_t->dtype(), "int64 or int32");
  if (axis_t->numel() != 1)
    return invalid_model("CumSum: axis must be a scalar, got shape " +
                         shape_to_string(axis_t->shape()));
  if (x->rank() == 0) return invalid_argument("CumSum: input must have rank >= 1");
  QDIFF_ASSIGN_OR_RETURN(int64_t axis,
                         checked_axis("CumSum", axis_t->to_i64_vector()[0], x->rank()));
  QDIFF_ASSIGN_OR_RETURN(int64_t exclusive, ctx.attrs.get_int("exclusive", 0));
  QDIFF_ASSIGN_OR_RETURN(int64_t reverse, ctx.attrs.get_int("reverse", 0));
  if (x->dtype() == DType::kBool || dtype_size(x->dtype()) == 0 || x->dtype() == DType::kFloat16 ||
      x->dtype() == DType::kBFloat16)
    return dtype_error("CumSum", 0, x->dtype(), "a float or integer type");
  QDIFF_ASSIGN_OR_RETURN(Tensor * out, ctx.alloc_output(0, x->dtype(), x->shape()));
  const size_t ax = static_cast<size_t>(axis);
  const int64_t outer = dim_product(x->shape(), 0, ax);
  const int64_t n = x->shape()[ax];
  const int64_t inner = dim_product(x->shape(), ax + 1, x->shape().size());
  visit_dtype(x->dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (!std::is_same_v<T, bool>) {
      const T* px = x->data<T>();
      T* po = out->mutable_data<T>();
      for (int64_t o = 0; o < outer; ++o)
        for (int64_t i = 0; i < inner; ++i) {
          T acc{0};
          for (int64_t s = 0; s < n; ++s) {
            const int64_t t = reverse != 0 ? n - 1 - s : s;
            const int64_t at = (o * n + t) * inner + i;
            if (exclusive != 0) {
              po[at] = acc;
              acc = wrap_add(acc, px[at]);
            } else {
              acc = wrap_add(acc, px[at]);
              po[at] = acc;
            }
          }
        }
    }
  });
  return Status::ok_status();
}

// ---------------------------------------------------------------------------------------------
// TopK

Status TopK(KernelContext& ctx) {
  QDIFF_ASSIGN_OR_RETURN(const Tensor* x, required_input(ctx, 0));
  if (x->dtype() == DType::kBool || dtype_size(x->dtype()) == 0 || x->dtype() == DType::kFloat16 ||
      x->dtype() == DType::kBFloat16)
    return dtype_error("TopK", 0, x->dtype(), "a float or integer type");
  int64_t k = 0;
  if (ctx.opset >= 10) {
    QDIFF_ASSIGN_OR_RETURN(const Tensor* kt, required_input(ctx, 1));
    if (kt->dtype() != DType::kInt64) return dtype_error("TopK", 1, kt->dtype(), "int64");
    if (kt->numel() != 1)
      return invalid_model("TopK: K must have exactly one element, got shape " +
                           shape_to_string(kt->shape()));
    k = kt->data<int64_t>()[0];
  } else {
    if (!ctx.attrs.has("k")) return invalid_model("TopK: missing required attribute 'k'");
    QDIFF_ASSIGN_OR_RETURN(k, ctx.attrs.get_int("k", 0));
  }
  QDIFF_ASSIGN_OR_RETURN(int64_t largest, ctx.attrs.get_int("largest", 1));
  QDIFF_ASSIGN_OR_RETURN(int64_t axis_attr, ctx.attrs.get_int("axis", -1));
  if (x->rank() == 0) return invalid_argument("TopK: input must have rank >= 1");
  QDIFF_ASSIGN_OR_RETURN(int64_t axis, checked_axis("TopK", axis_attr, x->rank()));
  const size_t ax = static_cast<size_t>(axis);
  const int64_t n = x->shape()[ax];
  if (k < 0 || k > n)
    return invalid_argument("TopK: K = " + std::to_string(k) +
                            " out of range for an axis of size " + std::to_string(n));
  qdiff::Shape out_shape = x->shape();
  out_shape[ax] = k;
  QDIFF_ASSIGN_OR_RETURN(Tensor * vals, ctx.alloc_output(0, x->dtype(), out_shape));
  Tensor* inds = nullptr;
  if (ctx.outputs.size() > 1) {
    QDIFF_ASSIGN_OR_RETURN(inds, ctx.alloc_output(1, DType::kInt64, out_shape));
  }
  const int64_t outer = dim_product(x->shape(), 0, ax);
  const int64_t inner = dim_product(x->shape(), ax + 1, x->shape().size());
  // The result is always sorted (sorted=0 leaves the order unspecified, so sorted is valid);
  // equal values keep the lower index first. NaN counts as larger than every number.
  visit_dtype(x->dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (!std::is_same_v<T, bool>) {
      const T* px = x->data<T>();
      T* pv = vals->mutable_data<T>();
      auto greater = [](T a, T b) {
        if constexpr (std::is_floating_point_v<T>) {
          if (std::isnan(a)) return !std::isnan(b);
          if (std::isnan(b)) return false;
        }
        return a > b;
      };
      std::vector<int64_t> order(static_cast<size_t>(n));
      for (int64_t o = 0; o < outer; ++o)
        for (int64_t i = 0; i < inner; ++i) {
          const T* line = px + o * n * inner + i;
          std::iota(order.begin(), order.end(), int64_t{0});
          std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
            return largest != 0 ? greater(line[a * inner], line[b * inner])
                                : greater(line[b * inner], line[a * inner]);
          });
          for (int64_t j = 0; j < k; ++j) {
            const int64_t at = (o * k + j) * inner + i;
            pv[at] = line[order[static_cast<size_t>(j)] * inner];
            if (inds) inds->mutable_data<int64_t>()[at] = order[static_cast<size_t>(j)];
          }
        }
    }
  });
  return Status::ok_status();
}

}  // namespace qdiff::kernels::ref
