#include "encodings/encodings.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "runtime/graph_builder_test_util.h"

namespace qdiff::encodings {
namespace {

using nlohmann::json;
using quant::QuantPlan;
using quant::Role;
using quant::TensorPlan;
using runtime::graph_testing::GraphBuilder;

// x[1,2,4,4] -> conv(w[3,2,1,1], b[3]) -> c -> relu -> r -> gap -> g -> flat -> f
//   -> fc (Gemm transB=1, fcw[4,3], fcb[4]) -> logits -> mm (MatMul, mw[4,2] from a Constant) -> y
ir::Graph small_graph() {
  ir::Graph g;
  GraphBuilder b(g);
  const ir::ValueId x = b.value("x");
  const ir::ValueId w = b.value("w", Tensor::zeros(DType::kFloat32, {3, 2, 1, 1}));
  const ir::ValueId bias = b.value("b", Tensor::zeros(DType::kFloat32, {3}));
  const ir::ValueId c = b.value("c");
  const ir::ValueId r = b.value("r");
  const ir::ValueId gp = b.value("g");
  const ir::ValueId f = b.value("f");
  const ir::ValueId fcw = b.value("fcw", Tensor::zeros(DType::kFloat32, {4, 3}));
  const ir::ValueId fcb = b.value("fcb", Tensor::zeros(DType::kFloat32, {4}));
  const ir::ValueId logits = b.value("logits");
  const ir::ValueId mw = b.value("mw");
  const ir::ValueId y = b.value("y");
  g.inputs = {x};
  b.node("conv", ir::OpKind::kConv, {x, w, bias}, c);
  b.node("relu", ir::OpKind::kRelu, {c}, r);
  b.node("gap", ir::OpKind::kGlobalAveragePool, {r}, gp);
  b.node("flat", ir::OpKind::kFlatten, {gp}, f);
  Attributes gemm;
  gemm.set("transB", int64_t{1});
  b.node("fc", ir::OpKind::kGemm, {f, fcw, fcb}, logits, gemm);
  Attributes cst;
  cst.set("value", Tensor::zeros(DType::kFloat32, {4, 2}));
  b.node("mw_const", ir::OpKind::kConstant, {}, mw, cst);
  b.node("mm", ir::OpKind::kMatMul, {logits, mw}, y);
  g.outputs = {y};
  return g;
}

QuantParams params(int bits, bool is_signed, bool symmetric, bool narrow, std::vector<float> scales,
                   std::vector<int32_t> zps, int axis = -1) {
  QuantParams p;
  p.bits = bits;
  p.is_signed = is_signed;
  p.symmetric = symmetric;
  p.narrow_range = narrow;
  p.scales = std::move(scales);
  p.zero_points = std::move(zps);
  p.axis = axis;
  return p;
}

TensorPlan tensor(const std::string& name, Role role, QuantParams p) {
  TensorPlan t;
  t.name = name;
  t.role = role;
  t.params = std::move(p);
  t.source = "encodings";
  return t;
}

// The 0.6.1 test file. Hand-derived: min = scale * offset, max = scale * (offset + 2^bw - 1)
// (2^bw - 2 for the strict-symmetric fcw).
const char* kV061 = R"({
  "version": "0.6.1",
  "activation_encodings": {
    "x": [{"bitwidth": 8, "dtype": "int", "is_symmetric": "False", "max": 9.55, "min": -3.2,
           "offset": -64, "scale": 0.05}],
    "c": [{"bitwidth": 16, "dtype": "int", "is_symmetric": "False", "max": 64.535, "min": -1.0,
           "offset": -1000, "scale": 0.001}],
    "r": [{"bitwidth": 8, "dtype": "int", "is_symmetric": "True", "max": 5.1, "min": 0.0,
           "offset": 0, "scale": 0.02}],
    "g": [{"bitwidth": 8, "dtype": "int", "is_symmetric": "False", "max": 1.27, "min": -1.28,
           "offset": -128.0, "scale": 0.01}],
    "logits": [{"bitwidth": 16, "dtype": "float"}],
    "y": [{"bitwidth": 8, "dtype": "int", "is_symmetric": "True", "max": 15.5, "min": -10.0,
           "offset": -100, "scale": 0.1}]
  },
  "param_encodings": {
    "w": [{"bitwidth": 8, "dtype": "int", "is_symmetric": "True", "max": 1.27, "min": -1.28,
           "offset": -128, "scale": 0.01},
          {"bitwidth": 8, "dtype": "int", "is_symmetric": "True", "max": 2.54, "min": -2.56,
           "offset": -128, "scale": 0.02},
          {"bitwidth": 8, "dtype": "int", "is_symmetric": "True", "max": 5.08, "min": -5.12,
           "offset": -128, "scale": 0.04}],
    "b": [{"bitwidth": 32, "dtype": "int", "is_symmetric": "True", "max": 1073741.8235,
           "min": -1073741.824, "offset": -2147483648, "scale": 0.0005},
          {"bitwidth": 32, "dtype": "int", "is_symmetric": "True", "max": 2147483.647,
           "min": -2147483.648, "offset": -2147483648, "scale": 0.001},
          {"bitwidth": 32, "dtype": "int", "is_symmetric": "True", "max": 4294967.294,
           "min": -4294967.296, "offset": -2147483648, "scale": 0.002}],
    "fcw": [{"bitwidth": 8, "dtype": "int", "is_symmetric": "True", "max": 0.381, "min": -0.381,
             "offset": -127, "scale": 0.003}],
    "mw": [{"bitwidth": 4, "dtype": "int", "is_symmetric": "True", "max": 3.5, "min": -4.0,
            "offset": -8, "scale": 0.5},
           {"bitwidth": 4, "dtype": "int", "is_symmetric": "True", "max": 1.75, "min": -2.0,
            "offset": -8, "scale": 0.25}]
  },
  "excluded_layers": ["mm"],
  "quantizer_args": {"activation_bitwidth": 8, "dtype": "int", "is_symmetric": "True",
                     "param_bitwidth": 8, "per_channel_quantization": "True",
                     "quant_scheme": "post_training_tf"}
})";

