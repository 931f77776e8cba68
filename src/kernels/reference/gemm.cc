// Gemm and MatMul reference kernels.
#include <string>
#include <type_traits>
#include <vector>

#include "kernels/reference/common.h"
#include "kernels/reference/reference.h"

namespace qdiff::kernels::ref {
namespace {

template <typename T>
void gemm_compute(const Tensor& a, const Tensor& b, const Tensor* c, bool trans_a, bool trans_b,
                  double alpha, double beta, int64_t M, int64_t K, int64_t N, Tensor* y) {
  const T* ad = a.data<T>();
  const T* bd = b.data<T>();
  T* yd = y->mutable_data<T>();
  std::vector<int64_t> cmap;
  const T* cd = nullptr;
  if (c) {
    cmap = broadcast_index_map(c->shape(), {M, N});
    cd = c->data<T>();
  }
  for (int64_t i = 0; i < M; ++i) {
    for (int64_t j = 0; j < N; ++j) {
      double acc = 0.0;
      for (int64_t k = 0; k < K; ++k) {
        const double av = static_cast<double>(trans_a ? ad[k * M + i] : ad[i * K + k]);
        const double bv = static_cast<double>(trans_b ? bd[j * K + k] : bd[k * N + j]);
        acc += av * bv;
      }
      double v = alpha * acc;
      if (cd) v += beta * static_cast<double>(cd[cmap[static_cast<size_t>(i * N + j)]]);
      yd[i * N + j] = static_cast<T>(v);
    }
  }
}

// Batched matmul: a_off/b_off give, per output batch, the batch offsets (in matrices) into A, B.
template <typename T>
void matmul_compute(const T* ad, const T* bd, T* yd, const std::vector<int64_t>& a_map,
                    const std::vector<int64_t>& b_map, int64_t M, int64_t K, int64_t N) {
  for (size_t batch = 0; batch < a_map.size(); ++batch) {
    const T* am = ad + a_map[batch] * M * K;
    const T* bm = bd + b_map[batch] * K * N;
    T* ym = yd + static_cast<int64_t>(batch) * M * N;
    for (int64_t i = 0; i < M; ++i) {
      for (int64_t j = 0; j < N; ++j) {
        if constexpr (std::is_floating_point_v<T>) {
          double acc = 0.0;
          for (int64_t k = 0; k < K; ++k)
            acc += static_cast<double>(am[i * K + k]) * static_cast<double>(bm[k * N + j]);
          ym[i * N + j] = static_cast<T>(acc);
        } else {
          // Integer matmul wraps modulo 2^bits (computed unsigned: no signed overflow).
          uint64_t acc = 0;
          for (int64_t k = 0; k < K; ++k)
            acc += static_cast<uint64_t>(am[i * K + k]) * static_cast<uint64_t>(bm[k * N + j]);
          ym[i * N + j] = static_cast<T>(acc);
        }
      }
    }
  }
}

}  // namespace

Status Gemm(KernelContext& ctx) {
  QDIFF_ASSIGN_OR_RETURN(const Tensor* a, required_input(ctx, 0));
  QDIFF_ASSIGN_OR_RETURN(const Tensor* b, required_input(ctx, 1));
  const Tensor* c = ctx.input(2);
  if (c && !c->defined()) c = nullptr;
  if (a->dtype() != DType::kFloat32 && a->dtype() != DType::kFloat64)
    return dtype_error("Gemm", 0, a->dtype(), "float32 or float64");
  if (b->dtype() != a->dtype()) return dtype_error("Gemm", 1, b->dtype(), "the type of A");
  if (c && c->dtype() != a->dtype()) return dtype_error("Gemm", 2, c->dtype(), "the type of A");
  if (a->rank() != 2 || b->rank() != 2)
    return invalid_model("Gemm: A and B must be 2-D, got " + shape_to_string(a->shape()) + " and " +
                         shape_to_string(b->shape()));
  QDIFF_ASSIGN_OR_RETURN(float alpha, ctx.attrs.get_float("alpha", 1.0f));
  QDIFF_ASSIGN_OR_RETURN(float beta, ctx.attrs.get_float("beta", 1.0f));
  QDIFF_ASSIGN_OR_RETURN(int64_t trans_a, ctx.attrs.get_int("transA", 0));
  QDIFF_ASSIGN_OR_RETURN(int64_t trans_b, ctx.attrs.get_int("transB", 0));
  const int64_t M = trans_a ? a->dim(1) : a->dim(0);
  const int64_t K = trans_a ? a->dim(0) : a->dim(1);
  const int64_t Kb = trans_b ? b->dim(1) : b->dim(0);
  const int64_t N = trans_b ? b->dim(0) : b->dim(1);
  if (K != Kb)
    return invalid_argument("Gemm: inner dimensions differ: A' is [" + str(M) + "," + str(K) +
                            "], B' is [" + str(Kb) + "," + str(N) + "]");
  if (c) {
    if (c->rank() > 2)
      return invalid_model("Gemm: C must have rank <= 2, got " + shape_to_string(c->shape()));
    auto bs = broadcast_shapes(c->shape(), {M, N});
    if (!bs.ok() || bs.value() != qdiff::Shape{M, N})
      return invalid_argument("Gemm: C of shape " + shape_to_string(c->shape()) +
                              " cannot be broadcast to [" + str(M) + "," + str(N) + "]");
  }
  QDIFF_ASSIGN_OR_RETURN(Tensor * y, ctx.alloc_output(0, a->dtype(), {M, N}));
  if (a->dtype() == DType::kFloat32)
    gemm_compute<float>(*a, *b, c, trans_a != 0, trans_b != 0, alpha, beta, M, K, N, y);
  else
    gemm_compute<double>(*a, *b, c, trans_a != 0, trans_b != 0, alpha, beta, M, K, N, y);
  return Status::ok_status();
}

Status MatMul(KernelContext& ctx) {
  QDIFF_ASSIGN_OR_RETURN(const Tensor* a, required_input(ctx, 0));
  QDIFF_ASSIGN_OR_RETURN(const Tensor* b, required_input(ctx, 1));
  const DType dt = a->dtype();
  if (dt != DType::kFloat32 && dt != DType::kFloat64 && dt != DType::kInt32 &&
      dt != DType::kInt64 && dt != DType::kUInt32 && dt != DType::kUInt64)
    return dtype_error("MatMul", 0, dt, "float32, float64, int32, int64, uint32 or uint64");
  if (b->dtype() != dt) return dtype_error("MatMul", 1, b->dtype(), "the type of A");
  if (a->rank() == 0 || b->rank() == 0) return invalid_model("MatMul: inputs must have rank >= 1");
  // 1-D promotion: A [K] -> [1,K]; B [K] -> [K,1]; the added dims are removed from the result.
  qdiff::Shape as = a->shape(), bs = b->shape();
  const bool a_vec = as.size() == 1, b_vec = bs.size() == 1;
  if (a_vec) as.insert(as.begin(), 1);
  if (b_vec) bs.push_back(1);
  const int64_t M = as[as.size() - 2], K = as.back();
  const int64_t Kb = bs[bs.size() - 2], N = bs.back();
  if (K != Kb)
    return invalid_argument("MatMul: inner dimensions differ: " + shape_to_string(a->shape()) +
                            " x " + shape_to_string(b->shape()));
  const qdiff::Shape a_batch(as.begin(), as.end() - 2), b_batch(bs.begin(), bs.end() - 2);
  QDIFF_ASSIGN_OR_RETURN(qdiff::Shape batch, broadcast_shapes(a_batch, b_batch));
  qdiff::Shape out = batch;
  if (!a_vec) out.push_back(M);
  if (!b_vec) out.push_back(N);
  QDIFF_ASSIGN_OR_RETURN(Tensor * y, ctx.alloc_output(0, dt, out));
  const std::vector<int64_t> a_map = broadcast_index_map(a_batch, batch);
  const std::vector<int64_t> b_map = broadcast_index_map(b_batch, batch);
  visit_dtype(dt, [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double> ||
                  std::is_same_v<T, int32_t> || std::is_same_v<T, int64_t> ||
                  std::is_same_v<T, uint32_t> || std::is_same_v<T, uint64_t>)
      matmul_compute<T>(a->data<T>(), b->data<T>(), y->mutable_data<T>(), a_map, b_map, M, K, N);
  });
  return Status::ok_status();
}

}  // namespace qdiff::kernels::ref
