// The fake-quant world: the float graph run with float kernels, every tensor the plan names
// quantized and dequantized exactly as the plan says (QuantizeLinear then DequantizeLinear, with
// the plan's rounding mode). Tensors keep the float model's names and hold the values their
// readers see, so the fake-quant and float worlds compare name by name.
#pragma once

#include <memory>
#include <vector>

#include "ir/graph.h"
#include "quant/plan.h"
#include "runtime/observer.h"
#include "support/status.h"
#include "tensor/tensor.h"

namespace qdiff::quant {

// dequantize(quantize(x)) element by element with `p` (per channel along p.axis). A non-plain
// (channels-last) tensor quantized per tensor is returned in its own layout; per channel, plain.
// Errors: non-float32 input, axis out of range or a channel count that differs from the
// scale count.
// `reciprocal`: quantize as x * f32(1 / scale) (quantize_by_reciprocal) instead of x / scale.
Result<Tensor> fake_quantize(const Tensor& x, const QuantParams& p, RoundingMode mode,
                             bool reciprocal = false);

// The relative error energy ||x - fq(x)||^2 / ||x||^2 fake-quantization under `t` gives a float32
// constant (a weight or bias): 0 for a zero tensor, NaN when `t` cannot quantize it.
double relative_fake_quant_error(const Tensor& x, const TensorPlan& t);

// The parameters ONNX DynamicQuantizeLinear computes for x (uint8): rmin = min(min(x), 0),
// rmax = max(max(x), 0), scale = (rmax - rmin) / 255 in float32, zero point =
// sat(rhe(0 - rmin / scale)); an all-zero x gets scale 1 (see numerics/quant_params.h).
// NaN elements are skipped.
QuantParams dynamic_params(const Tensor& x);

class FakeQuantWorld {
 public:
  // Checks the plan against the graph (check_plan) and builds the world: a copy of the graph
  // whose weights and biases hold their fake-quantized values, and the transform that
  // fake-quantizes activations as they are produced.
  static Result<std::unique_ptr<FakeQuantWorld>> create(const ir::Graph& graph,
                                                        const QuantPlan& plan);

  const ir::Graph& graph() const { return graph_; }
  runtime::ValueTransform* transform() { return &transform_; }
  // The plan of the activation (or graph input) `id` the transform fake-quantizes, else nullptr.
  const TensorPlan* activation_plan(ir::ValueId id) const {
    return transform_.applies(id) ? transform_.entries[id] : nullptr;
  }

 private:
  class Transform : public runtime::ValueTransform {
   public:
    bool applies(ir::ValueId id) const override {
      return id < entries.size() && entries[id] != nullptr;
    }
    Result<Tensor> apply(ir::ValueId id, const Tensor& value) override;
    // fake_quantize keeps a channels-last tensor channels-last (per tensor).
    bool any_layout() const override { return true; }
    std::vector<const TensorPlan*> entries;  // per value of the graph
    const ir::Graph* graph = nullptr;
  };

  FakeQuantWorld() = default;
  QuantPlan plan_;
  ir::Graph graph_;
  Transform transform_;
};

}  // namespace qdiff::quant
