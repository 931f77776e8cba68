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
  // Fuse a Relu/Clip into the fast Conv before it where no one can tell (the Conv output has no
  // other reader, is no graph output and the run's observer does not want it). Results are
  // identical either way (the Conv applies the activation kernel's own operation).
  bool fuse_activations = true;
  // Time every node (node_times_ms()); for profiling.
  bool time_nodes = false;
};

// A partial run (incremental recomputation): the values an earlier run of the same graph handed
// out (after its transform; per value, undefined where unknown), and the nodes to run again.
// A node not rerun hands out its outputs from `given` without running or transforming them;
// `given` must hold every output of such a node that a rerun node or a graph output reads.
// Graph inputs are always handed out afresh.
struct Resume {
  const std::vector<Tensor>* given = nullptr;  // per value
  const std::vector<bool>* rerun = nullptr;    // per node
};

class Interpreter {
 public:
  // Fails (listing every one) when the graph holds ops qdiff does not support.
  static Result<std::unique_ptr<Interpreter>> create(const ir::Graph& graph, RunOptions options);

  // Runs one sample: one tensor per graph input (graph.inputs order), checked against the
  // declared dtypes and shapes. Returns the graph outputs in order. `transform`, when given,
  // replaces the values it applies to as they are produced (graph inputs included).
  Result<std::vector<Tensor>> run(std::span<const Tensor> inputs, Observer* observer = nullptr,
                                  ValueTransform* transform = nullptr,
                                  const Resume* resume = nullptr);

  const ir::Graph& graph() const { return graph_; }
  // Per node: the kernel that ran last ("dnnl:conv", "ref:Conv"), empty before the first run.
  // A Conv that ran with the activation after it fused in reads "dnnl:conv+relu" (or +clip),
  // and that activation node "fused".
  const std::vector<std::string>& kernel_names() const { return kernel_names_; }
  // Per node: milliseconds the last run spent on it (layout conversions of its inputs included);
  // filled when RunOptions::time_nodes is set.
  const std::vector<double>& node_times_ms() const { return node_times_ms_; }

  // Ops of the graph without a kernel, as "Op (n nodes: a, b, ...)" lines; empty if none.
  static std::vector<std::string> unsupported_ops(const ir::Graph& graph);

 private:
  Interpreter(const ir::Graph& graph, RunOptions options);
  Status check_input(size_t index, const Tensor& t) const;
  void plan_fusion();
  // The fusion plan for this run's observer: per node, the activation node fused into it or -1.
  const std::vector<int64_t>& fusion_plan(const Observer* observer,
                                          const ValueTransform* transform);

  const ir::Graph& graph_;
  RunOptions options_;
  std::vector<int64_t> last_use_;  // per value: index of the last node reading it; -1 never
  std::vector<bool> is_output_;
  std::vector<std::unique_ptr<kernels::KernelState>> states_;  // per node
  std::vector<bool> fast_refused_;                             // per node
  // Per value: every reader's fast kernel reads NHWC and it is no graph output, so its
  // producer may store it NHWC.
  std::vector<bool> nhwc_ok_;
  // Activation fusion (fast path only). Per Conv node: the Relu/Clip node that alone reads its
  // output (no graph output, not rounded to float16), with the activation it computes; -1 none.
  // A run fuses a candidate unless its observer wants the Conv output: the plan is cached for
  // the last pattern of wanted Conv outputs.
  std::vector<int64_t> fuse_candidate_;
  std::vector<kernels::FusedActivation> fuse_activation_;  // per Conv node with a candidate
  std::vector<bool> fuse_plan_key_;                        // per candidate: observer wants it
  std::vector<int64_t> fuse_plan_;                         // per node: fused activation or -1
  bool fuse_plan_valid_ = false;
  std::vector<double> node_times_ms_;
  std::vector<std::string> kernel_names_;
};

// Checks a tensor against a declared type: dtype (when known) and every known dimension.
Status check_tensor_type(const std::string& what, const ir::TensorType& type, const Tensor& t);

}  // namespace qdiff::runtime
