// Tests of the quantized-model import. Oracles: the models and their expectations are made by
// testdata/make_models.py with numpy (parameters as written into the model, dequantized weights,
// the float and the fake-quantized outputs computed independently); error cases are built here.
#include "qdq/qdq_import.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>

#include "numerics/quant_params.h"
#include "onnx/importer.h"
#include "runtime/interpreter.h"
#include "tensor/npy.h"
#include "testing/test_util.h"

namespace qdiff::qdq {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const fs::path kData = fs::path(QDIFF_SOURCE_DIR) / "src/qdq/testdata";

ImportedQuantModel import_file(const std::string& name) {
  auto m = qdiff::onnx::import_model(kData / (name + ".onnx"));
  EXPECT_TRUE(m.ok()) << m.status().message();
  if (!m.ok()) return {};
  auto r = import_quantized(m->graph, name + ".onnx");
  EXPECT_TRUE(r.ok()) << r.status().message();
  if (!r.ok()) return {};
  return std::move(r).value();
}

// The fake-quant world, done by the test: every planned activation is quantized-dequantized
// with numerics' fake_quant as it is produced; dynamic ones with DynamicQuantizeLinear's
// parameters (ONNX spec: range [min(x,0), max(x,0)], scale = range / 255, zp = sat(rhe(-min/s))).
class FakeQuant : public runtime::ValueTransform {
 public:
  FakeQuant(const ir::Graph& g, const quant::QuantPlan& plan) {
    for (const quant::TensorPlan& t : plan.tensors)
      if (t.role == quant::Role::kActivation) plans_[*g.find_value(t.name)] = t;
  }
  bool applies(ir::ValueId id) const override { return plans_.count(id) != 0; }
  Result<Tensor> apply(ir::ValueId id, const Tensor& v) override {
    const quant::TensorPlan& t = plans_.at(id);
    QuantParams p = t.params;
    EXPECT_FALSE(p.per_channel());
    const float* x = v.data<float>();
    if (t.dynamic) {
      float mn = 0.0f, mx = 0.0f;
      for (int64_t i = 0; i < v.numel(); ++i) {
        mn = std::min(mn, x[i]);
        mx = std::max(mx, x[i]);
      }
      const float s = (mx - mn) / 255.0f;
      const float z = std::nearbyint(0.0f - mn / s);  // default rounding: half to even
      p.scales = {s};
      p.zero_points = {static_cast<int32_t>(std::clamp(z, 0.0f, 255.0f))};
    }
    Tensor out = Tensor::zeros(DType::kFloat32, v.shape());
    for (int64_t i = 0; i < v.numel(); ++i) out.mutable_data<float>()[i] = fake_quant(x[i], p);
    ++applied;
    return out;
  }
  int applied = 0;