// The same encodings in 1.0.0 (offsets as AIMET writes them: floats; one is_sym as a string).
const char* kV100 = R"({
  "version": "1.0.0",
  "activation_encodings": [
    {"name": "x", "dtype": "INT", "enc_type": "PER_TENSOR", "is_sym": false, "bw": 8,
     "scale": [0.05], "offset": [-64.0]},
    {"name": "c", "dtype": "INT", "enc_type": "PER_TENSOR", "is_sym": false, "bw": 16,
     "scale": [0.001], "offset": [-1000]},
    {"name": "r", "dtype": "INT", "enc_type": "PER_TENSOR", "is_sym": true, "bw": 8,
     "scale": [0.02], "offset": [0]},
    {"name": "g", "dtype": "INT", "enc_type": "PER_TENSOR", "is_sym": false, "bw": 8,
     "scale": [0.01], "offset": [-128]},
    {"name": "logits", "dtype": "FLOAT", "enc_type": "PER_TENSOR", "bw": 16},
    {"name": "y", "dtype": "INT", "enc_type": "PER_TENSOR", "is_sym": "True", "bw": 8,
     "scale": [0.1], "offset": [-100]}
  ],
  "param_encodings": [
    {"name": "w", "dtype": "INT", "enc_type": "PER_CHANNEL", "is_sym": true, "bw": 8,
     "scale": [0.01, 0.02, 0.04], "offset": [-128.0, -128.0, -128.0]},
    {"name": "b", "dtype": "INT", "enc_type": "PER_CHANNEL", "is_sym": true, "bw": 32,
     "scale": [0.0005, 0.001, 0.002], "offset": [-2147483648, -2147483648, -2147483648]},
    {"name": "fcw", "dtype": "INT", "enc_type": "PER_TENSOR", "is_sym": true, "bw": 8,
     "scale": [0.003], "offset": [-127]},
    {"name": "mw", "dtype": "INT", "enc_type": "PER_CHANNEL", "is_sym": true, "bw": 4,
     "scale": [0.5, 0.25], "offset": [-8, -8]}
  ],
  "excluded_layers": ["mm"]
})";

