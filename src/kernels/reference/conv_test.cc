// Hand-derived cases for Conv and ConvTranspose.
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

TEST(ConvRef, Basic2x2NoPad) {
  const Tensor x = f32({1, 1, 3, 3}, {0, 1, 2, 3, 4, 5, 6, 7, 8});
  const Tensor w = f32({1, 1, 2, 2}, {1, 1, 1, 1});
  auto r = run_kernel(Conv, {x, w}, {});
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_near(r.y[0], f32({1, 1, 2, 2}, {8, 12, 20, 24})));
}

TEST(ConvRef, PadsAndKernelShape) {
  const Tensor x = f32({1, 1, 3, 3}, {0, 1, 2, 3, 4, 5, 6, 7, 8});
  const Tensor w = f32({1, 1, 3, 3}, {1, 1, 1, 1, 1, 1, 1, 1, 1});
  auto r =
      run_kernel(Conv, {x, w}, attrs({{"pads", Ints{1, 1, 1, 1}}, {"kernel_shape", Ints{3, 3}}}));
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_near(r.y[0], f32({1, 1, 3, 3}, {8, 15, 12, 21, 36, 27, 20, 33, 24})));
}

TEST(ConvRef, Conv1DStrideBias) {
  const Tensor x = f32({1, 1, 4}, {1, 2, 3, 4});
  const Tensor w = f32({1, 1, 2}, {1, 1});
  const Tensor b = f32({1}, {10});
  auto r = run_kernel(Conv, {x, w, b}, attrs({{"strides", Ints{2}}}));
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_near(r.y[0], f32({1, 1, 2}, {13, 17})));
}

TEST(ConvRef, DepthwiseGroups) {
  const Tensor x = f32({1, 2, 2}, {1, 2, 3, 4});
  const Tensor w = f32({2, 1, 1}, {2, 3});
  auto r = run_kernel(Conv, {x, w}, attrs({{"group", int64_t{2}}}));
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_near(r.y[0], f32({1, 2, 2}, {2, 4, 9, 12})));
}

TEST(ConvRef, GroupsMixChannelsWithinGroup) {
  // 4 input channels, 2 groups, 1 filter per group summing its group's 2 channels.
  const Tensor x = f32({1, 4, 1}, {1, 2, 3, 4});
  const Tensor w = f32({2, 2, 1}, {1, 1, 1, 10});
  auto r = run_kernel(Conv, {x, w}, attrs({{"group", int64_t{2}}}));
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_near(r.y[0], f32({1, 2, 1}, {3, 43})));
}

TEST(ConvRef, AutoPadSameUpperAndLower) {
  const Tensor x = f32({1, 1, 4}, {1, 2, 3, 4});
  const Tensor w = f32({1, 1, 3}, {1, 1, 1});
  auto up = run_kernel(Conv, {x, w},
                       attrs({{"auto_pad", std::string("SAME_UPPER")}, {"strides", Ints{2}}}));
  ASSERT_TRUE(up.status.ok()) << up.status.message();
  EXPECT_TRUE(tensors_near(up.y[0], f32({1, 1, 2}, {6, 7})));
  auto lo = run_kernel(Conv, {x, w},
                       attrs({{"auto_pad", std::string("SAME_LOWER")}, {"strides", Ints{2}}}));
  ASSERT_TRUE(lo.status.ok()) << lo.status.message();
  EXPECT_TRUE(tensors_near(lo.y[0], f32({1, 1, 2}, {3, 9})));
  auto valid = run_kernel(Conv, {x, w}, attrs({{"auto_pad", std::string("VALID")}}));
  ASSERT_TRUE(valid.status.ok());
  EXPECT_TRUE(tensors_near(valid.y[0], f32({1, 1, 2}, {6, 9})));
}

TEST(ConvRef, Dilations) {
  const Tensor x = f32({1, 1, 5}, {1, 2, 3, 4, 5});
  const Tensor w = f32({1, 1, 2}, {1, 1});
  auto r = run_kernel(Conv, {x, w}, attrs({{"dilations", Ints{2}}}));
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_near(r.y[0], f32({1, 1, 3}, {4, 6, 8})));
}

TEST(ConvRef, Conv3D) {
  const Tensor x = f32({1, 1, 2, 2, 2}, {1, 2, 3, 4, 5, 6, 7, 8});
  const Tensor w = f32({1, 1, 2, 2, 2}, {1, 1, 1, 1, 1, 1, 1, 1});
  auto r = run_kernel(Conv, {x, w}, {});
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_near(r.y[0], f32({1, 1, 1, 1, 1}, {36})));
}