 private:
  std::map<ir::ValueId, quant::TensorPlan> plans_;
};

Tensor load(const std::string& file) {
  auto t = read_npy(kData / file);
  EXPECT_TRUE(t.ok()) << t.status().message();
  return t.value();
}

Tensor run_graph(const ir::Graph& g, const Tensor& input, runtime::ValueTransform* fq) {
  auto interp = runtime::Interpreter::create(g, {});
  EXPECT_TRUE(interp.ok()) << interp.status().message();
  std::vector<Tensor> in = {input};
  auto out = (*interp)->run(in, nullptr, fq);
  EXPECT_TRUE(out.ok()) << out.status().message();
  return out->at(0);
}

// Plan entries and dequantized weights against M_expect.json; then the float graph's output
// without and with fake-quant against M_float.npy and M_fq.npy.
void check_model(const std::string& name, const ImportedQuantModel& m) {
  ASSERT_TRUE(m.float_graph.verify().ok());
  ASSERT_TRUE(quant::check_plan(m.plan, m.float_graph).ok());
  std::ifstream in(kData / (name + "_expect.json"));
  const json expect = json::parse(in);
  EXPECT_EQ(m.plan.tensors.size(), expect["tensors"].size()) << quant::plan_to_json(m.plan);
  for (const json& e : expect["tensors"]) {
    const std::string tn = e["name"];
    SCOPED_TRACE(name + " tensor " + tn);
    const quant::TensorPlan* t = m.plan.find(tn);
    ASSERT_NE(t, nullptr) << quant::plan_to_json(m.plan);
    EXPECT_EQ(quant::role_name(t->role), e["role"].get<std::string>());
    EXPECT_EQ(t->params.bits, e["bits"].get<int>());
    EXPECT_EQ(t->params.is_signed, e["signed"].get<bool>());
    EXPECT_EQ(t->params.symmetric, e["symmetric"].get<bool>());
    EXPECT_EQ(t->params.narrow_range, e["narrow_range"].get<bool>());
    EXPECT_EQ(t->params.axis, e["axis"].get<int>());
    EXPECT_EQ(t->dynamic, e["dynamic"].get<bool>());
    std::vector<float> scales;
    for (double s : e["scales"]) scales.push_back(static_cast<float>(s));
    EXPECT_EQ(t->params.scales, scales);
    EXPECT_EQ(t->params.zero_points, e["zero_points"].get<std::vector<int32_t>>());
    EXPECT_FALSE(t->source.empty());
    if (e.contains("values")) {
      auto id = m.float_graph.find_value(tn);
      ASSERT_TRUE(id && m.float_graph.value(*id).initializer);
      const Tensor& w = *m.float_graph.value(*id).initializer;
      ASSERT_EQ(w.dtype(), DType::kFloat32);
      std::vector<float> want;
      for (double v : e["values"]) want.push_back(static_cast<float>(v));
      EXPECT_EQ(w.to_f32_vector(), want);  // exactly f32(q - zp) * scale
    }
  }
  for (const ir::Node& n : m.float_graph.nodes()) {
    EXPECT_NE(n.op_type, "QuantizeLinear");
    EXPECT_NE(n.op_type, "DequantizeLinear");
    EXPECT_TRUE(n.kind.has_value()) << n.describe();
  }
  const Tensor x = load(name + "_input.npy");
  EXPECT_TRUE(testing::tensors_near(run_graph(m.float_graph, x, nullptr), load(name + "_float.npy"),
                                    1e-6, 1e-5));
  FakeQuant fq(m.float_graph, m.plan);
  EXPECT_TRUE(
      testing::tensors_near(run_graph(m.float_graph, x, &fq), load(name + "_fq.npy"), 1e-6, 1e-5));
  EXPECT_GT(fq.applied, 0);
}

const quant::NodePlan& node_plan(const ImportedQuantModel& m, const std::string& n) {
  const quant::NodePlan* p = m.plan.find_node(n);
  EXPECT_NE(p, nullptr) << n << "\n" << quant::plan_to_json(m.plan);
  static const quant::NodePlan kNone;
  return p ? *p : kNone;
}

TEST(QdqImport, QdqConvModel) {
  const ImportedQuantModel m = import_file("qdq_conv");
  check_model("qdq_conv", m);
  const ir::Graph& g = m.float_graph;
  // Input and output names keep working; the output took the graph output's name.
  ASSERT_EQ(g.inputs.size(), 1u);
  EXPECT_EQ(g.value(g.inputs[0]).name, "x");
  ASSERT_EQ(g.outputs.size(), 1u);
  EXPECT_EQ(g.value(g.outputs[0]).name, "output");
  EXPECT_EQ(g.num_nodes(), 5u);
  // Conv+Relu between one DQ and one Q: one unit, conv_out not quantized.
  EXPECT_EQ(node_plan(m, "conv").unit, "conv");
  EXPECT_EQ(node_plan(m, "relu").unit, "conv");
  EXPECT_EQ(node_plan(m, "relu").precision, quant::Precision::kInt8);
  EXPECT_EQ(m.plan.find("conv_out"), nullptr);
  for (const char* n : {"gap", "flatten", "gemm"}) {
    EXPECT_EQ(node_plan(m, n).unit, n);
    EXPECT_EQ(node_plan(m, n).precision, quant::Precision::kInt8);
  }
  // Sources name the quantized model's nodes.
  EXPECT_EQ(m.plan.find("relu_out")->source, "qdq:relu_out_QuantizeLinear");
  // The plan survives its JSON form.
  auto back = quant::plan_from_json(quant::plan_to_json(m.plan), "plan");
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(back.value(), m.plan);
}

TEST(QdqImport, Qdq16BitComMicrosoft) {
  const ImportedQuantModel m = import_file("qdq16_ms");
  check_model("qdq16_ms", m);
  EXPECT_EQ(node_plan(m, "matmul").precision, quant::Precision::kInt16);
  EXPECT_EQ(node_plan(m, "add").precision, quant::Precision::kInt16);
  EXPECT_EQ(m.float_graph.value(m.float_graph.outputs[0]).name, "y");
}

TEST(QdqImport, Qdq16BitOpset21) {
  const ImportedQuantModel m = import_file("qdq16_opset21");
  check_model("qdq16_opset21", m);
}

TEST(QdqImport, QLinearOps) {
  const ImportedQuantModel m = import_file("qlinear");
  check_model("qlinear", m);
  std::vector<std::string> ops;
  for (const ir::Node& n : m.float_graph.nodes()) ops.push_back(n.op_type);
  const std::vector<std::string> want = {"Conv",    "MaxPool", "LeakyRelu", "GlobalAveragePool",
                                         "Flatten", "Gemm",    "Add",       "MatMul",
                                         "Mul",     "Sigmoid"};
  EXPECT_EQ(ops, want);
  // Each QLinear op is its own unit; ORT's "_quant" suffix is dropped from node names.
  EXPECT_EQ(node_plan(m, "conv").unit, "conv");
  EXPECT_EQ(node_plan(m, "pool").precision, quant::Precision::kInt8);
  EXPECT_EQ(m.float_graph.value(m.float_graph.outputs[0]).name, "output");
}

TEST(QdqImport, ConvIntegerDynamic) {
  const ImportedQuantModel m = import_file("conv_integer");
  check_model("conv_integer", m);
  const ir::Graph& g = m.float_graph;
  std::vector<std::string> ops;
  for (const ir::Node& n : g.nodes()) ops.push_back(n.op_type);
  const std::vector<std::string> want = {"Conv", "Relu", "Flatten", "MatMul", "Add"};
  EXPECT_EQ(ops, want);
  // The bias Add is folded into the Conv, which takes the float model's names.
  const ir::Node& conv = g.node(0);
  EXPECT_EQ(conv.name, "/conv/Conv");
  ASSERT_EQ(conv.inputs.size(), 3u);
  EXPECT_EQ(g.value(conv.inputs[2]).name, "conv.bias");
  EXPECT_EQ(g.value(conv.outputs[0]).name, "/conv/Conv_output_0");
  EXPECT_EQ(node_plan(m, "/conv/Conv").precision, quant::Precision::kInt8);
  EXPECT_EQ(node_plan(m, "/fc/MatMul").precision, quant::Precision::kInt8);
  EXPECT_EQ(node_plan(m, "/fc/Add").precision, quant::Precision::kFloat);
}

TEST(QdqImport, IsnetQuint8) {
  const fs::path path = fs::path(QDIFF_SOURCE_DIR) / "third_party/models/isnet/isnet_quint8.onnx";
  if (!fs::exists(path)) GTEST_SKIP() << path << " is not installed";
  auto q = qdiff::onnx::import_model(path);
  ASSERT_TRUE(q.ok()) << q.status().message();
  int conv_integer = 0;
  for (const ir::Node& n : q->graph.nodes()) conv_integer += n.op_type == "ConvInteger";
  auto r = import_quantized(q->graph, path.string());
  ASSERT_TRUE(r.ok()) << r.status().message();
  const ImportedQuantModel& m = r.value();
  ASSERT_TRUE(m.float_graph.verify().ok());
  ASSERT_TRUE(quant::check_plan(m.plan, m.float_graph).ok());
  int convs = 0;
  for (const ir::Node& n : m.float_graph.nodes()) {
    EXPECT_TRUE(n.kind.has_value()) << n.describe();
    EXPECT_NE(n.op_type, "ConvInteger");
    EXPECT_NE(n.op_type, "DynamicQuantizeLinear");
    EXPECT_NE(n.op_type, "Cast");
    convs += n.op_type == "Conv";
  }
  EXPECT_EQ(conv_integer, 119);
  EXPECT_EQ(convs, conv_integer);
  int dynamic = 0, weights = 0;
  for (const quant::TensorPlan& t : m.plan.tensors) {
    if (t.role == quant::Role::kActivation) {
      EXPECT_TRUE(t.dynamic) << t.name;
      ++dynamic;
    } else {
      EXPECT_EQ(t.role, quant::Role::kWeight) << t.name;
      EXPECT_EQ(t.params.bits, 8);
      EXPECT_FALSE(t.params.is_signed);
      EXPECT_EQ(t.params.axis, -1);  // the file has one scale per weight
      ++weights;
    }
  }
  EXPECT_GT(dynamic, 0);
  EXPECT_EQ(weights, conv_integer);
  // Runs on a random input (the model's fixed 1x3x1024x1024; its Resize nodes have constant
  // sizes, so a smaller input does not run).
  const ir::Graph& small = m.float_graph;
  const ir::Value& in = small.value(small.inputs[0]);
  ASSERT_TRUE(in.type.fully_known());
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  Tensor x = Tensor::zeros(DType::kFloat32, in.type.shape());
  for (int64_t i = 0; i < x.numel(); ++i) x.mutable_data<float>()[i] = dist(rng);
  auto interp = runtime::Interpreter::create(small, {.threads = 2});
  ASSERT_TRUE(interp.ok()) << interp.status().message();
  std::vector<Tensor> inputs = {x};
  auto out = (*interp)->run(inputs);
  ASSERT_TRUE(out.ok()) << out.status().message();
  ASSERT_EQ(out->size(), m.float_graph.outputs.size());
  EXPECT_EQ(out->at(0).shape(), (Shape{1, 1, 1024, 1024}));
  for (float v : out->at(0).values<float>()) ASSERT_TRUE(std::isfinite(v));
}

// ---- errors, on graphs built here ----

struct Builder {
  ir::Graph g;
  Builder() { g.opsets[""] = 13; }
  ir::ValueId value(const std::string& n, std::optional<Tensor> init = {},
                    DType dtype = DType::kFloat32, Shape shape = {}) {
    ir::Value v;
    v.name = n;
    if (init) {
      v.type.dtype = init->dtype();
      shape = init->shape();
    } else {
      v.type.dtype = dtype;
    }
    std::vector<ir::Dim> d;
    for (int64_t x : shape) d.push_back({x, ""});
    v.type.dims = d;
    v.initializer = std::move(init);
    return g.add_value(std::move(v));
  }
  void node(const std::string& n, const std::string& op, std::vector<ir::ValueId> in,
            std::vector<ir::ValueId> out, Attributes a = {}) {
    ir::Node nd;
    nd.name = n;
    nd.op_type = op;
    nd.kind = ir::op_kind_from_onnx("", op);
    nd.opset = 13;
    nd.inputs = std::move(in);
    nd.outputs = std::move(out);
    nd.attributes = std::move(a);
    g.add_node(std::move(nd));
  }
};

// x -> Q(scale, zp) -> DQ -> Relu -> y, with the given scale.
Status q_dq_with_scale(float scale) {
  Builder b;
  const auto x = b.value("x", {}, DType::kFloat32, {1, 4});
  b.g.inputs.push_back(x);
  const auto s = b.value("the_scale", Tensor::scalar_f32(scale));
  const auto z = b.value("zp", Tensor::from_vector<uint8_t>({}, {128}));
  const auto q = b.value("xq", {}, DType::kUInt8, {1, 4});
  const auto d = b.value("xd", {}, DType::kFloat32, {1, 4});
  const auto y = b.value("y", {}, DType::kFloat32, {1, 4});
  b.node("quant_x", "QuantizeLinear", {x, s, z}, {q});
  b.node("dequant_x", "DequantizeLinear", {q, s, z}, {d});
  b.node("relu", "Relu", {d}, {y});
  b.g.outputs.push_back(y);
  return import_quantized(b.g, "m.onnx").status();
}

void expect_error(const Status& s, ErrorCode code, std::vector<std::string> parts) {
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), code) << s.message();
  for (const std::string& p : parts)
    EXPECT_NE(s.message().find(p), std::string::npos) << "'" << p << "' not in: " << s.message();
}

