#include "quant/planner.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "runtime/graph_builder_test_util.h"

namespace qdiff::quant {
namespace {

using runtime::graph_testing::GraphBuilder;
using runtime::graph_testing::random_f32;

// x -> Conv(w, b) -> Relu -> r -> Reshape -> s -> Add(s, s) -> a -> Sigmoid -> y
struct TestGraph {
  ir::Graph g;
  ir::ValueId x, w, b, c, r, s, a, y;
  Tensor wt;
  TestGraph() {
    std::mt19937 rng(3);
    GraphBuilder bld(g);
    x = bld.value("x");
    g.value(x).type.dtype = DType::kFloat32;
    g.inputs.push_back(x);
    wt = random_f32(rng, {2, 1, 1, 1});
    float* d = wt.mutable_data<float>();
    d[0] = 0.5f, d[1] = -2.0f;
    w = bld.value("w", wt);
    b = bld.value("b", Tensor::from_vector<float>({2}, {0.1f, -0.2f}));
    c = bld.value("c");
    r = bld.value("r");
    const ir::ValueId shape = bld.value("shape", Tensor::from_vector<int64_t>({2}, {1, -1}));
    s = bld.value("s");
    a = bld.value("a");
    y = bld.value("y");
    bld.node("conv", ir::OpKind::kConv, {x, w, b}, c);
    bld.node("relu", ir::OpKind::kRelu, {c}, r);
    bld.node("reshape", ir::OpKind::kReshape, {r, shape}, s);
    bld.node("add", ir::OpKind::kAdd, {s, s}, a);
    bld.node("sigmoid", ir::OpKind::kSigmoid, {a}, y);
    g.outputs.push_back(y);
  }
};

TEST(Planner, StructureUnitsSharingWeightsBiases) {
  TestGraph t;
  auto st = plan_structure(t.g);
  ASSERT_TRUE(st.ok()) << st.status().message();
  // Conv+Relu is one unit; Add+Sigmoid is not (only Relu/Clip fuse into Add).
  EXPECT_EQ(st.value().nodes[1].unit, "conv");
  EXPECT_EQ(st.value().nodes[4].unit, "sigmoid");
  std::map<std::string, PlannedTensor> by_name;
  for (const PlannedTensor& p : st.value().tensors) by_name[t.g.value(p.value).name] = p;
  EXPECT_EQ(by_name.count("c"), 0u);  // inside the unit
  EXPECT_EQ(by_name.count("shape"), 0u);
  EXPECT_EQ(by_name.at("x").kind, TensorKind::kObserved);
  EXPECT_EQ(by_name.at("w").kind, TensorKind::kWeight);
  EXPECT_EQ(by_name.at("w").axis, 0);
  EXPECT_EQ(by_name.at("b").kind, TensorKind::kBias);
  EXPECT_EQ(by_name.at("r").kind, TensorKind::kObserved);
  EXPECT_EQ(by_name.at("s").kind, TensorKind::kShared);
  EXPECT_EQ(by_name.at("s").source, t.r);
  EXPECT_EQ(by_name.at("a").kind, TensorKind::kObserved);
  EXPECT_EQ(by_name.at("y").kind, TensorKind::kObserved);
  EXPECT_EQ(st.value().observed(), (std::vector<ir::ValueId>{t.x, t.r, t.a, t.y}));
}

TEST(Planner, FloatAndInt16Precision) {
  TestGraph t;
  // The float Sigmoid's output is read by no integer node: not quantized. The int16 Add makes
  // its inputs and output 16-bit.
  auto st = plan_structure(t.g, {{"sigmoid", Precision::kFloat}, {"add", Precision::kInt16}});
  ASSERT_TRUE(st.ok());
  std::map<std::string, PlannedTensor> by_name;
  for (const PlannedTensor& p : st.value().tensors) by_name[t.g.value(p.value).name] = p;
  EXPECT_EQ(by_name.count("y"), 0u);
  EXPECT_EQ(by_name.at("a").bits, 16);
  EXPECT_EQ(by_name.at("s").bits, 16);
  // r is 8-bit (conv unit is int8) but s is read by the int16 Add: s gets its own range.
  EXPECT_EQ(by_name.at("s").kind, TensorKind::kObserved);
  EXPECT_EQ(by_name.at("r").bits, 8);
  EXPECT_FALSE(plan_structure(t.g, {{"nope", Precision::kFloat}}).ok());
}

TEST(Planner, MakePlanDerivesParameters) {
  TestGraph t;
  auto st = plan_structure(t.g).value();
  auto scheme = scheme_for_target("ort-cpu").value();
  std::map<ir::ValueId, std::pair<float, float>> ranges = {
      {t.x, {-1.0f, 1.0f}}, {t.r, {0.0f, 2.55f}}, {t.a, {0.0f, 5.1f}}, {t.y, {0.0f, 1.0f}}};
  auto plan = make_plan(t.g, st, scheme, ranges, "minmax");
  ASSERT_TRUE(plan.ok()) << plan.status().message();
  const QuantPlan& p = plan.value();
  EXPECT_TRUE(check_plan(p, t.g).ok()) << check_plan(p, t.g).message();
  // x: uint8 asymmetric over [-1, 1]: scale 2/255, zp rhe(0 + 1 / (2/255)) = rhe(127.5) = 128.
  EXPECT_EQ(p.find("x")->params.scales[0], static_cast<float>(2.0 / 255.0));
  EXPECT_EQ(p.find("x")->params.zero_points[0], 128);
  // w per channel, int8 symmetric in [-127, 127] (ORT's quantizer): scale = absmax / 127.
  EXPECT_EQ(p.find("w")->params.scales,
            (std::vector<float>{static_cast<float>(0.5 / 127.0), static_cast<float>(2.0 / 127.0)}));
  EXPECT_TRUE(p.find("w")->params.narrow_range);
  // bias: f32(s_x * s_w[c]).
  EXPECT_EQ(p.find("b")->params.scales[1],
            static_cast<float>(2.0 / 255.0) * static_cast<float>(2.0 / 127.0));
  EXPECT_EQ(p.find("s")->params, p.find("r")->params);
  EXPECT_EQ(p.find("s")->source, "shared:r");
  ranges.erase(t.a);
  EXPECT_NE(make_plan(t.g, st, scheme, ranges, "minmax").status().message().find("'a'"),
            std::string::npos);
  scheme.per_channel_weights = false;
  ranges[t.a] = {0.0f, 1.0f};
  auto pt = make_plan(t.g, st, scheme, ranges, "minmax").value();
  EXPECT_EQ(pt.find("w")->params.scales, (std::vector<float>{static_cast<float>(2.0 / 127.0)}));
  EXPECT_EQ(pt.find("w")->params.axis, -1);
}

TEST(Planner, PerTensorDepthwise) {
  // x -> depthwise Conv (group 2, W [2,1,1,1]) -> y, and a regular Conv W2 [3,2,1,1].
  ir::Graph g;
  GraphBuilder b(g);
  std::mt19937 rng(5);
  const ir::ValueId x = b.value("x");
  g.inputs.push_back(x);
  const ir::ValueId w = b.value("w", random_f32(rng, {2, 1, 1, 1}));
  const ir::ValueId w2 = b.value("w2", random_f32(rng, {3, 2, 1, 1}));
  const ir::ValueId y = b.value("y"), z = b.value("z");
  Attributes grouped;
  grouped.set("group", int64_t{2});
  b.node("dw", ir::OpKind::kConv, {x, w}, y, grouped);
  b.node("pw", ir::OpKind::kConv, {y, w2}, z);
  g.outputs.push_back(z);
  auto st = plan_structure(g).value();
  auto scheme = scheme_for_target("ort-cpu").value();
  scheme.per_tensor_depthwise = true;
  auto plan = make_plan(g, st, scheme, {{x, {-1.0f, 1.0f}}, {y, {-1.0f, 1.0f}}, {z, {0.0f, 1.0f}}},
                        "minmax")
                  .value();
  EXPECT_EQ(plan.find("w")->params.axis, -1);
  EXPECT_EQ(plan.find("w2")->params.axis, 0);
}

// conv -> Mul(c) -> Add(c) (a BatchNorm export) -> HardSigmoid -> Mul(x, hs) (a HardSwish
// export) -> y: one unit with epilogue growth, five separately quantized nodes with Relu/Clip only.
TEST(Planner, UnitGrowth) {
  ir::Graph g;
  GraphBuilder b(g);
  std::mt19937 rng(9);
  const ir::ValueId x = b.value("x");
  g.inputs.push_back(x);
  const ir::ValueId w = b.value("w", random_f32(rng, {2, 1, 1, 1}));
  const ir::ValueId m = b.value("m", random_f32(rng, {2, 1, 1}));
  const ir::ValueId a = b.value("a", random_f32(rng, {2, 1, 1}));
  const ir::ValueId c = b.value("c"), cm = b.value("cm"), ca = b.value("ca"), hs = b.value("hs"),
                    y = b.value("y");
  b.node("conv", ir::OpKind::kConv, {x, w}, c);
  b.node("bn_mul", ir::OpKind::kMul, {c, m}, cm);
  b.node("bn_add", ir::OpKind::kAdd, {cm, a}, ca);
  b.node("hsig", ir::OpKind::kHardSigmoid, {ca}, hs);
  b.node("hswish", ir::OpKind::kMul, {ca, hs}, y);
  g.outputs.push_back(y);
  auto epilogue = plan_structure(g, {}, UnitGrowth::kEpilogue).value();
  for (const NodePlan& n : epilogue.nodes) EXPECT_EQ(n.unit, "conv") << n.name;
  EXPECT_EQ(epilogue.observed(), (std::vector<ir::ValueId>{x, y}));
  auto relu_clip = plan_structure(g, {}, UnitGrowth::kReluClip).value();
  for (const NodePlan& n : relu_clip.nodes) EXPECT_EQ(n.unit, n.name);
  EXPECT_EQ(relu_clip.observed(), (std::vector<ir::ValueId>{x, c, cm, ca, hs, y}));
  // The Conv output read outside the unit stops the growth before the reader.
  g.outputs.push_back(c);
  auto open = plan_structure(g, {}, UnitGrowth::kEpilogue).value();
  EXPECT_EQ(open.nodes[1].unit, "bn_mul");
}

TEST(Planner, Schemes) {
  EXPECT_TRUE(scheme_for_target("tflite-int8").value().weight.narrow_range);
  EXPECT_NE(scheme_for_target("nope").status().message().find("ort-cpu"), std::string::npos);
}

// --- Power-of-two scales (Vitis DPU) ----------------------------------------------------------

const Format kInt8Sym{8, true, true, false};

int pos_of(float scale) {
  return -std::ilogb(scale);
}

TEST(Planner, FixPosForAbsmaxIsTheOverflowRule) {
  EXPECT_EQ(fix_pos_for_absmax(1.0, kInt8Sym), 6);    // 64 <= 127 < 128
  EXPECT_EQ(fix_pos_for_absmax(0.99, kInt8Sym), 7);   // 126.72 <= 127
  EXPECT_EQ(fix_pos_for_absmax(127.0, kInt8Sym), 0);  // exactly the grid's end
  EXPECT_EQ(fix_pos_for_absmax(127.5, kInt8Sym), -1);
  EXPECT_EQ(fix_pos_for_absmax(0.0, kInt8Sym), 0);
}

// MinMSE over pos0 .. pos0 + 4 (half_up): {1, 0.1}: pos 6 errs 0.4/64 on 0.1 (3.9e-5), pos 7
// clips 1 to 127/128 (6.1e-5) and errs 0.2/128 (2.4e-6): 6 wins. With four 0.1 pos 7 wins
// (7.1e-5 against 1.6e-4). Pos 8 clips 1 to 0.496.
TEST(Planner, FixPosMinMse) {
  const std::vector<float> one = {1.0f, 0.1f};
  const std::vector<float> four = {1.0f, 0.1f, 0.1f, 0.1f, 0.1f};
  EXPECT_EQ(fix_pos_min_mse(one, kInt8Sym, RoundingMode::kHalfUp), 6);
  EXPECT_EQ(fix_pos_min_mse(four, kInt8Sym, RoundingMode::kHalfUp), 7);
  const std::vector<float> tiny = {0.99f};
  EXPECT_EQ(fix_pos_min_mse(tiny, kInt8Sym, RoundingMode::kHalfUp), 7);
}

// x -> Conv(w, b) -> LeakyRelu -> y under the vitis-dpu scheme: conv-fix units take the
// LeakyRelu; every scale is a power of two; the bias is 8-bit.
struct DpuConvGraph {
  ir::Graph g;
  ir::ValueId x, c, y;
  explicit DpuConvGraph(float bias) {
    GraphBuilder b(g);
    x = b.value("x");
    g.value(x).type.dtype = DType::kFloat32;
    g.inputs.push_back(x);
    const ir::ValueId w = b.value("w", Tensor::from_vector<float>({1, 1, 1, 1}, {0.5f}));
    const ir::ValueId bv = b.value("b", Tensor::from_vector<float>({1}, {bias}));
    c = b.value("c");
    y = b.value("y");
    b.node("conv", ir::OpKind::kConv, {x, w, bv}, c);
    Attributes a;
    a.set("alpha", 0.1f);
    b.node("leaky", ir::OpKind::kLeakyRelu, {c}, y, a);
    g.outputs.push_back(y);
  }
};

// x in [-1, 1] -> pos 6; w = 0.5 -> pos 7 (MinMSE, exact). (1) y in [-0.001, 0.001] -> pos 16:
// shift_cut 7 + 6 - 16 = -3 < 0 moves the weight to pos 16 - 6 = 10 (adjust_shift_cut); b = 0.25
// -> pos 8, shift_bias 6 + 10 - 8 = 8 stays. (2) y in [-100, 100] -> pos 0, shift_cut 13 stays;
// b = 0.001 -> pos 16, shift_bias 6 + 7 - 16 = -3 moves the bias to pos 13 (adjust_shift_bias).
TEST(Planner, VitisDpuPowerOfTwoPlanAndRefinement) {
  const Scheme scheme = scheme_for_target("vitis-dpu").value();
  EXPECT_TRUE(scheme.power_of_two_scales);
  EXPECT_EQ(scheme.units, UnitGrowth::kConvFix);
  EXPECT_FALSE(scheme.per_channel_weights);
  {
    DpuConvGraph t(0.25f);
    auto st = plan_structure(t.g, {}, scheme.units);
    ASSERT_TRUE(st.ok()) << st.status().message();
    EXPECT_EQ(st->nodes[1].unit, "conv");  // the LeakyRelu joins the conv-fix unit
    EXPECT_EQ(st->observed(), (std::vector<ir::ValueId>{t.x, t.y}));
    auto plan =
        make_plan(t.g, *st, scheme, {{t.x, {-1.0f, 1.0f}}, {t.y, {-0.001f, 0.001f}}}, "minmax");
    ASSERT_TRUE(plan.ok()) << plan.status().message();
    for (const TensorPlan& tp : plan->tensors) {
      EXPECT_EQ(tp.params.zero_points[0], 0) << tp.name;
      EXPECT_EQ(std::ldexp(1.0f, -pos_of(tp.params.scales[0])), tp.params.scales[0]) << tp.name;
      EXPECT_EQ(tp.rounding, RoundingMode::kHalfUp) << tp.name;
    }
    EXPECT_EQ(pos_of(plan->find("x")->params.scales[0]), 6);
    EXPECT_EQ(pos_of(plan->find("y")->params.scales[0]), 16);
    EXPECT_EQ(pos_of(plan->find("w")->params.scales[0]), 10);
    EXPECT_EQ(pos_of(plan->find("b")->params.scales[0]), 8);
    EXPECT_EQ(plan->find("b")->params.bits, 8);
    EXPECT_EQ(plan->find("b")->role, Role::kBias);
    // Plans with 8-bit biases pass the plan checks and read back.
    EXPECT_TRUE(check_plan(*plan, t.g).ok()) << check_plan(*plan, t.g).message();
    auto back = plan_from_json(plan_to_json(*plan), "p.json");
    ASSERT_TRUE(back.ok()) << back.status().message();
    EXPECT_EQ(*back, *plan);
  }
  {
    DpuConvGraph t(0.001f);
    auto st = plan_structure(t.g, {}, scheme.units).value();
    auto plan =
        make_plan(t.g, st, scheme, {{t.x, {-1.0f, 1.0f}}, {t.y, {-100.0f, 100.0f}}}, "minmax");
    ASSERT_TRUE(plan.ok()) << plan.status().message();
    EXPECT_EQ(pos_of(plan->find("y")->params.scales[0]), 0);
    EXPECT_EQ(pos_of(plan->find("w")->params.scales[0]), 7);
    EXPECT_EQ(pos_of(plan->find("b")->params.scales[0]), 13);
  }
}

// x -> HardSigmoid(1/6, 1/2) -> h; Mul(x, h) -> y (an exported hard-swish). x in [-4, 4] -> pos
// 4; h in [0, 1] -> pos 6, raised to 7 (adjust_hard_sigmoid). (1) y in [-0.375, 4] -> pos 4:
// shift_swish 4 + 7 - 4 = 7 stays. (2) y in [-1e-4, 1e-4] -> pos 20: shift_swish -9 moves the
// output to pos 11 (adjust_shift_swish).
TEST(Planner, VitisDpuHardSwishPositions) {
  const Scheme scheme = scheme_for_target("vitis-dpu").value();
  ir::Graph g;
  GraphBuilder b(g);
  const ir::ValueId x = b.value("x");
  g.value(x).type.dtype = DType::kFloat32;
  g.inputs.push_back(x);
  const ir::ValueId h = b.value("h"), y = b.value("y");
  Attributes hs;
  hs.set("alpha", 1.0f / 6.0f);
  hs.set("beta", 0.5f);
  b.node("hsig", ir::OpKind::kHardSigmoid, {x}, h, hs);
  b.node("mul", ir::OpKind::kMul, {x, h}, y);
  g.outputs.push_back(y);
  EXPECT_TRUE(is_relu6_hard_sigmoid(g.node(0)));
  auto st = plan_structure(g, {}, scheme.units).value();
  EXPECT_EQ(st.nodes[0].unit, "hsig");  // hard-sigmoid stays outside conv-fix units
  auto plan = make_plan(g, st, scheme,
                        {{x, {-4.0f, 4.0f}}, {h, {0.0f, 1.0f}}, {y, {-0.375f, 4.0f}}}, "minmax");
  ASSERT_TRUE(plan.ok()) << plan.status().message();
  EXPECT_EQ(pos_of(plan->find("x")->params.scales[0]), 4);
  EXPECT_EQ(pos_of(plan->find("h")->params.scales[0]), 7);
  EXPECT_EQ(pos_of(plan->find("y")->params.scales[0]), 4);
  auto tight = make_plan(g, st, scheme,
                         {{x, {-4.0f, 4.0f}}, {h, {0.0f, 1.0f}}, {y, {-1e-4f, 1e-4f}}}, "minmax");
  ASSERT_TRUE(tight.ok());
  EXPECT_EQ(pos_of(tight->find("y")->params.scales[0]), 11);
}

}  // namespace
}  // namespace qdiff::quant
