#include "targets/profile.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "quant/planner.h"

namespace qdiff::targets {
namespace {

TargetProfile builtin(const char* name) {
  Result<TargetProfile> p = builtin_profile(name);
  EXPECT_TRUE(p.ok()) << p.status().message();
  return p.ok() ? p.value() : TargetProfile{};
}

// Format as (bits, signed, symmetric, narrow_range, narrow_scale), compared field by field.
void expect_format(const quant::Format& f, int bits, bool is_signed, bool symmetric, bool narrow,
                   bool narrow_scale, const std::string& what) {
  EXPECT_EQ(f.bits, bits) << what;
  EXPECT_EQ(f.is_signed, is_signed) << what;
  EXPECT_EQ(f.symmetric, symmetric) << what;
  EXPECT_EQ(f.narrow_range, narrow) << what;
  EXPECT_EQ(f.narrow_scale, narrow_scale) << what;
}

void expect_same_format(const quant::Format& a, const quant::Format& b, const std::string& what) {
  expect_format(a, b.bits, b.is_signed, b.symmetric, b.narrow_range, b.narrow_scale, what);
}

void expect_same_scheme(const quant::Scheme& a, const quant::Scheme& b, const std::string& what) {
  expect_same_format(a.activation, b.activation, what + " activation");
  expect_same_format(a.activation16, b.activation16, what + " activation16");
  expect_same_format(a.weight, b.weight, what + " weight");
  EXPECT_EQ(a.per_channel_weights, b.per_channel_weights) << what;
  EXPECT_EQ(a.per_tensor_depthwise, b.per_tensor_depthwise) << what;
  EXPECT_EQ(a.rounding, b.rounding) << what;
  EXPECT_EQ(a.units, b.units) << what;
  EXPECT_EQ(a.power_of_two_scales, b.power_of_two_scales) << what;
}

TEST(Profiles, BuiltinNames) {
  EXPECT_EQ(builtin_profile_names(),
            (std::vector<std::string>{"ort-cpu", "ort-cpu-avx2", "tflite-int8",
                                      "tflite-int8-single-rounding", "tflite-int16x8",
                                      "xnnpack-qs8", "vitis-dpu", "tensorrt-int8"}));
  for (const std::string& n : builtin_profile_names()) {
    const TargetProfile p = builtin(n.c_str());
    EXPECT_EQ(p.name, n);
    EXPECT_EQ(p.scheme.target, n);
    EXPECT_FALSE(p.description.empty()) << n;
    EXPECT_TRUE(check_profile(p).ok()) << n << ": " << check_profile(p).message();
  }
  Result<TargetProfile> bad = builtin_profile("tflite");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("'tflite'"), std::string::npos);
  EXPECT_NE(bad.status().message().find("vitis-dpu"), std::string::npos);
}

// Expected values below are copied from numerics.md table 9.1 (one row per target) and the
// sections it summarises, not from profile.cc.
TEST(Profiles, OrtCpuMatchesTable91) {
  const TargetProfile p = builtin("ort-cpu");
  // "s8 (sym [-127,127]) or u8, per-ch" weights; "u8/s8 asym" activations (u8: ORT's default).
  EXPECT_TRUE(p.scheme.weight.is_signed);
  EXPECT_TRUE(p.scheme.weight.symmetric);
  EXPECT_EQ(p.scheme.weight.bits, 8);
  EXPECT_TRUE(p.scheme.per_channel_weights);
  expect_format(p.scheme.activation, 8, false, false, false, false, "u8 activations");
  // Scale "float32 (s_x*s_w)/s_y"; requant P6; ties rhe; quantize rhe(x/s); int32 bias.
  EXPECT_EQ(p.scale_math, ScaleMath::kFloat32TwoStep);
  EXPECT_EQ(p.requant, Requant::kFloat32);
  EXPECT_EQ(p.requant_rounding, RoundingMode::kHalfToEven);
  EXPECT_EQ(p.quantize_rounding, RoundingMode::kHalfToEven);
  EXPECT_FALSE(p.quantize_by_reciprocal);
  EXPECT_EQ(p.bias_bits, 32);
  EXPECT_EQ(p.accumulator_bits, 32);
  // Add "float path (rhe)"; AvgPool "float avg then rhe"; LUT "float f + QuantizeLinear (rhe)";
  // §9.2 #11 "ORT int8 (truncate!)"; §9.2 #5: no pair saturation with VNNI.
  EXPECT_EQ(p.add, AddScheme::kFloat);
  EXPECT_EQ(p.avgpool, AvgPoolScheme::kFloat);
  EXPECT_EQ(p.lut, LutScheme::kFloatRhe);
  EXPECT_EQ(p.resize, ResizeScheme::kTruncate);
  EXPECT_FALSE(p.pair_saturation_u8s8);
  EXPECT_FALSE(p.power_of_two_scales);
  EXPECT_TRUE(p.pad_with_zero_point);  // §2.3: im2col pads with z_x
  EXPECT_FALSE(p.leaky_relu_26_256 || p.hard_sigmoid_2731 || p.sigmoid_as_hard_sigmoid ||
               p.silu_as_hard_swish);

  // ort-cpu-avx2: the same but for vpmaddubsw's int16 pair saturation (§2.3, §9.2 #5).
  TargetProfile avx2 = builtin("ort-cpu-avx2");
  EXPECT_TRUE(avx2.pair_saturation_u8s8);
  EXPECT_EQ(profile_differences(p, avx2), (std::vector<std::string>{"pair_saturation_u8s8"}));
}

// numerics.md §2.1 and ORT's quant_utils.py (ONNX_INT_TYPE_SYMMETRIC_RANGE) give symmetric int8
// weights the range [-127, 127].
TEST(Profiles, OrtCpuWeightsNarrowAsOrtQuantizer) {
  EXPECT_TRUE(builtin("ort-cpu").scheme.weight.narrow_range);
}

TEST(Profiles, TfliteMatchesTable91) {
  const TargetProfile p = builtin("tflite-int8");
  // "int8 sym, [-127,127], per-ch conv/dw"; "int8 asym per-tensor".
  expect_format(p.scheme.weight, 8, true, true, true, false, "tflite weights");
  EXPECT_TRUE(p.scheme.per_channel_weights);
  expect_format(p.scheme.activation, 8, true, false, false, false, "tflite activations");
  // "31-bit M + shift (P8, double math, rhaz)"; "P3"; ties "rhu then rhaz"; quantize rhaz(x/s).
  EXPECT_EQ(p.multiplier_bits, 31);
  EXPECT_EQ(p.scale_math, ScaleMath::kDouble);
  EXPECT_EQ(p.requant, Requant::kDoubleRounding);
  EXPECT_EQ(p.requant_rounding, RoundingMode::kHalfAwayFromZero);
  EXPECT_EQ(p.quantize_rounding, RoundingMode::kHalfAwayFromZero);
  EXPECT_FALSE(p.quantize_by_reciprocal);
  EXPECT_EQ(p.bias_bits, 32);
  EXPECT_EQ(p.accumulator_bits, 32);
  EXPECT_EQ(p.overflow, Overflow::kWrap);  // §1.2: "no saturation on the accumulator"
  // "left_shift 20, 3xP3"; "rhaz(sum/valid_count) on raw q"; "float LUT (rhaz)"; §9.2 #11
  // "TFLite (10-bit coords, rhaz)".
  EXPECT_EQ(p.add, AddScheme::kTflite);
  EXPECT_EQ(p.avgpool, AvgPoolScheme::kValidCountRhaz);
  EXPECT_EQ(p.lut, LutScheme::kFloatRhaz);
  EXPECT_EQ(p.resize, ResizeScheme::kTflite10Bit);
  EXPECT_FALSE(p.pair_saturation_u8s8 || p.power_of_two_scales);

  // Row 2, single-rounding build: P4, ties rhu, everything else "same".
  const TargetProfile s = builtin("tflite-int8-single-rounding");
  EXPECT_EQ(s.requant, Requant::kSingleRounding);
  EXPECT_EQ(s.requant_rounding, RoundingMode::kHalfUp);
  EXPECT_EQ(profile_differences(p, s), (std::vector<std::string>{"requant", "requant_rounding"}));

  // Row 3, int16x8: int16 z=0 activations, int8 weights, 15-bit reduced M (P5), rhu, rhaz
  // quantize, int64 bias; §1.2: int64 accumulator.
  const TargetProfile w = builtin("tflite-int16x8");
  expect_format(w.scheme.activation, 16, true, true, false, false, "int16x8 activations");
  expect_format(w.scheme.weight, 8, true, true, true, false, "int16x8 weights");
  EXPECT_EQ(w.requant, Requant::kInt64Reduced);
  EXPECT_EQ(w.multiplier_bits, 15);
  EXPECT_EQ(w.requant_rounding, RoundingMode::kHalfUp);
  EXPECT_EQ(w.quantize_rounding, RoundingMode::kHalfAwayFromZero);
  EXPECT_EQ(w.bias_bits, 64);
  EXPECT_EQ(w.accumulator_bits, 64);
  EXPECT_EQ(w.avgpool, AvgPoolScheme::kValidCountRhaz);  // "same"
}

TEST(Profiles, XnnpackMatchesTable91) {
  const TargetProfile p = builtin("xnnpack-qs8");
  // "int8 sym per-ch" (qc8w; narrow as TFLite's converter); "int8 asym".
  expect_format(p.scheme.weight, 8, true, true, true, false, "xnnpack weights");
  EXPECT_TRUE(p.scheme.per_channel_weights);
  expect_format(p.scheme.activation, 8, true, false, false, false, "xnnpack activations");
  // "float scale"; "P6 fp32 (qc8w)"; ties rhe; quantize rhe; int32 bias.
  EXPECT_EQ(p.scale_math, ScaleMath::kFloat32Product);
  EXPECT_EQ(p.requant, Requant::kFloat32);
  EXPECT_EQ(p.requant_rounding, RoundingMode::kHalfToEven);
  EXPECT_EQ(p.quantize_rounding, RoundingMode::kHalfToEven);
  EXPECT_EQ(p.bias_bits, 32);
  // "21-bit multipliers, one rhu"; "fp32 requant" avgpool; "LUT with lrintf (rhe)"; §9.2 #11
  // "XNNPACK (11-bit, rhu)".
  EXPECT_EQ(p.add, AddScheme::kXnnpack);
  EXPECT_EQ(p.avgpool, AvgPoolScheme::kFloat);
  EXPECT_EQ(p.lut, LutScheme::kLrintf);
  EXPECT_EQ(p.resize, ResizeScheme::kXnnpack11Bit);
  EXPECT_FALSE(p.pair_saturation_u8s8 || p.power_of_two_scales);
}

TEST(Profiles, VitisDpuMatchesTable91) {
  const TargetProfile p = builtin("vitis-dpu");
  // "int8 sym, 2^-pos, per-tensor" both; §5.1 narrow_range = False.
  expect_format(p.scheme.weight, 8, true, true, false, false, "dpu weights");
  expect_format(p.scheme.activation, 8, true, true, false, false, "dpu activations");
  EXPECT_FALSE(p.scheme.per_channel_weights);
  EXPECT_TRUE(p.power_of_two_scales);
  // "DPU_ROUND((acc + b*2^sb)/2^sc)", ties rhu; "std_round input (rhaz)"; "int8" bias.
  EXPECT_EQ(p.requant, Requant::kPowerOfTwo);
  EXPECT_EQ(p.requant_rounding, RoundingMode::kHalfUp);
  EXPECT_EQ(p.quantize_rounding, RoundingMode::kHalfAwayFromZero);
  EXPECT_EQ(p.bias_bits, 8);
  // "align by shift_read <= 7, exact sum, one rhu"; "sum*m/2^k"; "LeakyReLU 26/256, hsigmoid
  // 2731/2^14, Sigmoid->HardSigmoid, SiLU->hswish".
  EXPECT_EQ(p.add, AddScheme::kAlignShift);
  EXPECT_EQ(p.avgpool, AvgPoolScheme::kDpuMultiplier);
  EXPECT_TRUE(p.leaky_relu_26_256);
  EXPECT_TRUE(p.hard_sigmoid_2731);
  EXPECT_TRUE(p.sigmoid_as_hard_sigmoid);
  EXPECT_TRUE(p.silu_as_hard_swish);
  EXPECT_FALSE(p.pair_saturation_u8s8);
  // §5.1: activations half_up (= DPU_ROUND) in vai_q_pytorch's default qconfig.
  EXPECT_EQ(p.scheme.rounding, RoundingMode::kHalfUp);
  // §5.3: conv-fix applies relu / leaky / relu6 before rounding (hsigmoid / hswish round their
  // input first); §5.1: every scale a power of two.
  EXPECT_EQ(p.scheme.units, quant::UnitGrowth::kConvFix);
  EXPECT_TRUE(p.scheme.power_of_two_scales);
}

TEST(Profiles, TensorRtMatchesTable91) {
  const TargetProfile p = builtin("tensorrt-int8");
  // "int8 sym per-ch, [-127,127]"; "int8 sym per-tensor [-128,127]" with scale amax/127 (the
  // planner's narrow_scale).
  expect_format(p.scheme.weight, 8, true, true, true, false, "trt weights");
  EXPECT_TRUE(p.scheme.per_channel_weights);
  expect_format(p.scheme.activation, 8, true, true, false, true, "trt activations");
  // "float"; "fp32 epilogue (P6-like)"; rhe; rhe; "float" bias; "fused epilogue (float)".
  EXPECT_EQ(p.requant, Requant::kFloat32);
  EXPECT_EQ(p.requant_rounding, RoundingMode::kHalfToEven);
  EXPECT_EQ(p.quantize_rounding, RoundingMode::kHalfToEven);
  EXPECT_EQ(p.bias_bits, 0);
  EXPECT_EQ(p.add, AddScheme::kFloat);
  EXPECT_EQ(p.avgpool, AvgPoolScheme::kFloat);
  EXPECT_FALSE(p.pair_saturation_u8s8 || p.power_of_two_scales);
  // §8: DQ -> Conv/MatMul -> Q fused with a float epilogue (bias, activation).
  EXPECT_EQ(p.scheme.units, quant::UnitGrowth::kEpilogue);
}

TEST(Profiles, SchemesMatchThePlanner) {
  for (const char* n : {"ort-cpu", "tflite-int8", "xnnpack-qs8", "tensorrt-int8", "vitis-dpu"}) {
    const TargetProfile p = builtin(n);
    const quant::Scheme s = quant::scheme_for_target(n).value();
    EXPECT_EQ(p.scheme.target, s.target);
    expect_same_scheme(p.scheme, s, n);
  }
  // Variants quantize as their base does.
  expect_same_scheme(builtin("ort-cpu-avx2").scheme, quant::scheme_for_target("ort-cpu").value(),
                     "ort-cpu-avx2");
  expect_same_scheme(builtin("tflite-int8-single-rounding").scheme,
                     quant::scheme_for_target("tflite-int8").value(), "single rounding");
}

// Enum names as docs/targets.md lists them.
TEST(Profiles, EnumNames) {
  EXPECT_EQ(requant_name(Requant::kFloat32), "float32");
  EXPECT_EQ(requant_name(Requant::kDoubleRounding), "double_rounding");
  EXPECT_EQ(requant_name(Requant::kSingleRounding), "single_rounding");
  EXPECT_EQ(requant_name(Requant::kInt64Reduced), "int64_reduced");
  EXPECT_EQ(requant_name(Requant::kRndnu), "rndnu");
  EXPECT_EQ(requant_name(Requant::kPowerOfTwo), "power_of_two");
  EXPECT_EQ(scale_math_name(ScaleMath::kFloat32TwoStep), "float32_two_step");
  EXPECT_EQ(scale_math_name(ScaleMath::kDouble), "double");
  EXPECT_EQ(scale_math_name(ScaleMath::kFloat32Product), "float32_product");
  EXPECT_EQ(overflow_name(Overflow::kWrap), "wrap");
  EXPECT_EQ(overflow_name(Overflow::kSaturate), "saturate");
  EXPECT_EQ(add_scheme_name(AddScheme::kFloat), "float");
  EXPECT_EQ(add_scheme_name(AddScheme::kTflite), "tflite");
  EXPECT_EQ(add_scheme_name(AddScheme::kXnnpack), "xnnpack");
  EXPECT_EQ(add_scheme_name(AddScheme::kFixed22Rhaz), "fixed22_rhaz");
  EXPECT_EQ(add_scheme_name(AddScheme::kAlignShift), "align_shift");
  EXPECT_EQ(avgpool_scheme_name(AvgPoolScheme::kFloat), "float");
  EXPECT_EQ(avgpool_scheme_name(AvgPoolScheme::kValidCountRhaz), "valid_count_rhaz");
  EXPECT_EQ(avgpool_scheme_name(AvgPoolScheme::kDpuMultiplier), "dpu_multiplier");
  EXPECT_EQ(lut_scheme_name(LutScheme::kFloatRhe), "float_rhe");
  EXPECT_EQ(lut_scheme_name(LutScheme::kFloatRhaz), "float_rhaz");
  EXPECT_EQ(lut_scheme_name(LutScheme::kLrintf), "lrintf");
  EXPECT_EQ(resize_scheme_name(ResizeScheme::kFloatRhe), "float_rhe");
  EXPECT_EQ(resize_scheme_name(ResizeScheme::kTruncate), "truncate");
  EXPECT_EQ(resize_scheme_name(ResizeScheme::kTflite10Bit), "tflite_10bit");
  EXPECT_EQ(resize_scheme_name(ResizeScheme::kXnnpack11Bit), "xnnpack_11bit");
}

TEST(ProfileJson, RoundTripEveryBuiltin) {
  for (const std::string& n : builtin_profile_names()) {
    const TargetProfile p = builtin(n.c_str());
    const std::string text = profile_to_json(p);
    EXPECT_EQ(text, profile_to_json(p)) << n;  // deterministic
    Result<TargetProfile> back = profile_from_json(text, n + ".json");
    ASSERT_TRUE(back.ok()) << n << ": " << back.status().message();
    EXPECT_TRUE(back.value() == p) << n;
    EXPECT_EQ(profile_to_json(back.value()), text) << n;
  }
}

// A complete profile written by hand (every field, no base): checks each JSON name reaches its
// field. Values chosen to differ from every default.
TEST(ProfileJson, FullUserProfile) {
  const char* text = R"({
 "schema": "qdiff.target/1",
 "name": "my-npu",
 "description": "an NPU measured from dumps",
 "scheme": {
  "activation": {"bits": 8, "signed": true, "symmetric": true, "narrow_range": false,
                 "narrow_scale": false},
  "activation16": {"bits": 16, "signed": true, "symmetric": true, "narrow_range": true,
                   "narrow_scale": false},
  "weight": {"bits": 4, "signed": true, "symmetric": true, "narrow_range": true,
             "narrow_scale": false},
  "per_channel_weights": false,
  "per_tensor_depthwise": true,
  "rounding": "half_up",
  "units": "epilogue"
 },
 "quantize_rounding": "rhaz",
 "quantize_by_reciprocal": true,
 "requant": "rndnu",
 "scale_math": "double",
 "multiplier_bits": 20,
 "requant_rounding": "floor",
 "accumulator_bits": 24,
 "overflow": "saturate",
 "pair_saturation_u8s8": false,
 "bias_bits": 16,
 "power_of_two_scales": true,
 "add": "fixed22_rhaz",
 "avgpool": "dpu_multiplier",
 "lut": "lrintf",
 "lut_bits": 5,
 "lut_interpolation": false,
 "resize": "xnnpack_11bit",
 "leaky_relu_26_256": true,
 "hard_sigmoid_2731": false,
 "sigmoid_as_hard_sigmoid": true,
 "silu_as_hard_swish": false,
 "pad_with_zero_point": false,
 "pad_value": -128,
 "int16_units": false
})";
  Result<TargetProfile> r = profile_from_json(text, "my-npu.json");
  ASSERT_TRUE(r.ok()) << r.status().message();
  const TargetProfile& p = r.value();
  EXPECT_EQ(p.name, "my-npu");
  EXPECT_EQ(p.scheme.target, "my-npu");
  EXPECT_EQ(p.description, "an NPU measured from dumps");
  expect_format(p.scheme.activation, 8, true, true, false, false, "activation");
  expect_format(p.scheme.activation16, 16, true, true, true, false, "activation16");
  expect_format(p.scheme.weight, 4, true, true, true, false, "weight");
  EXPECT_FALSE(p.scheme.per_channel_weights);
  EXPECT_TRUE(p.scheme.per_tensor_depthwise);
  EXPECT_EQ(p.scheme.rounding, RoundingMode::kHalfUp);
  EXPECT_EQ(p.scheme.units, quant::UnitGrowth::kEpilogue);
  EXPECT_EQ(p.quantize_rounding, RoundingMode::kHalfAwayFromZero);
  EXPECT_TRUE(p.quantize_by_reciprocal);
  EXPECT_EQ(p.requant, Requant::kRndnu);
  EXPECT_EQ(p.scale_math, ScaleMath::kDouble);
  EXPECT_EQ(p.multiplier_bits, 20);
  EXPECT_EQ(p.requant_rounding, RoundingMode::kFloor);
  EXPECT_EQ(p.accumulator_bits, 24);
  EXPECT_EQ(p.overflow, Overflow::kSaturate);
  EXPECT_FALSE(p.pair_saturation_u8s8);
  EXPECT_EQ(p.bias_bits, 16);
  EXPECT_TRUE(p.power_of_two_scales);
  EXPECT_EQ(p.add, AddScheme::kFixed22Rhaz);
  EXPECT_EQ(p.avgpool, AvgPoolScheme::kDpuMultiplier);
  EXPECT_EQ(p.lut, LutScheme::kLrintf);
  EXPECT_EQ(p.resize, ResizeScheme::kXnnpack11Bit);
  EXPECT_TRUE(p.leaky_relu_26_256);
  EXPECT_FALSE(p.hard_sigmoid_2731);
  EXPECT_TRUE(p.sigmoid_as_hard_sigmoid);
  EXPECT_FALSE(p.silu_as_hard_swish);
  EXPECT_FALSE(p.pad_with_zero_point);
  EXPECT_EQ(p.pad_value, -128);
  EXPECT_EQ(p.lut_bits, 5);
  EXPECT_FALSE(p.lut_interpolation);
  EXPECT_FALSE(p.int16_units);
  // Aliases are written back under their canonical names.
  const std::string out = profile_to_json(p);
  EXPECT_NE(out.find("\"quantize_rounding\": \"half_away_from_zero\""), std::string::npos) << out;
  EXPECT_TRUE(profile_from_json(out, "again").value() == p);
}

