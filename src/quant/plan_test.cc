#include "quant/plan.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "runtime/graph_builder_test_util.h"

namespace qdiff::quant {
namespace {

using runtime::graph_testing::GraphBuilder;

TensorPlan act(const std::string& name, float scale, int32_t zp) {
  TensorPlan t;
  t.name = name;
  t.params.bits = 8;
  t.params.is_signed = false;
  t.params.scales = {scale};
  t.params.zero_points = {zp};
  t.source = "minmax";
  return t;
}

QuantPlan sample_plan() {
  QuantPlan p;
  p.model = "m.onnx";
  p.origin = "test";
  p.tensors.push_back(act("x", 0.0123456789f, 128));
  p.tensors.back().dynamic = true;
  TensorPlan w;
  w.name = "w";
  w.role = Role::kWeight;
  w.params.bits = 8;
  w.params.symmetric = true;
  w.params.narrow_range = true;
  w.params.axis = 0;
  // Awkward floats (subnormal-adjacent, many digits) must survive the text round trip.
  w.params.scales = {1.17549435e-38f, 3.4028235e38f, std::nextafter(0.1f, 1.0f)};
  w.params.zero_points = {0, 0, 0};
  w.rounding = RoundingMode::kHalfAwayFromZero;
  w.reciprocal = true;
  p.tensors.push_back(w);
  p.nodes.push_back({"conv", Precision::kInt16, "conv"});
  p.nodes.push_back({"relu", Precision::kInt8, "conv"});
  return p;
}

TEST(Plan, JsonRoundTripIsExact) {
  const QuantPlan p = sample_plan();
  const std::string text = plan_to_json(p);
  auto back = plan_from_json(text, "p.json");
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(back.value(), p);
  EXPECT_EQ(plan_to_json(back.value()), text);
}

TEST(Plan, DefaultsAndScalarForms) {
  auto p = plan_from_json(
      R"({"schema":"qdiff.plan/1","tensors":[{"name":"x","scale":0.5,"zero_point":3}]})", "p");
  ASSERT_TRUE(p.ok()) << p.status().message();
  const TensorPlan& t = p.value().tensors[0];
  EXPECT_EQ(t.role, Role::kActivation);
  EXPECT_EQ(t.params.bits, 8);
  EXPECT_TRUE(t.params.is_signed);
  EXPECT_EQ(t.params.scales, std::vector<float>{0.5f});
  EXPECT_EQ(t.params.zero_points, std::vector<int32_t>{3});
  EXPECT_EQ(t.rounding, RoundingMode::kHalfToEven);
}

void expect_error(const std::string& text, const std::string& fragment) {
  auto p = plan_from_json(text, "p.json");
  ASSERT_FALSE(p.ok()) << text;
  EXPECT_NE(p.status().message().find(fragment), std::string::npos) << p.status().message();
  EXPECT_EQ(p.status().message().rfind("p.json", 0), 0u) << p.status().message();
}

TEST(Plan, BadInputNamesTheField) {
  const std::string head = R"({"schema":"qdiff.plan/1","tensors":[)";
  expect_error("{", "not valid JSON");
  expect_error(R"({"schema":"other"})", "schema is 'other'");
  expect_error(R"({"schema":"qdiff.plan/1","extra":1})", "unknown field 'extra'");
  expect_error(head + R"({"name":"x","scale":0}]})", "tensor 'x': scale 0");
  expect_error(head + R"({"name":"x","scale":-1}]})", "must be positive");
  expect_error(head + R"({"name":"x","scale":1e300}]})", "must be positive and finite");
  expect_error(head + R"({"name":"x","scale":1,"zero_point":300}]})", "tensor 'x': zero point");
  expect_error(head + R"({"name":"x","scale":1,"bits":20}]})", "bits must be in [2, 16]");
  expect_error(head + R"({"name":"x","scale":1,"axis":-2}]})", "axis -2");
  expect_error(head + R"({"name":"x","scale":1,"rounding":"sideways"}]})", "sideways");
  expect_error(head + R"({"name":"x","scale":1,"role":"bogus"}]})", "unknown role 'bogus'");
  expect_error(head + R"({"name":"x","scale":1,"colour":1}]})", "unknown field 'colour'");
  expect_error(head + R"({"name":"x","scale":1},{"name":"x","scale":1}]})", "listed twice");
  expect_error(head + R"({"name":"x","scale":[1,2],"zero_point":[0]}]})", "exactly 1 scale");
  expect_error(head + R"({"name":"x","axis":0,"scale":[1,2],"zero_point":[0]}]})",
               "2 scale(s) but 1 zero point(s)");
  expect_error(head + R"({"scale":1}]})", "missing field 'name'");
}

ir::Graph small_graph() {
  ir::Graph g;
  GraphBuilder b(g);
  std::mt19937 rng(1);
  const ir::ValueId x = b.value("x");
  g.value(x).type.dtype = DType::kFloat32;
  g.inputs.push_back(x);
  const ir::ValueId w = b.value("w", runtime::graph_testing::random_f32(rng, {3, 2, 1, 1}));
  const ir::ValueId y = b.value("y");
  b.node("conv", ir::OpKind::kConv, {x, w}, y);
  g.outputs.push_back(y);
  return g;
}

TEST(Plan, CheckAgainstGraph) {
  const ir::Graph g = small_graph();
  QuantPlan p = sample_plan();
  p.nodes = {{"conv", Precision::kInt8, "conv"}};
  EXPECT_TRUE(check_plan(p, g).ok()) << check_plan(p, g).message();
  p.tensors[1].params.scales.push_back(0.5f);
  p.tensors[1].params.zero_points.push_back(0);
  EXPECT_NE(check_plan(p, g).message().find("4 scales for 3 channels"), std::string::npos);
  p = sample_plan();
  p.nodes.clear();
  p.tensors[1].params.axis = 4;
  EXPECT_NE(check_plan(p, g).message().find("axis 4 is out of range"), std::string::npos);
  p = sample_plan();
  p.nodes.clear();
  p.tensors.push_back(act("nope", 1, 0));
  EXPECT_NE(check_plan(p, g).message().find("'nope': the model has no tensor"), std::string::npos);
  p = sample_plan();
  p.nodes.clear();
  p.tensors[0].role = Role::kWeight;
  EXPECT_NE(check_plan(p, g).message().find("must be a constant"), std::string::npos);
  p = sample_plan();
  EXPECT_NE(check_plan(p, g).message().find("plan node 'relu'"), std::string::npos);
}

TEST(Plan, BiasParams) {
  QuantParams in;
  in.scales = {0.5f};
  in.zero_points = {3};
  in.is_signed = false;
  QuantParams w;
  w.symmetric = true;
  w.axis = 0;
  w.scales = {0.25f, 0.1f};
  w.zero_points = {0, 0};
  auto b = bias_params(in, w);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b.value().bits, 32);
  EXPECT_EQ(b.value().axis, 0);
  EXPECT_EQ(b.value().scales, (std::vector<float>{0.125f, 0.5f * 0.1f}));
  EXPECT_TRUE(b.value().symmetric);
  EXPECT_TRUE(b.value().validate().ok());
}

}  // namespace
}  // namespace qdiff::quant
