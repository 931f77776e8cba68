// Reductions: ReduceSum/Mean/Max/Min/Prod/L1/L2/SumSquare/LogSum/LogSumExp and ArgMax/ArgMin.
//
// Axes come from the 'axes' attribute up to a version and from the optional second input after
// it (ReduceSum: input from opset 13; the others: from opset 18). With the input form,
// noop_with_empty_axes=1 and no (or empty) axes make the op an identity; otherwise empty axes
// mean "reduce over every dimension". Reducing an empty set gives the identity of the
// reduction (0 for Sum/L1/L2/SumSquare, 1 for Prod, -inf/lowest for Max, +inf/highest for Min,
// NaN for Mean of floats, -inf for LogSum/LogSumExp of floats).
#include <cmath>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "kernels/reference/common.h"
#include "kernels/reference/reference.h"

namespace qdiff::kernels::ref {
namespace {

// A double converted to an integer type without UB: truncation, clamped to the type's range.
template <typename T>
T from_double(double v) {
  if constexpr (std::is_floating_point_v<T>) {
    return static_cast<T>(v);
  } else {
    if (std::isnan(v)) return T{0};
    v = std::trunc(v);
    if (v <= static_cast<double>(std::numeric_limits<T>::lowest()))
      return std::numeric_limits<T>::lowest();
    if (v >= static_cast<double>(std::numeric_limits<T>::max()))
      return std::numeric_limits<T>::max();
    return static_cast<T>(v);
  }
}

// Reads an axes tensor (int64 or int32, 0-D or 1-D).
Result<std::vector<int64_t>> read_axes_input(const char* op, const Tensor& t) {
  if (t.dtype() != DType::kInt64 && t.dtype() != DType::kInt32)
    return dtype_error(op, 1, t.dtype(), "int64");
  if (t.rank() > 1)
    return invalid_model(std::string(op) + ": axes must be a 1-D tensor, got shape " +
                         shape_to_string(t.shape()));
  return t.to_i64_vector();
}

// Which axes a node reduces, resolved against the input rank.
struct ReduceSpec {
  bool noop = false;         // identity: the output is the input
  std::vector<bool> reduce;  // per input dim
  bool keepdims = true;
};

// opset_axes_input: first opset where axes is an input instead of an attribute.
Result<ReduceSpec> resolve_reduce(const KernelContext& ctx, const char* op, int64_t rank,
                                  int64_t opset_axes_input) {
  ReduceSpec spec;
  QDIFF_ASSIGN_OR_RETURN(int64_t keepdims, ctx.attrs.get_int("keepdims", 1));
  spec.keepdims = keepdims != 0;
  std::vector<int64_t> axes;
  if (ctx.opset >= opset_axes_input) {
    if (ctx.attrs.has("axes"))
      return invalid_model(std::string(op) + ": from opset " + std::to_string(opset_axes_input) +
                           " axes is an input, not an attribute");
    if (const Tensor* a = ctx.input(1); a && a->defined()) {
      QDIFF_ASSIGN_OR_RETURN(axes, read_axes_input(op, *a));
    }
    QDIFF_ASSIGN_OR_RETURN(int64_t noop, ctx.attrs.get_int("noop_with_empty_axes", 0));
    if (axes.empty() && noop != 0) {
      spec.noop = true;
      return spec;
    }
  } else {
    if (const Tensor* a = ctx.input(1); a && a->defined())
      return invalid_model(std::string(op) + ": before opset " + std::to_string(opset_axes_input) +
                           " axes is an attribute, not an input");
    QDIFF_ASSIGN_OR_RETURN(axes, ctx.attrs.get_ints("axes"));
  }
  spec.reduce.assign(static_cast<size_t>(rank), axes.empty());
  for (int64_t a : axes) {
    if (a < -rank || a >= rank)
      return invalid_model(std::string(op) + ": axis " + std::to_string(a) +
                           " out of range for rank " + std::to_string(rank));
    const size_t d = static_cast<size_t>(a < 0 ? a + rank : a);
    if (spec.reduce[d])
      return invalid_model(std::string(op) + ": axis " + std::to_string(a) + " repeated");
    spec.reduce[d] = true;
  }
  return spec;
}

qdiff::Shape reduced_shape(const qdiff::Shape& in, const std::vector<bool>& reduce, bool keepdims) {
  qdiff::Shape out;
  for (size_t d = 0; d < in.size(); ++d) {
    if (!reduce[d]) {
      out.push_back(in[d]);
    } else if (keepdims) {
      out.push_back(1);
    }
  }
  return out;
}

// For each input element (row-major), calls visit(out_flat_index, in_flat_index).
template <typename F>
void for_each_reduced(const qdiff::Shape& in, const std::vector<bool>& reduce, F&& visit) {
  const int64_t rank = static_cast<int64_t>(in.size());
  const int64_t n = shape_numel(in).value_or(0);
  if (n == 0) return;
  // Per dim: the output stride over the kept dims (0 for reduced dims) and the current index.
  struct Dim {
    int64_t size, out_stride, idx;
  };
  std::vector<Dim> dims;
  for (int64_t d = 0; d < rank; ++d) dims.push_back({in[static_cast<size_t>(d)], 0, 0});
  int64_t s = 1;
  for (int64_t d = rank - 1; d >= 0; --d) {
    if (!reduce[static_cast<size_t>(d)]) {
      dims[static_cast<size_t>(d)].out_stride = s;
      s *= dims[static_cast<size_t>(d)].size;
    }
  }
  int64_t o = 0;
  for (int64_t i = 0; i < n; ++i) {
    visit(o, i);
    for (auto it = dims.rbegin(); it != dims.rend(); ++it) {  // odometer increment
      ++it->idx;
      o += it->out_stride;
      if (it->idx < it->size) break;
      o -= it->out_stride * it->idx;
      it->idx = 0;
    }
  }
}

enum class ReduceKind { kSum, kMean, kMax, kMin, kProd, kL1, kL2, kSumSquare, kLogSum, kLogSumExp };

template <typename T>
void reduce_typed(ReduceKind kind, const Tensor& x, const std::vector<bool>& reduce, Tensor& out) {
  const int64_t out_n = out.numel();
  const int64_t in_n = x.numel();
  const int64_t count = out_n == 0 ? 0 : in_n / out_n;  // elements per output
  const T* in = x.data<T>();
  T* y = out.mutable_data<T>();
  switch (kind) {
    case ReduceKind::kSum:
    case ReduceKind::kMean: {
      std::vector<T> acc(static_cast<size_t>(out_n), T{0});
      for_each_reduced(x.shape(), reduce, [&](int64_t o, int64_t i) {
        acc[static_cast<size_t>(o)] = wrap_add(acc[static_cast<size_t>(o)], in[i]);
      });
      for (int64_t o = 0; o < out_n; ++o) {
        T v = acc[static_cast<size_t>(o)];
        if (kind == ReduceKind::kMean) {
          if constexpr (std::is_floating_point_v<T>) {
            v = v / static_cast<T>(count);  // 0/0 = NaN for an empty reduction
          } else {
            if (count == 0) {
              v = T{0};
            } else if constexpr (std::is_signed_v<T>) {
              v = static_cast<T>(static_cast<int64_t>(v) / count);
            } else {
              v = static_cast<T>(static_cast<uint64_t>(v) / static_cast<uint64_t>(count));
            }
          }
        }
        y[o] = v;
      }
      break;
    }
    case ReduceKind::kProd: {
      for (int64_t o = 0; o < out_n; ++o) y[o] = T{1};
      for_each_reduced(x.shape(), reduce,
                       [&](int64_t o, int64_t i) { y[o] = wrap_mul(y[o], in[i]); });
      break;
    }
    case ReduceKind::kMax:
    case ReduceKind::kMin: {
      const bool is_max = kind == ReduceKind::kMax;
      T init;
      if constexpr (std::is_floating_point_v<T>) {
        init = is_max ? -std::numeric_limits<T>::infinity() : std::numeric_limits<T>::infinity();
      } else {
        init = is_max ? std::numeric_limits<T>::lowest() : std::numeric_limits<T>::max();
      }
      for (int64_t o = 0; o < out_n; ++o) y[o] = init;
      for_each_reduced(x.shape(), reduce, [&](int64_t o, int64_t i) {
        const T v = in[i];
        if constexpr (std::is_floating_point_v<T>) {
          if (std::isnan(y[o])) return;  // NaN propagates, like numpy
          if (std::isnan(v)) {
            y[o] = v;
            return;
          }
        }
        if (is_max ? v > y[o] : v < y[o]) y[o] = v;
      });
      break;
    }
    case ReduceKind::kL1:
    case ReduceKind::kSumSquare: {
      // Integers wrap like ReduceSum; |MIN| wraps to MIN.
      std::vector<T> acc(static_cast<size_t>(out_n), T{0});
      for_each_reduced(x.shape(), reduce, [&](int64_t o, int64_t i) {
        T v = in[i];
        if (kind == ReduceKind::kSumSquare) {
          v = wrap_mul(v, v);
        } else if constexpr (std::is_floating_point_v<T>) {
          v = std::fabs(v);
        } else if constexpr (std::is_signed_v<T>) {
          if (v < 0) v = wrap_mul(v, static_cast<T>(-1));
        }
        acc[static_cast<size_t>(o)] = wrap_add(acc[static_cast<size_t>(o)], v);
      });
      for (int64_t o = 0; o < out_n; ++o) y[o] = acc[static_cast<size_t>(o)];
      break;
    }
    case ReduceKind::kLogSum:
    case ReduceKind::kLogSumExp: {
      // Floats accumulate in T (float32 stays float32); integers in double, truncated back.
      // LogSumExp subtracts the maximum first so large inputs do not overflow exp.
      using Acc = std::conditional_t<std::is_floating_point_v<T>, T, double>;
      std::vector<Acc> mx(static_cast<size_t>(out_n), -std::numeric_limits<Acc>::infinity());
      if (kind == ReduceKind::kLogSumExp) {
        for_each_reduced(x.shape(), reduce, [&](int64_t o, int64_t i) {
          const Acc v = static_cast<Acc>(in[i]);
          Acc& m = mx[static_cast<size_t>(o)];
          if (std::isnan(v) || v > m) m = v;
        });
      }
      std::vector<Acc> acc(static_cast<size_t>(out_n), Acc{0});
      for_each_reduced(x.shape(), reduce, [&](int64_t o, int64_t i) {
        const Acc v = static_cast<Acc>(in[i]);
        if (kind == ReduceKind::kLogSum) {
          acc[static_cast<size_t>(o)] += v;
        } else {
          const Acc m = mx[static_cast<size_t>(o)];
          acc[static_cast<size_t>(o)] += std::isinf(m) ? std::exp(v) : std::exp(v - m);
        }
      });
      for (int64_t o = 0; o < out_n; ++o) {
        Acc r = std::log(acc[static_cast<size_t>(o)]);
        const Acc m = mx[static_cast<size_t>(o)];
        if (kind == ReduceKind::kLogSumExp && !std::isinf(m)) r += m;
        if constexpr (std::is_floating_point_v<T>) {
          y[o] = r;
        } else {
          y[o] = from_double<T>(r);
        }
      }
      break;
    }
    case ReduceKind::kL2: {
      if constexpr (std::is_floating_point_v<T>) {
        std::vector<T> acc(static_cast<size_t>(out_n), T{0});
        for_each_reduced(x.shape(), reduce, [&](int64_t o, int64_t i) {
          acc[static_cast<size_t>(o)] += in[i] * in[i];
        });
        for (int64_t o = 0; o < out_n; ++o) y[o] = std::sqrt(acc[static_cast<size_t>(o)]);
      } else {
        std::vector<double> acc(static_cast<size_t>(out_n), 0.0);
        for_each_reduced(x.shape(), reduce, [&](int64_t o, int64_t i) {
          const double v = static_cast<double>(in[i]);
          acc[static_cast<size_t>(o)] += v * v;
        });
        for (int64_t o = 0; o < out_n; ++o)
          y[o] = from_double<T>(std::sqrt(acc[static_cast<size_t>(o)]));
      }
      break;
    }
  }
}

Status reduce_op(KernelContext& ctx, const char* op, ReduceKind kind, int64_t opset_axes_input) {
  QDIFF_ASSIGN_OR_RETURN(const Tensor* x, required_input(ctx, 0));
  const DType dt = x->dtype();
  const bool bool_ok = kind == ReduceKind::kMax || kind == ReduceKind::kMin;
  if (dt == DType::kFloat16 || dt == DType::kBFloat16 || dt == DType::kString ||
      dt == DType::kUndefined || (dt == DType::kBool && !bool_ok))
    return dtype_error(op, 0, dt, "a float or integer type");
  QDIFF_ASSIGN_OR_RETURN(ReduceSpec spec, resolve_reduce(ctx, op, x->rank(), opset_axes_input));
  if (spec.noop) {
    ctx.set_output(0, *x);
    return Status::ok_status();
  }
  QDIFF_ASSIGN_OR_RETURN(
      Tensor * out, ctx.alloc_output(0, dt, reduced_shape(x->shape(), spec.reduce, spec.keepdims)));
  {
    visit_dtype(dt, [&](auto tag) {
      using T = decltype(tag);
      if constexpr (std::is_same_v<T, bool>) {
        // Max of bools is "any", min is "all".
        const bool is_max = kind == ReduceKind::kMax;
        bool* y = out->mutable_data<bool>();
        const bool* in = x->data<bool>();
        for (int64_t o = 0; o < out->numel(); ++o) y[o] = !is_max;
        for_each_reduced(x->shape(), spec.reduce, [&](int64_t o, int64_t i) {
          y[o] = is_max ? (y[o] || in[i]) : (y[o] && in[i]);
        });
      } else {
        reduce_typed<T>(kind, *x, spec.reduce, *out);
      }
    });
  }
  return Status::ok_status();
}

// ArgMax / ArgMin along one axis; ties resolve to the first (or, with select_last_index, the
// last) occurrence. NaN counts as the extreme value (numpy's convention).
Status arg_op(KernelContext& ctx, const char* op, bool is_max) {
  QDIFF_ASSIGN_OR_RETURN(const Tensor* x, required_input(ctx, 0));
  const DType dt = x->dtype();
  if (dt == DType::kFloat16 || dt == DType::kBFloat16 || dt == DType::kString ||
      dt == DType::kUndefined || dt == DType::kBool)
    return dtype_error(op, 0, dt, "a float or integer type");
  QDIFF_ASSIGN_OR_RETURN(int64_t axis_attr, ctx.attrs.get_int("axis", 0));
  QDIFF_ASSIGN_OR_RETURN(int64_t keepdims, ctx.attrs.get_int("keepdims", 1));
  QDIFF_ASSIGN_OR_RETURN(int64_t last_attr, ctx.attrs.get_int("select_last_index", 0));
  const bool select_last = last_attr != 0;
  const int64_t rank = x->rank();
  if (rank == 0) return invalid_model(std::string(op) + ": input must have rank >= 1");
  if (axis_attr < -rank || axis_attr >= rank)
    return invalid_model(std::string(op) + ": axis " + std::to_string(axis_attr) +
                         " out of range for rank " + std::to_string(rank));
  const int64_t axis = axis_attr < 0 ? axis_attr + rank : axis_attr;
  const qdiff::Shape& s = x->shape();
  const int64_t n = s[static_cast<size_t>(axis)];
  qdiff::Shape out_shape;
  for (int64_t d = 0; d < rank; ++d) {
    if (d != axis) {
      out_shape.push_back(s[static_cast<size_t>(d)]);
    } else if (keepdims != 0) {
      out_shape.push_back(1);
    }
  }
  QDIFF_ASSIGN_OR_RETURN(Tensor * out, ctx.alloc_output(0, DType::kInt64, out_shape));
  if (out->numel() == 0) return Status::ok_status();
  if (n == 0) return invalid_argument(std::string(op) + ": cannot reduce an axis of size 0");
  // Both are factors of the output size, which is allocated, so the products cannot overflow.
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < rank; ++d) {
    if (d < axis) outer *= s[static_cast<size_t>(d)];
    if (d > axis) inner *= s[static_cast<size_t>(d)];
  }
  int64_t* y = out->mutable_data<int64_t>();
  visit_dtype(dt, [&](auto tag) {
    using T = decltype(tag);
    const T* in = x->data<T>();
    // Whether candidate v should replace the current best b.
    auto better = [&](T v, T b) {
      if constexpr (std::is_floating_point_v<T>) {
        if (std::isnan(b)) return select_last && std::isnan(v);
        if (std::isnan(v)) return true;
      }
      if (select_last) return is_max ? v >= b : v <= b;
      return is_max ? v > b : v < b;
    };
    for (int64_t o = 0; o < outer; ++o) {
      for (int64_t i = 0; i < inner; ++i) {
        const T* base = in + o * n * inner + i;
        int64_t best = 0;
        for (int64_t k = 1; k < n; ++k) {
          if (better(base[k * inner], base[best * inner])) best = k;
        }
        y[o * inner + i] = best;
      }
    }
  });
  return Status::ok_status();
}

}  // namespace

