// Tests of constant folding on a graph built here. Oracle: values derived by hand from the
// node definitions (ONNX spec), and the folded graph run by the interpreter against the same
// hand-computed numbers.
#include "qdq/constant_fold.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "runtime/interpreter.h"
#include "testing/test_util.h"

namespace qdiff::qdq {
namespace {

struct Builder {
  ir::Graph g;
  Builder() { g.opsets[""] = 13; }
  ir::ValueId value(const std::string& n, std::optional<Tensor> init = {}) {
    ir::Value v;
    v.name = n;
    if (init) {
      v.type.dtype = init->dtype();
      std::vector<ir::Dim> d;
      for (int64_t x : init->shape()) d.push_back({x, ""});
      v.type.dims = d;
    }
    v.initializer = std::move(init);
    return g.add_value(std::move(v));
  }
  ir::ValueId node(const std::string& op, std::vector<ir::ValueId> in, const std::string& out,
                   Attributes a = {}) {
    const ir::ValueId o = value(out);
    ir::Node nd;
    nd.name = "n_" + out;
    nd.op_type = op;
    nd.kind = ir::op_kind_from_onnx("", op);
    nd.opset = 13;
    nd.inputs = std::move(in);
    nd.outputs = {o};
    nd.attributes = std::move(a);
    g.add_node(std::move(nd));
    return o;
  }
};

Attributes attr(const std::string& k, AttributeValue v) {
  Attributes a;
  a.set(k, std::move(v));
  return a;
}

// x[1,3] (input) * s2, s2 = Identity(s) * Constant(2) with s = {0.5, 0.25, 2}: s2 = {1, 0.5, 4}.
// zp = Cast(ConstantOfShape(Constant([3])), int32) = {0, 0, 0} (torch's bias zero points).
struct TestGraph {
  Builder b;
  ir::ValueId x, s, s_id, two, s2, y, shape3, zeros, zp, big_shape, big, w, wt, small_shape,
      expanded, huge_shape, huge, q, s2_out;
  TestGraph() {
    x = b.value("x");
    b.g.value(x).type.dtype = DType::kFloat32;
    b.g.value(x).type.dims = std::vector<ir::Dim>{{1, ""}, {3, ""}};
    b.g.inputs.push_back(x);
    s = b.value("s", testing::f32({3}, {0.5f, 0.25f, 2.0f}));
    s_id = b.node("Identity", {s}, "s_id");
    two = b.node("Constant", {}, "two", attr("value_float", 2.0f));
    s2 = b.node("Mul", {s_id, two}, "s2");
    y = b.node("Mul", {x, s2}, "y");
    shape3 = b.node("Constant", {}, "shape3", attr("value_ints", std::vector<int64_t>{3}));
    zeros = b.node("ConstantOfShape", {shape3}, "zeros");
    zp = b.node("Cast", {zeros}, "zp", attr("to", int64_t{6}));
    // 300 x 300 = 90000 elements > the default cap of 65536: a grown output, not folded.
    big_shape =
        b.node("Constant", {}, "big_shape", attr("value_ints", std::vector<int64_t>{300, 300}));
    big = b.node("ConstantOfShape", {big_shape}, "big");
    // A Transpose of a 90000-element weight: not grown (output size = input size), folded.
    std::vector<float> wv(300 * 300);
    for (size_t i = 0; i < wv.size(); ++i) wv[i] = static_cast<float>(i);
    w = b.value("w", testing::f32({300, 300}, wv));
    wt = b.node("Transpose", {w}, "wt", attr("perm", std::vector<int64_t>{1, 0}));
    // Expand of a scalar: [2,2] folds, [400,400] does not (refused before it runs).
    small_shape = b.value("small_shape", testing::i64({2}, {2, 2}));
    expanded = b.node("Expand", {two, small_shape}, "expanded");
    huge_shape = b.value("huge_shape", testing::i64({2}, {400, 400}));
    huge = b.node("Expand", {two, huge_shape}, "huge");
    // QuantizeLinear is read by the Q/DQ import itself: never folded.
    q = b.node("QuantizeLinear",
               {s2, b.value("qs", Tensor::scalar_f32(0.5f)),
                b.value("qz", Tensor::from_vector<uint8_t>({}, {0}))},
               "q");
    // A constant that is a graph output stays computed by its node in fold_constants.
    s2_out = b.node("Identity", {s2}, "s2_out");
    b.g.outputs = {y, s2_out, big, zp, wt, expanded, huge, q};
  }
};

TEST(ConstantFolder, ValuesByHand) {
  TestGraph t;
  ASSERT_TRUE(t.b.g.verify().ok());
  ConstantFolder f(t.b.g);
  // Initializers are constants as they are.
  ASSERT_NE(f.value(t.s), nullptr);
  EXPECT_EQ(f.value(t.s), &*t.b.g.value(t.s).initializer);
  // Identity, Constant(value_float), Mul of constants.
  ASSERT_NE(f.value(t.s_id), nullptr);
  EXPECT_TRUE(testing::tensors_equal(*f.value(t.s_id), testing::f32({3}, {0.5f, 0.25f, 2.0f})));
  ASSERT_NE(f.value(t.two), nullptr);
  EXPECT_TRUE(testing::tensors_equal(*f.value(t.two), Tensor::scalar_f32(2.0f)));
  ASSERT_NE(f.value(t.s2), nullptr);
  EXPECT_TRUE(testing::tensors_equal(*f.value(t.s2), testing::f32({3}, {1.0f, 0.5f, 4.0f})));
  // Cast(ConstantOfShape([3]), int32): ConstantOfShape's default value is float 0.
  ASSERT_NE(f.value(t.zp), nullptr);
  EXPECT_TRUE(testing::tensors_equal(*f.value(t.zp), Tensor::from_vector<int32_t>({3}, {0, 0, 0})));
  // Anything computed from the graph input is no constant.
  EXPECT_EQ(f.value(t.x), nullptr);
  EXPECT_EQ(f.value(t.y), nullptr);
  EXPECT_EQ(f.value(ir::kNoValue), nullptr);
  // Size cap: a grown output over 65536 elements is not folded; a transposed weight is.
  EXPECT_EQ(f.value(t.big), nullptr);
  ASSERT_NE(f.value(t.big_shape), nullptr);
  ASSERT_NE(f.value(t.wt), nullptr);
  EXPECT_EQ(f.value(t.wt)->shape(), (Shape{300, 300}));
  // wt[i][j] = w[j][i] = 300 j + i.
  EXPECT_EQ(f.value(t.wt)->data<float>()[1 * 300 + 2], 2.0f * 300 + 1);
  ASSERT_NE(f.value(t.expanded), nullptr);
  EXPECT_TRUE(testing::tensors_equal(*f.value(t.expanded), testing::f32({2, 2}, {2, 2, 2, 2})));
  EXPECT_EQ(f.value(t.huge), nullptr);
  // keep_ops.
  EXPECT_EQ(f.value(t.q), nullptr);
  EXPECT_FALSE(f.foldable_op(t.b.g.value(t.q).producer));
  EXPECT_TRUE(f.node_folds(t.b.g.value(t.s2).producer));
  EXPECT_FALSE(f.node_folds(t.b.g.value(t.y).producer));

  // A larger cap folds the big ConstantOfShape; an empty keep list folds QuantizeLinear
  // (round(s2 / 0.5) = {2, 1, 8}).
  FoldOptions o;
  o.max_grown_elements = 100000;
  o.keep_ops.clear();
  ConstantFolder g(t.b.g, o);
  ASSERT_NE(g.value(t.big), nullptr);
  EXPECT_EQ(g.value(t.big)->numel(), 90000);
  EXPECT_EQ(g.value(t.huge), nullptr);  // 160000 elements
  ASSERT_NE(g.value(t.q), nullptr);
  EXPECT_TRUE(testing::tensors_equal(*g.value(t.q), Tensor::from_vector<uint8_t>({3}, {2, 1, 8})));
}

TEST(ConstantFolder, FoldedGraphRuns) {
  TestGraph t;
  auto r = fold_constants(t.b.g);
  ASSERT_TRUE(r.ok()) << r.status().message();
  const ir::Graph& g = r->graph;
  ASSERT_TRUE(g.verify().ok());
  // Folded: the nodes of s_id, two, s2, shape3, zeros, big_shape; not y (reads x), big and huge
  // (too big), q (kept op), nor zp, wt, expanded and s2_out (graph outputs).
  std::vector<std::string> folded = r->folded;
  std::sort(folded.begin(), folded.end());
  const std::vector<std::string> want = {"n_big_shape", "n_s2",  "n_s_id",
                                         "n_shape3",    "n_two", "n_zeros"};
  EXPECT_EQ(folded, want);
  std::vector<std::string> ops;
  for (const ir::Node& n : g.nodes()) ops.push_back(n.name);
  const std::vector<std::string> kept = {"n_y",    "n_zp", "n_big",      "n_wt",
                                         "n_huge", "n_q",  "n_expanded", "n_s2_out"};
  EXPECT_EQ(ops.size(), kept.size());
  for (const std::string& k : kept) EXPECT_NE(std::find(ops.begin(), ops.end(), k), ops.end()) << k;
  // Ids and names are kept; folded outputs are initializers with their type.
  ASSERT_EQ(g.num_values(), t.b.g.num_values());
  EXPECT_EQ(g.value(t.s2).name, "s2");
  ASSERT_TRUE(g.value(t.s2).initializer);
  EXPECT_TRUE(
      testing::tensors_equal(*g.value(t.s2).initializer, testing::f32({3}, {1.0f, 0.5f, 4.0f})));
  EXPECT_EQ(g.value(t.s2).producer, UINT32_MAX);
  EXPECT_EQ(g.value(t.zeros).type.dtype, DType::kFloat32);
  EXPECT_EQ(g.value(t.big_shape).initializer->to_i64_vector(), (std::vector<int64_t>{300, 300}));
  // The folded graph computes what the original computes: y = x * {1, 0.5, 4}.
  auto interp = runtime::Interpreter::create(g, {});
  ASSERT_TRUE(interp.ok()) << interp.status().message();
  std::vector<Tensor> in = {testing::f32({1, 3}, {3.0f, -2.0f, 0.25f})};
  auto out = (*interp)->run(in);
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_TRUE(testing::tensors_equal(out->at(0), testing::f32({1, 3}, {3.0f, -1.0f, 1.0f})));
  EXPECT_TRUE(testing::tensors_equal(out->at(1), testing::f32({3}, {1.0f, 0.5f, 4.0f})));
  EXPECT_TRUE(testing::tensors_equal(out->at(3), Tensor::from_vector<int32_t>({3}, {0, 0, 0})));
}

}  // namespace
}  // namespace qdiff::qdq
