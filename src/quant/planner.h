// The planner: which tensors of a float graph a target quantizes, in which format, grouped into
// which quantized units, and (with observed activation ranges) the plan itself.
//
// Structure (documented in docs/plan-format.md):
// - Units: a Conv / ConvTranspose / Gemm / MatMul takes the Relu or Clip after it (ORT, TFLite,
//   XNNPACK: UnitGrowth::kReluClip) or grows through the elementwise ops after it whose other
//   operands are constants or tensors of the unit (UnitGrowth::kEpilogue: BatchNormalization and
//   its exported Mul/Add form, every activation, the x * relu6(x + 3) / 6 of an exported
//   HardSwish, x * sigmoid(x)) while exactly one tensor leaves the unit; an Add / Mul of two
//   activations (a residual) takes a Relu/Clip after it. Tensors inside a unit are not quantized.
// - Data-movement ops (Reshape, Transpose, Flatten, Squeeze, Unsqueeze, DepthToSpace,
//   SpaceToDepth, MaxPool, Slice, Split, Gather, Identity, Pad, Resize-nearest...) keep their
//   input's parameters (ONNX Runtime's quantizer does the same), so they move integers exactly.
// - Weights: Conv/ConvTranspose W, Gemm B, a constant MatMul operand; per channel along the
//   output-channel axis or per tensor. Biases (Conv input 2, Gemm C): int32 with
//   scale = s_in * s_w, when the data input is quantized per tensor.
// - Bits: 16 for a tensor produced or read by an int16 node, else 8.
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "ir/graph.h"
#include "quant/plan.h"
#include "support/status.h"

namespace qdiff::quant {

struct Format {
  int bits = 8;
  bool is_signed = false;
  bool symmetric = false;
  bool narrow_range = false;
  // Scale as for the narrow range (absmax / 127) on the full grid [-128, 127]: TensorRT's
  // activations (its QuantizeLinear saturates to the full int8 range).
  bool narrow_scale = false;

  bool operator==(const Format&) const = default;
};

// How far a quantized unit reaches after its Conv / ConvTranspose / Gemm / MatMul head.
enum class UnitGrowth : uint8_t {
  kReluClip,  // only a Relu or Clip (ONNX Runtime's QLinearConv, TFLite, XNNPACK fuse these)
  kEpilogue,  // any elementwise epilogue: BatchNormalization (and its Mul/Add form), every
              // activation, exported HardSwish / SiLU forms (TensorRT, DPU-style compilers)
};

// How a target quantizes (the part of a target profile the planner needs).
struct Scheme {
  std::string target;               // "ort-cpu"
  Format activation;                // 8-bit activations
  Format activation16;              // activations of int16 nodes
  Format weight;                    // 8-bit weights (int16 nodes too)
  bool per_channel_weights = true;  // else per tensor
  // Depthwise convolutions (group = input channels > 1) per tensor even when the others are
  // per channel, as some compilers do (numerics.md: per-tensor depthwise weights).
  bool per_tensor_depthwise = false;
  RoundingMode rounding = RoundingMode::kHalfToEven;
  UnitGrowth units = UnitGrowth::kReluClip;

  bool operator==(const Scheme&) const = default;
};
// Built-in schemes: "ort-cpu" (uint8 asymmetric activations, int8 symmetric narrow-range
// weights [-127, 127], as ORT's quantize_static defaults), "tflite-int8" (int8 asymmetric
// activations, int8 symmetric narrow-range weights), "xnnpack-qs8" (as tflite-int8),
// "tensorrt-int8" (int8 symmetric activations with scale absmax / 127 on the full grid,
// narrow-range weights). int16 activations are symmetric int16.
Result<Scheme> scheme_for_target(std::string_view target);
std::vector<std::string> scheme_names();

enum class TensorKind : uint8_t { kObserved, kShared, kWeight, kBias };

struct PlannedTensor {
  ir::ValueId value = ir::kNoValue;
  Role role = Role::kActivation;
  TensorKind kind = TensorKind::kObserved;
  int bits = 8;
  int axis = -1;           // weights: the output-channel axis
  bool depthwise = false;  // weights of a depthwise convolution
  // kShared: the tensor whose parameters this one reuses. kBias: the node's data input and
  // weight.
  ir::ValueId source = ir::kNoValue;
  ir::ValueId weight = ir::kNoValue;
};

struct PlanStructure {
  std::vector<NodePlan> nodes;                // per graph node, graph order
  std::vector<PlannedTensor> tensors;         // graph order; sources precede their users
  std::vector<ir::ValueId> observed() const;  // activations that need calibration ranges
};

// `precision`: per node name, overriding int8 (unknown names are an error).
Result<PlanStructure> plan_structure(const ir::Graph& graph,
                                     const std::map<std::string, Precision>& precision = {},
                                     UnitGrowth units = UnitGrowth::kReluClip);

// The plan: observed activations from `ranges` (min, max per value; a value without one is an
// error naming it), weights per `scheme` from their constant values (min/max per channel or per
// tensor), biases and shared tensors derived.
Result<QuantPlan> make_plan(const ir::Graph& graph, const PlanStructure& structure,
                            const Scheme& scheme,
                            const std::map<ir::ValueId, std::pair<float, float>>& ranges,
                            const std::string& method);

}  // namespace qdiff::quant
