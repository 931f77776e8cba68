#include "quant/plan_edit.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "runtime/graph_builder_test_util.h"

namespace qdiff::quant {
namespace {

using runtime::graph_testing::GraphBuilder;
using runtime::graph_testing::random_f32;

// x -> Conv(w1, b1) -> Relu -> r -> MaxPool -> m -> Conv(w2, b2) -> y
struct TestGraph {
  ir::Graph g;
  TestGraph() {
    std::mt19937 rng(5);
    GraphBuilder bld(g);
    const ir::ValueId x = bld.value("x");
    g.value(x).type.dtype = DType::kFloat32;
    g.inputs.push_back(x);
    Tensor w1 = random_f32(rng, {4, 2, 1, 1});
    w1.mutable_data<float>()[0] = 8.0f;  // one channel with a wide range
    const ir::ValueId w1v = bld.value("w1", w1);
    const ir::ValueId b1 = bld.value("b1", Tensor::from_vector<float>({4}, {0.1f, -0.2f, 0, 1}));
    const ir::ValueId c = bld.value("c"), r = bld.value("r"), m = bld.value("m");
    const ir::ValueId w2 = bld.value("w2", random_f32(rng, {3, 4, 1, 1}));
    const ir::ValueId b2 = bld.value("b2", Tensor::from_vector<float>({3}, {0.5f, 0, -0.5f}));
    const ir::ValueId y = bld.value("y");
    bld.node("conv1", ir::OpKind::kConv, {x, w1v, b1}, c);
    bld.node("relu", ir::OpKind::kRelu, {c}, r);
    Attributes pool;
    pool.set("kernel_shape", std::vector<int64_t>{1, 1});
    bld.node("pool", ir::OpKind::kMaxPool, {r}, m, pool);
    bld.node("conv2", ir::OpKind::kConv, {m, w2, b2}, y);
    g.outputs.push_back(y);
  }
};

QuantPlan base_plan(const ir::Graph& g, const Scheme& scheme) {
  auto st = plan_structure(g, {}, scheme.units);
  EXPECT_TRUE(st.ok());
  std::map<ir::ValueId, std::pair<float, float>> ranges;
  for (ir::ValueId v : st.value().observed()) ranges[v] = {-1.0f, 3.0f};
  auto plan = make_plan(g, st.value(), scheme, ranges, "minmax");
  EXPECT_TRUE(plan.ok()) << plan.status().message();
  return plan.value();
}

Scheme ort_scheme(bool per_channel) {
  Scheme s = scheme_for_target("ort-cpu").value();
  s.per_channel_weights = per_channel;
  return s;
}

TEST(PlanEdit, EmptyEditKeepsThePlan) {
  TestGraph t;
  const Scheme s = ort_scheme(false);
  const QuantPlan p = base_plan(t.g, s);
  auto e = apply_plan_edit(p, t.g, s, PlanEdit{});
  ASSERT_TRUE(e.ok()) << e.status().message();
  EXPECT_EQ(e.value().tensors, p.tensors);
  EXPECT_EQ(e.value().nodes, p.nodes);
}

TEST(PlanEdit, PerChannelWeightChangesItsBiasOnly) {
  TestGraph t;
  const Scheme s = ort_scheme(false);
  const QuantPlan p = base_plan(t.g, s);
  PlanEdit edit;
  edit.per_channel = {"w1"};
  auto e = apply_plan_edit(p, t.g, s, edit);
  ASSERT_TRUE(e.ok()) << e.status().message();
  const QuantPlan& q = e.value();
  EXPECT_EQ(q.find("w1")->params.axis, 0);
  ASSERT_EQ(q.find("w1")->params.scales.size(), 4u);
  EXPECT_FLOAT_EQ(q.find("w1")->params.scales[0], 8.0f / 127.0f);
  EXPECT_LT(q.find("w1")->params.scales[1], 8.0f / 127.0f);
  EXPECT_EQ(q.find("b1")->params.scales.size(), 4u);
  EXPECT_FLOAT_EQ(q.find("b1")->params.scales[1],
                  q.find("x")->params.scales[0] * q.find("w1")->params.scales[1]);
  for (const char* same : {"x", "r", "m", "w2", "b2", "y"})
    EXPECT_EQ(*q.find(same), *p.find(same)) << same;
}

TEST(PlanEdit, RangeEditMovesSharedTensorsAndReaderBiases) {
  TestGraph t;
  const Scheme s = ort_scheme(true);
  const QuantPlan p = base_plan(t.g, s);
  PlanEdit edit;
  edit.ranges["r"] = {0.0f, 6.0f};
  auto e = apply_plan_edit(p, t.g, s, edit);
  ASSERT_TRUE(e.ok()) << e.status().message();
  const QuantPlan& q = e.value();
  EXPECT_FLOAT_EQ(q.find("r")->params.scales[0], 6.0f / 255.0f);
  EXPECT_EQ(q.find("m")->params, q.find("r")->params);  // MaxPool shares its input's grid
  EXPECT_FLOAT_EQ(q.find("b2")->params.scales[0],
                  q.find("m")->params.scales[0] * q.find("w2")->params.scales[0]);
  for (const char* same : {"x", "w1", "b1", "w2", "y"})
    EXPECT_EQ(*q.find(same), *p.find(same)) << same;
}

TEST(PlanEdit, Int16UnitRaisesItsActivations) {
  TestGraph t;
  const Scheme s = ort_scheme(true);
  const QuantPlan p = base_plan(t.g, s);
  PlanEdit edit;
  edit.precision["conv2"] = Precision::kInt16;
  auto e = apply_plan_edit(p, t.g, s, edit);
  ASSERT_TRUE(e.ok()) << e.status().message();
  const QuantPlan& q = e.value();
  EXPECT_EQ(q.find_node("conv2")->precision, Precision::kInt16);
  EXPECT_EQ(q.find_node("conv1")->precision, Precision::kInt8);
  // conv2 reads m (which shares r's grid through MaxPool) and writes y: all 16-bit now, the
  // range each 8-bit grid covered kept.
  for (const char* raised : {"m", "y"}) {
    EXPECT_EQ(q.find(raised)->params.bits, 16) << raised;
    const auto r8 = grid_range(p.find(raised)->params);
    const auto r16 = grid_range(q.find(raised)->params);
    EXPECT_NEAR(r16.second, std::max(std::fabs(r8.first), r8.second), 1e-3) << raised;
  }
  EXPECT_EQ(q.find("w2")->params.bits, 8);
  EXPECT_FLOAT_EQ(q.find("b2")->params.scales[0],
                  q.find("m")->params.scales[0] * q.find("w2")->params.scales[0]);
  for (const char* same : {"x", "w1", "b1"}) EXPECT_EQ(*q.find(same), *p.find(same)) << same;
}

TEST(PlanEdit, FloatUnitDropsItsWeights) {
  TestGraph t;
  const Scheme s = ort_scheme(true);
  const QuantPlan p = base_plan(t.g, s);
  PlanEdit edit;
  edit.precision["conv1"] = Precision::kFloat;  // the unit: conv1 and relu
  auto e = apply_plan_edit(p, t.g, s, edit);
  ASSERT_TRUE(e.ok()) << e.status().message();
  const QuantPlan& q = e.value();
  EXPECT_EQ(q.find_node("conv1")->precision, Precision::kFloat);
  EXPECT_EQ(q.find_node("relu")->precision, Precision::kFloat);
  EXPECT_EQ(q.find("w1"), nullptr);
  EXPECT_EQ(q.find("b1"), nullptr);
  for (const char* same : {"r", "m", "w2", "b2", "y"})
    EXPECT_EQ(*q.find(same), *p.find(same)) << same;
}

TEST(PlanEdit, FloatTailLeavesNoActivationQuantized) {
  TestGraph t;
  const Scheme s = ort_scheme(true);
  const QuantPlan p = base_plan(t.g, s);
  PlanEdit edit;
  edit.precision["conv2"] = Precision::kFloat;
  edit.precision["pool"] = Precision::kFloat;
  auto e = apply_plan_edit(p, t.g, s, edit);
  ASSERT_TRUE(e.ok()) << e.status().message();
  // y is produced by the float conv2 and read by no one: no longer quantized; m is produced by
  // the float pool and read by the float conv2: neither. r is still produced by the int8 unit.
  EXPECT_EQ(e.value().find("y"), nullptr);
  EXPECT_EQ(e.value().find("m"), nullptr);
  EXPECT_NE(e.value().find("r"), nullptr);
}

TEST(PlanEdit, ErrorsNameWhatIsWrong) {
  TestGraph t;
  const Scheme s = ort_scheme(true);
  const QuantPlan p = base_plan(t.g, s);
  PlanEdit a;
  a.precision["nope"] = Precision::kInt16;
  EXPECT_NE(apply_plan_edit(p, t.g, s, a).status().message().find("nope"), std::string::npos);
  PlanEdit b;
  b.ranges["w1"] = {0, 1};
  EXPECT_NE(apply_plan_edit(p, t.g, s, b).status().message().find("w1"), std::string::npos);
  PlanEdit c;
  c.per_channel = {"r"};
  EXPECT_NE(apply_plan_edit(p, t.g, s, c).status().message().find("'r'"), std::string::npos);
}

}  // namespace
}  // namespace qdiff::quant
