// Requantizer: how one node turns its accumulators into output integers, built once per node from
// the stored float scales exactly as the target derives its multipliers (numerics.md §0 P3-P8,
// §1.2, §2.3, §4.2, §5.3, §8).
#pragma once

#include <cstdint>
#include <vector>

#include "numerics/fixed_point.h"
#include "numerics/rounding.h"
#include "support/status.h"
#include "targets/profile.h"

namespace qdiff::intkernels {

// The mechanism fields of a TargetProfile that requantization reads.
struct RequantSpec {
  targets::Requant requant = targets::Requant::kFloat32;
  targets::ScaleMath scale_math = targets::ScaleMath::kFloat32TwoStep;
  int multiplier_bits = 31;  // kDoubleRounding / kSingleRounding: multiplier width, 8..31
  RoundingMode requant_rounding = RoundingMode::kHalfToEven;  // kFloat32 final rounding
};
RequantSpec requant_spec(const targets::TargetProfile& profile);

struct RequantInputs {
  float s_x = 1.0f;        // input scale
  std::vector<float> s_w;  // weight scale(s): one, or one per output channel
  float s_y = 1.0f;        // output scale
  int32_t z_y = 0;         // output zero point
  int32_t qmin = -128;     // output grid
  int32_t qmax = 127;
  // Clamp of a fused Relu/Clip in the integer domain (see fused_activation_bounds); the result is
  // clamped to [max(qmin, act_min), min(qmax, act_max)].
  int32_t act_min = INT32_MIN;
  int32_t act_max = INT32_MAX;
  // Float bias in real units (one per channel, or one), added in the float epilogue: only with
  // Requant::kFloat32 (TensorRT / fbgemm, bias_bits = 0). Empty: the bias is in the accumulator.
  std::vector<float> float_bias;
};

// Integer bounds of a fused activation clamping the real output to [lo, hi] (use +-inf for an
// open side): z_y + round(lo / s_y) with `mode` (TFLite: kHalfAwayFromZero), intersected with
// [qmin, qmax].
void fused_activation_bounds(float lo, float hi, float s_y, int32_t z_y, int32_t qmin, int32_t qmax,
                             RoundingMode mode, int32_t* act_min, int32_t* act_max);

class Requantizer {
 public:
  // Derives the per-channel multipliers. Errors (naming the channel): a non-positive or non-finite
  // scale, a multiplier the mechanism cannot represent (flushed to 0, shift outside the range of
  // P3/P4/P5, a float scale outside XNNPACK's [2^-32, 256), a non power-of-two ratio for
  // kPowerOfTwo), a float bias with a fixed-point mechanism.
  static Result<Requantizer> create(const RequantInputs& in, const RequantSpec& spec);

  // Output integer for accumulator `acc` (acc + int32 bias already, in the accumulator model's
  // width) of output channel `channel` (0 for per-tensor weights).
  //  kFloat32:         y = f32(f32(acc) * S[c]) [+ f32(bias[c] / s_y)], clamp in float, round
  //                    with requant_rounding, + z_y (P6; acc must fit int32 except that f32(acc)
  //                    is formed from the int64 value, as a float conversion would).
  //  kDoubleRounding:  P3(acc, M[c], shift[c]) + z_y  (acc wrapped to int32 first)
  //  kSingleRounding:  P4(acc, M[c], shift[c]) + z_y
  //  kInt64Reduced:    P5(acc, M[c], shift[c]) + z_y  (int64 acc, 15-bit multiplier)
  //  kRndnu:           rhu(acc * M24[c] / 2^shift) + z_y (24-bit float mantissa multiplier)
  //  kPowerOfTwo:      DPU_ROUND (rhu) of acc / 2^shift_cut[c] (acc * 2^-shift_cut when negative)
  // then clamped to the output grid and the fused activation.
  int32_t apply(int64_t acc, int64_t channel) const;

  // apply() over channels-last accumulators: out[p * C + c] = apply(acc[p * C + c] + bias[c], c)
  // for p < pixels, c < C = `channels` (per-tensor or C multipliers; bias may be null). The
  // caller guarantees acc + bias fits int32. Vectorised for kFloat32 with half-to-even rounding
  // (the ORT / XNNPACK fp32 path), otherwise apply() element by element; always its results.
  template <typename T>
  void apply_channels_last(const int32_t* acc, const int32_t* bias, int64_t pixels,
                           int64_t channels, T* out) const;

  int64_t channels() const { return static_cast<int64_t>(float_scale_.size()); }
  // The derived values (for reports and tests).
  float float_scale(int64_t channel) const { return float_scale_[index(channel)]; }
  QuantizedMultiplier fixed_multiplier(int64_t channel) const { return fixed_[index(channel)]; }
  FloatMantissaMultiplier mantissa_multiplier(int64_t channel) const {
    return mantissa_[index(channel)];
  }
  int shift_cut(int64_t channel) const { return shift_cut_[index(channel)]; }
  int32_t lo() const { return lo_; }
  int32_t hi() const { return hi_; }

 private:
  size_t index(int64_t channel) const;

  RequantSpec spec_;
  int32_t z_y_ = 0;
  int32_t lo_ = 0;
  int32_t hi_ = 0;
  float s_y_ = 1.0f;
  std::vector<float> float_scale_;  // kFloat32 (and the real multiplier as float for the others)
  std::vector<QuantizedMultiplier> fixed_;         // P3/P4/P5: 31-bit multiplier (narrower widths
                                                   // shifted up exactly), TFLite shift convention
  std::vector<FloatMantissaMultiplier> mantissa_;  // kRndnu
  std::vector<int> shift_cut_;                     // kPowerOfTwo
  std::vector<float> float_bias_;
};

}  // namespace qdiff::intkernels
