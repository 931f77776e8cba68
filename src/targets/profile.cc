#include "targets/profile.h"

#include <cstdint>
#include <fstream>
#include <initializer_list>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <utility>

namespace qdiff::targets {
namespace {

using json = nlohmann::ordered_json;

constexpr const char* kSchema = "qdiff.target/1";

// ---------------------------------------------------------------------------------------------
// Enum names.

template <typename E>
struct Named {
  E value;
  std::string_view name;
};

constexpr Named<Requant> kRequantNames[] = {
    {Requant::kFloat32, "float32"},
    {Requant::kDoubleRounding, "double_rounding"},
    {Requant::kSingleRounding, "single_rounding"},
    {Requant::kInt64Reduced, "int64_reduced"},
    {Requant::kRndnu, "rndnu"},
    {Requant::kPowerOfTwo, "power_of_two"},
};
constexpr Named<ScaleMath> kScaleMathNames[] = {
    {ScaleMath::kFloat32TwoStep, "float32_two_step"},
    {ScaleMath::kDouble, "double"},
    {ScaleMath::kFloat32Product, "float32_product"},
};
constexpr Named<Overflow> kOverflowNames[] = {
    {Overflow::kWrap, "wrap"},
    {Overflow::kSaturate, "saturate"},
};
constexpr Named<AddScheme> kAddNames[] = {
    {AddScheme::kFloat, "float"},
    {AddScheme::kTflite, "tflite"},
    {AddScheme::kXnnpack, "xnnpack"},
    {AddScheme::kFixed22Rhaz, "fixed22_rhaz"},
    {AddScheme::kAlignShift, "align_shift"},
};
constexpr Named<AvgPoolScheme> kAvgPoolNames[] = {
    {AvgPoolScheme::kFloat, "float"},
    {AvgPoolScheme::kValidCountRhaz, "valid_count_rhaz"},
    {AvgPoolScheme::kDpuMultiplier, "dpu_multiplier"},
};
constexpr Named<LutScheme> kLutNames[] = {
    {LutScheme::kFloatRhe, "float_rhe"},
    {LutScheme::kFloatRhaz, "float_rhaz"},
    {LutScheme::kLrintf, "lrintf"},
};
constexpr Named<quant::UnitGrowth> kUnitNames[] = {
    {quant::UnitGrowth::kReluClip, "relu_clip"},
    {quant::UnitGrowth::kEpilogue, "epilogue"},
    {quant::UnitGrowth::kConvFix, "conv_fix"},
};
constexpr Named<ResizeScheme> kResizeNames[] = {
    {ResizeScheme::kFloatRhe, "float_rhe"},
    {ResizeScheme::kTruncate, "truncate"},
    {ResizeScheme::kTflite10Bit, "tflite_10bit"},
    {ResizeScheme::kXnnpack11Bit, "xnnpack_11bit"},
};

template <typename E, size_t N>
std::string_view name_of(const Named<E> (&table)[N], E v) {
  for (const Named<E>& n : table)
    if (n.value == v) return n.name;
  QDIFF_ASSERT(false, "enum value without a name: " + std::to_string(static_cast<int>(v)));
  return {};
}

template <typename E, size_t N>
std::string known_names(const Named<E> (&table)[N]) {
  std::string out;
  for (const Named<E>& n : table) {
    if (!out.empty()) out += ", ";
    out += n.name;
  }
  return out;
}

template <typename E, size_t N>
bool parse_name(const Named<E> (&table)[N], std::string_view text, E* out) {
  for (const Named<E>& n : table)
    if (n.name == text) {
      *out = n.value;
      return true;
    }
  return false;
}

// ---------------------------------------------------------------------------------------------
// Built-in profiles. Every value and its source is documented in docs/targets.md; section
// numbers refer to numerics.md.

quant::Scheme scheme_of(std::string_view planner_target, const std::string& name) {
  Result<quant::Scheme> s = quant::scheme_for_target(planner_target);
  QDIFF_ASSERT(s.ok(), "the planner lost its scheme for " + std::string(planner_target));
  quant::Scheme out = std::move(s).value();
  out.target = name;
  return out;
}

// ONNX Runtime CPU EP, MLAS on x86-64 with VNNI (§2).
TargetProfile ort_cpu(const std::string& name) {
  TargetProfile p;
  p.name = name;
  p.description =
      "ONNX Runtime CPU EP (MLAS), x86-64 with AVX-512 VNNI or AVX-VNNI: QDQ fused into "
      "QLinearConv/QGemm/QLinearAdd, u8 activations, s8 weights";
  p.scheme = scheme_of("ort-cpu", name);
  p.quantize_rounding = RoundingMode::kHalfToEven;  // §2.2: rhe(x / s)
  p.quantize_by_reciprocal = false;                 // §2.2: division
  p.requant = Requant::kFloat32;                    // §2.3: P6
  p.scale_math = ScaleMath::kFloat32TwoStep;        // §2.3: f32(f32(s_x * s_w) / s_y)
  p.multiplier_bits = 31;                           // unused by kFloat32
  p.requant_rounding = RoundingMode::kHalfToEven;   // §2.3: cvtps2dq
  p.accumulator_bits = 32;
  p.overflow = Overflow::kWrap;
  p.pair_saturation_u8s8 = false;  // §2.3: no saturation with VNNI
  p.bias_bits = 32;                // §2.1
  p.power_of_two_scales = false;
  p.add = AddScheme::kFloat;           // §2.5: x86 QLinearAdd
  p.avgpool = AvgPoolScheme::kFloat;   // §2.5: QLinearAveragePool
  p.lut = LutScheme::kFloatRhe;        // §2.5: QLinearSigmoid / LeakyRelu tables
  p.resize = ResizeScheme::kTruncate;  // §2.5: Resize on int8/uint8
  p.pad_with_zero_point = true;        // §2.3: im2col pads with z_x
  return p;
}

// The same on AVX2 / AVX-512BW without VNNI: vpmaddubsw saturates u8 x s8 pair sums (§2.3).
TargetProfile ort_cpu_avx2(const std::string& name) {
  TargetProfile p = ort_cpu(name);
  p.description =
      "ONNX Runtime CPU EP (MLAS), x86-64 AVX2 or AVX-512BW without VNNI: u8 x s8 pair sums "
      "saturate to int16 (vpmaddubsw)";
  p.pair_saturation_u8s8 = true;
  return p;
}

// TFLite reference kernels = TFLite Micro = CMSIS-NN default build, int8 (§1, table 9.1 row 1).
TargetProfile tflite_int8(const std::string& name) {
  TargetProfile p;
  p.name = name;
  p.description =
      "TensorFlow Lite int8, reference kernels (= TFLite Micro, CMSIS-NN default build): double "
      "rounding requantization";
  p.scheme = scheme_of("tflite-int8", name);
  p.quantize_rounding = RoundingMode::kHalfAwayFromZero;  // §1.1: rhaz(x / f32(scale))
  p.quantize_by_reciprocal = false;
  p.requant = Requant::kDoubleRounding;                  // §1.2: P3
  p.scale_math = ScaleMath::kDouble;                     // §1.2 / P8: double, QuantizeMultiplier
  p.multiplier_bits = 31;                                // P8
  p.requant_rounding = RoundingMode::kHalfAwayFromZero;  // P3: RDBPOT
  p.accumulator_bits = 32;                               // §1.2: int32, wraps
  p.overflow = Overflow::kWrap;
  p.pair_saturation_u8s8 = false;
  p.bias_bits = 32;  // §1.1
  p.power_of_two_scales = false;
  p.add = AddScheme::kTflite;                  // §1.4
  p.avgpool = AvgPoolScheme::kValidCountRhaz;  // §1.5
  p.lut = LutScheme::kFloatRhaz;               // §1.6: interpreter LUT
  p.resize = ResizeScheme::kTflite10Bit;       // §1.5
  p.pad_with_zero_point = true;                // §1.2: padding taps skipped = real 0
  return p;
}

// TFLITE_SINGLE_ROUNDING / CMSIS_NN_USE_SINGLE_ROUNDING / ruy (§1.3, table 9.1 row 2).
TargetProfile tflite_int8_single_rounding(const std::string& name) {
  TargetProfile p = tflite_int8(name);
  p.description =
      "TensorFlow Lite int8 built with TFLITE_SINGLE_ROUNDING (also ruy GEMM, CMSIS-NN single "
      "rounding): one rhu per requantization";
  p.requant = Requant::kSingleRounding;        // P4
  p.requant_rounding = RoundingMode::kHalfUp;  // P4: rhu
  return p;
}

// TFLite int16x8: int16 symmetric activations, int8 weights, int64 accumulator and bias, P5
// (§1.1, §1.2, table 9.1 row 3).
TargetProfile tflite_int16x8(const std::string& name) {
  TargetProfile p = tflite_int8(name);
  p.description =
      "TensorFlow Lite int16x8 (int16 activations, int8 weights), reference kernels: int64 "
      "accumulator and bias, 15-bit reduced multiplier";
  p.scheme.activation = p.scheme.activation16;  // int16 symmetric, z = 0
  p.requant = Requant::kInt64Reduced;           // P5
  p.multiplier_bits = 15;                       // P5: 15-bit multiplier
  p.requant_rounding = RoundingMode::kHalfUp;   // P5: rhu
  p.accumulator_bits = 64;
  p.bias_bits = 64;
  return p;
}

// XNNPACK qs8 activations with qc8w per-channel weights (TFLite XNNPACK delegate) (§4).
TargetProfile xnnpack_qs8(const std::string& name) {
  TargetProfile p;
  p.name = name;
  p.description =
      "XNNPACK qs8 activations with qc8w per-channel weights (TFLite XNNPACK delegate, "
      "ExecuTorch): fp32 requantization";
  p.scheme = scheme_of("xnnpack-qs8", name);
  p.quantize_rounding = RoundingMode::kHalfToEven;  // table 9.1
  // Not in numerics.md: xnn_create_convert_nc_f32_qs8 passes 1.0f / output_scale to the
  // f32->qs8 convert kernels, which multiply (XNNPACK src/operators/unary-elementwise-nc.c).
  p.quantize_by_reciprocal = true;
  p.requant = Requant::kFloat32;                   // §4.2: fp32 (all qc8w kernels)
  p.scale_math = ScaleMath::kFloat32Product;       // §4.1: float s_x * s_w / s_y
  p.multiplier_bits = 31;                          // unused by kFloat32
  p.requant_rounding = RoundingMode::kHalfToEven;  // §4.2
  p.accumulator_bits = 32;                         // §4.2: no int16 saturation
  p.overflow = Overflow::kWrap;
  p.pair_saturation_u8s8 = false;
  p.bias_bits = 32;
  p.power_of_two_scales = false;
  p.add = AddScheme::kXnnpack;             // §4.3
  p.avgpool = AvgPoolScheme::kFloat;       // table 9.1: "fp32 requant" (closest scheme)
  p.lut = LutScheme::kLrintf;              // §4.3
  p.resize = ResizeScheme::kXnnpack11Bit;  // §4.3
  p.pad_with_zero_point = true;            // §4.1: zero buffer filled with z_x
  return p;
}

// Vitis AI DPU (DPUCZDX8G class) as vai_q + XIR + VART describe it (§5).
TargetProfile vitis_dpu(const std::string& name) {
  TargetProfile p;
  p.name = name;
  p.description =
      "AMD/Xilinx Vitis AI DPU (DPUCZDX8G class): power-of-two scales, DPU_ROUND, 8-bit bias, "
      "compiler approximations";
  // §5.1: int8 symmetric full range, weights per tensor, power of two, activations half_up
  // (= DPU_ROUND); conv-fix units (relu / leaky / relu6 applied before rounding, §5.3).
  p.scheme = scheme_of("vitis-dpu", name);
  p.quantize_rounding = RoundingMode::kHalfAwayFromZero;  // §5.1: input std_round
  p.quantize_by_reciprocal = false;            // exact either way with power-of-two scales
  p.requant = Requant::kPowerOfTwo;            // §5.3
  p.scale_math = ScaleMath::kFloat32TwoStep;   // exact with power-of-two scales
  p.multiplier_bits = 31;                      // unused by kPowerOfTwo
  p.requant_rounding = RoundingMode::kHalfUp;  // §5.2: DPU_ROUND
  p.accumulator_bits = 32;                     // not published (choice)
  p.overflow = Overflow::kWrap;                // not published (choice)
  p.pair_saturation_u8s8 = false;
  p.bias_bits = 8;  // §5.1
  p.power_of_two_scales = true;
  p.add = AddScheme::kAlignShift;             // §5.4
  p.avgpool = AvgPoolScheme::kDpuMultiplier;  // §5.4
  p.lut = LutScheme::kFloatRhe;               // not on the DPU (choice: CPU fallback in ORT)
  p.resize = ResizeScheme::kFloatRhe;         // not in numerics.md (choice)
  p.leaky_relu_26_256 = true;                 // §5.4
  p.hard_sigmoid_2731 = true;                 // §5.4
  p.sigmoid_as_hard_sigmoid = true;           // §5.4
  p.silu_as_hard_swish = true;                // §5.4
  p.pad_with_zero_point = true;               // §5.3: padding = 0 = z
  p.int16_units = false;                      // §5: int8 kernels only
  return p;
}

// TensorRT INT8, explicit quantization (Q/DQ) mode (§8).
TargetProfile tensorrt_int8(const std::string& name) {
  TargetProfile p;
  p.name = name;
  p.description =
      "NVIDIA TensorRT INT8, explicit Q/DQ: symmetric int8, int32 accumulation, fp32 epilogue "
      "with float bias";
  p.scheme = scheme_of("tensorrt-int8", name);
  p.quantize_rounding = RoundingMode::kHalfToEven;  // §8: roundWithTiesToEven(x / s)
  p.quantize_by_reciprocal = false;
  p.requant = Requant::kFloat32;                   // §8: P6-like epilogue
  p.scale_math = ScaleMath::kFloat32Product;       // §8: unpublished order (choice)
  p.multiplier_bits = 31;                          // unused by kFloat32
  p.requant_rounding = RoundingMode::kHalfToEven;  // §8
  p.accumulator_bits = 32;
  p.overflow = Overflow::kWrap;
  p.pair_saturation_u8s8 = false;
  p.bias_bits = 0;  // §8: float bias
  p.power_of_two_scales = false;
  p.add = AddScheme::kFloat;           // §8: fused float epilogue
  p.avgpool = AvgPoolScheme::kFloat;   // table 9.1
  p.lut = LutScheme::kFloatRhe;        // table 9.1: fp16/fp32 then rhe quantize
  p.resize = ResizeScheme::kFloatRhe;  // not in numerics.md (choice)
  p.pad_with_zero_point = true;        // z = 0
  return p;
}

struct Builtin {
  const char* name;
  TargetProfile (*make)(const std::string&);
};

constexpr Builtin kBuiltins[] = {
    {"ort-cpu", ort_cpu},
    {"ort-cpu-avx2", ort_cpu_avx2},
    {"tflite-int8", tflite_int8},
    {"tflite-int8-single-rounding", tflite_int8_single_rounding},
    {"tflite-int16x8", tflite_int16x8},
    {"xnnpack-qs8", xnnpack_qs8},
    {"vitis-dpu", vitis_dpu},
    {"tensorrt-int8", tensorrt_int8},
};

// ---------------------------------------------------------------------------------------------
// Checks.

Status field_error(std::string_view field, const std::string& message) {
  return invalid_argument("field '" + std::string(field) + "': " + message);
}

Status check_format(const quant::Format& f, const std::string& field) {
  if (f.bits < 2 || f.bits > 16)
    return field_error(field + ".bits", std::to_string(f.bits) + " is outside 2..16");
  if (f.narrow_range && !f.symmetric)
    return field_error(field + ".narrow_range", "narrow range needs a symmetric format");
  if (f.narrow_scale && !(f.symmetric && f.is_signed))
    return field_error(field + ".narrow_scale", "narrow_scale needs a signed symmetric format");
  if (f.narrow_scale && f.narrow_range)
    return field_error(field + ".narrow_scale",
                       "narrow_scale (absmax / 127 on the full grid) contradicts narrow_range");
  return Status::ok_status();
}

// [qmin, qmax] of a format, as QuantParams computes it.
std::pair<int64_t, int64_t> format_range(const quant::Format& f) {
  const int64_t narrow = f.narrow_range ? 1 : 0;
  if (f.is_signed)
    return {-(int64_t{1} << (f.bits - 1)) + narrow, (int64_t{1} << (f.bits - 1)) - 1};
  return {0, (int64_t{1} << f.bits) - 1 - narrow};
}

// ---------------------------------------------------------------------------------------------
// JSON.

json format_to_json(const quant::Format& f) {
  json o = json::object();
  o["bits"] = f.bits;
  o["signed"] = f.is_signed;
  o["symmetric"] = f.symmetric;
  o["narrow_range"] = f.narrow_range;
  o["narrow_scale"] = f.narrow_scale;
  return o;
}

json scheme_to_json(const quant::Scheme& s) {
  json o = json::object();
  o["activation"] = format_to_json(s.activation);
  o["activation16"] = format_to_json(s.activation16);
  o["weight"] = format_to_json(s.weight);
  o["per_channel_weights"] = s.per_channel_weights;
  o["per_tensor_depthwise"] = s.per_tensor_depthwise;
  o["rounding"] = std::string(rounding_mode_name(s.rounding));
  o["units"] = std::string(name_of(kUnitNames, s.units));
  return o;
}

json to_json(const TargetProfile& p) {
  json o = json::object();
  o["schema"] = kSchema;
  o["name"] = p.name;
  o["description"] = p.description;
  o["scheme"] = scheme_to_json(p.scheme);
  o["quantize_rounding"] = std::string(rounding_mode_name(p.quantize_rounding));
  o["quantize_by_reciprocal"] = p.quantize_by_reciprocal;
  o["requant"] = std::string(requant_name(p.requant));
  o["scale_math"] = std::string(scale_math_name(p.scale_math));
  o["multiplier_bits"] = p.multiplier_bits;
  o["requant_rounding"] = std::string(rounding_mode_name(p.requant_rounding));
  o["accumulator_bits"] = p.accumulator_bits;
  o["overflow"] = std::string(overflow_name(p.overflow));
  o["pair_saturation_u8s8"] = p.pair_saturation_u8s8;
  o["bias_bits"] = p.bias_bits;
  o["power_of_two_scales"] = p.power_of_two_scales;
  o["add"] = std::string(add_scheme_name(p.add));
  o["avgpool"] = std::string(avgpool_scheme_name(p.avgpool));
  o["lut"] = std::string(lut_scheme_name(p.lut));
  o["lut_bits"] = p.lut_bits;
  o["lut_interpolation"] = p.lut_interpolation;
  o["resize"] = std::string(resize_scheme_name(p.resize));
  o["leaky_relu_26_256"] = p.leaky_relu_26_256;
  o["hard_sigmoid_2731"] = p.hard_sigmoid_2731;
  o["sigmoid_as_hard_sigmoid"] = p.sigmoid_as_hard_sigmoid;
  o["silu_as_hard_swish"] = p.silu_as_hard_swish;
  o["pad_with_zero_point"] = p.pad_with_zero_point;
  o["pad_value"] = p.pad_value;
  o["int16_units"] = p.int16_units;
  return o;
}

// Reads the fields of one JSON object into C++ values. `prefix` is the object's path
// ("scheme.activation."); with `require_all` (no base) every field must be present.
class Reader {
 public:
  Reader(const json& o, std::string prefix, bool require_all)
      : o_(o), prefix_(std::move(prefix)), require_all_(require_all) {}

