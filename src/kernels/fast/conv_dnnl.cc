// Fast float32 2-D Conv on oneDNN ("dnnl:conv").
//
// Covers float32 Conv with a 4-D X [N,C,H,W], any group (depthwise included), strides,
// dilations, explicit or auto pads and an optional bias. Anything else (1-D/3-D, float64,
// invalid attributes, empty tensors) returns kUnsupported so the reference kernel runs (and
// reports errors with its own messages).
//
// Per node, a ConvState caches, keyed by the input shapes and thread count: the primitive, the
// weights reordered once into the blocked layout oneDNN picked (redone only when the weights
// tensor is a different storage than last time), and the reorders and buffers that move the
// activations in and out of the primitive's layout when it differs from theirs. X may arrive
// stored NHWC, and Y is stored NHWC when the context allows it (KernelContext::nhwc_output).
//
// Fused activation: when the interpreter fuses the Relu/Clip that alone reads Y
// (KernelContext::fused), it is applied to Y in place right after the convolution, with the
// activation kernel's own per-element operation (activation.h), so Y is that node's output bit
// for bit. oneDNN's eltwise post-ops are not used for this: relu/clip/bounded_relu clamp with
// vmaxps/vminps, which turn a NaN into the bound and -0 into +0 (the reference keeps both).
//
// Numerics: fpmath mode strict (no implicit bf16/f16 down-conversion on AMX/avx512_fp16 CPUs);
// results are bit-identical at any thread count (checked by fast_test.cc): oneDNN's forward
// convolutions used here (brgconv incl. 1x1, depthwise) do not split a reduction across threads
// in a thread-count dependent way.
#include <algorithm>
#include <oneapi/dnnl/dnnl.hpp>
#include <string>
#include <unordered_map>
#include <vector>

#include "kernels/fast/activation.h"
#include "kernels/fast/dnnl_common.h"
#include "kernels/fast/fast.h"

