// The verifier's incremental re-runs (only the nodes downstream of a plan's change, from the kept
// float or base fake-quant tensors) give the same outputs as full runs, bit for bit.
#include "analysis/verifier.h"

#include <gtest/gtest.h>

#include "analysis/demo_test_util.h"
#include "quant/plan_edit.h"
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

}  // namespace
}  // namespace qdiff::analysis
