// The three worlds side by side on the demo model: a healthy ort-cpu plan (quantization error
// present, arithmetic nearly exact, no divergence), planted faults in the target's arithmetic and
// in one activation's scale (the first divergence names the tensor), and determinism.
#include "analysis/worlds.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <map>

#include "analysis/demo_test_util.h"
#include "intworld/int_world.h"
#include "runtime/interpreter.h"

namespace qdiff::analysis {
namespace {

constexpr int kCalibSamples = 32;
constexpr int kSamples = demo_testing::kDemoSamples;

struct Demo {
  ir::Graph graph;
  std::vector<Tensor> samples;  // [1, 1, 28, 28] each
  quant::QuantPlan plan;        // ort-cpu, minmax over the first kCalibSamples
  targets::TargetProfile profile;
};

// Built once: the import, the samples and the plan.
const Demo& demo() {
  static const Demo* d = [] {
    auto* out = new Demo;
    out->graph = demo_testing::demo_data().graph;
    out->samples = demo_testing::demo_data().samples;
    auto profile = targets::builtin_profile("ort-cpu");
    QDIFF_ASSERT(profile.ok(), "profile");
    out->profile = *profile;
    out->plan = demo_testing::minmax_plan(out->graph, {out->samples.data(), kCalibSamples},
                                          profile->scheme);
    return out;
  }();
  return *d;
}

std::unique_ptr<WorldRunner> run_worlds(const quant::QuantPlan& plan,
                                        const targets::TargetProfile& profile,
                                        int samples = kSamples) {
  const Demo& d = demo();
  return demo_testing::run_worlds(d.graph, plan, profile,
                                  {d.samples.data(), static_cast<size_t>(samples)});
}

void print_table(const WorldRunner& r) {
  if (!std::getenv("QDIFF_WORLDS_VERBOSE")) return;
  std::cout << worlds_to_json(r).dump(1) << "\n";
}

// The first tensor (topological order) where two integer worlds give different integers.
std::string first_integer_difference(const quant::QuantPlan& plan, const targets::TargetProfile& a,
                                     const targets::TargetProfile& b) {
  struct Keep : runtime::Observer {
    Status observe(ir::ValueId id, const Tensor& v) override {
      seen[id] = v.to_plain();
      return Status();
    }
    std::map<ir::ValueId, Tensor> seen;
  };
  const Demo& d = demo();
  auto wa = intworld::IntWorld::create(d.graph, plan, a);
  auto wb = intworld::IntWorld::create(d.graph, plan, b);
  QDIFF_ASSERT(wa.ok() && wb.ok(), "integer worlds");
  std::map<size_t, std::string> first;  // node index -> tensor
  for (int i = 0; i < kSamples; ++i) {
    Keep ka, kb;
    QDIFF_ASSERT((*wa)->run({&d.samples[static_cast<size_t>(i)], 1}, &ka).ok(), "run a");
    QDIFF_ASSERT((*wb)->run({&d.samples[static_cast<size_t>(i)], 1}, &kb).ok(), "run b");
    for (size_t n = 0; n < d.graph.num_nodes(); ++n) {
      for (ir::ValueId out : d.graph.node(static_cast<ir::NodeId>(n)).outputs) {
        auto ia = ka.seen.find(out);
        auto ib = kb.seen.find(out);
        if (ia == ka.seen.end() || ib == kb.seen.end()) continue;
        if (ia->second.to_i64_vector() != ib->second.to_i64_vector() &&
            ia->second.to_f32_vector() != ib->second.to_f32_vector())
          first.emplace(n, d.graph.value(out).name);
      }
    }
  }
  return first.empty() ? std::string() : first.begin()->second;
}

TEST(Worlds, HealthyOrtCpuPlan) {
  const Demo& d = demo();
  auto r = run_worlds(d.plan, d.profile);
  ASSERT_NE(r, nullptr);
  print_table(*r);
  EXPECT_EQ(r->samples(), kSamples);
  const auto table = r->tensors();
  ASSERT_FALSE(table.empty());
  int activations = 0, arithmetic = 0;
  for (const TensorComparison& t : table) {
    SCOPED_TRACE(t.name);
    EXPECT_EQ(t.index, &t - table.data());
    ASSERT_TRUE(t.quantization.has_value());
    EXPECT_EQ(t.quantization->samples, kSamples);
    if (t.step) {
      // A quantized activation: a rounding error, bounded by the grid.
      ++activations;
      EXPECT_GT(t.quantization->error_norm, 0.0);
      EXPECT_GT(t.quantization->sqnr_db, 10.0);
      EXPECT_LT(t.quantization->sqnr_db, 80.0);
      ASSERT_TRUE(t.quantization->max_error_lsb.has_value());
    }
    if (t.arithmetic) {
      ++arithmetic;
      ASSERT_TRUE(t.total.has_value());
      const TensorMetrics& a = *t.arithmetic;
      if (t.step) {
        // Fake-quant and ort-cpu integers: almost always the same integer, else one step.
        ASSERT_TRUE(a.integer_exact_match.has_value());
        EXPECT_GT(*a.integer_exact_match, 0.98);
        // More than one step only where a steep LUT (HardSigmoid) or what follows it amplifies
        // an inherited one-step difference.
        EXPECT_LE(*a.max_error_lsb, 6.01);
      }
    }
  }
  EXPECT_GE(activations, 15);
  EXPECT_GE(arithmetic, 15);
  // Tensors inside an integer unit (the Conv output of Conv+Clip) exist only in the float
  // worlds.
  const TensorComparison& stem = table[1];
  EXPECT_EQ(stem.op_type, "Conv");
  EXPECT_FALSE(stem.arithmetic.has_value());
  // The logits: top-1 agreement measured, the quantization SQNR sensible.
  const TensorComparison& logits = table.back();
  EXPECT_EQ(logits.value, d.graph.outputs[0]);
  ASSERT_TRUE(logits.total && logits.total->top1);
  EXPECT_EQ(logits.total->top1->rows, kSamples);
  EXPECT_GE(logits.total->top1->agree, kSamples - 3);
  EXPECT_GT(logits.total->sqnr_db, 15.0);
  // A healthy model: no divergence in any pair.
  for (WorldPair p : {WorldPair::kQuantization, WorldPair::kArithmetic, WorldPair::kTotal}) {
    auto div = r->first_divergence(p);
    EXPECT_FALSE(div.has_value()) << world_pair_name(p) << ": " << to_json(*div).dump();
  }
}

// The target pads with integer 0 instead of the zero point: on a tensor whose zero point is not 0
// the border taps read a wrong real value; the first Conv unit reading such a tensor diverges.
TEST(Worlds, PaddingFaultFoundAtFirstAffectedConv) {
  const Demo& d = demo();
  targets::TargetProfile faulty = d.profile;
  faulty.pad_with_zero_point = false;
  faulty.pad_value = 0;
  const std::string expected = first_integer_difference(d.plan, d.profile, faulty);
  ASSERT_FALSE(expected.empty());
  auto r = run_worlds(d.plan, faulty);
  ASSERT_NE(r, nullptr);
  print_table(*r);
  auto div = r->first_divergence(WorldPair::kArithmetic);
  ASSERT_TRUE(div.has_value());
  EXPECT_EQ(div->tensor, expected);
  // The unit of the diverging tensor is headed by a Conv.
  const quant::NodePlan* np = d.plan.find_node(div->node);
  ASSERT_NE(np, nullptr);
  auto head = std::find_if(d.graph.nodes().begin(), d.graph.nodes().end(),
                           [&](const ir::Node& n) { return n.name == np->unit; });
  ASSERT_NE(head, d.graph.nodes().end());
  EXPECT_EQ(head->op_type, "Conv");
  EXPECT_GT(div->max_error_lsb, 1.5);
  // The quantization pair does not see it (same plan).
  EXPECT_FALSE(r->first_divergence(WorldPair::kQuantization).has_value());
}

// A 16-bit wrapping accumulator: the first Conv whose sums leave 16 bits diverges.
TEST(Worlds, AccumulatorFaultFoundAtFirstAffectedConv) {
  const Demo& d = demo();
  targets::TargetProfile faulty = d.profile;
  faulty.accumulator_bits = 16;
  faulty.bias_bits = 16;
  const std::string expected = first_integer_difference(d.plan, d.profile, faulty);
  ASSERT_FALSE(expected.empty());
  auto r = run_worlds(d.plan, faulty);
  ASSERT_NE(r, nullptr);
  auto div = r->first_divergence(WorldPair::kArithmetic);
  ASSERT_TRUE(div.has_value());
  EXPECT_EQ(div->tensor, expected);
}

// One activation's scale 50 times too coarse: the quantization pair diverges there.
TEST(Worlds, CoarseActivationScaleFoundInQuantizationPair) {
  const Demo& d = demo();
  quant::QuantPlan bad = d.plan;
  const std::string target = "/block2/Add_output_0";
  quant::TensorPlan* tp = nullptr;
  for (quant::TensorPlan& t : bad.tensors)
    if (t.name == target) tp = &t;
  ASSERT_NE(tp, nullptr);
  for (float& s : tp->params.scales) s *= 50.0f;
  // Keep the plan consistent: the biases of the readers sit on s_x * s_w.
  const ir::ValueId id = *d.graph.find_value(target);
  for (const ir::Node& n : d.graph.nodes()) {
    if (n.inputs.size() < 3 || n.inputs[0] != id || n.inputs[2] == ir::kNoValue) continue;
    for (quant::TensorPlan& t : bad.tensors)
      if (t.name == d.graph.value(n.inputs[2]).name)
        for (float& s : t.params.scales) s *= 50.0f;
  }
  auto r = run_worlds(bad, d.profile);
  ASSERT_NE(r, nullptr);
  print_table(*r);
  auto div = r->first_divergence(WorldPair::kQuantization);
  ASSERT_TRUE(div.has_value());
  EXPECT_EQ(div->tensor, target);
  EXPECT_EQ(div->node, "/block2/Add");
  EXPECT_EQ(div->rule, "noise-budget");
  EXPECT_GT(div->error_rms, div->tolerance_rms);
  // The target computes the coarse plan as fake-quant does.
  EXPECT_FALSE(r->first_divergence(WorldPair::kArithmetic).has_value());
  auto total = r->first_divergence(WorldPair::kTotal);
  ASSERT_TRUE(total.has_value());
  EXPECT_EQ(total->tensor, target);
}

TEST(Worlds, DeterministicJson) {
  const Demo& d = demo();
  auto a = run_worlds(d.plan, d.profile, 12);
  auto b = run_worlds(d.plan, d.profile, 12);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  const std::string ja = worlds_to_json(*a).dump();
  EXPECT_EQ(ja, worlds_to_json(*b).dump());
  const auto j = nlohmann::ordered_json::parse(ja);
  EXPECT_EQ(j.begin().key(), "samples");
  EXPECT_EQ(j["tensors"][0].begin().key(), "index");
  EXPECT_TRUE(j["first_divergence"]["arithmetic"].is_null());
}

TEST(Worlds, ShapeChangeBetweenSamplesIsAnError) {
  const Demo& d = demo();
  auto r = WorldRunner::create(d.graph, d.plan, d.profile);
  ASSERT_TRUE(r.ok());
  Tensor wrong = Tensor::zeros(DType::kFloat32, {1, 1, 14, 14});
  EXPECT_FALSE((*r)->run_sample({&wrong, 1}).ok());
  WorldsOptions bad;
  bad.noise_factor = 0;
  EXPECT_FALSE(WorldRunner::create(d.graph, d.plan, d.profile, bad).ok());
}

}  // namespace
}  // namespace qdiff::analysis
