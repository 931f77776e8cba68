// Fixed-point multipliers and requantization schemes (numerics.md §0 P1-P8, §1.2-1.4, §2.3, §3.2,
// §4.2, §8). Each function states the source it reproduces. Out-of-contract arguments (shift out of
// the documented range, non-finite real multiplier) are internal invariants (QDIFF_ASSERT): the
// callers derive them from validated QuantParams. No function has undefined behaviour: where the
// source overflows (UB in C++), the emulation wraps modulo 2^32 or saturates as documented.
#pragma once

#include <cstdint>

#include "numerics/rounding.h"

namespace qdiff {

// --- P1: gemmlowp SaturatingRoundingDoublingHighMul -------------------------------------------
// rhu(a*b / 2^31) (ties toward +inf: the nudge 1-2^30 with C truncating division), except
// a == b == INT32_MIN -> INT32_MAX. Identical to ARM VQRDMULH. Source: gemmlowp fixedpoint.h.
int32_t saturating_rounding_doubling_high_mul(int32_t a, int32_t b);

// --- P8: TFLite QuantizeMultiplier ------------------------------------------------------------
// real ~= multiplier * 2^(shift - bits). `shift` follows TFLite: positive = left shift.
struct QuantizedMultiplier {
  int32_t multiplier = 0;
  int shift = 0;
  bool operator==(const QuantizedMultiplier&) const = default;
};

// TFLite/TFLM QuantizeMultiplier (tensorflow/lite/kernels/internal/quantization_util.cc) for
// bits = 31: real == 0 -> {0, 0}; (q, e) = frexp(real), q in [0.5, 1);
// M = rhaz(q * 2^bits) (TfLiteRound = std::round); if M == 2^bits: M /= 2, e += 1; if
// e < -31: {0, 0} (flush: every product would shift out; TFLite's limit, kept for every width).
// Negative reals give negative multipliers exactly like TFLite. For real > 0 the multiplier is in
// [2^(bits-1), 2^bits). `bits` in [1, 31]; bits != 31 is the same recipe at another width (not a
// TFLite function; the int16 path reduces the 31-bit multiplier instead, see
// reduce_multiplier_to_15bit). `real` must be finite (double products of float32 scales always
// are).
QuantizedMultiplier quantize_multiplier(double real, int bits = 31);

// The TFLITE_SINGLE_ROUNDING build of QuantizeMultiplier: as above (bits = 31), then a shift > 30
// is capped: {2^31 - 1, 30}.
QuantizedMultiplier quantize_multiplier_single_rounding(double real);

// TFLite's int16x8 / CMSIS-NN REDUCE_MULTIPLIER (numerics.md P5): a 31-bit multiplier reduced to 15
// bits, M16 = (M < 0x7FFF0000) ? (M + 2^15) >> 16 : 0x7FFF (a rounding of the already-rounded M).
int32_t reduce_multiplier_to_15bit(int32_t multiplier);

// --- P3: TFLite MultiplyByQuantizedMultiplier, default (double rounding) build ------------------
// RoundingDivideByPOT(SRDHM(x * 2^max(shift,0), M), max(-shift,0)): rhu at bit 31, then rhaz.
// Sources: tensorflow/lite/kernels/internal/common.h (gemmlowp form); identical to CMSIS-NN
// arm_nn_requantize default build. shift in [-31, 31]. The left shift x * 2^shift overflows int32
// in TFLite (UB); here it wraps modulo 2^32 as the hardware does.
int32_t multiply_by_quantized_multiplier_double_rounding(int32_t x, int32_t multiplier, int shift);

// --- P4: TFLite MultiplyByQuantizedMultiplier with TFLITE_SINGLE_ROUNDING ------------------------
// (x * M + 2^(30 - shift)) >> (31 - shift) in 64 bits = rhu(x * M / 2^(31 - shift)), one rounding.
// Sources: tensorflow/lite/kernels/internal/common.cc (TFLITE_SINGLE_ROUNDING), ruy
// apply_multiplier.cc, CMSIS-NN with CMSIS_NN_USE_SINGLE_ROUNDING. shift in [-31, 30]. TFLite only
// DCHECKs that the result fits int32; here it saturates.
int32_t multiply_by_quantized_multiplier_single_rounding(int32_t x, int32_t multiplier, int shift);

// --- P5: TFLite MultiplyByQuantizedMultiplier(int64 x, ...) (int16x8 path)
// ------------------------ M16 = reduce_multiplier_to_15bit(M); (x * M16 + 2^(14 - shift)) >> (15 -
// shift) = rhu with a 15-bit multiplier. Source: tensorflow/lite/kernels/internal/common.h/.cc
// (int64 overload), CMSIS-NN arm_nn_requantize_s64. shift in [-31, 7] (TFLite's range). TFLite
// assumes |x| < 2^47 and that the result fits int32; here the product is formed in 128 bits and the
// result saturates.
int32_t multiply_by_quantized_multiplier_int64(int64_t x, int32_t multiplier, int shift);

// --- XNNPACK rndnu / rndna: 24-bit multiplier taken from the float scale (numerics.md §4.2) -----
// M24 = mantissa of the float scale with the hidden bit, in [2^23, 2^24); shift = 127 + 23 -
// biased_exponent (xnn_init_qs8_conv_minmax_rndnu_scalar_params); requires a normal float scale
// in [2^-32, 256), as XNNPACK asserts (so shift is in [16, 55]).
struct FloatMantissaMultiplier {
  int32_t multiplier = 0;  // in [2^23, 2^24)
  int shift = 0;           // right shift, in [16, 55]
  bool operator==(const FloatMantissaMultiplier&) const = default;
};
FloatMantissaMultiplier float_mantissa_multiplier(float scale);

// y = round(acc * M24 / 2^shift) with `mode` (one rounding, in 64 bits), clamped to
// [qmin - zp, qmax - zp], then + zp. kHalfUp = XNNPACK "rndnu" (scalar: asr(acc*M + 2^(sh-1), sh);
// NEON: sqdmulh + srshl with M24 << 7, proven equal in numerics.md §11); kHalfAwayFromZero =
// XNNPACK "rndna". XNNPACK casts the shifted int64 to int32 before clamping (wrapping for
// |acc * scale| >= 2^31); here the clamp is done in int64.
int32_t requantize_float_mantissa(int32_t acc, FloatMantissaMultiplier m, int32_t zp, int32_t qmin,
                                  int32_t qmax, RoundingMode mode);

// --- P6: float32 requantization -----------------------------------------------------------------
// y = f32(f32(acc) * scale) (one float32 multiply, no FMA); clamp in float to
// [qmin - zp, qmax - zp]; round with `mode`; + zp. With kHalfToEven this is P6 as computed by
// MLAS (QGEMM/QLinearConv output, `MlasRequantizeOutput`), XNNPACK fp32 (lrintf / cvtps2dq /
// vcvtnq variants), fbgemm (clamp after rounding: identical since the bounds are integers),
// PyTorch QNNPACK and the TensorRT-style epilogue. A NaN product (NaN or infinite*0 scale) maps
// to zp (the project's NaN -> real 0 policy, see saturate.h).
int32_t requantize_fp32(int32_t acc, float scale, int32_t zp, int32_t qmin, int32_t qmax,
                        RoundingMode mode = RoundingMode::kHalfToEven);

// The three literal variants below need |qmin - zp|, |qmax - zp| <= 2^22 (the magic-number range)
// and, like requantize_fp32, map a NaN product to zp (the sources' NaN results are ISA-dependent).
//
// MLAS scalar fallback (onnxruntime/core/mlas/lib/quantize.cpp MlasRequantizeOutput): y =
// float(acc) * scale; y = min(max(y, float(qmin - zp)), float(qmax - zp)); q =
// bits(y + 12582912.0f) - 0x4B400000 (magic-number RNE, P7); + zp.
int32_t requantize_fp32_mlas(int32_t acc, float scale, int32_t zp, int32_t qmin, int32_t qmax);

// XNNPACK scalar "fmagic" (src/qs8-gemm/gen/*-minmax-fp32-scalar-fmagic.c): y = float(acc) * scale;
// clamp in float to [qmin - zp, qmax - zp]; y += 12582912.0f; q = bits(y) - (0x4B400000 - zp).
int32_t requantize_fp32_xnnpack_fmagic(int32_t acc, float scale, int32_t zp, int32_t qmin,
                                       int32_t qmax);

// XNNPACK scalar "imagic": y = float(acc) * scale + 12582912.0f; b = bits(y) as int32; clamp b in
// integer to [bits(12582912.0f + (qmin - zp)), bits(12582912.0f + (qmax - zp))]; q = b -
// (0x4B400000 - zp).
int32_t requantize_fp32_xnnpack_imagic(int32_t acc, float scale, int32_t zp, int32_t qmin,
                                       int32_t qmax);

// --- Scale derivations --------------------------------------------------------------------------
// ORT QLinearConv / QLinearMatMul (qlinearconv.cc): S = f32(f32(s_x * s_w) / s_y), two float32
// roundings (numerics.md §2.3).
float ort_requant_scale(float s_x, float s_w, float s_y);
// TFLite Prepare: the real multiplier s_x * s_w / s_y computed in double (numerics.md §1.2),
// to be passed to quantize_multiplier.
double tflite_real_multiplier(float s_x, float s_w, float s_y);

}  // namespace qdiff
