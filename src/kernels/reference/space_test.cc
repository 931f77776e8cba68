// Hand-derived cases for DepthToSpace and SpaceToDepth.
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

const Tensor kX8 = f32({1, 8, 1, 1}, {0, 1, 2, 3, 4, 5, 6, 7});

TEST(DepthToSpaceRef, DcrAndCrd) {
  auto dcr = run_kernel(DepthToSpace, {kX8}, attrs({{"blocksize", int64_t{2}}}));
  ASSERT_TRUE(dcr.status.ok()) << dcr.status.message();
  EXPECT_TRUE(tensors_equal(dcr.y[0], f32({1, 2, 2, 2}, {0, 2, 4, 6, 1, 3, 5, 7})));
  auto crd = run_kernel(DepthToSpace, {kX8},
                        attrs({{"blocksize", int64_t{2}}, {"mode", std::string("CRD")}}));
  ASSERT_TRUE(crd.status.ok());
  EXPECT_TRUE(tensors_equal(crd.y[0], f32({1, 2, 2, 2}, {0, 1, 2, 3, 4, 5, 6, 7})));
}

TEST(SpaceToDepthRef, InverseOfDcr) {
  const Tensor x = f32({1, 2, 2, 2}, {0, 1, 2, 3, 4, 5, 6, 7});
  auto r = run_kernel(SpaceToDepth, {x}, attrs({{"blocksize", int64_t{2}}}));
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_equal(r.y[0], f32({1, 8, 1, 1}, {0, 4, 1, 5, 2, 6, 3, 7})));
  auto back = run_kernel(DepthToSpace, {r.y[0]}, attrs({{"blocksize", int64_t{2}}}));
  ASSERT_TRUE(back.status.ok());
  EXPECT_TRUE(tensors_equal(back.y[0], x));
}

TEST(SpaceRef, Errors) {
  EXPECT_FALSE(
      run_kernel(DepthToSpace, {f32({1, 3, 1, 1}, {1, 2, 3})}, attrs({{"blocksize", int64_t{2}}}))
          .status.ok());
  EXPECT_FALSE(run_kernel(DepthToSpace, {kX8}, attrs({{"blocksize", int64_t{0}}})).status.ok());
  EXPECT_FALSE(run_kernel(SpaceToDepth, {f32({1, 1, 3, 2}, {1, 2, 3, 4, 5, 6})},
                          attrs({{"blocksize", int64_t{2}}}))
                   .status.ok());
  EXPECT_FALSE(
      run_kernel(SpaceToDepth, {f32({2}, {1, 2})}, attrs({{"blocksize", int64_t{1}}})).status.ok());
}

}  // namespace
}  // namespace qdiff::kernels::ref
