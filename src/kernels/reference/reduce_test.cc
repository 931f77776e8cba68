// Hand-derived cases for the reductions and ArgMax/ArgMin.
#include <gtest/gtest.h>

#include <cmath>
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
using qdiff::testing::run_kernel;
using qdiff::testing::tensors_equal;
using qdiff::testing::tensors_near;

// [3,2,2] holding 1..12.
Tensor cube() {
  return f32({3, 2, 2}, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12});
}

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

TEST(RefReduce, SumAxesInputKeepdims) {
  auto r = run_kernel(ReduceSum, {cube(), i64({1}, {1})}, {}, 13);
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_equal(r.y[0], f32({3, 1, 2}, {4, 6, 12, 14, 20, 22})));
}

TEST(RefReduce, SumNegativeAxisNoKeepdims) {
  auto r = run_kernel(ReduceSum, {cube(), i64({1}, {-2})}, attrs({{"keepdims", int64_t{0}}}), 13);
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_equal(r.y[0], f32({3, 2}, {4, 6, 12, 14, 20, 22})));
}

TEST(RefReduce, SumEmptyAxesReducesAll) {
  auto r = run_kernel(ReduceSum, {cube(), i64({0}, {})}, {}, 13);
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_equal(r.y[0], f32({1, 1, 1}, {78})));
  // Absent axes input: same.
  r = run_kernel(ReduceSum, {cube()}, attrs({{"keepdims", int64_t{0}}}), 13);
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_equal(r.y[0], f32({}, {78})));
}

TEST(RefReduce, SumNoopWithEmptyAxes) {
  auto r = run_kernel(ReduceSum, {cube(), i64({0}, {})},
                      attrs({{"noop_with_empty_axes", int64_t{1}}}), 13);
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_equal(r.y[0], cube()));
}

TEST(RefReduce, SumAxesAttributeBeforeOpset13) {
  auto r = run_kernel(ReduceSum, {cube()}, attrs({{"axes", std::vector<int64_t>{0, 2}}}), 11);
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  // j=0: 1+2+5+6+9+10 = 33, j=1: 3+4+7+8+11+12 = 45
  EXPECT_TRUE(tensors_equal(r.y[0], f32({1, 2, 1}, {33, 45})));
  // The attribute is not valid from 13 on, nor the input before.
  EXPECT_FALSE(
      run_kernel(ReduceSum, {cube()}, attrs({{"axes", std::vector<int64_t>{0}}}), 13).status.ok());
  EXPECT_FALSE(run_kernel(ReduceSum, {cube(), i64({1}, {0})}, {}, 11).status.ok());
}

TEST(RefReduce, BadAxes) {
  EXPECT_FALSE(run_kernel(ReduceSum, {cube(), i64({1}, {3})}, {}, 13).status.ok());
  EXPECT_FALSE(run_kernel(ReduceSum, {cube(), i64({1}, {-4})}, {}, 13).status.ok());
  EXPECT_FALSE(run_kernel(ReduceSum, {cube(), i64({2}, {1, -2})}, {}, 13).status.ok());  // repeated
}

TEST(RefReduce, SumIntegers) {
  Tensor x = Tensor::from_vector<int32_t>({2, 3}, {1, 2, 3, 4, 5, 6});
  auto r = run_kernel(ReduceSum, {x, i64({1}, {1})}, attrs({{"keepdims", int64_t{0}}}), 13);
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_equal(r.y[0], Tensor::from_vector<int32_t>({2}, {6, 15})));
}

TEST(RefReduce, MeanAttrAndInputForms) {
  auto r = run_kernel(ReduceMean, {cube()}, attrs({{"axes", std::vector<int64_t>{0, 2}}}), 13);
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_near(r.y[0], f32({1, 2, 1}, {5.5f, 7.5f})));
  r = run_kernel(ReduceMean, {cube(), i64({2}, {0, -1})}, attrs({{"keepdims", int64_t{0}}}), 18);
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_near(r.y[0], f32({2}, {5.5f, 7.5f})));
  // Opset 18 with noop_with_empty_axes and no axes: identity.
  r = run_kernel(ReduceMean, {cube()}, attrs({{"noop_with_empty_axes", int64_t{1}}}), 18);
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_equal(r.y[0], cube()));
}

TEST(RefReduce, MeanIntegerDivides) {
  Tensor x = Tensor::from_vector<int64_t>({2, 2}, {1, 2, 3, 5});
  auto r = run_kernel(ReduceMean, {x}, attrs({{"axes", std::vector<int64_t>{1}}}), 13);
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_equal(r.y[0], i64({2, 1}, {1, 4})));  // 3/2 -> 1, 8/2 -> 4
}

