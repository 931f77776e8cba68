// Hand-derived cases for Einsum.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "kernels/reference/reference.h"
#include "testing/kernel_test_util.h"

namespace qdiff::kernels::ref {
namespace {

using qdiff::testing::attrs;
using qdiff::testing::f32;
using qdiff::testing::i64;
using qdiff::testing::KernelRun;
using qdiff::testing::run_kernel;
using qdiff::testing::tensors_equal;

// Einsum at opset 12.
KernelRun einsum(const std::string& eq, const std::vector<Tensor>& in) {
  return run_kernel(Einsum, in, attrs({{"equation", eq}}), 12);
}

const Tensor kA = f32({2, 3}, {1, 2, 3, 4, 5, 6});

TEST(RefEinsum, TransposeSumAndImplicit) {
  EXPECT_OUT_EQ(einsum("ij->ji", {kA}), f32({3, 2}, {1, 4, 2, 5, 3, 6}));
  EXPECT_OUT_EQ(einsum("ij->i", {kA}), f32({2}, {6, 15}));
  EXPECT_OUT_EQ(einsum(" i j -> ", {kA}), f32({}, {21}));
  EXPECT_OUT_EQ(einsum("ji", {kA}), f32({3, 2}, {1, 4, 2, 5, 3, 6}));  // implicit: sorted "ij"
}

TEST(RefEinsum, MatmulInnerAndDiagonal) {
  const Tensor b = f32({3, 1}, {1, 0, -1});
  EXPECT_OUT_EQ(einsum("ij,jk->ik", {kA, b}), f32({2, 1}, {-2, -2}));
  EXPECT_OUT_EQ(einsum("i,i", {f32({3}, {1, 2, 3}), f32({3}, {4, 5, 6})}), f32({}, {32}));
  const Tensor sq = i64({2, 2, 2}, {1, 2, 3, 4, 5, 6, 7, 8});
  EXPECT_OUT_EQ(einsum("...ii->...i", {sq}), i64({2, 2}, {1, 4, 5, 8}));
  EXPECT_OUT_EQ(einsum("bij,bjk->bik", {sq, sq}), i64({2, 2, 2}, {7, 10, 15, 22, 67, 78, 91, 106}));
}

TEST(RefEinsum, BadInput) {
  EXPECT_FALSE(einsum("ij,jk->ik", {kA, kA}).status.ok());  // j: 3 vs 2
  EXPECT_FALSE(einsum("ijk->i", {kA}).status.ok());         // rank mismatch
  EXPECT_FALSE(einsum("ij->k", {kA}).status.ok());          // unknown output label
  EXPECT_FALSE(einsum("i1->i", {kA}).status.ok());
  EXPECT_FALSE(einsum("ij", {kA, kA}).status.ok());  // term count
}

}  // namespace
}  // namespace qdiff::kernels::ref