// Hand-derived from the table in encodings.h.
QuantPlan expected_plan() {
  QuantPlan p;
  p.origin = "encodings E.json";
  // x: uint8, zp = -offset = 64.
  p.tensors.push_back(
      tensor("x", Role::kActivation, params(8, false, false, false, {0.05f}, {64})));
  // w: int8 symmetric (offset -128 = -2^7), per channel along Conv's output axis 0.
  p.tensors.push_back(tensor("w", Role::kWeight,
                             params(8, true, true, false, {0.01f, 0.02f, 0.04f}, {0, 0, 0}, 0)));
  // b: int32 bias (offset -2^31), per channel.
  p.tensors.push_back(tensor(
      "b", Role::kBias, params(32, true, true, false, {0.0005f, 0.001f, 0.002f}, {0, 0, 0}, 0)));
  // c: uint16, zp 1000.
  p.tensors.push_back(
      tensor("c", Role::kActivation, params(16, false, false, false, {0.001f}, {1000})));
  // r: AIMET's unsigned symmetric (is_sym, offset 0): uint8 zp 0.
  p.tensors.push_back(tensor("r", Role::kActivation, params(8, false, false, false, {0.02f}, {0})));
  // g: uint8 zp 128, the middle of [0, 255]: symmetric in qdiff's sense.
  p.tensors.push_back(
      tensor("g", Role::kActivation, params(8, false, true, false, {0.01f}, {128})));
  // fcw: strict symmetric (offset -127): int8 narrow [-127, 127].
  p.tensors.push_back(tensor("fcw", Role::kWeight, params(8, true, true, true, {0.003f}, {0})));
  // mw: int4 symmetric per channel along MatMul's last axis (1), from a Constant node.
  p.tensors.push_back(
      tensor("mw", Role::kWeight, params(4, true, true, false, {0.5f, 0.25f}, {0, 0}, 1)));
  // y: is_sym with offset -100: signed, zp = -(offset + 128) = -28.
  p.tensors.push_back(tensor("y", Role::kActivation, params(8, true, false, false, {0.1f}, {-28})));
  return p;
}

// AIMET's grid scale * (k + offset) for k in [0, steps] equals qdiff's scale * (q' - zp) with
// q' = qmin + k, for every code (sampled for 32 bits).
void expect_same_grid(const QuantParams& p, size_t channel, float scale, int64_t offset,
                      int64_t steps) {
  SCOPED_TRACE("channel " + std::to_string(channel));
  ASSERT_EQ(static_cast<int64_t>(p.qmax()) - p.qmin(), steps);
  std::vector<int64_t> ks;
  if (steps <= 65535) {
    for (int64_t k = 0; k <= steps; ++k) ks.push_back(k);
  } else {
    ks = {0, 1, 2, steps / 2, steps / 2 + 1, steps - 1, steps};
  }
  for (int64_t k : ks) {
    const float aimet = static_cast<float>(k + offset) * scale;
    const auto q = static_cast<int32_t>(p.qmin() + k);
    ASSERT_EQ(dequantize(q, p, static_cast<int64_t>(channel)), aimet) << "k " << k;
  }
}

ir::Graph& graph() {
  static ir::Graph g = small_graph();
  return g;
}