// Changing any single field makes the profile differ (operator==, profile_differences), and the
// change survives JSON: no field is forgotten by ==, the writer or the reader.
TEST(ProfileJson, EveryFieldIsCompared) {
  using Mutation = std::pair<std::string, std::function<void(TargetProfile&)>>;
  const std::vector<Mutation> mutations = {
      {"scheme.activation.bits", [](TargetProfile& p) { p.scheme.activation.bits = 7; }},
      {"scheme.activation.signed", [](TargetProfile& p) { p.scheme.activation.is_signed = true; }},
      {"scheme.activation.symmetric",
       [](TargetProfile& p) { p.scheme.activation.symmetric = true; }},
      {"scheme.activation16.narrow_range",
       [](TargetProfile& p) { p.scheme.activation16.narrow_range = true; }},
      {"scheme.weight.narrow_range",
       [](TargetProfile& p) { p.scheme.weight.narrow_range = !p.scheme.weight.narrow_range; }},
      {"scheme.activation16.narrow_scale",
       [](TargetProfile& p) { p.scheme.activation16.narrow_scale = true; }},
      {"scheme.per_channel_weights",
       [](TargetProfile& p) { p.scheme.per_channel_weights = false; }},
      {"scheme.per_tensor_depthwise",
       [](TargetProfile& p) { p.scheme.per_tensor_depthwise = true; }},
      {"scheme.rounding", [](TargetProfile& p) { p.scheme.rounding = RoundingMode::kHalfDown; }},
      {"scheme.units", [](TargetProfile& p) { p.scheme.units = quant::UnitGrowth::kEpilogue; }},
      {"quantize_rounding", [](TargetProfile& p) { p.quantize_rounding = RoundingMode::kCeil; }},
      {"quantize_by_reciprocal", [](TargetProfile& p) { p.quantize_by_reciprocal = true; }},
      {"requant", [](TargetProfile& p) { p.requant = Requant::kSingleRounding; }},
      {"scale_math", [](TargetProfile& p) { p.scale_math = ScaleMath::kDouble; }},
      {"multiplier_bits", [](TargetProfile& p) { p.multiplier_bits = 16; }},
      {"requant_rounding",
       [](TargetProfile& p) { p.requant_rounding = RoundingMode::kTowardZero; }},
      {"accumulator_bits", [](TargetProfile& p) { p.accumulator_bits = 48; }},
      {"overflow", [](TargetProfile& p) { p.overflow = Overflow::kSaturate; }},
      {"pair_saturation_u8s8", [](TargetProfile& p) { p.pair_saturation_u8s8 = true; }},
      {"bias_bits", [](TargetProfile& p) { p.bias_bits = 0; }},
      {"power_of_two_scales",  // the planner's copy in the scheme follows the field
       [](TargetProfile& p) { p.power_of_two_scales = p.scheme.power_of_two_scales = true; }},
      {"add", [](TargetProfile& p) { p.add = AddScheme::kXnnpack; }},
      {"avgpool", [](TargetProfile& p) { p.avgpool = AvgPoolScheme::kValidCountRhaz; }},
      {"lut", [](TargetProfile& p) { p.lut = LutScheme::kLrintf; }},
      {"lut_bits", [](TargetProfile& p) { p.lut_bits = 4; }},
      {"lut_interpolation", [](TargetProfile& p) { p.lut_interpolation = false; }},
      {"resize", [](TargetProfile& p) { p.resize = ResizeScheme::kTflite10Bit; }},
      {"leaky_relu_26_256", [](TargetProfile& p) { p.leaky_relu_26_256 = true; }},
      {"hard_sigmoid_2731", [](TargetProfile& p) { p.hard_sigmoid_2731 = true; }},
      {"sigmoid_as_hard_sigmoid", [](TargetProfile& p) { p.sigmoid_as_hard_sigmoid = true; }},
      {"silu_as_hard_swish", [](TargetProfile& p) { p.silu_as_hard_swish = true; }},
      {"pad_with_zero_point",
       [](TargetProfile& p) { p.pad_with_zero_point = false; }},  // pad 0 fits u8
      {"int16_units", [](TargetProfile& p) { p.int16_units = false; }},
  };
  const TargetProfile base = builtin("ort-cpu");
  for (const auto& [field, mutate] : mutations) {
    TargetProfile p = base;
    p.name = p.scheme.target = "variant";
    const TargetProfile renamed = p;
    mutate(p);
    EXPECT_FALSE(p == renamed) << field;
    EXPECT_EQ(profile_differences(renamed, p), std::vector<std::string>{field});
    ASSERT_TRUE(check_profile(p).ok()) << field << ": " << check_profile(p).message();
    Result<TargetProfile> back = profile_from_json(profile_to_json(p), field);
    ASSERT_TRUE(back.ok()) << field << ": " << back.status().message();
    EXPECT_TRUE(back.value() == p) << field;
  }
  // pad_value on its own (needs pad_with_zero_point false) and the two strings.
  TargetProfile p = base;
  p.pad_with_zero_point = false;
  TargetProfile q = p;
  q.pad_value = 7;
  EXPECT_FALSE(p == q);
  EXPECT_EQ(profile_differences(p, q), std::vector<std::string>{"pad_value"});
  q = p;
  q.description = "other";
  EXPECT_FALSE(p == q);
  EXPECT_TRUE(profile_differences(p, q).empty());
  q = p;
  q.scheme.target = "other";
  EXPECT_FALSE(p == q);
}

