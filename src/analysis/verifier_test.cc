// The verifier's incremental re-runs (only the nodes downstream of a plan's change, from the kept
// float or base fake-quant tensors) give the same outputs as full runs, bit for bit.
#include "analysis/verifier.h"

#include <gtest/gtest.h>

#include "analysis/demo_test_util.h"
#include "quant/plan_edit.h"
#include "runtime/graph_builder_test_util.h"
#include "runtime/interpreter.h"

namespace qdiff::analysis {
namespace {

using demo_testing::demo_data;

// The fake-quant world of `plan` run in full, scored against the float world as the verifier
// scores it.
Score full_run(const ir::Graph& g, const quant::QuantPlan& plan,
               const std::vector<std::vector<Tensor>>& samples) {
  auto fq = quant::FakeQuantWorld::create(g, plan);
  QDIFF_ASSERT(fq.ok(), "fake-quant world");
  auto fq_run = runtime::Interpreter::create((*fq)->graph(), {});
  auto float_run = runtime::Interpreter::create(g, {});
  QDIFF_ASSERT(fq_run.ok() && float_run.ok(), "interpreters");
  Score s;
  for (const auto& in : samples) {
    auto x = (*float_run)->run(in);
    auto y = (*fq_run)->run(in, nullptr, (*fq)->transform());
    QDIFF_ASSERT(x.ok() && y.ok(), "runs");
    std::span<const float> a = (*x)[0].values<float>(), b = (*y)[0].values<float>();
    for (size_t i = 0; i < a.size(); ++i) {
      const double d = static_cast<double>(a[i]) - b[i];
      s.err += d * d;
      s.ref += static_cast<double>(a[i]) * a[i];
    }
  }
  return s;
}

TEST(Verifier, IncrementalRerunsEqualFullRuns) {
  const auto& d = demo_data();
  const targets::TargetProfile p = targets::builtin_profile("ort-cpu").value();
  const quant::QuantPlan base =
      demo_testing::minmax_plan(d.graph, {d.samples.data(), 16}, p.scheme);
  std::vector<std::vector<Tensor>> samples;
  for (size_t i = 0; i < 6; ++i) samples.push_back({d.samples[i]});
  Verifier v(d.graph, samples, 1);
  ASSERT_TRUE(v.init(base).ok());
  ASSERT_TRUE(v.incremental());
  // A late unit in float (reruns the tail from the base), an early one in int16 (from the base
  // or float), the first units in float (a reverse split point: from float), a range.
  std::vector<quant::PlanEdit> edits(4);
  edits[0].precision["/block5/pw/conv/Conv"] = quant::Precision::kFloat;
  edits[1].precision["/block1/dw/conv/Conv"] = quant::Precision::kInt16;
  for (const char* u : {"/stem/conv/Conv", "/block1/dw/conv/Conv", "/block1/pw/conv/Conv"})
    edits[2].precision[u] = quant::Precision::kFloat;
  edits[3].ranges["/block3/dw/act/Mul_output_0"] = {-1.0f, 9.0f};
  for (size_t k = 0; k < edits.size(); ++k) {
    SCOPED_TRACE(k);
    auto plan = quant::apply_plan_edit(base, d.graph, p.scheme, edits[k]);
    ASSERT_TRUE(plan.ok()) << plan.status().message();
    auto inc = v.fake_quant(*plan);
    ASSERT_TRUE(inc.ok()) << inc.status().message();
    const Score full = full_run(d.graph, *plan, samples);
    EXPECT_EQ(inc->err, full.err);
    EXPECT_EQ(inc->ref, full.ref);
  }
  const auto [run, all] = v.nodes_rerun();
  EXPECT_LT(run, all);  // the late unit's tail and the reverse split reran less than everything
  EXPECT_GT(run, 0);
}

TEST(Verifier, IncrementalRerunsSeeWeightsHeldByConstantNodes) {
  // x -> conv1 (weight from a Constant node, as some exporters write weights) -> relu -> conv2:
  // per-channel weights for conv1 change the Constant node's tensor, which must rerun.
  namespace gt = runtime::graph_testing;
  std::mt19937 rng(9);
  ir::Graph g;
  const gt::GraphBuilder b(g);
  const ir::ValueId x = b.value("x");
  g.value(x).type.dtype = DType::kFloat32;
  Tensor w1 = gt::random_f32(rng, {6, 3, 3, 3});
  for (int64_t i = 0; i < 27; ++i) w1.mutable_data<float>()[i] *= 30.0f;  // one wide channel
  const ir::ValueId w = b.value("w1"), c1 = b.value("c1"), r = b.value("r"), y = b.value("y");
  const ir::ValueId w2 = b.value("w2", gt::random_f32(rng, {4, 6, 1, 1}));
  g.inputs = {x};
  g.outputs = {y};
  Attributes value;
  value.set("value", w1);
  b.node("w1_const", ir::OpKind::kConstant, {}, w, value);
  b.node("conv1", ir::OpKind::kConv, {x, w}, c1);
  b.node("relu", ir::OpKind::kRelu, {c1}, r);
  b.node("conv2", ir::OpKind::kConv, {r, w2}, y);
  std::vector<Tensor> calib;
  std::vector<std::vector<Tensor>> samples;
  for (int i = 0; i < 4; ++i) {
    calib.push_back(gt::random_f32(rng, {1, 3, 8, 8}));
    samples.push_back({calib.back()});
  }
  quant::Scheme scheme = targets::builtin_profile("ort-cpu").value().scheme;
  scheme.per_channel_weights = false;
  const quant::QuantPlan base = demo_testing::minmax_plan(g, calib, scheme);
  Verifier v(g, samples, 1);
  ASSERT_TRUE(v.init(base).ok());
  ASSERT_TRUE(v.incremental());
  quant::PlanEdit e;
  e.per_channel.insert("w1");
  auto plan = quant::apply_plan_edit(base, g, scheme, e);
  ASSERT_TRUE(plan.ok()) << plan.status().message();
  auto inc = v.fake_quant(*plan);
  ASSERT_TRUE(inc.ok()) << inc.status().message();
  const Score full = full_run(g, *plan, samples);
  EXPECT_EQ(inc->err, full.err);
  EXPECT_LT(inc->err, v.base_fake_quant().err);  // the per-channel weight did change the output
}

}  // namespace
}  // namespace qdiff::analysis
