#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "kernels/reference/reference.h"
#include "testing/kernel_test_util.h"

namespace qdiff::kernels::ref {
namespace {

using qdiff::testing::attrs;
using qdiff::testing::b8;
using qdiff::testing::f32;
using qdiff::testing::i64;
using qdiff::testing::KernelRun;
using qdiff::testing::run_kernel;
using qdiff::testing::tensors_equal;
using qdiff::testing::tensors_near;
using qdiff::testing::tv;

// ----- Arithmetic -----

TEST(RefElementwise, AddSameShape) {
  EXPECT_OUT_EQ(run_kernel(Add, {f32({2, 2}, {1, 2, 3, 4}), f32({2, 2}, {10, 20, 30, 40})}),
                f32({2, 2}, {11, 22, 33, 44}));
}

TEST(RefElementwise, AddBroadcastTrailing) {
  // [2,3] + [3]
  EXPECT_OUT_EQ(run_kernel(Add, {f32({2, 3}, {1, 2, 3, 4, 5, 6}), f32({3}, {10, 20, 30})}),
                f32({2, 3}, {11, 22, 33, 14, 25, 36}));
}

TEST(RefElementwise, AddBroadcastBothSides) {
  // [2,1] + [1,3] -> [2,3]
  EXPECT_OUT_EQ(run_kernel(Add, {f32({2, 1}, {1, 2}), f32({1, 3}, {10, 20, 30})}),
                f32({2, 3}, {11, 21, 31, 12, 22, 32}));
  // Scalar on the left.
  EXPECT_OUT_EQ(run_kernel(Add, {f32({}, {100}), f32({3}, {1, 2, 3})}), f32({3}, {101, 102, 103}));
  // Rank 0 with rank 0.
  EXPECT_OUT_EQ(run_kernel(Add, {f32({}, {1}), f32({}, {2})}), f32({}, {3}));
}

TEST(RefElementwise, AddBroadcastRank4MatchesNaive) {
  // a [2,1,3,1] + b [4,1,5] -> [2,4,3,5]
  std::vector<float> av(6), bv(20);
  for (size_t i = 0; i < av.size(); ++i) av[i] = static_cast<float>(i) * 100;
  for (size_t i = 0; i < bv.size(); ++i) bv[i] = static_cast<float>(i);
  std::vector<float> expected;
  for (int n = 0; n < 2; ++n)
    for (int c = 0; c < 4; ++c)
      for (int h = 0; h < 3; ++h)
        for (int w = 0; w < 5; ++w)
          expected.push_back(av[static_cast<size_t>(n * 3 + h)] +
                             bv[static_cast<size_t>(c * 5 + w)]);
  EXPECT_OUT_EQ(run_kernel(Add, {f32({2, 1, 3, 1}, av), f32({4, 1, 5}, bv)}),
                f32({2, 4, 3, 5}, expected));
}

TEST(RefElementwise, AddEmptyTensor) {
  KernelRun r = run_kernel(Add, {f32({0, 3}, {}), f32({3}, {1, 2, 3})});
  ASSERT_TRUE(r.status.ok());
  EXPECT_EQ(r.out().shape(), (qdiff::Shape{0, 3}));
}

TEST(RefElementwise, AddIntegerWraps) {
  const int32_t mx = std::numeric_limits<int32_t>::max();
  const int32_t mn = std::numeric_limits<int32_t>::min();
  EXPECT_OUT_EQ(run_kernel(Add, {tv<int32_t>({2}, {mx, 5}), tv<int32_t>({2}, {1, -7})}),
                tv<int32_t>({2}, {mn, -2}));
  EXPECT_OUT_EQ(run_kernel(Add, {tv<uint8_t>({2}, {250, 3}), tv<uint8_t>({}, {10})}),
                tv<uint8_t>({2}, {4, 13}));
  EXPECT_OUT_EQ(run_kernel(Add, {i64({1}, {7}), i64({1}, {-9})}), i64({1}, {-2}));
}

TEST(RefElementwise, SubAndMul) {
  EXPECT_OUT_EQ(run_kernel(Sub, {f32({2, 2}, {1, 2, 3, 4}), f32({2, 1}, {1, 10})}),
                f32({2, 2}, {0, 1, -7, -6}));
  EXPECT_OUT_EQ(run_kernel(Sub, {tv<uint8_t>({1}, {3}), tv<uint8_t>({1}, {5})}),
                tv<uint8_t>({1}, {254}));
  EXPECT_OUT_EQ(run_kernel(Mul, {f32({3}, {1, 2, 3}), f32({}, {-2})}), f32({3}, {-2, -4, -6}));
  // int8: 100 * 2 = 200 wraps to -56; uint16: 65535^2 mod 2^16 = 1 (no int promotion overflow).
  EXPECT_OUT_EQ(run_kernel(Mul, {tv<int8_t>({2}, {100, -3}), tv<int8_t>({2}, {2, 4})}),
                tv<int8_t>({2}, {-56, -12}));
  EXPECT_OUT_EQ(run_kernel(Mul, {tv<uint16_t>({1}, {65535}), tv<uint16_t>({1}, {65535})}),
                tv<uint16_t>({1}, {1}));
  EXPECT_OUT_EQ(run_kernel(Mul, {tv<double>({2}, {1.5, 2}), tv<double>({2}, {2, 0.25})}),
                tv<double>({2}, {3, 0.5}));
}

TEST(RefElementwise, DivFloat) {
  EXPECT_OUT_EQ(run_kernel(Div, {f32({2}, {3, 4}), f32({2}, {1, 2})}), f32({2}, {3, 2}));
  KernelRun r = run_kernel(Div, {f32({3}, {1, -1, 0}), f32({}, {0})});
  ASSERT_TRUE(r.status.ok());
  const float* p = r.out().data<float>();
  EXPECT_TRUE(std::isinf(p[0]) && p[0] > 0);
  EXPECT_TRUE(std::isinf(p[1]) && p[1] < 0);
  EXPECT_TRUE(std::isnan(p[2]));
}

TEST(RefElementwise, DivIntegerTruncatesTowardZero) {
  EXPECT_OUT_EQ(
      run_kernel(Div, {tv<int32_t>({4}, {7, -7, 7, -7}), tv<int32_t>({4}, {2, 2, -2, -2})}),
      tv<int32_t>({4}, {3, -3, -3, 3}));
  EXPECT_OUT_EQ(run_kernel(Div, {tv<uint8_t>({3}, {23, 5, 0}), tv<uint8_t>({3}, {4, 6, 1})}),
                tv<uint8_t>({3}, {5, 0, 0}));
  // MIN / -1 wraps instead of trapping.
  const int64_t mn = std::numeric_limits<int64_t>::min();
  EXPECT_OUT_EQ(run_kernel(Div, {i64({2}, {mn, 9}), i64({}, {-1})}), i64({2}, {mn, -9}));
  EXPECT_OUT_EQ(run_kernel(Div, {tv<int8_t>({1}, {-128}), tv<int8_t>({1}, {-1})}),
                tv<int8_t>({1}, {-128}));
}

TEST(RefElementwise, DivIntegerByZeroIsError) {
  KernelRun r = run_kernel(Div, {tv<int32_t>({2}, {1, 2}), tv<int32_t>({2}, {1, 0})});
  EXPECT_EQ(r.status.code(), ErrorCode::kInvalidArgument);
}

TEST(RefElementwise, BinaryErrors) {
  EXPECT_EQ(run_kernel(Add, {f32({2, 3}, {1, 2, 3, 4, 5, 6}), f32({2}, {1, 2})}).status.code(),
            ErrorCode::kInvalidArgument);  // incompatible shapes
  EXPECT_EQ(run_kernel(Add, {f32({1}, {1}), i64({1}, {1})}).status.code(),
            ErrorCode::kInvalidModel);  // mixed dtypes
  EXPECT_EQ(run_kernel(Add, {b8({1}, {true}), b8({1}, {true})}).status.code(),
            ErrorCode::kUnsupported);  // no arithmetic on bool
  EXPECT_EQ(run_kernel(Add, {f32({1}, {1})}).status.code(),
            ErrorCode::kInvalidModel);  // missing input
}

TEST(RefElementwise, PowFloat) {
  EXPECT_OUT_NEAR(run_kernel(Pow, {f32({3}, {1, 2, 3}), f32({3}, {4, 5, 6})}),
                  f32({3}, {1, 32, 729}));
  EXPECT_OUT_NEAR(run_kernel(Pow, {f32({2, 3}, {1, 2, 3, 4, 5, 6}), f32({3}, {1, 2, 3})}),
                  f32({2, 3}, {1, 4, 27, 4, 25, 216}));
  EXPECT_OUT_NEAR(run_kernel(Pow, {f32({3}, {4, 9, 2}), f32({}, {0.5f})}),
                  f32({3}, {2, 3, 1.41421356f}));
  EXPECT_OUT_NEAR(run_kernel(Pow, {f32({2}, {2, 4}), f32({}, {-1})}), f32({2}, {0.5f, 0.25f}));
}

TEST(RefElementwise, PowMixedTypes) {
  // float base, integer exponent: output float
  EXPECT_OUT_NEAR(run_kernel(Pow, {f32({3}, {1, 2, 3}), i64({3}, {4, 5, 6})}),
                  f32({3}, {1, 32, 729}));
  EXPECT_OUT_NEAR(run_kernel(Pow, {f32({2}, {2, -2}), tv<uint32_t>({2}, {3, 3})}),
                  f32({2}, {8, -8}));
  // integer base, float exponent: output integer, truncated
  EXPECT_OUT_EQ(run_kernel(Pow, {i64({3}, {1, 2, 3}), f32({3}, {4, 5, 6})}),
                i64({3}, {1, 32, 729}));
  EXPECT_OUT_EQ(run_kernel(Pow, {tv<int32_t>({2}, {2, 10}), f32({2}, {0.5f, 0.5f})}),
                tv<int32_t>({2}, {1, 3}));
  // integer base, integer exponent: exact
  EXPECT_OUT_EQ(run_kernel(Pow, {tv<int32_t>({3}, {1, 2, 3}), tv<int32_t>({3}, {4, 5, 6})}),
                tv<int32_t>({3}, {1, 32, 729}));
  EXPECT_OUT_EQ(run_kernel(Pow, {i64({2}, {3, -2}), i64({2}, {39, 63})}),
                i64({2}, {4052555153018976267LL, std::numeric_limits<int64_t>::min()}));
  // negative integer exponents: 2^-1 -> 0, 1^-3 -> 1, (-1)^-3 -> -1, (-1)^-2 -> 1
  EXPECT_OUT_EQ(
      run_kernel(Pow, {tv<int32_t>({4}, {2, 1, -1, -1}), tv<int32_t>({4}, {-1, -3, -3, -2})}),
      tv<int32_t>({4}, {0, 1, -1, 1}));
  EXPECT_EQ(run_kernel(Pow, {tv<int32_t>({1}, {0}), tv<int32_t>({1}, {-1})}).status.code(),
            ErrorCode::kInvalidArgument);
  // opset < 12: base and exponent must share a type
  EXPECT_EQ(run_kernel(Pow, {f32({1}, {2}), i64({1}, {2})}, {}, 7).status.code(),
            ErrorCode::kInvalidModel);
}

// ----- Variadic -----

TEST(RefElementwise, MaxMinVariadicBroadcast) {
  // [3], [2,1], scalar -> [2,3]
  std::vector<Tensor> ins = {f32({3}, {1, 5, 3}), f32({2, 1}, {2, 4}), f32({}, {3})};
  EXPECT_OUT_EQ(run_kernel(Max, ins), f32({2, 3}, {3, 5, 3, 4, 5, 4}));
  EXPECT_OUT_EQ(run_kernel(Min, ins), f32({2, 3}, {1, 2, 2, 1, 3, 3}));
}

TEST(RefElementwise, MaxMinIntegersAndSingleInput) {
  EXPECT_OUT_EQ(run_kernel(Max, {tv<uint8_t>({3}, {1, 200, 3}), tv<uint8_t>({3}, {2, 100, 3})}),
                tv<uint8_t>({3}, {2, 200, 3}));
  EXPECT_OUT_EQ(run_kernel(Min, {tv<int8_t>({2}, {-128, 5}), tv<int8_t>({2}, {127, -5})}),
                tv<int8_t>({2}, {-128, -5}));
  EXPECT_OUT_EQ(run_kernel(Max, {f32({2}, {1, -1})}), f32({2}, {1, -1}));
  EXPECT_EQ(run_kernel(Max, {}).status.code(), ErrorCode::kInvalidModel);
}

TEST(RefElementwise, MaxMinPropagateNaN) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  KernelRun r = run_kernel(Max, {f32({2}, {nan, 1}), f32({2}, {1, nan})});
  ASSERT_TRUE(r.status.ok());
  EXPECT_TRUE(std::isnan(r.out().data<float>()[0]));
  EXPECT_TRUE(std::isnan(r.out().data<float>()[1]));
  r = run_kernel(Min, {f32({1}, {2}), f32({1}, {nan})});
  ASSERT_TRUE(r.status.ok());
  EXPECT_TRUE(std::isnan(r.out().data<float>()[0]));
}

TEST(RefElementwise, SumAndMean) {
  std::vector<Tensor> ins = {f32({2}, {1, 2}), f32({2}, {3, 4}), f32({2}, {5, 6})};
  EXPECT_OUT_EQ(run_kernel(Sum, ins), f32({2}, {9, 12}));
  EXPECT_OUT_EQ(run_kernel(Mean, ins), f32({2}, {3, 4}));
  // [2,1] and [2] -> [2,2]
  EXPECT_OUT_NEAR(run_kernel(Mean, {f32({2, 1}, {1, 2}), f32({2}, {3, 5})}),
                  f32({2, 2}, {2, 3, 2.5f, 3.5f}));
  EXPECT_OUT_EQ(run_kernel(Sum, {i64({2}, {1, 2}), i64({}, {10})}), i64({2}, {11, 12}));
  EXPECT_EQ(run_kernel(Mean, {i64({1}, {1}), i64({1}, {2})}).status.code(),
            ErrorCode::kUnsupported);
  EXPECT_EQ(run_kernel(Sum, {f32({1}, {1}), i64({1}, {2})}).status.code(),
            ErrorCode::kInvalidModel);
}

// ----- Comparisons -----

TEST(RefElementwise, Comparisons) {
  Tensor a = f32({2, 2}, {1, 2, 3, 4});
  Tensor b = f32({2}, {2, 2});
  EXPECT_OUT_EQ(run_kernel(Equal, {a, b}), b8({2, 2}, {false, true, false, false}));
  EXPECT_OUT_EQ(run_kernel(Greater, {a, b}), b8({2, 2}, {false, false, true, true}));
  EXPECT_OUT_EQ(run_kernel(GreaterOrEqual, {a, b}), b8({2, 2}, {false, true, true, true}));
  EXPECT_OUT_EQ(run_kernel(Less, {a, b}), b8({2, 2}, {true, false, false, false}));
  EXPECT_OUT_EQ(run_kernel(LessOrEqual, {a, b}), b8({2, 2}, {true, true, false, false}));
}

TEST(RefElementwise, ComparisonsIntegerAndBool) {
  EXPECT_OUT_EQ(run_kernel(Equal, {i64({3}, {1, -2, 3}), i64({}, {-2})}),
                b8({3}, {false, true, false}));
  EXPECT_OUT_EQ(run_kernel(Less, {tv<uint8_t>({2}, {0, 255}), tv<uint8_t>({2}, {255, 0})}),
                b8({2}, {true, false}));
  EXPECT_OUT_EQ(run_kernel(Equal, {b8({2}, {true, false}), b8({2}, {true, true})}),
                b8({2}, {true, false}));
  EXPECT_EQ(run_kernel(Greater, {b8({1}, {true}), b8({1}, {false})}).status.code(),
            ErrorCode::kUnsupported);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  EXPECT_OUT_EQ(run_kernel(Equal, {f32({1}, {nan}), f32({1}, {nan})}), b8({1}, {false}));
}

// ----- Logic -----

TEST(RefElementwise, Logic) {
  Tensor a = b8({2, 2}, {false, false, true, true});
  Tensor b = b8({2}, {false, true});
  EXPECT_OUT_EQ(run_kernel(And, {a, b}), b8({2, 2}, {false, false, false, true}));
  EXPECT_OUT_EQ(run_kernel(Or, {a, b}), b8({2, 2}, {false, true, true, true}));
  EXPECT_OUT_EQ(run_kernel(Xor, {a, b}), b8({2, 2}, {false, true, true, false}));
  EXPECT_OUT_EQ(run_kernel(Not, {b}), b8({2}, {true, false}));
  EXPECT_EQ(run_kernel(And, {f32({1}, {1}), f32({1}, {1})}).status.code(), ErrorCode::kUnsupported);
  EXPECT_EQ(run_kernel(Not, {f32({1}, {1})}).status.code(), ErrorCode::kUnsupported);
}

TEST(RefElementwise, WhereThreeWayBroadcast) {
  // cond [2,1], x [3], y scalar -> [2,3]
  EXPECT_OUT_EQ(run_kernel(Where, {b8({2, 1}, {true, false}), i64({3}, {1, 2, 3}), i64({}, {-1})}),
                i64({2, 3}, {1, 2, 3, -1, -1, -1}));
  EXPECT_OUT_EQ(run_kernel(Where, {b8({2}, {true, false}), f32({2, 2}, {1, 2, 3, 4}),
                                   f32({2, 2}, {9, 8, 7, 6})}),
                f32({2, 2}, {1, 8, 3, 6}));
  EXPECT_OUT_EQ(run_kernel(Where, {b8({2}, {false, true}), b8({2}, {true, true}), b8({}, {false})}),
                b8({2}, {false, true}));
  EXPECT_EQ(run_kernel(Where, {f32({1}, {1}), f32({1}, {1}), f32({1}, {2})}).status.code(),
            ErrorCode::kUnsupported);
  EXPECT_EQ(run_kernel(Where, {b8({1}, {true}), f32({1}, {1}), i64({1}, {2})}).status.code(),
            ErrorCode::kInvalidModel);
  EXPECT_EQ(
      run_kernel(Where, {b8({2}, {true, true}), f32({3}, {1, 2, 3}), f32({1}, {2})}).status.code(),
      ErrorCode::kInvalidArgument);
}

Attributes fmod(int64_t v) {
  return attrs({{"fmod", v}});
}

TEST(RefElementwise, ModIntegerSignFollowsDivisor) {
  // Python %: -4 % 3 = 2, 7 % -3 = -2, -5 % -3 = -2, 5 % 3 = 2.
  auto r = run_kernel(Mod, {tv<int32_t>({4}, {-4, 7, -5, 5}), tv<int32_t>({4}, {3, -3, -3, 3})});
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_equal(r.out(), tv<int32_t>({4}, {2, -2, -2, 2})));
  // C fmod: the sign of the dividend.
  r = run_kernel(Mod, {i64({4}, {-4, 7, -5, 5}), i64({4}, {3, -3, -3, 3})}, fmod(1));
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_equal(r.out(), i64({4}, {-1, 1, -2, 2})));
  // MIN % -1 is 0, without trapping.
  r = run_kernel(Mod, {tv<int8_t>({1}, {-128}), tv<int8_t>({1}, {-1})});
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_equal(r.out(), tv<int8_t>({1}, {0})));
  r = run_kernel(Mod, {tv<uint8_t>({2}, {250, 7}), tv<uint8_t>({1}, {4})});  // broadcast
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_equal(r.out(), tv<uint8_t>({2}, {2, 3})));
}

TEST(RefElementwise, ModFloatAndErrors) {
  auto r = run_kernel(Mod, {f32({3}, {-4.5f, 7, 5.5f}), f32({3}, {2, -3, 2})}, fmod(1));
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_near(r.out(), f32({3}, {-0.5f, 1, 1.5f})));
  EXPECT_FALSE(run_kernel(Mod, {f32({1}, {1}), f32({1}, {1})}).status.ok());  // float needs fmod=1
  auto z = run_kernel(Mod, {i64({1}, {1}), i64({1}, {0})});
  EXPECT_EQ(z.status.code(), ErrorCode::kInvalidArgument);
  EXPECT_FALSE(run_kernel(Mod, {i64({1}, {1}), i64({1}, {1})}, fmod(2)).status.ok());
}

}  // namespace
}  // namespace qdiff::kernels::ref
