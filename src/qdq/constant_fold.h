// Constant folding: the nodes of a graph whose inputs are all constants, evaluated once with
// qdiff's reference kernels (runtime/registry.h) so that their outputs can be used as constants.
//
// A node folds when
//  - it is in the default domain and qdiff has a kernel for it (every op of ir/ops.def is
//    deterministic: the list has no Random*/Bernoulli/Multinomial; nodes without a kernel, in
//    another domain or of an op in FoldOptions::keep_ops never fold);
//  - none of its outputs is stored as float16 in the model (qdiff holds those as float32 and
//    rounds them at run time; a folded value would skip that rounding);
//  - every input it has is a constant: an initializer or an output of a node that folds
//    (Constant nodes have no inputs and always fold);
//  - its reference kernel succeeds (an error leaves the node in the graph: the interpreter
//    reports it when it runs the node);
//  - it does not grow the model needlessly: an op that creates data (ConstantOfShape, Expand,
//    Tile, Range, Resize, ...) folds only while each output holds at most
//    FoldOptions::max_grown_elements elements or no more than its largest input. A Cast,
//    Transpose or Reshape of a large weight therefore folds; a ConstantOfShape of a huge shape
//    does not (checked before it runs, from the shape input or the shape inferred for the
//    output). Constant nodes carry their value in the model already and are not capped.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "support/status.h"

namespace qdiff::qdq {

struct FoldOptions {
  int64_t max_grown_elements = int64_t{1} << 16;
  // Default-domain op types never folded. The Q/DQ import reads QuantizeLinear and
  // DequantizeLinear nodes themselves (a QuantizeLinear of a float weight is a quantized weight,
  // not a constant integer tensor).
  std::set<std::string> keep_ops = {"QuantizeLinear", "DequantizeLinear"};
};

// Which values of `graph` are constants, computed on demand and cached. `graph` must outlive
// the folder and be topologically sorted (as ir::Graph::verify requires).
class ConstantFolder {
 public:
  explicit ConstantFolder(const ir::Graph& graph, FoldOptions options = {});

  // The value of `v` when it is a constant: its initializer, or the output of a node that folds
  // (see above), computed once. nullptr otherwise (a graph input or anything computed from one,
  // an output of a node that does not fold, kNoValue). The pointer stays valid as long as the
  // folder does.
  const Tensor* value(ir::ValueId v);
  // Whether every output of node `n` is a constant (so the node can be replaced by initializers).
  bool node_folds(ir::NodeId n);
  // Whether node `n` may fold at all, whatever its inputs: domain, kernel, keep_ops, float16.
  bool foldable_op(ir::NodeId n) const;
  // Nodes evaluated so far.
  size_t evaluated() const { return evaluated_; }

 private:
  enum class State : uint8_t { kUnknown, kConstant, kNotConstant };
  void evaluate(ir::NodeId n);
  void mark_outputs(const ir::Node& n, State s);

  const ir::Graph& g_;
  FoldOptions options_;
  std::vector<State> state_;   // per value
  std::vector<Tensor> cache_;  // per value: computed constants
  size_t evaluated_ = 0;
};

struct FoldedGraph {
  // `graph` with every node whose outputs are all constants removed and those outputs turned into
  // initializers (same value ids, names and order; nodes that produce a graph output stay).
  // Initializers nothing reads any more are kept: removing them is the caller's choice.
  ir::Graph graph;
  std::vector<std::string> folded;  // names of the removed nodes, in graph order
};

Result<FoldedGraph> fold_constants(const ir::Graph& graph, const FoldOptions& options = {});

}  // namespace qdiff::qdq
