// Hand-derived cases for Resize and Upsample.
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

const Tensor kX22 = f32({1, 1, 2, 2}, {1, 2, 3, 4});
const Tensor kUp23 =
    f32({1, 1, 4, 6}, {1, 1, 1, 2, 2, 2, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4, 3, 3, 3, 4, 4, 4});

Attributes mode_attrs(const std::string& mode, const std::string& coord) {
  return attrs({{"mode", mode}, {"coordinate_transformation_mode", coord}});
}

TEST(ResizeRef, NearestUpsampleScales) {
  auto r = run_kernel(Resize, {kX22, Tensor(), f32({4}, {1, 1, 2, 3})}, {});
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_equal(r.y[0], kUp23));
}

TEST(ResizeRef, LinearCoordinateModes) {
  const Tensor x = f32({1, 1, 2}, {1, 2});
  auto hp = run_kernel(Resize, {x, Tensor(), f32({3}, {1, 1, 2})},
                       attrs({{"mode", std::string("linear")}}));
  ASSERT_TRUE(hp.status.ok()) << hp.status.message();
  EXPECT_TRUE(tensors_near(hp.y[0], f32({1, 1, 4}, {1, 1.25f, 1.75f, 2})));
  auto ac = run_kernel(Resize, {x, Tensor(), Tensor(), i64({3}, {1, 1, 3})},
                       mode_attrs("linear", "align_corners"));
  ASSERT_TRUE(ac.status.ok()) << ac.status.message();
  EXPECT_TRUE(tensors_near(ac.y[0], f32({1, 1, 3}, {1, 1.5f, 2})));
  auto as =
      run_kernel(Resize, {x, Tensor(), f32({3}, {1, 1, 2})}, mode_attrs("linear", "asymmetric"));
  ASSERT_TRUE(as.status.ok());
  EXPECT_TRUE(tensors_near(as.y[0], f32({1, 1, 4}, {1, 1.5f, 2, 2})));
}

TEST(ResizeRef, DownsampleAlignCornersUsesScaledLength) {
  // ONNX reference: length_resized = 0.6 * 4 = 2.4, so x=1 maps to 3 / 1.4.
  const Tensor x = f32({1, 1, 2, 4}, {1, 2, 3, 4, 5, 6, 7, 8});
  auto r = run_kernel(Resize, {x, Tensor(), f32({4}, {1, 1, 0.6f, 0.6f})},
                      mode_attrs("linear", "align_corners"));
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_near(r.y[0], f32({1, 1, 1, 2}, {1, 3.142857f}), 1e-5));
}

TEST(ResizeRef, TfCropAndResizeExtrapolation) {
  const Tensor x = f32({4}, {0, 1, 2, 3});
  Attributes a = mode_attrs("linear", "tf_crop_and_resize");
  a.set("extrapolation_value", 10.0f);
  auto r = run_kernel(Resize, {x, f32({2}, {0.5f, 1.5f}), Tensor(), i64({1}, {3})}, a);
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_near(r.y[0], f32({3}, {1.5f, 3, 10})));
}

TEST(ResizeRef, NearestModes) {
  const Tensor x = f32({4}, {0, 1, 2, 3});
  const Tensor sizes = i64({1}, {8});
  auto check = [&](const std::string& nm, std::vector<float> want) {
    Attributes a = mode_attrs("nearest", "asymmetric");
    a.set("nearest_mode", nm);
    auto r = run_kernel(Resize, {x, Tensor(), Tensor(), sizes}, a);
    ASSERT_TRUE(r.status.ok()) << r.status.message();
    EXPECT_TRUE(tensors_equal(r.y[0], f32({8}, want))) << nm;
  };
  check("round_prefer_floor", {0, 0, 1, 1, 2, 2, 3, 3});
  check("round_prefer_ceil", {0, 1, 1, 2, 2, 3, 3, 3});
  check("floor", {0, 0, 1, 1, 2, 2, 3, 3});
  check("ceil", {0, 1, 1, 2, 2, 3, 3, 3});
}

