// A deployment target's integer arithmetic as a value object: one field per mechanism of
// numerics.md §9.2 ("differences that make a deployed model disagree with fake-quant"), each
// individually switchable, so an analysis can toggle one and ask whether a mismatch vanishes.
// Built-in profiles (ort-cpu, ort-cpu-avx2, tflite-int8, tflite-int8-single-rounding,
// tflite-int16x8, xnnpack-qs8, vitis-dpu, tensorrt-int8) are documented with their sources in
// docs/targets.md; users load their own from JSON (profile_from_json, schema "qdiff.target/1").
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "numerics/rounding.h"
#include "quant/planner.h"
#include "support/status.h"

namespace qdiff::targets {

// How an int32 accumulator becomes an output integer (numerics.md §0, P3-P6, DPU).
enum class Requant : uint8_t {
  kFloat32,         // P6: y = f32(f32(acc) * S), clamp in float, round (rhe), + z (MLAS, XNNPACK
                    // qc8w, TensorRT, fbgemm)
  kDoubleRounding,  // P3: SRDHM then rounding divide by 2^e (TFLite reference, TFLM, CMSIS-NN)
  kSingleRounding,  // P4: one rhu of acc * M / 2^(31 - s) (TFLite single-rounding, ruy)
  kInt64Reduced,    // P5: 15-bit multiplier, int64 accumulator (TFLite int16x8)
  kRndnu,           // XNNPACK rndnu: 24-bit float-mantissa multiplier, rhu (ARM per-tensor)
  kPowerOfTwo,      // Vitis DPU: (acc + bias << shift_bias) >> shift_cut with DPU_ROUND (rhu)
};

// How the real requantization multiplier is derived from the stored float32 scales.
enum class ScaleMath : uint8_t {
  kFloat32TwoStep,  // ORT: f32(f32(s_x * s_w) / s_y)
  kDouble,          // TFLite: double(s_x) * double(s_w) / double(s_y), then QuantizeMultiplier
  // XNNPACK/TensorRT: f32(s_x * s_w / s_y) evaluated in float32 left to right. XNNPACK's
  // convolution-nhwc.c computes input_scale * kernel_scale[c] / output_scale in float, which is
  // the same float32 arithmetic as kFloat32TwoStep; kept apart because TensorRT's is unpublished.
  kFloat32Product,
};

// Accumulator model of integer dot products.
enum class Overflow : uint8_t { kWrap, kSaturate };

// Elementwise Add/Sub/Mul of two quantized tensors with different scales.
enum class AddScheme : uint8_t {
  kFloat,        // ORT x86 QLinearAdd: float rA, rB, one rhe (numerics.md §2.5)
  kTflite,       // TFLite: left_shift 20, three MultiplyByQuantizedMultiplier (§1.4)
  kXnnpack,      // XNNPACK: 21-bit multipliers, one rhu (§4.3)
  kFixed22Rhaz,  // ORT ARM64 NEON: 22-bit multipliers, rhaz (§2.5)
  kAlignShift,   // Vitis DPU: exact alignment by power-of-two shifts, one DPU_ROUND (§5.3)
};

// Average pooling divisor and rounding.
enum class AvgPoolScheme : uint8_t {
  kFloat,           // ORT: dequantize, float average (count_include_pad as the node says), rhe
  kValidCountRhaz,  // TFLite/CMSIS: integer sum / valid taps, rhaz, on raw q
  kDpuMultiplier,   // Vitis DPU: sum * m / 2^k (kernel-size table, e.g. 3x3 -> 7/64)
};

// Lookup-table activations (Sigmoid, Tanh, HardSigmoid, HardSwish, SiLU, GELU, LeakyReLU).
enum class LutScheme : uint8_t {
  kFloatRhe,   // ORT: table[q] = QuantizeLinear(f(dequantize(q))) with rhe
  kFloatRhaz,  // TFLite interpreter: float f, rhaz
  kLrintf,     // XNNPACK: lrintf of the float value (rhe)
};

// Resize (linear) on integers.
enum class ResizeScheme : uint8_t {
  kFloatRhe,      // dequantize, float interpolation, requantize with rhe (fake-quant)
  kTruncate,      // ORT int8/uint8: float interpolation on raw q, cast (truncate)
  kTflite10Bit,   // TFLite: 10-bit fractional coordinates, rhaz
  kXnnpack11Bit,  // XNNPACK: 11-bit fractional coordinates, rhu
};

struct TargetProfile {
  std::string name;         // "ort-cpu"
  std::string description;  // one line: runtime, build, ISA
  // Formats the target quantizes with (planner). scheme.target is always `name`.
  quant::Scheme scheme;
  // QuantizeLinear of the network input and of float->int boundaries (mechanism 15).
  RoundingMode quantize_rounding = RoundingMode::kHalfToEven;
  bool quantize_by_reciprocal = false;  // x * f32(1/s) instead of x / s
  // Requantization (mechanisms 1-4).
  Requant requant = Requant::kFloat32;
  ScaleMath scale_math = ScaleMath::kFloat32TwoStep;
  // Width of the fixed-point multiplier: kDoubleRounding / kSingleRounding: M of P8 (31 =
  // TFLite; fewer bits = M rounded to that width). The others record their target's width:
  // kInt64Reduced 15 (P5's reduced multiplier), kRndnu at most 24 (a float mantissa); kFloat32
  // and kPowerOfTwo ignore it (built-ins keep 31).
  int multiplier_bits = 31;
  // The final rounding of the requantization (numerics.md §9.1 "ties in requant"): kFloat32 rhe
  // (P6); kDoubleRounding the RDBPOT step (rhaz; the SRDHM step is always rhu); kSingleRounding,
  // kInt64Reduced, kRndnu rhu; kPowerOfTwo DPU_ROUND (rhu). Kernels honour it for kFloat32; for
  // the fixed-point schemes it records the target's tie rule (a kernel may offer other values as
  // a what-if).
  RoundingMode requant_rounding = RoundingMode::kHalfToEven;
  // Accumulation (mechanism 5): width, overflow, and the 16-bit pair saturation of u8 x s8 dot
  // products on x86 AVX2/AVX-512BW without VNNI (vpmaddubsw).
  int accumulator_bits = 32;
  Overflow overflow = Overflow::kWrap;
  bool pair_saturation_u8s8 = false;
  // Bias (mechanism 13): bits of the stored bias (32; 64 for TFLite int16x8; 8 on the DPU), or 0
  // for a float bias added in the epilogue (TensorRT, fbgemm).
  int bias_bits = 32;
  // Power-of-two scales (mechanism 7): every scale snapped to 2^-fix_pos.
  bool power_of_two_scales = false;
  // Elementwise, pooling, LUT, resize (mechanisms 9-12). AddScheme::kTflite and
  // ResizeScheme::kTflite10Bit follow the build's rounding: with requant == kSingleRounding
  // (TFLITE_SINGLE_ROUNDING) the add uses 3 x P4 and the resize rounds rhu, else 3 x P3 / rhaz.
  AddScheme add = AddScheme::kFloat;
  AvgPoolScheme avgpool = AvgPoolScheme::kFloat;
  LutScheme lut = LutScheme::kFloatRhe;
  // Resolution of those tables (mechanism 9): 0 = one entry per input integer (every CPU
  // runtime's 256-entry int8 table); k = 2^k + 1 breakpoints spread evenly over the input's
  // integer range (an NPU's or DSP's coarse table), between which the value is interpolated
  // linearly when lut_interpolation is true and held from the segment's midpoint when false.
  int lut_bits = 0;
  bool lut_interpolation = true;
  ResizeScheme resize = ResizeScheme::kFloatRhe;
  // Approximations (mechanism 8): the target's replacements of float activations.
  bool leaky_relu_26_256 = false;        // DPU: LeakyReLU(0.1) as x * 26 / 256
  bool hard_sigmoid_2731 = false;        // DPU: hard-sigmoid as relu6(x + 3) * 2731 / 2^14
  bool sigmoid_as_hard_sigmoid = false;  // DPU compiler rewrite
  bool silu_as_hard_swish = false;       // DPU compiler rewrite
  // Padding (mechanism 14): pad with the zero point (real 0) or with this integer (which must
  // then lie in the activation range; it must be 0 when pad_with_zero_point is true).
  bool pad_with_zero_point = true;
  int32_t pad_value = 0;
  // Whether a unit may run with 16-bit activations (a fix or tune may raise it to int16);
  // false where the target has only 8-bit kernels (the Vitis DPU): raising means float (CPU).
  bool int16_units = true;

