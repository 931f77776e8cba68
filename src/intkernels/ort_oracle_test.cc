// Bit-exact comparison with ONNX Runtime 1.30 (x86-64, AVX-512 VNNI): tiny QLinear* models built
// by testdata/make_ort_cases.py, run by testdata/run_ort.js; inputs and ORT's outputs are
// committed. The kernels run with ORT's x86 mechanisms (Requant::kFloat32,
// ScaleMath::kFloat32TwoStep, AddScheme::kFloat, AvgPoolScheme::kFloat, LutScheme::kFloatRhe).
// The quantization parameters below repeat those of make_ort_cases.py.
#include <gtest/gtest.h>

#include <cstdio>
#include <string>

#include "intkernels/elementwise.h"
#include "intkernels/linear.h"
#include "intkernels/pool.h"
#include "tensor/npy.h"

namespace qdiff::intkernels {
namespace {

using targets::AddScheme;
using targets::AvgPoolScheme;
using targets::LutScheme;

Tensor load(const std::string& name) {
  const std::string path = std::string(QDIFF_SOURCE_DIR) + "/src/intkernels/testdata/" + name;
  Result<Tensor> t = read_npy(path);
  QDIFF_ASSERT(t.ok(), "cannot read " + path + ": " + t.status().message());
  return std::move(t).value();
}

QuantParams u8(float s, int32_t z) {
  QuantParams p;
  p.bits = 8;
  p.is_signed = false;
  p.scales = {s};
  p.zero_points = {z};
  return p;
}
QuantParams s8(float s, int32_t z) {
  QuantParams p = u8(s, z);
  p.is_signed = true;
  return p;
}
QuantParams s8w(std::vector<float> scales) {
  QuantParams p;
  p.bits = 8;
  p.is_signed = true;
  p.symmetric = true;
  p.scales = scales;
  p.zero_points.assign(scales.size(), 0);
  p.axis = scales.size() > 1 ? 0 : -1;
  return p;
}

// Fraction of equal elements; prints it (the report asks for it per case).
double exact_fraction(const std::string& kase, const Tensor& got, const Tensor& want,
                      bool fail_on_mismatch = true) {
  EXPECT_EQ(got.dtype(), want.dtype()) << kase;
  EXPECT_EQ(got.shape(), want.shape()) << kase;
  if (got.shape() != want.shape()) return 0.0;
  const auto g = got.to_i64_vector(), w = want.to_i64_vector();
  int64_t same = 0;
  for (size_t i = 0; i < g.size(); ++i) {
    if (g[i] == w[i]) {
      ++same;
    } else if (fail_on_mismatch && same + 8 > static_cast<int64_t>(i)) {
      ADD_FAILURE() << kase << ": element " << i << " qdiff " << g[i] << " ORT " << w[i];
    }
  }
  const double frac = static_cast<double>(same) / static_cast<double>(g.size());
  std::printf("[ort-bit-exact] %-14s %5lld / %5zu = %.4f\n", kase.c_str(),
              static_cast<long long>(same), g.size(), frac);
  return frac;
}

QLinearOptions ort_options() {
  QLinearOptions o;
  o.spec.requant = targets::Requant::kFloat32;
  o.spec.scale_math = targets::ScaleMath::kFloat32TwoStep;
  o.model.bits = 32;
  return o;
}

TEST(OrtOracle, QLinearConvPerChannel) {
  ConvParams p;
  p.pads = {1, 1, 1, 1};
  auto y = qlinear_conv(load("conv_pc.x.npy"), u8(0.02f, 117), load("conv_pc.w.npy"),
                        s8w({0.003f, 0.0011f, 0.0052f, 0.0007f}), load("conv_pc.b.npy"),
                        u8(0.05f, 120), p, ort_options());
  ASSERT_TRUE(y.ok()) << y.status().message();
  EXPECT_EQ(exact_fraction("conv_pc", *y, load("conv_pc.y.npy")), 1.0);
}

TEST(OrtOracle, QLinearConvDepthwise) {
  ConvParams p;
  p.group = 4;
  p.strides = {2, 2};
  p.pads = {1, 2, 2, 1};
  p.dilations = {2, 2};
  auto y = qlinear_conv(load("conv_dw.x.npy"), u8(0.031f, 128), load("conv_dw.w.npy"),
                        s8w({0.0042f, 0.0019f, 0.0063f, 0.0025f}), load("conv_dw.b.npy"),
                        u8(0.04f, 100), p, ort_options());
  ASSERT_TRUE(y.ok()) << y.status().message();
  EXPECT_EQ(exact_fraction("conv_dw", *y, load("conv_dw.y.npy")), 1.0);
}

TEST(OrtOracle, QLinearMatMul) {
  for (const char* kase : {"matmul_pt", "matmul_pc"}) {
    QuantParams b = std::string(kase) == "matmul_pt"
                        ? s8w({0.0045f})
                        : s8w({0.003f, 0.0061f, 0.0012f, 0.0029f, 0.008f});
    if (b.per_channel()) b.axis = 1;
    auto y = qlinear_matmul(load(std::string(kase) + ".a.npy"), u8(0.027f, 131),
                            load(std::string(kase) + ".bm.npy"), b, u8(0.11f, 125), ort_options());
    ASSERT_TRUE(y.ok()) << y.status().message();
    EXPECT_EQ(exact_fraction(kase, *y, load(std::string(kase) + ".y.npy")), 1.0);
  }
}

TEST(OrtOracle, QLinearAddAndMul) {
  for (const char* op : {"add", "mul"}) {
    for (const char* tag : {"same", "bchan", "bscalar", "ainner"}) {
      const std::string kase = std::string(op) + "_" + tag;
      const bool add = std::string(op) == "add";
      auto c = qlinear_binary(add ? BinaryOp::kAdd : BinaryOp::kMul, load(kase + ".a.npy"),
                              u8(0.0371f, 121), load(kase + ".b.npy"), u8(0.0213f, 140),
                              u8(add ? 0.0457f : 0.0093f, 118), AddScheme::kFloat);
      ASSERT_TRUE(c.ok()) << c.status().message();
      EXPECT_EQ(exact_fraction(kase, *c, load(kase + ".y.npy")), 1.0);
    }
  }
}

TEST(OrtOracle, QLinearGlobalAveragePool) {
  auto y = global_avg_pool(load("gavgpool.x.npy"), u8(0.043f, 119), u8(0.017f, 125),
                           AvgPoolScheme::kFloat);
  ASSERT_TRUE(y.ok()) << y.status().message();
  EXPECT_EQ(exact_fraction("gavgpool", *y, load("gavgpool.y.npy")), 1.0);
}

TEST(OrtOracle, QLinearAveragePool) {
  for (int cip : {0, 1}) {
    PoolParams p;
    p.kernel = {3, 3};
    p.strides = {2, 2};
    p.pads = {1, 1, 1, 1};
    p.count_include_pad = cip == 1;
    const std::string kase = "avgpool_cip" + std::to_string(cip);
    auto y =
        avg_pool(load(kase + ".x.npy"), u8(0.029f, 127), u8(0.023f, 131), p, AvgPoolScheme::kFloat);
    ASSERT_TRUE(y.ok()) << y.status().message();
    EXPECT_EQ(exact_fraction(kase, *y, load(kase + ".y.npy")), 1.0);
  }
}

TEST(OrtOracle, QLinearSigmoidAndLeakyRelu) {
  struct Case {
    const char* name;
    bool sign;
    bool sigmoid;
  };
  for (const Case& c : {Case{"sigmoid_u8", false, true}, Case{"sigmoid_s8", true, true},
                        Case{"leaky_u8", false, false}, Case{"leaky_s8", true, false}}) {
    const int32_t zx = c.sign ? 0 : 128;
    const int32_t zy = c.sigmoid ? (c.sign ? -128 : 0) : zx - 20;
    const float sy = c.sigmoid ? 1.0f / 256 : 0.031f;
    const QuantParams in = c.sign ? s8(0.047f, zx) : u8(0.047f, zx);
    const QuantParams out = c.sign ? s8(sy, zy) : u8(sy, zy);
    RealFunction f = c.sigmoid ? RealFunction([](float x) { return mlas_logistic(x, true); })
                               : RealFunction([](float x) { return leaky_relu_ref(x, 0.1f); });
    auto lut = build_lut(f, in, out, LutScheme::kFloatRhe);
    ASSERT_TRUE(lut.ok()) << lut.status().message();
    const Tensor x = load(std::string(c.name) + ".x.npy");
    auto y = apply_lut(x, *lut, x.dtype());
    ASSERT_TRUE(y.ok()) << y.status().message();
    EXPECT_EQ(exact_fraction(c.name, *y, load(std::string(c.name) + ".y.npy")), 1.0);
  }
}

}  // namespace
}  // namespace qdiff::intkernels

namespace qdiff::intkernels {
namespace {

// Exact halves (ratios 0.5 and 0.25): ORT's x86 Add rounds them half to even; the other
// schemes' tie rules (rhu, rhaz) disagree with it on a sizeable fraction, so this case tests the
// rounding mechanism itself.
TEST(OrtOracle, QLinearAddTies) {
  const Tensor a = load("add_ties.a.npy"), b = load("add_ties.b.npy");
  const Tensor want = load("add_ties.y.npy");
  auto run = [&](AddScheme s) {
    auto c =
        qlinear_binary(BinaryOp::kAdd, a, u8(0.02f, 128), b, u8(0.01f, 128), u8(0.04f, 128), s);
    QDIFF_ASSERT(c.ok(), c.status().message());
    return std::move(c).value();
  };
  EXPECT_EQ(exact_fraction("add_ties", run(AddScheme::kFloat), want), 1.0);
  EXPECT_LT(exact_fraction("add_ties/xnn", run(AddScheme::kXnnpack), want, false), 0.95);
  EXPECT_LT(exact_fraction("add_ties/arm", run(AddScheme::kFixed22Rhaz), want, false), 0.95);
}

}  // namespace
}  // namespace qdiff::intkernels
