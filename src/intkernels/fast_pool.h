// Fast integer MaxPool: oneDNN's u8/s8 max pooling on channels-last tensors. A maximum is exact
// in any implementation, and oneDNN's max pooling leaves padded taps out, as ONNX's -inf padding
// does, so the result equals the reference MaxPool on the integers.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "support/status.h"
#include "tensor/tensor.h"

namespace qdiff::intkernels {

struct MaxPoolGeometry {
  std::vector<int64_t> kernel;     // [kh, kw]
  std::vector<int64_t> strides;    // [sh, sw]; empty = 1
  std::vector<int64_t> dilations;  // [dh, dw]; empty = 1
  std::vector<int64_t> pads;       // [top, left, bottom, right]; empty = 0
  bool ceil_mode = false;
};

class Int8MaxPool {
 public:
  // nullptr when the fast path does not apply (other dtypes or ranks, invalid geometry).
  static std::unique_ptr<Int8MaxPool> create(const std::vector<int64_t>& x_shape, DType dtype,
                                             const MaxPoolGeometry& geometry);
  ~Int8MaxPool();
  // The output, stored NHWC; x plain or NHWC.
  Result<Tensor> run(const Tensor& x);

  struct Impl;

 private:
  explicit Int8MaxPool(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace qdiff::intkernels
