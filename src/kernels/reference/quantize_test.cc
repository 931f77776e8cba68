// Hand-derived cases for QuantizeLinear and DequantizeLinear.
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

Tensor u8(qdiff::Shape s, std::vector<uint8_t> v) {
  return Tensor::from_vector<uint8_t>(s, v);
}
Tensor s8(qdiff::Shape s, std::vector<int8_t> v) {
  return Tensor::from_vector<int8_t>(s, v);
}

TEST(QuantizeLinearRef, PerTensorRoundHalfEvenSaturate) {
  const Tensor x = f32({5}, {0, 0.25f, 0.75f, -1, 300});
  auto r = run_kernel(QuantizeLinear, {x, f32({}, {0.5f}), u8({}, {10})}, {});
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_equal(r.y[0], u8({5}, {10, 10, 12, 8, 255})));
  auto i8 =
      run_kernel(QuantizeLinear, {f32({3}, {-100, 100, -1.25f}), f32({}, {0.5f}), s8({}, {0})}, {});
  ASSERT_TRUE(i8.status.ok());
  EXPECT_TRUE(tensors_equal(i8.y[0], s8({3}, {-128, 127, -2})));
  auto nozp = run_kernel(QuantizeLinear, {f32({2}, {-3, 3}), f32({}, {1})}, {});
  ASSERT_TRUE(nozp.status.ok());
  EXPECT_TRUE(tensors_equal(nozp.y[0], u8({2}, {0, 3})));
}

TEST(QuantizeLinearRef, PerAxis) {
  const Tensor x = f32({2, 2}, {1, 2, 3, 4});
  auto a0 = run_kernel(QuantizeLinear, {x, f32({2}, {1, 2}), u8({2}, {0, 1})},
                       attrs({{"axis", int64_t{0}}}));
  ASSERT_TRUE(a0.status.ok()) << a0.status.message();
  EXPECT_TRUE(tensors_equal(a0.y[0], u8({2, 2}, {1, 2, 3, 3})));
  auto a1 = run_kernel(QuantizeLinear, {x, f32({2}, {1, 2}), u8({2}, {0, 0})}, {});
  ASSERT_TRUE(a1.status.ok());
  EXPECT_TRUE(tensors_equal(a1.y[0], u8({2, 2}, {1, 1, 3, 2})));
  EXPECT_FALSE(run_kernel(QuantizeLinear, {x, f32({3}, {1, 2, 3})}, {}).status.ok());
  EXPECT_FALSE(run_kernel(QuantizeLinear, {x, f32({2}, {1, 2}), u8({1}, {0})}, {}).status.ok());
}

TEST(QuantizeLinearRef, Int16Output) {
  auto r = run_kernel(
      QuantizeLinear,
      {f32({2}, {40000, -2.5f}), f32({}, {1}), Tensor::from_vector<int16_t>({}, {0})}, {}, 21);
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_equal(r.y[0], Tensor::from_vector<int16_t>({2}, {32767, -2})));
}

TEST(DequantizeLinearRef, PerTensorAndAxis) {
  auto r = run_kernel(DequantizeLinear, {u8({2}, {10, 12}), f32({}, {0.5f}), u8({}, {10})}, {});
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_near(r.y[0], f32({2}, {0, 1})));
  auto ax =
      run_kernel(DequantizeLinear, {s8({2, 2}, {-1, 2, 3, -4}), f32({2}, {1, 2}), s8({2}, {1, 0})},
                 attrs({{"axis", int64_t{1}}}));
  ASSERT_TRUE(ax.status.ok());
  EXPECT_TRUE(tensors_near(ax.y[0], f32({2, 2}, {-2, 4, 2, -8})));
  auto i32 =
      run_kernel(DequantizeLinear, {Tensor::from_vector<int32_t>({1}, {5}), f32({}, {2})}, {});
  ASSERT_TRUE(i32.status.ok());
  EXPECT_TRUE(tensors_near(i32.y[0], f32({1}, {10})));
  EXPECT_FALSE(
      run_kernel(DequantizeLinear, {u8({2}, {1, 2}), f32({}, {1}), s8({}, {0})}, {}).status.ok());
}

}  // namespace
}  // namespace qdiff::kernels::ref
