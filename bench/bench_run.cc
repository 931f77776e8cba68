// bench_run: times qdiff's float run of a model (no taps), for bench/float_vs_ort.sh.
//
//   bench_run MODEL.onnx INPUT.npy [--threads N] [--runs R] [--warmup W] [--reference]
//             [--profile]
//
// Loads the model once, runs it W times untimed, then R times timed; prints
// "median_ms=<m> min_ms=<m> runs=<R> threads=<N>". --profile instead times every node
// (fast kernel, else reference kernel, as the interpreter chooses) and prints the time per
// kernel, summed over the R runs' medians per node.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "onnx/importer.h"
#include "runtime/interpreter.h"
#include "runtime/registry.h"
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

// Runs every node once, like the interpreter (fast kernel, reference on kUnsupported), adding
// each node's time to times[node]; the kernel name that ran goes to names[node].
qdiff::Status profile_once(const qdiff::ir::Graph& g, const qdiff::Tensor& input, int threads,
                           bool use_fast, std::vector<std::unique_ptr<qdiff::kernels::KernelState>>& states,
                           std::vector<std::vector<double>>& times, std::vector<std::string>& names) {
  using namespace qdiff;
  std::vector<Tensor> values(g.num_values());
  for (ir::ValueId id = 0; id < g.num_values(); ++id)
    if (g.value(id).initializer) values[id] = *g.value(id).initializer;
  values[g.inputs[0]] = input;
  std::vector<const Tensor*> ins;
  std::vector<Tensor> outs;
  for (size_t i = 0; i < g.num_nodes(); ++i) {
    const ir::Node& node = g.node(static_cast<ir::NodeId>(i));
    ins.clear();
    for (ir::ValueId in : node.inputs) ins.push_back(in == ir::kNoValue ? nullptr : &values[in]);
    outs.assign(node.outputs.size(), Tensor());
    kernels::KernelContext ctx{node.attributes, ins, outs, node.opset, threads, &states[i]};
    const auto t0 = Clock::now();
    const runtime::KernelEntry fast = runtime::fast_kernel(*node.kind);
    Status s = unsupported("");
    std::string name;
    if (use_fast && fast.fn) {
      s = fast.fn(ctx);
      name = fast.name;
    }
    if (s.code() == ErrorCode::kUnsupported) {
      outs.assign(node.outputs.size(), Tensor());
      const runtime::KernelEntry ref = runtime::reference_kernel(*node.kind);
      s = ref.fn(ctx);
      name = ref.name;
    }
    if (!s.ok()) return s.with_context(node.describe());
    times[i].push_back(ms_since(t0));
    names[i] = name;
    for (size_t o = 0; o < node.outputs.size(); ++o)
      if (node.outputs[o] != ir::kNoValue) values[node.outputs[o]] = std::move(outs[o]);
  }
  return Status::ok_status();
}

}  // namespace

int main(int argc, char** argv) {
  using namespace qdiff;
  if (argc < 3) {
    std::fprintf(stderr,
                 "usage: bench_run MODEL.onnx INPUT.npy [--threads N] [--runs R] [--warmup W] "
                 "[--reference] [--profile]\n");
    return 2;
  }
  int threads = 1, runs = 20, warmup = 3;
  bool use_fast = true, profile = false;
  for (int i = 3; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--threads" && i + 1 < argc) threads = std::atoi(argv[++i]);
    else if (a == "--runs" && i + 1 < argc) runs = std::atoi(argv[++i]);
    else if (a == "--warmup" && i + 1 < argc) warmup = std::atoi(argv[++i]);
    else if (a == "--reference") use_fast = false;
    else if (a == "--profile") profile = true;
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

  if (profile) {
    std::vector<std::unique_ptr<kernels::KernelState>> states(g.num_nodes());
    std::vector<std::vector<double>> times(g.num_nodes());
    std::vector<std::string> names(g.num_nodes());
    for (int r = 0; r < warmup + runs; ++r) {
      if (r == warmup) for (auto& t : times) t.clear();
      Status s = profile_once(g, input.value(), threads, use_fast, states, times, names);
      if (!s.ok()) return fail(s);
    }
    std::map<std::string, std::pair<double, int>> per_kernel;
    double total = 0;
    for (size_t i = 0; i < g.num_nodes(); ++i) {
      const double m = median(times[i]);
      per_kernel[names[i]].first += m;
      per_kernel[names[i]].second += 1;
      total += m;
    }
    std::vector<std::pair<double, std::string>> rows;
    for (const auto& [k, v] : per_kernel) rows.push_back({v.first, k});
    std::sort(rows.rbegin(), rows.rend());
    std::printf("%-18s %6s %9s %6s\n", "kernel", "nodes", "ms", "share");
    for (const auto& [ms, k] : rows)
      std::printf("%-18s %6d %9.3f %5.1f%%\n", k.c_str(), per_kernel[k].second, ms,
                  100.0 * ms / total);
    std::printf("%-18s %6zu %9.3f\n", "total", g.num_nodes(), total);
    return 0;
  }

  runtime::RunOptions options;
  options.threads = threads;
  options.use_fast = use_fast;
  auto interp = runtime::Interpreter::create(g, options);
  if (!interp.ok()) return fail(interp.status());
  const std::vector<Tensor> inputs = {input.value()};
  std::vector<double> ms;
  for (int r = 0; r < warmup + runs; ++r) {
    const auto t0 = Clock::now();
    auto out = interp.value()->run(inputs);
    const double t = ms_since(t0);
    if (!out.ok()) return fail(out.status());
    if (r >= warmup) ms.push_back(t);
  }
  std::printf("median_ms=%.3f min_ms=%.3f runs=%d threads=%d\n", median(ms),
              *std::min_element(ms.begin(), ms.end()), runs, threads);
  return 0;
}