TEST(Encodings, Import061HandDerived) {
  std::vector<std::string> notes, floats;
  auto r = import_encodings(kV061, "E.json", graph(), &notes, &floats);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r.value(), expected_plan());
  EXPECT_EQ(floats, std::vector<std::string>{"logits"});
  auto has_note = [&](const std::string& s) {
    for (const auto& n : notes)
      if (n.find(s) != std::string::npos) return true;
    return false;
  };
  EXPECT_TRUE(has_note("bias 'fcb'")) << "the Gemm bias without encoding is left float";
  EXPECT_TRUE(has_note("'logits': dtype float"));
  EXPECT_TRUE(has_note("excluded_layers"));
  EXPECT_FALSE(has_note("disagree")) << "every min/max in the file is consistent";

  // Grids, from the file's own numbers.
  const QuantPlan& p = r.value();
  expect_same_grid(p.find("x")->params, 0, 0.05f, -64, 255);
  expect_same_grid(p.find("c")->params, 0, 0.001f, -1000, 65535);
  expect_same_grid(p.find("r")->params, 0, 0.02f, 0, 255);
  expect_same_grid(p.find("g")->params, 0, 0.01f, -128, 255);
  expect_same_grid(p.find("y")->params, 0, 0.1f, -100, 255);
  expect_same_grid(p.find("w")->params, 0, 0.01f, -128, 255);
  expect_same_grid(p.find("w")->params, 2, 0.04f, -128, 255);
  expect_same_grid(p.find("fcw")->params, 0, 0.003f, -127, 254);  // strict: k in [0, 254]
  expect_same_grid(p.find("mw")->params, 1, 0.25f, -8, 15);
  expect_same_grid(p.find("b")->params, 1, 0.001f, -2147483648LL, 4294967295LL);
  // A few grid points by hand: uint8 x code 0 is 0.05 * -64, code 255 is 0.05 * 191.
  EXPECT_EQ(dequantize(0, p.find("x")->params), 0.05f * -64.0f);
  EXPECT_EQ(dequantize(255, p.find("x")->params), 0.05f * 191.0f);
  EXPECT_EQ(dequantize(-127, p.find("fcw")->params), 0.003f * -127.0f);
}

TEST(Encodings, Import100HandDerived) {
  std::vector<std::string> notes, floats;
  auto r = import_encodings(kV100, "E.json", graph(), &notes, &floats);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r.value(), expected_plan());
  EXPECT_EQ(floats, std::vector<std::string>{"logits"});
}

TEST(Encodings, StrictSymmetricMaxSelectsTheGrid) {
  // offset -127 with max = scale * 128 (the full [0, 255] grid): signed int8 zp -1, not narrow.
  const char* text = R"({"version": "0.6.1", "activation_encodings": {}, "param_encodings": {
      "fcw": [{"bitwidth": 8, "dtype": "int", "is_symmetric": "True", "max": 0.384,
               "min": -0.381, "offset": -127, "scale": 0.003}]}})";
  auto r = import_encodings(text, "E.json", graph(), nullptr);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->tensors[0].params, params(8, true, false, false, {0.003f}, {-1}));
  expect_same_grid(r->tensors[0].params, 0, 0.003f, -127, 255);
}

TEST(Encodings, GemmWeightAxisFollowsTransB) {
  // fc is Gemm with transB = 1: fcw [4, 3] holds one row per output, so 4 channels on axis 0.
  auto r = import_encodings(R"({"version": "1.0.0", "param_encodings": [{"name": "fcw",
      "dtype": "INT", "enc_type": "PER_CHANNEL", "is_sym": true, "bw": 8,
      "scale": [0.1, 0.2, 0.3, 0.4], "offset": [-128, -128, -128, -128]}]})",
                            "E.json", graph(), nullptr);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->tensors[0].params,
            params(8, true, true, false, {0.1f, 0.2f, 0.3f, 0.4f}, {0, 0, 0, 0}, 0));
  // Three encodings would be the input-feature axis (1): refused.
  auto three = import_encodings(R"({"version": "1.0.0", "param_encodings": [{"name": "fcw",
      "dtype": "INT", "enc_type": "PER_CHANNEL", "is_sym": true, "bw": 8,
      "scale": [0.1, 0.2, 0.3], "offset": [-128, -128, -128]}]})",
                                "E.json", graph(), nullptr);
  EXPECT_FALSE(three.ok());
}

