// Pad reference kernel: constant/reflect/edge/wrap modes, negative pads crop.
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "kernels/reference/common.h"
#include "kernels/reference/reference.h"

namespace qdiff::kernels::ref {
namespace {

int64_t pos_mod(int64_t a, int64_t m) {
  const int64_t r = a % m;
  return r < 0 ? r + m : r;
}

// Source index along one axis for output index o (-1 = the constant value).
int64_t source_index(int64_t o, int64_t pad_begin, int64_t in, const std::string& mode) {
  const int64_t i = o - pad_begin;
  if (i >= 0 && i < in) return i;
  if (mode == "constant") return -1;
  if (mode == "edge") return i < 0 ? 0 : in - 1;
  if (mode == "wrap") return pos_mod(i, in);
  // reflect (without repeating the edge element): period 2*(in-1).
  if (in == 1) return 0;
  const int64_t m = pos_mod(i, 2 * (in - 1));
  return m < in ? m : 2 * (in - 1) - m;
}

template <typename T>
void pad_compute(const Tensor& x, const std::vector<std::vector<int64_t>>& maps, T value,
                 Tensor* y) {
  const size_t rank = maps.size();
  const std::vector<int64_t> in_strides = strides_of(x.shape());
  const T* xd = x.data<T>();
  T* yd = y->mutable_data<T>();
  const int64_t n = y->numel();
  std::vector<int64_t> idx(rank, 0);
  for (int64_t k = 0; k < n; ++k) {
    int64_t off = 0;
    bool constant = false;
    for (size_t d = 0; d < rank; ++d) {
      const int64_t s = maps[d][static_cast<size_t>(idx[d])];
      if (s < 0) {
        constant = true;
        break;
      }
      off += s * in_strides[d];
    }
    yd[k] = constant ? value : xd[off];
    for (size_t d = rank; d-- > 0;) {
      if (++idx[d] < y->dim(static_cast<int64_t>(d))) break;
      idx[d] = 0;
    }
  }
}

}  // namespace

Status Pad(KernelContext& ctx) {
  QDIFF_ASSIGN_OR_RETURN(const Tensor* x, required_input(ctx, 0));
  const int64_t rank = x->rank();
  QDIFF_ASSIGN_OR_RETURN(std::string mode, ctx.attrs.get_string("mode", "constant"));
  if (mode != "constant" && mode != "reflect" && mode != "edge" &&
      !(mode == "wrap" && ctx.opset >= 19))
    return invalid_model("Pad: invalid mode '" + mode + "'");
  std::vector<int64_t> pads;
  double attr_value = 0.0;
  const Tensor* value_t = nullptr;
  std::vector<int64_t> axes;
  if (ctx.opset < 11) {
    QDIFF_ASSIGN_OR_RETURN(pads, ctx.attrs.get_ints("pads", {}));
    QDIFF_ASSIGN_OR_RETURN(float v, ctx.attrs.get_float("value", 0.0f));
    attr_value = v;
    for (int64_t a = 0; a < rank; ++a) axes.push_back(a);
  } else {
    QDIFF_ASSIGN_OR_RETURN(const Tensor* pads_t, required_input(ctx, 1));
    if (pads_t->dtype() != DType::kInt64) return dtype_error("Pad", 1, pads_t->dtype(), "int64");
    if (pads_t->rank() != 1)
      return invalid_model("Pad: pads must be 1-D, got " + shape_to_string(pads_t->shape()));
    pads = pads_t->to_i64_vector();
    value_t = ctx.input(2);
    if (value_t && !value_t->defined()) value_t = nullptr;
    if (value_t) {
      if (value_t->dtype() != x->dtype())
        return dtype_error("Pad", 2, value_t->dtype(), "the type of data");
      if (value_t->numel() != 1)
        return invalid_model("Pad: constant_value must be a scalar, got shape " +
                             shape_to_string(value_t->shape()));
    }
    const Tensor* axes_t = ctx.opset >= 18 ? ctx.input(3) : nullptr;
    if (axes_t && axes_t->defined()) {
      if (axes_t->dtype() != DType::kInt64 && axes_t->dtype() != DType::kInt32)
        return dtype_error("Pad", 3, axes_t->dtype(), "int32 or int64");
      for (int64_t a : axes_t->to_i64_vector()) {
        QDIFF_ASSIGN_OR_RETURN(int64_t na, normalize_axis(a, rank));
        for (int64_t prev : axes)
          if (prev == na) return invalid_model("Pad: repeated axis " + str(a));
        axes.push_back(na);
      }
    } else {
      for (int64_t a = 0; a < rank; ++a) axes.push_back(a);
    }
  }
  const int64_t na = static_cast<int64_t>(axes.size());
  if (static_cast<int64_t>(pads.size()) != 2 * na)
    return invalid_model("Pad: expected " + str(2 * na) + " pads, got " +
                         str(static_cast<int64_t>(pads.size())));
  std::vector<int64_t> begin(static_cast<size_t>(rank), 0), end(static_cast<size_t>(rank), 0);
  constexpr int64_t kMax = int64_t{1} << 40;
  for (int64_t i = 0; i < na; ++i) {
    const int64_t pb = pads[static_cast<size_t>(i)], pe = pads[static_cast<size_t>(i + na)];
    if (pb < -kMax || pb > kMax || pe < -kMax || pe > kMax)
      return invalid_model("Pad: pad value out of range");
    begin[static_cast<size_t>(axes[static_cast<size_t>(i)])] = pb;
    end[static_cast<size_t>(axes[static_cast<size_t>(i)])] = pe;
  }
  qdiff::Shape out(static_cast<size_t>(rank));
  std::vector<std::vector<int64_t>> maps(static_cast<size_t>(rank));
  for (int64_t d = 0; d < rank; ++d) {
    const size_t ds = static_cast<size_t>(d);
    const int64_t in = x->dim(d);
    const int64_t o = in + begin[ds] + end[ds];
    if (o < 0)
      return invalid_model("Pad: negative pads remove more than the " + str(in) +
                           " elements of axis " + str(d));
    if (in == 0 && o > 0 && mode != "constant")
      return invalid_argument("Pad: cannot pad an empty axis in " + mode + " mode");
    out[ds] = o;
  }
  QDIFF_ASSIGN_OR_RETURN(Tensor * y, ctx.alloc_output(0, x->dtype(), out));
  for (int64_t d = 0; d < rank; ++d) {
    const size_t ds = static_cast<size_t>(d);
    maps[ds].resize(static_cast<size_t>(out[ds]));
    for (int64_t o = 0; o < out[ds]; ++o)
      maps[ds][static_cast<size_t>(o)] = source_index(o, begin[ds], x->dim(d), mode);
  }
  const bool ok = visit_dtype(x->dtype(), [&](auto tag) {
    using T = decltype(tag);
    T value{};
    if (value_t) {
      value = value_t->data<T>()[0];
    } else if constexpr (std::is_same_v<T, bool>) {
      value = attr_value != 0.0;
    } else if constexpr (std::is_floating_point_v<T>) {
      value = static_cast<T>(attr_value);
    } else {
      // Attribute value (opset < 11) for an integer tensor: saturate, then truncate.
      double v = attr_value;
      const double lo = static_cast<double>(std::numeric_limits<T>::lowest());
      const double hi = static_cast<double>(std::numeric_limits<T>::max());
      if (!(v >= lo)) v = lo;
      if (v >= hi) v = hi;
      value = v >= hi ? std::numeric_limits<T>::max() : static_cast<T>(v);
    }
    pad_compute<T>(*x, maps, value, y);
  });
  if (!ok) return dtype_error("Pad", 0, x->dtype(), "a numeric or bool type");
  return Status::ok_status();
}

}  // namespace qdiff::kernels::ref
