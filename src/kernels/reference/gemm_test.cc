// Hand-derived cases for Gemm and MatMul.
#include <gtest/gtest.h>

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

// A = [[1,2,3],[4,5,6]], B = [[1,0],[0,1],[1,1]]: A*B = [[4,5],[10,11]].
const std::vector<float> kA = {1, 2, 3, 4, 5, 6};
const std::vector<float> kB = {1, 0, 0, 1, 1, 1};

TEST(GemmRef, AlphaBetaVectorBias) {
  auto r = run_kernel(Gemm, {f32({2, 3}, kA), f32({3, 2}, kB), f32({2}, {2, 4})},
                      attrs({{"alpha", 2.0f}, {"beta", 0.5f}}));
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_near(r.y[0], f32({2, 2}, {9, 12, 21, 24})));
}

TEST(GemmRef, Transposes) {
  auto r = run_kernel(Gemm, {f32({3, 2}, {1, 4, 2, 5, 3, 6}), f32({2, 3}, {1, 0, 1, 0, 1, 1})},
                      attrs({{"transA", int64_t{1}}, {"transB", int64_t{1}}}));
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_near(r.y[0], f32({2, 2}, {4, 5, 10, 11})));
}

TEST(GemmRef, BiasBroadcastAndOptional) {
  auto col = run_kernel(Gemm, {f32({2, 3}, kA), f32({3, 2}, kB), f32({2, 1}, {1, 2})}, {});
  ASSERT_TRUE(col.status.ok());
  EXPECT_TRUE(tensors_near(col.y[0], f32({2, 2}, {5, 6, 12, 13})));
  auto scalar = run_kernel(Gemm, {f32({2, 3}, kA), f32({3, 2}, kB), f32({}, {1})}, {});
  ASSERT_TRUE(scalar.status.ok());
  EXPECT_TRUE(tensors_near(scalar.y[0], f32({2, 2}, {5, 6, 11, 12})));
  auto none = run_kernel(Gemm, {f32({2, 3}, kA), f32({3, 2}, kB)}, {});
  ASSERT_TRUE(none.status.ok());
  EXPECT_TRUE(tensors_near(none.y[0], f32({2, 2}, {4, 5, 10, 11})));
}

TEST(GemmRef, RejectsBadShapes) {
  EXPECT_FALSE(run_kernel(Gemm, {f32({2, 3}, kA), f32({2, 3}, kA)}, {}).status.ok());
  EXPECT_FALSE(
      run_kernel(Gemm, {f32({2, 3}, kA), f32({3, 2}, kB), f32({3}, {1, 2, 3})}, {}).status.ok());
  EXPECT_FALSE(run_kernel(Gemm, {f32({6}, kA), f32({3, 2}, kB)}, {}).status.ok());
}

TEST(MatMulRef, VectorPromotion) {
  auto dot = run_kernel(MatMul, {f32({3}, {1, 2, 3}), f32({3}, {4, 5, 6})}, {});
  ASSERT_TRUE(dot.status.ok()) << dot.status.message();
  EXPECT_TRUE(tensors_near(dot.y[0], f32({}, {32})));
  auto mv = run_kernel(MatMul, {f32({2, 3}, kA), f32({3}, {1, 1, 1})}, {});
  ASSERT_TRUE(mv.status.ok());
  EXPECT_TRUE(tensors_near(mv.y[0], f32({2}, {6, 15})));
  auto vm = run_kernel(MatMul, {f32({3}, {1, 1, 1}), f32({3, 2}, kB)}, {});
  ASSERT_TRUE(vm.status.ok());
  EXPECT_TRUE(tensors_near(vm.y[0], f32({2}, {2, 2})));
}

TEST(MatMulRef, BatchBroadcast) {
  auto r = run_kernel(MatMul, {f32({2, 1, 2}, {1, 2, 3, 4}), f32({2, 2}, {1, 2, 3, 4})}, {});
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_near(r.y[0], f32({2, 1, 2}, {7, 10, 15, 22})));
  // [1,2] x [3,2,1]: batch dims broadcast to [3].
  auto b = run_kernel(MatMul, {f32({1, 2}, {1, 2}), f32({3, 2, 1}, {1, 0, 0, 1, 1, 1})}, {});
  ASSERT_TRUE(b.status.ok());
  EXPECT_TRUE(tensors_near(b.y[0], f32({3, 1, 1}, {1, 2, 3})));
  EXPECT_FALSE(
      run_kernel(MatMul, {f32({2, 1, 2}, {1, 2, 3, 4}), f32({3, 2, 1}, {1, 0, 0, 1, 1, 1})}, {})
          .status.ok());
}

TEST(MatMulRef, Int64AndErrors) {
  auto r = run_kernel(MatMul, {i64({1, 2}, {2, 3}), i64({2, 1}, {4, 5})}, {});
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_equal(r.y[0], i64({1, 1}, {23})));
  EXPECT_FALSE(run_kernel(MatMul, {f32({2, 3}, kA), f32({2, 3}, kA)}, {}).status.ok());
  EXPECT_FALSE(run_kernel(MatMul, {f32({}, {1}), f32({1}, {1})}, {}).status.ok());
  EXPECT_FALSE(run_kernel(MatMul, {f32({1}, {1}), i64({1}, {1})}, {}).status.ok());
}

}  // namespace
}  // namespace qdiff::kernels::ref
