#include "tensor/tensor.h"

#include <gtest/gtest.h>

#include <cmath>

#include "tensor/float16.h"
#include "testing/test_util.h"

namespace qdiff {
namespace {

TEST(Tensor, CreateRefusesBadShapes) {
  EXPECT_EQ(Tensor::create(DType::kFloat32, {-1, 3}).status().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(Tensor::create(DType::kFloat32, {1ll << 40, 1ll << 40}).status().code(),
            ErrorCode::kInvalidArgument);  // overflows int64
  EXPECT_EQ(Tensor::create(DType::kFloat32, {1ll << 20, 1ll << 20}).status().code(),
            ErrorCode::kResourceLimit);
}

TEST(Tensor, CastFloatToIntTruncatesAndHandlesNan) {
  Tensor t = testing::f32({4}, {1.7f, -1.7f, NAN, 300.f});
  EXPECT_EQ(t.cast(DType::kInt32).to_i64_vector(), (std::vector<int64_t>{1, -1, 0, 300}));
  EXPECT_EQ(t.cast(DType::kUInt8).to_i64_vector(), (std::vector<int64_t>{1, 255, 0, 44}));
}

TEST(Tensor, CastInt64Exact) {
  Tensor t = testing::i64({2}, {(1ll << 53) + 1, -1});
  EXPECT_EQ(t.cast(DType::kInt64).to_i64_vector()[0], (1ll << 53) + 1);
  EXPECT_EQ(t.cast(DType::kInt32).to_i64_vector()[1], -1);
}

TEST(Tensor, CastWidensEverySmallIntegerExactly) {
  // Every int8/uint8/int16/uint16 value to int32 and int64 (the widening fast path) and back.
  for (DType from : {DType::kInt8, DType::kUInt8, DType::kInt16, DType::kUInt16}) {
    const int64_t bits = static_cast<int64_t>(dtype_size(from)) * 8;
    const bool is_signed = from == DType::kInt8 || from == DType::kInt16;
    const int64_t lo = is_signed ? -(int64_t{1} << (bits - 1)) : 0;
    std::vector<int64_t> all;
    for (int64_t v = lo; v < lo + (int64_t{1} << bits); ++v) all.push_back(v);
    const Tensor t = testing::i64({static_cast<int64_t>(all.size())}, all).cast(from);
    for (DType to : {DType::kInt32, DType::kInt64}) {
      const Tensor w = t.cast(to);
      EXPECT_EQ(w.dtype(), to);
      EXPECT_EQ(w.to_i64_vector(), all) << dtype_name(from) << " -> " << dtype_name(to);
      EXPECT_EQ(w.cast(from).to_i64_vector(), all);
    }
  }
}

TEST(Float16, RoundTripsEveryHalf) {
  for (uint32_t h = 0; h < 0x10000u; ++h) {
    const float f = half_to_float(static_cast<uint16_t>(h));
    if (std::isnan(f)) continue;
    ASSERT_EQ(float_to_half(f), h) << "half 0x" << std::hex << h;
  }
}

TEST(Float16, RoundsToNearestEven) {
  EXPECT_EQ(float_to_half(1.0f + 1.0f / 2048), 0x3c00);     // tie -> even (down)
  EXPECT_EQ(float_to_half(1.0f + 3.0f / 2048), 0x3c02);     // tie -> even (up)
  EXPECT_EQ(float_to_half(65520.0f), 0x7c00);               // rounds to inf
  EXPECT_EQ(half_to_float(0x0001), std::ldexp(1.0f, -24));  // smallest subnormal
  EXPECT_EQ(float_to_bfloat16(1.0f), 0x3f80);
}

}  // namespace
}  // namespace qdiff
