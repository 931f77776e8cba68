// Quantization parameters and the quantize / dequantize / fake-quant functions (numerics.md §0,
// §1.1, §2.1-2.2, §3.1, §5.1-5.2, §8).
#pragma once

#include <cstdint>
#include <vector>

#include "numerics/rounding.h"
#include "support/status.h"

namespace qdiff {

struct QuantParams {
  int bits = 8;  // 2..16; 32 (signed) for int32 biases
  bool is_signed = true;
  // Symmetric: the zero point sits in the middle of [qmin, qmax]: 0 when signed, rhe((qmin+qmax)/2)
  // when unsigned (128 for uint8), following ORT's compute_scale_zp.
  bool symmetric = false;
  // Narrow range drops the most negative code: int8 [-127, 127] (TFLite/ORT/TRT weights), uint8
  // [1, 255]. Only meaningful (and only valid) for symmetric parameters.
  bool narrow_range = false;
  std::vector<float> scales;         // one per tensor, or one per channel along `axis`
  std::vector<int32_t> zero_points;  // same length as scales
  int axis = -1;                     // -1 = per-tensor

  int32_t qmin() const;
  int32_t qmax() const;
  bool per_channel() const { return axis >= 0; }
  // Checks the invariants above; messages name the offending field and channel.
  Status validate() const;
  bool operator==(const QuantParams&) const = default;
};

// Chooses scale and zero point from an observed float range, following ONNX Runtime's
// quant_utils.compute_scale_zp (onnxruntime/python/tools/quantization/quant_utils.py):
//   rmin = min(min, 0), rmax = max(max, 0)                      (the range always includes 0)
//   symmetric: absmax = max(|rmin|, |rmax|), rmin = -absmax, rmax = absmax
//   scale = (rmax - rmin) / (qmax - qmin)                        in double
//   if scale < FLT_MIN (tiny):  scale = 1, zero_point = 0
//   else zero_point = symmetric ? rhe((qmin + qmax) / 2) : rhe(qmin - rmin / scale) (double);
//        scale = float(scale)
// Symmetric signed narrow int8 gives scale = absmax / 127 (TFLite/ORT/TensorRT weights); symmetric
// signed full range gives absmax / 127.5 (PyTorch's observer, numerics.md §3.1). TFLite's own
// asymmetric ChooseQuantizationParams picks the zero point from the smaller-error end; it differs
// from ORT only in which end's rounding error is absorbed (not implemented here).
// Errors: NaN/Inf bounds, min > max, or an invalid (bits, narrow_range, symmetric) combination.
Result<QuantParams> choose_params(float min, float max, int bits, bool is_signed, bool symmetric,
                                  bool narrow_range);

// The last step of every quantizer and float32 requantizer: v is a float32 value in steps
// relative to the zero point; NaN -> 0, clamp to [qmin - zp, qmax - zp] in float, round with
// `mode`, add zp.
int32_t round_to_grid(float v, int32_t zp, int32_t qmin, int32_t qmax, RoundingMode mode);

// ONNX QuantizeLinear as ORT MLAS computes it (numerics.md §2.2):
//   q = sat(round(clamp(x / scale, qmin - zp, qmax - zp)) + zp)
// with x / scale a float32 *division* (not a reciprocal multiply) and rhe by default. Other modes
// give TFLite's QUANTIZE (kHalfAwayFromZero, also x / scale) or DPU_ROUND (kHalfUp). NaN -> zp
// (treated as real 0, see saturate.h), +Inf -> qmax, -Inf -> qmin.
int32_t quantize(float x, float scale, int32_t zp, int32_t qmin, int32_t qmax,
                 RoundingMode mode = RoundingMode::kHalfToEven);
// PyTorch's quantize_val (AffineQuantizerBase.cpp, numerics.md §3.1): x * f32(1 / scale), then
// rounding (rhe by default), + zp, clamp. Differs from quantize() by 1 LSB at near-ties.
int32_t quantize_by_reciprocal(float x, float scale, int32_t zp, int32_t qmin, int32_t qmax,
                               RoundingMode mode = RoundingMode::kHalfToEven);
// ONNX DequantizeLinear: f32(q - zp) * scale in float32 (q - zp exact in int64).
float dequantize(int32_t q, float scale, int32_t zp);
// dequantize(quantize(x)). Idempotent for the round-to-nearest modes; with floor/ceil/toward-zero
// a second application can move one step, since f32(f32(k * s) / s) need not equal k.
float fake_quant(float x, float scale, int32_t zp, int32_t qmin, int32_t qmax,
                 RoundingMode mode = RoundingMode::kHalfToEven);

// The same with the parameters of channel `channel` (0 for per-tensor) of validated params.
int32_t quantize(float x, const QuantParams& p, int64_t channel = 0,
                 RoundingMode mode = RoundingMode::kHalfToEven);
float dequantize(int32_t q, const QuantParams& p, int64_t channel = 0);
float fake_quant(float x, const QuantParams& p, int64_t channel = 0,
                 RoundingMode mode = RoundingMode::kHalfToEven);

// Vitis DPU power-of-two scales (numerics.md §5.1): scale = 2^-fix_pos (exact; fix_pos in
// [-127, 149] so that the float is finite and non-zero).
float pot_scale(int fix_pos);
enum class FixPosRule : uint8_t {
  kNearest,   // vai_q_onnx: pos = rint(-log2(scale)) (nearest power of two; may clip more)
  kOverflow,  // vai_q_onnx overflow method: pos = floor(log2(1 / scale)) (scale rounds up: no clip)
};
// fix_pos for a float scale (> 0, finite). log2 is evaluated in double; for an exact power of two
// both rules return its exponent.
Result<int> fix_pos_from_scale(float scale, FixPosRule rule = FixPosRule::kNearest);

}  // namespace qdiff
