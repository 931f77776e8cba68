// NHWC layout propagation between fast kernels: results, taps and outputs are bit-identical
// to a run without it (only exact reorders differ), at any thread count.
#include <gtest/gtest.h>

#include <map>
#include <random>

#include "runtime/graph_builder_test_util.h"
#include "runtime/interpreter.h"
#include "testing/test_util.h"

namespace qdiff::runtime {
namespace {

using graph_testing::bit_equal;
using graph_testing::random_f32;

// Records every tapped tensor (checking it is plain).
class Recorder : public Observer {
 public:
  Status observe(ir::ValueId id, const Tensor& value) override {
    EXPECT_TRUE(value.is_plain());
    seen[id] = value;
    return Status::ok_status();
  }
  std::map<ir::ValueId, Tensor> seen;
};

// x -> Conv3x3 -> c1 -> Relu -> r -> depthwise Conv3x3 -> c2 -> Add(c2, r) -> s
//   -> MaxPool -> p -> Clip -> y;  s -> Conv1x1 -> z;  r -> Neg (reference only) -> n.
struct Chain {
  ir::Graph g;
  ir::ValueId x, c1, r, c2, s, p, y, z, n;
};

Chain make_chain(std::mt19937& rng) {
  Chain c;
  ir::Graph& g = c.g;
  const graph_testing::GraphBuilder b(g);
  const int64_t ch = 24;
  c.x = b.value("x");
  {
    ir::Value& xv = g.value(c.x);
    xv.type.dtype = DType::kFloat32;
  }
  const ir::ValueId w1 = b.value("w1", random_f32(rng, {ch, 8, 3, 3}));
  const ir::ValueId b1 = b.value("b1", random_f32(rng, {ch}));
  const ir::ValueId w2 = b.value("w2", random_f32(rng, {ch, 1, 3, 3}));
  const ir::ValueId w3 = b.value("w3", random_f32(rng, {16, ch, 1, 1}));
  const ir::ValueId lo = b.value("lo", Tensor::scalar_f32(-0.5f));
  const ir::ValueId hi = b.value("hi", Tensor::scalar_f32(0.75f));
  c.c1 = b.value("c1"), c.r = b.value("r"), c.c2 = b.value("c2"), c.s = b.value("s"),
  c.p = b.value("p");
  c.y = b.value("y"), c.z = b.value("z"), c.n = b.value("n");
  g.inputs = {c.x};
  g.outputs = {c.y, c.z, c.n};
  Attributes conv3;
  conv3.set("kernel_shape", std::vector<int64_t>{3, 3});
  conv3.set("pads", std::vector<int64_t>{1, 1, 1, 1});
  Attributes dw = conv3;
  dw.set("group", ch);
  Attributes pool;
  pool.set("kernel_shape", std::vector<int64_t>{3, 3});
  pool.set("strides", std::vector<int64_t>{2, 2});
  b.node("conv1", ir::OpKind::kConv, {c.x, w1, b1}, c.c1, conv3);
  b.node("relu", ir::OpKind::kRelu, {c.c1}, c.r);
  b.node("dw", ir::OpKind::kConv, {c.r, w2}, c.c2, dw);
  b.node("add", ir::OpKind::kAdd, {c.c2, c.r}, c.s);
  b.node("pool", ir::OpKind::kMaxPool, {c.s}, c.p, pool);
  b.node("clip", ir::OpKind::kClip, {c.p, lo, hi}, c.y);
  b.node("conv1x1", ir::OpKind::kConv, {c.s, w3}, c.z);
  b.node("neg", ir::OpKind::kNeg, {c.r}, c.n);
  return c;
}

TEST(Layouts, PropagationIsBitIdentical) {
  std::mt19937 rng(7);
  Chain c = make_chain(rng);
  ASSERT_TRUE(c.g.verify().ok());
  const std::vector<Tensor> in = {random_f32(rng, {2, 8, 19, 23})};
  RunOptions plain;
  plain.propagate_layouts = false;
  auto base = Interpreter::create(c.g, plain);
  ASSERT_TRUE(base.ok());
  Recorder base_taps;
  auto want = (*base)->run(in, &base_taps);
  ASSERT_TRUE(want.ok()) << want.status().message();
  EXPECT_EQ((*base)->kernel_names()[0], "dnnl:conv");
  for (int threads : {1, 2}) {
    RunOptions opts;
    opts.threads = threads;
    auto it = Interpreter::create(c.g, opts);
    ASSERT_TRUE(it.ok());
    for (int rep = 0; rep < 2; ++rep) {  // the second run reuses the kernels' states
      Recorder taps;
      auto got = (*it)->run(in, &taps);
      ASSERT_TRUE(got.ok()) << got.status().message();
      ASSERT_EQ(got->size(), want->size());
      for (size_t o = 0; o < got->size(); ++o)
        EXPECT_TRUE(bit_equal((*got)[o], (*want)[o])) << "output " << o;
      ASSERT_EQ(taps.seen.size(), base_taps.seen.size());
      for (const auto& [id, t] : base_taps.seen)
        EXPECT_TRUE(bit_equal(taps.seen.at(id), t)) << c.g.value(id).name;
      // Without taps too (values are then released as soon as possible).
      auto untapped = (*it)->run(in);
      ASSERT_TRUE(untapped.ok());
      for (size_t o = 0; o < untapped->size(); ++o)
        EXPECT_TRUE(bit_equal((*untapped)[o], (*want)[o])) << "output " << o;
    }
    // The last run had no observer, so conv1 ran with its Relu fused in (fusion_test.cc).
    EXPECT_EQ((*it)->kernel_names()[0], "dnnl:conv+relu");
    EXPECT_EQ((*it)->kernel_names()[1], "fused");
    EXPECT_EQ((*it)->kernel_names()[3], "fast:add");
  }
}

TEST(Layouts, TensorReorderRoundTrips) {
  std::mt19937 rng(3);
  const Tensor x = random_f32(rng, {2, 5, 7, 3});
  const Tensor n = x.to_layout(Layout::kNhwc);
  EXPECT_EQ(n.layout(), Layout::kNhwc);
  EXPECT_EQ(n.shape(), x.shape());
  // Element (b, c, h, w) sits at ((b*H + h)*W + w)*C + c.
  const float* pn = reinterpret_cast<const float*>(n.raw());
  const float* px = x.data<float>();
  EXPECT_EQ(pn[((1 * 7 + 4) * 3 + 2) * 5 + 3], px[((1 * 5 + 3) * 7 + 4) * 3 + 2]);
  EXPECT_TRUE(bit_equal(n.to_plain(), x));
  EXPECT_TRUE(bit_equal(n.clone().to_plain(), x));
  EXPECT_EQ(x.to_plain().raw(), x.raw());  // already plain: no copy
}

TEST(Layouts, ReordersMoveEveryElementOfEveryType) {
  // Whole 8 x 8 blocks and edges, both directions, each element size; bits are moved, never
  // interpreted (NaN payloads survive).
  std::mt19937 rng(5);
  for (const Shape& shape : {Shape{1, 8, 4, 4}, Shape{2, 13, 5, 7}, Shape{1, 32, 9, 9},
                             Shape{3, 3, 8, 8}, Shape{1, 24, 1, 1}}) {
    for (DType t : {DType::kFloat32, DType::kUInt8, DType::kInt16, DType::kInt64}) {
      Tensor x = Tensor::zeros(t, shape);
      std::vector<std::byte> bytes(x.nbytes());
      for (std::byte& b : bytes) b = static_cast<std::byte>(rng() & 0xFF);
      std::memcpy(x.raw_mutable(), bytes.data(), bytes.size());
      const Tensor n = x.to_layout(Layout::kNhwc);
      const int64_t C = shape[1], H = shape[2], W = shape[3];
      const size_t es = dtype_size(t);
      bool ok = true;
      for (int64_t b = 0; b < shape[0]; ++b)
        for (int64_t c = 0; c < C; ++c)
          for (int64_t hw = 0; hw < H * W; ++hw)
            ok = ok && std::memcmp(n.raw() + ((b * H * W + hw) * C + c) * es,
                                   x.raw() + ((b * C + c) * H * W + hw) * es, es) == 0;
      EXPECT_TRUE(ok) << shape_to_string(shape) << " " << dtype_name(t);
      EXPECT_TRUE(bit_equal(n.to_plain(), x)) << shape_to_string(shape) << " " << dtype_name(t);
    }
  }
}

}  // namespace
}  // namespace qdiff::runtime
