#include "encodings/encodings.h"

#include <algorithm>
#include <cctype>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>
#include <string_view>
#include <utility>

#include "runtime/model_info.h"

namespace qdiff::encodings {
namespace {

using nlohmann::json;

// ---------------------------------------------------------------------------------------------
// JSON text

// Python's json module writes non-finite floats as the bare tokens NaN, Infinity and -Infinity,
// which are not JSON. Turns them (outside strings) into the strings "NaN", "Infinity" and
// "-Infinity" so that the file parses and the number readers below report the field by name.
std::string quote_non_finite_tokens(const std::string& text) {
  std::string out;
  out.reserve(text.size() + 16);
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      out += c;
      if (c == '\\' && i + 1 < text.size()) {
        out += text[++i];
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
      out += c;
      continue;
    }
    bool replaced = false;
    for (const char* token : {"-Infinity", "Infinity", "NaN"}) {
      const std::string t(token);
      if (text.compare(i, t.size(), t) == 0) {
        const size_t end = i + t.size();
        const bool word_end =
            end >= text.size() || !std::isalnum(static_cast<unsigned char>(text[end]));
        if (word_end) {
          out += '"' + t + '"';
          i = end - 1;
          replaced = true;
          break;
        }
      }
    }
    if (!replaced) out += c;
  }
  return out;
}

Result<json> parse_json(const std::string& text, const std::string& what) {
  try {
    return json::parse(text);
  } catch (const json::parse_error& first) {
    try {
      return json::parse(quote_non_finite_tokens(text));
    } catch (const json::parse_error&) {
      return invalid_argument(what + ": not valid JSON: " + first.what());
    }
  }
}

// A number, or one of the strings quote_non_finite_tokens() makes (read as NaN / +-inf so the
// caller's range check names the field).
Result<double> read_number(const json& v, const std::string& where, const char* field) {
  if (v.is_number()) return v.get<double>();
  if (v.is_string()) {
    const std::string s = v.get<std::string>();
    if (s == "NaN") return std::nan("");
    if (s == "Infinity") return HUGE_VAL;
    if (s == "-Infinity") return -HUGE_VAL;
  }
  return invalid_argument(where + ": '" + field + "' must be a number");
}

std::string number_text(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  std::ostringstream ss;
  ss.precision(9);
  ss << v;
  return ss.str();
}

Result<float> read_scale(const json& v, const std::string& where) {
  QDIFF_ASSIGN_OR_RETURN(double s, read_number(v, where, "scale"));
  // (Range-checked before the conversion: a double beyond FLT_MAX does not convert.)
  const bool in_range = std::isfinite(s) && s > 0.0 && s <= static_cast<double>(FLT_MAX);
  const float f = in_range ? static_cast<float>(s) : 0.0f;
  if (!in_range || !(f > 0.0f) || !std::isfinite(f))
    return invalid_argument(where + ": scale " + number_text(s) +
                            " must be positive and finite (in float32)");
  return f;
}

Result<int64_t> read_offset(const json& v, const std::string& where) {
  QDIFF_ASSIGN_OR_RETURN(double o, read_number(v, where, "offset"));
  if (!std::isfinite(o) || o != std::floor(o) || std::fabs(o) > 4294967296.0)
    return invalid_argument(where + ": offset " + number_text(o) +
                            " must be an integer (a 32-bit zero point, negated)");
  return static_cast<int64_t>(o);
}

Result<int> read_bitwidth(const json& v, const std::string& where, const char* field) {
  if (!v.is_number_integer() && !(v.is_number() && v.get<double>() == std::floor(v.get<double>())))
    return invalid_argument(where + ": '" + field + "' must be an integer");
  const double b = v.get<double>();
  if (b < 1 || b > 64)
    return invalid_argument(where + ": bitwidth " + number_text(b) +
                            " is out of range (qdiff reads 2..16 bits, and 32 for biases)");
  return static_cast<int>(b);
}

// "True"/"False" (0.x), or a JSON bool (1.0.0; some writers use the strings there too).
Result<bool> read_bool(const json& v, const std::string& where, const char* field) {
  if (v.is_boolean()) return v.get<bool>();
  if (v.is_string()) {
    const std::string s = v.get<std::string>();
    if (s == "True" || s == "true") return true;
    if (s == "False" || s == "false") return false;
  }
  return invalid_argument(where + ": '" + field + "' must be \"True\" or \"False\" (or a bool)");
}

const json* field(const json& o, const char* key) {
  auto it = o.find(key);
  return it == o.end() ? nullptr : &*it;
}

Result<const json*> required(const json& o, const char* key, const std::string& where) {
  const json* v = field(o, key);
  if (!v) return invalid_argument(where + ": missing field '" + key + "'");
  return v;
}

// ---------------------------------------------------------------------------------------------
// One tensor's encoding as read from the file, before it meets the graph.

enum class Section : uint8_t { kActivation, kParam };

const char* section_name(Section s) {
  return s == Section::kActivation ? "activation_encodings" : "param_encodings";
}

struct FileEncoding {
  std::string name;
  Section section = Section::kActivation;
  bool is_float = false;  // dtype float: not quantized
  int bitwidth = 8;
  bool is_sym = false;
  bool per_channel = false;  // 0.x: more than one entry; 1.0.0: PER_CHANNEL
  std::vector<float> scales;
  std::vector<int64_t> offsets;
  std::vector<std::optional<double>> mins, maxs;  // 0.x only
  std::string where;                              // "E.json: param_encodings tensor 'w'"
};

// One 0.x enc object: entry `c` of the tensor's list; `where` names it.
Status read_enc_0x(const json& e, FileEncoding& f, size_t c, const std::string& where) {
  if (!e.is_object()) return invalid_argument(where + ": an encoding must be a JSON object");
  bool is_float = false;
  if (const json* d = field(e, "dtype")) {
    if (!d->is_string()) return invalid_argument(where + ": 'dtype' must be \"int\" or \"float\"");
    const std::string s = d->get<std::string>();
    if (s == "float" || s == "FLOAT") {
      is_float = true;
    } else if (s != "int" && s != "INT") {
      return invalid_argument(where + ": dtype '" + s + "' is not \"int\" or \"float\"");
    }
  }
  QDIFF_ASSIGN_OR_RETURN(const json* bw, required(e, "bitwidth", where));
  QDIFF_ASSIGN_OR_RETURN(int bits, read_bitwidth(*bw, where, "bitwidth"));
  if (c == 0) {
    f.is_float = is_float;
    f.bitwidth = bits;
  } else if (is_float != f.is_float || bits != f.bitwidth) {
    return invalid_argument(where + ": per-channel entries disagree on dtype or bitwidth");
  }
  if (is_float) return Status::ok_status();
  QDIFF_ASSIGN_OR_RETURN(const json* sym, required(e, "is_symmetric", where));
  QDIFF_ASSIGN_OR_RETURN(bool is_sym, read_bool(*sym, where, "is_symmetric"));
  if (c == 0) {
    f.is_sym = is_sym;
  } else if (is_sym != f.is_sym) {
    return invalid_argument(where + ": per-channel entries disagree on is_symmetric");
  }
  QDIFF_ASSIGN_OR_RETURN(const json* scale, required(e, "scale", where));
  QDIFF_ASSIGN_OR_RETURN(float s, read_scale(*scale, where));
  QDIFF_ASSIGN_OR_RETURN(const json* offset, required(e, "offset", where));
  QDIFF_ASSIGN_OR_RETURN(int64_t o, read_offset(*offset, where));
  f.scales.push_back(s);
  f.offsets.push_back(o);
  for (auto [key, out] : {std::pair{"min", &f.mins}, std::pair{"max", &f.maxs}}) {
    std::optional<double> v;
    if (const json* m = field(e, key)) {
      QDIFF_ASSIGN_OR_RETURN(double d, read_number(*m, where, key));
      v = d;
    }
    out->push_back(v);
  }
  return Status::ok_status();
}

Status read_sections_0x(const json& root, const std::string& what, std::vector<FileEncoding>& out) {
  for (Section sec : {Section::kActivation, Section::kParam}) {
    const json* s = field(root, section_name(sec));
    if (!s) continue;
    if (!s->is_object())
      return invalid_argument(what + ": '" + section_name(sec) +
                              "' must be an object {tensor name: [encoding, ...]} in this version");
    for (const auto& [name, value] : s->items()) {
      FileEncoding f;
      f.name = name;
      f.section = sec;
      f.where = what + ": " + section_name(sec) + " tensor '" + name + "'";
      if (value.is_object())
        return unsupported(
            f.where +
            ": the value is an object, not a list of encodings: this is the layer-keyed format "
            "({\"input\": {\"0\": ...}, \"output\": {\"0\": ...}}) that aimet_torch writes with "
            "PyTorch module names (*_torch.encodings); qdiff reads the encodings file exported "
            "with the ONNX model, keyed by ONNX tensor names");
      if (!value.is_array() || value.empty())
        return invalid_argument(f.where + ": expected a non-empty list of encodings");
      for (size_t c = 0; c < value.size(); ++c) {
        const std::string where =
            value.size() == 1 ? f.where : f.where + " entry " + std::to_string(c);
        QDIFF_RETURN_IF_ERROR(read_enc_0x(value[c], f, c, where));
      }
      f.per_channel = !f.is_float && f.scales.size() > 1;
      out.push_back(std::move(f));
    }
  }
  return Status::ok_status();
}

Status read_sections_1_0_0(const json& root, const std::string& what,
                           std::vector<FileEncoding>& out) {
  for (Section sec : {Section::kActivation, Section::kParam}) {
    const json* s = field(root, section_name(sec));
    if (!s) continue;
    if (!s->is_array())
      return invalid_argument(what + ": '" + section_name(sec) +
                              "' must be a list of encodings in version 1.0.0");
    for (size_t i = 0; i < s->size(); ++i) {
      const json& e = (*s)[i];
      const std::string at = what + ": " + section_name(sec) + "[" + std::to_string(i) + "]";
      if (!e.is_object()) return invalid_argument(at + ": an encoding must be a JSON object");
      QDIFF_ASSIGN_OR_RETURN(const json* name, required(e, "name", at));
      if (!name->is_string()) return invalid_argument(at + ": 'name' must be a string");
      FileEncoding f;
      f.name = name->get<std::string>();
      f.section = sec;
      f.where = what + ": " + section_name(sec) + " tensor '" + f.name + "'";
      QDIFF_ASSIGN_OR_RETURN(const json* dtype, required(e, "dtype", f.where));
      const std::string dt = dtype->is_string() ? dtype->get<std::string>() : "";
      if (dt == "FLOAT" || dt == "float") {
        f.is_float = true;
      } else if (dt != "INT" && dt != "int") {
        return invalid_argument(f.where + ": 'dtype' must be \"INT\" or \"FLOAT\"");
      }
      QDIFF_ASSIGN_OR_RETURN(const json* bw, required(e, "bw", f.where));
      QDIFF_ASSIGN_OR_RETURN(f.bitwidth, read_bitwidth(*bw, f.where, "bw"));
      if (f.is_float) {
        out.push_back(std::move(f));
        continue;
      }
      QDIFF_ASSIGN_OR_RETURN(const json* enc_type, required(e, "enc_type", f.where));
      const std::string et = enc_type->is_string() ? enc_type->get<std::string>() : "";
      if (et == "PER_CHANNEL") {
        f.per_channel = true;
      } else if (et == "PER_BLOCK" || et == "LPBQ" || et == "VECTOR") {
        return unsupported(f.where + ": enc_type " + et +
                           " (block-wise quantization) is not supported; qdiff reads PER_TENSOR "
                           "and PER_CHANNEL encodings");
      } else if (et != "PER_TENSOR") {
        return invalid_argument(f.where +
                                ": 'enc_type' must be PER_TENSOR, PER_CHANNEL, PER_BLOCK or LPBQ");
      }
      if (field(e, "per_block_int_scale"))
        return unsupported(f.where + ": LPBQ encodings (per_block_int_scale) are not supported");
      QDIFF_ASSIGN_OR_RETURN(const json* sym, required(e, "is_sym", f.where));
      QDIFF_ASSIGN_OR_RETURN(f.is_sym, read_bool(*sym, f.where, "is_sym"));
      QDIFF_ASSIGN_OR_RETURN(const json* scale, required(e, "scale", f.where));
      QDIFF_ASSIGN_OR_RETURN(const json* offset, required(e, "offset", f.where));
      if (!scale->is_array() || !offset->is_array() || scale->empty())
        return invalid_argument(f.where + ": 'scale' and 'offset' must be non-empty lists");
      if (scale->size() != offset->size())
        return invalid_argument(f.where + ": " + std::to_string(scale->size()) + " scales but " +
                                std::to_string(offset->size()) + " offsets");
      if (!f.per_channel && scale->size() != 1)
        return invalid_argument(f.where + ": a PER_TENSOR encoding has one scale, this one has " +
                                std::to_string(scale->size()));
      for (size_t c = 0; c < scale->size(); ++c) {
        const std::string wc =
            scale->size() == 1 ? f.where : f.where + " channel " + std::to_string(c);
        QDIFF_ASSIGN_OR_RETURN(float sc, read_scale((*scale)[c], wc));
        QDIFF_ASSIGN_OR_RETURN(int64_t of, read_offset((*offset)[c], wc));
        f.scales.push_back(sc);
        f.offsets.push_back(of);
        f.mins.emplace_back();
        f.maxs.emplace_back();
      }
      if (const json* shift = field(e, "zero_point_shift")) {
        bool nonzero = false;
        if (shift->is_array()) {
          for (const json& v : *shift)
            nonzero = nonzero || !v.is_number() || v.get<double>() != 0.0;
        } else {
          nonzero = !shift->is_number() || shift->get<double>() != 0.0;
        }
        if (nonzero)
          return unsupported(f.where +
                             ": a non-zero zero_point_shift (fractional offset) is "
                             "not supported");
      }
      out.push_back(std::move(f));
    }
  }
  return Status::ok_status();
}

// ---------------------------------------------------------------------------------------------
// The graph side

struct Use {
  const ir::Node* node;
  size_t input;
};

std::map<ir::ValueId, std::vector<Use>> consumers(const ir::Graph& g) {
  std::map<ir::ValueId, std::vector<Use>> uses;
  for (const ir::Node& n : g.nodes())
    for (size_t i = 0; i < n.inputs.size(); ++i)
      if (n.inputs[i] != ir::kNoValue) uses[n.inputs[i]].push_back({&n, i});
  return uses;
}

bool has_bias_input(const ir::Node& n) {
  return n.kind == ir::OpKind::kConv || n.kind == ir::OpKind::kConvTranspose ||
         n.kind == ir::OpKind::kGemm;
}

bool read_as_bias(const std::vector<Use>& uses) {
  for (const Use& u : uses)
    if (u.input == 2 && has_bias_input(*u.node)) return true;
  return false;
}

// The output-channel axis AIMET quantizes a constant of `rank` dims along (aimet_onnx
// quantsim._get_quantization_axes; 1-D constants along 0). nullopt: none or ambiguous; `why`
// says which.
std::optional<int> output_channel_axis(const std::vector<Use>& uses, int64_t rank,
                                       std::string* why) {
  if (rank == 1) return 0;
  if (rank < 1) {
    *why = "a scalar has no channels";
    return std::nullopt;
  }
  std::set<int> axes;
  for (const Use& u : uses) {
    const ir::Node& n = *u.node;
    if (!n.kind) continue;
    if (u.input == 1 && n.kind == ir::OpKind::kConv) axes.insert(0);
    if (u.input == 1 && n.kind == ir::OpKind::kConvTranspose) axes.insert(1);
    if (u.input == 1 && n.kind == ir::OpKind::kGemm)
      axes.insert(n.attributes.get_int("transB", 0).value_or(0) ? 0 : 1);
    if (u.input == 1 && n.kind == ir::OpKind::kMatMul) axes.insert(static_cast<int>(rank - 1));
    if (u.input == 2 && n.kind == ir::OpKind::kGemm) axes.insert(static_cast<int>(rank - 1));
  }
  if (axes.size() == 1) return *axes.begin();
  *why = axes.empty() ? "it is not the weight of a Conv, ConvTranspose, Gemm or MatMul, so its "
                        "channel axis is unknown"
                      : "its readers quantize it along different axes";
  return std::nullopt;
}

std::string missing_tensor_message(const std::string& where, const ir::Graph& g,
                                   const std::string& name) {
  std::string msg = where +
                    ": the model has no tensor of that name (encodings must name the ONNX "
                    "model's tensors: use the model exported together with the encodings)";
  // A hint when a tensor name merely differs by a prefix/suffix (e.g. "conv1.weight" vs
  // "model.conv1.weight").
  for (const ir::Value& v : g.values()) {
    if (v.name.empty() || v.name == name) continue;
    // `longer` ends with `shorter` right after a separator.
    auto ends_with_part = [](const std::string& longer, const std::string& shorter) {
      if (longer.size() <= shorter.size()) return false;
      const size_t at = longer.size() - shorter.size();
      return longer.compare(at, shorter.size(), shorter) == 0 &&
             std::string_view("./:_").find(longer[at - 1]) != std::string_view::npos;
    };
    if (ends_with_part(v.name, name) || ends_with_part(name, v.name))
      return msg + "; did you mean '" + v.name + "'?";
  }
  return msg;
}

// ---------------------------------------------------------------------------------------------
// (bw, is_sym, offset) <-> QuantParams: see the table in encodings.h.

struct ChannelFormat {
  bool is_signed;
  bool narrow;
  int64_t zp;
};

ChannelFormat channel_format(int bits, bool is_sym, int64_t offset, std::optional<double> max,
                             float scale) {
  const int64_t half = int64_t{1} << (bits - 1);
  if (!is_sym) return {false, false, -offset};
  if (offset == 0) return {false, false, 0};  // AIMET's unsigned symmetric
  if (offset == -half + 1) {                  // AIMET's strict symmetric
    bool narrow = true;
    if (max) {
      const double s = scale;
      const double full = s * static_cast<double>(offset + 2 * half - 1);
      const double nar = s * static_cast<double>(offset + 2 * half - 2);
      narrow = std::fabs(*max - nar) <= std::fabs(*max - full);
    }
    if (narrow) return {true, true, 0};
  }
  return {true, false, -(offset + half)};
}

Result<quant::TensorPlan> to_tensor_plan(const FileEncoding& f, quant::Role role, int axis,
                                         std::vector<std::string>* notes) {
  const int bits = f.bitwidth;
  if (role == quant::Role::kBias) {
    if (bits != 32)
      return unsupported(f.where + ": a bias encoding of " + std::to_string(bits) +
                         " bits; qdiff quantizes biases to int32 (bitwidth 32)");
  } else if (bits == 32) {
    return unsupported(f.where +
                       ": 32-bit encodings are only supported on biases (input 2 of "
                       "Conv/ConvTranspose/Gemm)");
  }
  if (bits < 2 || (bits > 16 && bits != 32))
    return invalid_argument(f.where + ": bitwidth " + std::to_string(bits) +
                            " is out of range (qdiff reads 2..16 bits, and 32 for biases)");
  quant::TensorPlan t;
  t.name = f.name;
  t.role = role;
  t.rounding = RoundingMode::kHalfToEven;
  t.source = "encodings";
  QuantParams& p = t.params;
  p.bits = bits;
  p.axis = axis;
  bool minmax_disagree = false;
  for (size_t c = 0; c < f.scales.size(); ++c) {
    const ChannelFormat cf = channel_format(bits, f.is_sym, f.offsets[c], f.maxs[c], f.scales[c]);
    if (c == 0) {
      p.is_signed = cf.is_signed;
      p.narrow_range = cf.narrow;
    } else if (cf.is_signed != p.is_signed || cf.narrow != p.narrow_range) {
      return unsupported(f.where + ": channel " + std::to_string(c) + " (offset " +
                         std::to_string(f.offsets[c]) +
                         ") uses another integer format than channel 0 (offset " +
                         std::to_string(f.offsets[0]) + ")");
    }
    const int64_t lo = p.is_signed ? -(int64_t{1} << (bits - 1)) : 0;
    const int64_t hi = p.is_signed ? (int64_t{1} << (bits - 1)) - 1 : (int64_t{1} << bits) - 1;
    if (cf.zp < lo || cf.zp > hi)
      return unsupported(f.where + (f.scales.size() > 1 ? " channel " + std::to_string(c) : "") +
                         ": offset " + std::to_string(f.offsets[c]) +
                         " puts the real value 0 outside the " + std::to_string(bits) +
                         "-bit grid; qdiff needs the zero point inside it");
    p.scales.push_back(f.scales[c]);
    p.zero_points.push_back(static_cast<int32_t>(cf.zp));
    // min = S * O, max = S * (O + steps): a file whose min/max say otherwise was edited or
    // written by another tool; scale and offset are what runtimes use.
    const double s = f.scales[c];
    const double steps = static_cast<double>((int64_t{1} << bits) - (cf.narrow ? 2 : 1));
    const double o = static_cast<double>(f.offsets[c]);
    const double emin = s * o;
    const double emax = s * (o + steps);
    // Half a step, plus float32 rounding of large bounds (AIMET computes them in float32).
    auto off = [&](const std::optional<double>& got, double want) {
      return got && !(std::fabs(*got - want) <= s / 2 + 1e-6 * std::fabs(want));
    };
    if (off(f.mins[c], emin) || off(f.maxs[c], emax)) minmax_disagree = true;
  }
  if (bits <= 31) {
    const int32_t mid = p.is_signed ? 0 : static_cast<int32_t>(int64_t{1} << (bits - 1));
    p.symmetric = p.narrow_range || std::all_of(p.zero_points.begin(), p.zero_points.end(),
                                                [&](int32_t z) { return z == mid; });
  } else {
    p.symmetric = p.is_signed && std::all_of(p.zero_points.begin(), p.zero_points.end(),
                                             [](int32_t z) { return z == 0; });
  }
  if (role == quant::Role::kBias && (!p.is_signed || !p.symmetric))
    return unsupported(f.where +
                       ": a bias encoding must be signed with zero point 0 (is_symmetric "
                       "True, offset -2147483648)");
  if (minmax_disagree && notes)
    notes->push_back(f.where + ": min/max disagree with scale/offset; qdiff uses scale and offset");
  Status s = p.validate();
  if (!s.ok()) return invalid_argument(f.where + ": " + s.message());
  return t;
}

// ---------------------------------------------------------------------------------------------
// Export helpers

struct ExportChannel {
  bool is_sym;
  int64_t offset;
  int64_t steps;  // 2^B - 1, or 2^B - 2 for the narrow (strict symmetric) grid
};

ExportChannel export_channel(const QuantParams& p, size_t c) {
  const int bits = p.bits;
  const int64_t half = int64_t{1} << (bits - 1);
  const int64_t full = bits == 32 ? INT64_C(4294967295) : (int64_t{1} << bits) - 1;
  const int64_t zp = p.zero_points[c];
  if (p.narrow_range)
    return {true, -half + 1, full - 1};  // signed [-h+1, h-1] or unsigned [1, 2h-1]
  if (p.is_signed && zp == 0) return {true, -half, full};
  if (p.is_signed) return {false, -(zp + half), full};
  return {false, -zp, full};
}

}  // namespace

