// Softmax, LogSoftmax and Hardmax reference kernels (opset < 13: 2-D coercion at axis; >= 13:
// one axis). Hardmax puts 1 at the first maximum of each line (NaN counts as the maximum).
#include <cmath>
#include <string>
#include <type_traits>
#include <vector>

#include "kernels/reference/common.h"
#include "kernels/reference/reference.h"

namespace qdiff::kernels::ref {
namespace {

// Softmax over `n` elements spaced `stride` apart, starting at x/y.
enum class Mode { kSoftmax, kLogSoftmax, kHardmax };

template <typename T>
void hardmax_line(const T* x, T* y, int64_t n, int64_t stride) {
  int64_t best = 0;
  for (int64_t i = 0; i < n; ++i) {
    y[i * stride] = T{0};
    if (std::isnan(x[best * stride])) continue;
    if (std::isnan(x[i * stride]) || x[i * stride] > x[best * stride]) best = i;
  }
  if (n > 0) y[best * stride] = T{1};
}

template <typename T, bool kLog>
void softmax_line(const T* x, T* y, int64_t n, int64_t stride) {
  double mx = -INFINITY;
  for (int64_t i = 0; i < n; ++i) mx = std::max(mx, static_cast<double>(x[i * stride]));
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += std::exp(static_cast<double>(x[i * stride]) - mx);
  for (int64_t i = 0; i < n; ++i) {
    const double d = static_cast<double>(x[i * stride]) - mx;
    y[i * stride] = static_cast<T>(kLog ? d - std::log(sum) : std::exp(d) / sum);
  }
}

template <Mode kMode>
Status softmax_impl(KernelContext& ctx, const char* op) {
  QDIFF_ASSIGN_OR_RETURN(const Tensor* x, required_input(ctx, 0));
  if (x->dtype() != DType::kFloat32 && x->dtype() != DType::kFloat64)
    return dtype_error(op, 0, x->dtype(), "float32 or float64");
  const bool legacy = ctx.opset < 13;
  QDIFF_ASSIGN_OR_RETURN(int64_t axis_attr, ctx.attrs.get_int("axis", legacy ? 1 : -1));
  int64_t axis = 0;
  if (x->rank() == 0) {
    if (axis_attr != 0 && axis_attr != -1 && !(legacy && axis_attr == 1))
      return invalid_model(std::string(op) + ": axis out of range for a scalar");
  } else {
    QDIFF_ASSIGN_OR_RETURN(axis, normalize_axis(axis_attr, x->rank()));
  }
  // Lines: outer x n x inner; the softmax runs over n with stride inner.
  int64_t outer = 1, n = 1, inner = 1;
  for (int64_t d = 0; d < x->rank(); ++d) {
    if (d < axis)
      outer *= x->dim(d);
    else if (d == axis || legacy)
      n *= x->dim(d);
    else
      inner *= x->dim(d);
  }
  QDIFF_ASSIGN_OR_RETURN(Tensor * y, ctx.alloc_output(0, x->dtype(), x->shape()));
  if (x->numel() == 0) return Status::ok_status();
  visit_dtype(x->dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_floating_point_v<T>) {
      const T* xd = x->data<T>();
      T* yd = y->mutable_data<T>();
      for (int64_t o = 0; o < outer; ++o)
        for (int64_t i = 0; i < inner; ++i)
          if constexpr (kMode == Mode::kHardmax) {
            hardmax_line<T>(xd + o * n * inner + i, yd + o * n * inner + i, n, inner);
          } else {
            softmax_line<T, kMode == Mode::kLogSoftmax>(xd + o * n * inner + i,
                                                        yd + o * n * inner + i, n, inner);
          }
    }
  });
  return Status::ok_status();
}

}  // namespace

Status Softmax(KernelContext& ctx) {
  return softmax_impl<Mode::kSoftmax>(ctx, "Softmax");
}

Status LogSoftmax(KernelContext& ctx) {
  return softmax_impl<Mode::kLogSoftmax>(ctx, "LogSoftmax");
}

Status Hardmax(KernelContext& ctx) {
  return softmax_impl<Mode::kHardmax>(ctx, "Hardmax");
}

}  // namespace qdiff::kernels::ref
