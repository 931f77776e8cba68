// Hand-derived cases for Concat, Split, Slice, Gather, Transpose, Expand and Tile.
#include <gtest/gtest.h>

#include <limits>
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
using qdiff::testing::KernelRun;
using qdiff::testing::run_kernel;
using qdiff::testing::tensors_equal;

Attributes axis(int64_t a) {
  return attrs({{"axis", a}});
}

constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
constexpr int64_t kMin = std::numeric_limits<int64_t>::min();

// ---- Concat

TEST(RefMovementConcat, Axis1AndNegative) {
  Tensor a = f32({2, 2}, {1, 2, 3, 4});
  Tensor b = f32({2, 1}, {5, 6});
  for (int64_t ax : {1, -1}) {
    auto r = run_kernel(Concat, {a, b}, axis(ax));
    ASSERT_TRUE(r.status.ok()) << r.status.message();
    EXPECT_TRUE(tensors_equal(r.y[0], f32({2, 3}, {1, 2, 5, 3, 4, 6})));
  }
  auto r = run_kernel(Concat, {a, f32({1, 2}, {7, 8})}, axis(-2));
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_equal(r.y[0], f32({3, 2}, {1, 2, 3, 4, 7, 8})));
}

TEST(RefMovementConcat, EmptyInputsAndOtherDtypes) {
  Tensor a = Tensor::from_vector<int8_t>({1, 2}, {-1, 2});
  Tensor e = Tensor::from_vector<int8_t>({1, 0}, {});
  Tensor b = Tensor::from_vector<int8_t>({1, 1}, {9});
  auto r = run_kernel(Concat, {e, a, e, b}, axis(1));
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_equal(r.y[0], Tensor::from_vector<int8_t>({1, 3}, {-1, 2, 9})));
  // All empty.
  r = run_kernel(Concat, {f32({0, 3}, {}), f32({0, 3}, {})}, axis(0));
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_EQ(r.y[0].shape(), (qdiff::Shape{0, 3}));
}

TEST(RefMovementConcat, Errors) {
  Tensor a = f32({2, 2}, {1, 2, 3, 4});
  EXPECT_FALSE(run_kernel(Concat, {a, f32({3, 1}, {1, 2, 3})}, axis(1)).status.ok());  // shape
  EXPECT_FALSE(run_kernel(Concat, {a, i64({2, 1}, {1, 2})}, axis(1)).status.ok());     // dtype
  EXPECT_FALSE(run_kernel(Concat, {a, a}, axis(2)).status.ok());                       // axis range
  EXPECT_FALSE(run_kernel(Concat, {a, a}, {}).status.ok());               // axis missing
  EXPECT_FALSE(run_kernel(Concat, {f32({}, {1})}, axis(0)).status.ok());  // scalar
}

// ---- Split

TEST(RefMovementSplit, EqualPartsDefaultAxis) {
  auto r = run_kernel(Split, {f32({6}, {1, 2, 3, 4, 5, 6})}, {}, 13, 3);
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_equal(r.y[0], f32({2}, {1, 2})));
  EXPECT_TRUE(tensors_equal(r.y[1], f32({2}, {3, 4})));
  EXPECT_TRUE(tensors_equal(r.y[2], f32({2}, {5, 6})));
  EXPECT_FALSE(run_kernel(Split, {f32({5}, {1, 2, 3, 4, 5})}, {}, 13, 3).status.ok());  // uneven
}

TEST(RefMovementSplit, SplitInputAndAttribute) {
  Tensor x = f32({2, 3}, {1, 2, 3, 4, 5, 6});
  auto r = run_kernel(Split, {x, i64({2}, {1, 2})}, axis(-1), 13, 2);
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_equal(r.y[0], f32({2, 1}, {1, 4})));
  EXPECT_TRUE(tensors_equal(r.y[1], f32({2, 2}, {2, 3, 5, 6})));
  r = run_kernel(Split, {x}, attrs({{"axis", int64_t{1}}, {"split", std::vector<int64_t>{2, 1}}}),
                 11, 2);
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_equal(r.y[0], f32({2, 2}, {1, 2, 4, 5})));
  EXPECT_TRUE(tensors_equal(r.y[1], f32({2, 1}, {3, 6})));
  // Attribute form from 13 and input form before 13 are invalid.
  EXPECT_FALSE(run_kernel(Split, {x},
                          attrs({{"axis", int64_t{1}}, {"split", std::vector<int64_t>{2, 1}}}), 13,
                          2)
                   .status.ok());
  EXPECT_FALSE(run_kernel(Split, {x, i64({2}, {1, 2})}, axis(1), 11, 2).status.ok());
  // Bad sums / counts / negative sizes.
  EXPECT_FALSE(run_kernel(Split, {x, i64({2}, {1, 1})}, axis(1), 13, 2).status.ok());
  EXPECT_FALSE(run_kernel(Split, {x, i64({2}, {4, -1})}, axis(1), 13, 2).status.ok());
  EXPECT_FALSE(run_kernel(Split, {x, i64({3}, {1, 1, 1})}, axis(1), 13, 2).status.ok());
}

