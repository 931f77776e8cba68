// Hand-derived cases for MaxPool, AveragePool, GlobalAveragePool and GlobalMaxPool.
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

const Tensor kX33 = f32({1, 1, 3, 3}, {0, 1, 2, 3, 4, 5, 6, 7, 8});

TEST(MaxPoolRef, Basic2DWithIndices) {
  auto r = run_kernel(MaxPool, {kX33}, attrs({{"kernel_shape", Ints{2, 2}}}), 12, 2);
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_near(r.y[0], f32({1, 1, 2, 2}, {4, 5, 7, 8})));
  EXPECT_TRUE(tensors_equal(r.y[1], i64({1, 1, 2, 2}, {4, 5, 7, 8})));
  auto cm = run_kernel(MaxPool, {kX33},
                       attrs({{"kernel_shape", Ints{2, 2}}, {"storage_order", int64_t{1}}}), 12, 2);
  ASSERT_TRUE(cm.status.ok());
  EXPECT_TRUE(tensors_equal(cm.y[1], i64({1, 1, 2, 2}, {4, 7, 5, 8})));
}

TEST(MaxPoolRef, IndicesIncludeBatchAndChannel) {
  const Tensor x = f32({1, 2, 2}, {1, 3, 5, 4});
  auto r = run_kernel(MaxPool, {x}, attrs({{"kernel_shape", Ints{2}}}), 12, 2);
  ASSERT_TRUE(r.status.ok());
  EXPECT_TRUE(tensors_near(r.y[0], f32({1, 2, 1}, {3, 5})));
  EXPECT_TRUE(tensors_equal(r.y[1], i64({1, 2, 1}, {1, 2})));
}

TEST(MaxPoolRef, CeilMode) {
  const Tensor x = f32({1, 1, 5}, {1, 2, 3, 4, 5});
  auto fl = run_kernel(MaxPool, {x}, attrs({{"kernel_shape", Ints{2}}, {"strides", Ints{2}}}), 12);
  ASSERT_TRUE(fl.status.ok());
  EXPECT_TRUE(tensors_near(fl.y[0], f32({1, 1, 2}, {2, 4})));
  auto ce = run_kernel(
      MaxPool, {x},
      attrs({{"kernel_shape", Ints{2}}, {"strides", Ints{2}}, {"ceil_mode", int64_t{1}}}), 12);
  ASSERT_TRUE(ce.status.ok());
  EXPECT_TRUE(tensors_near(ce.y[0], f32({1, 1, 3}, {2, 4, 5})));
  // The last window would start in the right padding: it is dropped.
  const Tensor x4 = f32({1, 1, 4}, {1, 2, 3, 4});
  auto drop = run_kernel(MaxPool, {x4},
                         attrs({{"kernel_shape", Ints{2}},
                                {"strides", Ints{2}},
                                {"pads", Ints{0, 1}},
                                {"ceil_mode", int64_t{1}}}),
                         12);
  ASSERT_TRUE(drop.status.ok());
  EXPECT_TRUE(tensors_near(drop.y[0], f32({1, 1, 2}, {2, 4})));
}

TEST(MaxPoolRef, AutoPadAndDilations) {
  const Tensor x = f32({1, 1, 4}, {1, 2, 3, 4});
  auto up =
      run_kernel(MaxPool, {x},
                 attrs({{"kernel_shape", Ints{2}}, {"auto_pad", std::string("SAME_UPPER")}}), 12);
  ASSERT_TRUE(up.status.ok());
  EXPECT_TRUE(tensors_near(up.y[0], f32({1, 1, 4}, {2, 3, 4, 4})));
  auto lo =
      run_kernel(MaxPool, {x},
                 attrs({{"kernel_shape", Ints{2}}, {"auto_pad", std::string("SAME_LOWER")}}), 12);
  ASSERT_TRUE(lo.status.ok());
  EXPECT_TRUE(tensors_near(lo.y[0], f32({1, 1, 4}, {1, 2, 3, 4})));
  auto dil = run_kernel(MaxPool, {f32({1, 1, 5}, {1, 5, 2, 4, 3})},
                        attrs({{"kernel_shape", Ints{2}}, {"dilations", Ints{2}}}), 12);
  ASSERT_TRUE(dil.status.ok());
  EXPECT_TRUE(tensors_near(dil.y[0], f32({1, 1, 3}, {2, 5, 3})));
}

