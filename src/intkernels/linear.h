// Integer Conv / Gemm / MatMul: accumulation under an accumulator model, then requantization.
//
// Accumulation is the exact integer dot product sum((x - z_x) * (w - z_w)) + bias, formed term by
// term in the model's width with its overflow rule (wrap: modulo 2^bits after every addition;
// saturate: clamped after every addition). The bias is added after the products.
//
// u8 x s8 pair saturation (x86 vpmaddubsw, AVX2 / AVX-512BW without VNNI; numerics.md §2.3):
// MLAS multiplies the *raw* uint8 activations by the raw int8 weights, sums adjacent products in
// saturating int16, sat16(a[k] * w[k] + a[k+1] * w[k+1]), accumulates the pair sums in int32 and
// applies the zero-point corrections afterwards (- z_x * sum(w) - z_w * sum(a) + K z_x z_w).
// ASSUMPTION about the K order (not verified on a non-VNNI machine): K is the reduction index of
// the NCHW im2col, k = (ic_in_group * KH + kh) * KW + kw for Conv and the plain K index for
// Gemm/MatMul; pairs are (k, k+1) for even k, and an odd K is padded with a zero product. Padded
// Conv taps hold the pad value (raw), as im2col writes it.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "intkernels/requantizer.h"
#include "numerics/quant_params.h"
#include "support/status.h"
#include "targets/profile.h"
#include "tensor/tensor.h"

namespace qdiff::intkernels {

struct AccumulatorModel {
  int bits = 32;  // 16..64
  targets::Overflow overflow = targets::Overflow::kWrap;
  bool pair_saturation_u8s8 = false;  // only applies to uint8 activations x int8 weights
};
AccumulatorModel accumulator_model(const targets::TargetProfile& profile);

// One accumulation step in the model: (acc + term) wrapped or saturated to `bits`.
int64_t accumulate(int64_t acc, int64_t term, const AccumulatorModel& model);

struct ConvParams {
  int64_t group = 1;
  std::vector<int64_t> strides;    // [sh, sw]; empty = 1
  std::vector<int64_t> dilations;  // [dh, dw]; empty = 1
  std::vector<int64_t> pads;       // [top, left, bottom, right]; empty = 0
  // Raw integer written into padded taps; default: the input zero point (real 0). The DPU / a
  // symmetric target pads with 0; FINN bipolar pads with -1 (numerics.md mechanism 14).
  std::optional<int32_t> pad_value;
};

// Accumulators of a 2-D NCHW convolution: x [N, C, H, W] (uint8/int8/int16), w [M, C/group, KH,
// KW] (int8/uint8), weight zero points one or one per output channel, bias int32 [M] or
// undefined. Returns int64 [N, M, OH, OW] holding the accumulator values in the model's width.
Result<Tensor> conv_accumulate(const Tensor& x, int32_t z_x, const Tensor& w,
                               const std::vector<int32_t>& z_w, const Tensor& bias,
                               const ConvParams& params, const AccumulatorModel& model);

// Accumulators of Gemm: A [M, K] (or [K, M] with trans_a), B [K, N] (or [N, K] with trans_b),
// bias int32 [N], [1], [M, N] or undefined; weight zero points one or one per column N.
// Returns int64 [M, N].
Result<Tensor> gemm_accumulate(const Tensor& a, int32_t z_a, const Tensor& b,
                               const std::vector<int32_t>& z_b, bool trans_a, bool trans_b,
                               const Tensor& bias, const AccumulatorModel& model);

// Accumulators of MatMul: A [..., M, K], B [K, N] or [..., K, N] with the same leading dims as A.
// Weight zero points one or one per column N. Returns int64 [..., M, N].
Result<Tensor> matmul_accumulate(const Tensor& a, int32_t z_a, const Tensor& b,
                                 const std::vector<int32_t>& z_b, const AccumulatorModel& model);

// Requantizes accumulators (int64 tensor) to `out_dtype`; `channel_axis` selects the requantizer
// channel (-1: per tensor).
Result<Tensor> requantize_accumulators(const Tensor& acc, const Requantizer& rq,
                                       int64_t channel_axis, DType out_dtype);

// Whole quantized ops (accumulate + requantize), parameters from QuantParams:
// x_params per tensor; w_params per tensor or per output channel (axis 0 for Conv, the N axis of
// B for Gemm/MatMul); y_params per tensor. `spec` and `model` are the target's mechanisms.
// `relu` clamps at the output zero point (a fused Relu).
struct QLinearOptions {
  RequantSpec spec;
  AccumulatorModel model;
  bool relu = false;
  std::vector<float> float_bias;  // bias_bits = 0: real-valued bias per channel (no int32 bias)
};
Result<Tensor> qlinear_conv(const Tensor& x, const QuantParams& x_params, const Tensor& w,
                            const QuantParams& w_params, const Tensor& bias,
                            const QuantParams& y_params, const ConvParams& params,
                            const QLinearOptions& options);
Result<Tensor> qlinear_gemm(const Tensor& a, const QuantParams& a_params, const Tensor& b,
                            const QuantParams& b_params, bool trans_a, bool trans_b,
                            const Tensor& bias, const QuantParams& y_params,
                            const QLinearOptions& options);
Result<Tensor> qlinear_matmul(const Tensor& a, const QuantParams& a_params, const Tensor& b,
                              const QuantParams& b_params, const QuantParams& y_params,
                              const QLinearOptions& options);

}  // namespace qdiff::intkernels