TEST(ProfileJson, BaseOverrides) {
  // A base and one changed field: ort-cpu with pair saturation is ort-cpu-avx2's arithmetic.
  Result<TargetProfile> r = profile_from_json(
      R"({"schema": "qdiff.target/1", "base": "ort-cpu", "name": "my-ort",
          "pair_saturation_u8s8": true})",
      "my-ort.json");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r.value().name, "my-ort");
  EXPECT_EQ(r.value().scheme.target, "my-ort");
  EXPECT_TRUE(profile_differences(r.value(), builtin("ort-cpu-avx2")).empty());
  EXPECT_NE(r.value().description.find("pair_saturation_u8s8"), std::string::npos)
      << r.value().description;
  // Nested objects merge field by field.
  r = profile_from_json(
      R"({"schema": "qdiff.target/1", "base": "tflite-int8", "name": "wide-weights",
          "description": "full-range weights", "scheme": {"weight": {"narrow_range": false}}})",
      "w.json");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r.value().description, "full-range weights");
  EXPECT_EQ(profile_differences(builtin("tflite-int8"), r.value()),
            std::vector<std::string>{"scheme.weight.narrow_range"});
  expect_format(r.value().scheme.weight, 8, true, true, false, false, "merged weight");
  // A base under its own name, unchanged, is that built-in.
  r = profile_from_json(R"({"schema": "qdiff.target/1", "base": "vitis-dpu", "name": "vitis-dpu"})",
                        "dpu.json");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_TRUE(r.value() == builtin("vitis-dpu"));
  // Several overrides at once, from another base.
  r = profile_from_json(
      R"({"schema": "qdiff.target/1", "base": "vitis-dpu", "name": "dpu-rhe",
          "requant_rounding": "half_to_even", "leaky_relu_26_256": false})",
      "x.json");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(profile_differences(builtin("vitis-dpu"), r.value()),
            (std::vector<std::string>{"requant_rounding", "leaky_relu_26_256"}));
}