TEST(Encodings, MinMaxDisagreementIsNoted) {
  const char* text = R"({"version": "0.6.1", "activation_encodings": {
      "x": [{"bitwidth": 8, "dtype": "int", "is_symmetric": "False", "max": 9.55, "min": -2.0,
             "offset": -64, "scale": 0.05}]}, "param_encodings": {}})";
  std::vector<std::string> notes;
  auto r = import_encodings(text, "E.json", graph(), &notes);
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_EQ(notes.size(), 1u);
  EXPECT_NE(notes[0].find("'x': min/max disagree"), std::string::npos) << notes[0];
}

TEST(Encodings, NoVersionIs040) {
  const char* text = R"({"activation_encodings": {"x": [{"bitwidth": 8, "is_symmetric": "False",
      "max": 9.55, "min": -3.2, "offset": -64, "scale": 0.05}]}, "param_encodings": {}})";
  auto r = import_encodings(text, "E.json", graph(), nullptr);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->tensors[0].params, params(8, false, false, false, {0.05f}, {64}));
}

// A canonical plan (every format import produces) with awkward scales.
QuantPlan roundtrip_plan() {
  QuantPlan p = expected_plan();
  p.tensors[0].params.scales = {std::nextafter(0.1f, 1.0f)};
  p.tensors[1].params.scales = {1.17549435e-38f, 3.4028235e38f, 0.0123456789f};
  p.tensors[2].params.scales = {1e-10f, 2e-10f, 3e-10f};
  p.tensors[4].params.zero_points = {7};  // uint8 asymmetric, zp 7
  p.tensors[8] = tensor("y", Role::kActivation, params(16, true, true, false, {0.5f}, {0}));
  // Graph order: ... fcw, fcb, mw, y.
  p.tensors.insert(p.tensors.begin() + 7,
                   tensor("fcb", Role::kBias, params(32, true, true, false, {1e-6f}, {0})));
  return p;
}

TEST(Encodings, RoundTripBothVersions) {
  const QuantPlan plan = roundtrip_plan();
  ASSERT_TRUE(quant::check_plan(plan, graph()).ok());
  for (EncodingsVersion v : {EncodingsVersion::k0_6_1, EncodingsVersion::k1_0_0}) {
    SCOPED_TRACE(v == EncodingsVersion::k0_6_1 ? "0.6.1" : "1.0.0");
    auto text = export_encodings(plan, graph(), v);
    ASSERT_TRUE(text.ok()) << text.status().message();
    std::vector<std::string> notes;
    auto back = import_encodings(text.value(), "E.json", graph(), &notes);
    ASSERT_TRUE(back.ok()) << back.status().message();
    EXPECT_EQ(back.value(), plan) << text.value();
    for (const auto& n : notes) EXPECT_EQ(n.find("disagree"), std::string::npos) << n;
  }
}

