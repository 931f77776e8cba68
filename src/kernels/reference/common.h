// Helpers shared by the reference kernels: input checks, axis handling, broadcasting, strides.
#pragma once

#include <string>
#include <vector>

#include "kernels/kernel.h"

namespace qdiff::kernels::ref {

// Input i, or an error naming the missing input.
Result<const Tensor*> required_input(const KernelContext& ctx, size_t i);

// Normalises an axis in [-rank, rank) to [0, rank); error when out of range.
Result<int64_t> normalize_axis(int64_t axis, int64_t rank);

// Row-major strides of a shape (in elements).
std::vector<int64_t> strides_of(const Shape& shape);

// Numpy-style multidirectional broadcast of two shapes; error when incompatible.
Result<Shape> broadcast_shapes(const Shape& a, const Shape& b);

// For each output element index (row-major over `out`), the flat index into an input of shape
// `in` broadcast to `out` (in must be broadcastable to out; rank may be lower).
std::vector<int64_t> broadcast_index_map(const Shape& in, const Shape& out);

// Error for an unsupported input dtype: "<op>: input <i> has type <t>, expected ...".
Status dtype_error(const char* op, size_t input, DType got, const char* expected);

}  // namespace qdiff::kernels::ref
