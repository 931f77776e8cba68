#include "analysis/dump_reader.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

#include "numerics/quant_params.h"
#include "tensor/npy.h"

namespace qdiff::analysis {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::ordered_json;

class DumpReaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("qdiff_dump_reader_test_" + std::to_string(getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  void write_manifest(const Json& m) { std::ofstream(dir_ / "manifest.json") << m.dump(1); }
  void write_npy_file(const std::string& file, const Tensor& t) {
    ASSERT_TRUE(write_npy(dir_ / file, t).ok());
  }
  template <typename T>
  void write_raw(const std::string& file, const std::vector<T>& v) {
    std::ofstream out(dir_ / file, std::ios::binary);
    out.write(reinterpret_cast<const char*>(v.data()),
              static_cast<std::streamsize>(v.size() * sizeof(T)));
  }
  // The error of opening the dump (empty when it opens).
  std::string open_error() {
    auto r = DumpReader::open(dir_);
    return r.ok() ? "" : r.status().message();
  }

  fs::path dir_;
};

std::vector<float> floats(const Tensor& t) {
  const auto v = t.values<float>();
  return {v.begin(), v.end()};
}

TEST_F(DumpReaderTest, StreamsFloatRowsInOrder) {
  // Three samples of [2, 2], values 10 * sample + element.
  std::vector<float> v;
  for (int s = 0; s < 3; ++s)
    for (int i = 0; i < 4; ++i) v.push_back(static_cast<float>(10 * s + i));
  write_npy_file("a.npy", Tensor::from_vector<float>({3, 2, 2}, v));
  write_npy_file("b.npy", Tensor::from_vector<float>({3, 1}, {7, 8, 9}));
  write_manifest({{"schema", "qdiff.dump/1"},
                  {"model", "m.onnx"},
                  {"mode", "float"},
                  {"tensors",
                   {{{"name", "a"}, {"file", "a.npy"}, {"dtype", "float32"}, {"shape", {3, 2, 2}}},
                    {{"name", "b"}, {"file", "b.npy"}, {"shape", {1}}, {"output", true}}}},
                  {"samples", {"s0", "s1", "s2"}}});
  auto r = DumpReader::open(dir_);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->sample_count(), 3);
  EXPECT_EQ(r->samples()[2], "s2");
  EXPECT_EQ(r->model(), "m.onnx");
  ASSERT_EQ(r->tensors().size(), 2u);
  const DumpTensor& a = r->tensors()[0];
  EXPECT_EQ(a.shape, (Shape{2, 2}));
  EXPECT_FALSE(a.quant);
  EXPECT_FALSE(a.output);
  EXPECT_TRUE(r->find("b")->output);
  EXPECT_EQ(r->find("nope"), nullptr);
  auto s = r->stream(0);
  ASSERT_TRUE(s.ok());
  DumpRow row;
  for (int k = 0; k < 3; ++k) {
    ASSERT_TRUE(s->next(&row).ok());
    EXPECT_EQ(row.values.shape(), (Shape{2, 2}));
    EXPECT_EQ(floats(row.values),
              (std::vector<float>{10.0f * k, 10.0f * k + 1, 10.0f * k + 2, 10.0f * k + 3}));
    EXPECT_FALSE(row.integers.defined());
  }
  const Status past = s->next(&row);
  EXPECT_FALSE(past.ok());
  EXPECT_NE(past.message().find("no sample 3"), std::string::npos) << past.message();
}

TEST_F(DumpReaderTest, Int8PerChannelNhwcIsDequantizedAndPermuted) {
  // Two samples of NHWC [1, 1, 2, 3] int8 (H=1, W=2, C=3), per-channel scales along the
  // stored axis 3: 0.5, 1, 2, zero points 0, 1, -1.
  const std::vector<int8_t> q = {1, 2, 3, 4, 5, 6, -1, -2, -3, 127, -128, 0};
  write_npy_file("t.npy", Tensor::from_vector<int8_t>({2, 1, 1, 2, 3}, q));
  write_manifest({{"tensors",
                   {{{"name", "t"},
                     {"file", "t.npy"},
                     {"dtype", "int8"},
                     {"shape", {2, 1, 1, 2, 3}},
                     {"layout", "NHWC"},
                     {"scale", {0.5, 1, 2}},
                     {"zero_point", {0, 1, -1}},
                     {"axis", 3}}}},
                  {"samples", {"x", "y"}}});
  auto r = DumpReader::open(dir_);
  ASSERT_TRUE(r.ok()) << r.status().message();
  const DumpTensor& t = r->tensors()[0];
  EXPECT_EQ(t.stored_shape, (Shape{1, 1, 2, 3}));
  EXPECT_EQ(t.shape, (Shape{1, 3, 1, 2}));
  EXPECT_TRUE(t.nhwc);
  EXPECT_TRUE(t.dequantized);
  ASSERT_TRUE(t.quant);
  EXPECT_EQ(t.quant->axis, 1);  // C in NCHW
  EXPECT_TRUE(t.quant->has_range);
  EXPECT_EQ(t.quant->qmin, -128);
  EXPECT_EQ(t.quant->qmax, 127);
  auto s = r->stream(0);
  ASSERT_TRUE(s.ok());
  DumpRow row;
  ASSERT_TRUE(s->next(&row).ok());
  // Stored (w, c): (0,0)=1 (0,1)=2 (0,2)=3 (1,0)=4 (1,1)=5 (1,2)=6; NCHW order is c-major:
  // c0: 1, 4 -> 0.5, 2;  c1: 2, 5 -> (2-1)*1, (5-1)*1 = 1, 4;  c2: 3, 6 -> (3+1)*2, (6+1)*2.
  EXPECT_EQ(floats(row.values), (std::vector<float>{0.5f, 2, 1, 4, 8, 14}));
  const auto ints = row.integers.values<int32_t>();
  EXPECT_EQ(std::vector<int32_t>(ints.begin(), ints.end()),
            (std::vector<int32_t>{1, 4, 2, 5, 3, 6}));
  ASSERT_TRUE(s->next(&row).ok());
  // c0: -1, 127 -> -0.5, 63.5;  c1: -2, -128 -> -3, -129;  c2: -3, 0 -> -4, 2.
  EXPECT_EQ(floats(row.values), (std::vector<float>{-0.5f, 63.5f, -3, -129, -4, 2}));
}

TEST_F(DumpReaderTest, RawBinWithPerSampleShape) {
  // uint8, 4 samples of [3], scale 0.25, zero point 128: float32(q - 128) * 0.25.
  write_raw<uint8_t>("t.bin", {128, 129, 0, 255, 130, 126, 1, 2, 3, 4, 5, 6});
  write_manifest({{"tensors",
                   {{{"name", "t"},
                     {"file", "t.bin"},
                     {"dtype", "uint8"},
                     {"shape", {3}},
                     {"scale", 0.25},
                     {"zero_point", 128}}}}});
  auto r = DumpReader::open(dir_);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->sample_count(), 4);
  EXPECT_FALSE(r->has_sample_names());
  EXPECT_EQ(r->samples()[3], "3");
  auto s = r->stream(0);
  ASSERT_TRUE(s.ok());
  DumpRow row;
  ASSERT_TRUE(s->next(&row).ok());
  EXPECT_EQ(floats(row.values), (std::vector<float>{0, 0.25f, -32}));
  ASSERT_TRUE(s->next(&row).ok());
  EXPECT_EQ(floats(row.values), (std::vector<float>{31.75f, 0.5f, -0.5f}));
}

