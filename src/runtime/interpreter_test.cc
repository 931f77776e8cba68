#include "runtime/interpreter.h"

#include <gtest/gtest.h>

#include <cmath>

#include "runtime/graph_builder_test_util.h"
#include "testing/test_util.h"

namespace qdiff::runtime {
namespace {

// x -> Add(x, b) -> s -> Relu -> y, and s -> Neg -> n (two outputs).
ir::ValueId add_value(ir::Graph& g, const char* name, std::optional<Tensor> init = {}) {
  ir::Value v;
  v.name = name;
  if (std::string(name) == "x" || init) {
    v.type.dtype = DType::kFloat32;
    v.type.dims = std::vector<ir::Dim>{{2, ""}};
  }
  v.initializer = std::move(init);
  return g.add_value(std::move(v));
}

ir::Graph small_graph() {
  ir::Graph g;
  const ir::ValueId xid = add_value(g, "x");
  const ir::ValueId bid = add_value(g, "b", testing::f32({2}, {1, -5}));
  const ir::ValueId s = add_value(g, "s");
  const ir::ValueId y = add_value(g, "y");
  const ir::ValueId n = add_value(g, "n");
  g.inputs = {xid};
  g.outputs = {y, n};
  const graph_testing::GraphBuilder b(g);
  b.node("add", ir::OpKind::kAdd, {xid, bid}, s);
  b.node("relu", ir::OpKind::kRelu, {s}, y);
  b.node("neg", ir::OpKind::kNeg, {s}, n);
  return g;
}

class OrderObserver : public Observer {
 public:
  Status observe(ir::ValueId id, const Tensor&) override {
    seen.push_back(id);
    return Status();
  }
  std::vector<ir::ValueId> seen;
};

TEST(Interpreter, RunsAndTapsEveryValueInOrder) {
  ir::Graph g = small_graph();
  ASSERT_TRUE(g.verify().ok());
  auto interp = Interpreter::create(g, {1, /*use_fast=*/false});
  ASSERT_TRUE(interp.ok());
  OrderObserver order;
  std::vector<Tensor> in = {testing::f32({2}, {2, 3})};
  auto out = (*interp)->run(in, &order);
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_TRUE(testing::tensors_equal((*out)[0], testing::f32({2}, {3, 0})));
  EXPECT_TRUE(testing::tensors_equal((*out)[1], testing::f32({2}, {-3, 2})));
  EXPECT_EQ(order.seen, (std::vector<ir::ValueId>{0, 2, 3, 4}));
  EXPECT_EQ((*interp)->kernel_names()[1], "ref:Relu");
}

TEST(Interpreter, StatisticsStreamAcrossRuns) {
  ir::Graph g = small_graph();
  auto interp = Interpreter::create(g, {});
  StatisticsObserver stats;
  for (float v : {0.f, 10.f}) {
    std::vector<Tensor> in = {testing::f32({2}, {v, v})};
    ASSERT_TRUE((*interp)->run(in, &stats).ok());
  }
  const TensorStats& s = stats.stats().at(2);  // s = x + b over x = 0 and x = 10
  EXPECT_EQ(s.count, 4);
  EXPECT_EQ(s.min, -5);
  EXPECT_EQ(s.max, 11);
  EXPECT_DOUBLE_EQ(s.mean(), (1 - 5 + 11 + 5) / 4.0);
}

TEST(Interpreter, RecordingKeepsOnlySelected) {
  ir::Graph g = small_graph();
  auto interp = Interpreter::create(g, {});
  RecordingObserver rec({2});
  std::vector<Tensor> in = {testing::f32({2}, {1, 1})};
  ASSERT_TRUE((*interp)->run(in, &rec).ok());
  ASSERT_EQ(rec.records().size(), 1u);
  EXPECT_TRUE(testing::tensors_equal(rec.records().at(2)[0], testing::f32({2}, {2, -4})));
}

TEST(Interpreter, NonFiniteGuardNamesTheNode) {
  ir::Graph g = small_graph();
  auto interp = Interpreter::create(g, {});
  NonFiniteGuard guard(g);
  std::vector<Tensor> in = {testing::f32({2}, {NAN, 1})};
  auto out = (*interp)->run(in, &guard);
  ASSERT_FALSE(out.ok());
  // The input itself holds the NaN: no producing node, the tensor is named.
  EXPECT_NE(out.status().message().find("'x'"), std::string::npos) << out.status().message();
}

TEST(Interpreter, ChecksInputs) {
  ir::Graph g = small_graph();
  auto interp = Interpreter::create(g, {});
  std::vector<Tensor> wrong_shape = {testing::f32({3}, {1, 2, 3})};
  auto r = (*interp)->run(wrong_shape);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("input 'x'"), std::string::npos);
  std::vector<Tensor> wrong_type = {testing::i64({2}, {1, 2})};
  EXPECT_FALSE((*interp)->run(wrong_type).ok());
  EXPECT_FALSE((*interp)->run({}).ok());
}

TEST(Interpreter, RefusesUnsupportedOpsNamingThem) {
  ir::Graph g = small_graph();
  g.node(1).kind.reset();
  g.node(1).op_type = "Frobnicate";
  auto interp = Interpreter::create(g, {});
  ASSERT_FALSE(interp.ok());
  EXPECT_EQ(interp.status().code(), ErrorCode::kUnsupported);
  EXPECT_NE(interp.status().message().find("Frobnicate (1 node: relu)"), std::string::npos)
      << interp.status().message();
}

TEST(Interpreter, KernelErrorsCarryTheNodeName) {
  ir::Graph g = small_graph();
  g.value(1).initializer = testing::f32({3}, {1, 2, 3});  // b no longer broadcasts with x
  auto interp = Interpreter::create(g, {});
  std::vector<Tensor> in = {testing::f32({2}, {1, 1})};
  auto r = (*interp)->run(in);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("node 'add' (Add)"), std::string::npos)
      << r.status().message();
}

