// Integer world tests: small graphs whose integer outputs are derived by hand, the demo model
// under every built-in profile, and errors naming the node.
#include "intworld/int_world.h"

#include <gtest/gtest.h>

#include <cstring>
#include <map>

#include "onnx/importer.h"
#include "quant/planner.h"
#include "runtime/graph_builder_test_util.h"
#include "runtime/interpreter.h"
#include "tensor/npy.h"

namespace qdiff::intworld {
namespace {

using runtime::graph_testing::GraphBuilder;

QuantParams per_tensor(float scale, int32_t zp, int bits, bool is_signed) {
  QuantParams p;
  p.bits = bits;
  p.is_signed = is_signed;
  p.scales = {scale};
  p.zero_points = {zp};
  if (is_signed && zp == 0 && bits < 32) p.symmetric = true;
  return p;
}

quant::TensorPlan tplan(const std::string& name, quant::Role role, QuantParams p) {
  quant::TensorPlan t;
  t.name = name;
  t.role = role;
  t.params = std::move(p);
  return t;
}

quant::NodePlan nplan(const std::string& name, const std::string& unit) {
  return {name, quant::Precision::kInt8, unit};
}

class Recorder : public runtime::Observer {
 public:
  Status observe(ir::ValueId id, const Tensor& value) override {
    seen[id] = value;
    return Status();
  }
  std::map<ir::ValueId, Tensor> seen;
};

std::vector<int64_t> ints(const Tensor& t) {
  return t.to_i64_vector();
}

// Conv 1x1 + Relu as one unit. x = [1, -2, 3, 0.5], s_x 0.5, z_x 128 -> q_x = [130, 124, 134,
// 129]; w = 0.3, s_w 0.1 -> 3; bias 0.25 at s_x s_w = 0.05 -> 5; acc = 3 (q_x - 128) + 5 =
// [11, -7, 23, 8]; S = 0.05 / 0.2 = 0.25 -> [2.75, -1.75, 5.75, 2] -> rhe [3, -2, 6, 2] + 100,
// Relu clamps at z_y = 100: [103, 100, 106, 102].
struct ConvReluGraph {
  ir::Graph g;
  quant::QuantPlan plan;
  ir::ValueId x, conv, y;
  ConvReluGraph(ir::OpKind act = ir::OpKind::kRelu, bool weight_plan = true) {
    GraphBuilder b(g);
    x = b.value("x");
    g.inputs = {x};
    const ir::ValueId w = b.value("w", Tensor::from_vector<float>({1, 1, 1, 1}, {0.3f}));
    const ir::ValueId bias = b.value("b", Tensor::from_vector<float>({1}, {0.25f}));
    conv = b.value("conv_out");
    y = b.value("y");
    Attributes a;
    a.set("kernel_shape", std::vector<int64_t>{1, 1});
    b.node("conv", ir::OpKind::kConv, {x, w, bias}, conv, a);
    b.node("act", act, {conv}, y);
    g.outputs = {y};
    plan.tensors.push_back(tplan("x", quant::Role::kActivation, per_tensor(0.5f, 128, 8, false)));
    if (weight_plan)
      plan.tensors.push_back(tplan("w", quant::Role::kWeight, per_tensor(0.1f, 0, 8, true)));
    plan.tensors.push_back(tplan("b", quant::Role::kBias, per_tensor(0.5f * 0.1f, 0, 32, true)));
    plan.tensors.push_back(tplan("y", quant::Role::kActivation, per_tensor(0.2f, 100, 8, false)));
    plan.nodes = {nplan("conv", "conv"), nplan("act", "conv")};
  }
};

TEST(IntWorld, ConvReluUnitByHand) {
  ConvReluGraph c;
  auto profile = targets::builtin_profile("ort-cpu");
  ASSERT_TRUE(profile.ok());
  auto world = IntWorld::create(c.g, c.plan, *profile);
  ASSERT_TRUE(world.ok()) << world.status().message();
  Recorder rec;
  const Tensor in = Tensor::from_vector<float>({1, 1, 2, 2}, {1.0f, -2.0f, 3.0f, 0.5f});
  auto out = (*world)->run({&in, 1}, &rec);
  ASSERT_TRUE(out.ok()) << out.status().message();
  ASSERT_EQ((*out)[0].dtype(), DType::kUInt8);
  EXPECT_EQ(ints((*out)[0]), (std::vector<int64_t>{103, 100, 106, 102}));
  // The input is tapped as its integers; the Conv output inside the unit does not exist.
  ASSERT_TRUE(rec.seen.count(c.x));
  EXPECT_EQ(rec.seen[c.x].dtype(), DType::kUInt8);
  EXPECT_EQ(ints(rec.seen[c.x]), (std::vector<int64_t>{130, 124, 134, 129}));
  EXPECT_FALSE(rec.seen.count(c.conv));
  EXPECT_TRUE(rec.seen.count(c.y));
  EXPECT_EQ((*world)->step_names()[0], "int:linear");
  EXPECT_EQ((*world)->step_names()[1], "unit member");
}

TEST(IntWorld, UnitTheProfileCannotRunNamesTheNode) {
  ConvReluGraph c(ir::OpKind::kSigmoid);
  auto profile = targets::builtin_profile("ort-cpu");
  auto world = IntWorld::create(c.g, c.plan, *profile);
  ASSERT_FALSE(world.ok());
  EXPECT_NE(world.status().message().find("node 'conv'"), std::string::npos)
      << world.status().message();
  EXPECT_NE(world.status().message().find("'act'"), std::string::npos);

  ConvReluGraph nw(ir::OpKind::kRelu, /*weight_plan=*/false);
  auto world2 = IntWorld::create(nw.g, nw.plan, *profile);
  ASSERT_FALSE(world2.ok());
  EXPECT_NE(world2.status().message().find("node 'conv'"), std::string::npos);
  EXPECT_NE(world2.status().message().find("'w'"), std::string::npos);
}

// Add of two quantized tensors, ORT's float scheme: a = [1.0, 0.5] (s 0.1) -> [10, 5],
// b = [0.4, 0.0] (s 0.2) -> [2, 0]; c (s 0.3): rA = f32(1/3), rB = f32(2/3),
// v = [10 rA + 2 rB, 5 rA] = [4.6667, 1.6667] -> [5, 2].
// HardSigmoid through a table: x (s 0.1, z 128) = [3, -3, 0] -> [158, 98, 128];
// hard_sigmoid = [1, 0, 0.5] -> out (s 0.01, z 0) = [100, 0, 50].
TEST(IntWorld, AddAndLutByHand) {
  ir::Graph g;
  GraphBuilder b(g);
  const ir::ValueId a = b.value("a"), bb = b.value("b"), c = b.value("c");
  const ir::ValueId x = b.value("x"), h = b.value("h");
  g.inputs = {a, bb, x};
  b.node("add", ir::OpKind::kAdd, {a, bb}, c);
  Attributes hs;
  hs.set("alpha", 0.2f);
  hs.set("beta", 0.5f);
  b.node("hsig", ir::OpKind::kHardSigmoid, {x}, h, hs);
  g.outputs = {c, h};
  quant::QuantPlan plan;
  plan.tensors = {tplan("a", quant::Role::kActivation, per_tensor(0.1f, 0, 8, false)),
                  tplan("b", quant::Role::kActivation, per_tensor(0.2f, 0, 8, false)),
                  tplan("c", quant::Role::kActivation, per_tensor(0.3f, 0, 8, false)),
                  tplan("x", quant::Role::kActivation, per_tensor(0.1f, 128, 8, false)),
                  tplan("h", quant::Role::kActivation, per_tensor(0.01f, 0, 8, false))};
  plan.nodes = {nplan("add", "add"), nplan("hsig", "hsig")};
  auto profile = targets::builtin_profile("ort-cpu");
  ASSERT_TRUE(profile.ok());
  auto world = IntWorld::create(g, plan, *profile);
  ASSERT_TRUE(world.ok()) << world.status().message();
  EXPECT_EQ((*world)->step_names()[0], "int:binary");
  EXPECT_EQ((*world)->step_names()[1], "int:lut");
  const std::vector<Tensor> in = {Tensor::from_vector<float>({2}, {1.0f, 0.5f}),
                                  Tensor::from_vector<float>({2}, {0.4f, 0.0f}),
                                  Tensor::from_vector<float>({3}, {3.0f, -3.0f, 0.0f})};
  auto out = (*world)->run(in);
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_EQ(ints((*out)[0]), (std::vector<int64_t>{5, 2}));
  EXPECT_EQ(ints((*out)[1]), (std::vector<int64_t>{100, 0, 50}));
}

// The demo model, planned from one sample's ranges with each built-in profile's scheme
// (units: Conv + Relu/Clip), runs in every profile's integer world without error; power-of-two
// targets get their scales snapped; TFLite / DPU pooling keeps its input's parameters.
TEST(IntWorld, DemoModelRunsWithEveryBuiltinProfile) {
  auto model = onnx::import_model(std::string(QDIFF_SOURCE_DIR) + "/models/demo/demo_folded.onnx");
  ASSERT_TRUE(model.ok()) << model.status().message();
  const ir::Graph& g = model->graph;
  auto samples = read_npy(std::string(QDIFF_SOURCE_DIR) + "/models/demo/samples.npy");
  ASSERT_TRUE(samples.ok());
  Tensor x = Tensor::zeros(DType::kFloat32, {1, 1, 28, 28});
  std::memcpy(x.mutable_data<float>(), samples->data<float>(), x.nbytes());
  auto interp = runtime::Interpreter::create(g, {});
  ASSERT_TRUE(interp.ok());
  runtime::RecordingObserver rec;
  ASSERT_TRUE((*interp)->run({&x, 1}, &rec).ok());
  std::map<ir::ValueId, std::pair<float, float>> ranges;
  for (const auto& [id, ts] : rec.records()) {
    if (ts[0].dtype() != DType::kFloat32) continue;
    auto v = ts[0].to_f32_vector();
    ranges[id] = {*std::min_element(v.begin(), v.end()), *std::max_element(v.begin(), v.end())};
  }
  auto structure = quant::plan_structure(g);
  ASSERT_TRUE(structure.ok());
  for (const std::string& name : targets::builtin_profile_names()) {
    SCOPED_TRACE(name);
    auto profile = targets::builtin_profile(name);
    ASSERT_TRUE(profile.ok());
    auto plan = quant::make_plan(g, *structure, profile->scheme, ranges, "minmax");
    ASSERT_TRUE(plan.ok()) << plan.status().message();
    if (profile->power_of_two_scales) {
      std::vector<quant::TensorPlan> kept;
      for (quant::TensorPlan t : plan->tensors) {
        if (t.role == quant::Role::kBias) continue;  // derived as s_x * s_w (a power of two)
        for (float& s : t.params.scales) {
          auto pos = fix_pos_from_scale(s);
          ASSERT_TRUE(pos.ok());
          s = pot_scale(*pos);
        }
        kept.push_back(t);
      }
      plan->tensors = kept;
    }
    if (profile->avgpool != targets::AvgPoolScheme::kFloat) {
      // TFLite and DPU pooling keep the input's parameters (as their converters plan it).
      const quant::TensorPlan* in = plan->find("/block5/pw/conv/Conv_output_0");
      ASSERT_NE(in, nullptr);
      const QuantParams gap_in = in->params;
      for (quant::TensorPlan& t : plan->tensors)
        if (t.name == "/pool/GlobalAveragePool_output_0" || t.name == "/flatten/Flatten_output_0")
          t.params = gap_in;
    }
    auto world = IntWorld::create(g, *plan, *profile);
    ASSERT_TRUE(world.ok()) << world.status().message();
    auto out = (*world)->run({&x, 1});
    ASSERT_TRUE(out.ok()) << out.status().message();
    ASSERT_EQ((*out)[0].numel(), 10);
    // Integer logits: the top class agrees with the float model's on this sample.
    auto deq = dequantize_tensor((*out)[0], (*world)->quantized(g.outputs[0])->params);
    ASSERT_TRUE(deq.ok());
    auto f = rec.records().at(g.outputs[0])[0].to_f32_vector();
    auto q = deq->to_f32_vector();
    EXPECT_EQ(std::max_element(f.begin(), f.end()) - f.begin(),
              std::max_element(q.begin(), q.end()) - q.begin());
  }
}

}  // namespace
}  // namespace qdiff::intworld