TEST(Encodings, ExportFieldsHandDerived) {
  QuantPlan p;
  p.tensors.push_back(
      tensor("x", Role::kActivation, params(8, false, false, false, {0.05f}, {64})));
  p.tensors.push_back(tensor("fcw", Role::kWeight, params(8, true, true, true, {0.003f}, {0})));
  p.tensors.push_back(tensor("y", Role::kActivation, params(8, true, false, false, {0.1f}, {-28})));
  auto t061 = export_encodings(p, graph(), EncodingsVersion::k0_6_1);
  ASSERT_TRUE(t061.ok()) << t061.status().message();
  const json a = json::parse(t061.value());
  EXPECT_EQ(a["version"], "0.6.1");
  const json& x = a["activation_encodings"]["x"][0];
  EXPECT_EQ(x["bitwidth"], 8);
  EXPECT_EQ(x["is_symmetric"], "False");
  EXPECT_EQ(x["offset"], -64);
  EXPECT_EQ(x["scale"].get<double>(), static_cast<double>(0.05f));
  EXPECT_EQ(x["min"].get<double>(), static_cast<double>(0.05f) * -64.0);
  EXPECT_EQ(x["max"].get<double>(), static_cast<double>(0.05f) * 191.0);
  // Full-range int8 symmetric: offset -128, min -128 * S, max 127 * S.
  QuantPlan sym;
  sym.tensors.push_back(tensor("fcw", Role::kWeight, params(8, true, true, false, {0.5f}, {0})));
  const json s061 = json::parse(export_encodings(sym, graph(), EncodingsVersion::k0_6_1).value());
  EXPECT_EQ(s061["param_encodings"]["fcw"][0]["offset"], -128);
  EXPECT_EQ(s061["param_encodings"]["fcw"][0]["is_symmetric"], "True");
  EXPECT_EQ(s061["param_encodings"]["fcw"][0]["min"].get<double>(), -64.0);
  EXPECT_EQ(s061["param_encodings"]["fcw"][0]["max"].get<double>(), 63.5);
  const json& w = a["param_encodings"]["fcw"][0];
  EXPECT_EQ(w["is_symmetric"], "True");
  EXPECT_EQ(w["offset"], -127);
  EXPECT_EQ(w["max"].get<double>(), static_cast<double>(0.003f) * 127.0);
  // Signed asymmetric is written as the equal unsigned grid: offset -(zp + 128) = -100.
  const json& y = a["activation_encodings"]["y"][0];
  EXPECT_EQ(y["is_symmetric"], "False");
  EXPECT_EQ(y["offset"], -100);

  auto t100 = export_encodings(p, graph(), EncodingsVersion::k1_0_0);
  ASSERT_TRUE(t100.ok()) << t100.status().message();
  const json b = json::parse(t100.value());
  EXPECT_EQ(b["version"], "1.0.0");
  ASSERT_EQ(b["activation_encodings"].size(), 2u);
  EXPECT_EQ(b["activation_encodings"][0]["name"], "x");
  EXPECT_EQ(b["activation_encodings"][0]["enc_type"], "PER_TENSOR");
  EXPECT_EQ(b["activation_encodings"][0]["is_sym"], false);
  EXPECT_EQ(b["activation_encodings"][0]["offset"], json::array({-64}));
  EXPECT_EQ(b["param_encodings"][0]["is_sym"], true);
  EXPECT_EQ(b["param_encodings"][0]["bw"], 8);

  // Read back, y is unsigned with zp 100: a different plan but the same grid.
  auto back = import_encodings(t100.value(), "E.json", graph(), nullptr);
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(back->find("y")->params, params(8, false, false, false, {0.1f}, {100}));
  expect_same_grid(back->find("y")->params, 0, 0.1f, -100, 255);
  expect_same_grid(p.tensors[2].params, 0, 0.1f, -100, 255);
}

TEST(Encodings, ExportRefusals) {
  QuantPlan p;
  p.tensors.push_back(tensor("x", Role::kActivation, params(8, false, false, false, {1.0f}, {0})));
  p.tensors.back().dynamic = true;
  auto r = export_encodings(p, graph(), EncodingsVersion::k1_0_0);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kUnsupported);
  EXPECT_NE(r.status().message().find("'x'"), std::string::npos);

  // w per channel along axis 1 (2 input channels): the file has no axis, readers assume 0.
  QuantPlan q;
  q.tensors.push_back(
      tensor("w", Role::kWeight, params(8, true, true, false, {0.1f, 0.2f}, {0, 0}, 1)));
  auto e = export_encodings(q, graph(), EncodingsVersion::k0_6_1);
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.status().code(), ErrorCode::kUnsupported);
  EXPECT_NE(e.status().message().find("implies axis 0"), std::string::npos) << e.status().message();

  QuantPlan bad;
  bad.tensors.push_back(
      tensor("nope", Role::kActivation, params(8, false, false, false, {1}, {0})));
  EXPECT_FALSE(export_encodings(bad, graph(), EncodingsVersion::k0_6_1).ok());
}

