#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "kernels/reference/reference.h"
#include "testing/kernel_test_util.h"

namespace qdiff::kernels::ref {
namespace {

using qdiff::testing::f32;
using qdiff::testing::i64;
using qdiff::testing::KernelRun;
using qdiff::testing::run_kernel;
using qdiff::testing::tensors_equal;
using qdiff::testing::tensors_near;
using qdiff::testing::tv;

Attributes floats(std::vector<std::pair<std::string, float>> kv) {
  Attributes a;
  for (auto& [k, v] : kv) a.set(k, v);
  return a;
}

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

TEST(RefActivations, Relu) {
  EXPECT_OUT_EQ(run_kernel(Relu, {f32({4}, {-1, 0, 2.5f, -0.5f})}), f32({4}, {0, 0, 2.5f, 0}));
  EXPECT_OUT_EQ(run_kernel(Relu, {tv<int32_t>({3}, {-5, 0, 7})}, {}, 14),
                tv<int32_t>({3}, {0, 0, 7}));
  EXPECT_OUT_EQ(run_kernel(Relu, {tv<double>({2}, {-1, 3})}), tv<double>({2}, {0, 3}));
  KernelRun r = run_kernel(Relu, {f32({1}, {kNaN})});
  ASSERT_TRUE(r.status.ok());
  EXPECT_TRUE(std::isnan(r.out().data<float>()[0]));
  EXPECT_EQ(run_kernel(Relu, {tv<uint8_t>({1}, {1})}).status.code(), ErrorCode::kUnsupported);
}

TEST(RefActivations, LeakyRelu) {
  EXPECT_OUT_NEAR(run_kernel(LeakyRelu, {f32({3}, {-1, 0, 2})}), f32({3}, {-0.01f, 0, 2}));
  EXPECT_OUT_NEAR(run_kernel(LeakyRelu, {f32({3}, {-1, 0, 2})}, floats({{"alpha", 0.1f}})),
                  f32({3}, {-0.1f, 0, 2}));
}

TEST(RefActivations, PReluBroadcast) {
  Tensor x = f32({2, 3}, {-1, 2, -3, 4, -5, 6});
  // slope [3] over the last axis
  EXPECT_OUT_NEAR(run_kernel(PRelu, {x, f32({3}, {0.1f, 0.2f, 0.3f})}),
                  f32({2, 3}, {-0.1f, 2, -0.9f, 4, -1.0f, 6}));
  // slope [2,1] per row
  EXPECT_OUT_NEAR(run_kernel(PRelu, {x, f32({2, 1}, {0.5f, 2})}),
                  f32({2, 3}, {-0.5f, 2, -1.5f, 4, -10, 6}));
  // scalar slope
  EXPECT_OUT_NEAR(run_kernel(PRelu, {x, f32({}, {0.25f})}),
                  f32({2, 3}, {-0.25f, 2, -0.75f, 4, -1.25f, 6}));
  // same shape
  EXPECT_OUT_NEAR(run_kernel(PRelu, {f32({2}, {-2, -2}), f32({2}, {1, 3})}), f32({2}, {-2, -6}));
  // integers
  EXPECT_OUT_EQ(run_kernel(PRelu, {i64({3}, {-2, 0, 5}), i64({}, {3})}), i64({3}, {-6, 0, 5}));
}

TEST(RefActivations, PReluErrors) {
  Tensor x = f32({2, 3}, {-1, 2, -3, 4, -5, 6});
  // slope would enlarge X (multidirectional only)
  EXPECT_EQ(run_kernel(PRelu, {f32({3}, {-1, 2, -3}), f32({2, 1}, {1, 2})}).status.code(),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(run_kernel(PRelu, {x, f32({2}, {1, 2})}).status.code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(run_kernel(PRelu, {x, i64({1}, {1})}).status.code(), ErrorCode::kInvalidModel);
}

TEST(RefActivations, SigmoidTanh) {
  EXPECT_OUT_NEAR(run_kernel(Sigmoid, {f32({4}, {0, 2, -100, 100})}),
                  f32({4}, {0.5f, 0.88079708f, 0, 1}));
  EXPECT_OUT_NEAR(run_kernel(Tanh, {f32({3}, {0, 1, -1})}),
                  f32({3}, {0, 0.76159416f, -0.76159416f}));
}

TEST(RefActivations, HardSigmoidHardSwish) {
  EXPECT_OUT_NEAR(run_kernel(HardSigmoid, {f32({4}, {-3, 0, 3, 1})}), f32({4}, {0, 0.5f, 1, 0.7f}));
  EXPECT_OUT_NEAR(
      run_kernel(HardSigmoid, {f32({3}, {-1, 0, 1})}, floats({{"alpha", 0.5f}, {"beta", 0.6f}})),
      f32({3}, {0.1f, 0.6f, 1}));
  EXPECT_OUT_NEAR(run_kernel(HardSwish, {f32({5}, {-4, -1, 0, 1, 4})}),
                  f32({5}, {0, -1.0f / 3, 0, 2.0f / 3, 4}));
}

TEST(RefActivations, EluSeluCelu) {
  EXPECT_OUT_NEAR(run_kernel(Elu, {f32({3}, {-1, 0, 1})}), f32({3}, {-0.63212056f, 0, 1}));
  EXPECT_OUT_NEAR(run_kernel(Elu, {f32({2}, {-1, 2})}, floats({{"alpha", 2}})),
                  f32({2}, {-1.2642411f, 2}));
  EXPECT_OUT_NEAR(run_kernel(Selu, {f32({3}, {-1, 0, 1})}), f32({3}, {-1.1113307f, 0, 1.050701f}));
  EXPECT_OUT_NEAR(run_kernel(Selu, {f32({2}, {-1, 1})}, floats({{"alpha", 2}, {"gamma", 3}})),
                  f32({2}, {3 * 2 * (0.36787944f - 1), 3}));
  EXPECT_OUT_NEAR(run_kernel(Celu, {f32({2}, {-1, 3})}, floats({{"alpha", 2}})),
                  f32({2}, {-0.78693868f, 3}));
  EXPECT_OUT_NEAR(run_kernel(Celu, {f32({2}, {-1, 3})}), f32({2}, {-0.63212056f, 3}));
  EXPECT_EQ(run_kernel(Celu, {f32({1}, {1})}, floats({{"alpha", 0}})).status.code(),
            ErrorCode::kInvalidModel);
}

TEST(RefActivations, SoftplusSoftsignThresholded) {
  EXPECT_OUT_NEAR(run_kernel(Softplus, {f32({4}, {0, 1, -1, 100})}),
                  f32({4}, {0.69314718f, 1.3132617f, 0.31326169f, 100}));
  EXPECT_OUT_NEAR(run_kernel(Softsign, {f32({3}, {-1, 0, 3})}), f32({3}, {-0.5f, 0, 0.75f}));
  EXPECT_OUT_EQ(run_kernel(ThresholdedRelu, {f32({3}, {0.5f, 1, 2})}), f32({3}, {0, 0, 2}));
  EXPECT_OUT_EQ(
      run_kernel(ThresholdedRelu, {f32({3}, {0.1f, 0.5f, -2})}, floats({{"alpha", 0.2f}})),
      f32({3}, {0, 0.5f, 0}));
}

TEST(RefActivations, MishGelu) {
  EXPECT_OUT_NEAR(run_kernel(Mish, {f32({4}, {1, -1, 0, 50})}),
                  f32({4}, {0.86509839f, -0.30340146f, 0, 50}));
  EXPECT_OUT_NEAR(run_kernel(Gelu, {f32({3}, {1, -1, 2})}, {}, 20),
                  f32({3}, {0.84134475f, -0.15865525f, 1.9544997f}));
  Attributes tanh_attr;
  tanh_attr.set("approximate", std::string("tanh"));
  EXPECT_OUT_NEAR(run_kernel(Gelu, {f32({3}, {1, -1, 2})}, tanh_attr, 20),
                  f32({3}, {0.84119199f, -0.15880801f, 1.9545977f}));
  Attributes bad;
  bad.set("approximate", std::string("fast"));
  EXPECT_EQ(run_kernel(Gelu, {f32({1}, {1})}, bad, 20).status.code(), ErrorCode::kInvalidModel);
}

TEST(RefActivations, ClipInputs) {
  Tensor x = f32({3}, {-2, 0, 2});
  EXPECT_OUT_EQ(run_kernel(Clip, {x, f32({}, {-1}), f32({}, {1})}), f32({3}, {-1, 0, 1}));
  EXPECT_OUT_EQ(run_kernel(Clip, {x, f32({}, {0})}), f32({3}, {0, 0, 2}));             // min only
  EXPECT_OUT_EQ(run_kernel(Clip, {x, Tensor(), f32({}, {0})}), f32({3}, {-2, 0, 0}));  // max only
  EXPECT_OUT_EQ(run_kernel(Clip, {x}), x);
  // min > max: everything becomes max
  EXPECT_OUT_EQ(run_kernel(Clip, {x, f32({}, {1}), f32({}, {0})}), f32({3}, {0, 0, 0}));
  // 1-element [1] bounds are accepted like scalars
  EXPECT_OUT_EQ(run_kernel(Clip, {x, f32({1}, {-1}), f32({1}, {1})}), f32({3}, {-1, 0, 1}));
  KernelRun r = run_kernel(Clip, {f32({1}, {kNaN}), f32({}, {0}), f32({}, {1})});
  ASSERT_TRUE(r.status.ok());
  EXPECT_TRUE(std::isnan(r.out().data<float>()[0]));
}

TEST(RefActivations, ClipIntegers) {
  Tensor x = tv<int8_t>({4}, {-128, -1, 0, 127});
  EXPECT_OUT_EQ(run_kernel(Clip, {x, tv<int8_t>({}, {0})}), tv<int8_t>({4}, {0, 0, 0, 127}));
  EXPECT_OUT_EQ(run_kernel(Clip, {x, Tensor(), tv<int8_t>({}, {0})}),
                tv<int8_t>({4}, {-128, -1, 0, 0}));
  EXPECT_OUT_EQ(run_kernel(Clip, {i64({3}, {-5, 5, 50}), i64({}, {0}), i64({}, {10})}),
                i64({3}, {0, 5, 10}));
}

TEST(RefActivations, ClipAttributesBeforeOpset11) {
  Tensor x = f32({3}, {-2, 0, 2});
  EXPECT_OUT_EQ(run_kernel(Clip, {x}, floats({{"min", -1}, {"max", 1}}), 6), f32({3}, {-1, 0, 1}));
  EXPECT_OUT_EQ(run_kernel(Clip, {x}, floats({{"min", 0}}), 6), f32({3}, {0, 0, 2}));
  EXPECT_OUT_EQ(run_kernel(Clip, {x}, {}, 6), x);
  EXPECT_OUT_EQ(run_kernel(Clip, {tv<double>({2}, {-1e300, 1e300})}, {}, 6),
                tv<double>({2}, {-1e300, 1e300}));
}

TEST(RefActivations, ClipErrors) {
  Tensor x = f32({3}, {-2, 0, 2});
  EXPECT_EQ(run_kernel(Clip, {x, f32({2}, {0, 1})}).status.code(), ErrorCode::kInvalidModel);
  EXPECT_EQ(run_kernel(Clip, {x, i64({}, {0})}).status.code(), ErrorCode::kInvalidModel);
  EXPECT_EQ(run_kernel(Clip, {x, f32({0}, {})}).status.code(), ErrorCode::kInvalidModel);
}

TEST(RefActivations, Float64AndDtypeErrors) {
  EXPECT_OUT_NEAR(run_kernel(Sigmoid, {tv<double>({1}, {0})}), tv<double>({1}, {0.5}));
  EXPECT_EQ(run_kernel(Sigmoid, {i64({1}, {0})}).status.code(), ErrorCode::kUnsupported);
  EXPECT_EQ(run_kernel(Elu, {tv<int32_t>({1}, {0})}).status.code(), ErrorCode::kUnsupported);
}

}  // namespace
}  // namespace qdiff::kernels::ref
