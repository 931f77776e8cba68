// Integer elementwise ops: Add/Sub/Mul of two quantized tensors (numpy broadcasting) per
// AddScheme, lookup-table activations per LutScheme, the Vitis DPU approximations, and Concat with
// rescaling.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "numerics/quant_params.h"
#include "support/status.h"
#include "targets/profile.h"
#include "tensor/tensor.h"

namespace qdiff::intkernels {

enum class BinaryOp : uint8_t { kAdd, kSub, kMul };

// C = A op B, quantized per tensor (a, b, c params), broadcasting; `relu` clamps at z_c.
//  kFloat (ORT x86 QLinearAdd, AVX2/FMA kernel qladd_avx2.cpp; numerics.md §2.5):
//      rA = f32(s_a / s_c), rB = f32(s_b / s_c),
//      F = f32(f32(z_c) - f32(f32(rA * z_a) + f32(rB * z_b)))
//      both operands vary along ORT's innermost broadcast span:
//          v = fma(a, rA, fma(b, rB, F))                         (raw a, b as float)
//      B (resp. A) is one value per span (scalar, or broadcast along the innermost dim):
//          v = fma(a, rA, f32(F + f32(b * rB)))   (resp. fma(b, rB, f32(F + f32(a * rA))))
//      c = clamp(rhe(v)). Sub negates rB. Mul (qlmul.cpp SSE2):
//      c = clamp(rhe(f32(f32(f32((a - z_a) * (b - z_b)) * R) + f32(z_c)))),
//      R = f32(f32(s_a * s_b) / s_c).
//  kTflite (add.h, numerics.md §1.4): left_shift 20 (8-bit) or 15 (16-bit), three double-rounding
//      MultiplyByQuantizedMultiplier (P3) with multipliers from double ratios; Mul: one P3 of
//      (a - z_a)(b - z_b) by s_a s_b / s_c.
//  kXnnpack (numerics.md §4.3): shift = 20 - exponent(max(rA, rB)) in [12, 30],
//      M = lrintf(r * 2^shift), c = rhu(((a - z_a) MA + (b - z_b) MB) / 2^shift) + z_c; Mul: fp32
//      requantization of the product by f32(f32(s_a * s_b) / s_c), rhe.
//  kFixed22Rhaz (ORT ARM64 NEON qladd.cpp): shift = 21 - exponent(max(rA, rB)) in [13, 31],
//      22-bit multipliers by lrintf, acc += (acc < 0 ? -1 : 0), rounding shift (rhu) = rhaz;
//      ratios outside [2^-14, 256) fall back to the scalar float path
//      rhe(clamp(f32(f32(vA + vB) / s_c)) + z_c) with vX = f32(s_X * (x - z_X)). Mul: as kFloat.
//  kAlignShift (Vitis DPU eltwise, numerics.md §5.4): power-of-two scales, z = 0; terms
//      q_i * 2^(7 - (pos_i - min pos)) (floor), exact sum, DPU_ROUND (rhu) by 2^(min pos - pos_c
//      + 7); Mul: DPU_ROUND(q_a q_b / 2^(pos_a + pos_b - pos_c)).
// Errors: shapes that do not broadcast, per-channel params, a scheme whose preconditions fail
// (XNNPACK shift range, non power-of-two scales or nonzero zero points for kAlignShift).
Result<Tensor> qlinear_binary(BinaryOp op, const Tensor& a, const QuantParams& a_params,
                              const Tensor& b, const QuantParams& b_params,
                              const QuantParams& c_params, targets::AddScheme scheme,
                              bool relu = false);

// --- Lookup tables ---------------------------------------------------------------------------
using RealFunction = std::function<float(float)>;

// 2^bits entries for inputs q in [qmin, qmax] of `in` (8-bit inputs: 256 entries).
struct Lut {
  int32_t in_min = 0;
  std::vector<int32_t> table;
  int32_t operator()(int32_t q) const { return table[static_cast<size_t>(q - in_min)]; }
};

// table[q] = quantization of f(dequantize(q)) to `out`, with dequantize(q) = f32(s_in * (q -
// z_in)):
//  kFloatRhe  (ORT qlinear_lookup_table.cc): QuantizeLinear, x / s_out, rhe.
//  kFloatRhaz (TFLite activations.cc LUT):   rhaz(f(x) * f32(1 / s_out)) + z_out.
//  kLrintf    (XNNPACK):                     lrintf(f(x) * f32(1 / s_out)) + z_out (rhe).
// Inputs of more than 16 bits are refused.
//
// A coarse table (`table_bits` = k in 1..bits-1, TargetProfile::lut_bits) keeps only 2^k + 1
// entries: with lo the lowest integer of the input's full-range format and step = 2^(bits - k),
// entry e_i is the scheme's quantization of f at lo + i * step (i = 0..2^k; the last one lies one
// past the format's top). With `interpolate`, q = lo + i * step + r reads
// e_i + rhaz((e_{i+1} - e_i) * r / step); without, it reads the entry computed at the segment's
// midpoint lo + i * step + step / 2. `f` must accept every input of the full-range format and
// lo + 2^bits. table_bits 0 (or >= bits) gives the exact table above.
Result<Lut> build_lut(const RealFunction& f, const QuantParams& in, const QuantParams& out,
                      targets::LutScheme scheme, int table_bits = 0, bool interpolate = true);
Result<Tensor> apply_lut(const Tensor& x, const Lut& lut, DType out_dtype);

// Real functions for the tables.
float sigmoid_ref(float x);  // 1 / (1 + expf(-x))
// ONNX Runtime's MlasComputeLogistic (Eigen's rational approximation, logistic.cpp): clamp to
// [-18, 18], odd/even polynomials in x^2, p / q + 0.5, clamp to [0, 1]. `fma`: the x86-64
// FMA3 kernel (every multiply-add fused, std::fma); false: the portable kernel (mul then add).
float mlas_logistic(float x, bool fma);
float tanh_ref(float x);
float hard_sigmoid_ref(float x, float alpha = 0.2f, float beta = 0.5f);  // ONNX HardSigmoid
float hard_swish_ref(float x);                                           // x * relu6(x + 3) / 6
float leaky_relu_ref(float x, float alpha);

// --- Vitis DPU approximations (numerics.md §5.4), on power-of-two scales 2^-pos ---------------
// The DPU's LeakyReLU slope: round(alpha * 256) / 256 (0.1 -> 26/256).
float dpu_leaky_relu_alpha(float alpha);
// q_y = clamp(DPU_ROUND(x * (x < 0 ? 26 : 256) / 2^(8 + pos_in - pos_out)), -128, 127) with the
// slope numerator round(alpha * 256) (26 for 0.1).
int32_t dpu_leaky_relu(int32_t q, int pos_in, int pos_out, float alpha = 0.1f);
// Hard-sigmoid relu6(x + 3) * 2731 / 2^14:
// q_y = clamp(DPU_ROUND(clamp(2731 * (q + 3 * 2^pos_in), 0, 2^32) / 2^(14 + pos_in - pos_out))).
// Requires pos_in in [0, 15] and shift in [0, 31] (DPU constraints; asserted).
int32_t dpu_hard_sigmoid(int32_t q, int pos_in, int pos_out);
// Hard-swish x * hsig(x) with hsig requantized at pos 7 first (DPU_ROUND):
// q_y = clamp(DPU_ROUND(q * h / 2^(pos_in + 7 - pos_out))), h = dpu_hard_sigmoid(q, pos_in, 7).
int32_t dpu_hard_swish(int32_t q, int pos_in, int pos_out);

// --- Concat ------------------------------------------------------------------------------------
// Concatenation along `axis`; each input is requantized to `out` through an identity table built
// with `scheme` (ORT QLinearConcat: kFloatRhe), or copied when its params equal `out`'s.
Result<Tensor> qlinear_concat(const std::vector<Tensor>& inputs,
                              const std::vector<QuantParams>& in_params, const QuantParams& out,
                              int64_t axis, targets::LutScheme scheme);

}  // namespace qdiff::intkernels
