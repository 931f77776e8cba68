// Hand-derived cases for GatherElements, GatherND, ScatterElements, Scatter, ScatterND, OneHot,
// NonZero, Trilu, EyeLike, CumSum and TopK.
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
using qdiff::testing::KernelRun;
using qdiff::testing::run_kernel;
using qdiff::testing::tensors_equal;
using qdiff::testing::tv;

// The ops here are tested at opset 18 unless a test names another.
KernelRun run(KernelFn fn, const std::vector<Tensor>& in, const Attributes& a = {},
              int64_t opset = 18, size_t n_out = 1) {
  return run_kernel(fn, in, a, opset, n_out);
}

// ---- GatherElements

TEST(RefIndexingGatherElements, Axis1AndAxis0) {
  const Tensor x = f32({2, 2}, {1, 2, 3, 4});
  // out[i][j] = x[i][idx[i][j]]
  EXPECT_OUT_EQ(run(GatherElements, {x, i64({2, 2}, {0, 0, 1, 0})}, attrs({{"axis", int64_t{1}}})),
                f32({2, 2}, {1, 1, 4, 3}));
  // out[i][j] = x[idx[i][j]][j]; negative index -1 is row 1; indices smaller than data.
  EXPECT_OUT_EQ(run(GatherElements, {x, i64({1, 2}, {-1, 0})}), f32({1, 2}, {3, 2}));
}

TEST(RefIndexingGatherElements, BadInput) {
  const Tensor x = f32({2, 2}, {1, 2, 3, 4});
  auto r = run(GatherElements, {x, i64({1, 1}, {2})});
  EXPECT_EQ(r.status.code(), ErrorCode::kInvalidArgument);
  r = run(GatherElements, {x, i64({1, 3}, {0, 0, 0})});  // dim 1 larger than data's
  EXPECT_EQ(r.status.code(), ErrorCode::kInvalidArgument);
  r = run(GatherElements, {x, i64({2}, {0, 0})});  // rank mismatch
  EXPECT_FALSE(r.status.ok());
}

// ---- GatherND

TEST(RefIndexingGatherND, FullAndPartialTuples) {
  const Tensor x = tv<int32_t>({2, 2}, {0, 1, 2, 3});
  EXPECT_OUT_EQ(run(GatherND, {x, i64({2, 2}, {0, 0, 1, 1})}), tv<int32_t>({2}, {0, 3}));
  EXPECT_OUT_EQ(run(GatherND, {x, i64({2, 1}, {1, 0})}), tv<int32_t>({2, 2}, {2, 3, 0, 1}));
  EXPECT_OUT_EQ(run(GatherND, {x, i64({1}, {-1})}), tv<int32_t>({2}, {2, 3}));
}

TEST(RefIndexingGatherND, BatchDims) {
  // data [2,2,2], indices [2,1] with batch_dims 1: out[b] = data[b][idx[b]].
  const Tensor x = f32({2, 2, 2}, {0, 1, 2, 3, 4, 5, 6, 7});
  EXPECT_OUT_EQ(run(GatherND, {x, i64({2, 1}, {1, 0})}, attrs({{"batch_dims", int64_t{1}}})),
                f32({2, 2}, {2, 3, 4, 5}));
}

TEST(RefIndexingGatherND, BadInput) {
  const Tensor x = f32({2, 2}, {0, 1, 2, 3});
  EXPECT_EQ(run(GatherND, {x, i64({1, 2}, {0, 2})}).status.code(), ErrorCode::kInvalidArgument);
  EXPECT_FALSE(run(GatherND, {x, i64({1, 3}, {0, 0, 0})}).status.ok());  // k > rank
  EXPECT_FALSE(
      run(GatherND, {x, i64({2, 1}, {0, 0})}, attrs({{"batch_dims", int64_t{2}}})).status.ok());
}

// ---- ScatterElements / Scatter

TEST(RefIndexingScatterElements, NoneAndAxis) {
  const Tensor x = f32({2, 3}, {0, 0, 0, 0, 0, 0});
  // axis 0: out[idx[i][j]][j] = upd[i][j].
  EXPECT_OUT_EQ(run(ScatterElements, {x, i64({1, 2}, {1, 0}), f32({1, 2}, {5, 6})}),
                f32({2, 3}, {0, 6, 0, 5, 0, 0}));
  // axis 1 with a negative index.
  EXPECT_OUT_EQ(run(ScatterElements, {x, i64({1, 2}, {-1, 0}), f32({1, 2}, {5, 6})},
                    attrs({{"axis", int64_t{1}}})),
                f32({2, 3}, {6, 0, 5, 0, 0, 0}));
  // Deprecated Scatter (opset 9-10) is the same op.
  EXPECT_OUT_EQ(run(Scatter, {x, i64({1, 2}, {1, 0}), f32({1, 2}, {5, 6})}, {}, 10),
                f32({2, 3}, {0, 6, 0, 5, 0, 0}));
}