namespace qdiff::kernels::fast {

namespace {

using dnnl::memory;
using dnnl_detail::cpu_engine;
using dnnl_detail::ThreadScope;
using Tag = memory::format_tag;
constexpr memory::data_type kF32 = memory::data_type::f32;

struct ConvGeom {
  int64_t n = 0, c = 0, h = 0, w = 0;  // X
  int64_t m = 0, kh = 0, kw = 0;       // W (M, C/group, KH, KW)
  int64_t group = 1;
  int64_t oh = 0, ow = 0;
  int64_t sh = 1, sw = 1, dh = 1, dw = 1;  // ONNX dilations (1 = dense)
  int64_t pt = 0, pl = 0, pb = 0, pr = 0;
  bool bias = false;
  int threads = 1;
  bool src_nhwc = false;     // X arrives stored NHWC
  bool nhwc_output = false;  // Y may be stored NHWC
  bool operator==(const ConvGeom&) const = default;
};

// Reads the attributes the way the reference kernel does; any invalid or uncovered case is
// kUnsupported (the reference kernel then runs and reports it).
Status conv_geometry(const KernelContext& ctx, const Tensor& x, const Tensor& w, const Tensor* b,
                     ConvGeom* g) {
  if (x.dtype() != DType::kFloat32 || w.dtype() != DType::kFloat32 ||
      (b && b->dtype() != DType::kFloat32))
    return unsupported("dnnl:conv covers float32 only");
  if (x.rank() != 4 || w.rank() != 4) return unsupported("dnnl:conv covers 2-D convolutions only");
  g->n = x.dim(0), g->c = x.dim(1), g->h = x.dim(2), g->w = x.dim(3);
  g->m = w.dim(0), g->kh = w.dim(2), g->kw = w.dim(3);
  auto group = ctx.attrs.get_int("group", 1);
  auto auto_pad = ctx.attrs.get_string("auto_pad", "NOTSET");
  auto ks = ctx.attrs.get_ints("kernel_shape", {});
  auto strides = ctx.attrs.get_ints("strides", {1, 1});
  auto dilations = ctx.attrs.get_ints("dilations", {1, 1});
  auto pads = ctx.attrs.get_ints("pads", {0, 0, 0, 0});
  if (!group.ok() || !auto_pad.ok() || !ks.ok() || !strides.ok() || !dilations.ok() || !pads.ok())
    return unsupported("dnnl:conv: unreadable attributes");
  std::vector<int64_t> s = strides.value(), d = dilations.value(), p = pads.value();
  if (s.empty()) s = {1, 1};
  if (d.empty()) d = {1, 1};
  if (p.empty()) p = {0, 0, 0, 0};
  g->group = group.value();
  if (s.size() != 2 || d.size() != 2 || p.size() != 4 || g->group < 1)
    return unsupported("dnnl:conv: invalid attributes");
  if (!ks.value().empty() && ks.value() != std::vector<int64_t>{g->kh, g->kw})
    return unsupported("dnnl:conv: kernel_shape does not match the weight");
  if (g->n < 1 || g->c < 1 || g->h < 1 || g->w < 1 || g->m < 1 || g->kh < 1 || g->kw < 1)
    return unsupported("dnnl:conv: empty tensors");
  if (g->c % g->group != 0 || g->m % g->group != 0 || w.dim(1) != g->c / g->group)
    return unsupported("dnnl:conv: channels do not match group");
  if (b && (b->rank() != 1 || b->dim(0) != g->m)) return unsupported("dnnl:conv: bad bias shape");
  constexpr int64_t kMax = int64_t{1} << 20;
  for (int64_t v : {s[0], s[1], d[0], d[1], g->kh, g->kw})
    if (v < 1 || v > kMax) return unsupported("dnnl:conv: invalid strides/dilations/kernel");
  for (int64_t v : p)
    if (v < 0 || v > kMax) return unsupported("dnnl:conv: invalid pads");
  g->sh = s[0], g->sw = s[1], g->dh = d[0], g->dw = d[1];
  const int64_t in[2] = {g->h, g->w}, k[2] = {g->kh, g->kw};
  int64_t out[2] = {0, 0};
  const std::string& ap = auto_pad.value();
  for (int i = 0; i < 2; ++i) {
    const int64_t dk = (k[i] - 1) * d[i] + 1;
    QDIFF_RETURN_IF_ERROR(dnnl_detail::auto_pad_dim("dnnl:conv", ap, in[i], dk, s[i],
                                                    /*ceil_mode=*/false, &p[i], &p[i + 2],
                                                    &out[i]));
  }
  g->oh = out[0], g->ow = out[1];
  g->pt = p[0], g->pl = p[1], g->pb = p[2], g->pr = p[3];
  g->bias = b != nullptr;
  g->threads = std::max(1, ctx.threads);
  g->src_nhwc = x.layout() == Layout::kNhwc;
  g->nhwc_output = ctx.nhwc_output;
  return Status::ok_status();
}

struct ConvState final : KernelState {
  ConvGeom key;
  dnnl::stream stream;
  dnnl::convolution_forward prim;
  memory::desc user_src_md, user_dst_md, user_w_md, bias_md;
  Layout dst_layout = Layout::kPlain;
  bool src_reorder = false, dst_reorder = false;
  dnnl::reorder src_r, dst_r;
  memory src_buf, dst_buf;  // the primitive's layouts, when they differ from NCHW
  memory weights;           // reordered weights
  Tensor weights_from;      // the tensor `weights` was reordered from (kept alive: its address
                            // cannot be reused by another tensor while we compare to it)
  memory scratch;
};

Status build(const ConvGeom& g, ConvState* st) {
  dnnl::engine& eng = cpu_engine();
  const memory::dims src_dims = {g.n, g.c, g.h, g.w};
  const memory::dims dst_dims = {g.n, g.m, g.oh, g.ow};
  const memory::dims w_dims = g.group == 1
                                  ? memory::dims{g.m, g.c, g.kh, g.kw}
                                  : memory::dims{g.group, g.m / g.group, g.c / g.group, g.kh, g.kw};
  st->user_src_md = memory::desc(src_dims, kF32, g.src_nhwc ? Tag::nhwc : Tag::nchw);
  const memory::desc nchw_dst(dst_dims, kF32, Tag::nchw);
  const memory::desc nhwc_dst(dst_dims, kF32, Tag::nhwc);
  st->user_w_md = memory::desc(w_dims, kF32, g.group == 1 ? Tag::oihw : Tag::goihw);
  st->bias_md = g.bias ? memory::desc({g.m}, kF32, Tag::x) : memory::desc();
  const memory::desc any_src(src_dims, kF32, Tag::any), any_dst(dst_dims, kF32, Tag::any);
  const memory::desc any_w(w_dims, kF32, Tag::any);
  const memory::dims strides = {g.sh, g.sw}, dil = {g.dh - 1, g.dw - 1};
  const memory::dims pad_l = {g.pt, g.pl}, pad_r = {g.pb, g.pr};
  const dnnl::primitive_attr attr = dnnl_detail::strict_attr();
  auto make_pd = [&](const memory::desc& src, const memory::desc& dst) {
    dnnl::convolution_forward::desc d =
        g.bias ? dnnl::convolution_forward::desc(dnnl::prop_kind::forward_inference,
                                                 dnnl::algorithm::convolution_direct, src, any_w,
                                                 st->bias_md, dst, strides, dil, pad_l, pad_r)
               : dnnl::convolution_forward::desc(dnnl::prop_kind::forward_inference,
                                                 dnnl::algorithm::convolution_direct, src, any_w,
                                                 dst, strides, dil, pad_l, pad_r);
    return dnnl::convolution_forward::primitive_desc(d, attr, eng);
  };
  // Layout policy (measured on MobileNetV2/ResNet18, bench/): oneDNN picks the activation
  // layouts (NHWC brgconv / depthwise kernels on AVX-512, 1x1 convolutions included). With the
  // interpreter passing NHWC activations between fast kernels (RunOptions::propagate_layouts)
  // there are no reorders left in a conv/relu/add/pool chain; this halves MobileNetV2 compared
  // to running dense 1x1 convolutions as plain NCHW GEMMs with reorders around the others.
  // Fully plain NCHW means oneDNN's slow im2col gemm path (ResNet18 conv time x1.3-2); forcing
  // nChw16c selects the reference implementation in oneDNN 2.6 (x20 slower).
  // The primitive depends on the geometry only, never on the layouts the activations come and
  // go in (those only add or save exact reorders), so results do not depend on them.
  const dnnl::convolution_forward::primitive_desc pd = make_pd(any_src, any_dst);
  st->prim = dnnl::convolution_forward(pd);
  // Y is stored as the primitive writes it when that is NCHW, or NHWC and allowed; other
  // layouts are reordered to NHWC when allowed (the next kernel probably wants it), else NCHW.
  st->dst_layout = pd.dst_desc() == nchw_dst || !g.nhwc_output ? Layout::kPlain : Layout::kNhwc;
  st->user_dst_md = st->dst_layout == Layout::kNhwc ? nhwc_dst : nchw_dst;
  st->src_reorder = pd.src_desc() != st->user_src_md;
  st->dst_reorder = pd.dst_desc() != st->user_dst_md;
  st->src_buf = st->src_reorder ? memory(pd.src_desc(), eng) : memory();
  st->dst_buf = st->dst_reorder ? memory(pd.dst_desc(), eng) : memory();
  const dnnl::primitive_attr rattr = [] {
    dnnl::primitive_attr a;
    a.set_scratchpad_mode(dnnl::scratchpad_mode::library);
    return a;
  }();
  if (st->src_reorder)
    st->src_r = dnnl::reorder(
        dnnl::reorder::primitive_desc(eng, st->user_src_md, eng, pd.src_desc(), rattr));
  if (st->dst_reorder)
    st->dst_r = dnnl::reorder(
        dnnl::reorder::primitive_desc(eng, pd.dst_desc(), eng, st->user_dst_md, rattr));
  st->weights = memory(pd.weights_desc(), eng);
  st->weights_from = Tensor();
  st->scratch = memory(pd.scratchpad_desc(), eng);
  st->stream = dnnl::stream(eng);
  st->key = g;
  return Status::ok_status();
}

}  // namespace

Status Conv(KernelContext& ctx) {
  const Tensor* x = ctx.input(0);
  const Tensor* w = ctx.input(1);
  const Tensor* b = ctx.input(2);
  if (b && !b->defined()) b = nullptr;
  if (!x || !w || !x->defined() || !w->defined()) return unsupported("dnnl:conv: missing input");
  ConvGeom g;
  QDIFF_RETURN_IF_ERROR(conv_geometry(ctx, *x, *w, b, &g));
  if (!ctx.state) return unsupported("dnnl:conv needs a state slot");
  try {
    ThreadScope threads(g.threads);
    auto* st = dynamic_cast<ConvState*>(ctx.state->get());
    if (!st || !(st->key == g)) {
      auto fresh = std::make_unique<ConvState>();
      QDIFF_RETURN_IF_ERROR(build(g, fresh.get()));
      st = fresh.get();
      *ctx.state = std::move(fresh);
    }
    dnnl::engine& eng = cpu_engine();
    auto* xp = const_cast<std::byte*>(x->raw());
    if (!st->weights_from.defined() || st->weights_from.raw() != w->raw()) {
      memory user_w(st->user_w_md, eng, const_cast<std::byte*>(w->raw()));
      dnnl::reorder(user_w, st->weights).execute(st->stream, user_w, st->weights);
      st->stream.wait();
      st->weights_from = *w;
    }
    QDIFF_ASSIGN_OR_RETURN(
        Tensor * y,
        ctx.alloc_output_for_overwrite(0, DType::kFloat32, {g.n, g.m, g.oh, g.ow}, st->dst_layout));
    memory user_src(st->user_src_md, eng, xp);
    memory user_dst(st->user_dst_md, eng, y->raw_mutable());
    if (st->src_reorder) st->src_r.execute(st->stream, user_src, st->src_buf);
    std::unordered_map<int, memory> args = {
        {DNNL_ARG_SRC, st->src_reorder ? st->src_buf : user_src},
        {DNNL_ARG_WEIGHTS, st->weights},
        {DNNL_ARG_DST, st->dst_reorder ? st->dst_buf : user_dst},
        {DNNL_ARG_SCRATCHPAD, st->scratch}};
    if (b) args[DNNL_ARG_BIAS] = memory(st->bias_md, eng, const_cast<std::byte*>(b->raw()));
    st->prim.execute(st->stream, args);
    if (st->dst_reorder) st->dst_r.execute(st->stream, st->dst_buf, user_dst);
    st->stream.wait();
    // A fused activation (see the file comment), in place.
    detail::apply_activation(ctx.fused, reinterpret_cast<float*>(y->raw_mutable()), y->numel(),
                             g.threads);
  } catch (const dnnl::error& e) {
    ctx.set_output(0, Tensor());
    return unsupported(std::string("dnnl:conv: oneDNN: ") + e.what());
  }
  return Status::ok_status();
}

}  // namespace qdiff::kernels::fast