  bool operator==(const TargetProfile&) const = default;
};

// Snake_case names used in JSON and reports (documented in docs/targets.md), e.g.
// requant_name(Requant::kDoubleRounding) == "double_rounding".
std::string_view requant_name(Requant v);
std::string_view scale_math_name(ScaleMath v);
std::string_view overflow_name(Overflow v);
std::string_view add_scheme_name(AddScheme v);
std::string_view avgpool_scheme_name(AvgPoolScheme v);
std::string_view lut_scheme_name(LutScheme v);
std::string_view resize_scheme_name(ResizeScheme v);

// Built-in profiles by name; errors list the known names.
Result<TargetProfile> builtin_profile(std::string_view name);
std::vector<std::string> builtin_profile_names();

// Checks a profile's invariants (bit widths, formats, impossible combinations); the message
// names the offending field as JSON spells it ("multiplier_bits", "scheme.activation.bits").
Status check_profile(const TargetProfile& profile);

// The fields (JSON paths, "scheme.weight.bits") in which two profiles differ, name and
// description left out: which mechanisms separate two targets.
std::vector<std::string> profile_differences(const TargetProfile& a, const TargetProfile& b);

// JSON (schema "qdiff.target/1"): every field above by its name, enums by the names documented
// in docs/targets.md. Without "base" every field is required; "base": NAME starts from a
// built-in and the file lists only the fields it changes (nested "scheme" objects merge field by
// field). Errors name the field: unknown fields, wrong types, unknown enum values, impossible bit
// widths (multiplier_bits outside 8..31, accumulator_bits outside 16..64, bias_bits not
// 0/8/16/32/64) or combinations (see check_profile), unknown base. `what` names the source
// (a file path) in messages. profile_to_json writes every field (no "base"), in a fixed order.
Result<TargetProfile> profile_from_json(std::string_view text, const std::string& what);
std::string profile_to_json(const TargetProfile& profile);

// A built-in name, or the path of a JSON profile (anything that is not a built-in name).
Result<TargetProfile> load_profile(std::string_view name_or_path);

}  // namespace qdiff::targets
