// Activation fusion (a Relu/Clip computed inside the fast Conv before it): outputs and every
// tapped tensor are bit-identical to the unfused run (NaN and -0 included), at any thread
// count, and a Conv output an observer wants is never fused away.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <map>
#include <random>
#include <set>

#include "runtime/graph_builder_test_util.h"
#include "runtime/interpreter.h"
#include "testing/test_util.h"

namespace qdiff::runtime {
namespace {

using graph_testing::bit_equal;
using graph_testing::random_f32;

// Records the tensors of the selected values (all when `all`).
class Recorder : public Observer {
 public:
  explicit Recorder(std::set<ir::ValueId> sel = {}, bool all = true)
      : sel_(std::move(sel)), all_(all) {}
  bool wants(ir::ValueId id) const override { return all_ || sel_.count(id) > 0; }
  Status observe(ir::ValueId id, const Tensor& value) override {
    EXPECT_TRUE(wants(id));
    EXPECT_TRUE(value.is_plain());
    order.push_back(id);
    seen[id] = value;
    return Status::ok_status();
  }
  std::map<ir::ValueId, Tensor> seen;
  std::vector<ir::ValueId> order;

 private:
  std::set<ir::ValueId> sel_;
  bool all_;
};

// x -> conv1 (3x3, bias) -> c1 -> Relu -> r -> dw conv (no bias) -> c2 -> Clip(0, 6) -> k
//   (6 from a Constant node)
//   -> conv3 (1x1) -> c3 -> Clip(-0.5, 0.75) (opset 6 attributes) -> y
// k -> conv4 -> c4 (graph output) -> Relu -> q (graph output)
// r -> conv5 -> c5 read twice: Relu -> a, Add(c5, a) -> z
struct Net {
  ir::Graph g;
  ir::ValueId x, c1, r, c2, k, c3, y, c4, q, c5, a, z;
};

Net make_net(std::mt19937& rng) {
  Net c;
  ir::Graph& g = c.g;
  const graph_testing::GraphBuilder b(g);
  const int64_t ch = 24;
  c.x = b.value("x");
  g.value(c.x).type.dtype = DType::kFloat32;
  // Large weights so that Clip(0, 6) clips on both sides.
  const ir::ValueId w1 = b.value("w1", random_f32(rng, {ch, 8, 3, 3}, 2.0f));
  const ir::ValueId b1 = b.value("b1", random_f32(rng, {ch}));
  const ir::ValueId w2 = b.value("w2", random_f32(rng, {ch, 1, 3, 3}, 3.0f));
  const ir::ValueId w3 = b.value("w3", random_f32(rng, {16, ch, 1, 1}));
  const ir::ValueId w4 = b.value("w4", random_f32(rng, {8, ch, 1, 1}));
  const ir::ValueId w5 = b.value("w5", random_f32(rng, {ch, ch, 1, 1}));
  const ir::ValueId zero = b.value("zero", Tensor::scalar_f32(0.0f));
  const ir::ValueId six = b.value("six");  // from a Constant node, as exporters write it
  c.c1 = b.value("c1"), c.r = b.value("r"), c.c2 = b.value("c2"), c.k = b.value("k");
  c.c3 = b.value("c3"), c.y = b.value("y"), c.c4 = b.value("c4"), c.q = b.value("q");
  c.c5 = b.value("c5"), c.a = b.value("a"), c.z = b.value("z");
  g.inputs = {c.x};
  g.outputs = {c.y, c.c4, c.q, c.z};
  Attributes conv3;
  conv3.set("kernel_shape", std::vector<int64_t>{3, 3});
  conv3.set("pads", std::vector<int64_t>{1, 1, 1, 1});
  Attributes dw = conv3;
  dw.set("group", ch);
  Attributes clip6;
  clip6.set("min", -0.5f);
  clip6.set("max", 0.75f);
  Attributes six_value;
  six_value.set("value", Tensor::scalar_f32(6.0f));
  b.node("six", ir::OpKind::kConstant, {}, six, six_value);
  b.node("conv1", ir::OpKind::kConv, {c.x, w1, b1}, c.c1, conv3);
  b.node("relu1", ir::OpKind::kRelu, {c.c1}, c.r);
  b.node("dw", ir::OpKind::kConv, {c.r, w2}, c.c2, dw);
  b.node("clip2", ir::OpKind::kClip, {c.c2, zero, six}, c.k);
  b.node("conv3", ir::OpKind::kConv, {c.k, w3}, c.c3);
  b.node("clip3", ir::OpKind::kClip, {c.c3}, c.y, clip6, 6);
  b.node("conv4", ir::OpKind::kConv, {c.k, w4}, c.c4);
  b.node("relu4", ir::OpKind::kRelu, {c.c4}, c.q);
  b.node("conv5", ir::OpKind::kConv, {c.r, w5}, c.c5);
  b.node("relu5", ir::OpKind::kRelu, {c.c5}, c.a);
  b.node("add5", ir::OpKind::kAdd, {c.c5, c.a}, c.z);
  return c;
}

// An input with NaNs, and an all-zero corner (the bias-free convolutions' -0 candidates).
Tensor make_input(std::mt19937& rng) {
  // Large enough for the fused activations to split over 2 threads (>= 64K elements).
  constexpr int64_t kH = 40, kW = 46;
  Tensor x = random_f32(rng, {2, 8, kH, kW});
  float* d = x.mutable_data<float>();
  for (int64_t i = 0; i < x.numel(); i += 997) d[i] = std::numeric_limits<float>::quiet_NaN();
  for (int64_t n = 0; n < 2; ++n)
    for (int64_t ch = 0; ch < 8; ++ch)
      for (int64_t h = kH / 2; h < kH; ++h)
        for (int64_t w = kW / 2; w < kW; ++w) d[((n * 8 + ch) * kH + h) * kW + w] = 0.0f;
  return x;
}

TEST(Fusion, BitIdenticalWithAndWithoutTaps) {
  std::mt19937 rng(11);
  Net c = make_net(rng);
  ASSERT_TRUE(c.g.verify().ok());
  const std::vector<Tensor> in = {make_input(rng)};
  // Baseline: an observer that wants everything, so nothing fuses.
  auto base = Interpreter::create(c.g, RunOptions());
  ASSERT_TRUE(base.ok());
  Recorder all;
  auto want = (*base)->run(in, &all);
  ASSERT_TRUE(want.ok()) << want.status().message();
  EXPECT_EQ((*base)->kernel_names()[0], "ref:Constant");
  for (size_t n = 0; n < c.g.num_nodes(); ++n)
    EXPECT_EQ((*base)->kernel_names()[n].find('+'), std::string::npos) << n;
  // The fused values hold NaN and both signs of zero (so the test means something).
  bool nan = false, neg_zero = false;
  for (ir::ValueId v : {c.r, c.k}) {
    const Tensor& t = all.seen.at(v);
    for (int64_t i = 0; i < t.numel(); ++i) {
      const float f = t.data<float>()[i];
      nan |= std::isnan(f);
      neg_zero |= f == 0.0f && std::signbit(f);
    }
  }
  EXPECT_TRUE(nan);
  (void)neg_zero;  // depends on oneDNN's accumulation; exercised when it occurs

  for (int threads : {1, 2}) {
    RunOptions opts;
    opts.threads = threads;
    auto it = Interpreter::create(c.g, opts);
    ASSERT_TRUE(it.ok());
    for (int rep = 0; rep < 2; ++rep) {
      // No observer: everything that may fuse does.
      auto got = (*it)->run(in);
      ASSERT_TRUE(got.ok()) << got.status().message();
      ASSERT_EQ(got->size(), want->size());
      for (size_t o = 0; o < got->size(); ++o)
        EXPECT_TRUE(bit_equal((*got)[o], (*want)[o])) << "output " << o << " threads " << threads;
      const auto& names = (*it)->kernel_names();
      EXPECT_EQ(names[1], "dnnl:conv+relu");
      EXPECT_EQ(names[2], "fused");
      EXPECT_EQ(names[3], "dnnl:conv+clip");
      EXPECT_EQ(names[4], "fused");
      EXPECT_EQ(names[5], "dnnl:conv+clip");
      EXPECT_EQ(names[7], "dnnl:conv");  // its output is a graph output
      EXPECT_EQ(names[8], "fast:relu");
      EXPECT_EQ(names[9], "dnnl:conv");  // its output has two readers
      EXPECT_EQ(names[10], "fast:relu");

      // Observers that want every value but the Conv outputs (all fuse), or also c1 (conv1
      // does not fuse): every tapped value as in the baseline, in the same order.
      for (bool want_c1 : {false, true}) {
        std::set<ir::ValueId> sel;
        for (const auto& [v, t] : all.seen)
          if (v != c.c2 && v != c.c3 && v != c.c4 && v != c.c5) sel.insert(v);
        if (!want_c1) sel.erase(c.c1);
        Recorder taps(sel, false);
        auto tapped = (*it)->run(in, &taps);
        ASSERT_TRUE(tapped.ok()) << tapped.status().message();
        for (size_t o = 0; o < tapped->size(); ++o)
          EXPECT_TRUE(bit_equal((*tapped)[o], (*want)[o])) << "output " << o;
        for (ir::ValueId v : sel) {
          ASSERT_TRUE(taps.seen.count(v)) << c.g.value(v).name;
          EXPECT_TRUE(bit_equal(taps.seen.at(v), all.seen.at(v))) << c.g.value(v).name;
        }
        std::vector<ir::ValueId> expected_order;
        for (ir::ValueId v : all.order)
          if (sel.count(v)) expected_order.push_back(v);
        EXPECT_EQ(taps.order, expected_order);
        EXPECT_EQ((*it)->kernel_names()[1], want_c1 ? "dnnl:conv" : "dnnl:conv+relu");
        EXPECT_EQ((*it)->kernel_names()[2], want_c1 ? "fast:relu" : "fused");
        EXPECT_EQ((*it)->kernel_names()[3], "dnnl:conv+clip");
      }
    }
  }
}

TEST(Fusion, NothingFusesOnReferenceKernels) {
  std::mt19937 rng(5);
  Net c = make_net(rng);
  RunOptions opts;
  opts.use_fast = false;
  auto it = Interpreter::create(c.g, opts);
  ASSERT_TRUE(it.ok());
  auto got = (*it)->run(std::vector<Tensor>{make_input(rng)});
  ASSERT_TRUE(got.ok());
  EXPECT_EQ((*it)->kernel_names()[1], "ref:Conv");
  EXPECT_EQ((*it)->kernel_names()[2], "ref:Relu");
}

}  // namespace
}  // namespace qdiff::runtime