TEST(QdqImportErrors, BadScales) {
  ASSERT_TRUE(q_dq_with_scale(0.5f).ok());
  expect_error(q_dq_with_scale(0.0f), ErrorCode::kInvalidModel,
               {"m.onnx", "quant_x", "the_scale", "positive"});
  expect_error(q_dq_with_scale(-1.0f), ErrorCode::kInvalidModel, {"quant_x", "the_scale"});
  expect_error(q_dq_with_scale(NAN), ErrorCode::kInvalidModel, {"quant_x", "the_scale", "nan"});
}

// W (integer initializer) -> DQ(scale, zp, axis) -> MatMul(x, W) -> y.
Status weight_dq(Tensor w, Tensor scale, Tensor zp, int64_t axis, bool scale_is_input = false) {
  Builder b;
  const auto x = b.value("x", {}, DType::kFloat32, {1, 2});
  b.g.inputs.push_back(x);
  const Shape wshape = w.shape();
  const auto wv = b.value("W", std::move(w));
  ir::ValueId s;
  if (scale_is_input) {
    s = b.value("w_scale", {}, DType::kFloat32, {});
    b.g.inputs.push_back(s);
  } else {
    s = b.value("w_scale", std::move(scale));
  }
  const auto z = b.value("w_zp", std::move(zp));
  const auto d = b.value("W_deq", {}, DType::kFloat32, wshape);
  const auto y = b.value("y", {}, DType::kFloat32, {1, 3});
  Attributes a;
  a.set("axis", axis);
  b.node("dq_w", "DequantizeLinear", {wv, s, z}, {d}, a);
  b.node("mm", "MatMul", {x, d}, {y});
  b.g.outputs.push_back(y);
  return import_quantized(b.g, "m.onnx").status();
}

