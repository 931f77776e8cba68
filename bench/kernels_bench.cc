// Conv kernel benchmark: reference kernel vs the oneDNN fast kernel on MobileNetV2 / ResNet18
// layer shapes, at 1 and 2 threads (the reference kernel is single-threaded).
//
//   build-fast/bench/kernels_bench [--benchmark_filter=Dnnl]
#include <benchmark/benchmark.h>

#include <memory>
#include <random>
#include <string>
#include <vector>

#include "kernels/fast/fast.h"
#include "kernels/reference/reference.h"

namespace {

using namespace qdiff;
using Ints = std::vector<int64_t>;

struct Layer {
  const char* name;
  int64_t c, m, group, hw, k, stride;
};

// (in channels, out channels, group, input size, kernel, stride); pads = k / 2.
const Layer kLayers[] = {
    {"resnet_stem_7x7s2", 3, 64, 1, 224, 7, 2},    {"resnet_l1_3x3", 64, 64, 1, 56, 3, 1},
    {"resnet_l3_3x3", 256, 256, 1, 14, 3, 1},      {"resnet_l4_down_1x1s2", 256, 512, 1, 14, 1, 2},
    {"mbv2_stem_3x3s2", 3, 32, 1, 224, 3, 2},      {"mbv2_dw_3x3_112", 32, 32, 32, 112, 3, 1},
    {"mbv2_dw_3x3s2_56", 144, 144, 144, 56, 3, 2}, {"mbv2_pw_expand_28", 32, 192, 1, 28, 1, 1},
    {"mbv2_pw_project_7", 960, 320, 1, 7, 1, 1},
};

Tensor random_f32(Shape shape, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  Tensor t = Tensor::zeros(DType::kFloat32, std::move(shape));
  for (float& v : std::span<float>(t.mutable_data<float>(), static_cast<size_t>(t.numel())))
    v = dist(rng);
  return t;
}

void BM_Conv(benchmark::State& state, kernels::KernelFn fn) {
  const Layer& l = kLayers[state.range(0)];
  const int threads = static_cast<int>(state.range(1));
  const Tensor x = random_f32({1, l.c, l.hw, l.hw}, 1);
  const Tensor w = random_f32({l.m, l.c / l.group, l.k, l.k}, 2);
  const Tensor b = random_f32({l.m}, 3);
  Attributes attrs;
  attrs.set("group", l.group);
  attrs.set("strides", Ints{l.stride, l.stride});
  attrs.set("pads", Ints{l.k / 2, l.k / 2, l.k / 2, l.k / 2});
  const std::vector<const Tensor*> ins = {&x, &w, &b};
  std::unique_ptr<kernels::KernelState> ks;
  for (auto _ : state) {
    std::vector<Tensor> outs(1);
    kernels::KernelContext ctx{attrs, ins, outs, 13, threads, &ks};
    Status s = fn(ctx);
    if (!s.ok()) {
      state.SkipWithError(s.message().c_str());
      break;
    }
    benchmark::DoNotOptimize(outs[0].raw());
  }
  const int64_t out_hw = (l.hw + 2 * (l.k / 2) - l.k) / l.stride + 1;
  const double macs = static_cast<double>(l.m) * out_hw * out_hw * (l.c / l.group) * l.k * l.k;
  state.counters["GFLOPS"] = benchmark::Counter(
      2 * macs, benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::kIs1000);
  state.SetLabel(l.name);
}

void layer_args(benchmark::internal::Benchmark* b, bool threads2) {
  for (int64_t i = 0; i < static_cast<int64_t>(std::size(kLayers)); ++i) {
    b->Args({i, 1});
    if (threads2) b->Args({i, 2});
  }
}

BENCHMARK_CAPTURE(BM_Conv, Reference, &kernels::ref::Conv)
    ->Apply([](benchmark::internal::Benchmark* b) { layer_args(b, false); })
    ->Unit(benchmark::kMillisecond)
    ->MinTime(0.2);
BENCHMARK_CAPTURE(BM_Conv, Dnnl, &kernels::fast::Conv)
    ->Apply([](benchmark::internal::Benchmark* b) { layer_args(b, true); })
    ->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