TEST_F(DumpReaderTest, FloatWithQdiffQuantObjectKeepsTheGrid) {
  // qdiff's fake-quant dumps: dequantized float32 values plus a "quant" object.
  write_npy_file("t.npy", Tensor::from_vector<float>({1, 2}, {0.1f, 0.2f}));
  write_npy_file("u.npy", Tensor::from_vector<uint8_t>({1, 2}, {0, 255}));
  write_npy_file("i.npy", Tensor::from_vector<int64_t>({1, 2}, {3, -4}));
  write_manifest(
      {{"tensors",
        {{{"name", "t"},
          {"file", "t.npy"},
          {"quant",
           {{"bits", 16}, {"signed", false}, {"scale", {0.1}}, {"zero_point", {5}}, {"axis", -1}}}},
         {{"name", "u"},
          {"file", "u.npy"},
          {"quant", {{"bits", 8}, {"signed", false}, {"scale", {2.0}}, {"zero_point", {1}}}}},
         {{"name", "i"}, {"file", "i.npy"}}}},
       {"samples", {"only"}}});
  auto r = DumpReader::open(dir_);
  ASSERT_TRUE(r.ok()) << r.status().message();
  const DumpTensor& t = r->tensors()[0];
  ASSERT_TRUE(t.quant);
  EXPECT_FALSE(t.dequantized);
  EXPECT_EQ(t.quant->scales, (std::vector<float>{0.1f}));
  EXPECT_EQ(t.quant->zero_points, (std::vector<int32_t>{5}));
  EXPECT_EQ(t.quant->qmin, 0);
  EXPECT_EQ(t.quant->qmax, 65535);
  EXPECT_TRUE(r->tensors()[1].dequantized);
  DumpRow row;
  auto s = r->stream(1);
  ASSERT_TRUE(s.ok() && s->next(&row).ok());
  EXPECT_EQ(floats(row.values), (std::vector<float>{-2, 508}));
  // An integer tensor without a scale holds plain numbers (indices, shapes).
  EXPECT_FALSE(r->tensors()[2].quant);
  s = r->stream(2);
  ASSERT_TRUE(s.ok() && s->next(&row).ok());
  EXPECT_EQ(floats(row.values), (std::vector<float>{3, -4}));
  EXPECT_FALSE(row.integers.defined());
}

