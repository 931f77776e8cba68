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
    Recorder fast_taps;
    auto out = (*world)->run({&x, 1}, &fast_taps);
    ASSERT_TRUE(out.ok()) << out.status().message();
    ASSERT_EQ((*out)[0].numel(), 10);
    // The fast kernels (where they apply) give every tensor bit for bit as the reference ones.
    IntWorldOptions reference;
    reference.fast = false;
    auto ref_world = IntWorld::create(g, *plan, *profile, reference);
    ASSERT_TRUE(ref_world.ok());
    Recorder ref_taps;
    ASSERT_TRUE((*ref_world)->run({&x, 1}, &ref_taps).ok());
    ASSERT_EQ(fast_taps.seen.size(), ref_taps.seen.size());
    for (const auto& [id, t] : ref_taps.seen) {
      ASSERT_EQ(fast_taps.seen.at(id).dtype(), t.dtype()) << g.value(id).name;
      ASSERT_EQ(fast_taps.seen.at(id).shape(), t.shape()) << g.value(id).name;
      EXPECT_EQ(std::memcmp(fast_taps.seen.at(id).raw(), t.raw(), t.nbytes()), 0)
          << g.value(id).name;
    }
    // Integer logits: the top class agrees with the float model's on this sample.
    auto deq = dequantize_tensor((*out)[0], (*world)->quantized(g.outputs[0])->params);
    ASSERT_TRUE(deq.ok());
    auto f = rec.records().at(g.outputs[0])[0].to_f32_vector();
    auto q = deq->to_f32_vector();
    EXPECT_EQ(std::max_element(f.begin(), f.end()) - f.begin(),
              std::max_element(q.begin(), q.end()) - q.begin());
  }
}

// int8 symmetric power-of-two parameters 2^-pos (the DPU's).
QuantParams pow2(int pos) {
  return per_tensor(std::ldexp(1.0f, -pos), 0, 8, true);
}

// A 1x1 Conv (optionally with a bias) and an optional activation after it, as one unit.
struct SmallConv {
  ir::Graph g;
  quant::QuantPlan plan;
  ir::ValueId x, y;
  SmallConv(std::vector<float> w, std::vector<float> bias, std::vector<ir::OpKind> acts,
            const std::vector<Attributes>& act_attrs = {}) {
    GraphBuilder b(g);
    x = b.value("x");
    g.inputs = {x};
    const int64_t oc = static_cast<int64_t>(w.size());
    const ir::ValueId wv = b.value("w", Tensor::from_vector<float>({oc, 1, 1, 1}, w));
    std::vector<ir::ValueId> ins = {x, wv};
    if (!bias.empty()) ins.push_back(b.value("b", Tensor::from_vector<float>({oc}, bias)));
    ir::ValueId prev = b.value("conv_out");
    Attributes a;
    a.set("kernel_shape", std::vector<int64_t>{1, 1});
    b.node("conv", ir::OpKind::kConv, ins, prev, a);
    plan.nodes = {nplan("conv", "conv")};
    for (size_t k = 0; k < acts.size(); ++k) {
      const std::string name = "act" + std::to_string(k);
      const ir::ValueId out = b.value((name + "_out").c_str());
      b.node(name.c_str(), acts[k], {prev}, out,
             k < act_attrs.size() ? act_attrs[k] : Attributes());
      plan.nodes.push_back(nplan(name, "conv"));
      prev = out;
    }
    y = prev;
    g.outputs = {y};
  }
};

