// The interpreter runs a graph, one sample at a time, node by node in topological order.
// It holds no numeric policy: each node runs the kernel the plan chose (a fast kernel where one
// applies, else the reference kernel), and every produced tensor can be tapped by an Observer.
// Tensors are released after their last use unless they are graph outputs or an observer keeps
// them, so memory stays bounded by the live set.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "kernels/kernel.h"
#include "runtime/observer.h"
#include "support/status.h"

namespace qdiff::runtime {

struct RunOptions {
  int threads = 1;       // threads kernels may use; results do not depend on it
  bool use_fast = true;  // false: reference kernels only (the specification)
  // Round every tensor the model stores as float16 to float16 precision as it is produced,
  // as a float16 runtime stores it. Off: the float32 original of a float16 model.
  bool round_float16 = false;
  // Let fast kernels that support it pass rank-4 activations to each other in NHWC layout
  // (saves the reorders oneDNN would do around every convolution). Results are identical either
  // way: kernels, observers and callers only ever see the plain tensors (a reorder is exact).
  bool propagate_layouts = true;
  // Time every node (node_times_ms()); for profiling.
  bool time_nodes = false;
};

class Interpreter {
 public:
  // Fails (listing every one) when the graph holds ops qdiff does not support.
  static Result<std::unique_ptr<Interpreter>> create(const ir::Graph& graph, RunOptions options);

  // Runs one sample: one tensor per graph input (graph.inputs order), checked against the
  // declared dtypes and shapes. Returns the graph outputs in order.
  Result<std::vector<Tensor>> run(std::span<const Tensor> inputs, Observer* observer = nullptr);

  const ir::Graph& graph() const { return graph_; }
  // Per node: the kernel that ran last ("dnnl:conv", "ref:Conv"), empty before the first run.
  const std::vector<std::string>& kernel_names() const { return kernel_names_; }
  // Per node: milliseconds the last run spent on it (layout conversions of its inputs included);
  // filled when RunOptions::time_nodes is set.
  const std::vector<double>& node_times_ms() const { return node_times_ms_; }

  // Ops of the graph without a kernel, as "Op (n nodes: a, b, ...)" lines; empty if none.
  static std::vector<std::string> unsupported_ops(const ir::Graph& graph);

 private:
  Interpreter(const ir::Graph& graph, RunOptions options);
  Status check_input(size_t index, const Tensor& t) const;

  const ir::Graph& graph_;
  RunOptions options_;
  std::vector<int64_t> last_use_;  // per value: index of the last node reading it; -1 never
  std::vector<bool> is_output_;
  std::vector<std::unique_ptr<kernels::KernelState>> states_;  // per node
  std::vector<bool> fast_refused_;                             // per node
  // Per value: every reader's fast kernel reads NHWC and it is no graph output, so its
  // producer may store it NHWC.
  std::vector<bool> nhwc_ok_;
  std::vector<double> node_times_ms_;
  std::vector<std::string> kernel_names_;
};

// Checks a tensor against a declared type: dtype (when known) and every known dimension.
Status check_tensor_type(const std::string& what, const ir::TensorType& type, const Tensor& t);

}  // namespace qdiff::runtime
