// Integer pooling: MaxPool (exact), AveragePool and GlobalAveragePool per AvgPoolScheme
// (numerics.md §1.5, §2.5, §5.4). 2-D NCHW; ceil_mode 0.
#pragma once

#include <cstdint>
#include <vector>

#include "numerics/quant_params.h"
#include "support/status.h"
#include "targets/profile.h"
#include "tensor/tensor.h"

namespace qdiff::intkernels {

struct PoolParams {
  std::vector<int64_t> kernel;     // [kh, kw]
  std::vector<int64_t> strides;    // empty = 1
  std::vector<int64_t> pads;       // [top, left, bottom, right]; empty = 0
  std::vector<int64_t> dilations;  // MaxPool only; empty = 1
  bool count_include_pad = false;  // AveragePool kFloat
};

// Max over the in-image taps (padding never wins), same dtype and parameters as the input.
Result<Tensor> max_pool(const Tensor& x, const PoolParams& params);

// AveragePool of x (params `in`) to `out`:
//  kFloat (ORT qlinear_pool.cc): v = f32(s_in * (q - z_in)); sum in float over the window in
//      row-major order from 0 (taps past the bottom/right edge are not visited); divided by
//      kh*kw (count_include_pad) or the number of in-image taps; q = clamp(rhe(f32(f32(avg / s_out)
//      + z_out))).
//  kValidCountRhaz (TFLite reference pooling.h): sum of raw q over in-image taps, n taps,
//      (sum > 0 ? (sum + n/2) / n : (sum - n/2) / n) with C division (rhaz on raw q), clamp;
//      requires in == out.
//  kDpuMultiplier (Vitis DPU): sum of raw q over in-image taps (pads are 0), times m / 2^k of
//      dpu_avgpool_coefficient(kh * kw), DPU_ROUND (rhu), clamp; requires in == out, z = 0.
Result<Tensor> avg_pool(const Tensor& x, const QuantParams& in, const QuantParams& out,
                        const PoolParams& params, targets::AvgPoolScheme scheme);

// GlobalAveragePool of x [N, C, H, W] -> [N, C, 1, 1]:
//  kFloat (ORT x86 MlasQLinearGlobalAveragePoolNchw): acc = sum(q) - z_in * HW (int32),
//      S = f32(s_in / f32(s_out * f32(HW))), P6 requantization (rhe); ORT refuses HW >= 2^24 and
//      S outside [2^-32, 256) (an error here too).
//  kValidCountRhaz: rhaz(sum(q) / HW) on raw q (in == out).
//  kDpuMultiplier: DPU_ROUND(sum(q) * m / 2^k) with the coefficient for HW taps.
Result<Tensor> global_avg_pool(const Tensor& x, const QuantParams& in, const QuantParams& out,
                               targets::AvgPoolScheme scheme);

// The DPU's 1/N as m / 2^k: 9 -> 7/64, 25 -> 10/256, 36 -> 7/256, 49 -> 21/1024,
// 196 -> 21/4096; otherwise the first s < ceil(log2(128 N)) minimising |m/2^s - 1/N| with
// m = round(2^s / N) (numerics.md §5.4; e.g. 81 -> 101/2^13, 100 -> 41/2^12).
struct DpuCoefficient {
  int64_t multiplier = 1;
  int shift = 0;
};
DpuCoefficient dpu_avgpool_coefficient(int64_t taps);

}  // namespace qdiff::intkernels
