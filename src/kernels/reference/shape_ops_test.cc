// Hand-derived cases for Reshape, Flatten, Squeeze, Unsqueeze, Shape, Size, Constant,
// ConstantOfShape and Range.
#include <gtest/gtest.h>

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

Tensor x234() {
  std::vector<float> v(24);
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(i);
  return f32({2, 3, 4}, v);
}

// ---- Reshape

TEST(RefShapeOpsReshape, ZeroCopiesAndMinusOneInfers) {
  Tensor x = x234();
  auto r = run_kernel(Reshape, {x, i64({3}, {0, -1, 2})}, {});
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_EQ(r.y[0].shape(), (qdiff::Shape{2, 6, 2}));
  EXPECT_EQ(r.y[0].raw(), x.raw());  // a view, no copy
  r = run_kernel(Reshape, {x, i64({1}, {-1})}, {});
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_EQ(r.y[0].shape(), (qdiff::Shape{24}));
  r = run_kernel(Reshape, {x, i64({4}, {4, 0, 2, -1})}, {});  // 0 copies dim 1 = 3
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_EQ(r.y[0].shape(), (qdiff::Shape{4, 3, 2, 1}));
}

TEST(RefShapeOpsReshape, AllowZero) {
  Tensor e = f32({0, 3}, {});
  auto r = run_kernel(Reshape, {e, i64({2}, {3, 0})}, attrs({{"allowzero", int64_t{1}}}), 14);
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_EQ(r.y[0].shape(), (qdiff::Shape{3, 0}));
  // Without allowzero, 0 copies the input's dim 1 (3) and 3x3 != 0 elements.
  EXPECT_FALSE(run_kernel(Reshape, {e, i64({2}, {3, 0})}, {}, 14).status.ok());
  // allowzero with both 0 and -1 is invalid.
  EXPECT_FALSE(run_kernel(Reshape, {e, i64({2}, {0, -1})}, attrs({{"allowzero", int64_t{1}}}), 14)
                   .status.ok());
}

TEST(RefShapeOpsReshape, Errors) {
  Tensor x = x234();
  EXPECT_FALSE(run_kernel(Reshape, {x, i64({2}, {5, 5})}, {}).status.ok());    // count mismatch
  EXPECT_FALSE(run_kernel(Reshape, {x, i64({2}, {-1, -1})}, {}).status.ok());  // two -1
  EXPECT_FALSE(run_kernel(Reshape, {x, i64({2}, {5, -1})}, {}).status.ok());   // 24 % 5 != 0
  EXPECT_FALSE(run_kernel(Reshape, {x, i64({2}, {-2, 12})}, {}).status.ok());
  EXPECT_FALSE(run_kernel(Reshape, {x, i64({4}, {1, 1, 1, 0})}, {}).status.ok());  // 0 beyond rank
  EXPECT_FALSE(
      run_kernel(Reshape, {x, i64({2}, {1LL << 62, 1LL << 62})}, {}).status.ok());  // overflow
  EXPECT_FALSE(
      run_kernel(Reshape, {f32({0, 3}, {}), i64({2}, {0, -1})}, {}).status.ok());  // ambiguous
}

// ---- Flatten

TEST(RefShapeOpsFlatten, Axes) {
  Tensor x = x234();
  struct Case {
    int64_t axis;
    qdiff::Shape shape;
  };
  for (const Case& c : {Case{0, {1, 24}}, Case{1, {2, 12}}, Case{2, {6, 4}}, Case{3, {24, 1}},
                        Case{-1, {6, 4}}, Case{-3, {1, 24}}}) {
    auto r = run_kernel(Flatten, {x}, attrs({{"axis", c.axis}}), 13);
    ASSERT_TRUE(r.status.ok()) << r.status.message();
    EXPECT_EQ(r.y[0].shape(), c.shape) << "axis " << c.axis;
  }
  auto r = run_kernel(Flatten, {x}, {}, 13);
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_EQ(r.y[0].shape(), (qdiff::Shape{2, 12}));
  EXPECT_FALSE(run_kernel(Flatten, {x}, attrs({{"axis", int64_t{4}}}), 13).status.ok());
  EXPECT_FALSE(run_kernel(Flatten, {x}, attrs({{"axis", int64_t{-4}}}), 13).status.ok());
  EXPECT_FALSE(run_kernel(Flatten, {x}, attrs({{"axis", int64_t{-1}}}), 9).status.ok());  // < 11
}

// ---- Squeeze / Unsqueeze

TEST(RefShapeOpsSqueeze, AxesForms) {
  Tensor x = f32({1, 3, 1, 2}, {1, 2, 3, 4, 5, 6});
  auto r = run_kernel(Squeeze, {x}, attrs({{"axes", std::vector<int64_t>{0}}}), 11);
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_EQ(r.y[0].shape(), (qdiff::Shape{3, 1, 2}));
  r = run_kernel(Squeeze, {x, i64({1}, {-2})}, {}, 13);
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_EQ(r.y[0].shape(), (qdiff::Shape{1, 3, 2}));
  r = run_kernel(Squeeze, {x}, {}, 13);  // all size-1 dims
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_equal(r.y[0], f32({3, 2}, {1, 2, 3, 4, 5, 6})));
  r = run_kernel(Squeeze, {f32({1}, {4})}, {}, 13);
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_equal(r.y[0], f32({}, {4})));
}