TEST(Interpreter, RoundFloat16) {
  ir::Graph g = small_graph();
  g.value(2).float16_in_model = true;  // s is float16 in the model
  auto interp = Interpreter::create(g, {1, true, true});
  RecordingObserver rec({2});
  std::vector<Tensor> in = {testing::f32({2}, {1.0f / 3.0f, 0})};
  ASSERT_TRUE((*interp)->run(in, &rec).ok());
  // 4/3 in float16: 1.3330078125
  EXPECT_EQ(rec.records().at(2)[0].values<float>()[0], 1.3330078125f);
}

// A chain of n Relu nodes on a 1 MiB tensor.
ir::Graph relu_chain(int n) {
  ir::Graph g;
  ir::Value x;
  x.name = "x";
  x.type.dtype = DType::kFloat32;
  x.type.dims = std::vector<ir::Dim>{{1 << 18, ""}};
  ir::ValueId prev = g.add_value(std::move(x));
  g.inputs = {prev};
  for (int i = 0; i < n; ++i) {
    ir::Value v;
    v.name = "r" + std::to_string(i);
    const ir::ValueId out = g.add_value(std::move(v));
    ir::Node nd;
    nd.name = "relu" + std::to_string(i);
    nd.op_type = "Relu";
    nd.kind = ir::OpKind::kRelu;
    nd.opset = 13;
    nd.inputs = {prev};
    nd.outputs = {out};
    g.add_node(std::move(nd));
    prev = out;
  }
  g.outputs = {prev};
  return g;
}

TEST(Interpreter, StreamingStatisticsKeepsMemoryBounded) {
  const ir::Graph g = relu_chain(16);
  std::vector<Tensor> in = {Tensor::zeros(DType::kFloat32, {1 << 18})};
  const uint64_t mib = 1 << 20;
  for (bool fast : {false, true}) {
    auto interp = Interpreter::create(g, {1, fast});
    {
      StatisticsObserver stats;
      reset_tensor_peak_bytes();
      const uint64_t before = tensor_live_bytes();
      ASSERT_TRUE((*interp)->run(in, &stats).ok());
      // The tensor being read and the one being written: 2 MiB above the input, never 16.
      EXPECT_LE(tensor_peak_bytes() - before, 2 * mib + 4096) << "fast " << fast;
      EXPECT_EQ(stats.stats().size(), 17u);
    }
    {
      RecordingObserver rec;
      reset_tensor_peak_bytes();
      const uint64_t before = tensor_live_bytes();
      ASSERT_TRUE((*interp)->run(in, &rec).ok());
      EXPECT_GE(tensor_peak_bytes() - before, 16 * mib);  // recording keeps them all, as asked
    }
  }
}

}  // namespace
}  // namespace qdiff::runtime