TEST(MaxPoolRef, Uint8AndErrors) {
  const Tensor x = Tensor::from_vector<uint8_t>({1, 1, 3}, {7, 200, 3});
  auto r = run_kernel(MaxPool, {x}, attrs({{"kernel_shape", Ints{2}}}), 12);
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_equal(r.y[0], Tensor::from_vector<uint8_t>({1, 1, 2}, {200, 200})));
  EXPECT_FALSE(run_kernel(MaxPool, {kX33}, attrs({{"kernel_shape", Ints{2}}})).status.ok());
  EXPECT_FALSE(run_kernel(MaxPool, {kX33}, attrs({{"kernel_shape", Ints{4, 4}}})).status.ok());
  EXPECT_FALSE(
      run_kernel(MaxPool, {f32({3}, {1, 2, 3})}, attrs({{"kernel_shape", Ints{1}}})).status.ok());
}

TEST(AveragePoolRef, CountIncludePad) {
  const Tensor x = f32({1, 1, 4}, {1, 2, 3, 4});
  auto ex = run_kernel(AveragePool, {x}, attrs({{"kernel_shape", Ints{3}}, {"pads", Ints{1, 1}}}));
  ASSERT_TRUE(ex.status.ok()) << ex.status.message();
  EXPECT_TRUE(tensors_near(ex.y[0], f32({1, 1, 4}, {1.5f, 2, 3, 3.5f})));
  auto in = run_kernel(
      AveragePool, {x},
      attrs({{"kernel_shape", Ints{3}}, {"pads", Ints{1, 1}}, {"count_include_pad", int64_t{1}}}));
  ASSERT_TRUE(in.status.ok());
  EXPECT_TRUE(tensors_near(in.y[0], f32({1, 1, 4}, {1, 2, 3, 7.0f / 3})));
}

TEST(AveragePoolRef, CeilMode2D) {
  auto r = run_kernel(
      AveragePool, {kX33},
      attrs({{"kernel_shape", Ints{2, 2}}, {"strides", Ints{2, 2}}, {"ceil_mode", int64_t{1}}}));
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_near(r.y[0], f32({1, 1, 2, 2}, {2, 3.5f, 6.5f, 8})));
}

TEST(GlobalPoolRef, AverageAndMax) {
  const Tensor x = f32({1, 2, 2}, {1, 2, 3, 5});
  auto a = run_kernel(GlobalAveragePool, {x}, {});
  ASSERT_TRUE(a.status.ok());
  EXPECT_TRUE(tensors_near(a.y[0], f32({1, 2, 1}, {1.5f, 4})));
  auto m = run_kernel(GlobalMaxPool, {f32({1, 1, 2, 2}, {1, 7, 3, 5})}, {});
  ASSERT_TRUE(m.status.ok());
  EXPECT_TRUE(tensors_near(m.y[0], f32({1, 1, 1, 1}, {7})));
}

TEST(MaxUnpoolRef, DefaultAndGivenShape) {
  // 2x2 kernel, stride 2 on a 1x1x2x2 input -> 4x4; indices are flat output positions.
  const Tensor x = f32({1, 1, 2, 2}, {1, 2, 3, 4});
  const Tensor ind = i64({1, 1, 2, 2}, {5, 7, 13, 15});
  const Attributes a = attrs({{"kernel_shape", Ints{2, 2}}, {"strides", Ints{2, 2}}});
  auto r = run_kernel(MaxUnpool, {x, ind}, a, 11);
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(
      tensors_equal(r.y[0], f32({1, 1, 4, 4}, {0, 0, 0, 0, 0, 1, 0, 2, 0, 0, 0, 0, 0, 3, 0, 4})));
  r = run_kernel(MaxUnpool, {x, ind, i64({4}, {1, 1, 5, 5})}, a, 11);
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_EQ(r.y[0].shape(), (qdiff::Shape{1, 1, 5, 5}));
  EXPECT_EQ(r.y[0].values<float>()[13], 3.0f);
  // An index past the output is an error, not a write out of bounds.
  auto bad = run_kernel(MaxUnpool, {x, i64({1, 1, 2, 2}, {0, 1, 2, 16})}, a, 11);
  EXPECT_EQ(bad.status.code(), ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace qdiff::kernels::ref
