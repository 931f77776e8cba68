// bench_run: times qdiff's float run of a model (no taps), for bench/float_vs_ort.sh.
//
//   bench_run MODEL.onnx INPUT.npy [--threads N] [--runs R] [--warmup W] [--reference]
//             [--no-layouts] [--no-fuse] [--profile] [--int PLAN.json [--target T]]
//
// Loads the model once, runs it W times untimed, then R times timed; prints
// "median_ms=<m> min_ms=<m> runs=<R> threads=<N>". --profile instead has the interpreter time
// every node and prints the time per kernel (as the interpreter chose it), summed over the
// nodes' medians over the R runs. --no-layouts: no NHWC propagation between fast kernels.
// --no-fuse: no activation fused into the Conv before it. --int: the integer world of target T
// (default ort-cpu) under PLAN instead of the float run (--reference: its reference kernels).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "intworld/int_world.h"
#include "onnx/importer.h"
#include "quant/plan.h"
#include "runtime/interpreter.h"
#include "runtime/registry.h"
#include "targets/profile.h"
#include "tensor/npy.h"

namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0.0 : v[v.size() / 2];
}

int fail(const qdiff::Status& s) {
  std::fprintf(stderr, "bench_run: %s\n", s.message().c_str());
  return 1;
}

// Runs `run` warmup + runs times on `input`; prints the median time, or with `profile` the time
// per step name (as the runner chose it), summed over its nodes' medians.
template <typename Run, typename Times>
int time_runs(const qdiff::ir::Graph& g, Run run, Times times,
              const std::vector<std::string>& names, const qdiff::Tensor& input, int warmup,
              int runs, int threads, bool profile) {
  const std::vector<qdiff::Tensor> inputs = {input};
  std::vector<double> ms;
  std::vector<std::vector<double>> node_ms(g.num_nodes());
  for (int r = 0; r < warmup + runs; ++r) {
    const auto t0 = Clock::now();
    auto out = run(inputs);
    const double t = ms_since(t0);
    if (!out.ok()) return fail(out.status());
    if (r < warmup) continue;
    ms.push_back(t);
    if (profile)
      for (size_t i = 0; i < g.num_nodes(); ++i) node_ms[i].push_back(times()[i]);
  }
  if (profile) {
    std::map<std::string, std::pair<double, int>> per_kernel;
    double total = 0;
    for (size_t i = 0; i < g.num_nodes(); ++i) {
      const double m = median(node_ms[i]);
      per_kernel[names[i]].first += m;
      per_kernel[names[i]].second += 1;
      total += m;
    }
    std::vector<std::pair<double, std::string>> rows;
    for (const auto& [k, v] : per_kernel) rows.push_back({v.first, k});
    std::sort(rows.rbegin(), rows.rend());
    std::printf("%-18s %6s %9s %6s\n", "kernel", "nodes", "ms", "share");
    for (const auto& [t, k] : rows)
      std::printf("%-18s %6d %9.3f %5.1f%%\n", k.c_str(), per_kernel[k].second, t,
                  100.0 * t / total);
    std::printf("%-18s %6zu %9.3f  (run median %.3f)\n", "total", g.num_nodes(), total, median(ms));
    return 0;
  }
  std::printf("median_ms=%.3f min_ms=%.3f runs=%d threads=%d\n", median(ms),
              *std::min_element(ms.begin(), ms.end()), runs, threads);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace qdiff;
  if (argc < 3) {
    std::fprintf(stderr,
                 "usage: bench_run MODEL.onnx INPUT.npy [--threads N] [--runs R] [--warmup W] "
                 "[--reference] [--no-layouts] [--no-fuse] [--profile]\n");
    return 2;
  }
  int threads = 1, runs = 20, warmup = 3;
  bool use_fast = true, profile = false, layouts = true, fuse = true;
  std::string int_plan, target = "ort-cpu";
  for (int i = 3; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--threads" && i + 1 < argc)
      threads = std::atoi(argv[++i]);
    else if (a == "--runs" && i + 1 < argc)
      runs = std::atoi(argv[++i]);
    else if (a == "--warmup" && i + 1 < argc)
      warmup = std::atoi(argv[++i]);
    else if (a == "--reference")
      use_fast = false;
    else if (a == "--profile")
      profile = true;
    else if (a == "--no-layouts")
      layouts = false;
    else if (a == "--no-fuse")
      fuse = false;
    else if (a == "--int" && i + 1 < argc)
      int_plan = argv[++i];
    else if (a == "--target" && i + 1 < argc)
      target = argv[++i];
    else {
      std::fprintf(stderr, "bench_run: unknown argument %s\n", a.c_str());
      return 2;
    }
  }
  auto model = onnx::import_model(argv[1]);
  if (!model.ok()) return fail(model.status());
  const ir::Graph& g = model.value().graph;
  auto input = read_npy(argv[2]);
  if (!input.ok()) return fail(input.status());
  if (g.inputs.size() != 1) return fail(unsupported("bench_run handles one-input models"));

  if (!int_plan.empty()) {
    auto plan = quant::load_plan(int_plan);
    if (!plan.ok()) return fail(plan.status());
    auto prof = targets::load_profile(target);
    if (!prof.ok()) return fail(prof.status());
    intworld::IntWorldOptions io;
    io.threads = threads;
    io.fast = use_fast;
    io.time_steps = profile;
    auto world = intworld::IntWorld::create(g, plan.value(), prof.value(), io);
    if (!world.ok()) return fail(world.status());
    return time_runs(
        g, [&](const std::vector<Tensor>& in) { return world.value()->run(in); },
        [&] { return world.value()->step_times_ms(); }, world.value()->step_names(), input.value(),
        warmup, runs, threads, profile);
  }
  runtime::RunOptions options;
  options.threads = threads;
  options.use_fast = use_fast;
  options.propagate_layouts = layouts;
  options.fuse_activations = fuse;
  options.time_nodes = profile;
  auto interp = runtime::Interpreter::create(g, options);
  if (!interp.ok()) return fail(interp.status());
  return time_runs(
      g, [&](const std::vector<Tensor>& in) { return interp.value()->run(in); },
      [&] { return interp.value()->node_times_ms(); }, interp.value()->kernel_names(),
      input.value(), warmup, runs, threads, profile);
}
