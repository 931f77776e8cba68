#include "quant/fake_quant.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <random>

#include "runtime/graph_builder_test_util.h"
#include "runtime/interpreter.h"

namespace qdiff::quant {
namespace {

using runtime::graph_testing::GraphBuilder;
using runtime::graph_testing::random_f32;

QuantParams params(int bits, bool is_signed, std::vector<float> scales, std::vector<int32_t> zps,
                   int axis = -1) {
  QuantParams p;
  p.bits = bits;
  p.is_signed = is_signed;
  p.scales = std::move(scales);
  p.zero_points = std::move(zps);
  p.axis = axis;
  return p;
}

TEST(FakeQuantize, HandDerivedPerTensorAndPerChannel) {
  // uint8, scale 0.5, zp 10: grid {-5, -4.5, ..., 122.5}.
  const Tensor x = Tensor::from_vector<float>({6}, {0.25f, 0.75f, -100.0f, 200.0f, 1.3f, NAN});
  auto y = fake_quantize(x, params(8, false, {0.5f}, {10}), RoundingMode::kHalfToEven);
  ASSERT_TRUE(y.ok());
  // 0.25/0.5 = 0.5 -> 0 (tie to even); 1.5 -> 2 -> 1.0; clamps; 2.6 -> 3 -> 1.5; NaN -> zp -> 0.
  EXPECT_EQ(y.value().to_f32_vector(), (std::vector<float>{0.0f, 1.0f, -5.0f, 122.5f, 1.5f, 0.0f}));
  auto away = fake_quantize(x, params(8, false, {0.5f}, {10}), RoundingMode::kHalfAwayFromZero);
  EXPECT_EQ(away.value().to_f32_vector()[0], 0.5f);
  // Per channel along axis 1 of [2, 2]: channel scales 1 and 0.25, int4 [-8, 7].
  const Tensor m = Tensor::from_vector<float>({2, 2}, {2.4f, 2.4f, -9.0f, -9.0f});
  auto pc = fake_quantize(m, params(4, true, {1.0f, 0.25f}, {0, 0}, 1), RoundingMode::kHalfToEven);
  ASSERT_TRUE(pc.ok());
  EXPECT_EQ(pc.value().to_f32_vector(), (std::vector<float>{2.0f, 1.75f, -8.0f, -2.0f}));
  EXPECT_FALSE(
      fake_quantize(m, params(8, true, {1, 1, 1}, {0, 0, 0}, 1), RoundingMode::kFloor).ok());
  EXPECT_FALSE(fake_quantize(m, params(8, true, {1, 1}, {0, 0}, 2), RoundingMode::kFloor).ok());
}

// The vectorized half-to-even path equals fake_quant() element by element: exact ties, values
// next to ties, clamping at both ends, NaN, +-Inf, -0, per tensor and per channel, 4..16 bits.
TEST(FakeQuantize, FastPathEqualsScalarDefinition) {
  std::mt19937 rng(11);
  std::vector<float> xs;
  for (int k = -70000; k <= 70000; ++k) {
    const float t = static_cast<float>(k) * 0.5f;  // ties at scale 1 and 0.5
    xs.push_back(t);
    xs.push_back(std::nextafter(t, -1e9f));
    xs.push_back(std::nextafter(t, 1e9f));
  }
  std::uniform_real_distribution<float> dist(-3e4f, 3e4f);
  for (int k = 0; k < 100000; ++k) xs.push_back(dist(rng));
  xs.insert(xs.end(), {NAN, INFINITY, -INFINITY, -0.0f, 1e30f, -1e30f});
  const int64_t half = static_cast<int64_t>(xs.size() / 2);
  xs.resize(static_cast<size_t>(2 * half));
  const Tensor x = Tensor::from_vector<float>({2, half}, xs);
  for (int bits : {4, 8, 12, 16}) {
    for (bool is_signed : {false, true}) {
      QuantParams p = params(bits, is_signed, {1.0f, 0.37f}, {0, 0}, 0);
      const int32_t mid = is_signed ? 0 : (1 << (bits - 1));
      p.zero_points = {mid + 3, mid - 5};
      ASSERT_TRUE(p.validate().ok());
      auto y = fake_quantize(x, p, RoundingMode::kHalfToEven);
      ASSERT_TRUE(y.ok());
      const float* yv = y.value().data<float>();
      for (int64_t i = 0; i < x.numel(); ++i) {
        const size_t c = static_cast<size_t>(i / half);
        const float want = fake_quant(xs[static_cast<size_t>(i)], p.scales[c], p.zero_points[c],
                                      p.qmin(), p.qmax(), RoundingMode::kHalfToEven);
        ASSERT_EQ(std::bit_cast<uint32_t>(yv[i]), std::bit_cast<uint32_t>(want))
            << "bits " << bits << " x " << xs[static_cast<size_t>(i)] << " channel " << c;
      }
    }
  }
}

TEST(FakeQuantize, DynamicParamsFollowDynamicQuantizeLinear) {
  // ONNX DynamicQuantizeLinear example (onnx/docs/Operators.md): x = [0, 2, -3, -2.5, 1.34, 0.5]
  // -> scale 0.019607844, zero point 153.
  const Tensor x = Tensor::from_vector<float>({6}, {0.0f, 2.0f, -3.0f, -2.5f, 1.34f, 0.5f});
  const QuantParams p = dynamic_params(x);
  EXPECT_EQ(p.scales[0], 0.019607844f);
  EXPECT_EQ(p.zero_points[0], 153);
  // All-positive: rmin = 0 -> zero point 0; all-zero: scale 1.
  EXPECT_EQ(dynamic_params(Tensor::from_vector<float>({2}, {1.0f, 2.55f})).zero_points[0], 0);
  EXPECT_EQ(dynamic_params(Tensor::from_vector<float>({2}, {0.0f, 0.0f})).scales[0], 1.0f);
}

// x -> Conv(W, B) -> Relu -> y. The fake-quant world must equal the float world with every
// quantized tensor replaced by its fake-quantized value, computed here by hand.
TEST(FakeQuantWorld, EqualsHandBuiltQdqComputation) {
  std::mt19937 rng(7);
  ir::Graph g;
  GraphBuilder b(g);
  const ir::ValueId x = b.value("x");
  g.value(x).type.dtype = DType::kFloat32;
  g.inputs.push_back(x);
  const Tensor wt = random_f32(rng, {3, 2, 3, 3});
  const Tensor bt = random_f32(rng, {3});
  const ir::ValueId w = b.value("w", wt);
  const ir::ValueId bias = b.value("b", bt);
  const ir::ValueId c = b.value("c");
  const ir::ValueId y = b.value("y");
  Attributes pads;
  pads.set("pads", std::vector<int64_t>{1, 1, 1, 1});
  b.node("conv", ir::OpKind::kConv, {x, w, bias}, c, pads);
  b.node("relu", ir::OpKind::kRelu, {c}, y);
  g.outputs.push_back(y);

  QuantPlan plan;
  TensorPlan tx{"x", Role::kActivation, params(8, false, {0.01f}, {128}), {}, false, false, "test"};
  QuantParams wp = params(8, true, {0.004f, 0.006f, 0.008f}, {0, 0, 0}, 0);
  wp.symmetric = true;
  TensorPlan tw{"w", Role::kWeight, wp, {}, false, false, "test"};
  TensorPlan tb{"b", Role::kBias, bias_params(tx.params, wp).value(), {}, false, false, "test"};
  TensorPlan ty{"y", Role::kActivation, params(8, false, {0.02f}, {0}), {}, false, false, "test"};
  plan.tensors = {tx, tw, tb, ty};
  auto world = FakeQuantWorld::create(g, plan);
  ASSERT_TRUE(world.ok()) << world.status().message();

  const Tensor input = random_f32(rng, {1, 2, 5, 5});
  // By hand: the same graph with fake-quantized weights, run on the fake-quantized input, the
  // output fake-quantized afterwards.
  ir::Graph hand = g;
  hand.value(w).initializer = fake_quantize(wt, wp, RoundingMode::kHalfToEven).value();
  hand.value(bias).initializer = fake_quantize(bt, tb.params, RoundingMode::kHalfToEven).value();
  for (bool fast : {false, true}) {
    runtime::RunOptions o;
    o.use_fast = fast;
    auto hand_it = runtime::Interpreter::create(hand, o).value();
    const Tensor qin = fake_quantize(input, tx.params, RoundingMode::kHalfToEven).value();
    const Tensor expect = fake_quantize(hand_it->run(std::span(&qin, 1)).value()[0], ty.params,
                                        RoundingMode::kHalfToEven)
                              .value();
    auto it = runtime::Interpreter::create(world.value()->graph(), o).value();
    runtime::RecordingObserver rec;
    auto out = it->run(std::span(&input, 1), &rec, world.value()->transform());
    ASSERT_TRUE(out.ok()) << out.status().message();
    EXPECT_TRUE(runtime::graph_testing::bit_equal(out.value()[0], expect)) << "fast=" << fast;
    // Taps carry the float names and hold what readers see.
    EXPECT_TRUE(runtime::graph_testing::bit_equal(rec.records().at(x)[0], qin));
    EXPECT_TRUE(runtime::graph_testing::bit_equal(rec.records().at(y)[0], expect));
  }
  // The original graph is untouched.
  EXPECT_TRUE(runtime::graph_testing::bit_equal(*g.value(w).initializer, wt));
}

TEST(FakeQuantWorld, RejectsPlansThatDoNotFit) {
  ir::Graph g;
  GraphBuilder b(g);
  const ir::ValueId x = b.value("x");
  g.inputs.push_back(x);
  const ir::ValueId y = b.value("y");
  b.node("relu", ir::OpKind::kRelu, {x}, y);
  g.outputs.push_back(y);
  QuantPlan plan;
  plan.tensors = {
      TensorPlan{"z", Role::kActivation, params(8, false, {0.1f}, {0}), {}, false, false, ""}};
  auto w = FakeQuantWorld::create(g, plan);
  ASSERT_FALSE(w.ok());
  EXPECT_NE(w.status().message().find("'z'"), std::string::npos);
}

}  // namespace
}  // namespace qdiff::quant