// Power-of-two Conv on the DPU (numerics.md §5.3): x pos 2 (s 0.25), w pos 1 (s 0.5), an 8-bit
// bias at pos 1 (s 0.5), y pos 0. shift_cut = 2 + 1 - 0 = 3, shift_bias = 2 + 1 - 1 = 2.
// x = [-2, 2, -0.75, -1.75] -> q_x = [-8, 8, -3, -7] (exact); w = 1 -> 2; b = 0.5 -> 1, in the
// accumulator 1 << 2 = 4; acc = 2 q_x + 4 = [-12, 20, -2, -10]; acc / 8 = [-1.5, 2.5, -0.25,
// -1.25] -> DPU_ROUND (ties toward +inf) = [-1, 3, 0, -1]. Round-half-to-even would give
// [-2, 2, 0, -1], round-half-away [-2, 3, 0, -1].
TEST(IntWorld, DpuPowerOfTwoConvByHand) {
  SmallConv c({1.0f}, {0.5f}, {});
  c.plan.tensors = {tplan("x", quant::Role::kActivation, pow2(2)),
                    tplan("w", quant::Role::kWeight, pow2(1)),
                    tplan("b", quant::Role::kBias, pow2(1)),
                    tplan("conv_out", quant::Role::kActivation, pow2(0))};
  auto profile = targets::builtin_profile("vitis-dpu");
  ASSERT_TRUE(profile.ok());
  auto world = IntWorld::create(c.g, c.plan, *profile);
  ASSERT_TRUE(world.ok()) << world.status().message();
  const Tensor in = Tensor::from_vector<float>({1, 1, 2, 2}, {-2.0f, 2.0f, -0.75f, -1.75f});
  Recorder rec;
  auto out = (*world)->run({&in, 1}, &rec);
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_EQ(ints(rec.seen[c.x]), (std::vector<int64_t>{-8, 8, -3, -7}));
  ASSERT_EQ((*out)[0].dtype(), DType::kInt8);
  EXPECT_EQ(ints((*out)[0]), (std::vector<int64_t>{-1, 3, 0, -1}));

  // A bias finer than the accumulator (pos 4 > pos_x + pos_w = 3: shift_bias -1) is refused.
  c.plan.tensors[2] = tplan("b", quant::Role::kBias, pow2(4));
  auto fine = IntWorld::create(c.g, c.plan, *profile);
  ASSERT_FALSE(fine.ok());
  EXPECT_NE(fine.status().message().find("shift_bias -1"), std::string::npos)
      << fine.status().message();
}

// LeakyRelu(0.1) on its own through the DPU approximation (slope 26/256, DPU_ROUND): x, y pos 4.
// x = [-4, -7.75, 2, -0.3125] -> q = [-64, -124, 32, -5]; q * 26 / 256 = [-6.5 (tie: -6),
// -12.59 (-13), 32, -0.51 (-1)]. The exact slope 0.1 would give -12.4 -> -12 for -124.
TEST(IntWorld, DpuLeakyReluByHand) {
  ir::Graph g;
  GraphBuilder b(g);
  const ir::ValueId x = b.value("x"), y = b.value("y");
  g.inputs = {x};
  Attributes a;
  a.set("alpha", 0.1f);
  b.node("leaky", ir::OpKind::kLeakyRelu, {x}, y, a);
  g.outputs = {y};
  quant::QuantPlan plan;
  plan.tensors = {tplan("x", quant::Role::kActivation, pow2(4)),
                  tplan("y", quant::Role::kActivation, pow2(4))};
  plan.nodes = {nplan("leaky", "leaky")};
  auto profile = targets::builtin_profile("vitis-dpu");
  ASSERT_TRUE(profile.ok());
  const Tensor in = Tensor::from_vector<float>({4}, {-4.0f, -7.75f, 2.0f, -0.3125f});
  auto world = IntWorld::create(g, plan, *profile);
  ASSERT_TRUE(world.ok()) << world.status().message();
  EXPECT_EQ((*world)->step_names()[0], "int:dpu-approx");
  auto out = (*world)->run({&in, 1});
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_EQ(ints((*out)[0]), (std::vector<int64_t>{-6, -13, 32, -1}));
  // With the approximation switched off the target's LUT of the float LeakyRelu runs.
  targets::TargetProfile exact = *profile;
  exact.leaky_relu_26_256 = false;
  auto world2 = IntWorld::create(g, plan, exact);
  ASSERT_TRUE(world2.ok()) << world2.status().message();
  EXPECT_EQ((*world2)->step_names()[0], "int:lut");
  auto out2 = (*world2)->run({&in, 1});
  ASSERT_TRUE(out2.ok());
  EXPECT_EQ(ints((*out2)[0])[1], -12);
}

