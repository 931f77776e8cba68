// QDQ export tests. Oracles:
//  - integer weights: round-half-even(W / s) + zp clamped, computed here with std::nearbyint
//    (default FE_TONEAREST), element by element, not with qdiff's quantize();
//  - the exported model's numbers: an independent "simulation" model built here from the float
//    model with plain float ops (X -> Div(s) -> Round -> Add(zp) -> Clip(qmin, qmax) -> Sub(zp)
//    -> Mul(s), ONNX Round being half-to-even) and weights replaced by their hand-computed
//    fake-quant values. Both run through qdiff's interpreter (reference kernels); every float
//    tensor of the float graph and every quantized activation's DequantizeLinear output must
//    equal the simulation's bit for bit. The simulation shares no code with the exporter and
//    uses no QuantizeLinear/DequantizeLinear kernel.
//  - structure: ONNX checker, qdiff's importer, node/initializer names as ORT's quantizer writes
//    them.
#include "export/qdq_export.h"

#include <gtest/gtest.h>
#include <onnx/checker.h>
#include <onnx/onnx_pb.h>

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>

#include "onnx/importer.h"
#include "runtime/interpreter.h"
#include "runtime/observer.h"
#include "tensor/npy.h"

namespace qdiff::exporter {
namespace {

namespace fs = std::filesystem;
using quant::QuantPlan;
using quant::Role;
using quant::TensorPlan;

const fs::path kDemo = fs::path(QDIFF_SOURCE_DIR) / "models/demo";

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

::onnx::ModelProto parse(const std::string& bytes) {
  ::onnx::ModelProto m;
  EXPECT_TRUE(m.ParseFromString(bytes));
  return m;
}

const ::onnx::TensorProto* find_init(const ::onnx::GraphProto& g, const std::string& name) {
  for (const auto& t : g.initializer())
    if (t.name() == name) return &t;
  return nullptr;
}

const ::onnx::NodeProto* find_node(const ::onnx::GraphProto& g, const std::string& name) {
  for (const auto& n : g.node())
    if (n.name() == name) return &n;
  return nullptr;
}

template <typename T>
std::vector<T> raw_values(const ::onnx::TensorProto& t) {
  std::vector<T> v(t.raw_data().size() / sizeof(T));
  std::memcpy(v.data(), t.raw_data().data(), v.size() * sizeof(T));
  return v;
}

// Float values of an initializer or Constant tensor (raw_data or float_data).
std::vector<float> float_values(const ::onnx::TensorProto& t) {
  if (!t.raw_data().empty()) return raw_values<float>(t);
  return {t.float_data().begin(), t.float_data().end()};
}

// The oracle's quantize: round half to even (nearbyint in the default FE mode), + zp, clamp.
int64_t hand_quantize(float x, float s, int64_t zp, int64_t qmin, int64_t qmax) {
  const double r = std::nearbyint(static_cast<double>(x / s)) + static_cast<double>(zp);
  return static_cast<int64_t>(std::min<double>(std::max<double>(r, qmin), qmax));
}
float hand_fake_quant(float x, float s, int64_t zp, int64_t qmin, int64_t qmax) {
  return static_cast<float>(hand_quantize(x, s, zp, qmin, qmax) - zp) * s;
}

// Per-element channel index for per-channel params along `axis` of `dims`.
std::vector<int64_t> channel_of(const std::vector<int64_t>& dims, int axis) {
  int64_t n = 1, inner = 1;
  for (int64_t d : dims) n *= d;
  if (axis < 0) return std::vector<int64_t>(static_cast<size_t>(n), 0);
  for (size_t d = static_cast<size_t>(axis) + 1; d < dims.size(); ++d) inner *= dims[d];
  std::vector<int64_t> c(static_cast<size_t>(n));
  for (int64_t k = 0; k < n; ++k)
    c[static_cast<size_t>(k)] = (k / inner) % dims[static_cast<size_t>(axis)];
  return c;
}

// Runs a model through qdiff's interpreter (reference kernels) and returns every value by name.
std::map<std::string, Tensor> run_all(const std::string& bytes, const std::vector<Tensor>& inputs) {
  std::map<std::string, Tensor> out;
  auto m = onnx::import_model_from_bytes(bytes, ".", "model.onnx");
  EXPECT_TRUE(m.ok()) << m.status().message();
  if (!m.ok()) return out;
  runtime::RunOptions ro;
  ro.use_fast = false;
  auto interp = runtime::Interpreter::create(m->graph, ro);
  EXPECT_TRUE(interp.ok()) << interp.status().message();
  if (!interp.ok()) return out;
  runtime::RecordingObserver rec;
  auto r = (*interp)->run(inputs, &rec);
  EXPECT_TRUE(r.ok()) << r.status().message();
  for (const auto& [id, ts] : rec.records()) out[m->graph.value(id).name] = ts.back();
  return out;
}

::testing::AssertionResult bit_equal(const Tensor& a, const Tensor& b) {
  if (a.dtype() != DType::kFloat32 || b.dtype() != DType::kFloat32 || a.shape() != b.shape())
    return ::testing::AssertionFailure()
           << "dtype/shape " << shape_to_string(a.shape()) << " vs " << shape_to_string(b.shape());
  const float* x = a.data<float>();
  const float* y = b.data<float>();
  for (int64_t k = 0; k < a.numel(); ++k)
    if (std::memcmp(&x[k], &y[k], sizeof(float)) != 0)
      return ::testing::AssertionFailure() << "element " << k << ": " << x[k] << " vs " << y[k];
  return ::testing::AssertionSuccess();
}

QuantParams per_tensor_u8(float scale, int32_t zp) {
  QuantParams p;
  p.bits = 8;
  p.is_signed = false;
  p.scales = {scale};
  p.zero_points = {zp};
  return p;
}

// Symmetric narrow int8 per output channel (axis 0): s_c = max|W_c| / 127.
QuantParams per_channel_s8(const std::vector<float>& w, const std::vector<int64_t>& dims) {
  QuantParams p;
  p.bits = 8;
  p.is_signed = true;
  p.symmetric = true;
  p.narrow_range = true;
  p.axis = 0;
  const auto ch = channel_of(dims, 0);
  std::vector<float> absmax(static_cast<size_t>(dims[0]), 0.0f);
  for (size_t k = 0; k < w.size(); ++k)
    absmax[static_cast<size_t>(ch[k])] =
        std::max(absmax[static_cast<size_t>(ch[k])], std::fabs(w[k]));
  for (float a : absmax) {
    p.scales.push_back(a > 0 ? a / 127.0f : 1.0f);
    p.zero_points.push_back(0);
  }
  return p;
}

// Builds the simulation model: float ops that fake-quantize every planned activation, weights
// and biases replaced (initializers or Constant values) by their hand fake-quant. Activation X
// gets X -> ... -> X_fq; readers of X read X_fq. A graph output X also gets X_fq as an extra
// graph output (readers of X are renamed all the same).
std::string build_simulation(const std::string& float_bytes, const QuantPlan& plan) {
  ::onnx::ModelProto m = parse(float_bytes);
  auto* g = m.mutable_graph();
  auto fq_tensor = [&](::onnx::TensorProto* t, const TensorPlan& tp) {
    const std::vector<float> w = float_values(*t);
    std::vector<int64_t> dims(t->dims().begin(), t->dims().end());
    const auto ch = channel_of(dims, tp.params.axis);
    std::vector<float> out(w.size());
    const int64_t qmin = tp.params.qmin(), qmax = tp.params.qmax();
    for (size_t k = 0; k < w.size(); ++k) {
      const size_t c = static_cast<size_t>(ch[k]);
      out[k] = hand_fake_quant(w[k], tp.params.scales[c], tp.params.zero_points[c], qmin, qmax);
    }
    t->clear_float_data();
    t->set_raw_data(std::string(reinterpret_cast<const char*>(out.data()), out.size() * 4));
  };
  std::map<std::string, std::string> renames;
  std::map<std::string, std::vector<::onnx::NodeProto>> chains;  // by producer output / input
  auto scalar = [&](const std::string& name, float v) {
    auto* t = g->add_initializer();
    t->set_name(name);
    t->set_data_type(::onnx::TensorProto::FLOAT);
    t->add_float_data(v);
  };
  for (const TensorPlan& tp : plan.tensors) {
    if (tp.role != Role::kActivation) {
      bool done = false;
      for (auto& t : *g->mutable_initializer())
        if (t.name() == tp.name) fq_tensor(&t, tp), done = true;
      for (auto& n : *g->mutable_node())
        if (n.op_type() == "Constant" && n.output(0) == tp.name)
          fq_tensor(n.mutable_attribute(0)->mutable_t(), tp), done = true;
      EXPECT_TRUE(done) << tp.name;
      continue;
    }
    const std::string x = tp.name, p = "sim/" + x;
    scalar(p + "/s", tp.params.scales[0]);
    scalar(p + "/zp", static_cast<float>(tp.params.zero_points[0]));
    scalar(p + "/qmin", static_cast<float>(tp.params.qmin()));
    scalar(p + "/qmax", static_cast<float>(tp.params.qmax()));
    auto node = [&](const std::string& op, std::vector<std::string> in, const std::string& out) {
      ::onnx::NodeProto n;
      n.set_op_type(op);
      n.set_name(out);
      for (auto& i : in) n.add_input(i);
      n.add_output(out);
      chains[x].push_back(n);
    };
    node("Div", {x, p + "/s"}, p + "/div");
    node("Round", {p + "/div"}, p + "/round");
    node("Add", {p + "/round", p + "/zp"}, p + "/add");
    node("Clip", {p + "/add", p + "/qmin", p + "/qmax"}, p + "/clip");
    node("Sub", {p + "/clip", p + "/zp"}, p + "/sub");
    node("Mul", {p + "/sub", p + "/s"}, x + "_fq");
    renames[x] = x + "_fq";
  }
  for (auto& n : *g->mutable_node())
    for (auto& i : *n.mutable_input())
      if (renames.count(i)) i = renames[i];
  std::vector<::onnx::NodeProto> nodes;
  for (const auto& in : g->input())
    if (chains.count(in.name()))
      nodes.insert(nodes.end(), chains[in.name()].begin(), chains[in.name()].end());
  for (const auto& n : g->node()) {
    nodes.push_back(n);
    for (const auto& o : n.output())
      if (chains.count(o)) nodes.insert(nodes.end(), chains[o].begin(), chains[o].end());
  }
  g->clear_node();
  for (auto& n : nodes) *g->add_node() = n;
  const int outs = g->output_size();
  for (int i = 0; i < outs; ++i)
    if (renames.count(g->output(i).name())) {
      ::onnx::ValueInfoProto extra = g->output(i);
      extra.set_name(extra.name() + "_fq");
      *g->add_output() = extra;
    }
  std::string bytes;
  m.SerializeToString(&bytes);
  return bytes;
}

// ---------------------------------------------------------------------------------------------
// Demo model: per-tensor uint8 activations, per-channel int8 weights, int32 biases.

struct DemoFixture : ::testing::Test {
  static void SetUpTestSuite() {
    float_bytes = new std::string(read_file(kDemo / "demo_folded.onnx"));
    auto samples = read_npy(kDemo / "samples.npy");
    ASSERT_TRUE(samples.ok()) << samples.status().message();
    std::vector<float> first(samples->data<float>(), samples->data<float>() + 28 * 28);
    input = new Tensor(Tensor::from_vector<float>({1, 1, 28, 28}, first));
    // Activation ranges from one float run; scale = (max - min) / 255 rounded to a short
    // decimal by hand (a plan is only data here), zp = round(-min / s).
    auto fl = run_all(*float_bytes, {*input});
    ::onnx::ModelProto m = parse(*float_bytes);
    plan = new QuantPlan();
    plan->model = "demo_folded.onnx";
    std::map<std::string, QuantParams> act;
    auto add_act = [&](const std::string& name) {
      const Tensor& t = fl.at(name);
      float lo = 0, hi = 0;
      for (float v : t.values<float>()) lo = std::min(lo, v), hi = std::max(hi, v);
      const float s = std::round((hi - lo) / 255.0f * 1e4f) / 1e4f + 1e-4f;
      const auto zp = static_cast<int32_t>(std::nearbyint(-lo / s));
      TensorPlan tp;
      tp.name = name;
      tp.params = per_tensor_u8(s, std::min(zp, 255));
      act[name] = tp.params;
      plan->tensors.push_back(tp);
    };
    add_act("input");
    for (const auto& n : m.graph().node()) {
      if (n.op_type() == "Constant") continue;
      add_act(n.output(0));
      if (n.op_type() != "Conv" && n.op_type() != "Gemm") continue;
      const auto* w = find_init(m.graph(), n.input(1));
      TensorPlan wp;
      wp.name = n.input(1);
      wp.role = Role::kWeight;
      wp.params = per_channel_s8(float_values(*w), {w->dims().begin(), w->dims().end()});
      plan->tensors.push_back(wp);
      TensorPlan bp;
      bp.name = n.input(2);
      bp.role = Role::kBias;
      auto b = quant::bias_params(act.at(n.input(0)), wp.params);
      ASSERT_TRUE(b.ok());
      bp.params = *b;
      plan->tensors.push_back(bp);
    }
  }
  static void TearDownTestSuite() {
    delete float_bytes;
    delete input;
    delete plan;
  }
  static std::string* float_bytes;
  static Tensor* input;
  static QuantPlan* plan;
};
std::string* DemoFixture::float_bytes = nullptr;
Tensor* DemoFixture::input = nullptr;
QuantPlan* DemoFixture::plan = nullptr;

TEST_F(DemoFixture, StructureCheckerAndImport) {
  auto q = export_qdq_to_bytes(*float_bytes, kDemo, "demo_folded.onnx", *plan);
  ASSERT_TRUE(q.ok()) << q.status().message();
  ::onnx::ModelProto m = parse(*q);
  EXPECT_NO_THROW(::onnx::checker::check_model(m));
  auto imported = onnx::import_model_from_bytes(*q, kDemo, "q.onnx");
  ASSERT_TRUE(imported.ok()) << imported.status().message();
  const auto& g = m.graph();
  EXPECT_EQ(m.opset_import(0).version(), 13);

  // Activation pairs, as ORT names them.
  const auto* q1 = find_node(g, "/stem/act/Clip_output_0_QuantizeLinear");
  const auto* d1 = find_node(g, "/stem/act/Clip_output_0_DequantizeLinear");
  ASSERT_TRUE(q1 && d1);
  EXPECT_EQ(q1->input(0), "/stem/act/Clip_output_0");
  EXPECT_EQ(q1->input(1), "/stem/act/Clip_output_0_scale");
  EXPECT_EQ(q1->input(2), "/stem/act/Clip_output_0_zero_point");
  EXPECT_EQ(q1->output(0), "/stem/act/Clip_output_0_QuantizeLinear_Output");
  EXPECT_EQ(d1->input(0), "/stem/act/Clip_output_0_QuantizeLinear_Output");
  EXPECT_EQ(d1->output(0), "/stem/act/Clip_output_0_DequantizeLinear_Output");
  const auto* zp = find_init(g, "/stem/act/Clip_output_0_zero_point");
  ASSERT_TRUE(zp);
  EXPECT_EQ(zp->data_type(), ::onnx::TensorProto::UINT8);
  EXPECT_EQ(zp->dims_size(), 0);
  // The next Conv reads the DQ output, its weight's DQ output and the bias name (DQ output).
  const auto* conv = find_node(g, "/block1/dw/conv/Conv");
  ASSERT_TRUE(conv);
  EXPECT_EQ(conv->input(0), "/stem/act/Clip_output_0_DequantizeLinear_Output");
  EXPECT_EQ(conv->input(1), "block1.dw.conv.weight_DequantizeLinear_Output");
  EXPECT_EQ(conv->input(2), "block1.dw.conv.bias");
  const auto* wdq = find_node(g, "block1.dw.conv.weight_DequantizeLinear");
  ASSERT_TRUE(wdq);
  EXPECT_EQ(wdq->input(0), "block1.dw.conv.weight_quantized");
  ASSERT_EQ(wdq->attribute_size(), 1);
  EXPECT_EQ(wdq->attribute(0).name(), "axis");
  EXPECT_EQ(wdq->attribute(0).i(), 0);
  const auto* bdq = find_node(g, "block1.dw.conv.bias_DequantizeLinear");
  ASSERT_TRUE(bdq);
  EXPECT_EQ(bdq->input(0), "block1.dw.conv.bias_quantized");
  EXPECT_EQ(bdq->input(1), "block1.dw.conv.bias_quantized_scale");
  EXPECT_EQ(bdq->output(0), "block1.dw.conv.bias");
  // Float weights and biases are gone.
  EXPECT_EQ(find_init(g, "block1.dw.conv.weight"), nullptr);
  EXPECT_EQ(find_init(g, "block1.dw.conv.bias"), nullptr);
  // The quantized graph output keeps its name: Gemm writes logits_QuantizeLinear_Input.
  ASSERT_EQ(g.output_size(), 1);
  EXPECT_EQ(g.output(0).name(), "logits");
  const auto* gemm = find_node(g, "/classifier/Gemm");
  ASSERT_TRUE(gemm);
  EXPECT_EQ(gemm->output(0), "logits_QuantizeLinear_Input");
  EXPECT_EQ(find_node(g, "logits_DequantizeLinear")->output(0), "logits");
}

TEST_F(DemoFixture, IntegerWeightsAndBiasesMatchHandQuantization) {
  auto q = export_qdq_to_bytes(*float_bytes, kDemo, "demo_folded.onnx", *plan);
  ASSERT_TRUE(q.ok()) << q.status().message();
  ::onnx::ModelProto fm = parse(*float_bytes), qm = parse(*q);
  int weights = 0, biases = 0;
  for (const TensorPlan& tp : plan->tensors) {
    if (tp.role == Role::kActivation) continue;
    const auto* f = find_init(fm.graph(), tp.name);
    const auto* qi = find_init(qm.graph(), tp.name + "_quantized");
    ASSERT_TRUE(f && qi) << tp.name;
    std::vector<int64_t> dims(f->dims().begin(), f->dims().end());
    EXPECT_EQ(std::vector<int64_t>(qi->dims().begin(), qi->dims().end()), dims);
    const std::vector<float> w = float_values(*f);
    const auto ch = channel_of(dims, tp.params.axis);
    const bool bias = tp.role == Role::kBias;
    const auto* sc = find_init(qm.graph(), tp.name + (bias ? "_quantized_scale" : "_scale"));
    ASSERT_TRUE(sc);
    EXPECT_EQ(raw_values<float>(*sc), tp.params.scales);
    if (bias) {
      ++biases;
      ASSERT_EQ(qi->data_type(), ::onnx::TensorProto::INT32);
      const auto v = raw_values<int32_t>(*qi);
      ASSERT_EQ(v.size(), w.size());
      for (size_t k = 0; k < w.size(); ++k)
        ASSERT_EQ(v[k], hand_quantize(w[k], tp.params.scales[static_cast<size_t>(ch[k])], 0,
                                      INT32_MIN, INT32_MAX))
            << tp.name << "[" << k << "]";
    } else {
      ++weights;
      ASSERT_EQ(qi->data_type(), ::onnx::TensorProto::INT8);
      const auto v = raw_values<int8_t>(*qi);
      ASSERT_EQ(v.size(), w.size());
      int nonzero = 0;
      for (size_t k = 0; k < w.size(); ++k) {
        ASSERT_EQ(v[k],
                  hand_quantize(w[k], tp.params.scales[static_cast<size_t>(ch[k])], 0, -127, 127))
            << tp.name << "[" << k << "]";
        nonzero += v[k] != 0;
      }
      EXPECT_GT(nonzero, 0);
      // Symmetric per channel: every channel reaches +-127 somewhere.
      EXPECT_NE(std::find_if(v.begin(), v.end(), [](int8_t x) { return x == 127 || x == -127; }),
                v.end());
    }
  }
  EXPECT_EQ(weights, 13);
  EXPECT_EQ(biases, 13);
}

TEST_F(DemoFixture, RunMatchesIndependentFakeQuantSimulation) {
  auto q = export_qdq_to_bytes(*float_bytes, kDemo, "demo_folded.onnx", *plan);
  ASSERT_TRUE(q.ok()) << q.status().message();
  const std::string sim = build_simulation(*float_bytes, *plan);
  auto qv = run_all(*q, {*input});
  auto sv = run_all(sim, {*input});
  auto fv = run_all(*float_bytes, {*input});
  int checked = 0, differs_from_float = 0;
  for (const TensorPlan& tp : plan->tensors) {
    if (tp.role != Role::kActivation) continue;
    const std::string& x = tp.name;
    const bool out = x == "logits";
    const std::string pre = out ? "logits_QuantizeLinear_Input" : x;
    const std::string dq = out ? "logits" : x + "_DequantizeLinear_Output";
    ASSERT_TRUE(qv.count(pre) && qv.count(dq) && sv.count(x) && sv.count(x + "_fq")) << x;
    EXPECT_TRUE(bit_equal(qv.at(pre), sv.at(x))) << x;
    EXPECT_TRUE(bit_equal(qv.at(dq), sv.at(x + "_fq"))) << x;
    differs_from_float += !bit_equal(qv.at(dq), fv.at(x));
    ++checked;
  }
  EXPECT_EQ(checked, 30);
  EXPECT_GT(differs_from_float, 25);  // quantization really happened
}

TEST_F(DemoFixture, DeterministicBytesAndFileApi) {
  auto a = export_qdq_to_bytes(*float_bytes, kDemo, "demo_folded.onnx", *plan);
  auto b = export_qdq_to_bytes(*float_bytes, kDemo, "demo_folded.onnx", *plan);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(*a, *b);
  const fs::path out =
      fs::temp_directory_path() / ("qdiff_export_test_" + std::to_string(::getpid()) + ".onnx");
  ASSERT_TRUE(export_qdq(kDemo / "demo_folded.onnx", *plan, out).ok());
  EXPECT_EQ(read_file(out), *a);
  auto imported = onnx::import_model(out);
  EXPECT_TRUE(imported.ok()) << imported.status().message();
  fs::remove(out);
}

TEST_F(DemoFixture, WriteForOnnxRuntimeIfAsked) {
  const char* dir = std::getenv("QDIFF_EXPORT_TEST_OUT");
  if (!dir) GTEST_SKIP() << "set QDIFF_EXPORT_TEST_OUT=DIR to write the exported model";
  ASSERT_TRUE(export_qdq(kDemo / "demo_folded.onnx", *plan, fs::path(dir) / "demo_qdq.onnx").ok());
  ASSERT_TRUE(write_npy(fs::path(dir) / "demo_input.npy", *input).ok());
}

// ---------------------------------------------------------------------------------------------
// Opset 11 model whose weights are Constant nodes (as PP-OCRv4 det): Conv(X, W, B) -> Relu -> Z.

::onnx::TensorProto float_tensor(const std::vector<int64_t>& dims, const std::vector<float>& v) {
  ::onnx::TensorProto t;
  t.set_data_type(::onnx::TensorProto::FLOAT);
  for (int64_t d : dims) t.add_dims(d);
  for (float x : v) t.add_float_data(x);
  return t;
}

void add_value(::onnx::ValueInfoProto* vi, const std::string& name,
               const std::vector<int64_t>& dims) {
  vi->set_name(name);
  auto* tt = vi->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(::onnx::TensorProto::FLOAT);
  for (int64_t d : dims) tt->mutable_shape()->add_dim()->set_dim_value(d);
}

struct SmallModel {
  std::string bytes;
  std::vector<float> w, b;
};

SmallModel constant_weight_model() {
  SmallModel s;
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  for (int i = 0; i < 3 * 2 * 3 * 3; ++i)
    s.w.push_back(u(rng) * (1.0f + static_cast<float>(i / 18)));
  for (int i = 0; i < 3; ++i) s.b.push_back(u(rng));
  ::onnx::ModelProto m;
  m.set_ir_version(6);
  m.add_opset_import()->set_version(11);
  auto* g = m.mutable_graph();
  g->set_name("small");
  add_value(g->add_input(), "X", {1, 2, 5, 5});
  add_value(g->add_output(), "Z", {1, 3, 3, 3});
  auto constant = [&](const std::string& name, const ::onnx::TensorProto& t) {
    auto* n = g->add_node();
    n->set_op_type("Constant");
    n->set_name(name + "_const");
    n->add_output(name);
    auto* a = n->add_attribute();
    a->set_name("value");
    a->set_type(::onnx::AttributeProto::TENSOR);
    *a->mutable_t() = t;
  };
  constant("W", float_tensor({3, 2, 3, 3}, s.w));
  constant("B", float_tensor({3}, s.b));
  auto* conv = g->add_node();
  conv->set_op_type("Conv");
  conv->set_name("conv");
  for (const char* i : {"X", "W", "B"}) conv->add_input(i);
  conv->add_output("Y");
  auto* relu = g->add_node();
  relu->set_op_type("Relu");
  relu->set_name("relu");
  relu->add_input("Y");
  relu->add_output("Z");
  m.SerializeToString(&s.bytes);
  return s;
}

QuantPlan constant_weight_plan(const SmallModel& s, int act_bits = 8) {
  QuantPlan plan;
  TensorPlan x, w, b, z;
  x.name = "X";
  x.params = per_tensor_u8(1.0f / 128, 128);
  if (act_bits == 16) x.params = {16, false, false, false, {1.0f / 32768}, {32768}, -1};
  w.name = "W";
  w.role = Role::kWeight;
  w.params = per_channel_s8(s.w, {3, 2, 3, 3});
  b.name = "B";
  b.role = Role::kBias;
  b.params = quant::bias_params(x.params, w.params).value();
  z.name = "Z";
  z.params = per_tensor_u8(0.03f, 0);
  plan.tensors = {x, w, b, z};
  return plan;
}

TEST(ConstantWeights, Opset11UpgradedTo13) {
  const SmallModel s = constant_weight_model();
  const QuantPlan plan = constant_weight_plan(s);
  auto q = export_qdq_to_bytes(s.bytes, ".", "small.onnx", plan);
  ASSERT_TRUE(q.ok()) << q.status().message();
  ::onnx::ModelProto m = parse(*q);
  EXPECT_NO_THROW(::onnx::checker::check_model(m));
  ASSERT_EQ(m.opset_import_size(), 1);
  EXPECT_EQ(m.opset_import(0).version(), 13);
  for (const auto& n : m.graph().node()) EXPECT_NE(n.op_type(), "Constant") << n.name();
  const auto* wq = find_init(m.graph(), "W_quantized");
  ASSERT_TRUE(wq);
  const auto v = raw_values<int8_t>(*wq);
  const auto ch = channel_of({3, 2, 3, 3}, 0);
  ASSERT_EQ(v.size(), s.w.size());
  for (size_t k = 0; k < v.size(); ++k)
    EXPECT_EQ(v[k], hand_quantize(s.w[k], plan.tensors[1].params.scales[static_cast<size_t>(ch[k])],
                                  0, -127, 127));
  // Runs in qdiff and matches the simulation (Constant values replaced by their fake-quant).
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> u(-1.2f, 1.2f);
  std::vector<float> xv(50);
  for (float& f : xv) f = u(rng);
  const Tensor x = Tensor::from_vector<float>({1, 2, 5, 5}, xv);
  auto qv = run_all(*q, {x});
  auto sv = run_all(build_simulation(s.bytes, plan), {x});
  ASSERT_TRUE(qv.count("Z") && sv.count("Z_fq"));
  EXPECT_TRUE(bit_equal(qv.at("Z"), sv.at("Z_fq")));
  EXPECT_TRUE(bit_equal(qv.at("Z_QuantizeLinear_Input"), sv.at("Z")));
  EXPECT_TRUE(bit_equal(qv.at("W_DequantizeLinear_Output"), sv.at("W")));
  EXPECT_TRUE(bit_equal(qv.at("B"), sv.at("B")));
}

TEST(ConstantWeights, ContribOpsKeepOpset11) {
  const SmallModel s = constant_weight_model();
  ExportOptions o;
  o.opset_policy = OpsetPolicy::kContribOps;
  auto q = export_qdq_to_bytes(s.bytes, ".", "small.onnx", constant_weight_plan(s), o);
  ASSERT_TRUE(q.ok()) << q.status().message();
  ::onnx::ModelProto m = parse(*q);
  EXPECT_NO_THROW(::onnx::checker::check_model(m));
  std::map<std::string, int64_t> opsets;
  for (const auto& op : m.opset_import()) opsets[op.domain()] = op.version();
  EXPECT_EQ(opsets[""], 11);
  EXPECT_EQ(opsets["com.microsoft"], 1);
  int qdq = 0;
  for (const auto& n : m.graph().node())
    if (n.op_type() == "QuantizeLinear" || n.op_type() == "DequantizeLinear") {
      EXPECT_EQ(n.domain(), "com.microsoft") << n.name();
      ++qdq;
    }
  EXPECT_EQ(qdq, 6);  // X and Z pairs, W and B dequantizers
  EXPECT_TRUE(onnx::import_model_from_bytes(*q, ".", "q.onnx").ok());
}

TEST(ConstantWeights, SixteenBitActivationsUseContribDomainBelowOpset21) {
  const SmallModel s = constant_weight_model();
  auto q = export_qdq_to_bytes(s.bytes, ".", "small.onnx", constant_weight_plan(s, 16));
  ASSERT_TRUE(q.ok()) << q.status().message();
  ::onnx::ModelProto m = parse(*q);
  EXPECT_NO_THROW(::onnx::checker::check_model(m));
  const auto* zp = find_init(m.graph(), "X_zero_point");
  ASSERT_TRUE(zp);
  EXPECT_EQ(zp->data_type(), ::onnx::TensorProto::UINT16);
  EXPECT_EQ(raw_values<uint16_t>(*zp), std::vector<uint16_t>{32768});
  for (const auto& n : m.graph().node()) {
    if (n.op_type() == "QuantizeLinear" || n.op_type() == "DequantizeLinear") {
      EXPECT_EQ(n.domain(), "com.microsoft") << n.name();
    }
  }
}

TEST(ConstantWeights, PpOcrDet) {
  const fs::path det = fs::path(QDIFF_SOURCE_DIR) / "third_party/models/ppocr/det.onnx";
  if (!fs::exists(det)) GTEST_SKIP() << det << " not installed (scripts/install-deps.sh)";
  const std::string bytes = read_file(det);
  ::onnx::ModelProto fm = parse(bytes);
  std::map<std::string, const ::onnx::TensorProto*> constants;
  for (const auto& n : fm.graph().node())
    if (n.op_type() == "Constant") constants[n.output(0)] = &n.attribute(0).t();
  QuantPlan plan;
  TensorPlan x;
  x.name = fm.graph().input(0).name();
  x.params = per_tensor_u8(0.02f, 120);
  plan.tensors.push_back(x);
  for (const auto& n : fm.graph().node()) {
    if (n.op_type() != "Conv" || !constants.count(n.input(1))) continue;
    const auto* w = constants[n.input(1)];
    TensorPlan wp;
    wp.name = n.input(1);
    wp.role = Role::kWeight;
    wp.params = per_channel_s8(float_values(*w), {w->dims().begin(), w->dims().end()});
    plan.tensors.push_back(wp);
  }
  ASSERT_GT(plan.tensors.size(), 50u);
  auto q = export_qdq_to_bytes(bytes, det.parent_path(), det.string(), plan);
  ASSERT_TRUE(q.ok()) << q.status().message();
  ::onnx::ModelProto m = parse(*q);
  EXPECT_NO_THROW(::onnx::checker::check_model(m));
  EXPECT_EQ(m.opset_import(0).version(), 13);
  auto imported = onnx::import_model_from_bytes(*q, det.parent_path(), "det_qdq.onnx");
  EXPECT_TRUE(imported.ok()) << imported.status().message();
}

// ---------------------------------------------------------------------------------------------
// Errors name the tensor.

Status export_status(const QuantPlan& plan) {
  const SmallModel s = constant_weight_model();
  return export_qdq_to_bytes(s.bytes, ".", "small.onnx", plan).status();
}

TEST(Errors, FourBitActivation) {
  QuantPlan plan = constant_weight_plan(constant_weight_model());
  plan.tensors[3].params = {4, false, false, false, {0.5f}, {0}, -1};
  Status st = export_status(plan);
  EXPECT_EQ(st.code(), ErrorCode::kUnsupported);
  EXPECT_NE(st.message().find("plan tensor 'Z'"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("4 bits"), std::string::npos) << st.message();
}

TEST(Errors, DynamicEntry) {
  QuantPlan plan = constant_weight_plan(constant_weight_model());
  plan.tensors[0].dynamic = true;
  Status st = export_status(plan);
  EXPECT_EQ(st.code(), ErrorCode::kUnsupported);
  EXPECT_NE(st.message().find("plan tensor 'X'"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("DynamicQuantizeLinear"), std::string::npos) << st.message();
}

TEST(Errors, ActivationRoundingOtherThanHalfToEven) {
  QuantPlan plan = constant_weight_plan(constant_weight_model());
  plan.tensors[3].rounding = RoundingMode::kHalfAwayFromZero;
  Status st = export_status(plan);
  EXPECT_EQ(st.code(), ErrorCode::kUnsupported);
  EXPECT_NE(st.message().find("plan tensor 'Z'"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("half_away_from_zero"), std::string::npos) << st.message();
  // A weight may use any mode: it is quantized offline.
  plan.tensors[3].rounding = RoundingMode::kHalfToEven;
  plan.tensors[1].rounding = RoundingMode::kFloor;
  EXPECT_TRUE(export_status(plan).ok());
}

TEST(Errors, MissingTensorAndWrongRoles) {
  QuantPlan plan = constant_weight_plan(constant_weight_model());
  plan.tensors[3].name = "nope";
  Status st = export_status(plan);
  EXPECT_EQ(st.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(st.message().find("plan tensor 'nope': the model has no tensor"), std::string::npos)
      << st.message();
  plan = constant_weight_plan(constant_weight_model());
  plan.tensors[3].role = Role::kWeight;  // Z is a Relu output
  st = export_status(plan);
  EXPECT_EQ(st.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(st.message().find("plan tensor 'Z'"), std::string::npos) << st.message();
}

TEST(Errors, FloorRoundedWeightIsStoredFloorRounded) {
  const SmallModel s = constant_weight_model();
  QuantPlan plan = constant_weight_plan(s);
  plan.tensors[1].rounding = RoundingMode::kFloor;
  auto q = export_qdq_to_bytes(s.bytes, ".", "small.onnx", plan);
  ASSERT_TRUE(q.ok()) << q.status().message();
  const auto v = raw_values<int8_t>(*find_init(parse(*q).graph(), "W_quantized"));
  const auto ch = channel_of({3, 2, 3, 3}, 0);
  for (size_t k = 0; k < v.size(); ++k) {
    const float sc = plan.tensors[1].params.scales[static_cast<size_t>(ch[k])];
    EXPECT_EQ(v[k], std::clamp<int64_t>(static_cast<int64_t>(std::floor(s.w[k] / sc)), -127, 127));
  }
}

// Hand check with ONNX Runtime (tests/oracle/ort_dump.js): QDIFF_EXPORT_TEST_OUT=DIR writes the
// exported models of this file there. Nothing is written otherwise.
TEST(ForOnnxRuntime, WriteExportedModelsIfAsked) {
  const char* dir = std::getenv("QDIFF_EXPORT_TEST_OUT");
  if (!dir) GTEST_SKIP() << "set QDIFF_EXPORT_TEST_OUT=DIR to write the exported models";
  auto write = [&](const std::string& name, const std::string& bytes) {
    std::ofstream(fs::path(dir) / name, std::ios::binary) << bytes;
  };
  const SmallModel s = constant_weight_model();
  write("small_float.onnx", s.bytes);
  auto a = export_qdq_to_bytes(s.bytes, ".", "small.onnx", constant_weight_plan(s));
  auto b = export_qdq_to_bytes(s.bytes, ".", "small.onnx", constant_weight_plan(s, 16));
  ExportOptions o;
  o.opset_policy = OpsetPolicy::kContribOps;
  auto c = export_qdq_to_bytes(s.bytes, ".", "small.onnx", constant_weight_plan(s), o);
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  write("small_qdq_opset13.onnx", *a);
  write("small_qdq_16bit.onnx", *b);
  write("small_qdq_contrib.onnx", *c);
}
}  // namespace
}  // namespace qdiff::exporter
