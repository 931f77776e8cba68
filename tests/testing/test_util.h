// Test helpers: tensor construction and comparison with named tolerances.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace qdiff::testing {

// Fails the test with the first differing element when `actual` and `expected` differ in dtype,
// shape, or (elementwise) by more than atol + rtol * |expected|. NaN matches NaN.
::testing::AssertionResult tensors_near(const Tensor& actual, const Tensor& expected,
                                        double atol = 1e-6, double rtol = 1e-5);
// Exact equality (integers, bools, data movement).
::testing::AssertionResult tensors_equal(const Tensor& actual, const Tensor& expected);

inline Tensor f32(Shape shape, std::vector<float> v) {
  return Tensor::from_vector<float>(std::move(shape), v);
}
inline Tensor i64(Shape shape, std::vector<int64_t> v) {
  return Tensor::from_vector<int64_t>(std::move(shape), v);
}

}  // namespace qdiff::testing
