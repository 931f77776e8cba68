#include "quant/plan.h"

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "runtime/model_info.h"

namespace qdiff::quant {
namespace {

using json = nlohmann::ordered_json;

constexpr const char* kSchema = "qdiff.plan/1";

Result<Role> parse_role(std::string_view s) {
  if (s == "activation") return Role::kActivation;
  if (s == "weight") return Role::kWeight;
  if (s == "bias") return Role::kBias;
  return invalid_argument("unknown role '" + std::string(s) +
                          "' (expected activation, weight or bias)");
}

// Reads `key` of object `o` as T; `where` names the object in errors.
template <typename T>
Result<T> get(const json& o, const char* key, const std::string& where) {
  auto it = o.find(key);
  if (it == o.end()) return invalid_argument(where + ": missing field '" + key + "'");
  try {
    return it->get<T>();
  } catch (const json::exception&) {
    return invalid_argument(where + ": field '" + key + "' has the wrong type");
  }
}

template <typename T>
Result<T> get_or(const json& o, const char* key, const std::string& where, T fallback) {
  if (!o.contains(key)) return fallback;
  return get<T>(o, key, where);
}

Status check_fields(const json& o, std::initializer_list<const char*> known,
                    const std::string& where) {
  for (const auto& [k, v] : o.items()) {
    bool ok = false;
    for (const char* n : known) ok = ok || k == n;
    if (!ok) return invalid_argument(where + ": unknown field '" + k + "'");
  }
  return Status::ok_status();
}

json tensor_to_json(const TensorPlan& t) {
  json o = json::object();
  o["name"] = t.name;
  o["role"] = std::string(role_name(t.role));
  o["bits"] = t.params.bits;
  o["signed"] = t.params.is_signed;
  o["symmetric"] = t.params.symmetric;
  o["narrow_range"] = t.params.narrow_range;
  o["axis"] = t.params.axis;
  json scales = json::array();
  // Through double: every float is exactly a double, and nlohmann prints doubles with 17
  // significant digits, which read back to the same double and hence the same float.
  for (float s : t.params.scales) scales.push_back(static_cast<double>(s));
  o["scale"] = std::move(scales);
  o["zero_point"] = t.params.zero_points;
  o["rounding"] = std::string(rounding_mode_name(t.rounding));
  if (t.dynamic) o["dynamic"] = true;
  if (t.reciprocal) o["reciprocal"] = true;
  if (!t.source.empty()) o["source"] = t.source;
  return o;
}

Result<TensorPlan> tensor_from_json(const json& o, const std::string& where_in) {
  if (!o.is_object()) return invalid_argument(where_in + ": a tensor entry must be an object");
  QDIFF_ASSIGN_OR_RETURN(std::string name, get<std::string>(o, "name", where_in));
  const std::string where = where_in + ": tensor '" + name + "'";
  QDIFF_RETURN_IF_ERROR(
      check_fields(o,
                   {"name", "role", "bits", "signed", "symmetric", "narrow_range", "axis", "scale",
                    "zero_point", "rounding", "dynamic", "reciprocal", "source"},
                   where));
  TensorPlan t;
  t.name = name;
  QDIFF_ASSIGN_OR_RETURN(std::string role, get_or<std::string>(o, "role", where, "activation"));
  auto r = parse_role(role);
  if (!r.ok()) return invalid_argument(where + ": " + r.status().message());
  t.role = r.value();
  QuantParams& p = t.params;
  QDIFF_ASSIGN_OR_RETURN(p.bits, get_or<int>(o, "bits", where, 8));
  QDIFF_ASSIGN_OR_RETURN(p.is_signed, get_or<bool>(o, "signed", where, true));
  QDIFF_ASSIGN_OR_RETURN(p.symmetric, get_or<bool>(o, "symmetric", where, false));
  QDIFF_ASSIGN_OR_RETURN(p.narrow_range, get_or<bool>(o, "narrow_range", where, false));
  QDIFF_ASSIGN_OR_RETURN(int64_t axis, get_or<int64_t>(o, "axis", where, -1));
  if (axis < -1 || axis > 64)
    return invalid_argument(where + ": axis " + std::to_string(axis) + " is out of range");
  p.axis = static_cast<int>(axis);
  // A single number or a list, for both scale and zero_point.
  auto it = o.find("scale");
  if (it == o.end()) return invalid_argument(where + ": missing field 'scale'");
  std::vector<double> scales;
  if (it->is_number()) {
    scales.push_back(it->get<double>());
  } else if (it->is_array()) {
    for (const json& v : *it) {
      if (!v.is_number()) return invalid_argument(where + ": 'scale' must hold numbers");
      scales.push_back(v.get<double>());
    }
  } else {
    return invalid_argument(where + ": 'scale' must be a number or a list of numbers");
  }
  for (double s : scales) {
    const float f = static_cast<float>(s);
    if (!std::isfinite(s) || !std::isfinite(f) || !(f > 0.0f))
      return invalid_argument(where + ": scale " + std::to_string(s) +
                              " must be positive and finite in float32");
    p.scales.push_back(f);
  }
  it = o.find("zero_point");
  std::vector<int64_t> zps;
  if (it == o.end()) {
    zps.assign(p.scales.size(), 0);
  } else if (it->is_number_integer()) {
    zps.push_back(it->get<int64_t>());
  } else if (it->is_array()) {
    for (const json& v : *it) {
      if (!v.is_number_integer())
        return invalid_argument(where + ": 'zero_point' must hold integers");
      zps.push_back(v.get<int64_t>());
    }
  } else {
    return invalid_argument(where + ": 'zero_point' must be an integer or a list of integers");
  }
  for (int64_t z : zps) {
    if (z < INT32_MIN || z > INT32_MAX)
      return invalid_argument(where + ": zero point " + std::to_string(z) + " is out of range");
    p.zero_points.push_back(static_cast<int32_t>(z));
  }
  Status s = p.validate();
  if (!s.ok()) return invalid_argument(where + ": " + s.message());
  QDIFF_ASSIGN_OR_RETURN(std::string rounding,
                         get_or<std::string>(o, "rounding", where, "half_to_even"));
  auto mode = parse_rounding_mode(rounding);
  if (!mode.ok()) return invalid_argument(where + ": " + mode.status().message());
  t.rounding = mode.value();
  QDIFF_ASSIGN_OR_RETURN(t.dynamic, get_or<bool>(o, "dynamic", where, false));
  QDIFF_ASSIGN_OR_RETURN(t.reciprocal, get_or<bool>(o, "reciprocal", where, false));
  if (t.dynamic && (t.role != Role::kActivation || p.per_channel()))
    return invalid_argument(where + ": only a per-tensor activation can be dynamic");
  QDIFF_ASSIGN_OR_RETURN(t.source, get_or<std::string>(o, "source", where, ""));
  return t;
}

}  // namespace

std::string_view role_name(Role r) {
  switch (r) {
    case Role::kActivation:
      return "activation";
    case Role::kWeight:
      return "weight";
    case Role::kBias:
      return "bias";
  }
  return "?";
}

std::string_view precision_name(Precision p) {
  switch (p) {
    case Precision::kInt8:
      return "int8";
    case Precision::kInt16:
      return "int16";
    case Precision::kFloat:
      return "float";
  }
  return "?";
}

Result<Precision> parse_precision(std::string_view text) {
  if (text == "int8") return Precision::kInt8;
  if (text == "int16") return Precision::kInt16;
  if (text == "float") return Precision::kFloat;
  return invalid_argument("unknown precision '" + std::string(text) +
                          "' (expected int8, int16 or float)");
}

const TensorPlan* QuantPlan::find(std::string_view name) const {
  for (const TensorPlan& t : tensors)
    if (t.name == name) return &t;
  return nullptr;
}

const NodePlan* QuantPlan::find_node(std::string_view name) const {
  for (const NodePlan& n : nodes)
    if (n.name == name) return &n;
  return nullptr;
}

std::string plan_to_json(const QuantPlan& plan) {
  json o = json::object();
  o["schema"] = kSchema;
  o["model"] = plan.model;
  o["origin"] = plan.origin;
  json tensors = json::array();
  for (const TensorPlan& t : plan.tensors) tensors.push_back(tensor_to_json(t));
  o["tensors"] = std::move(tensors);
  json nodes = json::array();
  for (const NodePlan& n : plan.nodes) {
    json e = json::object();
    e["name"] = n.name;
    e["precision"] = std::string(precision_name(n.precision));
    e["unit"] = n.unit;
    nodes.push_back(std::move(e));
  }
  o["nodes"] = std::move(nodes);
  return o.dump(1) + "\n";
}

Result<QuantPlan> plan_from_json(std::string_view text, const std::string& what) {
  json o;
  try {
    o = json::parse(text);
  } catch (const json::parse_error& e) {
    return invalid_argument(what + ": not valid JSON: " + e.what());
  }
  if (!o.is_object()) return invalid_argument(what + ": a plan must be a JSON object");
  QDIFF_RETURN_IF_ERROR(check_fields(o, {"schema", "model", "origin", "tensors", "nodes"}, what));
  QDIFF_ASSIGN_OR_RETURN(std::string schema, get<std::string>(o, "schema", what));
  if (schema != kSchema)
    return invalid_argument(what + ": schema is '" + schema + "', expected '" + kSchema + "'");
  QuantPlan plan;
  QDIFF_ASSIGN_OR_RETURN(plan.model, get_or<std::string>(o, "model", what, ""));
  QDIFF_ASSIGN_OR_RETURN(plan.origin, get_or<std::string>(o, "origin", what, ""));
  std::set<std::string> seen;
  if (o.contains("tensors")) {
    if (!o["tensors"].is_array()) return invalid_argument(what + ": 'tensors' must be a list");
    for (const json& e : o["tensors"]) {
      QDIFF_ASSIGN_OR_RETURN(TensorPlan t, tensor_from_json(e, what));
      if (!seen.insert(t.name).second)
        return invalid_argument(what + ": tensor '" + t.name + "' is listed twice");
      plan.tensors.push_back(std::move(t));
    }
  }
  seen.clear();
  if (o.contains("nodes")) {
    if (!o["nodes"].is_array()) return invalid_argument(what + ": 'nodes' must be a list");
    for (const json& e : o["nodes"]) {
      if (!e.is_object()) return invalid_argument(what + ": a node entry must be an object");
      NodePlan n;
      QDIFF_ASSIGN_OR_RETURN(n.name, get<std::string>(e, "name", what));
      const std::string where = what + ": node '" + n.name + "'";
      QDIFF_RETURN_IF_ERROR(check_fields(e, {"name", "precision", "unit"}, where));
      QDIFF_ASSIGN_OR_RETURN(std::string prec, get_or<std::string>(e, "precision", where, "int8"));
      auto p = parse_precision(prec);
      if (!p.ok()) return invalid_argument(where + ": " + p.status().message());
      n.precision = p.value();
      QDIFF_ASSIGN_OR_RETURN(n.unit, get_or<std::string>(e, "unit", where, n.name));
      if (!seen.insert(n.name).second)
        return invalid_argument(what + ": node '" + n.name + "' is listed twice");
      plan.nodes.push_back(std::move(n));
    }
  }
  return plan;
}

Result<QuantPlan> load_plan(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status(ErrorCode::kIo, path.string() + ": cannot open the plan file");
  std::stringstream ss;
  ss << in.rdbuf();
  return plan_from_json(ss.str(), path.string());
}

Status save_plan(const QuantPlan& plan, const std::filesystem::path& path) {
  std::ofstream out(path, std::ios::binary);
  if (!out) return Status(ErrorCode::kIo, path.string() + ": cannot write the plan file");
  out << plan_to_json(plan);
  out.close();
  if (!out) return Status(ErrorCode::kIo, path.string() + ": write failed");
  return Status::ok_status();
}

Status check_plan(const QuantPlan& plan, const ir::Graph& graph) {
  for (const TensorPlan& t : plan.tensors) {
    const std::string where = "plan tensor '" + t.name + "'";
    auto id = graph.find_value(t.name);
    if (!id) return invalid_argument(where + ": the model has no tensor of that name");
    const ir::Value& v = graph.value(*id);
    // Weights are initializers or Constant node outputs (exporters write both).
    const std::optional<Tensor> constant = runtime::constant_value(graph, *id);
    const bool is_init = constant.has_value();
    if (t.role != Role::kActivation && !is_init)
      return invalid_argument(where + ": a " + std::string(role_name(t.role)) +
                              " must be a constant (initializer or Constant node) of the model");
    if (t.role == Role::kActivation && v.initializer)
      return invalid_argument(where + ": an initializer must have role weight or bias");
    const DType dt = is_init ? constant->dtype() : v.type.dtype;
    if (dt != DType::kFloat32 && dt != DType::kUndefined)
      return invalid_argument(where + ": only float32 tensors can be quantized, this one is " +
                              std::string(dtype_name(dt)));
    Status s = t.params.validate();
    if (!s.ok()) return invalid_argument(where + ": " + s.message());
    if (t.role == Role::kBias && t.params.bits != 32 && t.params.bits > 16)
      return invalid_argument(where + ": a bias is quantized to 32 bits (or to at most 16)");
    if (t.role != Role::kBias && t.params.bits > 16)
      return invalid_argument(where + ": bits must be at most 16 outside biases");
    if (t.params.axis >= 0) {
      std::optional<Shape> shape;
      if (is_init)
        shape = constant->shape();
      else if (v.type.fully_known())
        shape = v.type.shape();
      if (shape) {
        Status c = check_channels(t.params, *shape);
        if (!c.ok()) return invalid_argument(where + ": " + c.message());
      }
    }
  }
  std::set<std::string> node_names;
  for (const ir::Node& n : graph.nodes()) node_names.insert(n.name);
  for (const NodePlan& n : plan.nodes) {
    if (!node_names.count(n.name))
      return invalid_argument("plan node '" + n.name + "': the model has no node of that name");
    if (!node_names.count(n.unit))
      return invalid_argument("plan node '" + n.name + "': its unit '" + n.unit +
                              "' is not a node of the model");
  }
  return Status::ok_status();
}

Status check_channels(const QuantParams& p, const Shape& shape) {
  if (!p.per_channel()) return Status::ok_status();
  if (p.axis >= static_cast<int>(shape.size()))
    return invalid_argument("axis " + std::to_string(p.axis) + " is out of range for shape " +
                            shape_to_string(shape));
  const int64_t channels = shape[static_cast<size_t>(p.axis)];
  if (channels != static_cast<int64_t>(p.scales.size()))
    return invalid_argument(std::to_string(p.scales.size()) + " scales for " +
                            std::to_string(channels) + " channels along axis " +
                            std::to_string(p.axis));
  return Status::ok_status();
}

Result<QuantParams> bias_params(const QuantParams& input, const QuantParams& weight) {
  if (input.per_channel()) return invalid_argument("a bias needs a per-tensor input scale");
  QuantParams b;
  b.bits = 32;
  b.is_signed = true;
  b.symmetric = true;  // zero point 0 on a signed grid
  b.axis = weight.per_channel() ? 0 : -1;
  for (float sw : weight.scales) {
    const float s = input.scales[0] * sw;  // float32 product, as numpy float32 arrays
    if (!(s > 0.0f) || !std::isfinite(s))
      return invalid_argument("the bias scale s_in * s_w = " + std::to_string(s) +
                              " is not a positive finite float32");
    b.scales.push_back(s);
    b.zero_points.push_back(0);
  }
  return b;
}

}  // namespace qdiff::quant
