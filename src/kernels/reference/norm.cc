// BatchNormalization, InstanceNormalization, LayerNormalization, LRN and
// MeanVarianceNormalization reference kernels.
#include <cmath>
#include <string>
#include <type_traits>
#include <vector>

#include "kernels/reference/common.h"
#include "kernels/reference/reference.h"

namespace qdiff::kernels::ref {
namespace {

Status check_float(const char* op, size_t i, const Tensor& t, DType want) {
  if (t.dtype() != want) {
    if (want == DType::kFloat32 || want == DType::kFloat64)
      return dtype_error(op, i, t.dtype(), "float32 or float64 (same as X)");
  }
  return Status::ok_status();
}

template <typename T>
double at(const Tensor& t, int64_t i) {
  return static_cast<double>(t.data<T>()[i]);
}

// BatchNormalization over [N, C, inner]: `per_act` parameters have C*inner entries.
template <typename T>
void batchnorm_compute(const Tensor& x, const Tensor& scale, const Tensor& bias,
                       const std::vector<double>& mean, const std::vector<double>& var, double eps,
                       bool per_act, Tensor* y) {
  const int64_t N = x.dim(0), C = x.rank() > 1 ? x.dim(1) : 1;
  const int64_t inner = C == 0 || N == 0 ? 0 : x.numel() / (N * C);
  const T* xd = x.data<T>();
  T* yd = y->mutable_data<T>();
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t i = 0; i < inner; ++i) {
        const int64_t k = (n * C + c) * inner + i;
        const int64_t p = per_act ? c * inner + i : c;
        const size_t ps = static_cast<size_t>(p);
        const double v =
            (static_cast<double>(xd[k]) - mean[ps]) / std::sqrt(var[ps] + eps) * at<T>(scale, p) +
            at<T>(bias, p);
        yd[k] = static_cast<T>(v);
      }
}

template <typename T>
Status batchnorm_typed(KernelContext& ctx, const Tensor& x, const Tensor& scale, const Tensor& bias,
                       const Tensor& mean_t, const Tensor& var_t, double eps, double momentum,
                       bool training, bool per_act) {
  const int64_t N = x.dim(0), C = x.dim(1);
  const int64_t inner = C == 0 || N == 0 ? 0 : x.numel() / (N * C);
  const int64_t np = per_act ? C * inner : C;
  std::vector<double> mean(static_cast<size_t>(np)), var(static_cast<size_t>(np));
  for (int64_t p = 0; p < np; ++p) {
    mean[static_cast<size_t>(p)] = static_cast<double>(mean_t.data<T>()[p]);
    var[static_cast<size_t>(p)] = static_cast<double>(var_t.data<T>()[p]);
  }
  if (!training) {
    QDIFF_ASSIGN_OR_RETURN(Tensor * y, ctx.alloc_output(0, x.dtype(), x.shape()));
    batchnorm_compute<T>(x, scale, bias, mean, var, eps, per_act, y);
    // Old exporters (opset < 14) may list the training outputs even for inference: give them
    // the running statistics so that no output is left undefined.
    for (size_t i = 1; i < ctx.outputs.size(); ++i) ctx.set_output(i, i % 2 == 1 ? mean_t : var_t);
    return Status::ok_status();
  }
  // Training mode: normalise with the batch statistics (population variance) and output the
  // updated running statistics.
  std::vector<double> bmean(static_cast<size_t>(C), 0.0), bvar(static_cast<size_t>(C), 0.0);
  const T* xd = x.data<T>();
  const double count = static_cast<double>(N * inner);
  for (int64_t c = 0; c < C; ++c) {
    double s = 0;
    for (int64_t n = 0; n < N; ++n)
      for (int64_t i = 0; i < inner; ++i) s += static_cast<double>(xd[(n * C + c) * inner + i]);
    const double m = count > 0 ? s / count : 0.0;
    double sq = 0;
    for (int64_t n = 0; n < N; ++n)
      for (int64_t i = 0; i < inner; ++i) {
        const double d = static_cast<double>(xd[(n * C + c) * inner + i]) - m;
        sq += d * d;
      }
    bmean[static_cast<size_t>(c)] = m;
    bvar[static_cast<size_t>(c)] = count > 0 ? sq / count : 0.0;
  }
  QDIFF_ASSIGN_OR_RETURN(Tensor * y, ctx.alloc_output(0, x.dtype(), x.shape()));
  batchnorm_compute<T>(x, scale, bias, bmean, bvar, eps, false, y);
  const qdiff::Shape cs = {C};
  if (ctx.outputs.size() > 1) {
    QDIFF_ASSIGN_OR_RETURN(Tensor * rm, ctx.alloc_output(1, mean_t.dtype(), cs));
    for (int64_t c = 0; c < C; ++c) {
      const size_t cc = static_cast<size_t>(c);
      rm->mutable_data<T>()[c] = static_cast<T>(mean[cc] * momentum + bmean[cc] * (1 - momentum));
    }
  }
  if (ctx.outputs.size() > 2) {
    QDIFF_ASSIGN_OR_RETURN(Tensor * rv, ctx.alloc_output(2, var_t.dtype(), cs));
    for (int64_t c = 0; c < C; ++c) {
      const size_t cc = static_cast<size_t>(c);
      rv->mutable_data<T>()[c] = static_cast<T>(var[cc] * momentum + bvar[cc] * (1 - momentum));
    }
  }
  return Status::ok_status();
}

}  // namespace