struct BadCase {
  const char* json;
  const char* expected;  // a fragment of the message (the field it names)
};

TEST(ProfileJson, BadInput) {
  const std::vector<BadCase> cases = {
      {"{", "not valid JSON"},
      {"[1]", "must be a JSON object"},
      {R"({"base": "ort-cpu", "name": "x"})", "missing field 'schema'"},
      {R"({"schema": "qdiff.target/2", "base": "ort-cpu", "name": "x"})", "field 'schema'"},
      {R"({"schema": "qdiff.target/1", "base": "ort-cpu"})", "missing field 'name'"},
      {R"({"schema": "qdiff.target/1", "base": "ort-cpu", "name": ""})", "field 'name'"},
      // Unknown fields, top level and nested.
      {R"({"schema": "qdiff.target/1", "base": "ort-cpu", "name": "x", "requantize": "float32"})",
       "unknown field 'requantize'"},
      {R"({"schema": "qdiff.target/1", "base": "ort-cpu", "name": "x",
           "scheme": {"activation": {"bitz": 8}}})",
       "unknown field 'scheme.activation.bitz'"},
      // Wrong types.
      {R"({"schema": "qdiff.target/1", "base": "ort-cpu", "name": "x", "multiplier_bits": "31"})",
       "field 'multiplier_bits': must be an integer"},
      {R"({"schema": "qdiff.target/1", "base": "ort-cpu", "name": "x", "accumulator_bits": 32.5})",
       "field 'accumulator_bits': must be an integer"},
      {R"({"schema": "qdiff.target/1", "base": "ort-cpu", "name": "x",
           "pair_saturation_u8s8": 1})",
       "field 'pair_saturation_u8s8': must be true or false"},
      {R"({"schema": "qdiff.target/1", "base": "ort-cpu", "name": "x", "requant": 3})",
       "field 'requant': must be a string"},
      {R"({"schema": "qdiff.target/1", "base": "ort-cpu", "name": "x", "scheme": []})",
       "field 'scheme': must be an object"},
      {R"({"schema": "qdiff.target/1", "base": "ort-cpu", "name": 5})",
       "field 'name': must be a string"},
      {R"({"schema": "qdiff.target/1", "base": "ort-cpu", "name": "x", "pad_value": 99999999999})",
       "field 'pad_value': 99999999999 is out of range"},
      {R"({"schema": "qdiff.target/1", "base": "ort-cpu", "name": "x", "lut_bits": 16})",
       "field 'lut_bits': 16 is outside 0..15"},
      // Unknown enum values.
      {R"({"schema": "qdiff.target/1", "base": "ort-cpu", "name": "x",
           "requant": "triple_rounding"})",
       "field 'requant': unknown value 'triple_rounding'"},
      {R"({"schema": "qdiff.target/1", "base": "ort-cpu", "name": "x", "add": "qnnpack"})",
       "field 'add': unknown value 'qnnpack'"},
      {R"({"schema": "qdiff.target/1", "base": "ort-cpu", "name": "x", "lut": "table"})",
       "field 'lut'"},
      {R"({"schema": "qdiff.target/1", "base": "ort-cpu", "name": "x", "resize": "cubic"})",
       "field 'resize'"},
      {R"({"schema": "qdiff.target/1", "base": "ort-cpu", "name": "x", "avgpool": "int"})",
       "field 'avgpool'"},
      {R"({"schema": "qdiff.target/1", "base": "ort-cpu", "name": "x", "overflow": "clip"})",
       "field 'overflow'"},
      {R"({"schema": "qdiff.target/1", "base": "ort-cpu", "name": "x", "scale_math": "half"})",
       "field 'scale_math'"},
      {R"({"schema": "qdiff.target/1", "base": "ort-cpu", "name": "x",
           "quantize_rounding": "bankers"})",
       "field 'quantize_rounding'"},
      {R"({"schema": "qdiff.target/1", "base": "ort-cpu", "name": "x",
           "scheme": {"rounding": "nearest"}})",
       "field 'scheme.rounding'"},
      {R"({"schema": "qdiff.target/1", "base": "ort-cpu", "name": "x",
           "scheme": {"units": "everything"}})",
       "field 'scheme.units': unknown value 'everything'"},
      // Bit widths.
      {R"({"schema": "qdiff.target/1", "base": "ort-cpu", "name": "x", "multiplier_bits": 7})",
       "field 'multiplier_bits': 7 is outside 8..31"},
      {R"({"schema": "qdiff.target/1", "base": "ort-cpu", "name": "x", "multiplier_bits": 32})",
       "field 'multiplier_bits': 32 is outside 8..31"},
      {R"({"schema": "qdiff.target/1", "base": "ort-cpu", "name": "x", "accumulator_bits": 15})",
       "field 'accumulator_bits': 15 is outside 16..64"},
      {R"({"schema": "qdiff.target/1", "base": "ort-cpu", "name": "x", "accumulator_bits": 65})",
       "field 'accumulator_bits': 65 is outside 16..64"},
      {R"({"schema": "qdiff.target/1", "base": "ort-cpu", "name": "x", "bias_bits": 24})",
       "field 'bias_bits': 24 is not one of"},
      {R"({"schema": "qdiff.target/1", "base": "ort-cpu", "name": "x", "bias_bits": -8})",
       "field 'bias_bits'"},
      {R"({"schema": "qdiff.target/1", "base": "ort-cpu", "name": "x", "bias_bits": 64})",
       "field 'bias_bits': 64-bit bias does not fit the 32-bit accumulator"},
      {R"({"schema": "qdiff.target/1", "base": "ort-cpu", "name": "x",
           "scheme": {"activation": {"bits": 1}}})",
       "field 'scheme.activation.bits'"},
      {R"({"schema": "qdiff.target/1", "base": "ort-cpu", "name": "x",
           "scheme": {"activation16": {"bits": 8}}})",
       "field 'scheme.activation16.bits'"},
      // A multiplier that cannot be represented.
      {R"({"schema": "qdiff.target/1", "base": "xnnpack-qs8", "name": "x", "requant": "rndnu"})",
       "field 'multiplier_bits': 31 bits cannot be represented by rndnu"},
      // Impossible combinations.
      {R"({"schema": "qdiff.target/1", "base": "ort-cpu", "name": "x",
           "requant": "power_of_two"})",
       "field 'requant': power_of_two requantization (shifts) needs power_of_two_scales"},
      {R"({"schema": "qdiff.target/1", "base": "tflite-int8", "name": "x",
           "add": "align_shift"})",
       "field 'add'"},
      {R"({"schema": "qdiff.target/1", "base": "tflite-int8", "name": "x",
           "pair_saturation_u8s8": true})",
       "field 'pair_saturation_u8s8': the u8 x s8 pair saturation needs unsigned 8-bit"},
      {R"({"schema": "qdiff.target/1", "base": "ort-cpu-avx2", "name": "x",
           "scheme": {"weight": {"signed": false, "symmetric": false, "narrow_range": false}}})",
       "field 'pair_saturation_u8s8'"},
      {R"({"schema": "qdiff.target/1", "base": "ort-cpu", "name": "x",
           "scheme": {"activation": {"narrow_range": true}}})",
       "field 'scheme.activation.narrow_range'"},
      {R"({"schema": "qdiff.target/1", "base": "tflite-int8", "name": "x",
           "scheme": {"weight": {"narrow_scale": true}}})",
       "field 'scheme.weight.narrow_scale'"},
      {R"({"schema": "qdiff.target/1", "base": "ort-cpu", "name": "x", "pad_value": 3})",
       "field 'pad_value': 3 is ignored"},
      {R"({"schema": "qdiff.target/1", "base": "ort-cpu", "name": "x",
           "pad_with_zero_point": false, "pad_value": -1})",
       "field 'pad_value': -1 is outside the activation range [0, 255]"},
      // Bases and names.
      {R"({"schema": "qdiff.target/1", "base": "snpe", "name": "x"})",
       "field 'base': unknown target profile 'snpe'"},
      {R"({"schema": "qdiff.target/1", "base": 3, "name": "x"})", "field 'base': must be a string"},
      {R"({"schema": "qdiff.target/1", "base": "ort-cpu", "name": "tflite-int8"})",
       "field 'name': 'tflite-int8' is a built-in profile"},
      // Without a base every field is required.
      {R"({"schema": "qdiff.target/1", "name": "x", "description": "d"})",
       "missing field 'scheme'"},
  };
  for (const BadCase& c : cases) {
    Result<TargetProfile> r = profile_from_json(c.json, "bad.json");
    ASSERT_FALSE(r.ok()) << c.json;
    EXPECT_EQ(r.status().code(), ErrorCode::kInvalidArgument) << c.json;
    EXPECT_EQ(r.status().message().rfind("bad.json: ", 0), 0u) << r.status().message();
    EXPECT_NE(r.status().message().find(c.expected), std::string::npos)
        << "input: " << c.json << "\nmessage: " << r.status().message()
        << "\nexpected to contain: " << c.expected;
  }
  // A complete profile missing one nested field names it.
  std::string full = profile_to_json(builtin("ort-cpu"));
  const std::string key = "   \"narrow_scale\": false\n";
  const size_t at = full.find(key);
  ASSERT_NE(at, std::string::npos) << full;
  std::string cut = full;
  cut.erase(at, key.size());
  const size_t comma = cut.rfind(',', at);
  cut.erase(comma, 1);
  Result<TargetProfile> r = profile_from_json(cut, "cut.json");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("missing field 'scheme.activation.narrow_scale'"),
            std::string::npos)
      << r.status().message();
}

