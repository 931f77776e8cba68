#include "analysis/tune.h"

#include <algorithm>
#include <cstdlib>
#include <map>
#include <optional>

#include "analysis/verifier.h"
#include "intworld/int_world.h"
#include "quant/plan_edit.h"

namespace qdiff::analysis {

Result<Goal> parse_goal(std::string_view text) {
  Goal g;
  g.text = std::string(text);
  const size_t op = text.find_first_of("<>");
  const auto bad = [&] {
    return invalid_argument("goal '" + std::string(text) +
                            "': expected cosine>=X, sqnr>=DB, top1-agreement>=PCT or "
                            "top1-drop<=PCT");
  };
  if (op == std::string_view::npos || op + 1 >= text.size() || text[op + 1] != '=') return bad();
  const std::string_view name = text.substr(0, op);
  g.at_least = text[op] == '>';
  const std::string number(text.substr(op + 2));
  char* end = nullptr;
  g.bound = std::strtod(number.c_str(), &end);
  if (number.empty() || end != number.c_str() + number.size() || !std::isfinite(g.bound))
    return bad();
  if (name == "cosine" && g.at_least)
    g.metric = Goal::Metric::kCosine;
  else if (name == "sqnr" && g.at_least)
    g.metric = Goal::Metric::kSqnr;
  else if (name == "top1-agreement" && g.at_least)
    g.metric = Goal::Metric::kTop1Agreement;
  else if (name == "top1-drop" && !g.at_least)
    g.metric = Goal::Metric::kTop1Drop;
  else
    return bad();
  return g;
}

Result<TuneResult> tune(const ir::Graph& graph, const quant::QuantPlan& base,
                        const targets::TargetProfile& profile,
                        std::span<const std::vector<Tensor>> samples, std::vector<int64_t> labels,
                        const Goal& goal, int threads) {
  if (samples.empty()) return invalid_argument("tune: no samples");
  if (goal.metric == Goal::Metric::kTop1Drop && labels.size() < samples.size())
    return invalid_argument("goal " + goal.text + " needs --labels (one per sample)");
  Verifier v(graph, samples, threads, labels);
  QDIFF_RETURN_IF_ERROR(v.init(base));
  const double float_accuracy = v.float_self().accuracy();
  TuneResult r;
  r.world = intworld::IntWorld::create(graph, base, profile).ok() ? "integer" : "fake-quant";
  auto measure = [&](const quant::QuantPlan& plan) -> Result<double> {
    ++r.runs;
    QDIFF_ASSIGN_OR_RETURN(
        Score s, r.world == "integer" ? v.integer_vs_float(plan, profile) : v.fake_quant(plan));
    switch (goal.metric) {
      case Goal::Metric::kCosine:
        return s.cosine();
      case Goal::Metric::kSqnr:
        return s.sqnr_db();
      case Goal::Metric::kTop1Agreement:
        return 100.0 * s.top1();
      case Goal::Metric::kTop1Drop:
        return 100.0 * (float_accuracy - s.accuracy());
    }
    return 0.0;
  };
  // Better in the goal's direction.
  auto better = [&](double a, double b) { return goal.at_least ? a > b : a < b; };
  QDIFF_ASSIGN_OR_RETURN(r.before, measure(base));
  r.after = r.before;
  r.plan = base;
  r.met = goal.met(r.before);
  if (r.met) return r;

  // Units in graph order of their first node.
  std::vector<std::string> units;
  {
    std::map<std::string, bool> seen;
    for (const quant::NodePlan& np : base.nodes)
      if (np.precision != quant::Precision::kFloat && !seen[np.unit]) {
        seen[np.unit] = true;
        units.push_back(np.unit);
      }
  }
  auto raise = [&](size_t n, const std::vector<TuneResult::Sensitivity>& order,
                   std::optional<quant::Precision> all) -> Result<quant::QuantPlan> {
    quant::PlanEdit e;
    e.why = "tune";
    for (size_t i = 0; i < n; ++i) e.precision[order[i].unit] = all ? *all : order[i].precision;
    return quant::apply_plan_edit(base, graph, profile.scheme, e);
  };
  // Sensitivity: each unit alone in int16 (where the target has 16-bit kernels), else in float.
  std::vector<quant::Precision> raises{quant::Precision::kFloat};
  if (profile.int16_units) raises.insert(raises.begin(), quant::Precision::kInt16);
  for (const std::string& u : units) {
    for (quant::Precision p : raises) {
      quant::PlanEdit e;
      e.why = "tune";
      e.precision[u] = p;
      auto plan = quant::apply_plan_edit(base, graph, profile.scheme, e);
      if (!plan.ok()) continue;
      auto m = measure(plan.value());
      if (!m.ok()) continue;  // the target cannot run the unit this way
      r.sensitivity.push_back({u, p, m.value()});
      break;
    }
  }
  std::stable_sort(r.sensitivity.begin(), r.sensitivity.end(),
                   [&](const auto& a, const auto& b) { return better(a.metric, b.metric); });
  // Bisection over the prefix of the order: with each unit's own way, then all in float.
  for (std::optional<quant::Precision> all :
       {std::optional<quant::Precision>(), std::optional(quant::Precision::kFloat)}) {
    const size_t n_all = r.sensitivity.size();
    if (n_all == 0) break;
    auto probe = [&](size_t n) -> Result<std::pair<double, quant::QuantPlan>> {
      QDIFF_ASSIGN_OR_RETURN(quant::QuantPlan plan, raise(n, r.sensitivity, all));
      QDIFF_ASSIGN_OR_RETURN(double m, measure(plan));
      return std::pair{m, std::move(plan)};
    };
    auto top = probe(n_all);
    if (!top.ok()) continue;
    if (better(top->first, r.after)) {
      r.after = top->first;
      r.plan = top->second;
      r.raised.clear();
      for (const auto& s : r.sensitivity) r.raised.push_back({s.unit, all ? *all : s.precision});
    }
    if (!goal.met(top->first)) continue;
    size_t lo = 0, hi = n_all;  // lo fails (n = 0 is the base), hi meets the goal
    std::pair<double, quant::QuantPlan> best = std::move(top).value();
    while (hi - lo > 1) {
      const size_t mid = lo + (hi - lo) / 2;
      auto p = probe(mid);
      if (!p.ok()) return p.status();
      if (goal.met(p->first)) {
        hi = mid;
        best = std::move(p).value();
      } else {
        lo = mid;
      }
    }
    r.met = true;
    r.after = best.first;
    r.plan = std::move(best.second);
    r.raised.clear();
    for (size_t i = 0; i < hi; ++i)
      r.raised.push_back({r.sensitivity[i].unit, all ? *all : r.sensitivity[i].precision});
    // The metric is not always monotonic in the prefix: drop each raised unit (last first)
    // whose removal still meets the goal, until none can go.
    for (bool dropped = true; dropped;) {
      dropped = false;
      for (size_t i = r.raised.size(); i-- > 0 && r.raised.size() > 1;) {
        quant::PlanEdit e;
        e.why = "tune";
        for (size_t k = 0; k < r.raised.size(); ++k)
          if (k != i) e.precision[r.raised[k].unit] = r.raised[k].precision;
        auto plan = quant::apply_plan_edit(base, graph, profile.scheme, e);
        if (!plan.ok()) continue;
        auto m = measure(plan.value());
        if (!m.ok() || !goal.met(m.value())) continue;
        r.after = m.value();
        r.plan = std::move(plan).value();
        r.raised.erase(r.raised.begin() + static_cast<std::ptrdiff_t>(i));
        dropped = true;
      }
    }
    break;
  }
  return r;
}

}  // namespace qdiff::analysis