  // Unknown keys are errors.
  Status known(std::initializer_list<const char*> names) const {
    for (const auto& [key, value] : o_.items()) {
      bool ok = false;
      for (const char* n : names) ok = ok || key == n;
      if (!ok) return invalid_argument("unknown field '" + prefix_ + key + "'");
    }
    return Status::ok_status();
  }

  Status boolean(const char* key, bool* out) const {
    const json* v = nullptr;
    QDIFF_RETURN_IF_ERROR(find(key, &v));
    if (v == nullptr) return Status::ok_status();
    if (!v->is_boolean()) return type_error(key, "true or false");
    *out = v->get<bool>();
    return Status::ok_status();
  }

  Status integer(const char* key, int* out) const {
    const json* v = nullptr;
    QDIFF_RETURN_IF_ERROR(find(key, &v));
    if (v == nullptr) return Status::ok_status();
    if (!v->is_number_integer()) return type_error(key, "an integer");
    if (v->is_number_unsigned() ? v->get<uint64_t>() > uint64_t{std::numeric_limits<int>::max()}
                                : (v->get<int64_t>() < std::numeric_limits<int>::min() ||
                                   v->get<int64_t>() > std::numeric_limits<int>::max()))
      return field_error(prefix_ + key, v->dump() + " is out of range");
    *out = static_cast<int>(v->get<int64_t>());
    return Status::ok_status();
  }

