#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <numbers>
#include <vector>

#include "kernels/reference/reference.h"
#include "testing/kernel_test_util.h"

namespace qdiff::kernels::ref {
namespace {

using qdiff::testing::b8;
using qdiff::testing::f32;
using qdiff::testing::i64;
using qdiff::testing::KernelRun;
using qdiff::testing::run_kernel;
using qdiff::testing::tensors_equal;
using qdiff::testing::tensors_near;
using qdiff::testing::tv;

Attributes with_int(const char* name, int64_t v) {
  Attributes a;
  a.set(name, v);
  return a;
}

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

TEST(RefUnary, AbsAndNeg) {
  EXPECT_OUT_EQ(run_kernel(Abs, {f32({3}, {-1.5f, 0, 2})}), f32({3}, {1.5f, 0, 2}));
  EXPECT_OUT_EQ(run_kernel(Abs, {tv<int8_t>({3}, {-128, -5, 7})}), tv<int8_t>({3}, {-128, 5, 7}));
  EXPECT_OUT_EQ(run_kernel(Abs, {tv<uint8_t>({1}, {200})}), tv<uint8_t>({1}, {200}));
  EXPECT_OUT_EQ(run_kernel(Neg, {f32({2}, {-1.5f, 2})}), f32({2}, {1.5f, -2}));
  const int32_t mn = std::numeric_limits<int32_t>::min();
  EXPECT_OUT_EQ(run_kernel(Neg, {tv<int32_t>({3}, {mn, -5, 7})}), tv<int32_t>({3}, {mn, 5, -7}));
  EXPECT_EQ(run_kernel(Neg, {tv<uint8_t>({1}, {1})}).status.code(), ErrorCode::kUnsupported);
  EXPECT_EQ(run_kernel(Abs, {b8({1}, {true})}).status.code(), ErrorCode::kUnsupported);
}

TEST(RefUnary, CeilFloor) {
  Tensor x = f32({4}, {-1.5f, 1.2f, 2.0f, -0.2f});
  EXPECT_OUT_EQ(run_kernel(Ceil, {x}), f32({4}, {-1, 2, 2, -0.0f}));
  EXPECT_OUT_EQ(run_kernel(Floor, {x}), f32({4}, {-2, 1, 2, -1}));
  EXPECT_EQ(run_kernel(Floor, {i64({1}, {1})}).status.code(), ErrorCode::kUnsupported);
}

TEST(RefUnary, RoundHalfToEven) {
  // Examples of the ONNX documentation, then more halves.
  EXPECT_OUT_EQ(run_kernel(Round, {f32({5}, {0.9f, 2.5f, 2.3f, 1.5f, -4.5f})}),
                f32({5}, {1, 2, 2, 2, -4}));
  KernelRun r = run_kernel(Round, {f32({8}, {0.5f, -0.5f, 3.5f, -2.5f, -2.6f, 1e9f, kInf, kNaN})});
  ASSERT_TRUE(r.status.ok());
  const float* p = r.out().data<float>();
  EXPECT_EQ(p[0], 0.0f);
  EXPECT_EQ(p[1], 0.0f);
  EXPECT_TRUE(std::signbit(p[1]));  // -0.5 rounds to -0
  EXPECT_EQ(p[2], 4.0f);
  EXPECT_EQ(p[3], -2.0f);
  EXPECT_EQ(p[4], -3.0f);
  EXPECT_EQ(p[5], 1e9f);
  EXPECT_EQ(p[6], kInf);
  EXPECT_TRUE(std::isnan(p[7]));
  EXPECT_OUT_EQ(run_kernel(Round, {tv<double>({2}, {2.5, 3.5})}), tv<double>({2}, {2, 4}));
}

TEST(RefUnary, MathFunctions) {
  const float e = std::numbers::e_v<float>;
  const float half_pi = std::numbers::pi_v<float> / 2;
  EXPECT_OUT_NEAR(run_kernel(Sqrt, {f32({3}, {4, 9, 0})}), f32({3}, {2, 3, 0}));
  EXPECT_OUT_NEAR(run_kernel(Reciprocal, {f32({2}, {2, -4})}), f32({2}, {0.5f, -0.25f}));
  EXPECT_OUT_NEAR(run_kernel(Exp, {f32({2}, {0, 1})}), f32({2}, {1, e}));
  EXPECT_OUT_NEAR(run_kernel(Log, {f32({2}, {1, e})}), f32({2}, {0, 1}));
  EXPECT_OUT_NEAR(run_kernel(Sin, {f32({2}, {0, half_pi})}), f32({2}, {0, 1}));
  EXPECT_OUT_NEAR(run_kernel(Cos, {f32({2}, {0, std::numbers::pi_v<float>})}), f32({2}, {1, -1}));
  EXPECT_OUT_NEAR(run_kernel(Tan, {f32({2}, {0, std::numbers::pi_v<float> / 4})}),
                  f32({2}, {0, 1}));
  EXPECT_OUT_NEAR(run_kernel(Erf, {f32({3}, {0, 1, -1})}),
                  f32({3}, {0, 0.84270079f, -0.84270079f}));
  EXPECT_OUT_NEAR(run_kernel(Sqrt, {tv<double>({1}, {2})}), tv<double>({1}, {1.4142135623730951}));
  KernelRun r = run_kernel(Log, {f32({2}, {0, -1})});
  ASSERT_TRUE(r.status.ok());
  EXPECT_EQ(r.out().data<float>()[0], -kInf);
  EXPECT_TRUE(std::isnan(r.out().data<float>()[1]));
  EXPECT_EQ(run_kernel(Exp, {i64({1}, {1})}).status.code(), ErrorCode::kUnsupported);
}

TEST(RefUnary, Sign) {
  KernelRun r = run_kernel(Sign, {f32({4}, {-2, 0, 3, kNaN})});
  ASSERT_TRUE(r.status.ok());
  EXPECT_EQ(r.out().data<float>()[0], -1);
  EXPECT_EQ(r.out().data<float>()[1], 0);
  EXPECT_EQ(r.out().data<float>()[2], 1);
  EXPECT_TRUE(std::isnan(r.out().data<float>()[3]));
  EXPECT_OUT_EQ(run_kernel(Sign, {tv<int32_t>({3}, {-7, 0, 9})}), tv<int32_t>({3}, {-1, 0, 1}));
  EXPECT_OUT_EQ(run_kernel(Sign, {tv<uint8_t>({2}, {0, 9})}), tv<uint8_t>({2}, {0, 1}));
}

TEST(RefUnary, Cast) {
  EXPECT_OUT_EQ(run_kernel(Cast, {f32({3}, {1.7f, -1.7f, 0})}, with_int("to", 6)),
                tv<int32_t>({3}, {1, -1, 0}));
  EXPECT_OUT_EQ(run_kernel(Cast, {i64({2}, {3, -4})}, with_int("to", 1)), f32({2}, {3, -4}));
  EXPECT_OUT_EQ(run_kernel(Cast, {f32({3}, {0, 0.5f, -2})}, with_int("to", 9)),
                b8({3}, {false, true, true}));
  EXPECT_OUT_EQ(run_kernel(Cast, {b8({2}, {true, false})}, with_int("to", 11)),
                tv<double>({2}, {1, 0}));
  // float32 -> float16 -> float32 keeps representable values.
  KernelRun h = run_kernel(Cast, {f32({2}, {1.5f, -2})}, with_int("to", 10));
  ASSERT_TRUE(h.status.ok());
  EXPECT_EQ(h.out().dtype(), DType::kFloat16);
  EXPECT_OUT_EQ(run_kernel(Cast, {h.out()}, with_int("to", 1)), f32({2}, {1.5f, -2}));
  // Same type: shares storage.
  Tensor x = f32({1}, {1});
  KernelRun same = run_kernel(Cast, {x}, with_int("to", 1));
  ASSERT_TRUE(same.status.ok());
  EXPECT_EQ(same.out().raw(), x.raw());
}

TEST(RefUnary, CastErrors) {
  EXPECT_EQ(run_kernel(Cast, {f32({1}, {1})}).status.code(), ErrorCode::kInvalidModel);  // no 'to'
  EXPECT_EQ(run_kernel(Cast, {f32({1}, {1})}, with_int("to", 8)).status.code(),
            ErrorCode::kUnsupported);  // string
  EXPECT_EQ(run_kernel(Cast, {f32({1}, {1})}, with_int("to", 17)).status.code(),
            ErrorCode::kUnsupported);  // float8e4m3fn
  EXPECT_EQ(run_kernel(Cast, {f32({1}, {1})}, with_int("to", -3)).status.code(),
            ErrorCode::kInvalidModel);
}

TEST(RefUnary, IdentitySharesStorage) {
  Tensor x = i64({2, 2}, {1, 2, 3, 4});
  KernelRun r = run_kernel(Identity, {x});
  EXPECT_OUT_EQ(r, x);
  EXPECT_EQ(r.out().raw(), x.raw());
}

TEST(RefUnary, DropoutInference) {
  Tensor x = f32({2, 2}, {1, -2, 3, -4});
  // opset 13, no ratio/training_mode, with mask
  KernelRun r = run_kernel(Dropout, {x}, {}, 13, 2);
  EXPECT_OUT_EQ(r, x);
  EXPECT_TRUE(tensors_equal(r.y[1], b8({2, 2}, {true, true, true, true})));
  // explicit ratio, training_mode false
  r = run_kernel(Dropout, {x, f32({}, {0.3f}), b8({}, {false})}, {}, 13, 1);
  EXPECT_OUT_EQ(r, x);
  // training_mode true with ratio 0 is still the identity
  r = run_kernel(Dropout, {x, f32({}, {0}), b8({}, {true})}, {}, 13, 2);
  EXPECT_OUT_EQ(r, x);
  EXPECT_TRUE(tensors_equal(r.y[1], b8({2, 2}, {true, true, true, true})));
  // absent ratio with training_mode true: default 0.5 -> random
  r = run_kernel(Dropout, {x, Tensor(), b8({}, {true})});
  EXPECT_EQ(r.status.code(), ErrorCode::kUnsupported);
  r = run_kernel(Dropout, {x, f32({}, {0.5f}), b8({}, {true})});
  EXPECT_EQ(r.status.code(), ErrorCode::kUnsupported);
}

TEST(RefUnary, DropoutOldOpsets) {
  Tensor x = f32({3}, {-1, 0, 1});
  Attributes ratio;
  ratio.set("ratio", 0.2f);
  KernelRun r = run_kernel(Dropout, {x}, ratio, 7, 2);
  EXPECT_OUT_EQ(r, x);
  EXPECT_TRUE(tensors_equal(r.y[1], f32({3}, {1, 1, 1})));  // opset 7: mask has type T
  r = run_kernel(Dropout, {x}, ratio, 10, 2);
  EXPECT_OUT_EQ(r, x);
  EXPECT_TRUE(tensors_equal(r.y[1], b8({3}, {true, true, true})));
}

TEST(RefUnary, InverseTrigAndHyperbolic) {
  // Hand-known values: acos(1)=0, acos(0)=pi/2, asin(1)=pi/2, atan(1)=pi/4, sinh(0)=0,
  // cosh(0)=1, asinh(0)=0, acosh(1)=0, atanh(0)=0; acos(2) and acosh(0.5) are NaN.
  const float pi = std::numbers::pi_v<float>;
  EXPECT_OUT_NEAR(run_kernel(Acos, {f32({3}, {1, 0, 2})}), f32({3}, {0, pi / 2, kNaN}));
  EXPECT_OUT_NEAR(run_kernel(Asin, {f32({3}, {1, 0, -1})}), f32({3}, {pi / 2, 0, -pi / 2}));
  EXPECT_OUT_NEAR(run_kernel(Atan, {f32({3}, {1, 0, -1})}), f32({3}, {pi / 4, 0, -pi / 4}));
  const float e = std::numbers::e_v<float>;
  EXPECT_OUT_NEAR(run_kernel(Sinh, {f32({2}, {0, 1})}), f32({2}, {0, (e - 1 / e) / 2}));
  EXPECT_OUT_NEAR(run_kernel(Cosh, {f32({2}, {0, 1})}), f32({2}, {1, (e + 1 / e) / 2}));
  // asinh(x) = ln(x + sqrt(x^2+1)); acosh(x) = ln(x + sqrt(x^2-1)); atanh(x) = ln((1+x)/(1-x))/2.
  EXPECT_OUT_NEAR(run_kernel(Asinh, {f32({2}, {0, 1})}),
                  f32({2}, {0, std::log(1 + std::sqrt(2.0f))}));
  EXPECT_OUT_NEAR(run_kernel(Acosh, {f32({3}, {1, 2, 0.5f})}),
                  f32({3}, {0, std::log(2 + std::sqrt(3.0f)), kNaN}));
  EXPECT_OUT_NEAR(run_kernel(Atanh, {f32({3}, {0, 0.5f, 1})}),
                  f32({3}, {0, std::log(3.0f) / 2, kInf}));
  EXPECT_OUT_NEAR(run_kernel(Acos, {tv<double>({1}, {-1})}), tv<double>({1}, {std::numbers::pi}));
  EXPECT_FALSE(run_kernel(Acos, {i64({1}, {1})}).status.ok());
}

TEST(RefUnary, IsNaNAndIsInf) {
  const Tensor x = f32({5}, {1, kNaN, kInf, -kInf, 0});
  EXPECT_OUT_EQ(run_kernel(IsNaN, {x}), b8({5}, {false, true, false, false, false}));
  EXPECT_OUT_EQ(run_kernel(IsInf, {x}), b8({5}, {false, false, true, true, false}));
  EXPECT_OUT_EQ(run_kernel(IsInf, {x}, with_int("detect_negative", 0)),
                b8({5}, {false, false, true, false, false}));
  EXPECT_OUT_EQ(run_kernel(IsInf, {x}, with_int("detect_positive", 0)),
                b8({5}, {false, false, false, true, false}));
  EXPECT_OUT_EQ(run_kernel(IsNaN, {tv<double>({1}, {std::nan("")})}), b8({1}, {true}));
  EXPECT_FALSE(run_kernel(IsNaN, {i64({1}, {1})}).status.ok());
}

TEST(RefUnary, Shrink) {
  Attributes a;
  a.set("lambd", 1.5f);
  a.set("bias", 1.5f);
  // |x| <= lambd -> 0; x > lambd -> x - bias; x < -lambd -> x + bias.
  EXPECT_OUT_NEAR(run_kernel(Shrink, {f32({5}, {-2, -1.5f, 0, 1.5f, 3})}, a),
                  f32({5}, {-0.5f, 0, 0, 0, 1.5f}));
  // Defaults: lambd 0.5, bias 0 (hard shrink).
  EXPECT_OUT_NEAR(run_kernel(Shrink, {f32({3}, {-1, 0.5f, 0.7f})}), f32({3}, {-1, 0, 0.7f}));
  EXPECT_OUT_EQ(run_kernel(Shrink, {tv<int8_t>({3}, {-3, 0, 3})}, a), tv<int8_t>({3}, {-1, 0, 1}));
}

TEST(RefUnary, CastLike) {
  EXPECT_OUT_EQ(run_kernel(CastLike, {f32({3}, {1.9f, -2.5f, 0}), i64({0}, {})}),
                i64({3}, {1, -2, 0}));
  EXPECT_OUT_EQ(run_kernel(CastLike, {i64({2}, {0, 3}), b8({1}, {false})}), b8({2}, {false, true}));
  auto same = run_kernel(CastLike, {f32({1}, {4}), f32({}, {0})});
  EXPECT_OUT_EQ(same, f32({1}, {4}));
  EXPECT_FALSE(run_kernel(CastLike, {f32({1}, {4})}).status.ok());  // missing target
}

}  // namespace
}  // namespace qdiff::kernels::ref
