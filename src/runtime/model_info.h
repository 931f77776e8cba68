// What `qdiff inspect` reports about a model: ops, parameters, shapes and MACs (from a dry run
// on zero inputs when the input shapes are known), unsupported ops, and the per-channel weight
// range ratio of every Conv/ConvTranspose/Gemm/MatMul with constant weights.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "support/status.h"

namespace qdiff::runtime {

struct WeightRange {
  std::string node;
  std::string op;
  Shape weight_shape;
  int64_t channels = 0;  // output channels
  double min_channel_absmax = 0;
  double max_channel_absmax = 0;
  int64_t dead_channels = 0;  // channels whose weights are (nearly) all zero
  // max / min of the per-channel max |w| over live channels: how much a per-tensor scale
  // wastes on the narrowest channel. 1 = uniform.
  double ratio = 1;
};

struct NodeInfo {
  std::string name;
  std::string op;
  std::vector<Shape> output_shapes;  // empty when unknown
  int64_t macs = 0;                  // multiply-accumulates (Conv, ConvTranspose, Gemm, MatMul)
};

struct ModelInfo {
  std::map<std::string, int> op_counts;
  std::vector<std::string> unsupported;  // "Op (n nodes: ...)": no kernel in qdiff
  int64_t parameters = 0;                // elements of float constants (initializers, Constant)
  int64_t parameter_bytes = 0;
  std::vector<NodeInfo> nodes;  // graph order
  int64_t total_macs = 0;
  bool shapes_known = false;  // the dry run succeeded
  std::string dry_run_error;  // why shapes/MACs are unknown, if they are
  std::vector<WeightRange> weight_ranges;
};

// `input_shapes`: shapes for graph inputs whose declared shape has unknown dims.
ModelInfo inspect_graph(const ir::Graph& graph, const std::map<std::string, Shape>& input_shapes);

// The constant tensor behind a value: an initializer or a Constant node's output.
std::optional<Tensor> constant_value(const ir::Graph& graph, ir::ValueId id);

}  // namespace qdiff::runtime