  Status string(const char* key, std::string* out) const {
    const json* v = nullptr;
    QDIFF_RETURN_IF_ERROR(find(key, &v));
    if (v == nullptr) return Status::ok_status();
    if (!v->is_string()) return type_error(key, "a string");
    *out = v->get<std::string>();
    return Status::ok_status();
  }

  template <typename E, size_t N>
  Status enumeration(const char* key, const Named<E> (&table)[N], E* out) const {
    std::string text;
    bool present = false;
    QDIFF_RETURN_IF_ERROR(string_present(key, &text, &present));
    if (!present) return Status::ok_status();
    if (!parse_name(table, text, out))
      return field_error(prefix_ + key, "unknown value '" + text + "' (expected one of " +
                                            known_names(table) + ")");
    return Status::ok_status();
  }

  Status rounding(const char* key, RoundingMode* out) const {
    std::string text;
    bool present = false;
    QDIFF_RETURN_IF_ERROR(string_present(key, &text, &present));
    if (!present) return Status::ok_status();
    Result<RoundingMode> m = parse_rounding_mode(text);
    if (!m.ok()) return field_error(prefix_ + key, m.status().message());
    *out = m.value();
    return Status::ok_status();
  }

  // A nested object, or nullptr when it is absent (and allowed to be).
  Status object(const char* key, const json** out) const {
    QDIFF_RETURN_IF_ERROR(find(key, out));
    if (*out != nullptr && !(*out)->is_object()) return type_error(key, "an object");
    return Status::ok_status();
  }

