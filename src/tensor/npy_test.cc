#include "tensor/npy.h"

#include <gtest/gtest.h>

#include <fstream>

#include "testing/test_util.h"

namespace qdiff {
namespace {

std::filesystem::path temp_path(const std::string& name) {
  return std::filesystem::temp_directory_path() / ("qdiff_npy_test_" + name);
}

TEST(Npy, RoundTrip) {
  Tensor t = testing::f32({2, 3}, {1, 2, 3, 4, 5, -6.5f});
  ASSERT_TRUE(write_npy(temp_path("a.npy"), t).ok());
  auto r = read_npy(temp_path("a.npy"));
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_TRUE(testing::tensors_equal(*r, t));
}

TEST(Npy, HeaderIsAligned) {
  EXPECT_EQ(npy_header(DType::kInt64, {7}).size() % 64, 0u);
  EXPECT_NE(npy_header(DType::kInt64, {7}).find("(7,)"), std::string::npos);
  EXPECT_NE(npy_header(DType::kFloat32, {}).find("()"), std::string::npos);
}

TEST(Npy, TruncatedDataIsAnError) {
  Tensor t = testing::f32({4}, {1, 2, 3, 4});
  ASSERT_TRUE(write_npy(temp_path("b.npy"), t).ok());
  std::filesystem::resize_file(temp_path("b.npy"), 64 + 8);
  auto r = read_npy(temp_path("b.npy"));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("truncated"), std::string::npos);
}

TEST(Npy, GarbageAndMissing) {
  std::ofstream(temp_path("c.npy")) << "hello";
  EXPECT_FALSE(read_npy(temp_path("c.npy")).ok());
  EXPECT_EQ(read_npy(temp_path("missing.npy")).status().code(), ErrorCode::kIo);
}

TEST(Npy, AbsurdShapeRefusedBeforeAllocation) {
  const std::string header = npy_header(DType::kFloat32, {1000000, 1000000, 1000});
  std::ofstream(temp_path("d.npy"), std::ios::binary) << header;
  auto r = read_npy(temp_path("d.npy"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kResourceLimit);
}

}  // namespace
}  // namespace qdiff