TEST(QdqImportErrors, WeightParameters) {
  const Tensor w = Tensor::from_vector<int8_t>({2, 3}, {1, -2, 3, -4, 5, -127});
  const Tensor s3 = Tensor::from_vector<float>({3}, {0.1f, 0.2f, 0.3f});
  const Tensor z3 = Tensor::from_vector<int8_t>({3}, {0, 0, 0});
  ASSERT_TRUE(weight_dq(w, s3, z3, 1).ok());
  ASSERT_TRUE(weight_dq(w, s3, z3, -1).ok());
  expect_error(weight_dq(w, s3, z3, 5), ErrorCode::kInvalidModel,
               {"dq_w", "axis 5", "out of range", "'W'"});
  expect_error(weight_dq(w, s3, z3, 0), ErrorCode::kInvalidModel, {"dq_w", "3 scales", "2"});
  // A zero point outside the data's integer type (int32 zero point for uint8 data).
  const Tensor wu = Tensor::from_vector<uint8_t>({2, 3}, {1, 2, 3, 4, 5, 6});
  expect_error(weight_dq(wu, Tensor::scalar_f32(0.1f), Tensor::from_vector<int32_t>({}, {300}), 1),
               ErrorCode::kInvalidModel, {"dq_w", "w_zp", "300", "uint8"});
  // A scale that is not a constant.
  expect_error(weight_dq(w, Tensor::scalar_f32(0.1f), Tensor::from_vector<int8_t>({}, {0}), 1,
                         /*scale_is_input=*/true),
               ErrorCode::kUnsupported, {"dq_w", "w_scale", "not a constant"});
}