TEST_F(DumpReaderTest, Float16Rows) {
  write_npy_file(
      "h.npy", Tensor::from_vector<float>({2, 2}, {1.5f, -2, 65504, 0.25f}).cast(DType::kFloat16));
  write_manifest({{"tensors", {{{"name", "h"}, {"file", "h.npy"}, {"dtype", "float16"}}}}});
  auto r = DumpReader::open(dir_);
  ASSERT_TRUE(r.ok()) << r.status().message();
  DumpRow row;
  auto s = r->stream(0);
  ASSERT_TRUE(s->next(&row).ok());
  ASSERT_TRUE(s->next(&row).ok());
  EXPECT_EQ(floats(row.values), (std::vector<float>{65504, 0.25f}));
}

// Each bad dump gives one line naming the file and the tensor.
struct BadCase {
  const char* what;
  std::string want1, want2;
};

TEST_F(DumpReaderTest, BadInput) {
  auto expect = [&](const BadCase& c) {
    const std::string e = open_error();
    EXPECT_NE(e.find(c.want1), std::string::npos) << c.what << ": " << e;
    EXPECT_NE(e.find(c.want2), std::string::npos) << c.what << ": " << e;
    EXPECT_EQ(e.find('\n'), std::string::npos) << c.what << ": " << e;
  };
  expect({"no manifest", "manifest.json", "cannot open"});
  std::ofstream(dir_ / "manifest.json") << "{ not json";
  expect({"bad JSON", "manifest.json", "invalid JSON"});
  write_manifest({{"samples", {"a"}}});
  expect({"no tensors", "manifest.json", "\"tensors\""});

  write_npy_file("t.npy", Tensor::from_vector<float>({2, 3}, {1, 2, 3, 4, 5, 6}));
  auto entry = [](Json extra) {
    Json t = {{"name", "t"}, {"file", "t.npy"}};
    for (const auto& [k, v] : extra.items()) t[k] = v;
    return t;
  };
  auto one = [&](Json t, Json samples = {"s0", "s1"}) {
    write_manifest({{"tensors", {t}}, {"samples", samples}});
  };
  one(entry({{"file", "missing.npy"}}));
  expect({"missing file", "missing.npy", "tensor 't'"});
  one(entry({{"dtype", "float128"}}));
  expect({"unknown dtype", "float128", "tensor 't'"});
  one(entry({{"dtype", "int8"}}));
  expect({"dtype vs header", "t.npy: holds float32 but the manifest says int8", "tensor 't'"});
  one(entry({{"shape", {2, 4}}}));
  expect({"shape vs header", "t.npy: shape [2,3] in the .npy header", "[2,4]"});
  one(entry({}), {"s0", "s1", "s2"});
  expect({"rows vs samples", "t.npy: 2 samples, the manifest lists 3", "tensor 't'"});
  one(entry({{"layout", "NWHC"}}));
  expect({"layout", "NWHC", "tensor 't'"});
  one(entry({{"layout", "NHWC"}}));
  expect({"NHWC rank", "layout NHWC needs a rank-4 sample", "tensor 't'"});
  one(entry({{"scale", {1, 2}}, {"axis", 0}}));
  expect({"scales vs channels", "2 scales/zero points for 3 channels along axis 0", "tensor 't'"});
  one(entry({{"scale", {1, 2, 3}}}));
  expect({"per-channel without axis", "3 scales need an integer \"axis\"", "tensor 't'"});
  one(entry({{"scale", {1, 2, 3}}, {"axis", 0}, {"zero_point", {1, 2}}}));
  expect({"zero points vs scales", "3 scales but 2 zero points", "tensor 't'"});
  one(entry({{"scale", 0}}));
  expect({"zero scale", "scale 0 is not a positive finite", "tensor 't'"});
  one(entry({{"scale", 1}, {"zero_point", 0.5}}));
  expect({"fractional zero point", "\"zero_point\" must be an integer", "tensor 't'"});

  // Two tensors with different sample counts, no "samples" list.
  write_npy_file("u.npy", Tensor::from_vector<float>({3, 1}, {1, 2, 3}));
  write_manifest({{"tensors", {entry({}), {{"name", "u"}, {"file", "u.npy"}}}}});
  expect({"rows between tensors", "u.npy: 3 samples, tensor 't' has 2", "tensor 'u'"});
  write_manifest({{"tensors", {entry({}), entry({})}}});
  expect({"duplicate", "tensor 't'", "listed twice"});

  // Truncated .npy data.
  {
    std::ifstream in(dir_ / "t.npy", std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::ofstream(dir_ / "short.npy", std::ios::binary) << bytes.substr(0, bytes.size() - 3);
  }
  one(entry({{"file", "short.npy"}}));
  expect({"truncated", "short.npy: data truncated", "tensor 't'"});
  std::ofstream(dir_ / "garbage.npy") << "hello";
  one(entry({{"file", "garbage.npy"}}));
  expect({"garbage npy", "garbage.npy: not a valid .npy file", "tensor 't'"});

  // Raw files.
  write_raw<int8_t>("r.bin", {1, 2, 3, 4, 5});
  one(entry({{"file", "r.bin"}}));
  expect({"raw without dtype", "r.bin: a raw file needs \"dtype\" and \"shape\"", "tensor 't'"});
  one(entry({{"file", "r.bin"}, {"dtype", "int8"}, {"shape", {2}}}));
  expect({"raw size", "r.bin: 5 bytes is not a whole number of samples", "tensor 't'"});
  one(entry({{"file", "r.bin"}, {"dtype", "int8"}, {"shape", {1}}}));
  expect({"raw rows vs samples", "r.bin: 5 samples, the manifest lists 2", "one sample's"});
  // Absurd shapes are refused before any allocation.
  one(entry({{"file", "r.bin"}, {"dtype", "int8"}, {"shape", {1 << 20, 1 << 20, 1 << 20}}}));
  expect({"absurd shape",
          "r.bin: one sample of shape [1048576,1048576,1048576] exceeds the tensor size limit",
          "tensor 't'"});
  one(entry(
      {{"file", "r.bin"}, {"dtype", "int8"}, {"shape", {int64_t{1} << 40, int64_t{1} << 40}}}));
  expect({"overflowing shape", "r.bin: shape", "overflows"});
  one(entry({{"file", "r.bin"}, {"dtype", "int8"}, {"shape", {-1}}}));
  expect({"negative dim", "\"shape\" [-1] must hold non-negative integers", "tensor 't'"});
  // int64 cannot be dequantized.
  write_npy_file("l.npy", Tensor::from_vector<int64_t>({2, 1}, {1, 2}));
  one(entry({{"file", "l.npy"}, {"scale", 1}}));
  expect({"int64 with scale", "int64 cannot be dequantized", "tensor 't'"});
}

}  // namespace
}  // namespace qdiff::analysis
