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
// - Power-of-two schemes (Vitis DPU, Scheme::power_of_two_scales): every scale is 2^-fix_pos,
//   chosen as vai_q chooses it and then moved by the DPU compiler's constraints (see make_plan).
#pragma once

#include <map>
#include <span>
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
              // activation, exported HardSwish / SiLU forms (TensorRT)
  // Relu, Clip and LeakyRelu: the nonlinear types the Vitis DPU's conv-fix applies to the exact
  // accumulator before its one rounding (numerics.md §5.3). Hard-sigmoid and hard-swish read
  // their input rounded to its own fix position first (hsigmoid_in), so they stay separate
  // nodes with a quantized input.
  kConvFix,
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
  // Every scale 2^-fix_pos (Vitis DPU; a target profile's `power_of_two_scales`). Activations,
  // weights and biases must then be signed symmetric; biases take the weight format.
  bool power_of_two_scales = false;

  bool operator==(const Scheme&) const = default;
};
// Built-in schemes: "ort-cpu" (uint8 asymmetric activations, int8 symmetric narrow-range
// weights [-127, 127], as ORT's quantize_static defaults), "tflite-int8" (int8 asymmetric
// activations, int8 symmetric narrow-range weights), "xnnpack-qs8" (as tflite-int8),
// "tensorrt-int8" (int8 symmetric activations with scale absmax / 127 on the full grid,
// narrow-range weights, epilogue units), "vitis-dpu" (int8 symmetric full-range activations,
// weights per tensor and 8-bit biases, all power-of-two, rounding half_up, conv-fix units).
// int16 activations are symmetric int16.
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

// HardSigmoid(alpha = 1/6, beta = 1/2), i.e. relu6(x + 3) / 6: the hard-sigmoid the Vitis DPU
// approximates (vai_q_onnx check_hard_sigmoid_condition; alpha within 1e-6 of 1/6).
bool is_relu6_hard_sigmoid(const ir::Node& node);

// --- Power-of-two scales (numerics.md §5.1, vai_q) ----------------------------------------------
// Largest fix_pos whose grid holds `absmax` without clipping: absmax * 2^pos <= qmax of `f`
// (vai_q_onnx's overflow method, pos = floor(log2(qmax / absmax))). 0 for absmax 0; clamped to
// [-100, 100].
int fix_pos_for_absmax(double absmax, const Format& f);
// vai_q's MinMSE ("diffs") choice for a constant: the candidates pos0 .. pos0 + 4 from pos0 =
// fix_pos_for_absmax(max |v|), each quantized with `mode` on the grid of `f` (zero point 0); the
// one with the least sum of squared errors (the smaller position on a tie).
int fix_pos_min_mse(std::span<const float> values, const Format& f, RoundingMode mode);

// The plan: observed activations from `ranges` (min, max per value; a value without one is an
// error naming it), weights per `scheme` from their constant values (min/max per channel or per
// tensor), biases and shared tensors derived.
// With scheme.power_of_two_scales (Vitis DPU; docs/plan-format.md): an activation takes
// fix_pos_for_absmax of its calibrated range (the calibration method decides the range: minmax
// never clips), a weight or bias fix_pos_min_mse of its values (biases per tensor, in the
// weight format: 8 bits), then the positions are refined as vai_q's refine step does before the
// DPU compiler sees them, looping over the rules until none moves a position (at most 5 times):
// pooling input and output take the smaller position (align_pool); a hard-sigmoid's input
// position is clamped to [0, 15], its output's raised to at least 7 and to at most 14 + input
// (adjust_hard_sigmoid; Sigmoid too, which the DPU compiler turns into a hard-sigmoid); the Mul
// of a swish x * hsig(x) keeps pos_x + pos_h - pos_out in [0, 15] by moving its output
// (adjust_shift_swish); an Add/Sub of two activations keeps shift_read = max - min input position
// <= 7 (the larger moves) and shift_write = min input - output in [-7, 25], a Mul of two
// activations sum of inputs - output in [0, 32] (the output moves; adjust_shift_read/write); a
// Conv/Gemm/MatMul keeps shift_cut = pos_in + pos_w - pos_out in [0, 16] by moving the weight
// (adjust_shift_cut). Last, each bias keeps shift_bias = pos_in + pos_w - pos_b in [0, 15]
// (adjust_shift_bias; qdiff's lower bound is 0 where the DPU's is min(0, shift_cut - 16), so that
// the bias is an exact integer in the accumulator).
Result<QuantPlan> make_plan(const ir::Graph& graph, const PlanStructure& structure,
                            const Scheme& scheme,
                            const std::map<ir::ValueId, std::pair<float, float>>& ranges,
                            const std::string& method);

}  // namespace qdiff::quant
