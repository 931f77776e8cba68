// Import of models a toolchain already quantized: the quantized ir::Graph (as onnx/importer.h
// reads it) becomes the float graph it computes with the quantization taken out, and a
// QuantPlan (quant/plan.h) over that float graph's tensor names saying what was quantized and
// how. Three formats, mixed freely in one model:
//
// Constants: a scale, zero point, weight or bias may be an initializer, a Constant node, or
// computed from constants by deterministic nodes (torch: Identity of an initializer,
// Cast(ConstantOfShape) zero points); such nodes are evaluated once with the reference kernels
// (constant_fold.h, size-capped). Folded nodes that survive in the float graph (nothing but
// Q/DQ analysis read them otherwise) become initializers there.
//
// 1. QDQ. QuantizeLinear -> DequantizeLinear pairs on activations, DequantizeLinear on integer
//    constants (weights, per-axis with `axis`; int32 biases), opsets 10..21, domain "" or
//    "com.microsoft", uint8/int8/uint16/int16 (int32 for DequantizeLinear of biases).
//    - Between the QuantizeLinear and its DequantizeLinear readers, ops that keep the integers
//      as they are (Identity, Cast to the tensor's own integer type: torch's QuantizeLinear ->
//      Cast(uint8) -> DequantizeLinear) are looked through: they vanish, their output stands for
//      the same real tensor. A Cast to another integer type changes the integers: the
//      DequantizeLinear reading it is an error naming the Cast.
//    - An activation keeps the tensor the QuantizeLinear reads (its real name); readers of the
//      DequantizeLinear output read it instead. Exception: when that DequantizeLinear output is
//      a graph output, the real tensor takes the graph output's name (ORT's quantizer renames a
//      quantized graph output `Y` to `Y_QuantizeLinear_Input` and gives `Y` to the DQ output; the
//      float graph then has `Y` again). If the real tensor cannot be renamed (it is a graph
//      input or another output), an Identity node produces the output name.
//    - A weight becomes a float initializer holding exactly f32(q - zp) * scale. Its name is the
//      integer initializer's name without the suffix "_quantized" when that is how ORT named it
//      and the name is free (the original float weight name), else the DequantizeLinear output's
//      name. A QuantizeLinear of a float initializer followed by DequantizeLinear (weights kept in
//      float, ORT's AddQDQPairToWeight) becomes that initializer holding quantize-dequantize of
//      its values (round half to even, as QuantizeLinear).
//    - An integer graph input read by DequantizeLinear becomes a float32 input of the same name
//      (the caller feeds real values); an integer graph output (a QuantizeLinear output) becomes
//      its real tensor under the output's name (float32).
//    - A DequantizeLinear of a non-constant integer tensor that no QuantizeLinear (or QLinear op,
//      or a data-movement op over one, see below) produced is an error (kUnsupported) naming the
//      node: qdiff cannot know the real values. So is a DequantizeLinear whose parameters differ
//      from those of the QuantizeLinear that made its input (a requantization).
//    - A QuantizeLinear whose output nothing dequantizes (and that is no graph output) is dropped.
// 2. QLinear ops: QLinearConv, QLinearMatMul, QGemm, QLinearAdd, QLinearMul,
//    QLinearGlobalAveragePool, QLinearAveragePool, QLinearLeakyRelu, QLinearSigmoid,
//    QLinearConcat. Each becomes its float op on the real inputs and dequantized weights (biases:
//    int32 with scale f32(s_x * s_w[c])); its output keeps its name, becomes float32 and is
//    planned with the op's y_scale / y_zero_point. Data-movement ops ORT runs directly on
//    integers (MaxPool, Reshape, Transpose, Flatten, Squeeze, Unsqueeze, Slice, Gather,
//    Resize, Split, DepthToSpace, SpaceToDepth, Expand, Tile) run in float on the real tensor and
//    their outputs carry the input's parameters.
// 3. Dynamic quantization (ORT's dynamic quantizer): DynamicQuantizeLinear -> ConvInteger /
//    MatMulInteger -> Cast(float) -> Mul(s_x * s_w) [-> Add(bias)]. The activation gets a
//    `dynamic` TensorPlan, the weight a static one, and the chain becomes one Conv (the bias Add
//    folded into it when the bias is a constant, possibly through a Reshape) or one MatMul (its
//    bias Add kept as a float Add), named after the integer node without ORT's "_quant" suffix.
//
// Parameters: bits and signedness from the integer type; `symmetric` iff every zero point is the
// symmetric one (0 signed, 2^(bits-1) unsigned); `narrow_range` for weights whose symmetric
// integer values never use qmin (e.g. int8 in [-127, 127]); activations and biases never narrow.
// `source` names the quantized model's node ("qdq:<QuantizeLinear node>", "qlinear:<node>",
// "dynamic:<DynamicQuantizeLinear node>", "weight:<node reading it>").
//
// Nodes: every float-graph node gets a NodePlan. A node is quantized when every float tensor it
// reads was read through quantization in the quantized model (a DequantizeLinear output, a
// QLinear/integer op input), is a constant the quantized model left in float (Clip bounds), or
// is internal to its unit. A tensor is internal when it is not quantized, is no graph output and
// its quantized producer heads (or belongs to) a unit: its readers join that unit (Conv+Relu, or
// Conv -> HardSigmoid -> Mul reading the Conv output twice, between one DQ and one Q). A unit
// whose unquantized tensors are read outside it is split back into single nodes. A unit is int16
// when any member reads or writes a 16-bit activation, else int8. Everything else runs in float
// (Precision::kFloat).
//
// Limitation (reported in notes): a plan quantizes a tensor for every reader, while a quantized
// model may read the same tensor through a Q/DQ pair in one place and unquantized in another.
#pragma once