Status ReduceSum(KernelContext& ctx) {
  return reduce_op(ctx, "ReduceSum", ReduceKind::kSum, 13);
}
Status ReduceMean(KernelContext& ctx) {
  return reduce_op(ctx, "ReduceMean", ReduceKind::kMean, 18);
}
Status ReduceMax(KernelContext& ctx) {
  return reduce_op(ctx, "ReduceMax", ReduceKind::kMax, 18);
}
Status ReduceMin(KernelContext& ctx) {
  return reduce_op(ctx, "ReduceMin", ReduceKind::kMin, 18);
}
Status ReduceProd(KernelContext& ctx) {
  return reduce_op(ctx, "ReduceProd", ReduceKind::kProd, 18);
}
Status ReduceL2(KernelContext& ctx) {
  return reduce_op(ctx, "ReduceL2", ReduceKind::kL2, 18);
}
Status ReduceL1(KernelContext& ctx) {
  return reduce_op(ctx, "ReduceL1", ReduceKind::kL1, 18);
}
Status ReduceSumSquare(KernelContext& ctx) {
  return reduce_op(ctx, "ReduceSumSquare", ReduceKind::kSumSquare, 18);
}
Status ReduceLogSum(KernelContext& ctx) {
  return reduce_op(ctx, "ReduceLogSum", ReduceKind::kLogSum, 18);
}
Status ReduceLogSumExp(KernelContext& ctx) {
  return reduce_op(ctx, "ReduceLogSumExp", ReduceKind::kLogSumExp, 18);
}
Status ArgMax(KernelContext& ctx) {
  return arg_op(ctx, "ArgMax", true);
}
Status ArgMin(KernelContext& ctx) {
  return arg_op(ctx, "ArgMin", false);
}

}  // namespace qdiff::kernels::ref