Result<quant::QuantPlan> import_encodings(const std::string& json_text,
                                          const std::string& display_name,
                                          const ir::Graph& float_graph,
                                          std::vector<std::string>* notes,
                                          std::vector<std::string>* float_tensors) {
  const std::string& what = display_name;
  QDIFF_ASSIGN_OR_RETURN(json root, parse_json(json_text, what));
  if (!root.is_object())
    return invalid_argument(what +
                            ": an encodings file must be a JSON object with "
                            "'activation_encodings' and 'param_encodings'");
  std::string version = "0.4.0";
  if (const json* v = field(root, "version")) {
    if (!v->is_string()) return invalid_argument(what + ": 'version' must be a string");
    version = v->get<std::string>();
  } else if (notes) {
    notes->push_back(what + ": no 'version': read as AIMET's 0.4.0 format");
  }
  std::vector<FileEncoding> encs;
  const bool v0 =
      version == "0.4.0" || version == "0.5.0" || version == "0.6.0" || version == "0.6.1";
  if (!v0 && version != "1.0.0") {
    if (!version.empty() && version[0] == '2')
      return unsupported(what + ": encodings version '" + version +
                         "' is not supported (qdiff reads 0.4.0, 0.5.0, 0.6.1 and 1.0.0; AIMET "
                         "exports 1.0.0 with QuantizationSimModel.export(..., "
                         "encoding_version=\"1.0.0\"))");
    return invalid_argument(what + ": unknown encodings version '" + version +
                            "' (qdiff reads 0.4.0, 0.5.0, 0.6.1 and 1.0.0)");
  }
  if (!field(root, "activation_encodings") && !field(root, "param_encodings"))
    return invalid_argument(what +
                            ": neither 'activation_encodings' nor 'param_encodings' is "
                            "present: not an AIMET encodings file");
  QDIFF_RETURN_IF_ERROR(v0 ? read_sections_0x(root, what, encs)
                           : read_sections_1_0_0(root, what, encs));

  const auto uses = consumers(float_graph);
  static const std::vector<Use> kNoUses;
  std::map<ir::ValueId, quant::TensorPlan> planned;
  std::set<std::string> seen;
  for (const FileEncoding& f : encs) {
    if (!seen.insert(f.name).second)
      return invalid_argument(f.where + ": the tensor has more than one encoding in the file");
    const auto id = float_graph.find_value(f.name);
    if (!id) return invalid_argument(missing_tensor_message(f.where, float_graph, f.name));
    if (f.is_float) {
      if (float_tensors) float_tensors->push_back(f.name);
      if (notes)
        notes->push_back(f.where + ": dtype float (" + std::to_string(f.bitwidth) +
                         " bits): not quantized, kept float");
      continue;
    }
    const ir::Value& v = float_graph.value(*id);
    const std::optional<Tensor> constant = runtime::constant_value(float_graph, *id);
    auto uit = uses.find(*id);
    const std::vector<Use>& u = uit == uses.end() ? kNoUses : uit->second;
    quant::Role role = quant::Role::kActivation;
    if (f.section == Section::kParam) {
      if (constant) {
        role = read_as_bias(u) ? quant::Role::kBias : quant::Role::kWeight;
      } else if (notes) {
        notes->push_back(f.where + ": not a constant of the model: quantized as an activation");
      }
    } else if (v.initializer) {
      role = read_as_bias(u) ? quant::Role::kBias : quant::Role::kWeight;
      if (notes)
        notes->push_back(f.where + ": an initializer: quantized as a " +
                         std::string(quant::role_name(role)));
    }
    int axis = -1;
    if (f.per_channel) {
      if (role == quant::Role::kActivation || !constant)
        return unsupported(f.where +
                           ": per-channel encodings are only supported on constants "
                           "(weights and biases)");
      std::string why;
      const std::optional<int> a = output_channel_axis(u, constant->rank(), &why);
      if (!a)
        return unsupported(f.where + ": cannot place " + std::to_string(f.scales.size()) +
                           " per-channel encodings: " + why);
      const int64_t channels = constant->dim(*a);
      if (channels != static_cast<int64_t>(f.scales.size()))
        return invalid_argument(f.where + ": " + std::to_string(f.scales.size()) +
                                " per-channel encodings, but the tensor has " +
                                std::to_string(channels) +
                                " channels along its output-channel axis " + std::to_string(*a) +
                                " (shape " + shape_to_string(constant->shape()) + ")");
      axis = *a;
    }
    QDIFF_ASSIGN_OR_RETURN(quant::TensorPlan t, to_tensor_plan(f, role, axis, notes));
    planned.emplace(*id, std::move(t));
  }

  // Biases AIMET left to the converter: float here, and said so.
  for (const ir::Node& n : float_graph.nodes()) {
    if (!has_bias_input(n) || n.inputs.size() < 3 || n.inputs[2] == ir::kNoValue) continue;
    if (!planned.count(n.inputs[1]) || planned.count(n.inputs[2])) continue;
    if (!runtime::constant_value(float_graph, n.inputs[2])) continue;
    if (notes)
      notes->push_back(what + ": bias '" + float_graph.value(n.inputs[2]).name + "' of " +
                       n.describe() +
                       " has no encoding: left float (a target derives an int32 bias with scale "
                       "s_in * s_w)");
  }
  if (const json* ex = field(root, "excluded_layers")) {
    if (!ex->is_array()) return invalid_argument(what + ": 'excluded_layers' must be a list");
    std::string names;
    for (const json& e : *ex) {
      if (!e.is_string()) return invalid_argument(what + ": 'excluded_layers' must hold names");
      names += (names.empty() ? "" : ", ") + e.get<std::string>();
    }
    if (!ex->empty() && notes)
      notes->push_back(what + ": excluded_layers (left float by AIMET): " + names);
  }

  quant::QuantPlan plan;
  plan.origin = "encodings " + display_name;
  for (auto& [id, t] : planned) plan.tensors.push_back(std::move(t));
  Status s = quant::check_plan(plan, float_graph);
  if (!s.ok()) return Status(s.code(), what + ": " + s.message());
  return plan;
}

