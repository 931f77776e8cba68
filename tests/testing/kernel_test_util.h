// Kernel test helpers: run one kernel on tensors and attributes, and check its first output.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "kernels/kernel.h"
#include "tensor/attributes.h"
#include "testing/test_util.h"

namespace qdiff::testing {

// What a kernel run returned: its status and its outputs (Y, then any further outputs).
struct KernelRun {
  Status status;
  std::vector<Tensor> y;
  const Tensor& out() const { return y[0]; }
};

// Runs `fn` on `inputs` with `num_outputs` empty output slots. An undefined Tensor in `inputs`
// stands for an absent optional input (the kernel sees nullptr).
KernelRun run_kernel(kernels::KernelFn fn, const std::vector<Tensor>& inputs,
                     const Attributes& attrs = {}, int64_t opset = 13, size_t num_outputs = 1);

// Attributes from a list of (name, value) pairs.
Attributes attrs(std::vector<std::pair<std::string, AttributeValue>> list);

template <typename T>
Tensor tv(Shape shape, std::vector<T> v) {
  return Tensor::from_vector<T>(std::move(shape), v);
}
inline Tensor b8(Shape shape, std::vector<bool> v) {
  return Tensor::from_vector<bool>(std::move(shape), v);
}

}  // namespace qdiff::testing

// The run `r` succeeded and its first output equals (is near) `expected`.
#define EXPECT_OUT_EQ(r, expected)                                       \
  do {                                                                   \
    ASSERT_TRUE((r).status.ok()) << (r).status.message();                \
    EXPECT_TRUE(::qdiff::testing::tensors_equal((r).out(), (expected))); \
  } while (false)

#define EXPECT_OUT_NEAR(r, expected)                                    \
  do {                                                                  \
    ASSERT_TRUE((r).status.ok()) << (r).status.message();               \
    EXPECT_TRUE(::qdiff::testing::tensors_near((r).out(), (expected))); \
  } while (false)
