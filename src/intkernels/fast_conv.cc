#include "intkernels/fast_conv.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <oneapi/dnnl/dnnl.hpp>
#include <unordered_map>

#include "intkernels/linear.h"
#include "support/status.h"

namespace qdiff::intkernels {

namespace {

using dnnl::memory;
using Tag = memory::format_tag;

dnnl::engine& engine() {
  static dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  return eng;
}

}  // namespace

bool fast_int8_exact() {
  static const bool exact = [] {
    const auto isa = static_cast<unsigned>(dnnl::get_effective_cpu_isa());
    const auto has = [isa](dnnl_cpu_isa_t bits) {
      return (isa & static_cast<unsigned>(bits)) == static_cast<unsigned>(bits);
    };
    return has(dnnl_cpu_isa_avx512_core_vnni) || has(dnnl_cpu_isa_avx2_vnni);
  }();
  return exact;
}

struct Int8Conv::Impl {
  std::vector<int64_t> x_shape, y_shape;
  DType x_dtype = DType::kUInt8;
  dnnl::stream stream;
  memory::desc nhwc_src, nchw_src, dst_md;
  dnnl::reorder to_nhwc;  // plain NCHW input -> NHWC
  memory src_nhwc;        // buffer for the reordered input
  dnnl::convolution_forward prim;
  memory weights, scratch;
  memory zero_point;
  std::vector<int32_t> offset;
};

Int8Conv::Int8Conv(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Int8Conv::~Int8Conv() = default;

const std::vector<int64_t>& Int8Conv::out_shape() const {
  return impl_->y_shape;
}
const std::vector<int32_t>& Int8Conv::channel_offset() const {
  return impl_->offset;
}

std::unique_ptr<Int8Conv> Int8Conv::create(const std::vector<int64_t>& x_shape, DType x_dtype,
                                           int32_t z_x, const Tensor& w,
                                           const std::vector<int32_t>& z_w, int64_t bias_max,
                                           const ConvParams& params,
                                           const AccumulatorModel& model) {
  if (!fast_int8_exact()) return nullptr;
  if (x_dtype != DType::kUInt8 && x_dtype != DType::kInt8) return nullptr;
  if (w.dtype() != DType::kInt8 || w.rank() != 4 || x_shape.size() != 4) return nullptr;
  if (std::any_of(z_w.begin(), z_w.end(), [](int32_t z) { return z != 0; })) return nullptr;
  if (params.pad_value && *params.pad_value != z_x) return nullptr;
  if (model.bits != 32 || model.pair_saturation_u8s8) return nullptr;
  const bool u8 = x_dtype == DType::kUInt8;
  if (u8 ? (z_x < 0 || z_x > 255) : (z_x < -128 || z_x > 127)) return nullptr;
  auto get = [](const std::vector<int64_t>& v, size_t i, int64_t dflt) {
    return v.empty() ? dflt : v[i];
  };
  if ((!params.strides.empty() && params.strides.size() != 2) ||
      (!params.dilations.empty() && params.dilations.size() != 2) ||
      (!params.pads.empty() && params.pads.size() != 4))
    return nullptr;
  const int64_t n = x_shape[0], c = x_shape[1], h = x_shape[2], wd = x_shape[3];
  const int64_t m = w.dim(0), cg = w.dim(1), kh = w.dim(2), kw = w.dim(3), g = params.group;
  if (g < 1 || c % g != 0 || m % g != 0 || c / g != cg) return nullptr;
  const int64_t sh = get(params.strides, 0, 1), sw = get(params.strides, 1, 1);
  const int64_t dh = get(params.dilations, 0, 1), dw = get(params.dilations, 1, 1);
  const int64_t pt = get(params.pads, 0, 0), pl = get(params.pads, 1, 0);
  const int64_t pb = get(params.pads, 2, 0), pr = get(params.pads, 3, 0);
  if (sh < 1 || sw < 1 || dh < 1 || dw < 1 || pt < 0 || pl < 0 || pb < 0 || pr < 0) return nullptr;
  const int64_t oh = (h + pt + pb - (dh * (kh - 1) + 1)) / sh + 1;
  const int64_t ow = (wd + pl + pr - (dw * (kw - 1) + 1)) / sw + 1;
  if (n < 1 || oh < 1 || ow < 1) return nullptr;
  // |acc| <= taps * max|x - z_x| * 128 + |bias| must stay below 2^31.
  const int64_t x_span =
      u8 ? std::max<int64_t>(z_x, 255 - z_x) : std::max<int64_t>(z_x + 128, 127 - z_x);
  const int64_t taps = cg * kh * kw;
  if (taps > (int64_t{1} << 24) || taps * x_span * 128 + bias_max >= (int64_t{1} << 31))
    return nullptr;
  // Without padding the zero point can be folded out: raw sums of x * w (|.| <= taps * 255 *
  // 128 or taps * 128 * 128) plus a per-channel -z_x * sum(w) that joins the bias.
  const bool fold = z_x != 0 && pt == 0 && pl == 0 && pb == 0 && pr == 0 &&
                    taps * (u8 ? 255 : 128) * 128 < (int64_t{1} << 31) &&
                    taps * std::abs(int64_t{z_x}) * 128 + bias_max < (int64_t{1} << 31);

  auto impl = std::make_unique<Impl>();
  impl->x_shape = x_shape;
  impl->y_shape = {n, m, oh, ow};
  impl->x_dtype = x_dtype;
  try {
    dnnl::engine& eng = engine();
    impl->stream = dnnl::stream(eng);
    const memory::data_type src_dt = u8 ? memory::data_type::u8 : memory::data_type::s8;
    const memory::dims src_dims = {n, c, h, wd};
    const memory::dims w_dims =
        g == 1 ? memory::dims{m, c, kh, kw} : memory::dims{g, m / g, cg, kh, kw};
    impl->nhwc_src = memory::desc(src_dims, src_dt, Tag::nhwc);
    impl->nchw_src = memory::desc(src_dims, src_dt, Tag::nchw);
    const memory::desc user_w(w_dims, memory::data_type::s8, g == 1 ? Tag::oihw : Tag::goihw);
    const memory::desc any_w(w_dims, memory::data_type::s8, Tag::any);
    memory user_w_mem(user_w, eng, static_cast<void*>(const_cast<std::byte*>(w.raw())));
    dnnl::primitive_attr attr;
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    if (z_x != 0 && !fold) attr.set_zero_points(DNNL_ARG_SRC, 0, {DNNL_RUNTIME_S32_VAL});
    impl->dst_md = memory::desc({n, m, oh, ow}, memory::data_type::s32, Tag::nhwc);
    const dnnl::convolution_forward::desc d(
        dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct, impl->nhwc_src,
        any_w, impl->dst_md, {sh, sw}, {dh - 1, dw - 1}, {pt, pl}, {pb, pr});
    const dnnl::convolution_forward::primitive_desc pd(d, attr, eng);
    // oneDNN's reference implementation would be exact too, but slow; any jit implementation on
    // a VNNI CPU is exact.
    const char* impl_name = pd.impl_info_str();
    if (impl_name == nullptr || std::strstr(impl_name, "ref") != nullptr) return nullptr;
    impl->prim = dnnl::convolution_forward(pd);
    // Weights reordered once into the primitive's layout.
    impl->weights = memory(pd.weights_desc(), eng);
    dnnl::reorder(user_w_mem, impl->weights).execute(impl->stream, user_w_mem, impl->weights);
    impl->scratch = memory(pd.scratchpad_desc(), eng);
    if (fold) {
      const int8_t* wv = reinterpret_cast<const int8_t*>(w.raw());
      impl->offset.resize(static_cast<size_t>(m));
      for (int64_t o = 0; o < m; ++o) {
        int64_t sum = 0;
        for (int64_t t = 0; t < taps; ++t) sum += wv[o * taps + t];
        impl->offset[static_cast<size_t>(o)] = static_cast<int32_t>(-int64_t{z_x} * sum);
      }
    } else if (z_x != 0) {
      impl->zero_point = memory({{1}, memory::data_type::s32, Tag::x}, eng);
      *static_cast<int32_t*>(impl->zero_point.get_data_handle()) = z_x;
    }
    impl->to_nhwc =
        dnnl::reorder(dnnl::reorder::primitive_desc(eng, impl->nchw_src, eng, impl->nhwc_src));
    impl->src_nhwc = memory(impl->nhwc_src, eng);
    impl->stream.wait();
  } catch (const dnnl::error&) {
    return nullptr;  // oneDNN has no implementation for this case: the reference kernel runs
  }
  return std::unique_ptr<Int8Conv>(new Int8Conv(std::move(impl)));
}

Status Int8Conv::run(const Tensor& x, int32_t* acc) {
  Impl& im = *impl_;
  QDIFF_ASSERT(x.dtype() == im.x_dtype && x.shape() == im.x_shape, "Int8Conv: input mismatch");
  dnnl::engine& eng = engine();
  try {
    memory src;
    if (x.layout() == Layout::kNhwc) {
      src = memory(im.nhwc_src, eng, static_cast<void*>(const_cast<std::byte*>(x.raw())));
    } else {
      memory plain(im.nchw_src, eng, static_cast<void*>(const_cast<std::byte*>(x.raw())));
      im.to_nhwc.execute(im.stream, plain, im.src_nhwc);
      src = im.src_nhwc;
    }
    memory dst(im.dst_md, eng, acc);
    std::unordered_map<int, memory> args = {{DNNL_ARG_SRC, src},
                                            {DNNL_ARG_WEIGHTS, im.weights},
                                            {DNNL_ARG_DST, dst},
                                            {DNNL_ARG_SCRATCHPAD, im.scratch}};
    if (im.zero_point) args[DNNL_ARG_ATTR_ZERO_POINTS | DNNL_ARG_SRC] = im.zero_point;
    im.prim.execute(im.stream, args);
    im.stream.wait();
  } catch (const dnnl::error& e) {
    return Status(ErrorCode::kInternal, std::string("oneDNN int8 convolution failed: ") + e.what());
  }
  return Status::ok_status();
}

}  // namespace qdiff::intkernels