Result<quant::QuantPlan> load_encodings(const std::filesystem::path& path,
                                        const ir::Graph& float_graph,
                                        std::vector<std::string>* notes,
                                        std::vector<std::string>* float_tensors) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return io_error(path.string() + ": cannot open the encodings file");
  std::stringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return io_error(path.string() + ": read failed");
  return import_encodings(ss.str(), path.string(), float_graph, notes, float_tensors);
}

Result<std::string> export_encodings(const quant::QuantPlan& plan, const ir::Graph& float_graph,
                                     EncodingsVersion version) {
  Status s = quant::check_plan(plan, float_graph);
  if (!s.ok()) return Status(s.code(), "cannot export encodings: " + s.message());
  const auto uses = consumers(float_graph);
  static const std::vector<Use> kNoUses;
  // Graph order, as import_encodings produces.
  std::vector<std::pair<ir::ValueId, const quant::TensorPlan*>> order;
  for (const quant::TensorPlan& t : plan.tensors)
    order.emplace_back(*float_graph.find_value(t.name), &t);
  std::sort(order.begin(), order.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });

  const bool v1 = version == EncodingsVersion::k1_0_0;
  json act = v1 ? json::array() : json::object();
  json par = v1 ? json::array() : json::object();
  for (const auto& [id, tp] : order) {
    const quant::TensorPlan& t = *tp;
    const QuantParams& p = t.params;
    const std::string where = "cannot export tensor '" + t.name + "'";
    if (t.dynamic) return unsupported(where + ": dynamic quantization has no fixed scale to write");
    if (p.per_channel()) {
      const std::optional<Tensor> constant = runtime::constant_value(float_graph, id);
      auto uit = uses.find(id);
      std::string why;
      const std::optional<int> a =
          constant ? output_channel_axis(uit == uses.end() ? kNoUses : uit->second,
                                         constant->rank(), &why)
                   : std::nullopt;
      if (!a || *a != p.axis) {
        const std::string reason = a ? "the file format implies axis " + std::to_string(*a)
                                     : (constant ? why : std::string("it is not a constant"));
        return unsupported(where + ": per-channel axis " + std::to_string(p.axis) +
                           " cannot be written: encodings files carry no axis, and " + reason);
      }
    }
    // Activations are written as activation encodings; weights and biases as params.
    const bool is_param = t.role != quant::Role::kActivation;
    if (v1) {
      json e = json::object();
      e["name"] = t.name;
      e["dtype"] = "INT";
      e["enc_type"] = p.per_channel() ? "PER_CHANNEL" : "PER_TENSOR";
      e["bw"] = p.bits;
      json scales = json::array(), offsets = json::array();
      bool is_sym = false;
      for (size_t c = 0; c < p.scales.size(); ++c) {
        const ExportChannel ec = export_channel(p, c);
        is_sym = ec.is_sym;
        scales.push_back(static_cast<double>(p.scales[c]));
        offsets.push_back(ec.offset);
      }
      e["is_sym"] = is_sym;
      e["scale"] = std::move(scales);
      e["offset"] = std::move(offsets);
      (is_param ? par : act).push_back(std::move(e));
    } else {
      json list = json::array();
      for (size_t c = 0; c < p.scales.size(); ++c) {
        const ExportChannel ec = export_channel(p, c);
        const double sc = p.scales[c];
        json e = json::object();
        e["bitwidth"] = p.bits;
        e["dtype"] = "int";
        e["is_symmetric"] = ec.is_sym ? "True" : "False";
        e["scale"] = sc;
        e["offset"] = ec.offset;
        e["min"] = sc * static_cast<double>(ec.offset);
        e["max"] = sc * static_cast<double>(ec.offset + ec.steps);
        list.push_back(std::move(e));
      }
      (is_param ? par : act)[t.name] = std::move(list);
    }
  }
  json root = json::object();
  root["version"] = v1 ? "1.0.0" : "0.6.1";
  root["activation_encodings"] = std::move(act);
  root["param_encodings"] = std::move(par);
  root["excluded_layers"] = json::array();
  return root.dump(2) + "\n";
}

}  // namespace qdiff::encodings