TEST(RefReduce, MeanOfEmptyIsNaN) {
  auto r =
      run_kernel(ReduceMean, {f32({2, 0}, {})}, attrs({{"axes", std::vector<int64_t>{1}}}), 13);
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_near(r.y[0], f32({2, 1}, {kNaN, kNaN})));
}

TEST(RefReduce, MaxMinNegativeAxis) {
  Tensor x = f32({2, 3}, {5, 1, 20, 2, 8, -3});
  auto r = run_kernel(ReduceMax, {x}, attrs({{"axes", std::vector<int64_t>{-1}}}), 13);
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_equal(r.y[0], f32({2, 1}, {20, 8})));
  r = run_kernel(ReduceMin, {x, i64({1}, {-2})}, attrs({{"keepdims", int64_t{0}}}), 18);
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_equal(r.y[0], f32({3}, {2, 1, -3})));
}

TEST(RefReduce, MaxPropagatesNaNAndEmptyGivesInfinity) {
  auto r = run_kernel(ReduceMax, {f32({3}, {1, kNaN, 2})}, {}, 13);
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(std::isnan(r.y[0].values<float>()[0]));
  r = run_kernel(ReduceMax, {f32({0, 2}, {})}, attrs({{"axes", std::vector<int64_t>{0}}}), 13);
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_equal(r.y[0], f32({1, 2}, {-kInf, -kInf})));
  r = run_kernel(ReduceMin, {f32({0}, {})}, attrs({{"keepdims", int64_t{0}}}), 13);
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_equal(r.y[0], f32({}, {kInf})));
}

TEST(RefReduce, MaxInt8AndBool) {
  Tensor x = Tensor::from_vector<int8_t>({2, 2}, {-128, -5, 7, 127});
  auto r = run_kernel(ReduceMax, {x}, attrs({{"axes", std::vector<int64_t>{0}}}), 13);
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_equal(r.y[0], Tensor::from_vector<int8_t>({1, 2}, {7, 127})));
  Tensor b = Tensor::from_vector<bool>({2, 2}, {false, true, false, false});
  r = run_kernel(ReduceMax, {b, i64({1}, {1})}, attrs({{"keepdims", int64_t{0}}}), 20);
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_equal(r.y[0], Tensor::from_vector<bool>({2}, {true, false})));
}

TEST(RefReduce, Prod) {
  Tensor x = f32({2, 3}, {1, 2, 3, 4, 5, 6});
  auto r = run_kernel(ReduceProd, {x}, attrs({{"axes", std::vector<int64_t>{1}}}), 13);
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_equal(r.y[0], f32({2, 1}, {6, 120})));
  r = run_kernel(ReduceProd, {f32({2, 0}, {})}, attrs({{"axes", std::vector<int64_t>{1}}}), 13);
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_equal(r.y[0], f32({2, 1}, {1, 1})));
  // int64 overflow wraps instead of being UB: 2^62 * 4 = 2^64 = 0 mod 2^64.
  Tensor big = i64({2}, {int64_t{1} << 62, 4});
  r = run_kernel(ReduceProd, {big}, attrs({{"keepdims", int64_t{0}}}), 13);
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_equal(r.y[0], i64({}, {0})));
}

TEST(RefReduce, L2) {
  Tensor x = f32({2, 2}, {3, 4, -6, 8});
  auto r = run_kernel(ReduceL2, {x}, attrs({{"axes", std::vector<int64_t>{-1}}}), 13);
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_near(r.y[0], f32({2, 1}, {5, 10})));
  r = run_kernel(ReduceL2, {i64({2}, {3, 4})}, {}, 18);
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_equal(r.y[0], i64({1}, {5})));
}

TEST(RefReduce, ScalarInputReducesToScalar) {
  auto r = run_kernel(ReduceSum, {f32({}, {7})}, {}, 13);
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_equal(r.y[0], f32({}, {7})));
}

TEST(RefReduce, RejectsBoolSum) {
  Tensor b = Tensor::from_vector<bool>({2}, {true, false});
  EXPECT_FALSE(run_kernel(ReduceSum, {b}, {}, 13).status.ok());
}

TEST(RefReduceArg, ArgMaxAxes) {
  Tensor x = f32({2, 2}, {2, 1, 3, 10});
  auto r = run_kernel(ArgMax, {x}, {}, 13);  // axis 0, keepdims
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_equal(r.y[0], i64({1, 2}, {1, 1})));
  r = run_kernel(ArgMax, {x}, attrs({{"axis", int64_t{1}}, {"keepdims", int64_t{0}}}), 13);
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_equal(r.y[0], i64({2}, {0, 1})));
  r = run_kernel(ArgMax, {x}, attrs({{"axis", int64_t{-1}}}), 13);
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_equal(r.y[0], i64({2, 1}, {0, 1})));
}