  const std::string& prefix() const { return prefix_; }
  bool require_all() const { return require_all_; }

 private:
  Status find(const char* key, const json** out) const {
    auto it = o_.find(key);
    if (it == o_.end()) {
      *out = nullptr;
      if (require_all_)
        return invalid_argument("missing field '" + prefix_ + key +
                                "' (a profile without \"base\" lists every field)");
      return Status::ok_status();
    }
    *out = &*it;
    return Status::ok_status();
  }

  Status string_present(const char* key, std::string* text, bool* present) const {
    const json* v = nullptr;
    QDIFF_RETURN_IF_ERROR(find(key, &v));
    *present = v != nullptr;
    if (v == nullptr) return Status::ok_status();
    if (!v->is_string()) return type_error(key, "a string");
    *text = v->get<std::string>();
    return Status::ok_status();
  }

  Status type_error(const char* key, const char* expected) const {
    return field_error(prefix_ + key, "must be " + std::string(expected));
  }

  const json& o_;
  std::string prefix_;
  bool require_all_;
};

Status read_format(const Reader& parent, const char* key, quant::Format* f) {
  const json* o = nullptr;
  QDIFF_RETURN_IF_ERROR(parent.object(key, &o));
  if (o == nullptr) return Status::ok_status();
  Reader r(*o, parent.prefix() + key + ".", parent.require_all());
  QDIFF_RETURN_IF_ERROR(r.known({"bits", "signed", "symmetric", "narrow_range", "narrow_scale"}));
  QDIFF_RETURN_IF_ERROR(r.integer("bits", &f->bits));
  QDIFF_RETURN_IF_ERROR(r.boolean("signed", &f->is_signed));
  QDIFF_RETURN_IF_ERROR(r.boolean("symmetric", &f->symmetric));
  QDIFF_RETURN_IF_ERROR(r.boolean("narrow_range", &f->narrow_range));
  QDIFF_RETURN_IF_ERROR(r.boolean("narrow_scale", &f->narrow_scale));
  return Status::ok_status();
}

Status read_scheme(const Reader& parent, quant::Scheme* s) {
  const json* o = nullptr;
  QDIFF_RETURN_IF_ERROR(parent.object("scheme", &o));
  if (o == nullptr) return Status::ok_status();
  Reader r(*o, "scheme.", parent.require_all());
  QDIFF_RETURN_IF_ERROR(r.known({"activation", "activation16", "weight", "per_channel_weights",
                                 "per_tensor_depthwise", "rounding", "units"}));
  QDIFF_RETURN_IF_ERROR(read_format(r, "activation", &s->activation));
  QDIFF_RETURN_IF_ERROR(read_format(r, "activation16", &s->activation16));
  QDIFF_RETURN_IF_ERROR(read_format(r, "weight", &s->weight));
  QDIFF_RETURN_IF_ERROR(r.boolean("per_channel_weights", &s->per_channel_weights));
  QDIFF_RETURN_IF_ERROR(r.boolean("per_tensor_depthwise", &s->per_tensor_depthwise));
  QDIFF_RETURN_IF_ERROR(r.rounding("rounding", &s->rounding));
  QDIFF_RETURN_IF_ERROR(r.enumeration("units", kUnitNames, &s->units));
  return Status::ok_status();
}

Status read_profile(const json& o, TargetProfile* p) {
  const bool has_base = o.contains("base");
  Reader r(o, "", !has_base);
  QDIFF_RETURN_IF_ERROR(r.known({"schema",
                                 "base",
                                 "name",
                                 "description",
                                 "scheme",
                                 "quantize_rounding",
                                 "quantize_by_reciprocal",
                                 "requant",
                                 "scale_math",
                                 "multiplier_bits",
                                 "requant_rounding",
                                 "accumulator_bits",
                                 "overflow",
                                 "pair_saturation_u8s8",
                                 "bias_bits",
                                 "power_of_two_scales",
                                 "add",
                                 "avgpool",
                                 "lut",
                                 "lut_bits",
                                 "lut_interpolation",
                                 "resize",
                                 "leaky_relu_26_256",
                                 "hard_sigmoid_2731",
                                 "sigmoid_as_hard_sigmoid",
                                 "silu_as_hard_swish",
                                 "pad_with_zero_point",
                                 "pad_value",
                                 "int16_units"}));
  // Required with or without a base.
  Reader required(o, "", true);
  std::string schema;
  QDIFF_RETURN_IF_ERROR(required.string("schema", &schema));
  if (schema != kSchema)
    return field_error("schema", "'" + schema + "', expected '" + kSchema + "'");
  TargetProfile base;
  if (has_base) {
    std::string base_name;
    QDIFF_RETURN_IF_ERROR(required.string("base", &base_name));
    Result<TargetProfile> b = builtin_profile(base_name);
    if (!b.ok()) return field_error("base", b.status().message());
    base = std::move(b).value();
  }
  *p = base;
  QDIFF_RETURN_IF_ERROR(required.string("name", &p->name));
  p->scheme.target = p->name;
  QDIFF_RETURN_IF_ERROR(r.string("description", &p->description));
  QDIFF_RETURN_IF_ERROR(read_scheme(r, &p->scheme));
  QDIFF_RETURN_IF_ERROR(r.rounding("quantize_rounding", &p->quantize_rounding));
  QDIFF_RETURN_IF_ERROR(r.boolean("quantize_by_reciprocal", &p->quantize_by_reciprocal));
  QDIFF_RETURN_IF_ERROR(r.enumeration("requant", kRequantNames, &p->requant));
  QDIFF_RETURN_IF_ERROR(r.enumeration("scale_math", kScaleMathNames, &p->scale_math));
  QDIFF_RETURN_IF_ERROR(r.integer("multiplier_bits", &p->multiplier_bits));
  QDIFF_RETURN_IF_ERROR(r.rounding("requant_rounding", &p->requant_rounding));
  QDIFF_RETURN_IF_ERROR(r.integer("accumulator_bits", &p->accumulator_bits));
  QDIFF_RETURN_IF_ERROR(r.enumeration("overflow", kOverflowNames, &p->overflow));
  QDIFF_RETURN_IF_ERROR(r.boolean("pair_saturation_u8s8", &p->pair_saturation_u8s8));
  QDIFF_RETURN_IF_ERROR(r.integer("bias_bits", &p->bias_bits));
  QDIFF_RETURN_IF_ERROR(r.boolean("power_of_two_scales", &p->power_of_two_scales));
  p->scheme.power_of_two_scales = p->power_of_two_scales;  // the planner's copy of the field
  QDIFF_RETURN_IF_ERROR(r.enumeration("add", kAddNames, &p->add));
  QDIFF_RETURN_IF_ERROR(r.enumeration("avgpool", kAvgPoolNames, &p->avgpool));
  QDIFF_RETURN_IF_ERROR(r.enumeration("lut", kLutNames, &p->lut));
  QDIFF_RETURN_IF_ERROR(r.integer("lut_bits", &p->lut_bits));
  QDIFF_RETURN_IF_ERROR(r.boolean("lut_interpolation", &p->lut_interpolation));
  QDIFF_RETURN_IF_ERROR(r.enumeration("resize", kResizeNames, &p->resize));
  QDIFF_RETURN_IF_ERROR(r.boolean("leaky_relu_26_256", &p->leaky_relu_26_256));
  QDIFF_RETURN_IF_ERROR(r.boolean("hard_sigmoid_2731", &p->hard_sigmoid_2731));
  QDIFF_RETURN_IF_ERROR(r.boolean("sigmoid_as_hard_sigmoid", &p->sigmoid_as_hard_sigmoid));
  QDIFF_RETURN_IF_ERROR(r.boolean("silu_as_hard_swish", &p->silu_as_hard_swish));
  QDIFF_RETURN_IF_ERROR(r.boolean("pad_with_zero_point", &p->pad_with_zero_point));
  QDIFF_RETURN_IF_ERROR(r.integer("pad_value", &p->pad_value));
  QDIFF_RETURN_IF_ERROR(r.boolean("int16_units", &p->int16_units));
  if (has_base && !o.contains("description")) {
    // Say what changed, so that a report never shows the base's description for a variant.
    std::vector<std::string> changed = profile_differences(base, *p);
    if (!changed.empty()) {
      std::string list;
      for (const std::string& c : changed) list += (list.empty() ? "" : ", ") + c;
      p->description = base.description + " (" + base.name + " with " + list + " changed)";
    }
  }
  // A built-in's name means that built-in's arithmetic.
  for (const Builtin& b : kBuiltins) {
    if (p->name != b.name) continue;
    TargetProfile builtin = b.make(b.name);
    builtin.description = p->description;
    if (!(builtin == *p))
      return field_error("name", "'" + p->name +
                                     "' is a built-in profile whose fields differ from these; "
                                     "give a modified profile its own name");
  }
  return check_profile(*p);
}

// Flattens a profile's JSON into "path" -> value for field-by-field comparison.
void flatten(const json& o, const std::string& prefix,
             std::vector<std::pair<std::string, json>>* out) {
  for (const auto& [key, value] : o.items()) {
    if (value.is_object())
      flatten(value, prefix + key + ".", out);
    else
      out->emplace_back(prefix + key, value);
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------------

std::string_view requant_name(Requant v) {
  return name_of(kRequantNames, v);
}
std::string_view scale_math_name(ScaleMath v) {
  return name_of(kScaleMathNames, v);
}
std::string_view overflow_name(Overflow v) {
  return name_of(kOverflowNames, v);
}
std::string_view add_scheme_name(AddScheme v) {
  return name_of(kAddNames, v);
}
std::string_view avgpool_scheme_name(AvgPoolScheme v) {
  return name_of(kAvgPoolNames, v);
}
std::string_view lut_scheme_name(LutScheme v) {
  return name_of(kLutNames, v);
}
std::string_view resize_scheme_name(ResizeScheme v) {
  return name_of(kResizeNames, v);
}

Result<TargetProfile> builtin_profile(std::string_view name) {
  for (const Builtin& b : kBuiltins)
    if (name == b.name) return b.make(b.name);
  std::string names;
  for (const Builtin& b : kBuiltins) names += (names.empty() ? "" : ", ") + std::string(b.name);
  return invalid_argument("unknown target profile '" + std::string(name) +
                          "' (built-ins: " + names + ")");
}

std::vector<std::string> builtin_profile_names() {
  std::vector<std::string> out;
  for (const Builtin& b : kBuiltins) out.emplace_back(b.name);
  return out;
}

Status check_profile(const TargetProfile& p) {
  if (p.name.empty()) return field_error("name", "must not be empty");
  if (p.scheme.target != p.name)
    return field_error("scheme.target",
                       "'" + p.scheme.target + "' differs from the name '" + p.name + "'");
  QDIFF_RETURN_IF_ERROR(check_format(p.scheme.activation, "scheme.activation"));
  QDIFF_RETURN_IF_ERROR(check_format(p.scheme.activation16, "scheme.activation16"));
  QDIFF_RETURN_IF_ERROR(check_format(p.scheme.weight, "scheme.weight"));
  if (p.scheme.activation16.bits != 16)
    return field_error("scheme.activation16.bits",
                       std::to_string(p.scheme.activation16.bits) +
                           ": the format of int16 nodes' activations must have 16 bits");
  if (p.multiplier_bits < 8 || p.multiplier_bits > 31)
    return field_error("multiplier_bits", std::to_string(p.multiplier_bits) + " is outside 8..31");
  if (p.requant == Requant::kRndnu && p.multiplier_bits > 24)
    return field_error("multiplier_bits",
                       std::to_string(p.multiplier_bits) +
                           " bits cannot be represented by rndnu, whose multiplier is the float "
                           "scale's 24-bit mantissa");
  if (p.accumulator_bits < 16 || p.accumulator_bits > 64)
    return field_error("accumulator_bits",
                       std::to_string(p.accumulator_bits) + " is outside 16..64");
  if (p.bias_bits != 0 && p.bias_bits != 8 && p.bias_bits != 16 && p.bias_bits != 32 &&
      p.bias_bits != 64)
    return field_error(
        "bias_bits", std::to_string(p.bias_bits) + " is not one of 0 (float bias), 8, 16, 32, 64");
  if (p.bias_bits > p.accumulator_bits)
    return field_error("bias_bits", std::to_string(p.bias_bits) + "-bit bias does not fit the " +
                                        std::to_string(p.accumulator_bits) + "-bit accumulator");
  if (p.requant == Requant::kPowerOfTwo && !p.power_of_two_scales)
    return field_error("requant", "power_of_two requantization (shifts) needs power_of_two_scales");
  if (p.add == AddScheme::kAlignShift && !p.power_of_two_scales)
    return field_error("add", "align_shift (alignment by shifts) needs power_of_two_scales");
  if (p.lut_bits < 0 || p.lut_bits > 15)
    return field_error("lut_bits", std::to_string(p.lut_bits) +
                                       " is outside 0..15 (0 = one entry per input value)");
  if (p.pair_saturation_u8s8) {
    const quant::Format& a = p.scheme.activation;
    const quant::Format& w = p.scheme.weight;
    if (a.is_signed || a.bits != 8)
      return field_error("pair_saturation_u8s8",
                         "the u8 x s8 pair saturation needs unsigned 8-bit activations "
                         "(scheme.activation is " +
                             std::string(a.is_signed ? "signed " : "unsigned ") +
                             std::to_string(a.bits) + "-bit)");
    if (!w.is_signed || w.bits != 8)
      return field_error("pair_saturation_u8s8",
                         "the u8 x s8 pair saturation needs signed 8-bit weights");
  }
  if (p.pad_with_zero_point) {
    if (p.pad_value != 0)
      return field_error("pad_value", std::to_string(p.pad_value) +
                                          " is ignored while pad_with_zero_point is true; set "
                                          "pad_with_zero_point to false or pad_value to 0");
  } else {
    const auto [lo, hi] = format_range(p.scheme.activation);
    if (p.pad_value < lo || p.pad_value > hi)
      return field_error("pad_value", std::to_string(p.pad_value) +
                                          " is outside the activation range [" +
                                          std::to_string(lo) + ", " + std::to_string(hi) + "]");
  }
  return Status::ok_status();
}

std::vector<std::string> profile_differences(const TargetProfile& a, const TargetProfile& b) {
  std::vector<std::pair<std::string, json>> fa, fb;
  flatten(to_json(a), "", &fa);
  flatten(to_json(b), "", &fb);
  QDIFF_ASSERT(fa.size() == fb.size(), "profile JSON shapes differ");
  std::vector<std::string> out;
  for (size_t i = 0; i < fa.size(); ++i) {
    QDIFF_ASSERT(fa[i].first == fb[i].first, "profile JSON orders differ");
    if (fa[i].first == "name" || fa[i].first == "description") continue;
    if (fa[i].second != fb[i].second) out.push_back(fa[i].first);
  }
  return out;
}

Result<TargetProfile> profile_from_json(std::string_view text, const std::string& what) {
  json o;
  try {
    o = json::parse(text);
  } catch (const json::parse_error& e) {
    return invalid_argument(what + ": not valid JSON: " + e.what());
  }
  if (!o.is_object()) return invalid_argument(what + ": a target profile must be a JSON object");
  TargetProfile p;
  Status s = read_profile(o, &p);
  if (!s.ok()) return invalid_argument(what + ": " + s.message());
  return p;
}

std::string profile_to_json(const TargetProfile& profile) {
  return to_json(profile).dump(1) + "\n";
}

Result<TargetProfile> load_profile(std::string_view name_or_path) {
  for (const Builtin& b : kBuiltins)
    if (name_or_path == b.name) return b.make(b.name);
  const std::string path(name_or_path);
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::string names;
    for (const Builtin& b : kBuiltins) names += (names.empty() ? "" : ", ") + std::string(b.name);
    return io_error("target '" + path + "' is neither a built-in profile (" + names +
                    ") nor a readable profile file");
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  return profile_from_json(ss.str(), path);
}

}  // namespace qdiff::targets
