// The graph IR: values (tensor edges, identified by ValueId), nodes (in topological order) and
// the model's inputs, outputs and opsets. Names are for display and matching with other tools;
// identity is always the id.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "ir/op_kind.h"
#include "support/status.h"
#include "tensor/attributes.h"
#include "tensor/tensor.h"

namespace qdiff::ir {

using ValueId = uint32_t;
using NodeId = uint32_t;
inline constexpr ValueId kNoValue = UINT32_MAX;  // an absent optional input

// A dimension: a known size (>= 0) or unknown (-1), possibly with a symbolic name.
struct Dim {
  int64_t size = -1;
  std::string param;
  bool known() const { return size >= 0; }
};

struct TensorType {
  DType dtype = DType::kUndefined;
  std::optional<std::vector<Dim>> dims;  // nullopt: rank unknown

  bool fully_known() const;
  Shape shape() const;            // requires fully_known()
  std::string to_string() const;  // "float32[1,3,N,224]"
};

struct Value {
  std::string name;
  TensorType type;
  std::optional<Tensor> initializer;  // weights and other constants from the model file
  NodeId producer = UINT32_MAX;       // UINT32_MAX for graph inputs and initializers
  // The model stores this tensor as float16/bfloat16; qdiff holds it as float32 (see
  // ImportOptions::float16_to_float32) and can round it back (RunOptions::round_float16).
  bool float16_in_model = false;
};

struct Node {
  std::string name;             // ONNX node name; the importer makes one up when it is empty
  std::string op_type;          // as in the model
  std::string domain;           // "" for the default domain
  std::optional<OpKind> kind;   // nullopt: qdiff has no kernel for this op
  int64_t opset = 0;            // opset version of the node's domain
  std::vector<ValueId> inputs;  // kNoValue for an absent optional input
  std::vector<ValueId> outputs;
  Attributes attributes;

  std::string describe() const;  // "node 'conv1' (Conv)"
};

class Graph {
 public:
  std::string name;
  std::map<std::string, int64_t> opsets;  // domain -> version
  std::vector<ValueId> inputs;            // graph inputs that are not initializers
  std::vector<ValueId> outputs;

  ValueId add_value(Value v);
  NodeId add_node(Node n);  // sets the producer of its outputs
  const Value& value(ValueId id) const { return values_[id]; }
  Value& value(ValueId id) { return values_[id]; }
  const Node& node(NodeId id) const { return nodes_[id]; }
  Node& node(NodeId id) { return nodes_[id]; }
  const std::vector<Value>& values() const { return values_; }
  const std::vector<Node>& nodes() const { return nodes_; }
  size_t num_values() const { return values_.size(); }
  size_t num_nodes() const { return nodes_.size(); }
  std::optional<ValueId> find_value(const std::string& value_name) const;

  // Reorders nodes topologically (stable: keeps file order where it is already valid).
  // Fails on a cycle or an input that nothing produces.
  Status sort_topologically();
  // Structural checks: ids in range, each value produced once, topological order, graph
  // outputs produced. Errors name the node or value.
  Status verify() const;

 private:
  std::vector<Value> values_;
  std::vector<Node> nodes_;
  std::map<std::string, ValueId> by_name_;
};

}  // namespace qdiff::ir
