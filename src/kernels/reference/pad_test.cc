// Hand-derived cases for Pad.
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

TEST(PadRef, ConstantWithValue) {
  auto r = run_kernel(Pad, {f32({2}, {1, 2}), i64({2}, {1, 2}), f32({}, {9})}, {});
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_equal(r.y[0], f32({5}, {9, 1, 2, 9, 9})));
  auto zero = run_kernel(Pad, {f32({2}, {1, 2}), i64({2}, {1, 0})}, {});
  ASSERT_TRUE(zero.status.ok());
  EXPECT_TRUE(tensors_equal(zero.y[0], f32({3}, {0, 1, 2})));
}

TEST(PadRef, ReflectEdgeWrap) {
  const Tensor x = f32({3}, {1, 2, 3});
  auto refl = run_kernel(Pad, {x, i64({2}, {2, 2})}, attrs({{"mode", std::string("reflect")}}));
  ASSERT_TRUE(refl.status.ok()) << refl.status.message();
  EXPECT_TRUE(tensors_equal(refl.y[0], f32({7}, {3, 2, 1, 2, 3, 2, 1})));
  auto edge = run_kernel(Pad, {x, i64({2}, {2, 1})}, attrs({{"mode", std::string("edge")}}));
  ASSERT_TRUE(edge.status.ok());
  EXPECT_TRUE(tensors_equal(edge.y[0], f32({6}, {1, 1, 1, 2, 3, 3})));
  auto wrap = run_kernel(Pad, {x, i64({2}, {2, 1})}, attrs({{"mode", std::string("wrap")}}), 19);
  ASSERT_TRUE(wrap.status.ok()) << wrap.status.message();
  EXPECT_TRUE(tensors_equal(wrap.y[0], f32({6}, {2, 3, 1, 2, 3, 1})));
  EXPECT_FALSE(run_kernel(Pad, {x, i64({2}, {2, 1})}, attrs({{"mode", std::string("wrap")}}), 18)
                   .status.ok());
}

TEST(PadRef, NegativePadsCrop) {
  auto r = run_kernel(Pad, {f32({4}, {1, 2, 3, 4}), i64({2}, {-1, 1})}, {});
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_equal(r.y[0], f32({4}, {2, 3, 4, 0})));
  EXPECT_FALSE(run_kernel(Pad, {f32({4}, {1, 2, 3, 4}), i64({2}, {-3, -2})}, {}).status.ok());
}

TEST(PadRef, Opset2Attributes) {
  auto r = run_kernel(Pad, {f32({1, 2}, {1, 2})},
                      attrs({{"pads", Ints{0, 1, 0, 1}}, {"value", 5.0f}}), 2);
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_equal(r.y[0], f32({1, 4}, {5, 1, 2, 5})));
}

TEST(PadRef, AxesInputOpset18) {
  auto r = run_kernel(Pad, {f32({2, 2}, {1, 2, 3, 4}), i64({2}, {1, 0}), Tensor(), i64({1}, {-1})},
                      {}, 18);
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_equal(r.y[0], f32({2, 3}, {0, 1, 2, 0, 3, 4})));
}

TEST(PadRef, Int32Edge2D) {
  const Tensor x = Tensor::from_vector<int32_t>({2, 2}, {1, 2, 3, 4});
  auto r = run_kernel(Pad, {x, i64({4}, {1, 0, 0, 1})}, attrs({{"mode", std::string("edge")}}));
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(
      tensors_equal(r.y[0], Tensor::from_vector<int32_t>({3, 3}, {1, 2, 2, 1, 2, 2, 3, 4, 4})));
}

TEST(PadRef, Errors) {
  const Tensor x = f32({2}, {1, 2});
  EXPECT_FALSE(run_kernel(Pad, {x, i64({3}, {1, 2, 3})}, {}).status.ok());
  EXPECT_FALSE(
      run_kernel(Pad, {x, i64({2}, {1, 1})}, attrs({{"mode", std::string("bogus")}})).status.ok());
  EXPECT_FALSE(run_kernel(Pad, {x, i64({2}, {1, 1}), i64({}, {1})}, {}).status.ok());
  EXPECT_FALSE(
      run_kernel(Pad, {f32({0}, {}), i64({2}, {1, 1})}, attrs({{"mode", std::string("edge")}}))
          .status.ok());
}

}  // namespace
}  // namespace qdiff::kernels::ref