// Expects import of `text` to fail with `code` and a message containing each of `parts`.
void expect_error(const std::string& text, ErrorCode code, std::vector<std::string> parts) {
  auto r = import_encodings(text, "E.json", graph(), nullptr);
  ASSERT_FALSE(r.ok()) << text;
  EXPECT_EQ(r.status().code(), code) << r.status().message();
  EXPECT_EQ(r.status().message().rfind("E.json: ", 0), 0u) << r.status().message();
  for (const auto& p : parts)
    EXPECT_NE(r.status().message().find(p), std::string::npos)
        << "'" << p << "' not in: " << r.status().message();
}

std::string v061_act(const std::string& name, const std::string& enc) {
  return R"({"version": "0.6.1", "activation_encodings": {")" + name + R"(": [)" + enc +
         R"(]}, "param_encodings": {}})";
}
std::string v061_param(const std::string& name, const std::string& encs) {
  return R"({"version": "0.6.1", "activation_encodings": {}, "param_encodings": {")" + name +
         R"(": [)" + encs + "]}}";
}
std::string enc(int bw, const std::string& scale, const std::string& offset,
                const char* sym = "False") {
  return R"({"bitwidth": )" + std::to_string(bw) + R"(, "dtype": "int", "is_symmetric": ")" + sym +
         R"(", "offset": )" + offset + R"(, "scale": )" + scale + "}";
}