TEST(QdqImportErrors, DequantizeOfUnknownIntegerTensor) {
  Builder b;
  const auto x = b.value("x", {}, DType::kFloat32, {1, 4});
  b.g.inputs.push_back(x);
  const auto c = b.value("xc", {}, DType::kUInt8, {1, 4});
  const auto s = b.value("s", Tensor::scalar_f32(0.1f));
  const auto z = b.value("z", Tensor::from_vector<uint8_t>({}, {0}));
  const auto d = b.value("xd", {}, DType::kFloat32, {1, 4});
  Attributes to;
  to.set("to", int64_t{2});
  b.node("cast", "Cast", {x}, {c}, to);
  b.node("dq", "DequantizeLinear", {c, s, z}, {d});
  b.g.outputs.push_back(d);
  expect_error(import_quantized(b.g, "m.onnx").status(), ErrorCode::kUnsupported,
               {"m.onnx", "'dq'", "'xc'", "'cast'"});
}

TEST(QdqImport, IntegerGraphInputBecomesFloat) {
  Builder b;
  const auto xq = b.value("xq", {}, DType::kUInt8, {1, 4});
  b.g.inputs.push_back(xq);
  const auto s = b.value("s", Tensor::scalar_f32(0.5f));
  const auto z = b.value("z", Tensor::from_vector<uint8_t>({}, {10}));
  const auto d = b.value("xd", {}, DType::kFloat32, {1, 4});
  const auto y = b.value("y", {}, DType::kFloat32, {1, 4});
  b.node("dq", "DequantizeLinear", {xq, s, z}, {d});
  b.node("relu", "Relu", {d}, {y});
  b.g.outputs.push_back(y);
  auto r = import_quantized(b.g, "m.onnx");
  ASSERT_TRUE(r.ok()) << r.status().message();
  const ir::Graph& g = r->float_graph;
  EXPECT_EQ(g.value(g.inputs[0]).name, "xq");
  EXPECT_EQ(g.value(g.inputs[0]).type.dtype, DType::kFloat32);
  const quant::TensorPlan* t = r->plan.find("xq");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->params.scales, std::vector<float>{0.5f});
  EXPECT_EQ(t->params.zero_points, std::vector<int32_t>{10});
  // Relu(x) on the real values.
  const Tensor x = testing::f32({1, 4}, {-1.0f, 0.5f, 2.0f, -0.25f});
  EXPECT_TRUE(
      testing::tensors_equal(run_graph(g, x, nullptr), testing::f32({1, 4}, {0, 0.5f, 2, 0})));
}

// ---- map_plan ----

TEST(MapPlan, QdqModelOntoItsFloatOriginal) {
  const ImportedQuantModel m = import_file("qdq_conv");
  auto f = qdiff::onnx::import_model(kData / "qdq_conv_float.onnx");
  ASSERT_TRUE(f.ok()) << f.status().message();
  auto r = map_plan(m.plan, m.float_graph, f->graph);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_TRUE(r->unmatched.empty()) << ::testing::PrintToString(r->unmatched);
  // Names as the float model (torch's export) spells them, by hand from make_models.py.
  const std::map<std::string, std::string> want = {
      {"x", "input"},
      {"W", "conv.weight"},
      {"B", "conv.bias"},
      {"relu_out", "/relu/Relu_output_0"},
      {"gap", "/gap/GlobalAveragePool_output_0"},
      {"flat", "/Flatten_output_0"},
      {"W2", "fc.weight"},
      {"B2", "fc.bias"},
      {"output", "logits"},
  };
  ASSERT_EQ(r->plan.tensors.size(), want.size());
  for (const auto& [from, to] : want) {
    const quant::TensorPlan* t = r->plan.find(to);
    ASSERT_NE(t, nullptr) << to;
    EXPECT_EQ(t->params, m.plan.find(from)->params) << from;
    EXPECT_EQ(t->role, m.plan.find(from)->role) << from;
  }
  EXPECT_EQ(r->plan.find_node("/relu/Relu")->unit, "/conv/Conv");
  EXPECT_EQ(r->plan.find_node("/fc/Gemm")->unit, "/fc/Gemm");
  EXPECT_EQ(r->plan.nodes.size(), 5u);
  EXPECT_TRUE(quant::check_plan(r->plan, f->graph).ok());

  // A float model whose last layer differs: what cannot be matched is listed.
  ir::Graph other = f->graph;
  for (ir::NodeId i = 0; i < other.num_nodes(); ++i)
    if (other.node(i).op_type == "Gemm") other.node(i).op_type = "MatMul";
  auto r2 = map_plan(m.plan, m.float_graph, other);
  ASSERT_TRUE(r2.ok()) << r2.status().message();
  std::string all;
  for (const std::string& u : r2->unmatched) all += u + "\n";
  EXPECT_EQ(r2->unmatched.size(), 4u) << all;
  for (const char* p : {"tensor 'W2' (weight)", "tensor 'B2' (bias)",
                        "tensor 'output' (activation)", "node 'gemm'"})
    EXPECT_NE(all.find(p), std::string::npos) << p << " not in:\n" << all;
  EXPECT_EQ(r2->plan.tensors.size(), 6u);
}

