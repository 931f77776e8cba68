// Findings on the demo model: healthy controls give no error or warning; each planted fault
// (one per mechanism family) gives a top finding naming the faulty node and the right category,
// with a verified fix that recovers the output.
#include "analysis/findings.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <iostream>
#include <limits>

#include "analysis/demo_test_util.h"
#include "quant/plan_edit.h"

namespace qdiff::analysis {
namespace {

using demo_testing::demo_data;
using demo_testing::DemoData;
using demo_testing::minmax_plan;

constexpr size_t kCalib = 32;
constexpr size_t kVerify = 12;

targets::TargetProfile profile(const char* name) {
  auto p = targets::builtin_profile(name);
  QDIFF_ASSERT(p.ok(), "profile");
  return *p;
}

struct Diagnosed {
  std::unique_ptr<WorldRunner> runner;
  Diagnosis dx;
};

Diagnosed diagnose(const ir::Graph& g, const quant::QuantPlan& plan,
                   const targets::TargetProfile& p, const std::vector<Tensor>& samples) {
  Diagnosed r;
  r.runner = demo_testing::run_worlds(g, plan, p, samples);
  if (!r.runner) return r;
  std::vector<std::vector<Tensor>> verify;
  for (size_t i = 0; i < kVerify && i < samples.size(); ++i) verify.push_back({samples[i]});
  auto dx = find_causes(*r.runner, verify);
  EXPECT_TRUE(dx.ok()) << dx.status().message();
  if (dx.ok()) r.dx = std::move(dx).value();
  if (std::getenv("QDIFF_FINDINGS_VERBOSE")) std::cout << r.dx.analyses.dump(1) << "\n";
  return r;
}

quant::QuantPlan demo_plan(const ir::Graph& g, const quant::Scheme& scheme) {
  const auto& s = demo_data().samples;
  return minmax_plan(g, {s.data(), kCalib}, scheme);
}

void expect_top(const Diagnosis& dx, const std::string& category, const std::string& node) {
  ASSERT_FALSE(dx.findings.empty());
  const Finding& f = dx.findings[0];
  EXPECT_EQ(f.category, category);
  EXPECT_EQ(f.node, node);
  EXPECT_EQ(f.severity, "error");
  EXPECT_EQ(dx.verdict, "broken");
  ASSERT_TRUE(f.fix_verified.has_value());
  EXPECT_GT(f.fix_verified->after, f.fix_verified->before + 3.0);
  EXPECT_FALSE(f.fix.empty());
  EXPECT_FALSE(f.summary.empty());
}

TEST(Findings, HealthyControlsHaveNoErrorOrWarning) {
  const DemoData& d = demo_data();
  for (const char* target : {"ort-cpu", "xnnpack-qs8", "tensorrt-int8"}) {
    SCOPED_TRACE(target);
    const targets::TargetProfile p = profile(target);
    Diagnosed r = diagnose(d.graph, demo_plan(d.graph, p.scheme), p, d.samples);
    for (const Finding& f : r.dx.findings) {
      EXPECT_EQ(f.severity, "info") << to_json(f).dump();
      EXPECT_NE(f.category, "invalid-values");
    }
    EXPECT_EQ(r.dx.verdict, "healthy");
  }
}

TEST(Findings, PaddingFault) {
  const DemoData& d = demo_data();
  targets::TargetProfile p = profile("ort-cpu");
  p.pad_with_zero_point = false;  // pads uint8 activations (zero point > 0) with integer 0
  p.pad_value = 0;
  Diagnosed r = diagnose(d.graph, demo_plan(d.graph, p.scheme), p, d.samples);
  expect_top(r.dx, "padding", "/stem/conv/Conv");
  EXPECT_GT(r.dx.findings[0].fix_verified->after, 40.0);
}

TEST(Findings, SaturatingAccumulator) {
  const DemoData& d = demo_data();
  targets::TargetProfile p = profile("ort-cpu");
  p.accumulator_bits = 16;
  p.overflow = targets::Overflow::kSaturate;
  p.bias_bits = 16;
  Diagnosed r = diagnose(d.graph, demo_plan(d.graph, p.scheme), p, d.samples);
  expect_top(r.dx, "saturation", "/stem/conv/Conv");
}

TEST(Findings, RoundingModeChange) {
  const DemoData& d = demo_data();
  targets::TargetProfile p = profile("ort-cpu");
  p.requant_rounding = RoundingMode::kFloor;  // truncating requantization
  Diagnosed r = diagnose(d.graph, demo_plan(d.graph, p.scheme), p, d.samples);
  ASSERT_FALSE(r.dx.findings.empty());
  EXPECT_EQ(r.dx.findings[0].category, "rounding");
  EXPECT_EQ(r.dx.findings[0].evidence.value("divergence_rule", ""), "differing-fraction");
}

TEST(Findings, CoarseSigmoidTable) {
  // The demo's hard-swish gates as Sigmoid (x * sigmoid(x)), on a target whose sigmoid table
  // has 9 entries held over 32 input steps each instead of one entry per input value.
  ir::Graph g = demo_data().graph;
  int gates = 0;
  for (size_t i = 0; i < g.num_nodes(); ++i) {
    ir::Node& n = g.node(static_cast<ir::NodeId>(i));
    if (n.kind != ir::OpKind::kHardSigmoid) continue;
    n.kind = ir::OpKind::kSigmoid;
    n.op_type = "Sigmoid";
    n.name.replace(n.name.find("HardSigmoid"), 11, "Sigmoid");
    n.attributes = {};
    ++gates;
  }
  ASSERT_EQ(gates, 4);
  targets::TargetProfile p = profile("ort-cpu");
  p.name = p.scheme.target = "npu-coarse-sigmoid";
  p.lut_bits = 3;
  p.lut_interpolation = false;
  Diagnosed r = diagnose(g, demo_plan(g, p.scheme), p, demo_data().samples);
  expect_top(r.dx, "approximation", "/block3/dw/act/Sigmoid");
  EXPECT_EQ(r.dx.findings[0].evidence["mechanisms"].begin().key(), "lut_bits");
  // The healthy table on the same model: no error or warning.
  Diagnosed ok = diagnose(g, demo_plan(g, p.scheme), profile("ort-cpu"), demo_data().samples);
  for (const Finding& f : ok.dx.findings) EXPECT_EQ(f.severity, "info") << to_json(f).dump();
}

TEST(Findings, PerTensorDepthwiseWithOutlierChannel) {
  const DemoData& d = demo_data();
  ir::Graph g = d.graph;
  // One depthwise channel 40x wider than the others: a float model that is still fine, whose
  // per-tensor weight grid leaves the other channels a few levels.
  auto w = g.find_value("block1.dw.conv.weight");
  ASSERT_TRUE(w && g.value(*w).initializer);
  g.value(*w).initializer = g.value(*w).initializer->clone();  // copies of a graph share data
  Tensor& wt = *g.value(*w).initializer;
  const int64_t per_channel = wt.numel() / wt.dim(0);
  for (int64_t i = 0; i < per_channel; ++i) wt.mutable_data<float>()[i] *= 40.0f;
  targets::TargetProfile p = profile("ort-cpu");
  quant::Scheme scheme = p.scheme;
  scheme.per_tensor_depthwise = true;
  Diagnosed r = diagnose(g, demo_plan(g, scheme), p, d.samples);
  expect_top(r.dx, "weight-granularity", "/block1/dw/conv/Conv");
  EXPECT_GE(r.dx.findings[0].evidence.value("weight_absmax_max_over_median", 0.0), 10.0);
}

TEST(Findings, ActivationRangeTooWide) {
  const DemoData& d = demo_data();
  const targets::TargetProfile p = profile("ort-cpu");
  // One activation's range 100x wider than its values (an outlier seen in calibration): its
  // step leaves the values a few levels. Biases follow (plan_edit re-derives them).
  quant::PlanEdit e;
  e.ranges["/block1/dw/act/Clip_output_0"] = {0.0f, 600.0f};
  auto plan = quant::apply_plan_edit(demo_plan(d.graph, p.scheme), d.graph, p.scheme, e);
  ASSERT_TRUE(plan.ok()) << plan.status().message();
  Diagnosed r = diagnose(d.graph, plan.value(), p, d.samples);
  expect_top(r.dx, "activation-range", "/block1/dw/conv/Conv");
  EXPECT_EQ(r.dx.findings[0].tensor, "/block1/dw/act/Clip_output_0");
}

TEST(Findings, ManySmallErrorsAreAccumulation) {
  const DemoData& d = demo_data();
  const targets::TargetProfile p = profile("ort-cpu");
  // Every activation's range 8x wider than its values: each unit adds a little of the error,
  // none most of it.
  const quant::QuantPlan base = demo_plan(d.graph, p.scheme);
  quant::PlanEdit e;
  for (const quant::TensorPlan& t : base.tensors) {
    if (t.role != quant::Role::kActivation || t.name == "input") continue;
    const auto [lo, hi] = quant::grid_range(t.params);
    e.ranges[t.name] = {8.0f * lo, 8.0f * hi};
  }
  auto plan = quant::apply_plan_edit(base, d.graph, p.scheme, e);
  ASSERT_TRUE(plan.ok()) << plan.status().message();
  Diagnosed r = diagnose(d.graph, plan.value(), p, d.samples);
  ASSERT_FALSE(r.dx.findings.empty());
  EXPECT_EQ(r.dx.findings[0].category, "accumulation") << to_json(r.dx.findings[0]).dump();
}

TEST(Findings, BiasScaleOtherThanInputTimesWeight) {
  const DemoData& d = demo_data();
  const targets::TargetProfile p = profile("ort-cpu");
  quant::QuantPlan plan = demo_plan(d.graph, p.scheme);
  for (quant::TensorPlan& t : plan.tensors)
    if (t.name == "block1.pw.conv.bias")
      for (float& s : t.params.scales) s *= 20.0f;  // stored at 20x its kernel's scale
  Diagnosed r = diagnose(d.graph, plan, p, d.samples);
  expect_top(r.dx, "precision", "/block1/pw/conv/Conv");
  EXPECT_EQ(r.dx.findings[0].evidence["inconsistent_biases"][0], "block1.pw.conv.bias");
}

TEST(Findings, CalibrationDataThatMissesTheSamples) {
  const DemoData& d = demo_data();
  // Calibrated on dimmed images: every range is too narrow for the real samples.
  std::vector<Tensor> dim;
  for (size_t i = 0; i < kCalib; ++i) {
    Tensor x = d.samples[i].clone();
    for (float& v : std::span<float>(x.mutable_data<float>(), static_cast<size_t>(x.numel())))
      v *= 0.3f;
    dim.push_back(x);
  }
  const targets::TargetProfile p = profile("ort-cpu");
  const quant::QuantPlan plan = minmax_plan(d.graph, dim, p.scheme);
  Diagnosed r = diagnose(d.graph, plan, p, d.samples);
  ASSERT_FALSE(r.dx.findings.empty());
  const Finding& f = r.dx.findings[0];
  EXPECT_EQ(f.category, "calibration-data");
  EXPECT_EQ(f.tensor, "input");
  EXPECT_EQ(f.severity, "error");
  ASSERT_TRUE(f.fix_verified.has_value());
  EXPECT_GT(f.fix_verified->after, f.fix_verified->before + 3.0);
}

TEST(Findings, NanSampleIsAnInvalidValue) {
  const DemoData& d = demo_data();
  std::vector<Tensor> samples(d.samples.begin(), d.samples.begin() + 20);
  samples[3] = samples[3].clone();
  samples[3].mutable_data<float>()[100] = std::numeric_limits<float>::quiet_NaN();
  const targets::TargetProfile p = profile("ort-cpu");
  Diagnosed r = diagnose(d.graph, demo_plan(d.graph, p.scheme), p, samples);
  ASSERT_FALSE(r.dx.findings.empty());
  EXPECT_EQ(r.dx.findings[0].category, "invalid-values");
  EXPECT_EQ(r.dx.findings[0].tensor, "input");
  EXPECT_EQ(r.dx.findings[0].evidence.value("nan", 0), 1);
  EXPECT_EQ(r.dx.verdict, "broken");
}

TEST(Findings, Deterministic) {
  const DemoData& d = demo_data();
  targets::TargetProfile p = profile("ort-cpu");
  p.pad_with_zero_point = false;
  const quant::QuantPlan plan = demo_plan(d.graph, p.scheme);
  std::string first;
  for (int i = 0; i < 2; ++i) {
    Diagnosed r = diagnose(d.graph, plan, p, d.samples);
    std::string text;
    for (const Finding& f : r.dx.findings) text += to_json(f).dump() + "\n";
    text += r.dx.analyses.dump();
    if (i == 0)
      first = text;
    else
      EXPECT_EQ(text, first);
  }
}

}  // namespace
}  // namespace qdiff::analysis
