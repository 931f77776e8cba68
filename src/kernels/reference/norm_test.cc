// Hand-derived cases for BatchNormalization, InstanceNormalization and LayerNormalization.
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

TEST(BatchNormRef, Inference) {
  const Tensor x = f32({1, 2, 1, 2}, {1, 2, 3, 4});
  auto r = run_kernel(BatchNormalization,
                      {x, f32({2}, {1, 2}), f32({2}, {0, 1}), f32({2}, {1, 3}), f32({2}, {4, 1})},
                      attrs({{"epsilon", 0.0f}}), 15);
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_near(r.y[0], f32({1, 2, 1, 2}, {0, 0.5f, 1, 3})));
}

TEST(BatchNormRef, Opset7PerActivation) {
  // spatial=0: parameters have the shape of X without N.
  const Tensor x = f32({1, 2, 2}, {1, 2, 3, 4});
  const Tensor ones = f32({2, 2}, {1, 1, 1, 1});
  const Tensor zeros = f32({2, 2}, {0, 0, 0, 0});
  const Tensor mean = f32({2, 2}, {1, 1, 2, 2});
  auto r = run_kernel(BatchNormalization, {x, ones, zeros, mean, ones},
                      attrs({{"epsilon", 0.0f}, {"spatial", int64_t{0}}}), 7);
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_near(r.y[0], f32({1, 2, 2}, {0, 1, 1, 2})));
}

TEST(BatchNormRef, TrainingMode) {
  const Tensor x = f32({2, 1}, {1, 3});
  auto r = run_kernel(BatchNormalization,
                      {x, f32({1}, {1}), f32({1}, {0}), f32({1}, {0}), f32({1}, {1})},
                      attrs({{"epsilon", 0.0f}, {"training_mode", int64_t{1}}}), 15, 3);
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_near(r.y[0], f32({2, 1}, {-1, 1})));
  EXPECT_TRUE(tensors_near(r.y[1], f32({1}, {0.2f})));
  EXPECT_TRUE(tensors_near(r.y[2], f32({1}, {1.0f})));
}

TEST(BatchNormRef, RejectsBadParams) {
  const Tensor x = f32({1, 2, 1, 2}, {1, 2, 3, 4});
  const Tensor p2 = f32({2}, {1, 1});
  EXPECT_FALSE(
      run_kernel(BatchNormalization, {x, f32({3}, {1, 1, 1}), p2, p2, p2}, {}).status.ok());
  EXPECT_FALSE(run_kernel(BatchNormalization, {x, p2, p2, p2}, {}).status.ok());
  EXPECT_FALSE(run_kernel(BatchNormalization, {f32({2}, {1, 2}), p2, p2, p2, p2}, {}).status.ok());
}

TEST(InstanceNormRef, Example) {
  const Tensor x = f32({1, 2, 1, 3}, {-1, 0, 1, 2, 3, 4});
  auto r = run_kernel(InstanceNormalization, {x, f32({2}, {1, 1.5f}), f32({2}, {0, 1})}, {});
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_near(
      r.y[0], f32({1, 2, 1, 3}, {-1.2247357f, 0, 1.2247357f, -0.8371035f, 1, 2.8371035f}), 1e-5));
  EXPECT_FALSE(
      run_kernel(InstanceNormalization, {x, f32({1}, {1}), f32({2}, {0, 1})}, {}).status.ok());
}

TEST(LayerNormRef, LastAxisWithStats) {
  const Tensor x = f32({2, 2}, {1, 3, 0, 4});
  auto r = run_kernel(LayerNormalization, {x, f32({2}, {1, 2}), f32({2}, {0, 1})},
                      attrs({{"epsilon", 0.0f}}), 17, 3);
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_near(r.y[0], f32({2, 2}, {-1, 3, -1, 3})));
  EXPECT_TRUE(tensors_near(r.y[1], f32({2, 1}, {2, 2})));
  EXPECT_TRUE(tensors_near(r.y[2], f32({2, 1}, {1, 0.5f})));
}

TEST(LayerNormRef, AxisZeroNoBias) {
  const Tensor x = f32({2, 1}, {1, 3});
  auto r = run_kernel(LayerNormalization, {x, f32({2, 1}, {1, 1})},
                      attrs({{"epsilon", 0.0f}, {"axis", int64_t{0}}}), 17);
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_near(r.y[0], f32({2, 1}, {-1, 1})));
  EXPECT_FALSE(run_kernel(LayerNormalization, {x, f32({3}, {1, 1, 1})}, {}, 17).status.ok());
  EXPECT_FALSE(run_kernel(LayerNormalization, {x, f32({1}, {1})}, attrs({{"axis", int64_t{2}}}), 17)
                   .status.ok());
}

TEST(LRNRef, ChannelWindow) {
  // size 3: channel c sums squares of c-1..c+1. alpha 3 so alpha/size = 1; beta 1; bias 1.
  const Tensor x = f32({1, 3, 1, 1}, {1, 2, 3});
  auto r = run_kernel(
      LRN, {x}, attrs({{"size", int64_t{3}}, {"alpha", 3.0f}, {"beta", 1.0f}, {"bias", 1.0f}}));
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  // sums: 1+4=5, 1+4+9=14, 4+9=13 -> y = x / (1 + sum).
  EXPECT_TRUE(tensors_near(r.y[0], f32({1, 3, 1, 1}, {1.0f / 6, 2.0f / 15, 3.0f / 14})));
  // size 2: window [c, c+1].
  r = run_kernel(LRN, {x},
                 attrs({{"size", int64_t{2}}, {"alpha", 2.0f}, {"beta", 1.0f}, {"bias", 1.0f}}));
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_near(r.y[0], f32({1, 3, 1, 1}, {1.0f / 6, 2.0f / 14, 3.0f / 10})));
  EXPECT_FALSE(run_kernel(LRN, {x}, {}).status.ok());  // size is required
}

TEST(MVNRef, DefaultAndCustomAxes) {
  // Default axes [0,2,3]: per channel over N,H,W. Channel 0 = {1,3}: mean 2, std 1.
  const Tensor x = f32({1, 2, 1, 2}, {1, 3, 5, 5});
  auto r = run_kernel(MeanVarianceNormalization, {x}, {});
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_near(r.y[0], f32({1, 2, 1, 2}, {-1, 1, 0, 0})));
  r = run_kernel(MeanVarianceNormalization, {f32({2, 2}, {0, 4, 1, 1})},
                 attrs({{"axes", Ints{-1}}}));
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_near(r.y[0], f32({2, 2}, {-1, 1, 0, 0})));
}

}  // namespace
}  // namespace qdiff::kernels::ref