// ---- PyTorch 1.13's QDQ export of an FX int8 model (tests/data/torch_qdq) ----
// Scales, zero points and Constant/ConstantOfShape/Identity parameters, QuantizeLinear ->
// Cast(uint8) -> DequantizeLinear pairs, per-channel weights. Oracles: the numbers below were
// read from qdq.onnx with Python (onnx.numpy_helper.to_array of the Constant nodes and
// initializers) and pasted; the outputs are ONNX Runtime's on the QDQ model
// (testdata/torch_qdq_ort_logits.npy, made by testdata/make_torch_ort.sh).

const fs::path kTorch = fs::path(QDIFF_SOURCE_DIR) / "tests/data/torch_qdq";

TEST(QdqImport, TorchFxExport) {
  auto q = qdiff::onnx::import_model(kTorch / "qdq.onnx");
  ASSERT_TRUE(q.ok()) << q.status().message();
  auto r = import_quantized(q->graph, "qdq.onnx");
  ASSERT_TRUE(r.ok()) << r.status().message();
  const ImportedQuantModel& m = r.value();
  const ir::Graph& g = m.float_graph;
  ASSERT_TRUE(g.verify().ok());
  ASSERT_TRUE(quant::check_plan(m.plan, g).ok());
  // The float network of scripts/make_torch_qdq.py, nothing else (no Q/DQ, Cast, Identity,
  // Constant or ConstantOfShape left).
  std::vector<std::string> ops;
  for (const ir::Node& n : g.nodes()) ops.push_back(n.op_type);
  const std::vector<std::string> want_ops = {"Conv",    "Relu",    "MaxPool", "Conv", "Relu",
                                             "Conv",    "Relu",    "Conv",    "Relu", "Add",
                                             "MaxPool", "Flatten", "Gemm"};
  EXPECT_EQ(ops, want_ops);

  // Per-channel int8 weights (axis 0, symmetric, zero points 0) and int32 biases.
  struct Layer {
    const char* node;
    size_t channels;
    float s_first, s_last;  // weight scales of channels 0 and C-1
    int q0, q1, q_last;     // the first two and the last int8 weight values
    float b_s0;             // bias scale of channel 0
    int b_q0;               // int32 bias of channel 0
  };
  const Layer layers[] = {
      {"/c1/Conv", 16, 0.0027462125f, 0.0032294206f, -29, 65, -25, 3.0344523e-05f, -7242},
      {"/dw/Conv", 16, 0.0030367752f, 0.0025542718f, -66, -25, 41, 3.7556518e-05f, 4099},
      {"/pw/Conv", 24, 0.0026231268f, 0.002138784f, -21, 42, 81, 2.9659494e-05f, -3917},
      {"/c3/Conv", 24, 0.0013014425f, 0.00067510625f, 15, -76, -97, 7.949158e-06f, -6200},
      {"/fc/Gemm", 10, 0.0014782142f, 0.0017496691f, 50, 35, -6, 2.1325688e-05f, 1023},
  };
  int weights = 0;
  for (const quant::TensorPlan& t : m.plan.tensors) weights += t.role == quant::Role::kWeight;
  EXPECT_EQ(weights, 5);
  for (const Layer& l : layers) {
    SCOPED_TRACE(l.node);
    const ir::Node* node = nullptr;
    for (const ir::Node& n : g.nodes())
      if (n.name == l.node) node = &n;
    ASSERT_NE(node, nullptr);
    ASSERT_EQ(node->inputs.size(), 3u);
    const ir::Value& wv = g.value(node->inputs[1]);
    const quant::TensorPlan* w = m.plan.find(wv.name);
    ASSERT_NE(w, nullptr) << wv.name;
    EXPECT_EQ(w->role, quant::Role::kWeight);
    EXPECT_EQ(w->params.bits, 8);
    EXPECT_TRUE(w->params.is_signed);
    EXPECT_TRUE(w->params.symmetric);
    EXPECT_FALSE(w->params.narrow_range);  // every layer uses -128 (Python: min -128)
    EXPECT_EQ(w->params.axis, 0);
    ASSERT_EQ(w->params.scales.size(), l.channels);
    EXPECT_EQ(w->params.scales.front(), l.s_first);
    EXPECT_EQ(w->params.scales.back(), l.s_last);
    EXPECT_EQ(w->params.zero_points, std::vector<int32_t>(l.channels, 0));
    EXPECT_EQ(w->source.rfind("qdq:", 0), 0u) << w->source;
    // The weight holds f32(q) * s exactly.
    ASSERT_TRUE(wv.initializer);
    const std::vector<float> wf = wv.initializer->to_f32_vector();
    EXPECT_EQ(wf[0], static_cast<float>(l.q0) * l.s_first);
    EXPECT_EQ(wf[1], static_cast<float>(l.q1) * l.s_first);
    EXPECT_EQ(wf.back(), static_cast<float>(l.q_last) * l.s_last);
    // The bias: int32, per channel, zero point 0 from Cast(ConstantOfShape).
    const ir::Value& bv = g.value(node->inputs[2]);
    const quant::TensorPlan* b = m.plan.find(bv.name);
    ASSERT_NE(b, nullptr) << bv.name;
    EXPECT_EQ(b->role, quant::Role::kBias);
    EXPECT_EQ(b->params.bits, 32);
    EXPECT_EQ(b->params.axis, 0);
    ASSERT_EQ(b->params.scales.size(), l.channels);
    EXPECT_EQ(b->params.scales[0], l.b_s0);
    EXPECT_EQ(b->params.zero_points, std::vector<int32_t>(l.channels, 0));
    ASSERT_TRUE(bv.initializer);
    EXPECT_EQ(bv.initializer->to_f32_vector()[0], static_cast<float>(l.b_q0) * l.b_s0);
  }
  // Activations: uint8, parameters from initializers behind Identity nodes (the input) and
  // from Constant nodes.
  const quant::TensorPlan* in = m.plan.find("input");
  ASSERT_NE(in, nullptr);
  EXPECT_EQ(in->params.scales, std::vector<float>{0.01104959f});
  EXPECT_EQ(in->params.zero_points, std::vector<int32_t>{73});
  EXPECT_FALSE(in->params.is_signed);
  EXPECT_EQ(in->source, "qdq:/QuantizeLinear");
  const quant::TensorPlan* relu = m.plan.find("/c1/Relu_output_0");
  ASSERT_NE(relu, nullptr);
  EXPECT_EQ(relu->params.scales, std::vector<float>{0.012367237f});
  EXPECT_EQ(relu->params.zero_points, std::vector<int32_t>{0});
  EXPECT_EQ(g.value(g.outputs[0]).name, "logits");
  const quant::TensorPlan* out = m.plan.find("logits");
  ASSERT_NE(out, nullptr);
  EXPECT_EQ(out->params.scales, std::vector<float>{0.075269885f});
  EXPECT_EQ(out->params.zero_points, std::vector<int32_t>{146});
  EXPECT_EQ(out->source, "qdq:/fc/QuantizeLinear");
  EXPECT_EQ(node_plan(m, "/c1/Relu").unit, "/c1/Conv");
  EXPECT_EQ(node_plan(m, "/c1/Relu").precision, quant::Precision::kInt8);
  EXPECT_EQ(node_plan(m, "/fc/Gemm").precision, quant::Precision::kInt8);

  // The float graph under fake-quant (the test's own, numerics' fake_quant) computes what ORT
  // computes on the QDQ model, sample by sample.
  const Tensor samples = read_npy(kTorch / "samples.npy").value();  // [16,1,1,28,28]
  const Tensor want = load("torch_qdq_ort_logits.npy");             // [16,1,10]
  ASSERT_EQ(samples.dim(0), want.dim(0));
  FakeQuant fq(g, m.plan);
  for (int64_t i = 0; i < samples.dim(0); ++i) {
    SCOPED_TRACE("sample " + std::to_string(i));
    std::vector<float> x(samples.data<float>() + i * 784, samples.data<float>() + (i + 1) * 784);
    std::vector<float> y(want.data<float>() + i * 10, want.data<float>() + (i + 1) * 10);
    EXPECT_TRUE(testing::tensors_near(run_graph(g, testing::f32({1, 1, 28, 28}, x), &fq),
                                      testing::f32({1, 10}, y), 1e-5, 0));
  }
}

