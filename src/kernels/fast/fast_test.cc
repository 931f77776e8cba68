// Every fast kernel against its reference kernel (the specification), over randomized shapes,
// plus state caching and bit-exact determinism across thread counts.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "kernels/fast/fast.h"
#include "kernels/reference/reference.h"
#include "testing/test_util.h"

namespace qdiff::kernels {
namespace {

using Ints = std::vector<int64_t>;

struct RunResult {
  Status status;
  std::vector<Tensor> y;
};

// Runs a kernel through the KernelContext convention; an undefined Tensor in `in` stands for
// an absent optional input. `state` (optional) persists between calls like the runtime's.
RunResult run(KernelFn fn, const std::vector<Tensor>& in, const Attributes& attrs, int threads = 1,
              std::unique_ptr<KernelState>* state = nullptr, int64_t opset = 13, size_t n_out = 1) {
  std::vector<const Tensor*> ptrs;
  for (const Tensor& t : in) ptrs.push_back(t.defined() ? &t : nullptr);
  RunResult r;
  r.y.resize(n_out);
  std::unique_ptr<KernelState> local;
  KernelContext ctx{attrs, ptrs, r.y, opset, threads, state ? state : &local};
  r.status = fn(ctx);
  return r;
}

Attributes attrs(std::vector<std::pair<std::string, AttributeValue>> list) {
  Attributes a;
  for (auto& [k, v] : list) a.set(k, std::move(v));
  return a;
}

Tensor random_f32(std::mt19937& rng, Shape shape, float lo = -1.0f, float hi = 1.0f) {
  Tensor t = Tensor::zeros(DType::kFloat32, std::move(shape));
  std::uniform_real_distribution<float> dist(lo, hi);
  float* d = t.mutable_data<float>();
  for (int64_t i = 0; i < t.numel(); ++i) d[i] = dist(rng);
  return t;
}

// max|fast - ref| <= rtol * max|ref| + atol over the tensor (a float32 sum in another order).
::testing::AssertionResult close_to_ref(const Tensor& fast, const Tensor& ref, double rtol = 1e-4,
                                        double atol = 1e-6) {
  if (fast.dtype() != ref.dtype() || fast.shape() != ref.shape())
    return ::testing::AssertionFailure() << "shape/dtype " << shape_to_string(fast.shape())
                                         << " vs " << shape_to_string(ref.shape());
  const float* f = fast.data<float>();
  const float* r = ref.data<float>();
  double max_ref = 0, max_diff = 0;
  int64_t worst = 0;
  for (int64_t i = 0; i < ref.numel(); ++i) {
    max_ref = std::max(max_ref, std::abs(static_cast<double>(r[i])));
    const double d = std::abs(static_cast<double>(f[i]) - static_cast<double>(r[i]));
    if (!(d <= max_diff)) {  // NaN counts as a difference
      max_diff = std::isnan(d) ? INFINITY : d;
      worst = i;
    }
  }
  if (max_diff <= rtol * max_ref + atol) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << "max|diff| " << max_diff << " at " << worst << " (fast " << f[worst] << ", ref "
         << r[worst] << "), max|ref| " << max_ref;
}

bool bit_equal(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && a.dtype() == b.dtype() &&
         std::memcmp(a.raw(), b.raw(), a.nbytes()) == 0;
}

// ---- Conv ----

struct ConvCase {
  int64_t n, c, m, group, h, w, kh, kw;
  Ints strides, dilations, pads;
  std::string auto_pad = "NOTSET";
  bool bias = true;
  std::string describe() const {
    std::string s = "N" + std::to_string(n) + " C" + std::to_string(c) + " M" + std::to_string(m) +
                    " g" + std::to_string(group) + " " + std::to_string(h) + "x" +
                    std::to_string(w) + " k" + std::to_string(kh) + "x" + std::to_string(kw) +
                    " s" + shape_to_string(strides) + " d" + shape_to_string(dilations) + " p" +
                    shape_to_string(pads) + " " + auto_pad + (bias ? " bias" : "");
    return s;
  }
  Attributes attributes() const {
    Attributes a = attrs({{"group", group},
                          {"strides", strides},
                          {"dilations", dilations},
                          {"kernel_shape", Ints{kh, kw}}});
    if (auto_pad == "NOTSET")
      a.set("pads", pads);
    else
      a.set("auto_pad", auto_pad);
    return a;
  }
  // Output extent >= 1 in both dims.
  bool valid() const {
    if (auto_pad != "NOTSET")
      return auto_pad != "VALID" ||
             (h >= (kh - 1) * dilations[0] + 1 && w >= (kw - 1) * dilations[1] + 1);
    return h + pads[0] + pads[2] >= (kh - 1) * dilations[0] + 1 &&
           w + pads[1] + pads[3] >= (kw - 1) * dilations[1] + 1;
  }
};

struct ConvData {
  Tensor x, w, b;
};

ConvData conv_data(std::mt19937& rng, const ConvCase& k) {
  ConvData d;
  d.x = random_f32(rng, {k.n, k.c, k.h, k.w});
  d.w = random_f32(rng, {k.m, k.c / k.group, k.kh, k.kw});
  if (k.bias) d.b = random_f32(rng, {k.m});
  return d;
}

void expect_conv_matches(std::mt19937& rng, const ConvCase& k, int threads = 1) {
  SCOPED_TRACE(k.describe());
  const ConvData d = conv_data(rng, k);
  const Attributes a = k.attributes();
  RunResult ref = run(ref::Conv, {d.x, d.w, d.b}, a);
  ASSERT_TRUE(ref.status.ok()) << ref.status.message();
  RunResult fast = run(fast::Conv, {d.x, d.w, d.b}, a, threads);
  ASSERT_TRUE(fast.status.ok()) << fast.status.message();
  EXPECT_TRUE(close_to_ref(fast.y[0], ref.y[0]));
}

ConvCase random_conv(std::mt19937& rng) {
  auto pick = [&](int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
  };
  for (;;) {
    ConvCase k;
    k.n = pick(1, 2);
    const int64_t kind = pick(0, 3);  // 0,1 dense, 2 depthwise, 3 grouped
    if (kind <= 1) {
      k.group = 1;
      k.c = pick(1, 40);
      k.m = pick(1, 40);
    } else if (kind == 2) {
      k.c = pick(1, 48);
      k.group = k.c;
      k.m = k.c * pick(1, 2);  // depthwise, optionally with a channel multiplier
    } else {
      k.group = pick(2, 4);
      k.c = k.group * pick(1, 8);
      k.m = k.group * pick(1, 8);
    }
    k.h = pick(1, 23);
    k.w = pick(1, 23);
    k.kh = pick(1, 5);
    k.kw = pick(1, 5);
    if (pick(0, 3) == 0) k.kh = k.kw = 1;
    k.strides = {pick(1, 3), pick(1, 3)};
    k.dilations = pick(0, 2) == 0 ? Ints{pick(1, 3), pick(1, 3)} : Ints{1, 1};
    k.pads = {pick(0, k.kh - 1), pick(0, k.kw - 1), pick(0, k.kh - 1), pick(0, k.kw - 1)};
    const int64_t ap = pick(0, 7);
    k.auto_pad = ap == 0 ? "SAME_UPPER" : ap == 1 ? "SAME_LOWER" : ap == 2 ? "VALID" : "NOTSET";
    k.bias = pick(0, 1) == 1;
    if (k.valid()) return k;
  }
}

TEST(FastConv, RandomShapesMatchReference) {
  std::mt19937 rng(1234);
  for (int i = 0; i < 300; ++i) expect_conv_matches(rng, random_conv(rng), 1 + i % 2);
}

TEST(FastConv, NetworkLayers) {
  std::mt19937 rng(7);
  const std::vector<ConvCase> cases = {
      // ResNet stem, 3x3 block, 1x1 downsample.
      {1, 3, 64, 1, 56, 56, 7, 7, {2, 2}, {1, 1}, {3, 3, 3, 3}},
      {1, 64, 64, 1, 28, 28, 3, 3, {1, 1}, {1, 1}, {1, 1, 1, 1}},
      {1, 128, 256, 1, 14, 14, 1, 1, {2, 2}, {1, 1}, {0, 0, 0, 0}, "NOTSET", false},
      {1, 256, 256, 1, 7, 7, 3, 3, {1, 1}, {1, 1}, {1, 1, 1, 1}},
      // MobileNetV2: stem, depthwise s1/s2, pointwise expand/project.
      {1, 3, 32, 1, 32, 32, 3, 3, {2, 2}, {1, 1}, {1, 1, 1, 1}},
      {1, 96, 96, 96, 28, 28, 3, 3, {2, 2}, {1, 1}, {1, 1, 1, 1}},
      {1, 144, 144, 144, 14, 14, 3, 3, {1, 1}, {1, 1}, {1, 1, 1, 1}},
      {1, 24, 144, 1, 14, 14, 1, 1, {1, 1}, {1, 1}, {0, 0, 0, 0}},
      {1, 960, 160, 1, 7, 7, 1, 1, {1, 1}, {1, 1}, {0, 0, 0, 0}},
      // Odd channel counts, asymmetric pads, dilation, no bias.
      {2, 7, 13, 1, 11, 9, 3, 2, {1, 2}, {2, 1}, {0, 1, 2, 0}, "NOTSET", false},
      {1, 6, 9, 3, 10, 13, 5, 3, {3, 1}, {1, 2}, {2, 0, 1, 2}},
  };
  for (const ConvCase& k : cases) expect_conv_matches(rng, k, 2);
}

TEST(FastConv, StateIsReusedAndWeightsChangeIsSeen) {
  std::mt19937 rng(3);
  const ConvCase k{1, 16, 32, 1, 12, 12, 3, 3, {1, 1}, {1, 1}, {1, 1, 1, 1}};
  const Attributes a = k.attributes();
  std::unique_ptr<KernelState> state;
  const ConvData d1 = conv_data(rng, k);
  const ConvData d2 = conv_data(rng, k);
  RunResult f1 = run(fast::Conv, {d1.x, d1.w, d1.b}, a, 1, &state);
  ASSERT_TRUE(f1.status.ok()) << f1.status.message();
  KernelState* first = state.get();
  ASSERT_NE(first, nullptr);
  RunResult f1b = run(fast::Conv, {d2.x, d1.w, d1.b}, a, 1, &state);
  ASSERT_TRUE(f1b.status.ok());
  EXPECT_EQ(state.get(), first);  // same shapes: cached primitive
  EXPECT_TRUE(close_to_ref(f1b.y[0], run(ref::Conv, {d2.x, d1.w, d1.b}, a).y[0]));
  // New weights storage (same shape): must be reordered again.
  RunResult f2 = run(fast::Conv, {d2.x, d2.w, d2.b}, a, 1, &state);
  ASSERT_TRUE(f2.status.ok());
  EXPECT_TRUE(close_to_ref(f2.y[0], run(ref::Conv, {d2.x, d2.w, d2.b}, a).y[0]));
  // New input shape: rebuilt.
  const Tensor x3 = random_f32(rng, {2, 16, 7, 9});
  RunResult f3 = run(fast::Conv, {x3, d2.w, d2.b}, a, 1, &state);
  ASSERT_TRUE(f3.status.ok());
  EXPECT_TRUE(close_to_ref(f3.y[0], run(ref::Conv, {x3, d2.w, d2.b}, a).y[0]));
  // Back to the first input, same state: matches the first run bit for bit.
  RunResult f4 = run(fast::Conv, {d1.x, d1.w, d1.b}, a, 1, &state);
  ASSERT_TRUE(f4.status.ok());
  EXPECT_TRUE(bit_equal(f4.y[0], f1.y[0]));
}

TEST(FastConv, FallsBackOutsideItsCoverage) {
  std::mt19937 rng(5);
  // 1-D and 3-D convolutions.
  RunResult r1 = run(fast::Conv, {random_f32(rng, {1, 2, 9}), random_f32(rng, {3, 2, 3})}, {});
  EXPECT_EQ(r1.status.code(), ErrorCode::kUnsupported);
  RunResult r3 =
      run(fast::Conv, {random_f32(rng, {1, 2, 4, 4, 4}), random_f32(rng, {3, 2, 2, 2, 2})}, {});
  EXPECT_EQ(r3.status.code(), ErrorCode::kUnsupported);
  // float64.
  const Tensor xd = Tensor::zeros(DType::kFloat64, {1, 1, 3, 3});
  const Tensor wd = Tensor::zeros(DType::kFloat64, {1, 1, 2, 2});
  EXPECT_EQ(run(fast::Conv, {xd, wd}, {}).status.code(), ErrorCode::kUnsupported);
  // Invalid models are left to the reference kernel's messages.
  RunResult bad = run(fast::Conv, {random_f32(rng, {1, 3, 5, 5}), random_f32(rng, {4, 2, 3, 3})},
                      attrs({{"group", int64_t{1}}}));
  EXPECT_EQ(bad.status.code(), ErrorCode::kUnsupported);
}

// Bit-exact results at 1, 2 and 3 threads (3 > the cores of small CI machines on purpose).
TEST(FastConv, BitIdenticalAcrossThreadCounts) {
  std::mt19937 rng(11);
  std::vector<ConvCase> cases = {
      {1, 3, 64, 1, 112, 112, 7, 7, {2, 2}, {1, 1}, {3, 3, 3, 3}},
      {1, 64, 64, 1, 56, 56, 3, 3, {1, 1}, {1, 1}, {1, 1, 1, 1}},
      {1, 256, 512, 1, 14, 14, 3, 3, {2, 2}, {1, 1}, {1, 1, 1, 1}},
      {1, 512, 512, 1, 7, 7, 3, 3, {1, 1}, {1, 1}, {1, 1, 1, 1}},
      {1, 320, 1280, 1, 7, 7, 1, 1, {1, 1}, {1, 1}, {0, 0, 0, 0}},
      {1, 32, 32, 32, 112, 112, 3, 3, {1, 1}, {1, 1}, {1, 1, 1, 1}},
      {1, 960, 960, 960, 7, 7, 3, 3, {1, 1}, {1, 1}, {1, 1, 1, 1}},
      {2, 37, 45, 1, 17, 19, 3, 5, {2, 1}, {2, 1}, {1, 0, 2, 3}},
      {1, 2048, 16, 1, 3, 3, 1, 1, {1, 1}, {1, 1}, {0, 0, 0, 0}},  // long reduction, tiny output
      // Grouped (not depthwise): oneDNN's gemm convolution; long reductions, tiny outputs.
      {1, 2048, 4, 2, 4, 4, 3, 3, {1, 1}, {1, 1}, {1, 1, 1, 1}},
      {1, 1024, 64, 4, 3, 3, 3, 3, {1, 1}, {1, 1}, {0, 0, 0, 0}},
      {1, 64, 128, 2, 28, 28, 3, 3, {1, 1}, {1, 1}, {1, 1, 1, 1}},
  };
  for (int i = 0; i < 20; ++i) cases.push_back(random_conv(rng));
  for (const ConvCase& k : cases) {
    SCOPED_TRACE(k.describe());
    const ConvData d = conv_data(rng, k);
    const Attributes a = k.attributes();
    RunResult t1 = run(fast::Conv, {d.x, d.w, d.b}, a, 1);
    ASSERT_TRUE(t1.status.ok()) << t1.status.message();
    for (int threads : {2, 3}) {
      RunResult tn = run(fast::Conv, {d.x, d.w, d.b}, a, threads);
      ASSERT_TRUE(tn.status.ok()) << tn.status.message();
      EXPECT_TRUE(bit_equal(t1.y[0], tn.y[0])) << threads << " threads";
    }
  }
}

// ---- Gemm / MatMul ----

TEST(FastGemm, RandomShapesMatchReference) {
  std::mt19937 rng(21);
  auto pick = [&](int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
  };
  for (int i = 0; i < 120; ++i) {
    const int64_t M = pick(0, 3) == 0 ? 1 : pick(1, 70), K = pick(1, 600), N = pick(1, 90);
    const bool ta = pick(0, 1), tb = pick(0, 1);
    const Tensor a = random_f32(rng, ta ? Shape{K, M} : Shape{M, K});
    const Tensor b = random_f32(rng, tb ? Shape{N, K} : Shape{K, N});
    const int64_t cs = pick(0, 5);
    Tensor c;
    if (cs == 1) c = random_f32(rng, {N});
    if (cs == 2) c = random_f32(rng, {M, N});
    if (cs == 3) c = random_f32(rng, {M, 1});
    if (cs == 4) c = random_f32(rng, {1});
    if (cs == 5) c = random_f32(rng, {});
    const Attributes at = attrs({{"transA", int64_t{ta}}, {"transB", int64_t{tb}}});
    SCOPED_TRACE("M" + std::to_string(M) + " K" + std::to_string(K) + " N" + std::to_string(N) +
                 " ta" + std::to_string(ta) + " tb" + std::to_string(tb) + " C" +
                 std::to_string(cs));
    RunResult ref = run(ref::Gemm, {a, b, c}, at);
    ASSERT_TRUE(ref.status.ok()) << ref.status.message();
    RunResult fast = run(fast::Gemm, {a, b, c}, at, 1 + i % 2);
    ASSERT_TRUE(fast.status.ok()) << fast.status.message();
    EXPECT_TRUE(close_to_ref(fast.y[0], ref.y[0]));
  }
}

TEST(FastGemm, AlphaBetaFallBack) {
  std::mt19937 rng(22);
  const Tensor a = random_f32(rng, {2, 3}), b = random_f32(rng, {3, 4}), c = random_f32(rng, {4});
  EXPECT_EQ(run(fast::Gemm, {a, b, c}, attrs({{"alpha", 2.0f}})).status.code(),
            ErrorCode::kUnsupported);
  EXPECT_EQ(run(fast::Gemm, {a, b, c}, attrs({{"beta", 0.5f}})).status.code(),
            ErrorCode::kUnsupported);
  EXPECT_TRUE(run(fast::Gemm, {a, b, Tensor()}, attrs({{"beta", 0.5f}})).status.ok());
}

TEST(FastMatMul, RandomShapesMatchReference) {
  std::mt19937 rng(23);
  auto pick = [&](int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
  };
  for (int i = 0; i < 60; ++i) {
    const int64_t K = pick(1, 300), N = pick(1, 70);
    Shape as = {pick(1, 40), K};
    if (i % 3 == 1) as.insert(as.begin(), pick(1, 4));
    if (i % 3 == 2) as.insert(as.begin(), {pick(1, 3), pick(1, 3)});
    const Tensor a = random_f32(rng, as), b = random_f32(rng, {K, N});
    RunResult ref = run(ref::MatMul, {a, b}, {});
    ASSERT_TRUE(ref.status.ok()) << ref.status.message();
    RunResult fast = run(fast::MatMul, {a, b}, {}, 1 + i % 2);
    ASSERT_TRUE(fast.status.ok()) << fast.status.message();
    EXPECT_TRUE(close_to_ref(fast.y[0], ref.y[0])) << shape_to_string(as) << " x " << N;
  }
  // Batched B and 1-D operands fall back.
  EXPECT_EQ(
      run(fast::MatMul, {random_f32(rng, {2, 3, 4}), random_f32(rng, {2, 4, 5})}, {}).status.code(),
      ErrorCode::kUnsupported);
  EXPECT_EQ(run(fast::MatMul, {random_f32(rng, {4}), random_f32(rng, {4, 5})}, {}).status.code(),
            ErrorCode::kUnsupported);
}

TEST(FastGemm, BitIdenticalAcrossThreadCounts) {
  std::mt19937 rng(24);
  const std::vector<Ints> shapes = {{1, 512, 1000}, {1, 1280, 1000}, {1, 4096, 8},
                                    {64, 2048, 64}, {256, 256, 256}, {3, 9000, 5}};
  for (const Ints& s : shapes) {
    const Tensor a = random_f32(rng, {s[0], s[1]}), b = random_f32(rng, {s[2], s[1]});
    const Tensor c = random_f32(rng, {s[2]});
    const Attributes at = attrs({{"transB", int64_t{1}}});
    RunResult t1 = run(fast::Gemm, {a, b, c}, at, 1);
    ASSERT_TRUE(t1.status.ok()) << t1.status.message();
    for (int threads : {2, 3}) {
      RunResult tn = run(fast::Gemm, {a, b, c}, at, threads);
      ASSERT_TRUE(tn.status.ok());
      EXPECT_TRUE(bit_equal(t1.y[0], tn.y[0])) << shape_to_string(s) << " " << threads;
    }
  }
}

// ---- Pooling ----

TEST(FastPool, RandomShapesMatchReference) {
  std::mt19937 rng(31);
  auto pick = [&](int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
  };
  int covered = 0, total = 0;
  for (int i = 0; i < 300; ++i) {
    const bool is_max = i % 2 == 0;
    const int64_t kh = pick(1, 4), kw = pick(1, 4);
    const Ints strides = {pick(1, 3), pick(1, 3)};
    const Ints dil = is_max && pick(0, 3) == 0 ? Ints{pick(1, 2), pick(1, 2)} : Ints{1, 1};
    const Ints pads = {pick(0, kh - 1), pick(0, kw - 1), pick(0, kh - 1), pick(0, kw - 1)};
    const int64_t h = pick(1, 20) + (kh - 1) * dil[0], w = pick(1, 20) + (kw - 1) * dil[1];
    const Tensor x = random_f32(rng, {pick(1, 2), pick(1, 20), h, w});
    Attributes a =
        attrs({{"kernel_shape", Ints{kh, kw}}, {"strides", strides}, {"ceil_mode", pick(0, 1)}});
    const int64_t ap = pick(0, 5);
    if (ap == 0)
      a.set("auto_pad", std::string("SAME_UPPER"));
    else if (ap == 1)
      a.set("auto_pad", std::string("SAME_LOWER"));
    else if (ap == 2)
      a.set("auto_pad", std::string("VALID"));
    else
      a.set("pads", pads);
    if (is_max && dil != Ints{1, 1}) a.set("dilations", dil);
    if (!is_max) a.set("count_include_pad", pick(0, 1));
    KernelFn rf = is_max ? ref::MaxPool : ref::AveragePool;
    KernelFn ff = is_max ? fast::MaxPool : fast::AveragePool;
    RunResult ref = run(rf, {x}, a);
    if (!ref.status.ok()) continue;  // e.g. SAME padding wider than the window
    ++total;
    RunResult fast = run(ff, {x}, a, 1 + i % 2);
    if (fast.status.code() == ErrorCode::kUnsupported) continue;
    ASSERT_TRUE(fast.status.ok()) << fast.status.message();
    ++covered;
    EXPECT_TRUE(close_to_ref(fast.y[0], ref.y[0], 1e-5))
        << (is_max ? "MaxPool " : "AveragePool ") << shape_to_string(x.shape()) << " k" << kh << "x"
        << kw << " s" << shape_to_string(strides) << " d" << shape_to_string(dil) << " pads"
        << shape_to_string(pads) << " auto_pad " << ap;
  }
  EXPECT_GT(covered, total * 8 / 10) << covered << " of " << total << " covered";
}

TEST(FastPool, NetworkLayersAndFallbacks) {
  std::mt19937 rng(32);
  // ResNet's stem max pool.
  const Tensor x = random_f32(rng, {1, 64, 112, 112});
  const Attributes a =
      attrs({{"kernel_shape", Ints{3, 3}}, {"strides", Ints{2, 2}}, {"pads", Ints{1, 1, 1, 1}}});
  RunResult ref = run(ref::MaxPool, {x}, a);
  RunResult fast = run(fast::MaxPool, {x}, a, 2);
  ASSERT_TRUE(fast.status.ok()) << fast.status.message();
  EXPECT_TRUE(bit_equal(fast.y[0], ref.y[0]));  // max is exact
  RunResult fast1 = run(fast::MaxPool, {x}, a, 1);
  EXPECT_TRUE(bit_equal(fast.y[0], fast1.y[0]));
  // The Indices output, 1-D pooling and float64 fall back.
  EXPECT_EQ(run(fast::MaxPool, {x}, a, 1, nullptr, 13, 2).status.code(), ErrorCode::kUnsupported);
  EXPECT_EQ(run(fast::MaxPool, {random_f32(rng, {1, 2, 9})}, attrs({{"kernel_shape", Ints{3}}}))
                .status.code(),
            ErrorCode::kUnsupported);
  EXPECT_EQ(run(fast::AveragePool, {Tensor::zeros(DType::kFloat64, {1, 1, 4, 4})},
                attrs({{"kernel_shape", Ints{2, 2}}}))
                .status.code(),
            ErrorCode::kUnsupported);
  // Average pooling: bit-identical across thread counts.
  const Attributes avg = attrs({{"kernel_shape", Ints{3, 3}},
                                {"strides", Ints{1, 1}},
                                {"pads", Ints{1, 1, 1, 1}},
                                {"count_include_pad", int64_t{1}}});
  RunResult a1 = run(fast::AveragePool, {x}, avg, 1);
  RunResult a2 = run(fast::AveragePool, {x}, avg, 2);
  ASSERT_TRUE(a1.status.ok()) << a1.status.message();
  ASSERT_TRUE(a2.status.ok());
  EXPECT_TRUE(bit_equal(a1.y[0], a2.y[0]));
  EXPECT_TRUE(close_to_ref(a1.y[0], run(ref::AveragePool, {x}, avg).y[0], 1e-5));
}

// ---- Elementwise ----

// Random float32 data salted with NaN, +-Inf, +-0, denormals and values near the clip bounds.
Tensor special_f32(std::mt19937& rng, Shape shape) {
  Tensor t = random_f32(rng, std::move(shape), -8.0f, 8.0f);
  const float specials[] = {NAN,     -NAN, INFINITY, -INFINITY, 0.0f, -0.0f, 1e-40f,
                            -1e-40f, 3.0f, -3.0f,    6.0f,      0.5f, -0.5f, 1.0f};
  float* d = t.mutable_data<float>();
  std::uniform_int_distribution<int> pick(0, 3);
  for (int64_t i = 0; i < t.numel(); ++i)
    if (pick(rng) == 0) d[i] = specials[static_cast<size_t>(i) % std::size(specials)];
  return t;
}

// Bit-identical, except that two NaNs match whatever their sign/payload: when both operands of
// a + b or a * b are NaN, which one propagates depends on the operand order the compiler picks
// (C++ leaves it open; the reference is no different).
bool bit_equal_nan(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape() || a.dtype() != b.dtype()) return false;
  const float* pa = a.data<float>();
  const float* pb = b.data<float>();
  for (int64_t i = 0; i < a.numel(); ++i)
    if (std::memcmp(&pa[i], &pb[i], sizeof(float)) != 0 &&
        !(std::isnan(pa[i]) && std::isnan(pb[i])))
      return false;
  return true;
}

// Runs `fn` with NHWC permitted on the output (inputs as given).
RunResult run_nhwc(KernelFn fn, const std::vector<Tensor>& in, const Attributes& a, int threads,
                   int64_t opset = 13) {
  std::vector<const Tensor*> ptrs;
  for (const Tensor& t : in) ptrs.push_back(t.defined() ? &t : nullptr);
  RunResult r;
  r.y.resize(1);
  std::unique_ptr<KernelState> local;
  KernelContext ctx{a, ptrs, r.y, opset, threads, &local};
  ctx.nhwc_output = true;
  r.status = fn(ctx);
  return r;
}

struct EltCase {
  const char* name;
  KernelFn ref_fn, fast_fn;
  Attributes attrs;
  int64_t opset = 13;
  std::vector<Tensor> extra;  // inputs after X (Clip's min/max)
};

std::vector<EltCase> unary_cases() {
  return {
      {"Relu", ref::Relu, fast::Relu, {}, 13, {}},
      {"LeakyRelu", ref::LeakyRelu, fast::LeakyRelu, attrs({{"alpha", 0.1f}}), 13, {}},
      {"Sigmoid", ref::Sigmoid, fast::Sigmoid, {}, 13, {}},
      {"HardSigmoid",
       ref::HardSigmoid,
       fast::HardSigmoid,
       attrs({{"alpha", 0.3f}, {"beta", 0.6f}}),
       13,
       {}},
      {"HardSigmoid default", ref::HardSigmoid, fast::HardSigmoid, {}, 13, {}},
      {"HardSwish", ref::HardSwish, fast::HardSwish, {}, 13, {}},
      {"Clip 6", ref::Clip, fast::Clip, attrs({{"min", 0.0f}, {"max", 6.0f}}), 6, {}},
      {"Clip 6 no max", ref::Clip, fast::Clip, attrs({{"min", -1.0f}}), 6, {}},
      {"Clip 13",
       ref::Clip,
       fast::Clip,
       {},
       13,
       {Tensor::scalar_f32(0.0f), Tensor::scalar_f32(6.0f)}},
      {"Clip 13 min > max",
       ref::Clip,
       fast::Clip,
       {},
       13,
       {Tensor::scalar_f32(2.0f), Tensor::scalar_f32(-1.0f)}},
      {"Clip 13 max only", ref::Clip, fast::Clip, {}, 13, {Tensor(), Tensor::scalar_f32(0.5f)}},
  };
}

TEST(FastElementwise, UnaryBitIdenticalToReference) {
  std::mt19937 rng(11);
  for (const Shape& shape : {Shape{}, Shape{37}, Shape{2, 3, 5, 7}, Shape{1, 16, 91, 97}}) {
    const Tensor x = special_f32(rng, shape);
    for (const EltCase& k : unary_cases()) {
      SCOPED_TRACE(std::string(k.name) + " " + shape_to_string(shape));
      std::vector<Tensor> in = {x};
      in.insert(in.end(), k.extra.begin(), k.extra.end());
      RunResult ref = run(k.ref_fn, in, k.attrs, 1, nullptr, k.opset);
      ASSERT_TRUE(ref.status.ok()) << ref.status.message();
      for (int threads : {1, 2, 3}) {
        RunResult fast = run(k.fast_fn, in, k.attrs, threads, nullptr, k.opset);
        ASSERT_TRUE(fast.status.ok()) << fast.status.message();
        EXPECT_TRUE(bit_equal(fast.y[0], ref.y[0])) << threads << " threads";
      }
      if (shape.size() == 4) {  // NHWC in: NHWC out when allowed, plain otherwise
        std::vector<Tensor> nin = in;
        nin[0] = x.to_layout(Layout::kNhwc);
        RunResult n = run_nhwc(k.fast_fn, nin, k.attrs, 2, k.opset);
        ASSERT_TRUE(n.status.ok()) << n.status.message();
        EXPECT_EQ(n.y[0].layout(), Layout::kNhwc);
        EXPECT_TRUE(bit_equal(n.y[0].to_plain(), ref.y[0]));
        RunResult p = run(k.fast_fn, nin, k.attrs, 2, nullptr, k.opset);
        ASSERT_TRUE(p.status.ok());
        EXPECT_TRUE(bit_equal(p.y[0], ref.y[0]));
      }
    }
  }
}

TEST(FastElementwise, BinaryBitIdenticalToReference) {
  std::mt19937 rng(12);
  const std::pair<KernelFn, KernelFn> ops[] = {
      {ref::Add, fast::Add}, {ref::Sub, fast::Sub}, {ref::Mul, fast::Mul}, {ref::Div, fast::Div}};
  const Shape big = {2, 24, 61, 67};
  const std::pair<Shape, Shape> shapes[] = {
      {big, big},
      {Shape{37}, Shape{37}},
      {big, Shape{}},
      {Shape{1}, big},
      {big, Shape{24, 1, 1}},
      {Shape{1, 24, 1, 1}, big},
      {Shape{3, 5}, Shape{1}},
  };
  for (const auto& [sa, sb] : shapes) {
    const Tensor a = special_f32(rng, sa), b = special_f32(rng, sb);
    for (size_t op = 0; op < std::size(ops); ++op) {
      SCOPED_TRACE("op " + std::to_string(op) + " " + shape_to_string(sa) + " " +
                   shape_to_string(sb));
      RunResult ref = run(ops[op].first, {a, b}, {});
      ASSERT_TRUE(ref.status.ok()) << ref.status.message();
      for (int threads : {1, 2, 3}) {
        RunResult fast = run(ops[op].second, {a, b}, {}, threads);
        ASSERT_TRUE(fast.status.ok()) << fast.status.message();
        EXPECT_TRUE(bit_equal_nan(fast.y[0], ref.y[0])) << threads << " threads";
      }
      // Every mix of layouts for the 4-D operands.
      for (int mask = 1; mask < 4; ++mask) {
        const Tensor na = (mask & 1) && sa.size() == 4 ? a.to_layout(Layout::kNhwc) : a;
        const Tensor nb = (mask & 2) && sb.size() == 4 ? b.to_layout(Layout::kNhwc) : b;
        for (bool allow : {false, true}) {
          RunResult n = allow ? run_nhwc(ops[op].second, {na, nb}, {}, 2)
                              : run(ops[op].second, {na, nb}, {}, 2);
          ASSERT_TRUE(n.status.ok()) << n.status.message();
          if (!allow) {
            EXPECT_TRUE(n.y[0].is_plain());
          }
          EXPECT_TRUE(bit_equal_nan(n.y[0].to_plain(), ref.y[0])) << "mask " << mask;
        }
      }
    }
  }
}

TEST(FastElementwise, FallsBackOutsideItsCoverage) {
  std::mt19937 rng(13);
  const Tensor a = random_f32(rng, {2, 3, 4, 5});
  // Integer tensors, general broadcasts, a non-scalar clip bound.
  const Tensor i = Tensor::from_vector<int64_t>({2}, {1, 2});
  EXPECT_EQ(run(fast::Relu, {i}, {}).status.code(), ErrorCode::kUnsupported);
  EXPECT_EQ(run(fast::Add, {i, i}, {}).status.code(), ErrorCode::kUnsupported);
  EXPECT_EQ(run(fast::Add, {a, random_f32(rng, {4, 5})}, {}).status.code(),
            ErrorCode::kUnsupported);
  EXPECT_EQ(run(fast::Mul, {a, random_f32(rng, {2, 1, 1, 1})}, {}).status.code(),
            ErrorCode::kUnsupported);
  EXPECT_EQ(run(fast::Clip, {a, random_f32(rng, {2})}, {}).status.code(), ErrorCode::kUnsupported);
}

TEST(FastLayouts, ConvAndPoolReadAndWriteNhwcExactly) {
  std::mt19937 rng(14);
  const Tensor x = random_f32(rng, {2, 16, 15, 13});
  const Tensor xn = x.to_layout(Layout::kNhwc);
  const std::vector<ConvCase> convs = {
      {2, 16, 32, 1, 15, 13, 3, 3, {1, 1}, {1, 1}, {1, 1, 1, 1}},
      {2, 16, 16, 16, 15, 13, 3, 3, {2, 2}, {1, 1}, {1, 1, 1, 1}},
      {2, 16, 24, 1, 15, 13, 1, 1, {1, 1}, {1, 1}, {0, 0, 0, 0}},
  };
  for (const ConvCase& k : convs) {
    SCOPED_TRACE(k.describe());
    const ConvData d = conv_data(rng, k);
    const Attributes a = k.attributes();
    RunResult plain = run(fast::Conv, {x, d.w, d.b}, a, 2);
    ASSERT_TRUE(plain.status.ok()) << plain.status.message();
    EXPECT_TRUE(plain.y[0].is_plain());
    std::unique_ptr<KernelState> st;
    for (int rep = 0; rep < 2; ++rep) {
      RunResult n = run_nhwc(fast::Conv, {xn, d.w, d.b}, a, 2);
      ASSERT_TRUE(n.status.ok()) << n.status.message();
      EXPECT_TRUE(bit_equal(n.y[0].to_plain(), plain.y[0]));
      RunResult p = run(fast::Conv, {xn, d.w, d.b}, a, 1, &st);  // NHWC in, plain out
      ASSERT_TRUE(p.status.ok());
      EXPECT_TRUE(p.y[0].is_plain());
      EXPECT_TRUE(bit_equal(p.y[0], plain.y[0]));
    }
  }
  const Attributes pool =
      attrs({{"kernel_shape", Ints{3, 3}}, {"strides", Ints{2, 2}}, {"pads", Ints{1, 1, 1, 1}}});
  for (KernelFn f : {fast::MaxPool, fast::AveragePool}) {
    RunResult plain = run(f, {x}, pool, 2);
    ASSERT_TRUE(plain.status.ok()) << plain.status.message();
    RunResult n = run_nhwc(f, {xn}, pool, 2);
    ASSERT_TRUE(n.status.ok()) << n.status.message();
    EXPECT_EQ(n.y[0].layout(), Layout::kNhwc);
    EXPECT_TRUE(bit_equal(n.y[0].to_plain(), plain.y[0]));
    RunResult p = run(f, {xn}, pool, 1);
    ASSERT_TRUE(p.status.ok());
    EXPECT_TRUE(bit_equal(p.y[0], plain.y[0]));
  }
}

}  // namespace
}  // namespace qdiff::kernels
