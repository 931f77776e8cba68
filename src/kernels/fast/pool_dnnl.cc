// Fast float32 2-D MaxPool (without the Indices output) and AveragePool on oneDNN.
//
// Activations stay plain NCHW (oneDNN's jit pooling handles it directly, no reorders). ceil_mode
// is expressed as extra end padding, which max pooling and exclude-padding average pooling
// ignore; count_include_pad with such extra padding, windows lying wholly in the padding,
// 1-D/3-D and non-float32 inputs fall back to the reference kernel. Each output element is
// computed by one thread, so results do not depend on the thread count.
#include <algorithm>
#include <oneapi/dnnl/dnnl.hpp>
#include <string>
#include <unordered_map>
#include <vector>

#include "kernels/fast/dnnl_common.h"
#include "kernels/fast/fast.h"

namespace qdiff::kernels::fast {

namespace {

using dnnl::memory;
using dnnl_detail::ThreadScope;
using Tag = memory::format_tag;

struct PoolGeom {
  bool max = true;
  bool include_pad = false;
  int64_t n = 0, c = 0, h = 0, w = 0, oh = 0, ow = 0;
  int64_t kh = 1, kw = 1, sh = 1, sw = 1, dh = 1, dw = 1;
  int64_t pt = 0, pl = 0, pb = 0, pr = 0;  // pb/pr include the ceil_mode extension
  int threads = 1;
  bool nhwc = false;  // X and Y stored NHWC
  bool operator==(const PoolGeom&) const = default;
};

Status pool_geometry(const KernelContext& ctx, const Tensor& x, bool max, bool has_dilations,
                     PoolGeom* g) {
  if (x.dtype() != DType::kFloat32) return unsupported("dnnl:pool covers float32 only");
  if (x.rank() != 4) return unsupported("dnnl:pool covers 2-D pooling only");
  g->max = max;
  g->n = x.dim(0), g->c = x.dim(1), g->h = x.dim(2), g->w = x.dim(3);
  if (g->n < 1 || g->c < 1 || g->h < 1 || g->w < 1) return unsupported("dnnl:pool: empty input");
  auto ks = ctx.attrs.get_ints("kernel_shape", {});
  auto strides = ctx.attrs.get_ints("strides", {1, 1});
  auto dilations = ctx.attrs.get_ints("dilations", {1, 1});
  auto pads = ctx.attrs.get_ints("pads", {0, 0, 0, 0});
  auto auto_pad = ctx.attrs.get_string("auto_pad", "NOTSET");
  auto ceil_mode = ctx.attrs.get_int("ceil_mode", 0);
  auto cip = ctx.attrs.get_int("count_include_pad", 0);
  if (!ks.ok() || !strides.ok() || !dilations.ok() || !pads.ok() || !auto_pad.ok() ||
      !ceil_mode.ok() || !cip.ok())
    return unsupported("dnnl:pool: unreadable attributes");
  std::vector<int64_t> k = ks.value(), s = strides.value(), p = pads.value();
  std::vector<int64_t> d = has_dilations ? dilations.value() : std::vector<int64_t>{1, 1};
  if (s.empty()) s = {1, 1};
  if (d.empty()) d = {1, 1};
  if (p.empty()) p = {0, 0, 0, 0};
  if (k.size() != 2 || s.size() != 2 || d.size() != 2 || p.size() != 4)
    return unsupported("dnnl:pool: invalid attributes");
  constexpr int64_t kMax = int64_t{1} << 20;
  for (int64_t v : {k[0], k[1], s[0], s[1], d[0], d[1]})
    if (v < 1 || v > kMax) return unsupported("dnnl:pool: invalid kernel/strides/dilations");
  for (int64_t v : p)
    if (v < 0 || v > kMax) return unsupported("dnnl:pool: invalid pads");
  g->include_pad = !max && cip.value() != 0;
  const int64_t in[2] = {g->h, g->w};
  int64_t out[2] = {0, 0};
  const std::string& ap = auto_pad.value();
  for (int i = 0; i < 2; ++i) {
    const int64_t dk = (k[i] - 1) * d[i] + 1;
    QDIFF_RETURN_IF_ERROR(dnnl_detail::auto_pad_dim(
        "dnnl:pool", ap, in[i], dk, s[i], ceil_mode.value() != 0, &p[i], &p[i + 2], &out[i]));
    // Express the output size as oneDNN's floor formula with (possibly) extended end padding.
    const int64_t end_pad = std::max(p[i + 2], (out[i] - 1) * s[i] + dk - in[i] - p[i]);
    if ((in[i] + p[i] + end_pad - dk) / s[i] + 1 != out[i])
      return unsupported("dnnl:pool: output size not expressible");
    if (end_pad != p[i + 2] && g->include_pad)
      return unsupported("dnnl:pool: count_include_pad with ceil_mode");
    // Windows wholly inside the padding (reference: -inf / 0) are not covered.
    if (p[i] >= dk || end_pad >= dk) return unsupported("dnnl:pool: padding as large as window");
    p[i + 2] = end_pad;
  }
  g->oh = out[0], g->ow = out[1];
  g->kh = k[0], g->kw = k[1], g->sh = s[0], g->sw = s[1], g->dh = d[0], g->dw = d[1];
  g->pt = p[0], g->pl = p[1], g->pb = p[2], g->pr = p[3];
  g->threads = std::max(1, ctx.threads);
  return Status::ok_status();
}

struct PoolState final : KernelState {
  PoolGeom key;
  dnnl::stream stream;
  dnnl::pooling_v2_forward prim;
  memory::desc src_md, dst_md;
  memory scratch;
};

Status pool(KernelContext& ctx, bool max, bool has_dilations) {
  const Tensor* xin = ctx.input(0);
  if (!xin || !xin->defined()) return unsupported("dnnl:pool: missing input");
  // NHWC in, NHWC out (oneDNN's jit pooling wants the same layout on both sides).
  const Tensor plain_x = !xin->is_plain() && !ctx.nhwc_output ? xin->to_plain() : Tensor();
  const Tensor* x = plain_x.defined() ? &plain_x : xin;
  if (ctx.outputs.size() > 1) return unsupported("dnnl:pool: the Indices output is not covered");
  PoolGeom g;
  QDIFF_RETURN_IF_ERROR(pool_geometry(ctx, *x, max, has_dilations, &g));
  g.nhwc = x->layout() == Layout::kNhwc;
  const Tag tag = g.nhwc ? Tag::nhwc : Tag::nchw;
  if (!ctx.state) return unsupported("dnnl:pool needs a state slot");
  try {
    ThreadScope threads(g.threads);
    dnnl::engine& eng = dnnl_detail::cpu_engine();
    auto* st = dynamic_cast<PoolState*>(ctx.state->get());
    if (!st || !(st->key == g)) {
      auto fresh = std::make_unique<PoolState>();
      fresh->src_md = memory::desc({g.n, g.c, g.h, g.w}, memory::data_type::f32, tag);
      fresh->dst_md = memory::desc({g.n, g.c, g.oh, g.ow}, memory::data_type::f32, tag);
      const dnnl::algorithm alg = g.max           ? dnnl::algorithm::pooling_max
                                  : g.include_pad ? dnnl::algorithm::pooling_avg_include_padding
                                                  : dnnl::algorithm::pooling_avg_exclude_padding;
      dnnl::pooling_v2_forward::desc d(dnnl::prop_kind::forward_inference, alg, fresh->src_md,
                                       fresh->dst_md, {g.sh, g.sw}, {g.kh, g.kw},
                                       {g.dh - 1, g.dw - 1}, {g.pt, g.pl}, {g.pb, g.pr});
      dnnl::pooling_v2_forward::primitive_desc pd(d, dnnl_detail::strict_attr(), eng);
      fresh->prim = dnnl::pooling_v2_forward(pd);
      fresh->scratch = memory(pd.scratchpad_desc(), eng);
      fresh->stream = dnnl::stream(eng);
      fresh->key = g;
      st = fresh.get();
      *ctx.state = std::move(fresh);
    }
    QDIFF_ASSIGN_OR_RETURN(
        Tensor * y, ctx.alloc_output_for_overwrite(0, DType::kFloat32, {g.n, g.c, g.oh, g.ow},
                                                   g.nhwc ? Layout::kNhwc : Layout::kPlain));
    memory src(st->src_md, eng, const_cast<std::byte*>(x->raw()));
    memory dst(st->dst_md, eng, y->raw_mutable());
    st->prim.execute(
        st->stream, {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}, {DNNL_ARG_SCRATCHPAD, st->scratch}});
    st->stream.wait();
  } catch (const dnnl::error& e) {
    ctx.set_output(0, Tensor());
    return unsupported(std::string("dnnl:pool: oneDNN: ") + e.what());
  }
  return Status::ok_status();
}

}  // namespace

Status MaxPool(KernelContext& ctx) {
  return pool(ctx, /*max=*/true, ctx.opset >= 10);
}

Status AveragePool(KernelContext& ctx) {
  return pool(ctx, /*max=*/false, ctx.opset >= 19);
}

}  // namespace qdiff::kernels::fast