TEST(MapPlan, TorchQdqOntoTorchFloatExport) {
  auto q = qdiff::onnx::import_model(kTorch / "qdq.onnx");
  ASSERT_TRUE(q.ok()) << q.status().message();
  auto imp = import_quantized(q->graph, "qdq.onnx");
  ASSERT_TRUE(imp.ok()) << imp.status().message();
  auto f = qdiff::onnx::import_model(kTorch / "float.onnx");
  ASSERT_TRUE(f.ok()) << f.status().message();
  auto r = map_plan(imp->plan, imp->float_graph, f->graph);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_TRUE(r->unmatched.empty()) << ::testing::PrintToString(r->unmatched);
  EXPECT_TRUE(quant::check_plan(r->plan, f->graph).ok());
  EXPECT_EQ(r->plan.tensors.size(), imp->plan.tensors.size());
  // Names as float.onnx spells them (read with Python).
  const std::map<std::string, std::string> want = {
      {"input", "input"},
      {"/c1/Relu_output_0", "/Relu_output_0"},
      {"/pw/Relu_output_0", "/Relu_2_output_0"},
      {"/Add_output_0", "/Add_output_0"},
      {"logits", "logits"},
  };
  for (const auto& [from, to] : want) {
    const quant::TensorPlan* t = r->plan.find(to);
    ASSERT_NE(t, nullptr) << to;
    EXPECT_EQ(t->params, imp->plan.find(from)->params) << from;
  }
  for (const char* w : {"c1.weight", "dw.weight", "pw.weight", "c3.weight", "fc.weight"}) {
    const quant::TensorPlan* t = r->plan.find(w);
    ASSERT_NE(t, nullptr) << w;
    EXPECT_EQ(t->role, quant::Role::kWeight);
    EXPECT_EQ(t->params.axis, 0);
  }
  ASSERT_NE(r->plan.find("c1.bias"), nullptr);
  EXPECT_EQ(r->plan.find("c1.bias")->role, quant::Role::kBias);
  // torch 1.13 quantizes biases as trunc(b / s): rounding toward zero reproduces every int32 of
  // the file from float.onnx's biases (checked with numpy: round half to even misses 40 of 90).
  for (const char* b : {"c1.bias", "dw.bias", "pw.bias", "c3.bias", "fc.bias"}) {
    ASSERT_NE(r->plan.find(b), nullptr) << b;
    EXPECT_EQ(r->plan.find(b)->rounding, RoundingMode::kTowardZero) << b;
  }
  std::string notes;
  for (const std::string& n : r->notes) notes += n + "\n";
  EXPECT_NE(notes.find("tensor 'c1.bias' (bias"), std::string::npos) << notes;
  // torch quantizes weights as round(w * f32(1 / s)) (numpy finds 1 value of dw.weight at
  // w / s = -127.49999 that torch rounds to -128, which no rounding of w / s reproduces): the
  // plan multiplies by the reciprocal, and every integer of the file is reproduced.
  for (const char* w : {"c1.weight", "dw.weight", "pw.weight", "c3.weight", "fc.weight"}) {
    EXPECT_TRUE(r->plan.find(w)->reciprocal) << w;
    EXPECT_EQ(r->plan.find(w)->rounding, RoundingMode::kHalfToEven) << w;
  }
  EXPECT_NE(notes.find("tensor 'dw.weight' (weight"), std::string::npos) << notes;
  EXPECT_NE(notes.find("half_to_even of x * (1 / scale) reproduces"), std::string::npos) << notes;
  EXPECT_EQ(notes.find("cannot reproduce"), std::string::npos) << notes;
}