Status BatchNormalization(KernelContext& ctx) {
  QDIFF_ASSIGN_OR_RETURN(const Tensor* x, required_input(ctx, 0));
  const Tensor* params[4];
  for (size_t i = 0; i < 4; ++i) {
    QDIFF_ASSIGN_OR_RETURN(params[i], required_input(ctx, i + 1));
  }
  if (x->dtype() != DType::kFloat32 && x->dtype() != DType::kFloat64)
    return dtype_error("BatchNormalization", 0, x->dtype(), "float32 or float64");
  for (size_t i = 0; i < 4; ++i)
    if (params[i]->dtype() != x->dtype())
      return dtype_error("BatchNormalization", i + 1, params[i]->dtype(),
                         "the type of X (mixed precision is not supported)");
  if (x->rank() < 2)
    return invalid_model("BatchNormalization: X must have rank >= 2, got " +
                         shape_to_string(x->shape()));
  QDIFF_ASSIGN_OR_RETURN(float eps, ctx.attrs.get_float("epsilon", 1e-5f));
  QDIFF_ASSIGN_OR_RETURN(float momentum, ctx.attrs.get_float("momentum", 0.9f));
  int64_t spatial = 1;
  if (ctx.opset < 9) {
    QDIFF_ASSIGN_OR_RETURN(spatial, ctx.attrs.get_int("spatial", 1));
  }
  int64_t training = 0;
  if (ctx.opset >= 14) {
    QDIFF_ASSIGN_OR_RETURN(training, ctx.attrs.get_int("training_mode", 0));
  }
  const int64_t C = x->dim(1);
  const qdiff::Shape per_act_shape(x->shape().begin() + 1, x->shape().end());
  bool per_act = false;
  for (size_t i = 0; i < 4; ++i) {
    const Tensor& p = *params[i];
    if (p.rank() == 1 && p.dim(0) == C) continue;
    if (spatial == 0 && p.shape() == per_act_shape) {
      per_act = true;
      continue;
    }
    return invalid_model("BatchNormalization: parameter input " + str(static_cast<int64_t>(i + 1)) +
                         " has shape " + shape_to_string(p.shape()) + ", expected [" + str(C) +
                         "]");
  }
  if (per_act)
    for (size_t i = 0; i < 4; ++i)
      if (params[i]->shape() != per_act_shape)
        return invalid_model("BatchNormalization: with spatial=0 all parameters must have shape " +
                             shape_to_string(per_act_shape));
  if (training && per_act) return unsupported("BatchNormalization: training mode with spatial=0");
  if (x->dtype() == DType::kFloat32)
    return batchnorm_typed<float>(ctx, *x, *params[0], *params[1], *params[2], *params[3], eps,
                                  momentum, training != 0, per_act);
  return batchnorm_typed<double>(ctx, *x, *params[0], *params[1], *params[2], *params[3], eps,
                                 momentum, training != 0, per_act);
}