TEST(RefShapeOpsSqueeze, Errors) {
  Tensor x = f32({1, 3, 1, 2}, {1, 2, 3, 4, 5, 6});
  EXPECT_FALSE(run_kernel(Squeeze, {x, i64({1}, {1})}, {}, 13).status.ok());      // dim is 3
  EXPECT_FALSE(run_kernel(Squeeze, {x, i64({1}, {4})}, {}, 13).status.ok());      // range
  EXPECT_FALSE(run_kernel(Squeeze, {x, i64({2}, {0, -4})}, {}, 13).status.ok());  // repeated
  EXPECT_FALSE(
      run_kernel(Squeeze, {x}, attrs({{"axes", std::vector<int64_t>{0}}}), 13).status.ok());
}

TEST(RefShapeOpsUnsqueeze, AxesForms) {
  Tensor x = f32({3, 4, 5}, std::vector<float>(60, 1.0f));
  auto r = run_kernel(Unsqueeze, {x}, attrs({{"axes", std::vector<int64_t>{0, 4}}}), 11);
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_EQ(r.y[0].shape(), (qdiff::Shape{1, 3, 4, 5, 1}));
  r = run_kernel(Unsqueeze, {x, i64({1}, {-1})}, {}, 13);
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_EQ(r.y[0].shape(), (qdiff::Shape{3, 4, 5, 1}));
  r = run_kernel(Unsqueeze, {x, i64({2}, {4, 1})}, {}, 13);  // unsorted
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_EQ(r.y[0].shape(), (qdiff::Shape{3, 1, 4, 5, 1}));
  r = run_kernel(Unsqueeze, {f32({}, {2}), i64({1}, {0})}, {}, 13);
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_equal(r.y[0], f32({1}, {2})));
}

TEST(RefShapeOpsUnsqueeze, Errors) {
  Tensor x = f32({2}, {1, 2});
  EXPECT_FALSE(run_kernel(Unsqueeze, {x}, {}, 13).status.ok());                     // no axes
  EXPECT_FALSE(run_kernel(Unsqueeze, {x, i64({1}, {2})}, {}, 13).status.ok());      // out rank 2
  EXPECT_FALSE(run_kernel(Unsqueeze, {x, i64({2}, {0, -3})}, {}, 13).status.ok());  // repeated
}

// ---- Shape / Size

TEST(RefShapeOpsShape, StartEnd) {
  Tensor x = x234();
  auto r = run_kernel(Shape, {x}, {}, 13);
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_equal(r.y[0], i64({3}, {2, 3, 4})));
  r = run_kernel(Shape, {x}, attrs({{"start", int64_t{-1}}}), 15);
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_equal(r.y[0], i64({1}, {4})));
  r = run_kernel(Shape, {x}, attrs({{"start", int64_t{1}}, {"end", int64_t{-1}}}), 15);
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_equal(r.y[0], i64({1}, {3})));
  r = run_kernel(Shape, {x}, attrs({{"start", int64_t{-10}}, {"end", int64_t{10}}}),
                 15);  // clamped
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_equal(r.y[0], i64({3}, {2, 3, 4})));
  r = run_kernel(Shape, {x}, attrs({{"start", int64_t{2}}, {"end", int64_t{1}}}), 15);  // empty
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_EQ(r.y[0].shape(), (qdiff::Shape{0}));
  r = run_kernel(Shape, {f32({}, {1})}, {}, 15);
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_EQ(r.y[0].shape(), (qdiff::Shape{0}));
}

TEST(RefShapeOpsSize, CountsElements) {
  auto r = run_kernel(Size, {x234()}, {});
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_equal(r.y[0], i64({}, {24})));
  r = run_kernel(Size, {f32({3, 0}, {})}, {});
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_equal(r.y[0], i64({}, {0})));
}

// ---- Constant / ConstantOfShape

TEST(RefShapeOpsConstant, Forms) {
  Tensor v = f32({2}, {1.5f, -2});
  auto r = run_kernel(Constant, {}, attrs({{"value", v}}));
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_equal(r.y[0], v));
  r = run_kernel(Constant, {}, attrs({{"value_float", 0.25f}}));
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_equal(r.y[0], f32({}, {0.25f})));
  r = run_kernel(Constant, {}, attrs({{"value_floats", std::vector<float>{1, 2}}}));
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_equal(r.y[0], f32({2}, {1, 2})));
  r = run_kernel(Constant, {}, attrs({{"value_int", int64_t{-3}}}));
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_equal(r.y[0], i64({}, {-3})));
  r = run_kernel(Constant, {}, attrs({{"value_ints", std::vector<int64_t>{4, 5, 6}}}));
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_equal(r.y[0], i64({3}, {4, 5, 6})));
}