TEST(ConvRef, RejectsBadShapes) {
  const Tensor x = f32({1, 2, 3}, {1, 2, 3, 4, 5, 6});
  EXPECT_FALSE(run_kernel(Conv, {x, f32({1, 3, 1}, {1, 1, 1})}, {}).status.ok());  // channels
  EXPECT_FALSE(
      run_kernel(Conv, {x, f32({1, 2, 4}, std::vector<float>(8, 1))}, {}).status.ok());  // too big
  EXPECT_FALSE(run_kernel(Conv, {x, f32({1, 2, 1}, {1, 1})}, attrs({{"kernel_shape", Ints{2}}}))
                   .status.ok());
  EXPECT_FALSE(
      run_kernel(Conv, {x, f32({1, 2, 1}, {1, 1})}, attrs({{"strides", Ints{0}}})).status.ok());
  EXPECT_FALSE(
      run_kernel(Conv, {x, f32({1, 2, 1}, {1, 1}), f32({2}, {0, 0})}, {}).status.ok());  // bias
}

TEST(ConvTransposeRef, Basic1D) {
  const Tensor x = f32({1, 1, 2}, {1, 2});
  const Tensor w = f32({1, 1, 3}, {1, 1, 1});
  auto r = run_kernel(ConvTranspose, {x, w}, {});
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_near(r.y[0], f32({1, 1, 4}, {1, 3, 3, 2})));
}

TEST(ConvTransposeRef, StridesPadsOutputPadding) {
  const Tensor x = f32({1, 1, 2}, {1, 2});
  const Tensor w = f32({1, 1, 3}, {1, 1, 1});
  auto s = run_kernel(ConvTranspose, {x, w}, attrs({{"strides", Ints{2}}}));
  ASSERT_TRUE(s.status.ok()) << s.status.message();
  EXPECT_TRUE(tensors_near(s.y[0], f32({1, 1, 5}, {1, 1, 3, 2, 2})));
  auto p = run_kernel(ConvTranspose, {x, w}, attrs({{"strides", Ints{2}}, {"pads", Ints{1, 1}}}));
  ASSERT_TRUE(p.status.ok());
  EXPECT_TRUE(tensors_near(p.y[0], f32({1, 1, 3}, {1, 3, 2})));
  auto op =
      run_kernel(ConvTranspose, {x, w}, attrs({{"strides", Ints{2}}, {"output_padding", Ints{1}}}));
  ASSERT_TRUE(op.status.ok());
  EXPECT_TRUE(tensors_near(op.y[0], f32({1, 1, 6}, {1, 1, 3, 2, 2, 0})));
  // output_shape larger than the natural size extends the end (as output_padding does).
  auto os =
      run_kernel(ConvTranspose, {x, w}, attrs({{"strides", Ints{2}}, {"output_shape", Ints{6}}}));
  ASSERT_TRUE(os.status.ok());
  EXPECT_TRUE(tensors_near(os.y[0], f32({1, 1, 6}, {1, 1, 3, 2, 2, 0})));
  // SAME_UPPER: output = in * stride = 4, total padding 1, at the end.
  auto same = run_kernel(ConvTranspose, {x, w},
                         attrs({{"strides", Ints{2}}, {"auto_pad", std::string("SAME_UPPER")}}));
  ASSERT_TRUE(same.status.ok());
  EXPECT_TRUE(tensors_near(same.y[0], f32({1, 1, 4}, {1, 1, 3, 2})));
}

TEST(ConvTransposeRef, OutputChannelsGroupsBiasDilation) {
  const Tensor x = f32({1, 1, 2}, {1, 2});
  const Tensor w = f32({1, 2, 1}, {1, 2});
  const Tensor b = f32({2}, {0.5f, -1});
  auto r = run_kernel(ConvTranspose, {x, w, b}, {});
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_near(r.y[0], f32({1, 2, 2}, {1.5f, 2.5f, 1, 3})));
  const Tensor x2 = f32({1, 2, 1}, {1, 2});
  const Tensor w2 = f32({2, 1, 1}, {3, 4});
  auto g = run_kernel(ConvTranspose, {x2, w2}, attrs({{"group", int64_t{2}}}));
  ASSERT_TRUE(g.status.ok()) << g.status.message();
  EXPECT_TRUE(tensors_near(g.y[0], f32({1, 2, 1}, {3, 8})));
  const Tensor w3 = f32({1, 1, 2}, {1, 10});
  auto d = run_kernel(ConvTranspose, {x, w3}, attrs({{"dilations", Ints{2}}}));
  ASSERT_TRUE(d.status.ok());
  EXPECT_TRUE(tensors_near(d.y[0], f32({1, 1, 4}, {1, 2, 10, 20})));
}

}  // namespace
}  // namespace qdiff::kernels::ref