Status InstanceNormalization(KernelContext& ctx) {
  QDIFF_ASSIGN_OR_RETURN(const Tensor* x, required_input(ctx, 0));
  QDIFF_ASSIGN_OR_RETURN(const Tensor* scale, required_input(ctx, 1));
  QDIFF_ASSIGN_OR_RETURN(const Tensor* bias, required_input(ctx, 2));
  if (x->dtype() != DType::kFloat32 && x->dtype() != DType::kFloat64)
    return dtype_error("InstanceNormalization", 0, x->dtype(), "float32 or float64");
  QDIFF_RETURN_IF_ERROR(check_float("InstanceNormalization", 1, *scale, x->dtype()));
  QDIFF_RETURN_IF_ERROR(check_float("InstanceNormalization", 2, *bias, x->dtype()));
  if (x->rank() < 3)
    return invalid_model("InstanceNormalization: X must have rank >= 3, got " +
                         shape_to_string(x->shape()));
  const int64_t N = x->dim(0), C = x->dim(1);
  for (const Tensor* p : {scale, bias})
    if (p->rank() != 1 || p->dim(0) != C)
      return invalid_model("InstanceNormalization: scale and B must have shape [" + str(C) +
                           "], got " + shape_to_string(p->shape()));
  QDIFF_ASSIGN_OR_RETURN(float eps, ctx.attrs.get_float("epsilon", 1e-5f));
  QDIFF_ASSIGN_OR_RETURN(Tensor * y, ctx.alloc_output(0, x->dtype(), x->shape()));
  const int64_t inner = N == 0 || C == 0 ? 0 : x->numel() / (N * C);
  visit_dtype(x->dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_floating_point_v<T>) {
      const T* xd = x->data<T>();
      T* yd = y->mutable_data<T>();
      for (int64_t n = 0; n < N; ++n)
        for (int64_t c = 0; c < C; ++c) {
          const T* xs = xd + (n * C + c) * inner;
          T* ys = yd + (n * C + c) * inner;
          double s = 0;
          for (int64_t i = 0; i < inner; ++i) s += static_cast<double>(xs[i]);
          const double mean = inner > 0 ? s / static_cast<double>(inner) : 0.0;
          double sq = 0;
          for (int64_t i = 0; i < inner; ++i) {
            const double d = static_cast<double>(xs[i]) - mean;
            sq += d * d;
          }
          const double var = inner > 0 ? sq / static_cast<double>(inner) : 0.0;
          const double inv = 1.0 / std::sqrt(var + static_cast<double>(eps));
          const double sc = at<T>(*scale, c), b = at<T>(*bias, c);
          for (int64_t i = 0; i < inner; ++i)
            ys[i] = static_cast<T>((static_cast<double>(xs[i]) - mean) * inv * sc + b);
        }
    }
  });
  return Status::ok_status();
}

