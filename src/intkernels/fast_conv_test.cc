// The fast integer convolution (oneDNN int8, VNNI CPUs) and the channels-last requantization
// against their references: conv_accumulate and Requantizer::apply, bit for bit, over random
// geometries (padding with nonzero zero points, strides, dilations, groups, depthwise) and random
// integers spanning the full ranges.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "intkernels/elementwise.h"
#include "intkernels/fast_conv.h"
#include "intkernels/fast_pool.h"
#include "intkernels/linear.h"
#include "intkernels/requantizer.h"

namespace qdiff::intkernels {
namespace {

template <typename T>
Tensor random_tensor(std::mt19937& rng, Shape shape, int lo, int hi) {
  std::uniform_int_distribution<int> d(lo, hi);
  int64_t n = 1;
  for (int64_t v : shape) n *= v;
  std::vector<T> v(static_cast<size_t>(n));
  for (T& e : v) e = static_cast<T>(d(rng));
  return Tensor::from_vector<T>(std::move(shape), v);
}

struct Case {
  int64_t n, c, h, w, m, k, group, stride, dilation, pad;
  bool u8;
};

TEST(FastConv, AccumulatorsEqualReference) {
  if (!fast_int8_exact()) GTEST_SKIP() << "no VNNI: the fast path is never used on this CPU";
  const Case cases[] = {
      {1, 3, 17, 19, 8, 3, 1, 2, 1, 1, true},     // first layer, stride 2
      {1, 16, 9, 9, 16, 3, 16, 1, 1, 1, true},    // depthwise
      {1, 32, 8, 8, 32, 3, 32, 2, 1, 1, false},   // depthwise stride 2, int8
      {2, 24, 7, 6, 40, 1, 1, 1, 1, 0, true},     // pointwise, batch 2
      {1, 12, 11, 10, 18, 3, 3, 1, 2, 2, false},  // grouped, dilated
      {1, 64, 14, 14, 64, 3, 1, 1, 1, 1, true},   // dense 3x3
      {1, 8, 5, 5, 5, 5, 1, 1, 1, 3, true},       // pad larger than half the kernel
      {1, 8, 37, 41, 96, 1, 1, 1, 1, 0, true},    // pointwise, zero point folded out
      {2, 5, 30, 30, 130, 1, 1, 1, 1, 0, false},  // the same, int8, batch 2
  };
  std::mt19937 rng(7);
  AccumulatorModel model;
  for (const Case& k : cases) {
    const std::vector<int32_t> zero_points =
        k.u8 ? std::vector<int32_t>{0, 3, 128, 255} : std::vector<int32_t>{-128, -5, 0, 127};
    for (int32_t z_x : zero_points) {
      const Shape xs = {k.n, k.c, k.h, k.w};
      Tensor x = k.u8 ? random_tensor<uint8_t>(rng, xs, 0, 255)
                      : random_tensor<int8_t>(rng, xs, -128, 127);
      Tensor w = random_tensor<int8_t>(rng, {k.m, k.c / k.group, k.k, k.k}, -127, 127);
      ConvParams p;
      p.group = k.group;
      p.strides = {k.stride, k.stride};
      p.dilations = {k.dilation, k.dilation};
      p.pads = {k.pad, k.pad, k.pad, k.pad};
      const std::vector<int32_t> z_w(static_cast<size_t>(k.m), 0);
      auto fast = Int8Conv::create(xs, x.dtype(), z_x, w, z_w, 0, p, model);
      ASSERT_TRUE(fast) << "case c=" << k.c << " m=" << k.m << " z_x=" << z_x;
      auto ref = conv_accumulate(x, z_x, w, z_w, Tensor(), p, model);
      ASSERT_TRUE(ref.ok()) << ref.status().message();
      const std::vector<int64_t> want = ref->to_i64_vector();  // NCHW
      for (bool nhwc_input : {false, true}) {
        const Shape& os = fast->out_shape();
        std::vector<int32_t> acc(static_cast<size_t>(os[0] * os[1] * os[2] * os[3]));
        const Tensor in = nhwc_input ? x.to_layout(Layout::kNhwc) : x;
        ASSERT_TRUE(fast->run(in, acc.data()).ok());
        const Shape& ys = fast->out_shape();
        ASSERT_EQ(ys, ref->shape());
        int64_t bad = 0;
        for (int64_t b = 0; b < ys[0]; ++b)
          for (int64_t oc = 0; oc < ys[1]; ++oc)
            for (int64_t i = 0; i < ys[2] * ys[3]; ++i) {
              const int64_t nchw = (b * ys[1] + oc) * ys[2] * ys[3] + i;
              const int64_t nhwc = (b * ys[2] * ys[3] + i) * ys[1] + oc;
              const std::vector<int32_t>& off = fast->channel_offset();
              const int64_t got = int64_t{acc[static_cast<size_t>(nhwc)]} +
                                  (off.empty() ? 0 : off[static_cast<size_t>(oc)]);
              bad += got != want[static_cast<size_t>(nchw)];
            }
        EXPECT_EQ(bad, 0) << "c=" << k.c << " m=" << k.m << " group=" << k.group << " z_x=" << z_x
                          << " nhwc=" << nhwc_input;
      }
    }
  }
}

TEST(FastConv, DeclinesWhatItCannotComputeExactly) {
  const Shape xs = {1, 4, 5, 5};
  std::mt19937 rng(1);
  Tensor w = random_tensor<int8_t>(rng, {4, 4, 3, 3}, -127, 127);
  const std::vector<int32_t> z0(4, 0);
  ConvParams p;
  p.pads = {1, 1, 1, 1};
  AccumulatorModel model;
  std::vector<int32_t> zw = z0;
  zw[2] = 1;
  EXPECT_FALSE(Int8Conv::create(xs, DType::kUInt8, 0, w, zw, 0, p, model));  // weight zp
  ConvParams pad0 = p;
  pad0.pad_value = 0;
  EXPECT_FALSE(Int8Conv::create(xs, DType::kUInt8, 7, w, z0, 0, pad0, model));  // pad value
  AccumulatorModel pairs;
  pairs.pair_saturation_u8s8 = true;
  EXPECT_FALSE(Int8Conv::create(xs, DType::kUInt8, 0, w, z0, 0, p, pairs));
  AccumulatorModel narrow;
  narrow.bits = 24;
  EXPECT_FALSE(Int8Conv::create(xs, DType::kUInt8, 0, w, z0, 0, p, narrow));
  EXPECT_FALSE(Int8Conv::create(xs, DType::kInt16, 0, w, z0, 0, p, model));
  // A bias that could overflow int32 together with the products.
  EXPECT_FALSE(Int8Conv::create(xs, DType::kUInt8, 0, w, z0, (int64_t{1} << 31) - 1000, p, model));
}

TEST(Requantizer, ChannelsLastEqualsApply) {
  std::mt19937 rng(3);
  std::uniform_int_distribution<int32_t> acc_d(-(1 << 22), 1 << 22);
  std::uniform_int_distribution<int32_t> bias_d(-5000, 5000);
  for (targets::Requant r : {targets::Requant::kFloat32, targets::Requant::kDoubleRounding,
                             targets::Requant::kSingleRounding, targets::Requant::kRndnu}) {
    for (RoundingMode mode : {RoundingMode::kHalfToEven, RoundingMode::kHalfAwayFromZero}) {
      for (int64_t channels : {1, 3, 8, 13, -8}) {
        RequantInputs in;
        in.s_x = 0.02f;
        // channels < 0: one weight scale (per tensor) for |channels| channels.
        for (int64_t c = 0; c < std::max<int64_t>(channels, 1); ++c)
          in.s_w.push_back(0.001f * static_cast<float>(c + 1));
        channels = std::abs(channels);
        in.s_y = 0.05f;
        in.z_y = 17;
        in.qmin = 0;
        in.qmax = 255;
        in.act_min = 20;
        RequantSpec spec;
        spec.requant = r;
        spec.requant_rounding = mode;
        auto rq = Requantizer::create(in, spec);
        ASSERT_TRUE(rq.ok()) << rq.status().message();
        const int64_t pixels = 37;
        std::vector<int32_t> acc(static_cast<size_t>(pixels * channels)), bias;
        for (int32_t& a : acc) a = acc_d(rng);
        // Exact ties: acc * S lands on k + 0.5 often with these small values.
        for (size_t i = 0; i < acc.size(); i += 5) acc[i] = static_cast<int32_t>(i % 97) - 48;
        for (int64_t c = 0; c < channels; ++c) bias.push_back(bias_d(rng));
        std::vector<uint8_t> out(acc.size());
        rq->apply_channels_last(acc.data(), bias.data(), pixels, channels, out.data());
        for (int64_t p = 0; p < pixels; ++p)
          for (int64_t c = 0; c < channels; ++c) {
            const size_t i = static_cast<size_t>(p * channels + c);
            ASSERT_EQ(out[i], rq->apply(int64_t{acc[i]} + bias[static_cast<size_t>(c)], c))
                << "requant " << static_cast<int>(r) << " channel " << c << " acc " << acc[i];
          }
      }
    }
  }
}

// The reference MaxPool on integers: the maximum of the taps inside the input (padding never
// wins, as ONNX pads with -inf), written out here independently of the float kernel.
std::vector<int64_t> max_pool_ref(const std::vector<int64_t>& x, const Shape& xs,
                                  const MaxPoolGeometry& g, int64_t oh, int64_t ow) {
  std::vector<int64_t> y;
  for (int64_t n = 0; n < xs[0]; ++n)
    for (int64_t c = 0; c < xs[1]; ++c)
      for (int64_t i = 0; i < oh; ++i)
        for (int64_t j = 0; j < ow; ++j) {
          int64_t m = INT64_MIN;
          for (int64_t a = 0; a < g.kernel[0]; ++a)
            for (int64_t b = 0; b < g.kernel[1]; ++b) {
              const int64_t r = i * g.strides[0] - g.pads[0] + a * g.dilations[0];
              const int64_t q = j * g.strides[1] - g.pads[1] + b * g.dilations[1];
              if (r >= 0 && r < xs[2] && q >= 0 && q < xs[3])
                m = std::max(m, x[static_cast<size_t>(((n * xs[1] + c) * xs[2] + r) * xs[3] + q)]);
            }
          y.push_back(m);
        }
  return y;
}

TEST(FastMaxPool, EqualsReference) {
  std::mt19937 rng(11);
  struct PoolCase {
    int64_t k, s, d, p;
    bool ceil;
  };
  for (const PoolCase& pc : {PoolCase{3, 2, 1, 1, false}, PoolCase{2, 2, 1, 0, true},
                             PoolCase{3, 1, 2, 2, false}, PoolCase{3, 2, 1, 0, true}}) {
    for (bool u8 : {true, false}) {
      const Shape xs = {1, 19, 13, 14};
      Tensor x =
          u8 ? random_tensor<uint8_t>(rng, xs, 0, 255) : random_tensor<int8_t>(rng, xs, -128, 127);
      MaxPoolGeometry g;
      g.kernel = {pc.k, pc.k};
      g.strides = {pc.s, pc.s};
      g.dilations = {pc.d, pc.d};
      g.pads = {pc.p, pc.p, pc.p, pc.p};
      g.ceil_mode = pc.ceil;
      auto pool = Int8MaxPool::create(xs, x.dtype(), g);
      ASSERT_TRUE(pool);
      auto y = pool->run(x);
      ASSERT_TRUE(y.ok()) << y.status().message();
      const Tensor yp = y->to_plain();
      EXPECT_EQ(yp.to_i64_vector(), max_pool_ref(x.to_i64_vector(), xs, g, yp.dim(2), yp.dim(3)))
          << "k=" << pc.k << " s=" << pc.s << " ceil=" << pc.ceil << " u8=" << u8;
    }
  }
}

TEST(Elementwise, FastFloatAddAndChannelsLastEqualElementLoop) {
  // qlinear_binary's vectorised kFloat Add/Sub and its channels-last path against the formula.
  std::mt19937 rng(5);
  QuantParams pa, pb, pc;
  pa.scales = {0.0173f};
  pa.zero_points = {131};
  pb.scales = {0.0291f};
  pb.zero_points = {97};
  pc.scales = {0.0388f};
  pc.zero_points = {120};
  for (QuantParams* p : {&pa, &pb, &pc}) p->is_signed = false;
  const Shape s = {1, 21, 5, 7};
  Tensor a = random_tensor<uint8_t>(rng, s, 0, 255), b = random_tensor<uint8_t>(rng, s, 0, 255);
  for (BinaryOp op : {BinaryOp::kAdd, BinaryOp::kSub}) {
    for (bool relu : {false, true}) {
      auto fast = qlinear_binary(op, a, pa, b, pb, pc, targets::AddScheme::kFloat, relu);
      ASSERT_TRUE(fast.ok());
      // numerics.md §2.5, element by element: rA = sA/sC, rB = ±sB/sC, fixed = zC - (rA zA +
      // rB zB), v = fma(a, rA, fma(b, rB, fixed)), rounded half to even, clamped.
      const float ra = pa.scales[0] / pc.scales[0];
      const float rb = (op == BinaryOp::kSub ? -1.0f : 1.0f) * (pb.scales[0] / pc.scales[0]);
      const float fixed = 120.0f - (ra * 131.0f + rb * 97.0f);
      const std::vector<int64_t> av = a.to_i64_vector(), bv = b.to_i64_vector();
      std::vector<int64_t> want;
      for (size_t i = 0; i < av.size(); ++i) {
        const float v =
            std::fma(static_cast<float>(av[i]), ra, std::fma(static_cast<float>(bv[i]), rb, fixed));
        want.push_back(std::clamp<int64_t>(std::llrint(v), relu ? 120 : 0, 255));
      }
      EXPECT_EQ(fast->to_i64_vector(), want);
      auto nhwc = qlinear_binary(op, a.to_layout(Layout::kNhwc), pa, b.to_layout(Layout::kNhwc), pb,
                                 pc, targets::AddScheme::kFloat, relu);
      ASSERT_TRUE(nhwc.ok());
      EXPECT_EQ(nhwc->layout(), Layout::kNhwc);
      EXPECT_EQ(nhwc->to_plain().to_i64_vector(), fast->to_i64_vector());
    }
  }
}

}  // namespace
}  // namespace qdiff::intkernels