TEST(RefMovementSplit, NumOutputsUnevenLastChunk) {
  Tensor x = Tensor::from_vector<int32_t>({7}, {1, 2, 3, 4, 5, 6, 7});
  auto r = run_kernel(Split, {x}, attrs({{"num_outputs", int64_t{3}}}), 18, 3);
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_equal(r.y[0], Tensor::from_vector<int32_t>({3}, {1, 2, 3})));
  EXPECT_TRUE(tensors_equal(r.y[1], Tensor::from_vector<int32_t>({3}, {4, 5, 6})));
  EXPECT_TRUE(tensors_equal(r.y[2], Tensor::from_vector<int32_t>({1}, {7})));
  // num_outputs must match the node's outputs; cannot be combined with split.
  EXPECT_FALSE(run_kernel(Split, {x}, attrs({{"num_outputs", int64_t{2}}}), 18, 3).status.ok());
  EXPECT_FALSE(
      run_kernel(Split, {x, i64({3}, {3, 3, 1})}, attrs({{"num_outputs", int64_t{3}}}), 18, 3)
          .status.ok());
}

TEST(RefMovementSplit, ZeroSizeSplits) {
  auto r = run_kernel(Split, {f32({0}, {}), i64({3}, {0, 0, 0})}, {}, 13, 3);
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  for (const Tensor& t : r.y) EXPECT_EQ(t.shape(), (qdiff::Shape{0}));
  r = run_kernel(Split, {f32({3}, {1, 2, 3}), i64({3}, {0, 3, 0})}, {}, 13, 3);
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_EQ(r.y[0].shape(), (qdiff::Shape{0}));
  EXPECT_TRUE(tensors_equal(r.y[1], f32({3}, {1, 2, 3})));
  EXPECT_EQ(r.y[2].shape(), (qdiff::Shape{0}));
}

// ---- Slice

Tensor iota10() {
  return i64({10}, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
}

KernelRun slice1d(std::vector<int64_t> st, std::vector<int64_t> en, std::vector<int64_t> steps) {
  const int64_t n = static_cast<int64_t>(st.size());
  return run_kernel(Slice, {iota10(), i64({n}, st), i64({n}, en), Tensor(), i64({n}, steps)}, {},
                    13);
}

TEST(RefMovementSlice, PositiveStepsAndClamping) {
  auto r = slice1d({1}, {1000}, {3});
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_equal(r.y[0], i64({3}, {1, 4, 7})));
  r = slice1d({-3}, {-1}, {1});
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_equal(r.y[0], i64({2}, {7, 8})));
  r = slice1d({-100}, {2}, {1});  // start clamped to 0
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_equal(r.y[0], i64({2}, {0, 1})));
  r = slice1d({20}, {kMax}, {1});  // start beyond the end: empty
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_EQ(r.y[0].shape(), (qdiff::Shape{0}));
  r = slice1d({5}, {2}, {1});  // end before start: empty
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_EQ(r.y[0].shape(), (qdiff::Shape{0}));
  r = slice1d({0}, {kMax}, {kMax});  // huge step: one element
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_equal(r.y[0], i64({1}, {0})));
}

TEST(RefMovementSlice, NegativeSteps) {
  auto r = slice1d({-1}, {kMin}, {-1});  // full reversal
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_equal(r.y[0], i64({10}, {9, 8, 7, 6, 5, 4, 3, 2, 1, 0})));
  r = slice1d({20}, {0}, {-1});  // start clamped to dim-1, end exclusive
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_equal(r.y[0], i64({9}, {9, 8, 7, 6, 5, 4, 3, 2, 1})));
  r = slice1d({8}, {-100}, {-3});  // end clamped to -1
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_equal(r.y[0], i64({3}, {8, 5, 2})));
  r = slice1d({-1}, {-1}, {-1});  // start == end: empty
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_EQ(r.y[0].shape(), (qdiff::Shape{0}));
  r = slice1d({kMax}, {kMin}, {kMin});  // most negative step: one element
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_equal(r.y[0], i64({1}, {9})));
}