TEST(ResizeRef, CubicAndExcludeOutside) {
  const Tensor x = f32({4}, {0, 1, 2, 3});
  auto r = run_kernel(Resize, {x, Tensor(), f32({1}, {2})}, mode_attrs("cubic", "asymmetric"));
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  // x=1 -> 0.5: taps at -1,0,1,2 (clamped) with weights -0.09375, 0.59375, 0.59375, -0.09375.
  EXPECT_NEAR(r.y[0].data<float>()[1], 0.40625f, 1e-6);
  EXPECT_NEAR(r.y[0].data<float>()[2], 1.0f, 1e-6);
  Attributes a = mode_attrs("cubic", "asymmetric");
  a.set("exclude_outside", int64_t{1});
  auto ex = run_kernel(Resize, {x, Tensor(), f32({1}, {2})}, a);
  ASSERT_TRUE(ex.status.ok());
  EXPECT_NEAR(ex.y[0].data<float>()[1], 0.40625f / 1.09375f, 1e-6);
}

TEST(ResizeRef, KeepAspectRatioAndAxes) {
  const Tensor x = f32({1, 1, 2, 4}, {1, 2, 3, 4, 5, 6, 7, 8});
  Attributes a =
      attrs({{"axes", Ints{2, 3}}, {"keep_aspect_ratio_policy", std::string("not_larger")}});
  auto nl = run_kernel(Resize, {x, Tensor(), Tensor(), i64({2}, {4, 4})}, a, 18);
  ASSERT_TRUE(nl.status.ok()) << nl.status.message();
  EXPECT_TRUE(tensors_equal(nl.y[0], x));
  a.set("keep_aspect_ratio_policy", std::string("not_smaller"));
  auto ns = run_kernel(Resize, {x, Tensor(), Tensor(), i64({2}, {4, 4})}, a, 18);
  ASSERT_TRUE(ns.status.ok());
  EXPECT_EQ(ns.y[0].shape(), (qdiff::Shape{1, 1, 4, 8}));
}

TEST(ResizeRef, LegacyOpsets) {
  auto r10 = run_kernel(Resize, {kX22, f32({4}, {1, 1, 2, 3})}, {}, 10);
  ASSERT_TRUE(r10.status.ok()) << r10.status.message();
  EXPECT_TRUE(tensors_equal(r10.y[0], kUp23));
  auto u9 = run_kernel(Upsample, {kX22, f32({4}, {1, 1, 2, 3})}, {}, 9);
  ASSERT_TRUE(u9.status.ok()) << u9.status.message();
  EXPECT_TRUE(tensors_equal(u9.y[0], kUp23));
  auto u7 = run_kernel(Upsample, {kX22}, attrs({{"scales", std::vector<float>{1, 1, 2, 3}}}), 7);
  ASSERT_TRUE(u7.status.ok()) << u7.status.message();
  EXPECT_TRUE(tensors_equal(u7.y[0], kUp23));
  // Linear upsample, asymmetric with clamping at the end.
  auto lin = run_kernel(Upsample, {f32({2}, {1, 2}), f32({1}, {2})},
                        attrs({{"mode", std::string("linear")}}), 9);
  ASSERT_TRUE(lin.status.ok());
  EXPECT_TRUE(tensors_near(lin.y[0], f32({4}, {1, 1.5f, 2, 2})));
}

TEST(ResizeRef, Errors) {
  EXPECT_FALSE(
      run_kernel(Resize, {kX22, Tensor(), f32({4}, {1, 1, 2, 3}), i64({4}, {1, 1, 4, 6})}, {})
          .status.ok());
  EXPECT_FALSE(run_kernel(Resize, {kX22, Tensor(), f32({3}, {1, 2, 3})}, {}).status.ok());
  EXPECT_FALSE(run_kernel(Resize, {kX22, Tensor(), f32({4}, {1, 1, 0, 1})}, {}).status.ok());
  EXPECT_FALSE(run_kernel(Resize, {kX22}, {}).status.ok());
  EXPECT_FALSE(run_kernel(Upsample, {kX22, f32({4}, {1, 1, 0.5f, 1})}, {}, 9).status.ok());
}

}  // namespace
}  // namespace qdiff::kernels::ref
