// Taps: observers see every tensor a run produces, keyed by graph identity (ValueId).
// Two phases, as in ggml's eval callback: wants() is asked first, so the interpreter hands out
// only the tensors an observer asked for; observe() then sees the value.
#pragma once

#include <cstdint>
#include <limits>
#include <map>
#include <vector>

#include "ir/graph.h"
#include "support/status.h"
#include "tensor/tensor.h"

namespace qdiff::runtime {

class Observer {
 public:
  virtual ~Observer() = default;
  virtual bool wants(ir::ValueId /*id*/) const { return true; }
  // Whether observe() takes tensors in any layout (else they are plain, converted if need be).
  virtual bool any_layout() const { return false; }
  // Called once per produced value per run (graph inputs included), in execution order. The
  // tensor's storage is immutable and shared: an observer may keep it. A non-OK status stops
  // the run and is returned by it.
  virtual Status observe(ir::ValueId id, const Tensor& value) = 0;
};

// Changes values as they are produced, before any observer or reader sees them: the fake-quant
// world quantizes-dequantizes the tensors its plan names. A transformed value is never fused
// away (its producer always hands it out).
class ValueTransform {
 public:
  virtual ~ValueTransform() = default;
  virtual bool applies(ir::ValueId id) const = 0;
  // Returns the value readers see instead of `value` (same shape). `value` is plain unless
  // any_layout() says the transform takes tensors in any layout (then it returns one in any
  // layout too: readers convert). A non-OK status stops the run.
  virtual Result<Tensor> apply(ir::ValueId id, const Tensor& value) = 0;
  virtual bool any_layout() const { return false; }
};

// Streaming statistics per value over all runs: O(1) memory per value, keeps no tensor.
struct TensorStats {
  int64_t count = 0;  // finite elements seen
  int64_t nan_count = 0;
  int64_t inf_count = 0;
  double min = std::numeric_limits<double>::infinity();
  double max = -std::numeric_limits<double>::infinity();
  double sum = 0;
  double sum_squares = 0;
  double mean() const { return count ? sum / static_cast<double>(count) : 0.0; }
};

class StatisticsObserver : public Observer {
 public:
  Status observe(ir::ValueId id, const Tensor& value) override;
  const std::map<ir::ValueId, TensorStats>& stats() const { return stats_; }

 private:
  std::map<ir::ValueId, TensorStats> stats_;
};

// Stops the run at the first float tensor holding a NaN or an Inf, naming it.
class NonFiniteGuard : public Observer {
 public:
  explicit NonFiniteGuard(const ir::Graph& graph) : graph_(graph) {}
  Status observe(ir::ValueId id, const Tensor& value) override;

 private:
  const ir::Graph& graph_;
};

// Keeps the tensors of the selected values (all when `selection` is empty) from every run.
class RecordingObserver : public Observer {
 public:
  explicit RecordingObserver(std::vector<ir::ValueId> selection = {});
  bool wants(ir::ValueId id) const override;
  Status observe(ir::ValueId id, const Tensor& value) override;
  // Per value: one tensor per run, in run order.
  const std::map<ir::ValueId, std::vector<Tensor>>& records() const { return records_; }

 private:
  std::vector<bool> selected_;
  bool all_ = true;
  std::map<ir::ValueId, std::vector<Tensor>> records_;
};

// Forwards to several observers; a value is handed out if any of them wants it.
class ObserverList : public Observer {
 public:
  void add(Observer* o) { observers_.push_back(o); }
  bool wants(ir::ValueId id) const override;
  Status observe(ir::ValueId id, const Tensor& value) override;

 private:
  std::vector<Observer*> observers_;
};

}  // namespace qdiff::runtime
