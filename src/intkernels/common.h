// Shared helpers of the integer reference kernels: storage types of quantized tensors, integer
// element access, numpy broadcasting.
#pragma once

#include <cstdint>
#include <vector>

#include "numerics/quant_params.h"
#include "support/status.h"
#include "tensor/tensor.h"

namespace qdiff::intkernels {

// The integer storage type of tensors quantized with `p`: (u)int8 up to 8 bits, (u)int16 up to
// 16 bits, int32 above (biases).
DType storage_dtype(const QuantParams& p);

// Elements of an integer tensor (int8/uint8/int16/uint16/int32/int64) as int64. Errors name `what`.
Result<std::vector<int64_t>> integer_values(const Tensor& t, const char* what);

// A tensor of `dtype` (an integer type) holding `values`; each value must fit the type (checked).
Tensor make_integer_tensor(DType dtype, const Shape& shape, const std::vector<int64_t>& values);

// numpy broadcasting of two shapes; error when incompatible.
Result<Shape> broadcast_shapes(const Shape& a, const Shape& b);
// For every element of `out` (row-major), the flat index of the element of a tensor of shape
// `in` (right-aligned, size-1 dims broadcast) that it reads.
std::vector<int64_t> broadcast_index_map(const Shape& in, const Shape& out);

}  // namespace qdiff::intkernels
