// qdiff tune on the demo model: goals parsed, a met goal needs no raise, a reachable goal is met
// by a small verified set, an unreachable one is reported as not met with the best plan.
#include "analysis/tune.h"

#include <gtest/gtest.h>

#include "analysis/demo_test_util.h"

namespace qdiff::analysis {
namespace {

using demo_testing::demo_data;

TEST(Tune, ParseGoal) {
  auto g = parse_goal("cosine>=0.995");
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(g->metric, Goal::Metric::kCosine);
  EXPECT_DOUBLE_EQ(g->bound, 0.995);
  EXPECT_TRUE(g->met(0.996));
  EXPECT_FALSE(g->met(0.99));
  auto d = parse_goal("top1-drop<=0.5");
  ASSERT_TRUE(d.ok());
  EXPECT_FALSE(d->at_least);
  EXPECT_TRUE(d->met(0.5));
  EXPECT_EQ(parse_goal("sqnr>=30")->metric, Goal::Metric::kSqnr);
  EXPECT_EQ(parse_goal("top1-agreement>=99")->metric, Goal::Metric::kTop1Agreement);
  for (const char* bad : {"sqnr=30", "cosine<=0.9", "top1-drop>=1", "sqnr>=", "sqnr>=3x", "x>=1"})
    EXPECT_FALSE(parse_goal(bad).ok()) << bad;
}

struct TuneCase {
  targets::TargetProfile profile = targets::builtin_profile("ort-cpu").value();
  quant::QuantPlan plan;
  std::vector<std::vector<Tensor>> samples;
  TuneCase() {
    const auto& d = demo_data();
    plan = demo_testing::minmax_plan(d.graph, {d.samples.data(), 32}, profile.scheme);
    for (size_t i = 0; i < 16; ++i) samples.push_back({d.samples[i]});
  }
};

TEST(Tune, MetGoalRaisesNothing) {
  TuneCase s;
  auto r =
      tune(demo_data().graph, s.plan, s.profile, s.samples, {}, parse_goal("sqnr>=10").value());
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_TRUE(r->met);
  EXPECT_TRUE(r->raised.empty());
  EXPECT_EQ(r->plan, s.plan);
  EXPECT_EQ(r->world, "integer");
}

TEST(Tune, ReachableGoalIsMetBySmallSet) {
  TuneCase s;
  const Goal goal = parse_goal("sqnr>=29").value();
  auto r = tune(demo_data().graph, s.plan, s.profile, s.samples, {}, goal);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_LT(r->before, 29.0);
  EXPECT_TRUE(r->met);
  EXPECT_GE(r->after, 29.0);
  ASSERT_FALSE(r->raised.empty());
  EXPECT_LE(r->raised.size(), 3u);
  for (const auto& u : r->raised) EXPECT_EQ(r->plan.find_node(u.unit)->precision, u.precision);
  // The reported metric is the tuned plan's: re-measure it.
  auto again = tune(demo_data().graph, r->plan, s.profile, s.samples, {}, goal);
  ASSERT_TRUE(again.ok());
  EXPECT_DOUBLE_EQ(again->before, r->after);
  EXPECT_TRUE(again->raised.empty());
}

TEST(Tune, TargetWithoutInt16KernelsRaisesToFloat) {
  TuneCase s;
  s.profile.int16_units = false;  // as the Vitis DPU: a raised unit runs on the CPU in float
  auto r =
      tune(demo_data().graph, s.plan, s.profile, s.samples, {}, parse_goal("sqnr>=29").value());
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_TRUE(r->met);
  ASSERT_FALSE(r->raised.empty());
  for (const auto& u : r->raised) EXPECT_EQ(u.precision, quant::Precision::kFloat) << u.unit;
  for (const auto& x : r->sensitivity) EXPECT_EQ(x.precision, quant::Precision::kFloat) << x.unit;
}

TEST(Tune, UnreachableGoalIsNotMet) {
  TuneCase s;
  s.samples.resize(4);
  auto r =
      tune(demo_data().graph, s.plan, s.profile, s.samples, {}, parse_goal("sqnr>=500").value());
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_FALSE(r->met);
  EXPECT_GT(r->after, r->before);  // the best plan found is still better
  EXPECT_FALSE(r->raised.empty());
}

TEST(Tune, Top1DropNeedsLabels) {
  TuneCase s;
  EXPECT_FALSE(tune(demo_data().graph, s.plan, s.profile, s.samples, {},
                    parse_goal("top1-drop<=0.5").value())
                   .ok());
}

}  // namespace
}  // namespace qdiff::analysis
