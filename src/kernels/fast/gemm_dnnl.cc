// Fast float32 Gemm and MatMul on oneDNN's matmul primitive ("dnnl:gemm", "dnnl:matmul").
//
// Gemm: any transA/transB, alpha == 1, and C absent or (beta == 1 and C broadcastable to
// [M, N], passed as the matmul bias). MatMul: A of rank >= 2 (its leading dims are flattened
// into rows) times a 2-D B. Other cases (batched B, 1-D operands, alpha/beta scaling,
// non-float32) fall back to the reference kernels.
//
// B is usually an initializer: it is reordered once into the layout oneDNN picks and kept
// while the same storage comes in. The primitive is cached per node, keyed by the shapes and
// the thread count.
#include <algorithm>
#include <oneapi/dnnl/dnnl.hpp>
#include <string>
#include <unordered_map>

#include "kernels/fast/dnnl_common.h"
#include "kernels/fast/fast.h"

namespace qdiff::kernels::fast {

namespace {

using dnnl::memory;
using dnnl_detail::ThreadScope;
using Tag = memory::format_tag;
constexpr memory::data_type kF32 = memory::data_type::f32;

struct MatmulKey {
  int64_t m = 0, k = 0, n = 0;
  bool trans_a = false, trans_b = false;
  int64_t cm = 0, cn = 0;  // bias dims after broadcasting to rank 2; 0 = no bias
  int threads = 1;
  bool operator==(const MatmulKey&) const = default;
};

struct MatmulState final : KernelState {
  MatmulKey key;
  dnnl::stream stream;
  dnnl::matmul prim;
  memory::desc a_md, b_user_md, c_md, y_md;
  memory weights;       // B in the primitive's layout
  Tensor weights_from;  // the tensor `weights` came from (kept alive for the address compare)
  memory scratch;
};

// Runs y[M,N] = A' * B' (+ C) with A', B' the (optionally transposed) operands.
Status run_matmul(KernelContext& ctx, const char* name, const MatmulKey& key, const Tensor& a,
                  const Tensor& b, const Tensor* c, Tensor* y) {
  if (!ctx.state) return unsupported(std::string(name) + " needs a state slot");
  try {
    ThreadScope threads(key.threads);
    dnnl::engine& eng = dnnl_detail::cpu_engine();
    auto* st = dynamic_cast<MatmulState*>(ctx.state->get());
    if (!st || !(st->key == key)) {
      auto fresh = std::make_unique<MatmulState>();
      const memory::dim M = key.m, K = key.k, N = key.n;
      fresh->a_md =
          memory::desc({M, K}, kF32, key.trans_a ? memory::dims{1, M} : memory::dims{K, 1});
      fresh->b_user_md =
          memory::desc({K, N}, kF32, key.trans_b ? memory::dims{1, K} : memory::dims{N, 1});
      fresh->y_md = memory::desc({M, N}, kF32, Tag::ab);
      if (key.cm) fresh->c_md = memory::desc({key.cm, key.cn}, kF32, Tag::ab);
      const memory::desc b_any({K, N}, kF32, Tag::any);
      const dnnl::matmul::desc d =
          key.cm ? dnnl::matmul::desc(fresh->a_md, b_any, fresh->c_md, fresh->y_md)
                 : dnnl::matmul::desc(fresh->a_md, b_any, fresh->y_md);
      const dnnl::matmul::primitive_desc pd(d, dnnl_detail::strict_attr(), eng);
      fresh->prim = dnnl::matmul(pd);
      fresh->weights = memory(pd.weights_desc(), eng);
      fresh->scratch = memory(pd.scratchpad_desc(), eng);
      fresh->stream = dnnl::stream(eng);
      fresh->key = key;
      st = fresh.get();
      *ctx.state = std::move(fresh);
    }
    if (!st->weights_from.defined() || st->weights_from.raw() != b.raw()) {
      memory user_b(st->b_user_md, eng, const_cast<std::byte*>(b.raw()));
      dnnl::reorder(user_b, st->weights).execute(st->stream, user_b, st->weights);
      st->stream.wait();
      st->weights_from = b;
    }
    std::unordered_map<int, memory> args = {
        {DNNL_ARG_SRC, memory(st->a_md, eng, const_cast<std::byte*>(a.raw()))},
        {DNNL_ARG_WEIGHTS, st->weights},
        {DNNL_ARG_DST, memory(st->y_md, eng, y->raw_mutable())},
        {DNNL_ARG_SCRATCHPAD, st->scratch}};
    if (c) args[DNNL_ARG_BIAS] = memory(st->c_md, eng, const_cast<std::byte*>(c->raw()));
    st->prim.execute(st->stream, args);
    st->stream.wait();
  } catch (const dnnl::error& e) {
    ctx.set_output(0, Tensor());
    return unsupported(std::string(name) + ": oneDNN: " + e.what());
  }
  return Status::ok_status();
}

}  // namespace

Status Gemm(KernelContext& ctx) {
  const Tensor* a = ctx.input(0);
  const Tensor* b = ctx.input(1);
  const Tensor* c = ctx.input(2);
  if (c && !c->defined()) c = nullptr;
  if (!a || !b || !a->defined() || !b->defined()) return unsupported("dnnl:gemm: missing input");
  if (a->dtype() != DType::kFloat32 || b->dtype() != DType::kFloat32 ||
      (c && c->dtype() != DType::kFloat32))
    return unsupported("dnnl:gemm covers float32 only");
  if (a->rank() != 2 || b->rank() != 2) return unsupported("dnnl:gemm: A and B must be 2-D");
  auto alpha = ctx.attrs.get_float("alpha", 1.0f);
  auto beta = ctx.attrs.get_float("beta", 1.0f);
  auto ta = ctx.attrs.get_int("transA", 0);
  auto tb = ctx.attrs.get_int("transB", 0);
  if (!alpha.ok() || !beta.ok() || !ta.ok() || !tb.ok())
    return unsupported("dnnl:gemm: unreadable attributes");
  if (alpha.value() != 1.0f) return unsupported("dnnl:gemm: alpha != 1");
  if (c && beta.value() != 1.0f) return unsupported("dnnl:gemm: beta != 1");
  MatmulKey key;
  key.trans_a = ta.value() != 0;
  key.trans_b = tb.value() != 0;
  key.m = key.trans_a ? a->dim(1) : a->dim(0);
  key.k = key.trans_a ? a->dim(0) : a->dim(1);
  key.n = key.trans_b ? b->dim(0) : b->dim(1);
  if ((key.trans_b ? b->dim(1) : b->dim(0)) != key.k)
    return unsupported("dnnl:gemm: inner dimensions differ");
  if (key.m < 1 || key.k < 1 || key.n < 1) return unsupported("dnnl:gemm: empty operands");
  if (c) {
    // C broadcast to [M, N]: each of its (right-aligned) dims must be 1 or the full size.
    if (c->rank() > 2) return unsupported("dnnl:gemm: C rank > 2");
    key.cm = c->rank() == 2 ? c->dim(0) : 1;
    key.cn = c->rank() >= 1 ? c->dim(c->rank() - 1) : 1;
    if ((key.cm != 1 && key.cm != key.m) || (key.cn != 1 && key.cn != key.n))
      return unsupported("dnnl:gemm: C not broadcastable");
  }
  key.threads = std::max(1, ctx.threads);
  QDIFF_ASSIGN_OR_RETURN(Tensor * y, ctx.alloc_output(0, DType::kFloat32, {key.m, key.n}));
  return run_matmul(ctx, "dnnl:gemm", key, *a, *b, c, y);
}

Status MatMul(KernelContext& ctx) {
  const Tensor* a = ctx.input(0);
  const Tensor* b = ctx.input(1);
  if (!a || !b || !a->defined() || !b->defined()) return unsupported("dnnl:matmul: missing input");
  if (a->dtype() != DType::kFloat32 || b->dtype() != DType::kFloat32)
    return unsupported("dnnl:matmul covers float32 only");
  if (a->rank() < 2 || b->rank() != 2)
    return unsupported("dnnl:matmul covers A of rank >= 2 times a 2-D B");
  MatmulKey key;
  key.k = a->dim(a->rank() - 1);
  key.n = b->dim(1);
  if (b->dim(0) != key.k) return unsupported("dnnl:matmul: inner dimensions differ");
  key.m = key.k > 0 ? a->numel() / key.k : 0;
  if (key.m < 1 || key.k < 1 || key.n < 1) return unsupported("dnnl:matmul: empty operands");
  key.threads = std::max(1, ctx.threads);
  Shape out(a->shape().begin(), a->shape().end() - 1);
  out.push_back(key.n);
  QDIFF_ASSIGN_OR_RETURN(Tensor * y, ctx.alloc_output(0, DType::kFloat32, out));
  return run_matmul(ctx, "dnnl:matmul", key, *a, *b, nullptr, y);
}

}  // namespace qdiff::kernels::fast