TEST(Profiles, LoadProfile) {
  EXPECT_TRUE(load_profile("tflite-int8").value() == builtin("tflite-int8"));
  const std::filesystem::path path =
      std::filesystem::temp_directory_path() /
      ("qdiff_targets_test_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
       ".json");
  {
    std::ofstream out(path);
    out << R"({"schema": "qdiff.target/1", "base": "tensorrt-int8", "name": "trt-int32-bias",
               "bias_bits": 32})";
  }
  Result<TargetProfile> r = load_profile(path.string());
  std::filesystem::remove(path);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r.value().bias_bits, 32);
  Result<TargetProfile> missing = load_profile("/nonexistent/profile.json");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), ErrorCode::kIo);
  EXPECT_NE(missing.status().message().find("ort-cpu"), std::string::npos);
}

TEST(Profiles, CheckProfileOnCppValues) {
  TargetProfile p = builtin("ort-cpu");
  p.scheme.target = "something-else";
  EXPECT_NE(check_profile(p).message().find("scheme.target"), std::string::npos);
  p = builtin("tflite-int16x8");
  p.accumulator_bits = 32;  // the int64 bias no longer fits
  EXPECT_NE(check_profile(p).message().find("bias_bits"), std::string::npos);
}

// docs/targets.md documents every built-in (a section each) and every JSON field and enum name.
TEST(Profiles, DocumentedInTargetsMd) {
  std::ifstream in(std::string(QDIFF_SOURCE_DIR) + "/docs/targets.md");
  ASSERT_TRUE(in) << "docs/targets.md";
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string doc = ss.str();
  for (const std::string& n : builtin_profile_names())
    EXPECT_NE(doc.find("## `" + n + "`"), std::string::npos) << n;
  const std::string json = profile_to_json(builtin("vitis-dpu"));
  size_t pos = 0;
  while ((pos = json.find('"', pos)) != std::string::npos) {
    const size_t end = json.find('"', pos + 1);
    const std::string token = json.substr(pos + 1, end - pos - 1);
    pos = end + 1;
    if (json.compare(pos, 1, ":") != 0) continue;  // values are checked below
    EXPECT_NE(doc.find("`" + token + "`"), std::string::npos) << "field " << token;
  }
  for (std::string_view name : {"float32",
                                "double_rounding",
                                "single_rounding",
                                "int64_reduced",
                                "rndnu",
                                "power_of_two",
                                "float32_two_step",
                                "double",
                                "float32_product",
                                "wrap",
                                "saturate",
                                "float",
                                "tflite",
                                "xnnpack",
                                "fixed22_rhaz",
                                "align_shift",
                                "valid_count_rhaz",
                                "dpu_multiplier",
                                "float_rhe",
                                "float_rhaz",
                                "lrintf",
                                "truncate",
                                "tflite_10bit",
                                "xnnpack_11bit"})
    EXPECT_NE(doc.find("`" + std::string(name) + "`"), std::string::npos) << name;
}

