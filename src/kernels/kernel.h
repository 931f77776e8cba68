// The kernel calling convention. A kernel is a pure function of its inputs and attributes:
// it never sees the graph, never mutates its inputs and allocates its own outputs.
#pragma once

#include <cstdint>
#include <memory>
#include <span>

#include "support/status.h"
#include "tensor/attributes.h"
#include "tensor/tensor.h"

namespace qdiff::kernels {

// Per-node state a kernel may keep between runs (e.g. a fast path's prepared primitive).
struct KernelState {
  virtual ~KernelState() = default;
};

// An activation the interpreter fused into a kernel (a Conv): the kernel applies it to its
// output 0 in place, with exactly the fast activation kernel's per-element operation
// (kernels/fast/activation.h), so the result is the activation node's output, bit for bit.
struct FusedActivation {
  enum class Kind { kNone, kRelu, kClip };
  Kind kind = Kind::kNone;
  float lo = 0, hi = 0;  // kClip bounds
};

struct KernelContext {
  const Attributes& attrs;
  // One entry per node input; nullptr where an optional input is absent.
  std::span<const Tensor* const> inputs;
  // One entry per node output, empty on entry; the kernel fills each one it produces.
  std::span<Tensor> outputs;
  // Opset version of the node's domain (semantics of several ops changed across versions).
  int64_t opset = 13;
  // Threads the kernel may use; results must not depend on it.
  int threads = 1;
  // Slot for KernelState, owned by the caller, persistent across runs of the same node.
  std::unique_ptr<KernelState>* state = nullptr;
  // Layouts (tensor/tensor.h). Inputs are plain unless the kernel declares that it reads NHWC
  // (a fast kernel marked kNhwc in fast_kernels.def). Such a kernel may store an output of rank
  // 4 as NHWC only when this is set (every reader of the output reads NHWC too).
  bool nhwc_output = false;
  // Set by the interpreter's fusion plan for kernels that support it (fast Conv); others never
  // see anything but kNone.
  FusedActivation fused{};

  size_t num_inputs() const { return inputs.size(); }
  // Input i, or nullptr when absent or beyond the node's inputs.
  const Tensor* input(size_t i) const { return i < inputs.size() ? inputs[i] : nullptr; }
  // Allocates output i with the memory limit checked; returns it for writing.
  Result<Tensor*> alloc_output(size_t i, DType dtype, Shape shape) {
    QDIFF_ASSERT(i < outputs.size(), "output index out of range");
    QDIFF_ASSIGN_OR_RETURN(outputs[i], Tensor::create(dtype, std::move(shape)));
    return &outputs[i];
  }
  // Same, uninitialized (the kernel writes every element), stored as `layout`.
  Result<Tensor*> alloc_output_for_overwrite(size_t i, DType dtype, Shape shape,
                                             Layout layout = Layout::kPlain) {
    QDIFF_ASSERT(i < outputs.size(), "output index out of range");
    QDIFF_ASSIGN_OR_RETURN(outputs[i],
                           Tensor::create_for_overwrite(dtype, std::move(shape), layout));
    return &outputs[i];
  }
  // Sets output i to an existing tensor (shared storage is fine: tensors are immutable).
  void set_output(size_t i, Tensor t) {
    if (i < outputs.size()) outputs[i] = std::move(t);
  }
};

using KernelFn = Status (*)(KernelContext&);

}  // namespace qdiff::kernels