TEST(RefIndexingScatterElements, Reductions) {
  const Tensor x = f32({1, 3}, {1, 2, 3});
  const Tensor idx = i64({1, 3}, {1, 1, 2});
  const Tensor upd = f32({1, 3}, {4, 5, 1});
  auto red = [&](const char* r) {
    return run(ScatterElements, {x, idx, upd}, attrs({{"axis", int64_t{1}}, {"reduction", r}}));
  };
  EXPECT_OUT_EQ(red("add"), f32({1, 3}, {1, 11, 4}));
  EXPECT_OUT_EQ(red("mul"), f32({1, 3}, {1, 40, 3}));
  EXPECT_OUT_EQ(red("max"), f32({1, 3}, {1, 5, 3}));
  EXPECT_OUT_EQ(red("min"), f32({1, 3}, {1, 2, 1}));
  EXPECT_OUT_EQ(red("none"), f32({1, 3}, {1, 5, 1}));  // last write wins
  EXPECT_FALSE(red("avg").status.ok());
}

TEST(RefIndexingScatterElements, BadInput) {
  const Tensor x = f32({2}, {0, 0});
  EXPECT_EQ(run(ScatterElements, {x, i64({1}, {2}), f32({1}, {1})}).status.code(),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(run(ScatterElements, {x, i64({1}, {-3}), f32({1}, {1})}).status.code(),
            ErrorCode::kInvalidArgument);
  EXPECT_FALSE(run(ScatterElements, {x, i64({1}, {0}), f32({2}, {1, 1})}).status.ok());
}

// ---- ScatterND

TEST(RefIndexingScatterND, SlicesAndReduction) {
  const Tensor x = f32({3, 2}, {1, 1, 2, 2, 3, 3});
  // Replace rows 2 and 0.
  EXPECT_OUT_EQ(run(ScatterND, {x, i64({2, 1}, {2, 0}), f32({2, 2}, {7, 8, 9, 10})}),
                f32({3, 2}, {9, 10, 2, 2, 7, 8}));
  // Element updates with add; a duplicate index accumulates.
  EXPECT_OUT_EQ(run(ScatterND, {x, i64({2, 2}, {1, 1, 1, 1}), f32({2}, {5, 6})},
                    attrs({{"reduction", "add"}})),
                f32({3, 2}, {1, 1, 2, 13, 3, 3}));
  EXPECT_OUT_EQ(
      run(ScatterND, {x, i64({1, 2}, {-1, 0}), f32({1}, {4})}, attrs({{"reduction", "mul"}})),
      f32({3, 2}, {1, 1, 2, 2, 12, 3}));
  EXPECT_EQ(run(ScatterND, {x, i64({1, 1}, {3}), f32({1, 2}, {0, 0})}).status.code(),
            ErrorCode::kInvalidArgument);
  EXPECT_FALSE(run(ScatterND, {x, i64({1, 1}, {0}), f32({1, 3}, {0, 0, 0})}).status.ok());
}

// ---- OneHot

TEST(RefIndexingOneHot, AxesAndOutOfRange) {
  const Tensor depth = f32({}, {3});
  const Tensor values = f32({2}, {0, 5});
  // Default axis -1: [2] -> [2, 3]; -1 counts from the end; 3 is out of range -> all off.
  EXPECT_OUT_EQ(run(OneHot, {i64({3}, {0, -1, 3}), depth, values}),
                f32({3, 3}, {5, 0, 0, 0, 0, 5, 0, 0, 0}));
  // axis 0: [2] -> [3, 2].
  EXPECT_OUT_EQ(
      run(OneHot, {f32({2}, {1, 2.7f}), i64({1}, {3}), values}, attrs({{"axis", int64_t{0}}})),
      f32({3, 2}, {0, 0, 5, 0, 0, 5}));
  EXPECT_FALSE(run(OneHot, {i64({1}, {0}), f32({}, {0}), values}).status.ok());
  EXPECT_FALSE(
      run(OneHot, {i64({1}, {0}), depth, values}, attrs({{"axis", int64_t{2}}})).status.ok());
}

// ---- NonZero

TEST(RefIndexingNonZero, Coordinates) {
  EXPECT_OUT_EQ(run(NonZero, {f32({2, 2}, {1, 0, 1, 1})}), i64({2, 3}, {0, 1, 1, 0, 0, 1}));
  EXPECT_OUT_EQ(run(NonZero, {i64({3}, {0, 0, 0})}), i64({1, 0}, {}));
  EXPECT_OUT_EQ(run(NonZero, {Tensor::from_vector<bool>({2}, {false, true})}), i64({1, 1}, {1}));
}

// ---- Trilu / EyeLike

TEST(RefIndexingTrilu, UpperLowerAndK) {
  const Tensor x = f32({2, 3}, {1, 2, 3, 4, 5, 6});
  EXPECT_OUT_EQ(run(Trilu, {x}), f32({2, 3}, {1, 2, 3, 0, 5, 6}));
  EXPECT_OUT_EQ(run(Trilu, {x, i64({}, {1})}), f32({2, 3}, {0, 2, 3, 0, 0, 6}));
  EXPECT_OUT_EQ(run(Trilu, {x}, attrs({{"upper", int64_t{0}}})), f32({2, 3}, {1, 0, 0, 4, 5, 0}));
  EXPECT_OUT_EQ(run(Trilu, {x, i64({}, {-1})}, attrs({{"upper", int64_t{0}}})),
                f32({2, 3}, {0, 0, 0, 4, 0, 0}));
  // Extreme k: everything or nothing, no overflow.
  EXPECT_OUT_EQ(run(Trilu, {x, i64({}, {INT64_MIN})}), x);
  EXPECT_OUT_EQ(run(Trilu, {x, i64({}, {INT64_MAX})}), f32({2, 3}, {0, 0, 0, 0, 0, 0}));
  EXPECT_FALSE(run(Trilu, {f32({2}, {1, 2})}).status.ok());
}

TEST(RefIndexingEyeLike, DiagonalsAndDtype) {
  const Tensor x = f32({2, 3}, {9, 9, 9, 9, 9, 9});
  EXPECT_OUT_EQ(run(EyeLike, {x}), f32({2, 3}, {1, 0, 0, 0, 1, 0}));
  EXPECT_OUT_EQ(run(EyeLike, {x}, attrs({{"k", int64_t{1}}, {"dtype", int64_t{7}}})),
                i64({2, 3}, {0, 1, 0, 0, 0, 1}));
  EXPECT_OUT_EQ(run(EyeLike, {x}, attrs({{"k", int64_t{-1}}})), f32({2, 3}, {0, 0, 0, 1, 0, 0}));
  EXPECT_OUT_EQ(run(EyeLike, {x}, attrs({{"k", INT64_MIN}})), f32({2, 3}, {0, 0, 0, 0, 0, 0}));
  EXPECT_FALSE(run(EyeLike, {f32({3}, {1, 2, 3})}).status.ok());
}

// ---- CumSum

TEST(RefIndexingCumSum, Modes) {
  const Tensor x = f32({4}, {1, 2, 3, 4});
  const Tensor ax = i64({}, {0});
  EXPECT_OUT_EQ(run(CumSum, {x, ax}), f32({4}, {1, 3, 6, 10}));
  EXPECT_OUT_EQ(run(CumSum, {x, ax}, attrs({{"exclusive", int64_t{1}}})), f32({4}, {0, 1, 3, 6}));
  EXPECT_OUT_EQ(run(CumSum, {x, ax}, attrs({{"reverse", int64_t{1}}})), f32({4}, {10, 9, 7, 4}));
  EXPECT_OUT_EQ(run(CumSum, {x, ax}, attrs({{"reverse", int64_t{1}}, {"exclusive", int64_t{1}}})),
                f32({4}, {9, 7, 4, 0}));
  // 2-D along the last axis given as -1 (int32 axis tensor).
  EXPECT_OUT_EQ(run(CumSum, {tv<int32_t>({2, 2}, {1, 2, 3, 4}), tv<int32_t>({}, {-1})}),
                tv<int32_t>({2, 2}, {1, 3, 3, 7}));
  EXPECT_FALSE(run(CumSum, {x, i64({}, {1})}).status.ok());
}

// ---- TopK

TEST(RefIndexingTopK, LargestSmallestAndTies) {
  const Tensor x = f32({2, 4}, {1, 3, 3, 2, 4, 0, 4, 5});
  auto r = run(TopK, {x, i64({1}, {2})}, {}, 18, 2);
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_equal(r.y[0], f32({2, 2}, {3, 3, 5, 4})));
  EXPECT_TRUE(tensors_equal(r.y[1], i64({2, 2}, {1, 2, 3, 0})));  // ties: lower index first
  r = run(TopK, {x, i64({1}, {3})}, attrs({{"largest", int64_t{0}}}), 18, 2);
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_equal(r.y[0], f32({2, 3}, {1, 2, 3, 0, 4, 4})));
  EXPECT_TRUE(tensors_equal(r.y[1], i64({2, 3}, {0, 3, 1, 1, 0, 2})));
  // axis 0 and opset 1's 'k' attribute.
  r = run(TopK, {x}, attrs({{"k", int64_t{1}}, {"axis", int64_t{0}}}), 1, 2);
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_equal(r.y[0], f32({1, 4}, {4, 3, 4, 5})));
  EXPECT_TRUE(tensors_equal(r.y[1], i64({1, 4}, {1, 0, 1, 1})));
  EXPECT_EQ(run(TopK, {x, i64({1}, {5})}, {}, 18, 2).status.code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(run(TopK, {x, i64({1}, {-1})}, {}, 18, 2).status.code(), ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace qdiff::kernels::ref
