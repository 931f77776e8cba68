// Hand-derived cases for Softmax and LogSoftmax.
#include <gtest/gtest.h>

#include <cmath>

#include <string>
#include <utility>
#include <vector>

#include "kernels/reference/reference.h"
#include "testing/kernel_test_util.h"

namespace qdiff::kernels::ref {
namespace {

using qdiff::testing::attrs;
using qdiff::testing::f32;
using qdiff::testing::i64;
using qdiff::testing::run_kernel;
using qdiff::testing::tensors_equal;
using qdiff::testing::tensors_near;

using Ints = std::vector<int64_t>;

TEST(SoftmaxRef, LastAxisAndLargeNumbers) {
  auto r = run_kernel(Softmax, {f32({2}, {1, 2})}, {});
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_near(r.y[0], f32({2}, {0.26894142f, 0.73105858f})));
  auto big = run_kernel(Softmax, {f32({2}, {1000, 1001})}, {});
  ASSERT_TRUE(big.status.ok());
  EXPECT_TRUE(tensors_near(big.y[0], f32({2}, {0.26894142f, 0.73105858f})));
  auto lg = run_kernel(LogSoftmax, {f32({2}, {1000, 1001})}, {});
  ASSERT_TRUE(lg.status.ok());
  EXPECT_TRUE(tensors_near(lg.y[0], f32({2}, {-1.3132616f, -0.3132616f})));
}

TEST(SoftmaxRef, AxisSemanticsByOpset) {
  const Tensor x = f32({1, 2, 2}, {0, 1, 0, 1});
  // Opset 13: softmax along axis 1 only: each pair (0,0) and (1,1) is uniform.
  auto v13 = run_kernel(Softmax, {x}, attrs({{"axis", int64_t{1}}}), 13);
  ASSERT_TRUE(v13.status.ok());
  EXPECT_TRUE(tensors_near(v13.y[0], f32({1, 2, 2}, {0.5f, 0.5f, 0.5f, 0.5f})));
  // Opset 11: coerced to 2-D [1, 4] at axis 1 (also the default axis).
  const float a = 0.13447071f, b = 0.36552929f;
  auto v11 = run_kernel(Softmax, {x}, {}, 11);
  ASSERT_TRUE(v11.status.ok());
  EXPECT_TRUE(tensors_near(v11.y[0], f32({1, 2, 2}, {a, b, a, b})));
  auto neg = run_kernel(LogSoftmax, {x}, attrs({{"axis", int64_t{-2}}}), 11);
  ASSERT_TRUE(neg.status.ok());
  EXPECT_TRUE(
      tensors_near(neg.y[0], f32({1, 2, 2}, {std::log(a), std::log(b), std::log(a), std::log(b)})));
}

TEST(SoftmaxRef, Errors) {
  EXPECT_FALSE(run_kernel(Softmax, {f32({2}, {1, 2})}, attrs({{"axis", int64_t{1}}})).status.ok());
  EXPECT_FALSE(run_kernel(Softmax, {i64({2}, {1, 2})}, {}).status.ok());
}

TEST(HardmaxRef, FirstMaxPerLine) {
  const Tensor x = f32({2, 3}, {3, 1, 3, 0, 5, 2});
  auto r = run_kernel(Hardmax, {x}, {});
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_equal(r.y[0], f32({2, 3}, {1, 0, 0, 0, 1, 0})));
  r = run_kernel(Hardmax, {x}, attrs({{"axis", int64_t{0}}}));
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_equal(r.y[0], f32({2, 3}, {1, 0, 1, 0, 1, 0})));
}

TEST(HardmaxRef, LegacyCoercesTo2D) {
  // Opset 11, axis 1 on [2, 2, 2]: each batch row of 4 elements has one 1.
  const Tensor x = f32({2, 2, 2}, {1, 4, 2, 3, 9, 0, 9, 1});
  auto r = run_kernel(Hardmax, {x}, {}, 11);
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_equal(r.y[0], f32({2, 2, 2}, {0, 1, 0, 0, 1, 0, 0, 0})));
}

}  // namespace
}  // namespace qdiff::kernels::ref
