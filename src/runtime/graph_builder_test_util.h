// Test-only helpers shared by the runtime tests that build small graphs by hand
// (fusion_test.cc, layout_test.cc, interpreter_test.cc). Header-only.
#pragma once

#include <cstdint>
#include <cstring>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "runtime/interpreter.h"

// Not `qdiff::runtime::testing`: that would hide `qdiff::testing` (test_util.h) inside the
// runtime tests.
namespace qdiff::runtime::graph_testing {

// A float32 tensor of `shape` filled uniformly from [-scale, scale].
inline Tensor random_f32(std::mt19937& rng, Shape shape, float scale = 1.0f) {
  Tensor t = Tensor::zeros(DType::kFloat32, std::move(shape));
  std::uniform_real_distribution<float> dist(-scale, scale);
  float* d = t.mutable_data<float>();
  for (int64_t i = 0; i < t.numel(); ++i) d[i] = dist(rng);
  return t;
}

// Plain, same shape and dtype, and the same bytes (NaN payloads and -0 included).
inline bool bit_equal(const Tensor& a, const Tensor& b) {
  return a.is_plain() && b.is_plain() && a.shape() == b.shape() && a.dtype() == b.dtype() &&
         std::memcmp(a.raw(), b.raw(), a.nbytes()) == 0;
}

// Adds values and single-output nodes to a graph.
class GraphBuilder {
 public:
  explicit GraphBuilder(ir::Graph& g) : g_(g) {}

  // A value named `name`, with `init` as its initializer when given.
  ir::ValueId value(const char* name, std::optional<Tensor> init = {}) const {
    ir::Value v;
    v.name = name;
    v.initializer = std::move(init);
    return g_.add_value(std::move(v));
  }

  // A node `name` of `kind` reading `in` and writing `out`.
  void node(const char* name, ir::OpKind kind, std::vector<ir::ValueId> in, ir::ValueId out,
            Attributes attrs = {}, int64_t opset = 13) const {
    ir::Node nd;
    nd.name = name;
    nd.op_type = std::string(ir::op_kind_name(kind));
    nd.kind = kind;
    nd.opset = opset;
    nd.inputs = std::move(in);
    nd.outputs = {out};
    nd.attributes = std::move(attrs);
    g_.add_node(std::move(nd));
  }

 private:
  ir::Graph& g_;
};

}  // namespace qdiff::runtime::graph_testing
