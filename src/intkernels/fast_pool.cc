#include "intkernels/fast_pool.h"

#include <oneapi/dnnl/dnnl.hpp>
#include <unordered_map>

namespace qdiff::intkernels {

namespace {
using dnnl::memory;
using Tag = memory::format_tag;
}  // namespace

struct Int8MaxPool::Impl {
  std::vector<int64_t> x_shape, y_shape;
  DType dtype = DType::kUInt8;
  dnnl::engine engine{dnnl::engine::kind::cpu, 0};
  dnnl::stream stream;
  dnnl::pooling_v2_forward prim;
  memory::desc src_md, dst_md;
  memory workspace;
};

Int8MaxPool::Int8MaxPool(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Int8MaxPool::~Int8MaxPool() = default;

std::unique_ptr<Int8MaxPool> Int8MaxPool::create(const std::vector<int64_t>& x_shape, DType dtype,
                                                 const MaxPoolGeometry& g) {
  if ((dtype != DType::kUInt8 && dtype != DType::kInt8) || x_shape.size() != 4 ||
      g.kernel.size() != 2)
    return nullptr;
  auto get = [](const std::vector<int64_t>& v, size_t i, int64_t dflt) {
    return v.empty() ? dflt : v[i];
  };
  if ((!g.strides.empty() && g.strides.size() != 2) ||
      (!g.dilations.empty() && g.dilations.size() != 2) || (!g.pads.empty() && g.pads.size() != 4))
    return nullptr;
  const int64_t kh = g.kernel[0], kw = g.kernel[1];
  const int64_t sh = get(g.strides, 0, 1), sw = get(g.strides, 1, 1);
  const int64_t dh = get(g.dilations, 0, 1), dw = get(g.dilations, 1, 1);
  int64_t pt = get(g.pads, 0, 0), pl = get(g.pads, 1, 0);
  int64_t pb = get(g.pads, 2, 0), pr = get(g.pads, 3, 0);
  if (kh < 1 || kw < 1 || sh < 1 || sw < 1 || dh < 1 || dw < 1 || pt < 0 || pl < 0 || pb < 0 ||
      pr < 0 || pt >= kh || pl >= kw || pb >= kh || pr >= kw)
    return nullptr;
  const int64_t h = x_shape[2], w = x_shape[3];
  auto out_dim = [&](int64_t in, int64_t k, int64_t d, int64_t s, int64_t p0, int64_t p1) {
    const int64_t span = in + p0 + p1 - (d * (k - 1) + 1);
    if (span < 0) return int64_t{0};
    int64_t o = (g.ceil_mode ? (span + s - 1) / s : span / s) + 1;
    if (g.ceil_mode && (o - 1) * s >= in + p0) --o;  // no window starting in the end padding
    return o;
  };
  const int64_t oh = out_dim(h, kh, dh, sh, pt, pb), ow = out_dim(w, kw, dw, sw, pl, pr);
  if (oh < 1 || ow < 1) return nullptr;
  // oneDNN takes the padding that makes its output size; extra end padding is never read as a
  // maximum (padded taps are left out).
  pb = (oh - 1) * sh + dh * (kh - 1) + 1 - h - pt;
  pr = (ow - 1) * sw + dw * (kw - 1) + 1 - w - pl;
  if (pb < 0 || pr < 0) return nullptr;
  auto impl = std::make_unique<Impl>();
  impl->x_shape = x_shape;
  impl->y_shape = {x_shape[0], x_shape[1], oh, ow};
  impl->dtype = dtype;
  try {
    const memory::data_type dt =
        dtype == DType::kUInt8 ? memory::data_type::u8 : memory::data_type::s8;
    impl->src_md = memory::desc(x_shape, dt, Tag::nhwc);
    impl->dst_md = memory::desc(impl->y_shape, dt, Tag::nhwc);
    const dnnl::pooling_v2_forward::desc d(
        dnnl::prop_kind::forward_inference, dnnl::algorithm::pooling_max, impl->src_md,
        impl->dst_md, {sh, sw}, {kh, kw}, {dh - 1, dw - 1}, {pt, pl}, {pb, pr});
    const dnnl::pooling_v2_forward::primitive_desc pd(d, impl->engine);
    impl->prim = dnnl::pooling_v2_forward(pd);
    impl->workspace = memory(pd.workspace_desc(), impl->engine);
    impl->stream = dnnl::stream(impl->engine);
  } catch (const dnnl::error&) {
    return nullptr;
  }
  return std::unique_ptr<Int8MaxPool>(new Int8MaxPool(std::move(impl)));
}

Result<Tensor> Int8MaxPool::run(const Tensor& x_in) {
  Impl& im = *impl_;
  QDIFF_ASSERT(x_in.dtype() == im.dtype && x_in.shape() == im.x_shape, "Int8MaxPool: input");
  const Tensor x = x_in.to_layout(Layout::kNhwc);
  QDIFF_ASSIGN_OR_RETURN(Tensor y,
                         Tensor::create_for_overwrite(im.dtype, im.y_shape, Layout::kNhwc));
  try {
    memory src(im.src_md, im.engine, const_cast<std::byte*>(x.raw()));
    memory dst(im.dst_md, im.engine, y.raw_mutable());
    im.prim.execute(im.stream,
                    {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}, {DNNL_ARG_WORKSPACE, im.workspace}});
    im.stream.wait();
  } catch (const dnnl::error& e) {
    return Status(ErrorCode::kInternal, std::string("oneDNN int8 max pooling failed: ") + e.what());
  }
  return y;
}

}  // namespace qdiff::intkernels