Status LayerNormalization(KernelContext& ctx) {
  QDIFF_ASSIGN_OR_RETURN(const Tensor* x, required_input(ctx, 0));
  QDIFF_ASSIGN_OR_RETURN(const Tensor* scale, required_input(ctx, 1));
  const Tensor* bias = ctx.input(2);
  if (bias && !bias->defined()) bias = nullptr;
  if (x->dtype() != DType::kFloat32 && x->dtype() != DType::kFloat64)
    return dtype_error("LayerNormalization", 0, x->dtype(), "float32 or float64");
  QDIFF_RETURN_IF_ERROR(check_float("LayerNormalization", 1, *scale, x->dtype()));
  if (bias) QDIFF_RETURN_IF_ERROR(check_float("LayerNormalization", 2, *bias, x->dtype()));
  QDIFF_ASSIGN_OR_RETURN(int64_t axis_attr, ctx.attrs.get_int("axis", -1));
  QDIFF_ASSIGN_OR_RETURN(float eps, ctx.attrs.get_float("epsilon", 1e-5f));
  QDIFF_ASSIGN_OR_RETURN(int64_t stash_type, ctx.attrs.get_int("stash_type", 1));
  (void)stash_type;  // statistics are computed in double, then stored as float
  if (x->rank() == 0) return invalid_model("LayerNormalization: X must have rank >= 1");
  QDIFF_ASSIGN_OR_RETURN(int64_t axis, normalize_axis(axis_attr, x->rank()));
  const qdiff::Shape norm_shape(x->shape().begin() + axis, x->shape().end());
  for (const Tensor* p : {scale, bias}) {
    if (!p) continue;
    auto bs = broadcast_shapes(p->shape(), norm_shape);
    if (!bs.ok() || bs.value() != norm_shape)
      return invalid_model("LayerNormalization: Scale/B shape " + shape_to_string(p->shape()) +
                           " cannot be broadcast to the normalized shape " +
                           shape_to_string(norm_shape));
  }
  const int64_t cols = shape_numel(norm_shape).value_or(0);
  const int64_t rows = cols == 0 ? 0 : x->numel() / cols;
  qdiff::Shape stat_shape(x->shape().begin(), x->shape().begin() + axis);
  stat_shape.resize(static_cast<size_t>(x->rank()), 1);
  QDIFF_ASSIGN_OR_RETURN(Tensor * y, ctx.alloc_output(0, x->dtype(), x->shape()));
  Tensor* mean_out = nullptr;
  Tensor* inv_out = nullptr;
  if (ctx.outputs.size() > 1) {
    QDIFF_ASSIGN_OR_RETURN(mean_out, ctx.alloc_output(1, x->dtype(), stat_shape));
  }
  if (ctx.outputs.size() > 2) {
    QDIFF_ASSIGN_OR_RETURN(inv_out, ctx.alloc_output(2, x->dtype(), stat_shape));
  }
  const std::vector<int64_t> smap = broadcast_index_map(scale->shape(), norm_shape);
  const std::vector<int64_t> bmap =
      bias ? broadcast_index_map(bias->shape(), norm_shape) : std::vector<int64_t>();
  visit_dtype(x->dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_floating_point_v<T>) {
      const T* xd = x->data<T>();
      T* yd = y->mutable_data<T>();
      for (int64_t r = 0; r < rows; ++r) {
        const T* xs = xd + r * cols;
        double s = 0;
        for (int64_t i = 0; i < cols; ++i) s += static_cast<double>(xs[i]);
        const double mean = s / static_cast<double>(cols);
        double sq = 0;
        for (int64_t i = 0; i < cols; ++i) {
          const double d = static_cast<double>(xs[i]) - mean;
          sq += d * d;
        }
        const double inv = 1.0 / std::sqrt(sq / static_cast<double>(cols) + eps);
        for (int64_t i = 0; i < cols; ++i) {
          double v = (static_cast<double>(xs[i]) - mean) * inv *
                     at<T>(*scale, smap[static_cast<size_t>(i)]);
          if (bias) v += at<T>(*bias, bmap[static_cast<size_t>(i)]);
          yd[r * cols + i] = static_cast<T>(v);
        }
        if (mean_out) mean_out->mutable_data<T>()[r] = static_cast<T>(mean);
        if (inv_out) inv_out->mutable_data<T>()[r] = static_cast<T>(inv);
      }
    }
  });
  return Status::ok_status();
}

// LRN over the channel axis of [N, C, ...]: y = x / (bias + alpha / size * sum_sq)^beta, where
// sum_sq sums x^2 over channels [c - floor((size-1)/2), c + ceil((size-1)/2)] clipped to [0, C).
Status LRN(KernelContext& ctx) {
  QDIFF_ASSIGN_OR_RETURN(const Tensor* x, required_input(ctx, 0));
  if (x->dtype() != DType::kFloat32 && x->dtype() != DType::kFloat64)
    return dtype_error("LRN", 0, x->dtype(), "float32 or float64");
  if (x->rank() < 2)
    return invalid_argument("LRN: X must have rank >= 2, got " + shape_to_string(x->shape()));
  if (!ctx.attrs.has("size")) return invalid_model("LRN: missing required attribute 'size'");
  QDIFF_ASSIGN_OR_RETURN(int64_t size, ctx.attrs.get_int("size", 1));
  if (size < 1) return invalid_model("LRN: size must be >= 1, got " + str(size));
  QDIFF_ASSIGN_OR_RETURN(float alpha, ctx.attrs.get_float("alpha", 1e-4f));
  QDIFF_ASSIGN_OR_RETURN(float beta, ctx.attrs.get_float("beta", 0.75f));
  QDIFF_ASSIGN_OR_RETURN(float bias, ctx.attrs.get_float("bias", 1.0f));
  QDIFF_ASSIGN_OR_RETURN(Tensor * y, ctx.alloc_output(0, x->dtype(), x->shape()));
  const int64_t N = x->dim(0), C = x->dim(1);
  const int64_t inner = N == 0 || C == 0 ? 0 : x->numel() / (N * C);
  const int64_t before = (size - 1) / 2;
  const int64_t after = size / 2;  // ceil((size - 1) / 2)
  visit_dtype(x->dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_floating_point_v<T>) {
      const T* xd = x->data<T>();
      T* yd = y->mutable_data<T>();
      for (int64_t n = 0; n < N; ++n)
        for (int64_t c = 0; c < C; ++c) {
          const int64_t lo = c < before ? 0 : c - before;
          const int64_t hi = C - 1 - c < after ? C - 1 : c + after;
          for (int64_t i = 0; i < inner; ++i) {
            double sq = 0;
            for (int64_t cc = lo; cc <= hi; ++cc) {
              const double v = static_cast<double>(xd[(n * C + cc) * inner + i]);
              sq += v * v;
            }
            const int64_t k = (n * C + c) * inner + i;
            const double d = static_cast<double>(bias) +
                             static_cast<double>(alpha) / static_cast<double>(size) * sq;
            yd[k] =
                static_cast<T>(static_cast<double>(xd[k]) / std::pow(d, static_cast<double>(beta)));
          }
        }
    }
  });
  return Status::ok_status();
}

