#include "onnx/importer.h"

#include <gtest/gtest.h>

#include <fstream>

namespace qdiff::onnx {
namespace {

const std::filesystem::path kData = std::filesystem::path(QDIFF_SOURCE_DIR) / "tests/data";
const std::filesystem::path kDemo = std::filesystem::path(QDIFF_SOURCE_DIR) / "models/demo";

TEST(Importer, DemoModel) {
  auto m = import_model(kDemo / "demo_bn.onnx");
  ASSERT_TRUE(m.ok()) << m.status().message();
  const ir::Graph& g = m->graph;
  EXPECT_EQ(g.num_nodes(), 47u);
  ASSERT_EQ(g.inputs.size(), 1u);
  EXPECT_EQ(g.value(g.inputs[0]).type.to_string(), "float32[1,1,28,28]");
  ASSERT_EQ(g.outputs.size(), 1u);
  EXPECT_EQ(g.value(g.outputs[0]).name, "logits");
  EXPECT_EQ(g.opsets.at(""), 13);
  EXPECT_TRUE(g.verify().ok());
  int bn = 0;
  for (const auto& n : g.nodes()) bn += n.kind == ir::OpKind::kBatchNormalization;
  EXPECT_EQ(bn, 12);
}

TEST(Importer, Float16BecomesFloat32) {
  auto m = import_model(kData / "fp16.onnx");
  ASSERT_TRUE(m.ok()) << m.status().message();
  const ir::Graph& g = m->graph;
  const ir::Value& x = g.value(g.inputs[0]);
  EXPECT_EQ(x.type.dtype, DType::kFloat32);
  EXPECT_TRUE(x.float16_in_model);
  const ir::Value& w = g.value(*g.find_value("w"));
  ASSERT_TRUE(w.initializer.has_value());
  EXPECT_EQ(w.initializer->dtype(), DType::kFloat32);
  // 1/3 in float16 is 0.333251953125: the value converts exactly, not re-rounded.
  EXPECT_EQ(w.initializer->values<float>()[3], 0.333251953125f);
  EXPECT_FALSE(m->notes.empty());
}

TEST(Importer, SortsUnsortedGraph) {
  auto m = import_model(kData / "unsorted.onnx");
  ASSERT_TRUE(m.ok()) << m.status().message();
  EXPECT_EQ(m->graph.node(0).name, "add");
  EXPECT_EQ(m->graph.node(1).name, "relu");
}

TEST(Importer, ExternalData) {
  auto m = import_model(kData / "external.onnx");
  ASSERT_TRUE(m.ok()) << m.status().message();
  const ir::Value& w = m->graph.value(*m->graph.find_value("wt"));
  ASSERT_TRUE(w.initializer.has_value());
  EXPECT_EQ(w.initializer->shape(), (Shape{2, 3}));
  EXPECT_EQ(w.initializer->values<float>()[5], 5.0f);
}

TEST(Importer, MissingExternalFileIsAnError) {
  const auto dir = std::filesystem::temp_directory_path() / "qdiff_importer_test";
  std::filesystem::create_directories(dir);
  std::filesystem::copy_file(kData / "external.onnx", dir / "external.onnx",
                             std::filesystem::copy_options::overwrite_existing);
  std::filesystem::remove(dir / "external.bin");
  auto m = import_model(dir / "external.onnx");
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.status().message().find("external"), std::string::npos) << m.status().message();
}

TEST(Importer, GarbageAndTruncated) {
  const auto dir = std::filesystem::temp_directory_path();
  std::ofstream(dir / "qdiff_garbage.onnx") << "definitely not protobuf \x01\x02\x03";
  auto m = import_model(dir / "qdiff_garbage.onnx");
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), ErrorCode::kInvalidModel);
  EXPECT_NE(m.status().message().find("qdiff_garbage.onnx"), std::string::npos);

  std::ifstream in(kDemo / "demo_bn.onnx", std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  for (size_t cut : {size_t{10}, bytes.size() / 3, bytes.size() - 7}) {
    auto t = import_model_from_bytes(bytes.substr(0, cut), kDemo, "cut.onnx");
    EXPECT_FALSE(t.ok()) << "cut at " << cut;
  }
  EXPECT_EQ(import_model(dir / "qdiff_no_such_file.onnx").status().code(), ErrorCode::kIo);
}

}  // namespace
}  // namespace qdiff::onnx

namespace qdiff::onnx {
namespace {

TEST(Importer, NewerOpsetThanLibOnnxStillLoads) {
  auto m = import_model(kData / "opset21.onnx");
  ASSERT_TRUE(m.ok()) << m.status().message();
  EXPECT_EQ(m->graph.opsets.at(""), 21);
  EXPECT_EQ(m->graph.node(0).opset, 21);
  bool noted = false;
  for (const auto& n : m->notes) noted = noted || n.find("newer") != std::string::npos;
  EXPECT_TRUE(noted);
}

}  // namespace
}  // namespace qdiff::onnx
