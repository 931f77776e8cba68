// The integer world (issue 4): every tensor of the float model computed as a named target
// computes it, bit for bit. The float graph runs node by node under a QuantPlan and a
// TargetProfile:
//  - the graph input is quantized as the profile quantizes (rounding, reciprocal);
//  - a unit headed by Conv / Gemm / MatMul is one integer kernel (accumulation in the profile's
//    accumulator model, requantization by a Requantizer built once), its Relu / Clip folded into
//    the requantization clamp; on a float-epilogue target (units `epilogue`, fp32 requant:
//    TensorRT) the unit is an epilogue unit: int32 accumulators, then f32(acc) * f32(s_x * s_w[c])
//    + float bias, the members' float reference kernels, one quantization of the unit's output;
//    on a power-of-two target a LeakyRelu member takes the DPU's conv-fix slope before the one
//    DPU_ROUND, and a bias on its own power-of-two grid enters the accumulator shifted by
//    shift_bias;
//  - Add / Sub / Mul of two quantized tensors per the profile's AddScheme (a Relu in the unit
//    clamps at the zero point);
//  - MaxPool and data movement (Reshape, Flatten, Transpose, Squeeze, Unsqueeze, DepthToSpace,
//    SpaceToDepth, Slice, Gather, Identity, Split, Resize nearest) whose outputs keep the input's
//    parameters run the float reference kernel on the integers held as float (exact);
//  - AveragePool / GlobalAveragePool per AvgPoolScheme; Concat with rescaling (LutScheme);
//  - Sigmoid / Tanh / HardSigmoid / HardSwish / LeakyRelu (single-node units) through lookup
//    tables whose real values come from the float reference kernel (Sigmoid: ORT's
//    MlasComputeLogistic for the kFloatRhe scheme, as ORT's QLinearSigmoid builds its table), or
//    tabulated from the Vitis DPU's integer approximations when the profile's approximation
//    fields say so (LeakyReLU 26/256, hard-sigmoid 2731/2^14, hard-swish; Sigmoid as
//    hard-sigmoid);
//  - anything else, and float-precision nodes: dequantize the inputs, run the float reference
//    kernel, quantize the outputs the plan quantizes (ORT's DQ -> float op -> Q).
// Tensors inside an integer unit (the Conv output of Conv+Relu) do not exist on a target and are
// not produced. Every other tensor is tapped under the float model's ValueId: a quantized one as
// its integer tensor (uint8/int8/uint16/int16), a float one as float32.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "quant/plan.h"
#include "runtime/observer.h"
#include "support/status.h"
#include "targets/profile.h"
#include "tensor/tensor.h"

namespace qdiff::intworld {

// Integer tensor -> float32 with DequantizeLinear's arithmetic (per channel along p.axis).
Result<Tensor> dequantize_tensor(const Tensor& q, const QuantParams& p);
// Float32 tensor -> the storage dtype of `p` (intkernels::storage_dtype), per channel along
// p.axis, as QuantizeLinear with `mode` (x / s) or PyTorch (`reciprocal`: x * f32(1 / s)).
Result<Tensor> quantize_tensor(const Tensor& x, const QuantParams& p, RoundingMode mode,
                               bool reciprocal);

struct IntWorldOptions {
  int threads = 1;
  // Fast kernels where they provably equal the reference ones (intkernels/fast_conv.h): Conv
  // units on oneDNN int8 with channels-last activations between them. Results are identical.
  bool fast = true;
  // Time every step (step_times_ms()); for benchmarks.
  bool time_steps = false;
};

class IntWorld {
 public:
  // Checks the plan against the graph (quant::check_plan) and the profile (check_profile), and
  // prepares every step: integer weights and int32 biases quantized from the float constants
  // with the plan's parameters and rounding, a Requantizer per linear unit, lookup tables.
  // Errors name the node of a unit that cannot run as integers (unsupported members, a weight
  // without parameters, an input that is not quantized, dynamic quantization...).
  static Result<std::unique_ptr<IntWorld>> create(const ir::Graph& float_graph,
                                                  const quant::QuantPlan& plan,
                                                  const targets::TargetProfile& profile,
                                                  const IntWorldOptions& options = {});
  ~IntWorld();

  // Runs one sample (one float tensor per graph input). Returns the graph outputs: integer
  // tensors where the plan quantizes them, else float32. Tensors are released after their last
  // reader unless they are graph outputs.
  Result<std::vector<Tensor>> run(std::span<const Tensor> inputs,
                                  runtime::Observer* observer = nullptr);

  const ir::Graph& graph() const;
  // The plan entry of a value the world holds as integers, or nullptr (float value).
  const quant::TensorPlan* quantized(ir::ValueId id) const;
  // Per node: how it runs ("int:linear", "int:epilogue", "int:dpu-conv-fix", "int:binary",
  // "int:lut", "int:dpu-approx", "int:move", "int:pool", "int:concat", "unit member", "float");
  // for reports and tests.
  const std::vector<std::string>& step_names() const;
  // Per node: milliseconds its step took in the last run (IntWorldOptions::time_steps), 0 for
  // unit members.
  const std::vector<double>& step_times_ms() const;

  struct Impl;

 private:
  explicit IntWorld(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace qdiff::intworld
