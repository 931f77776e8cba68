#include "runtime/observer.h"

#include <cmath>

namespace qdiff::runtime {

Status StatisticsObserver::observe(ir::ValueId id, const Tensor& value) {
  TensorStats& s = stats_[id];
  const auto add = [&s](double v) {
    if (std::isnan(v)) {
      ++s.nan_count;
    } else if (std::isinf(v)) {
      ++s.inf_count;
    } else {
      ++s.count;
      s.min = std::min(s.min, v);
      s.max = std::max(s.max, v);
      s.sum += v;
      s.sum_squares += v * v;
    }
  };
  visit_dtype(value.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* p = value.data<T>();
    for (int64_t i = 0; i < value.numel(); ++i) add(static_cast<double>(p[i]));
  });
  return Status();
}

Status NonFiniteGuard::observe(ir::ValueId id, const Tensor& value) {
  if (value.dtype() != DType::kFloat32) return Status();
  const float* p = value.data<float>();
  for (int64_t i = 0; i < value.numel(); ++i) {
    if (!std::isfinite(p[i])) {
      const ir::Value& v = graph_.value(id);
      std::string where = v.producer != UINT32_MAX ? graph_.node(v.producer).describe() + ": " : "";
      return invalid_argument(where + "tensor '" + v.name + "' holds " +
                              (std::isnan(p[i]) ? "NaN" : "Inf") + " at element " +
                              std::to_string(i) + " (stopped at the first non-finite value)");
    }
  }
  return Status();
}

RecordingObserver::RecordingObserver(std::vector<ir::ValueId> selection) : all_(selection.empty()) {
  for (ir::ValueId id : selection) {
    if (id >= selected_.size()) selected_.resize(id + 1, false);
    selected_[id] = true;
  }
}

bool RecordingObserver::wants(ir::ValueId id) const {
  return all_ || (id < selected_.size() && selected_[id]);
}

Status RecordingObserver::observe(ir::ValueId id, const Tensor& value) {
  if (wants(id)) records_[id].push_back(value);
  return Status();
}

bool ObserverList::wants(ir::ValueId id) const {
  for (const Observer* o : observers_)
    if (o->wants(id)) return true;
  return false;
}

Status ObserverList::observe(ir::ValueId id, const Tensor& value) {
  for (Observer* o : observers_)
    if (o->wants(id)) QDIFF_RETURN_IF_ERROR(o->observe(id, value));
  return Status();
}

}  // namespace qdiff::runtime