TEST(Encodings, BadInput) {
  // Names the model does not have.
  expect_error(v061_act("conv1_out", enc(8, "0.1", "0")), ErrorCode::kInvalidArgument,
               {"'conv1_out'", "no tensor of that name", "ONNX model's tensors"});
  expect_error(v061_param("net.w", enc(8, "0.1", "-128", "True")), ErrorCode::kInvalidArgument,
               {"'net.w'", "did you mean 'w'"});
  // Bit widths.
  expect_error(v061_act("x", enc(40, "0.1", "0")), ErrorCode::kInvalidArgument,
               {"'x'", "bitwidth 40", "out of range"});
  expect_error(v061_act("x", enc(1, "0.1", "0")), ErrorCode::kInvalidArgument,
               {"bitwidth 1", "out of range"});
  expect_error(v061_act("x", enc(32, "0.1", "0")), ErrorCode::kUnsupported,
               {"32-bit", "only supported on biases"});
  expect_error(v061_param("b", enc(8, "0.1", "-128", "True")), ErrorCode::kUnsupported,
               {"'b'", "int32"});
  expect_error(R"({"version": "1.0.0", "activation_encodings": [{"name": "x", "dtype": "INT",
      "enc_type": "PER_TENSOR", "is_sym": false, "bw": 20, "scale": [0.1], "offset": [0]}]})",
               ErrorCode::kInvalidArgument, {"bitwidth 20", "out of range"});
  // Scales.
  expect_error(v061_act("x", enc(8, "0", "0")), ErrorCode::kInvalidArgument,
               {"'x'", "scale 0", "positive and finite"});
  expect_error(v061_act("x", enc(8, "-0.5", "0")), ErrorCode::kInvalidArgument,
               {"scale -0.5", "positive and finite"});
  expect_error(v061_act("x", enc(8, "NaN", "0")), ErrorCode::kInvalidArgument,
               {"scale NaN", "positive and finite"});
  expect_error(v061_act("x", enc(8, "1e39", "0")), ErrorCode::kInvalidArgument,
               {"positive and finite (in float32)"});
  expect_error(v061_act("x", enc(8, "\"big\"", "0")), ErrorCode::kInvalidArgument,
               {"'scale' must be a number"});
  // Offsets.
  expect_error(v061_act("x", enc(8, "0.1", "-3.5")), ErrorCode::kInvalidArgument,
               {"offset -3.5", "integer"});
  expect_error(v061_act("x", enc(8, "0.1", "10")), ErrorCode::kUnsupported,
               {"offset 10", "outside"});
  // Per-channel count against the weight's output channels (w: 3 along axis 0).
  expect_error(v061_param("w", enc(8, "0.1", "-128", "True") + "," + enc(8, "0.2", "-128", "True")),
               ErrorCode::kInvalidArgument,
               {"'w'", "2 per-channel encodings", "3 channels", "axis 0"});
  expect_error(R"({"version": "1.0.0", "param_encodings": [{"name": "mw", "dtype": "INT",
      "enc_type": "PER_CHANNEL", "is_sym": true, "bw": 8, "scale": [0.1, 0.1, 0.1, 0.1],
      "offset": [-128, -128, -128, -128]}]})",
               ErrorCode::kInvalidArgument, {"'mw'", "4 per-channel", "2 channels", "axis 1"});
  expect_error(v061_act("c", enc(8, "0.1", "0") + "," + enc(8, "0.1", "0")),
               ErrorCode::kUnsupported, {"'c'", "per-channel", "constants"});
  // Versions and structure.
  expect_error(R"({"version": "0.9.9", "activation_encodings": {}})", ErrorCode::kInvalidArgument,
               {"unknown encodings version '0.9.9'"});
  expect_error(R"({"version": "2.0.0", "activation_encodings": []})", ErrorCode::kUnsupported,
               {"version '2.0.0'", "not supported"});
  expect_error(R"({"version": "1.0.0", "activation_encodings": {}})", ErrorCode::kInvalidArgument,
               {"must be a list"});
  expect_error(R"({"version": "0.6.1", "activation_encodings": [)", ErrorCode::kInvalidArgument,
               {"not valid JSON"});
  expect_error("[1, 2]", ErrorCode::kInvalidArgument, {"JSON object"});
  expect_error(R"({"version": "0.6.1"})", ErrorCode::kInvalidArgument, {"not an AIMET"});
  expect_error(R"({"version": "1.0.0", "param_encodings": [{"name": "fcw", "dtype": "INT",
      "enc_type": "PER_BLOCK", "is_sym": true, "bw": 4, "block_size": 2, "scale": [0.1, 0.1],
      "offset": [-8, -8]}]})",
               ErrorCode::kUnsupported, {"'fcw'", "PER_BLOCK", "not supported"});
  expect_error(R"({"version": "1.0.0", "param_encodings": [{"name": "fcw", "dtype": "INT",
      "enc_type": "LPBQ", "is_sym": true, "bw": 4, "scale": [0.1], "offset": [-8]}]})",
               ErrorCode::kUnsupported, {"LPBQ", "not supported"});
  expect_error(R"({"version": "0.6.1", "activation_encodings": {"conv": {"input": {"0":
      {"bitwidth": 8, "is_symmetric": "False", "offset": 0, "scale": 0.1}}}}})",
               ErrorCode::kUnsupported, {"'conv'", "_torch.encodings", "ONNX tensor names"});
  expect_error(R"({"version": "0.6.1", "activation_encodings": {"x": [{"bitwidth": 8,
      "is_symmetric": "False", "offset": 0, "scale": 0.1}]}, "param_encodings": {"x": [
      {"bitwidth": 8, "is_symmetric": "False", "offset": 0, "scale": 0.1}]}})",
               ErrorCode::kInvalidArgument, {"'x'", "more than one encoding"});
  expect_error(v061_act("x", R"({"bitwidth": 8, "dtype": "int", "offset": 0, "scale": 0.1})"),
               ErrorCode::kInvalidArgument, {"'x'", "missing field 'is_symmetric'"});
}

TEST(Encodings, LoadFromFile) {
  const auto dir = std::filesystem::temp_directory_path() / "qdiff_encodings_test";
  std::filesystem::create_directories(dir);
  const auto path = dir / "model.encodings";
  {
    std::ofstream out(path);
    out << kV100;
  }
  auto r = load_encodings(path, graph(), nullptr);
  ASSERT_TRUE(r.ok()) << r.status().message();
  QuantPlan expected = expected_plan();
  expected.origin = "encodings " + path.string();
  EXPECT_EQ(r.value(), expected);
  std::filesystem::remove_all(dir);

  auto missing = load_encodings(dir / "nope.encodings", graph(), nullptr);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), ErrorCode::kIo);
  EXPECT_NE(missing.status().message().find("nope.encodings"), std::string::npos);
}

}  // namespace
}  // namespace qdiff::encodings
