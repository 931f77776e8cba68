// Round trips of a plan through the formats qdiff writes: plan -> QDQ ONNX -> import -> plan,
// and plan -> encodings JSON (1.0.0, 0.6.1) -> import -> plan, on the demo model with plans
// calibrated for several targets and precisions.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "encodings/encodings.h"
#include "export/qdq_export.h"
#include "onnx/importer.h"
#include "qdq/qdq_import.h"
#include "quant/calibrate.h"
#include "runtime/samples.h"

namespace qdiff {

void PrintTo(const QuantParams& p, std::ostream* os) {
  *os << "{bits " << p.bits << (p.is_signed ? " signed" : " unsigned")
      << (p.symmetric ? " symmetric" : "") << (p.narrow_range ? " narrow" : "") << " axis "
      << p.axis << " scales[" << p.scales.size() << "] " << (p.scales.empty() ? 0.f : p.scales[0])
      << " zp " << (p.zero_points.empty() ? 0 : p.zero_points[0]) << "}";
}

namespace quant {
void PrintTo(const NodePlan& n, std::ostream* os) {
  *os << "{" << n.name << " " << precision_name(n.precision) << " unit " << n.unit << "}";
}
}  // namespace quant

namespace {

const std::string kModel = std::string(QDIFF_SOURCE_DIR) + "/models/demo/demo_folded.onnx";
const std::string kSamples = std::string(QDIFF_SOURCE_DIR) + "/models/demo/samples.npy";

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

quant::QuantPlan calibrated(const ir::Graph& g, const std::string& target, bool per_channel,
                            const std::map<std::string, quant::Precision>& precision = {}) {
  quant::CalibrationOptions o;
  o.scheme = quant::scheme_for_target(target).value();
  o.scheme.per_channel_weights = per_channel;
  o.precision = precision;
  o.max_samples = 20;
  auto reader = runtime::SampleReader::open(g, {kSamples});
  EXPECT_TRUE(reader.ok());
  auto r = quant::calibrate(g, reader.value(), o);
  EXPECT_TRUE(r.ok()) << r.status().message();
  return r.value().plan;
}

// The same grid of real values: scale * (q - zp) for q in [qmin, qmax], channel by channel.
// Encodings have no signed asymmetric format: such a tensor is written as the unsigned grid
// with zero point + 2^(bits-1), which holds exactly the same values.
bool same_grid(const QuantParams& a, const QuantParams& b) {
  if (a.bits != b.bits || a.axis != b.axis || a.scales != b.scales ||
      a.zero_points.size() != b.zero_points.size())
    return false;
  for (size_t c = 0; c < a.zero_points.size(); ++c)
    if (a.qmin() - a.zero_points[c] != b.qmin() - b.zero_points[c] ||
        a.qmax() - a.zero_points[c] != b.qmax() - b.zero_points[c])
      return false;
  return true;
}

// The plans agree on everything that decides a number: roles, formats, scales, zero points,
// axes, rounding, dynamic flags, units and precisions. `weight_narrow_free`: QDQ stores weights
// as integers and cannot say whether their grid was narrow, so for weights whose integers
// never reach qmin narrow_range may differ (the integers are identical either way).
// `grid_only`: encodings, where a signed asymmetric tensor comes back as the same unsigned grid.
void expect_same(const quant::QuantPlan& want, const quant::QuantPlan& got, bool weight_narrow_free,
                 bool compare_nodes, bool grid_only = false) {
  ASSERT_EQ(want.tensors.size(), got.tensors.size());
  for (const quant::TensorPlan& w : want.tensors) {
    SCOPED_TRACE(w.name);
    const quant::TensorPlan* g = got.find(w.name);
    ASSERT_NE(g, nullptr);
    EXPECT_EQ(w.role, g->role);
    EXPECT_EQ(w.rounding, g->rounding);
    EXPECT_EQ(w.dynamic, g->dynamic);
    QuantParams a = w.params, b = g->params;
    if (weight_narrow_free && w.role == quant::Role::kWeight) a.narrow_range = b.narrow_range;
    if (grid_only && !a.symmetric && a.is_signed && !b.is_signed) {
      EXPECT_TRUE(same_grid(a, b))
          << ::testing::PrintToString(a) << " vs " << ::testing::PrintToString(b);
      continue;
    }
    EXPECT_EQ(a, b);
  }
  if (!compare_nodes) return;
  ASSERT_EQ(want.nodes.size(), got.nodes.size());
  for (size_t i = 0; i < want.nodes.size(); ++i) {
    SCOPED_TRACE(want.nodes[i].name);
    EXPECT_EQ(want.nodes[i], got.nodes[i]);
  }
}

struct Case {
  const char* target;
  bool per_channel;
  bool int16;
};

class RoundTrip : public ::testing::TestWithParam<Case> {};

TEST_P(RoundTrip, QdqAndEncodings) {
  auto model = onnx::import_model(kModel);
  ASSERT_TRUE(model.ok()) << model.status().message();
  const ir::Graph& g = model.value().graph;
  std::map<std::string, quant::Precision> precision;
  if (GetParam().int16)  // as calibrate --activation-bits 16
    for (const ir::Node& n : g.nodes()) precision[n.name] = quant::Precision::kInt16;
  const quant::QuantPlan plan = calibrated(g, GetParam().target, GetParam().per_channel, precision);
  ASSERT_FALSE(plan.tensors.empty());

  // QDQ.
  auto bytes =
      exporter::export_qdq_to_bytes(read_file(kModel), QDIFF_SOURCE_DIR, "demo.onnx", plan);
  ASSERT_TRUE(bytes.ok()) << bytes.status().message();
  auto q = onnx::import_model_from_bytes(bytes.value(), QDIFF_SOURCE_DIR, "q.onnx");
  ASSERT_TRUE(q.ok()) << q.status().message();
  auto imported = qdq::import_quantized(q.value().graph, "q.onnx");
  ASSERT_TRUE(imported.ok()) << imported.status().message();
  auto mapped = qdq::map_plan(imported.value().plan, imported.value().float_graph, g);
  ASSERT_TRUE(mapped.ok()) << mapped.status().message();
  EXPECT_TRUE(mapped.value().unmatched.empty()) << mapped.value().unmatched[0];
  {
    SCOPED_TRACE("QDQ");
    expect_same(plan, mapped.value().plan, true, true);
  }

  // Encodings.
  for (auto v : {encodings::EncodingsVersion::k1_0_0, encodings::EncodingsVersion::k0_6_1}) {
    SCOPED_TRACE(v == encodings::EncodingsVersion::k1_0_0 ? "encodings 1.0.0" : "0.6.1");
    auto text = encodings::export_encodings(plan, g, v);
    ASSERT_TRUE(text.ok()) << text.status().message();
    std::vector<std::string> notes;
    auto back = encodings::import_encodings(text.value(), "e.json", g, &notes);
    ASSERT_TRUE(back.ok()) << back.status().message();
    expect_same(plan, back.value(), false, false, true);
  }
}

INSTANTIATE_TEST_SUITE_P(Targets, RoundTrip,
                         ::testing::Values(Case{"ort-cpu", true, false},
                                           Case{"ort-cpu", false, false},
                                           Case{"tflite-int8", true, false},
                                           Case{"tensorrt-int8", true, false},
                                           Case{"ort-cpu", true, true}));

}  // namespace
}  // namespace qdiff
