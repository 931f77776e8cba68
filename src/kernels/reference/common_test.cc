#include "kernels/reference/common.h"

#include <gtest/gtest.h>

namespace qdiff::kernels::ref {
namespace {

TEST(Broadcast, Shapes) {
  EXPECT_EQ(broadcast_shapes({2, 1, 3}, {4, 1}).value(), (Shape{2, 4, 3}));
  EXPECT_EQ(broadcast_shapes({}, {5}).value(), (Shape{5}));
  EXPECT_FALSE(broadcast_shapes({2, 3}, {4}).ok());
}

TEST(Broadcast, IndexMap) {
  // in [2,1] -> out [2,3]: each row repeats its element.
  EXPECT_EQ(broadcast_index_map({2, 1}, {2, 3}), (std::vector<int64_t>{0, 0, 0, 1, 1, 1}));
  // in [3] -> out [2,3]
  EXPECT_EQ(broadcast_index_map({3}, {2, 3}), (std::vector<int64_t>{0, 1, 2, 0, 1, 2}));
}

TEST(Axis, Normalize) {
  EXPECT_EQ(normalize_axis(-1, 4).value(), 3);
  EXPECT_FALSE(normalize_axis(4, 4).ok());
}

}  // namespace
}  // namespace qdiff::kernels::ref
