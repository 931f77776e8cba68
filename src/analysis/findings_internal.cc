#include "analysis/findings_internal.h"

#include <cmath>
#include <cstdio>
#include <span>

namespace qdiff::analysis::internal {

std::string fmt(const char* f, double v) {
  char b[64];
  std::snprintf(b, sizeof b, f, v);
  return b;
}

std::string unit_of_tensor(const ir::Graph& g, const quant::QuantPlan& plan, ir::ValueId v) {
  const ir::NodeId p = g.value(v).producer;
  if (p == UINT32_MAX) return "";
  const quant::NodePlan* np = plan.find_node(g.node(p).name);
  return np ? np->unit : g.node(p).name;
}

std::string op_of(const ir::Graph& g, const std::string& node) {
  for (size_t i = 0; i < g.num_nodes(); ++i)
    if (g.node(static_cast<ir::NodeId>(i)).name == node)
      return g.node(static_cast<ir::NodeId>(i)).op_type;
  return "";
}

bool damaged(const std::optional<TensorMetrics>& m) {
  if (!m) return false;
  if (m->top1) {
    const int64_t flipped = m->top1->rows - m->top1->agree;
    if (flipped >= 3 && static_cast<double>(flipped) > 0.015 * static_cast<double>(m->top1->rows))
      return true;
  }
  const bool classifier = m->top1 && m->top1->rows > 0;
  return m->sqnr_db < (classifier ? 10.0 : 20.0);
}

Score tensor_score(const std::vector<Tensor>& ref, const std::vector<Tensor>& test) {
  Score s;
  for (size_t i = 0; i < ref.size() && i < test.size(); ++i) {
    std::span<const float> x = ref[i].values<float>();
    std::span<const float> y = test[i].values<float>();
    for (size_t k = 0; k < x.size() && k < y.size(); ++k) {
      if (!std::isfinite(x[k]) || !std::isfinite(y[k])) continue;
      const double d = static_cast<double>(x[k]) - y[k];
      s.err += d * d;
      s.ref += static_cast<double>(x[k]) * x[k];
    }
  }
  return s;
}

}  // namespace qdiff::analysis::internal