TEST(RefShapeOpsConstant, Errors) {
  auto r = run_kernel(Constant, {}, attrs({{"value_string", std::string("hi")}}));
  EXPECT_EQ(r.status.code(), ErrorCode::kUnsupported);
  r = run_kernel(Constant, {}, {});
  EXPECT_EQ(r.status.code(), ErrorCode::kInvalidModel);
  r = run_kernel(Constant, {}, attrs({{"value_int", int64_t{1}}, {"value_float", 1.0f}}));
  EXPECT_EQ(r.status.code(), ErrorCode::kInvalidModel);
}

TEST(RefShapeOpsConstantOfShape, ValuesAndShapes) {
  auto r = run_kernel(ConstantOfShape, {i64({2}, {2, 3})}, {});
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_equal(r.y[0], f32({2, 3}, {0, 0, 0, 0, 0, 0})));
  r = run_kernel(ConstantOfShape, {i64({2}, {1, 2})},
                 attrs({{"value", Tensor::from_vector<int32_t>({1}, {7})}}));
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_equal(r.y[0], Tensor::from_vector<int32_t>({1, 2}, {7, 7})));
  r = run_kernel(ConstantOfShape, {i64({0}, {})}, attrs({{"value", f32({1}, {2.5f})}}));  // scalar
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_equal(r.y[0], f32({}, {2.5f})));
  r = run_kernel(ConstantOfShape, {i64({2}, {0, 4})}, {});
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_EQ(r.y[0].shape(), (qdiff::Shape{0, 4}));
}

TEST(RefShapeOpsConstantOfShape, Errors) {
  EXPECT_FALSE(run_kernel(ConstantOfShape, {i64({1}, {-1})}, {}).status.ok());
  EXPECT_FALSE(run_kernel(ConstantOfShape, {i64({1}, {2})}, attrs({{"value", f32({2}, {1, 2})}}))
                   .status.ok());
  EXPECT_FALSE(run_kernel(ConstantOfShape, {f32({1}, {2})}, {}).status.ok());
  // Absurd sizes are refused by the allocation limit, not attempted.
  EXPECT_FALSE(run_kernel(ConstantOfShape, {i64({2}, {1LL << 40, 1LL << 20})}, {}).status.ok());
}

// ---- Range

TEST(RefShapeOpsRange, FloatAndInt) {
  auto r = run_kernel(Range, {f32({}, {1}), f32({}, {5}), f32({}, {2})}, {});
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_equal(r.y[0], f32({2}, {1, 3})));
  r = run_kernel(Range, {f32({}, {0}), f32({}, {1}), f32({}, {0.25f})}, {});
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_near(r.y[0], f32({4}, {0, 0.25f, 0.5f, 0.75f})));
  auto i32 = [](int32_t v) { return Tensor::from_vector<int32_t>({}, {v}); };
  r = run_kernel(Range, {i32(10), i32(4), i32(-3)}, {});
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_equal(r.y[0], Tensor::from_vector<int32_t>({2}, {10, 7})));
  r = run_kernel(Range, {i32(10), i32(4), i32(3)}, {});  // wrong direction: empty
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_EQ(r.y[0].shape(), (qdiff::Shape{0}));
}

TEST(RefShapeOpsRange, Int64Extremes) {
  constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  // ceil((2^64 - 1) / (2^63 - 1)) = 3 elements, no overflow on the way.
  auto r = run_kernel(Range, {i64({}, {kMin}), i64({}, {kMax}), i64({}, {kMax})}, {});
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_equal(r.y[0], i64({3}, {kMin, -1, kMax - 1})));
  r = run_kernel(Range, {i64({}, {kMax}), i64({}, {kMin}), i64({}, {kMin})}, {});
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_TRUE(tensors_equal(r.y[0], i64({2}, {kMax, -1})));
}

TEST(RefShapeOpsRange, Errors) {
  EXPECT_FALSE(run_kernel(Range, {f32({}, {0}), f32({}, {1}), f32({}, {0})}, {}).status.ok());
  EXPECT_FALSE(run_kernel(Range, {i64({}, {0}), i64({}, {1}), i64({}, {0})}, {}).status.ok());
  EXPECT_FALSE(run_kernel(Range, {f32({}, {0}), i64({}, {1}), f32({}, {1})}, {}).status.ok());
  EXPECT_FALSE(run_kernel(Range, {f32({2}, {0, 1}), f32({}, {1}), f32({}, {1})}, {}).status.ok());
  const float inf = std::numeric_limits<float>::infinity();
  EXPECT_FALSE(run_kernel(Range, {f32({}, {0}), f32({}, {inf}), f32({}, {1})}, {}).status.ok());
  // Too many elements for the tensor limit.
  EXPECT_FALSE(run_kernel(Range, {f32({}, {0}), f32({}, {1e18f}), f32({}, {1})}, {}).status.ok());
}

}  // namespace
}  // namespace qdiff::kernels::ref