// MeanVarianceNormalization: y = (x - mean) / (sqrt(var) + 1e-9) over `axes` (default
// [0, 2, 3]), with the population variance E[x^2] - E[x]^2 (computed as E[(x - mean)^2]).
Status MeanVarianceNormalization(KernelContext& ctx) {
  QDIFF_ASSIGN_OR_RETURN(const Tensor* x, required_input(ctx, 0));
  if (x->dtype() != DType::kFloat32 && x->dtype() != DType::kFloat64)
    return dtype_error("MeanVarianceNormalization", 0, x->dtype(), "float32 or float64");
  QDIFF_ASSIGN_OR_RETURN(std::vector<int64_t> axes, ctx.attrs.get_ints("axes", {0, 2, 3}));
  const int64_t rank = x->rank();
  std::vector<bool> reduce(static_cast<size_t>(rank), false);
  for (int64_t a : axes) {
    if (a < -rank || a >= rank)
      return invalid_model("MeanVarianceNormalization: axis " + str(a) + " out of range for rank " +
                           str(rank));
    reduce[static_cast<size_t>(a < 0 ? a + rank : a)] = true;
  }
  QDIFF_ASSIGN_OR_RETURN(Tensor * y, ctx.alloc_output(0, x->dtype(), x->shape()));
  const int64_t n = x->numel();
  if (n == 0) return Status::ok_status();
  // Group id of each element: its flat index over the kept dims.
  std::vector<int64_t> group(static_cast<size_t>(n));
  int64_t groups = 1;
  {
    std::vector<int64_t> gstride(static_cast<size_t>(rank), 0);
    for (int64_t d = rank - 1; d >= 0; --d) {
      if (!reduce[static_cast<size_t>(d)]) {
        gstride[static_cast<size_t>(d)] = groups;
        groups *= x->dim(d);
      }
    }
    std::vector<int64_t> idx(static_cast<size_t>(rank), 0);
    for (int64_t i = 0; i < n; ++i) {
      int64_t g = 0;
      for (size_t d = 0; d < idx.size(); ++d) g += idx[d] * gstride[d];
      group[static_cast<size_t>(i)] = g;
      for (size_t d = idx.size(); d-- > 0;) {
        if (++idx[d] < x->shape()[d]) break;
        idx[d] = 0;
      }
    }
  }
  const int64_t count = n / groups;
  visit_dtype(x->dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_floating_point_v<T>) {
      const T* xd = x->data<T>();
      T* yd = y->mutable_data<T>();
      std::vector<double> mean(static_cast<size_t>(groups), 0.0), var(mean);
      for (int64_t i = 0; i < n; ++i)
        mean[static_cast<size_t>(group[static_cast<size_t>(i)])] += static_cast<double>(xd[i]);
      for (double& m : mean) m /= static_cast<double>(count);
      for (int64_t i = 0; i < n; ++i) {
        const size_t g = static_cast<size_t>(group[static_cast<size_t>(i)]);
        const double d = static_cast<double>(xd[i]) - mean[g];
        var[g] += d * d;
      }
      for (int64_t i = 0; i < n; ++i) {
        const size_t g = static_cast<size_t>(group[static_cast<size_t>(i)]);
        const double sd = std::sqrt(var[g] / static_cast<double>(count));
        yd[i] = static_cast<T>((static_cast<double>(xd[i]) - mean[g]) / (sd + 1e-9));
      }
    }
  });
  return Status::ok_status();
}

}  // namespace qdiff::kernels::ref