TEST(RefReduceArg, SelectLastIndexTies) {
  Tensor x = f32({2, 3}, {2, 2, 1, 1, 3, 3});
  auto r = run_kernel(ArgMax, {x}, attrs({{"axis", int64_t{1}}}), 13);
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_equal(r.y[0], i64({2, 1}, {0, 1})));
  r = run_kernel(ArgMax, {x}, attrs({{"axis", int64_t{1}}, {"select_last_index", int64_t{1}}}), 13);
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_equal(r.y[0], i64({2, 1}, {1, 2})));
  Tensor y = f32({4}, {1, 0, 5, 0});
  r = run_kernel(ArgMin, {y}, {}, 13);
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_equal(r.y[0], i64({1}, {1})));
  r = run_kernel(ArgMin, {y}, attrs({{"select_last_index", int64_t{1}}, {"keepdims", int64_t{0}}}),
                 13);
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_equal(r.y[0], i64({}, {3})));
}

TEST(RefReduceArg, IntegersAndNaN) {
  Tensor x = Tensor::from_vector<int32_t>({3}, {-7, 9, 9});
  auto r = run_kernel(ArgMin, {x}, {}, 13);
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_equal(r.y[0], i64({1}, {0})));
  r = run_kernel(ArgMax, {f32({3}, {1, kNaN, 5})}, {}, 13);  // NaN is the maximum, like numpy
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_equal(r.y[0], i64({1}, {1})));
}

TEST(RefReduceArg, Errors) {
  EXPECT_FALSE(
      run_kernel(ArgMax, {f32({2, 0}, {})}, attrs({{"axis", int64_t{1}}}), 13).status.ok());
  EXPECT_FALSE(
      run_kernel(ArgMax, {f32({2}, {1, 2})}, attrs({{"axis", int64_t{1}}}), 13).status.ok());
  EXPECT_FALSE(run_kernel(ArgMax, {f32({}, {1})}, {}, 13).status.ok());
  // Empty output: nothing to reduce, no error.
  auto r = run_kernel(ArgMax, {f32({0, 3}, {})}, attrs({{"axis", int64_t{1}}}), 13);
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_EQ(r.y[0].shape(), (qdiff::Shape{0, 1}));
}

TEST(RefReduce, L1AndSumSquare) {
  const Tensor x = f32({2, 2}, {1, -2, -3, 4});
  auto r = run_kernel(ReduceL1, {x}, attrs({{"axes", std::vector<int64_t>{1}}}));
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_near(r.y[0], f32({2, 1}, {3, 7})));
  r = run_kernel(ReduceSumSquare, {x}, attrs({{"keepdims", int64_t{0}}}));
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_near(r.y[0], f32({}, {30})));
  // Opset 18: axes as an input.
  r = run_kernel(ReduceSumSquare, {x, i64({1}, {-2})}, {}, 18);
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_near(r.y[0], f32({1, 2}, {10, 20})));
  r = run_kernel(ReduceL1, {i64({3}, {-1, 2, -3})}, {});
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_equal(r.y[0], i64({1}, {6})));
}

TEST(RefReduce, LogSumAndLogSumExp) {
  const Tensor x = f32({2, 2}, {1, 2, 3, 4});
  auto r = run_kernel(ReduceLogSum, {x}, attrs({{"axes", std::vector<int64_t>{0}}}));
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_near(r.y[0], f32({1, 2}, {std::log(4.0f), std::log(6.0f)})));
  r = run_kernel(ReduceLogSumExp, {x},
                 attrs({{"axes", std::vector<int64_t>{1}}, {"keepdims", int64_t{0}}}));
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  // log(e^1 + e^2) = 2 + log(1 + e^-1).
  EXPECT_TRUE(tensors_near(
      r.y[0], f32({2}, {2 + std::log1p(std::exp(-1.0f)), 4 + std::log1p(std::exp(-1.0f))})));
  // Large inputs do not overflow: log(e^1000 + e^1000) = 1000 + log 2.
  r = run_kernel(ReduceLogSumExp, {f32({2}, {1000, 1000})}, {});
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_near(r.y[0], f32({1}, {1000 + std::log(2.0f)})));
  // Empty reduction: log(0) = -inf.
  r = run_kernel(ReduceLogSumExp, {f32({0, 2}, {})}, attrs({{"axes", std::vector<int64_t>{0}}}));
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_equal(r.y[0], f32({1, 2}, {-INFINITY, -INFINITY})));
}

}  // namespace
}  // namespace qdiff::kernels::ref