// The two JSON examples of docs/targets.md parse: the user profile as described, the complete
// one as the built-in it claims to be.
TEST(Profiles, DocExamplesParse) {
  std::ifstream in(std::string(QDIFF_SOURCE_DIR) + "/docs/targets.md");
  ASSERT_TRUE(in) << "docs/targets.md";
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string doc = ss.str();
  std::vector<std::string> blocks;
  size_t pos = 0;
  while ((pos = doc.find("```json\n", pos)) != std::string::npos) {
    const size_t end = doc.find("```", pos + 8);
    ASSERT_NE(end, std::string::npos);
    blocks.push_back(doc.substr(pos + 8, end - pos - 8));
    pos = end + 3;
  }
  ASSERT_EQ(blocks.size(), 2u);
  Result<TargetProfile> user = profile_from_json(blocks[0], "targets.md example 1");
  ASSERT_TRUE(user.ok()) << user.status().message();
  EXPECT_EQ(profile_differences(builtin("ort-cpu"), user.value()),
            (std::vector<std::string>{"pair_saturation_u8s8", "add"}));
  EXPECT_EQ(user.value().add, AddScheme::kFixed22Rhaz);
  Result<TargetProfile> full = profile_from_json(blocks[1], "targets.md example 2");
  ASSERT_TRUE(full.ok()) << full.status().message();
  EXPECT_TRUE(full.value() == builtin("tensorrt-int8"));
}

}  // namespace
}  // namespace qdiff::targets