// Conv + LeakyRelu as one DPU conv-fix unit: the slope applies to the exact accumulator before
// the one DPU_ROUND. x, w pos 1, y pos 0: shift_cut 2. x = [-31, -16, 1.5, -1.5] -> q_x = [-62,
// -32, 3, -3]; w = 1 -> 2; acc = [-124, -64, 6, -6]; negatives acc * 26 / 2^10 = [-3.15, -1.625,
// -, -0.15], positives acc / 4 = 1.5 -> DPU_ROUND: [-3, -2, 2, 0].
TEST(IntWorld, DpuConvLeakyUnitByHand) {
  Attributes a;
  a.set("alpha", 0.1f);
  SmallConv c({1.0f}, {}, {ir::OpKind::kLeakyRelu}, {a});
  c.plan.tensors = {tplan("x", quant::Role::kActivation, pow2(1)),
                    tplan("w", quant::Role::kWeight, pow2(1)),
                    tplan("act0_out", quant::Role::kActivation, pow2(0))};
  auto profile = targets::builtin_profile("vitis-dpu");
  ASSERT_TRUE(profile.ok());
  auto world = IntWorld::create(c.g, c.plan, *profile);
  ASSERT_TRUE(world.ok()) << world.status().message();
  EXPECT_EQ((*world)->step_names()[0], "int:dpu-conv-fix");
  const Tensor in = Tensor::from_vector<float>({1, 1, 2, 2}, {-31.0f, -16.0f, 1.5f, -1.5f});
  auto out = (*world)->run({&in, 1});
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_EQ(ints((*out)[0]), (std::vector<int64_t>{-3, -2, 2, 0}));
}

// The DPU's hard-sigmoid relu6(x + 3) * 2731 / 2^14 and hard-swish on their own: x pos 4,
// HardSigmoid(1/6, 1/2) output pos 7, HardSwish output pos 4. x = [-4, 0, 1, 3.5] -> q = [-64, 0,
// 16, 56]. hsig: 2731 * (q + 48) / 2^(14 + 4 - 7) = [0, 64.01 -> 64, 85.35 -> 85, 4.2e2 -> 127
// (clamped)]. hswish: h7 as above, q * h7 / 2^(4 + 7 - 4) = [0, 0, 10.63 -> 11, 55.56 -> 56].
TEST(IntWorld, DpuHardSigmoidHardSwishByHand) {
  ir::Graph g;
  GraphBuilder b(g);
  const ir::ValueId x = b.value("x"), h = b.value("h"), s = b.value("s");
  g.inputs = {x};
  Attributes hs;
  hs.set("alpha", 1.0f / 6.0f);
  hs.set("beta", 0.5f);
  b.node("hsig", ir::OpKind::kHardSigmoid, {x}, h, hs);
  b.node("hswish", ir::OpKind::kHardSwish, {x}, s);
  g.outputs = {h, s};
  quant::QuantPlan plan;
  plan.tensors = {tplan("x", quant::Role::kActivation, pow2(4)),
                  tplan("h", quant::Role::kActivation, pow2(7)),
                  tplan("s", quant::Role::kActivation, pow2(4))};
  plan.nodes = {nplan("hsig", "hsig"), nplan("hswish", "hswish")};
  auto profile = targets::builtin_profile("vitis-dpu");
  ASSERT_TRUE(profile.ok());
  auto world = IntWorld::create(g, plan, *profile);
  ASSERT_TRUE(world.ok()) << world.status().message();
  const Tensor in = Tensor::from_vector<float>({4}, {-4.0f, 0.0f, 1.0f, 3.5f});
  auto out = (*world)->run({&in, 1});
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_EQ(ints((*out)[0]), (std::vector<int64_t>{0, 64, 85, 127}));
  EXPECT_EQ(ints((*out)[1]), (std::vector<int64_t>{0, 0, 11, 56}));
}

