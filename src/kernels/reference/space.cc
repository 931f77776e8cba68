// DepthToSpace (DCR and CRD modes) and SpaceToDepth reference kernels (any dtype: data movement).
#include <cstring>
#include <string>

#include "kernels/reference/common.h"
#include "kernels/reference/reference.h"

namespace qdiff::kernels::ref {
namespace {

Status check_input(const char* op, const Tensor& x, int64_t b) {
  if (x.rank() != 4)
    return invalid_model(std::string(op) + ": input must be 4-D, got " +
                         shape_to_string(x.shape()));
  if (dtype_size(x.dtype()) == 0) return dtype_error(op, 0, x.dtype(), "a numeric or bool type");
  if (b < 1 || b > (int64_t{1} << 20))
    return invalid_model(std::string(op) + ": blocksize must be >= 1, got " + str(b));
  return Status::ok_status();
}

void copy_elem(const Tensor& x, int64_t src, Tensor* y, int64_t dst) {
  const size_t es = dtype_size(x.dtype());
  std::memcpy(y->raw_mutable() + static_cast<size_t>(dst) * es,
              x.raw() + static_cast<size_t>(src) * es, es);
}

}  // namespace

Status DepthToSpace(KernelContext& ctx) {
  QDIFF_ASSIGN_OR_RETURN(const Tensor* x, required_input(ctx, 0));
  QDIFF_ASSIGN_OR_RETURN(int64_t b, ctx.attrs.get_int("blocksize", 0));
  QDIFF_RETURN_IF_ERROR(check_input("DepthToSpace", *x, b));
  QDIFF_ASSIGN_OR_RETURN(std::string mode, ctx.attrs.get_string("mode", "DCR"));
  if (mode != "DCR" && mode != "CRD")
    return invalid_model("DepthToSpace: mode must be DCR or CRD, got '" + mode + "'");
  const int64_t N = x->dim(0), C = x->dim(1), H = x->dim(2), W = x->dim(3);
  if (C % (b * b) != 0)
    return invalid_model("DepthToSpace: channels " + str(C) + " not divisible by blocksize^2 " +
                         str(b * b));
  const int64_t Co = C / (b * b);
  QDIFF_ASSIGN_OR_RETURN(Tensor * y, ctx.alloc_output(0, x->dtype(), {N, Co, H * b, W * b}));
  int64_t dst = 0;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < Co; ++c)
      for (int64_t h = 0; h < H; ++h)
        for (int64_t i = 0; i < b; ++i)
          for (int64_t w = 0; w < W; ++w)
            for (int64_t j = 0; j < b; ++j) {
              const int64_t ci = mode == "DCR" ? (i * b + j) * Co + c : (c * b + i) * b + j;
              copy_elem(*x, ((n * C + ci) * H + h) * W + w, y, dst++);
            }
  return Status::ok_status();
}

Status SpaceToDepth(KernelContext& ctx) {
  QDIFF_ASSIGN_OR_RETURN(const Tensor* x, required_input(ctx, 0));
  QDIFF_ASSIGN_OR_RETURN(int64_t b, ctx.attrs.get_int("blocksize", 0));
  QDIFF_RETURN_IF_ERROR(check_input("SpaceToDepth", *x, b));
  const int64_t N = x->dim(0), C = x->dim(1), H = x->dim(2), W = x->dim(3);
  if (H % b != 0 || W % b != 0)
    return invalid_model("SpaceToDepth: spatial dims " + str(H) + "x" + str(W) +
                         " not divisible by blocksize " + str(b));
  const int64_t Ho = H / b, Wo = W / b, Co = C * b * b;
  QDIFF_ASSIGN_OR_RETURN(Tensor * y, ctx.alloc_output(0, x->dtype(), {N, Co, Ho, Wo}));
  int64_t dst = 0;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t i = 0; i < b; ++i)
      for (int64_t j = 0; j < b; ++j)
        for (int64_t c = 0; c < C; ++c)
          for (int64_t h = 0; h < Ho; ++h)
            for (int64_t w = 0; w < Wo; ++w)
              copy_elem(*x, ((n * C + c) * H + h * b + i) * W + w * b + j, y, dst++);
  return Status::ok_status();
}

}  // namespace qdiff::kernels::ref
