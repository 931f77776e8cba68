// Per-element activations and the chunked parallel loop shared by the fast elementwise kernels
// (elementwise.cc) and the activations fused into a fast Conv (conv_dnnl.cc): a fused
// activation runs exactly the unfused kernel's operation, so results are bit-identical.
#pragma once

#include <omp.h>

#include <algorithm>
#include <cstdint>

#include "kernels/kernel.h"

namespace qdiff::kernels::fast::detail {

// Below this many elements a kernel runs on the calling thread (a parallel region costs more).
constexpr int64_t kParallelMin = int64_t{1} << 16;

// Calls f(begin, end) over [0, n) split into one contiguous chunk per thread.
template <typename F>
void parallel_chunks(int threads, int64_t n, int64_t min_per_thread, F&& f) {
  const int64_t useful = std::max<int64_t>(1, n / std::max<int64_t>(1, min_per_thread));
  const int t = static_cast<int>(std::min<int64_t>(std::max(1, threads), useful));
  if (t <= 1) {
    f(int64_t{0}, n);
    return;
  }
#pragma omp parallel num_threads(t)
  {
    const int64_t nt = omp_get_num_threads(), id = omp_get_thread_num();
    // Chunk boundaries on multiples of 16 elements (whole cache lines for float32).
    const int64_t per = (n + nt - 1) / nt;
    const int64_t step = (per + 15) / 16 * 16;
    const int64_t b = std::min(n, id * step), e = std::min(n, b + step);
    if (b < e) f(b, e);
  }
}

// Reference Relu: +0 for negatives, -0 and NaN kept.
inline float relu_op(float v) {
  return v < 0.0f ? 0.0f : v;
}

// Reference Clip: NaN stays NaN; min > max gives max.
inline float clip_op(float v, float lo, float hi) {
  const float y = v < lo ? lo : v;
  return y > hi ? hi : y;
}

// Applies `act` to p[0, n) in place.
inline void apply_activation(const FusedActivation& act, float* p, int64_t n, int threads) {
  if (act.kind == FusedActivation::Kind::kNone) return;
  const float lo = act.lo, hi = act.hi;
  const bool relu = act.kind == FusedActivation::Kind::kRelu;
  parallel_chunks(threads, n, kParallelMin, [&](int64_t b, int64_t e) {
    if (relu) {
#pragma omp simd
      for (int64_t i = b; i < e; ++i) p[i] = relu_op(p[i]);
    } else {
#pragma omp simd
      for (int64_t i = b; i < e; ++i) p[i] = clip_op(p[i], lo, hi);
    }
  });
}

}  // namespace qdiff::kernels::fast::detail
