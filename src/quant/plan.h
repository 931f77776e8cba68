// The quantization plan: which tensors of the float model are quantized and how, which nodes
// run as one quantized unit, and each node's precision. Every way into qdiff (calibration, a
// QDQ/QLinear/ConvInteger model, an encodings JSON) ends as a QuantPlan over the float graph's
// tensor names; every world (fake-quant, integer) is a run of the float graph under a plan.
// Plans are JSON files a user can read and edit (docs/plan-format.md).
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ir/graph.h"
#include "numerics/quant_params.h"
#include "numerics/rounding.h"
#include "support/status.h"

namespace qdiff::quant {

enum class Role : uint8_t {
  kActivation,  // produced by a node or a graph input: quantized as it is produced
  // A constant (initializer or Constant node output) read as a weight (Conv W, Gemm B, MatMul
  // constant operand...).
  kWeight,
  kBias,  // a constant read as a bias: int32 with scale = s_in * s_w, zero point 0
};
std::string_view role_name(Role r);  // "activation", "weight", "bias"

enum class Precision : uint8_t { kInt8, kInt16, kFloat };
std::string_view precision_name(Precision p);  // "int8", "int16", "float"
Result<Precision> parse_precision(std::string_view text);

struct TensorPlan {
  std::string name;  // the float model's tensor name
  Role role = Role::kActivation;
  QuantParams params;  // validated; per-channel when params.axis >= 0
  RoundingMode rounding = RoundingMode::kHalfToEven;
  // Dynamic quantization (ONNX DynamicQuantizeLinear, as ORT's dynamic quantizer and ConvInteger
  // models use it): scale and zero point are computed from each value as it is produced
  // (uint8, range [min(x, 0), max(x, 0)], scale = range / 255, zp = sat(rhe(-min / scale))).
  // `params` then holds only the format (bits, signedness) and placeholder scale 1 / zp 0.
  bool dynamic = false;
  // Quantize as round(x * f32(1 / scale)) (PyTorch's quantize_val) instead of round(x / scale)
  // (ONNX QuantizeLinear); the two differ by one step where x / scale is near a tie.
  bool reciprocal = false;
  // Where the parameters came from, for the reader: "minmax", "percentile(99.99)",
  // "qdq:conv1_out_QuantizeLinear", "encodings"... Not used by any computation.
  std::string source;

  bool operator==(const TensorPlan&) const = default;
};

struct NodePlan {
  std::string name;  // the float model's node name
  Precision precision = Precision::kInt8;
  // The first node of the quantized unit this node belongs to (Conv of Conv+Relu); equals
  // `name` for a unit's first node and for a node on its own. Tensors inside a unit (the Conv
  // output of Conv+Relu) are not quantized: the unit is one integer kernel on a target.
  std::string unit;

  bool operator==(const NodePlan&) const = default;
};

struct QuantPlan {
  std::string model;   // the float model file the plan was made for (informational)
  std::string origin;  // "calibrate --method minmax", "qdq import of Q.onnx", "encodings E.json"
  std::vector<TensorPlan> tensors;  // at most one per name, in the float graph's order
  std::vector<NodePlan> nodes;      // one per float-graph node, in graph order (may be empty)

  const TensorPlan* find(std::string_view name) const;
  const NodePlan* find_node(std::string_view name) const;
  bool operator==(const QuantPlan&) const = default;
};

// Canonical JSON text ("schema": "qdiff.plan/1"): deterministic, floats printed so that they
// read back bit-exactly.
std::string plan_to_json(const QuantPlan& plan);
// `what` (the file name) starts every error message; errors name the tensor and field.
Result<QuantPlan> plan_from_json(std::string_view text, const std::string& what);
Result<QuantPlan> load_plan(const std::filesystem::path& path);
Status save_plan(const QuantPlan& plan, const std::filesystem::path& path);

// Checks a plan against the float graph it will run on: every tensor and node name exists;
// weights and biases are float constants (initializers or Constant node outputs); an activation is
// a float tensor that is a graph input or a node output; per-channel axes are in range and scale
// counts match the channel dimension (when the shape is known); parameters valid
// (QuantParams::validate). Errors name the tensor or node.
Status check_plan(const QuantPlan& plan, const ir::Graph& graph);

// Per-channel parameters against the shape of the tensor they quantize: the axis is in range
// and there is one scale per channel along it. Per-tensor parameters always fit.
Status check_channels(const QuantParams& params, const Shape& shape);

// The int32 bias parameters ONNX Runtime's quantizer uses for a bias read by a node whose data
// input and weight have `input` and `weight` parameters: per channel of the weight (or per
// tensor), scale = f32(s_in * s_w[c]), zero point 0, 32 bits signed.
Result<QuantParams> bias_params(const QuantParams& input, const QuantParams& weight);

}  // namespace qdiff::quant