// Conv + BatchNorm (exported Mul/Add form) + HardSwish as one TensorRT epilogue unit: int32
// accumulators, then in float32 f32(acc) * f32(s_x * s_w[c]) + b[c], * gamma[c], + beta[c],
// HardSwish (x * clamp01(x / 6 + 1/2)), one rhe quantization by s_y. The expected integers are
// computed here from that formula.
TEST(IntWorld, TensorRtEpilogueUnitMatchesTheFormula) {
  ir::Graph g;
  GraphBuilder b(g);
  const ir::ValueId x = b.value("x");
  g.inputs = {x};
  const std::vector<float> wv = {0.3f, -0.7f}, bv = {0.1f, -0.2f};
  const std::vector<float> gamma = {1.5f, 0.8f}, beta = {0.25f, -0.1f};
  const ir::ValueId w = b.value("w", Tensor::from_vector<float>({2, 1, 1, 1}, wv));
  const ir::ValueId bias = b.value("b", Tensor::from_vector<float>({2}, bv));
  const ir::ValueId gm = b.value("gamma", Tensor::from_vector<float>({1, 2, 1, 1}, gamma));
  const ir::ValueId bt = b.value("beta", Tensor::from_vector<float>({1, 2, 1, 1}, beta));
  const ir::ValueId c = b.value("c"), m = b.value("m"), a = b.value("a"), y = b.value("y");
  Attributes ca;
  ca.set("kernel_shape", std::vector<int64_t>{1, 1});
  b.node("conv", ir::OpKind::kConv, {x, w, bias}, c, ca);
  b.node("bn_mul", ir::OpKind::kMul, {c, gm}, m);
  b.node("bn_add", ir::OpKind::kAdd, {m, bt}, a);
  b.node("hswish", ir::OpKind::kHardSwish, {a}, y);
  g.outputs = {y};
  // The planner makes this one unit for TensorRT's scheme.
  auto structure = quant::plan_structure(g, {}, quant::UnitGrowth::kEpilogue);
  ASSERT_TRUE(structure.ok()) << structure.status().message();
  for (const quant::NodePlan& np : structure->nodes) EXPECT_EQ(np.unit, "conv") << np.name;

  const float s_x = 0.05f, s_y = 0.03f;
  const std::vector<float> s_w = {0.3f / 127.0f, 0.7f / 127.0f};
  QuantParams wp = per_tensor(1.0f, 0, 8, true);
  wp.narrow_range = true;
  wp.axis = 0;
  wp.scales = s_w;
  wp.zero_points = {0, 0};
  quant::QuantPlan plan;
  plan.tensors = {tplan("x", quant::Role::kActivation, per_tensor(s_x, 0, 8, true)),
                  tplan("w", quant::Role::kWeight, wp),
                  tplan("y", quant::Role::kActivation, per_tensor(s_y, 0, 8, true))};
  for (const char* n : {"conv", "bn_mul", "bn_add", "hswish"})
    plan.nodes.push_back(nplan(n, "conv"));
  auto profile = targets::builtin_profile("tensorrt-int8");
  ASSERT_TRUE(profile.ok());
  auto world = IntWorld::create(g, plan, *profile);
  ASSERT_TRUE(world.ok()) << world.status().message();
  EXPECT_EQ((*world)->step_names()[0], "int:epilogue");
  EXPECT_EQ((*world)->step_names()[3], "unit member");

  const std::vector<float> xs = {1.0f, -2.0f, 3.0f, 0.45f, -6.0f, 0.0f};
  const Tensor in = Tensor::from_vector<float>({1, 1, 2, 3}, xs);
  Recorder rec;
  auto out = (*world)->run({&in, 1}, &rec);
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_FALSE(rec.seen.count(c) || rec.seen.count(m) || rec.seen.count(a));
  // The formula, independently.
  auto rhe_clamp = [](float v) {
    const float r = std::nearbyint(v);
    return static_cast<int64_t>(std::min(127.0f, std::max(-128.0f, r)));
  };
  std::vector<int64_t> expected;
  for (int ch = 0; ch < 2; ++ch) {
    const int64_t qw = rhe_clamp(wv[ch] / s_w[ch]);
    EXPECT_EQ(std::abs(qw), 127);
    for (float xv : xs) {
      const int64_t acc = rhe_clamp(xv / s_x) * qw;
      const float scale = s_x * s_w[ch];
      float r = static_cast<float>(acc) * scale;
      r = r + bv[ch];
      r = r * gamma[ch];
      r = r + beta[ch];
      const float h = std::min(1.0f, std::max(0.0f, static_cast<float>(1.0 / 6.0) * r + 0.5f));
      expected.push_back(rhe_clamp(r * h / s_y));
    }
  }
  EXPECT_EQ(ints((*out)[0]), expected);
  // Hand check of the first element: q_x = 20, acc = 20 * 127 = 2540, r = 2540 * 0.05 * 0.3 /
  // 127 + 0.1 = 0.4, * 1.5 + 0.25 = 0.85, hswish 0.85 * (0.85 / 6 + 0.5) = 0.5454 -> 18.18 -> 18.
  EXPECT_EQ(expected[0], 18);
}

}  // namespace
}  // namespace qdiff::intworld