TEST(RefMovementSlice, TwoDimsAxesAndDefaults) {
  Tensor x = f32({2, 4}, {1, 2, 3, 4, 5, 6, 7, 8});
  auto r = run_kernel(
      Slice, {x, i64({2}, {1, 0}), i64({2}, {2, 3}), i64({2}, {0, 1}), i64({2}, {1, 2})}, {}, 13);
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_equal(r.y[0], f32({1, 2}, {5, 7})));
  // Default axes and steps.
  r = run_kernel(Slice, {x, i64({2}, {0, 1}), i64({2}, {-1, 1000})}, {}, 13);
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_equal(r.y[0], f32({1, 3}, {2, 3, 4})));
  // Negative axis, one axis only, reversed columns.
  r = run_kernel(Slice, {x, i64({1}, {-1}), i64({1}, {kMin}), i64({1}, {-1}), i64({1}, {-1})}, {},
                 13);
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_equal(r.y[0], f32({2, 4}, {4, 3, 2, 1, 8, 7, 6, 5})));
  // int32 starts/ends.
  r = run_kernel(Slice,
                 {x, Tensor::from_vector<int32_t>({1}, {1}), Tensor::from_vector<int32_t>({1}, {3}),
                  Tensor::from_vector<int32_t>({1}, {1})},
                 {}, 13);
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_equal(r.y[0], f32({2, 2}, {2, 3, 6, 7})));
}

TEST(RefMovementSlice, AttributeFormBeforeOpset10) {
  Tensor x = f32({2, 4}, {1, 2, 3, 4, 5, 6, 7, 8});
  auto r = run_kernel(Slice, {x},
                      attrs({{"starts", std::vector<int64_t>{0, 1}},
                             {"ends", std::vector<int64_t>{1, 1000}},
                             {"axes", std::vector<int64_t>{0, 1}}}),
                      9);
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_equal(r.y[0], f32({1, 3}, {2, 3, 4})));
  r = run_kernel(Slice, {x},
                 attrs({{"starts", std::vector<int64_t>{1}}, {"ends", std::vector<int64_t>{-1}}}),
                 1);
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_EQ(r.y[0].shape(), (qdiff::Shape{0, 4}));  // dim 0: [1, 1)
}

TEST(RefMovementSlice, Errors) {
  EXPECT_FALSE(slice1d({0}, {5}, {0}).status.ok());  // zero step
  Tensor x = f32({2, 4}, {1, 2, 3, 4, 5, 6, 7, 8});
  EXPECT_FALSE(run_kernel(Slice, {x, i64({2}, {0, 0}), i64({2}, {1, 1}), i64({2}, {1, -1})}, {}, 13)
                   .status.ok());  // repeated axis
  EXPECT_FALSE(
      run_kernel(Slice, {x, i64({1}, {0}), i64({1}, {1}), i64({1}, {2})}, {}, 13).status.ok());
  EXPECT_FALSE(run_kernel(Slice, {x, i64({1}, {0}), i64({2}, {1, 1})}, {}, 13).status.ok());
  EXPECT_FALSE(run_kernel(Slice, {x}, {}, 9).status.ok());  // no starts/ends attributes
}

// ---- Gather

TEST(RefMovementGather, Axis0With2DIndices) {
  Tensor x = f32({3, 2}, {1, 2, 3, 4, 5, 6});
  auto r = run_kernel(Gather, {x, i64({2, 2}, {0, 1, 1, 2})}, {});
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_equal(r.y[0], f32({2, 2, 2}, {1, 2, 3, 4, 3, 4, 5, 6})));
}

TEST(RefMovementGather, Axis1NegativeIndicesInt32) {
  Tensor x = f32({2, 3}, {1, 2, 3, 4, 5, 6});
  Tensor ind = Tensor::from_vector<int32_t>({2}, {-1, 0});
  auto r = run_kernel(Gather, {x, ind}, axis(-1));
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_equal(r.y[0], f32({2, 2}, {3, 1, 6, 4})));
}

TEST(RefMovementGather, ScalarIndexAndOtherDtypes) {
  Tensor x = Tensor::from_vector<uint8_t>({2, 3}, {1, 2, 3, 4, 5, 6});
  auto r = run_kernel(Gather, {x, i64({}, {1})}, {});
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_equal(r.y[0], Tensor::from_vector<uint8_t>({3}, {4, 5, 6})));
  r = run_kernel(Gather, {x, i64({0}, {})}, axis(1));  // empty indices
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_EQ(r.y[0].shape(), (qdiff::Shape{2, 0}));
}

TEST(RefMovementGather, OutOfRangeIsAnError) {
  Tensor x = f32({3}, {1, 2, 3});
  EXPECT_FALSE(run_kernel(Gather, {x, i64({1}, {3})}, {}).status.ok());
  EXPECT_FALSE(run_kernel(Gather, {x, i64({1}, {-4})}, {}).status.ok());
  EXPECT_FALSE(run_kernel(Gather, {x, f32({1}, {0})}, {}).status.ok());  // float indices
  EXPECT_FALSE(run_kernel(Gather, {x, i64({1}, {0})}, axis(1)).status.ok());
}

// ---- Transpose