// Q -> Identity -> Cast(uint8) -> DQ: looked through. Q -> Cast(int8) -> DQ changes the integers:
// an error naming the Cast.
Status q_cast_dq(int64_t cast_to, ImportedQuantModel* out = nullptr) {
  Builder b;
  const auto x = b.value("x", {}, DType::kFloat32, {1, 4});
  b.g.inputs.push_back(x);
  const auto s = b.value("s", Tensor::scalar_f32(0.5f));
  const auto z = b.value("z", Tensor::from_vector<uint8_t>({}, {128}));
  const auto q = b.value("xq", {}, DType::kUInt8, {1, 4});
  const auto i = b.value("xi", {}, DType::kUInt8, {1, 4});
  const auto c = b.value("xc", {}, DType::kUInt8, {1, 4});
  const auto d = b.value("xd", {}, DType::kFloat32, {1, 4});
  const auto y = b.value("y", {}, DType::kFloat32, {1, 4});
  b.node("quant_x", "QuantizeLinear", {x, s, z}, {q});
  b.node("ident", "Identity", {q}, {i});
  Attributes to;
  to.set("to", cast_to);
  b.node("cast", "Cast", {i}, {c}, to);
  b.node("dequant_x", "DequantizeLinear", {c, s, z}, {d});
  b.node("relu", "Relu", {d}, {y});
  b.g.outputs.push_back(y);
  auto r = import_quantized(b.g, "m.onnx");
  if (r.ok() && out) *out = std::move(r).value();
  return r.status();
}

TEST(QdqImport, LooksThroughIdentityAndSameTypeCast) {
  ImportedQuantModel m;
  ASSERT_TRUE(q_cast_dq(2, &m).ok());  // 2: uint8
  const ir::Graph& g = m.float_graph;
  ASSERT_EQ(g.num_nodes(), 1u);
  EXPECT_EQ(g.node(0).op_type, "Relu");
  EXPECT_EQ(g.value(g.node(0).inputs[0]).name, "x");
  ASSERT_EQ(m.plan.tensors.size(), 1u);
  EXPECT_EQ(m.plan.tensors[0].name, "x");
  EXPECT_EQ(m.plan.tensors[0].source, "qdq:quant_x");
  EXPECT_EQ(m.plan.tensors[0].params.zero_points, std::vector<int32_t>{128});
  expect_error(q_cast_dq(3), ErrorCode::kUnsupported, {"m.onnx", "'dequant_x'", "'xc'", "'cast'"});
}

}  // namespace
}  // namespace qdiff::qdq
