// The bundled demo model and its samples for the analysis tests: import, samples, a min/max plan
// of a target's scheme, and the worlds run side by side.
#pragma once

#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "analysis/worlds.h"
#include "onnx/importer.h"
#include "quant/planner.h"
#include "runtime/interpreter.h"
#include "runtime/observer.h"
#include "tensor/npy.h"

namespace qdiff::analysis::demo_testing {

inline constexpr int kDemoSamples = 48;

struct DemoData {
  ir::Graph graph;
  std::vector<Tensor> samples;  // [1, 1, 28, 28] each
};

// Built once.
inline const DemoData& demo_data() {
  static const DemoData* d = [] {
    auto* out = new DemoData;
    auto model =
        onnx::import_model(std::string(QDIFF_SOURCE_DIR) + "/models/demo/demo_folded.onnx");
    QDIFF_ASSERT(model.ok(), "demo model");
    out->graph = std::move(model->graph);
    auto all = read_npy(std::string(QDIFF_SOURCE_DIR) + "/models/demo/samples.npy");
    QDIFF_ASSERT(all.ok(), "demo samples");
    const int64_t per = 28 * 28;
    for (int i = 0; i < kDemoSamples; ++i) {
      Tensor x = Tensor::zeros(DType::kFloat32, {1, 1, 28, 28});
      std::memcpy(x.mutable_data<float>(), all->data<float>() + i * per, x.nbytes());
      out->samples.push_back(x);
    }
    return out;
  }();
  return *d;
}

// A min/max plan of `scheme` for `g` over `calibration` (plan_structure's default units).
inline quant::QuantPlan minmax_plan(const ir::Graph& g, std::span<const Tensor> calibration,
                                    const quant::Scheme& scheme) {
  auto interp = runtime::Interpreter::create(g, {});
  QDIFF_ASSERT(interp.ok(), "interpreter");
  runtime::StatisticsObserver stats;
  for (const Tensor& x : calibration)
    QDIFF_ASSERT((*interp)->run({&x, 1}, &stats).ok(), "float run");
  std::map<ir::ValueId, std::pair<float, float>> ranges;
  for (const auto& [id, ts] : stats.stats())
    if (ts.count > 0) ranges[id] = {static_cast<float>(ts.min), static_cast<float>(ts.max)};
  auto structure = quant::plan_structure(g, {}, scheme.units);
  QDIFF_ASSERT(structure.ok(), "structure");
  auto plan = quant::make_plan(g, *structure, scheme, ranges, "minmax");
  QDIFF_ASSERT(plan.ok(), "plan");
  return *plan;
}

// The three worlds over `samples`; nullptr (with a test failure) when they cannot run.
inline std::unique_ptr<WorldRunner> run_worlds(const ir::Graph& g, const quant::QuantPlan& plan,
                                               const targets::TargetProfile& profile,
                                               std::span<const Tensor> samples) {
  auto runner = WorldRunner::create(g, plan, profile);
  EXPECT_TRUE(runner.ok()) << runner.status().message();
  if (!runner.ok()) return nullptr;
  for (const Tensor& x : samples) {
    Status s = (*runner)->run_sample({&x, 1});
    EXPECT_TRUE(s.ok()) << s.message();
  }
  return std::move(*runner);
}

}  // namespace qdiff::analysis::demo_testing