TEST(RefMovementTranspose, DefaultReversesDims) {
  Tensor x = f32({2, 3}, {1, 2, 3, 4, 5, 6});
  auto r = run_kernel(Transpose, {x}, {});
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_equal(r.y[0], f32({3, 2}, {1, 4, 2, 5, 3, 6})));
}

TEST(RefMovementTranspose, Perm3D) {
  // x[i][j][k] = 100i + 10j + k, shape [2,2,3]; perm [1,0,2] -> y[j][i][k].
  Tensor x = i64({2, 2, 3}, {0, 1, 2, 10, 11, 12, 100, 101, 102, 110, 111, 112});
  auto r = run_kernel(Transpose, {x}, attrs({{"perm", std::vector<int64_t>{1, 0, 2}}}));
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(
      tensors_equal(r.y[0], i64({2, 2, 3}, {0, 1, 2, 100, 101, 102, 10, 11, 12, 110, 111, 112})));
  r = run_kernel(Transpose, {x}, attrs({{"perm", std::vector<int64_t>{2, 0, 1}}}));
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  // y[k][i][j] shape [3,2,2]
  EXPECT_TRUE(
      tensors_equal(r.y[0], i64({3, 2, 2}, {0, 10, 100, 110, 1, 11, 101, 111, 2, 12, 102, 112})));
}

TEST(RefMovementTranspose, EdgeCases) {
  auto r = run_kernel(Transpose, {f32({}, {5})}, {});
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_equal(r.y[0], f32({}, {5})));
  r = run_kernel(Transpose, {f32({0, 3}, {})}, {});
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_EQ(r.y[0].shape(), (qdiff::Shape{3, 0}));
  Tensor x = f32({2, 3}, {1, 2, 3, 4, 5, 6});
  EXPECT_FALSE(
      run_kernel(Transpose, {x}, attrs({{"perm", std::vector<int64_t>{0, 0}}})).status.ok());
  EXPECT_FALSE(run_kernel(Transpose, {x}, attrs({{"perm", std::vector<int64_t>{0}}})).status.ok());
  EXPECT_FALSE(
      run_kernel(Transpose, {x}, attrs({{"perm", std::vector<int64_t>{0, 2}}})).status.ok());
}

// ---- Expand

TEST(RefMovementExpand, Bidirectional) {
  Tensor x = f32({3, 1}, {1, 2, 3});
  auto r = run_kernel(Expand, {x, i64({3}, {2, 1, 2})}, {});
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_equal(r.y[0], f32({2, 3, 2}, {1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3})));
  // A shape of lower rank / with ones keeps the input's dims.
  r = run_kernel(Expand, {x, i64({1}, {1})}, {});
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_equal(r.y[0], x));
  r = run_kernel(Expand, {f32({}, {7}), i64({2}, {2, 2})}, {});
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_equal(r.y[0], f32({2, 2}, {7, 7, 7, 7})));
  r = run_kernel(Expand, {x, i64({2}, {3, 0})}, {});  // 1 -> 0
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_EQ(r.y[0].shape(), (qdiff::Shape{3, 0}));
}

TEST(RefMovementExpand, Errors) {
  Tensor x = f32({3, 1}, {1, 2, 3});
  EXPECT_FALSE(run_kernel(Expand, {x, i64({2}, {2, 1})}, {}).status.ok());
  EXPECT_FALSE(run_kernel(Expand, {x, i64({2}, {-1, 1})}, {}).status.ok());
}

// ---- Tile

TEST(RefMovementTile, Repeats) {
  Tensor x = f32({2, 2}, {1, 2, 3, 4});
  auto r = run_kernel(Tile, {x, i64({2}, {2, 1})}, {});
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_equal(r.y[0], f32({4, 2}, {1, 2, 3, 4, 1, 2, 3, 4})));
  r = run_kernel(Tile, {x, i64({2}, {1, 2})}, {});
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_equal(r.y[0], f32({2, 4}, {1, 2, 1, 2, 3, 4, 3, 4})));
  r = run_kernel(Tile, {x, i64({2}, {0, 3})}, {});
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_EQ(r.y[0].shape(), (qdiff::Shape{0, 6}));
  Tensor b = Tensor::from_vector<bool>({1}, {true});
  r = run_kernel(Tile, {b, i64({1}, {3})}, {});
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_equal(r.y[0], Tensor::from_vector<bool>({3}, {true, true, true})));
}

TEST(RefMovementTile, Errors) {
  Tensor x = f32({2, 2}, {1, 2, 3, 4});
  EXPECT_FALSE(run_kernel(Tile, {x, i64({1}, {2})}, {}).status.ok());
  EXPECT_FALSE(run_kernel(Tile, {x, i64({2}, {-1, 1})}, {}).status.ok());
  EXPECT_FALSE(run_kernel(Tile, {x, i64({2}, {kMax, 1})}, {}).status.ok());  // overflow
}

}  // namespace
}  // namespace qdiff::kernels::ref