#include <string>
#include <vector>

#include "ir/graph.h"
#include "quant/plan.h"
#include "support/status.h"

namespace qdiff::qdq {

struct ImportedQuantModel {
  ir::Graph float_graph;  // verified, topologically sorted, runs in runtime::Interpreter
  quant::QuantPlan plan;  // over float_graph's names; passes quant::check_plan
  std::vector<std::string> notes;
};

// `display_name` (the file's path) starts every error message. Errors name the node and tensor:
// kInvalidModel for parameters the ONNX spec rules out (scale <= 0 or NaN, zero point outside the
// integer type, axis out of range), kUnsupported for valid constructs qdiff cannot import
// (non-constant scales, requantization, unknown integer producers).
Result<ImportedQuantModel> import_quantized(const ir::Graph& quantized,
                                            const std::string& display_name);

struct PlanMapping {
  quant::QuantPlan plan;               // renamed onto the float model's tensors and nodes
  std::vector<std::string> unmatched;  // "tensor 'x' (activation): <why>", "node 'n': <why>"
  // Weights and biases whose float values do not quantize to the quantized model's integers
  // with the plan's rounding (see map_plan).
  std::vector<std::string> notes;
};

// Renames `plan` (made over `stripped`, the float graph import_quantized returned) onto the
// user's float model. Activations: a non-initializer tensor of the float model with the same
// name, else the tensor at the same place in the structure: both graphs are walked in
// topological order, a stripped node matching the unmatched float node of the same op type whose
// activation inputs are the already-matched counterparts of its own (graph inputs match by name,
// else by position; Identity/Dropout nodes of either graph are looked through); outputs match by
// position. Weights and biases: the float model's initializer in the same input slot of the
// matched node (shape must agree), else an initializer of the same name and shape. Node plans
// follow their matched nodes. Whatever finds no counterpart is listed in `unmatched`, never
// silently dropped. Fails only on a malformed plan (a tensor the stripped graph lacks).
// A mapped weight or bias gets the rounding mode (numerics/rounding.h) with which the float
// model's values quantize to the integers the quantized model stores: the plan's own (half to
// even, as QuantizeLinear) when it reproduces them all, else the mode that misses fewest (torch
// 1.13 truncates biases toward zero); `notes` says so, and counts values no mode reproduces
// (torch quantizes weights as round(w * f32(1 / s)), which differs from round(w / s) at ties).
Result<PlanMapping> map_plan(const quant::QuantPlan& plan, const ir::Graph& stripped,
                             const ir::Graph& float_graph);

}  // namespace qdiff::qdq