namespace qdiff::intworld {
namespace {

// A float step (here ConvTranspose, which has no integer kernel: ORT runs DQ -> float op -> Q)
// reads a planned weight as the target holds it, dequantized from its integers: w = 0.26 at s_w
// 0.1 is 3 -> 0.3. x = 2 (s_x 0.5, z_x 128 -> 132 -> 2.0); y = 2 * 0.3 = 0.6 at s_y 0.05, z_y 100
// -> 112. The float original 0.26 would give 0.52 -> 10.4 -> 110.
TEST(IntWorld, FloatStepReadsPlannedWeightsAsStoredIntegers) {
  ir::Graph g;
  GraphBuilder b(g);
  const ir::ValueId x = b.value("x");
  g.inputs = {x};
  const ir::ValueId w = b.value("w", Tensor::from_vector<float>({1, 1, 1, 1}, {0.26f}));
  const ir::ValueId y = b.value("y");
  Attributes a;
  a.set("kernel_shape", std::vector<int64_t>{1, 1});
  b.node("deconv", ir::OpKind::kConvTranspose, {x, w}, y, a);
  g.outputs = {y};
  quant::QuantPlan plan;
  plan.tensors.push_back(tplan("x", quant::Role::kActivation, per_tensor(0.5f, 128, 8, false)));
  plan.tensors.push_back(tplan("w", quant::Role::kWeight, per_tensor(0.1f, 0, 8, true)));
  plan.tensors.push_back(tplan("y", quant::Role::kActivation, per_tensor(0.05f, 100, 8, false)));
  plan.nodes = {nplan("deconv", "deconv")};
  auto profile = targets::builtin_profile("ort-cpu");
  ASSERT_TRUE(profile.ok());
  auto world = IntWorld::create(g, plan, *profile);
  ASSERT_TRUE(world.ok()) << world.status().message();
  const Tensor in = Tensor::from_vector<float>({1, 1, 1, 1}, {2.0f});
  auto out = (*world)->run({&in, 1});
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_EQ(ints((*out)[0]), (std::vector<int64_t>{112}));
}

}  // namespace
}  // namespace qdiff::intworld
