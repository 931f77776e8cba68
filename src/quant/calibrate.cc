#include "quant/calibrate.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <memory>

#include "runtime/interpreter.h"

namespace qdiff::quant {
namespace {

// Feeds the observed activations to their range observers.
class CalibrationObserver : public runtime::Observer {
 public:
  static Result<std::unique_ptr<CalibrationObserver>> create(
      size_t num_values, const std::vector<ir::ValueId>& observed,
      const calib::ObserverOptions& options) {
    std::unique_ptr<CalibrationObserver> c(new CalibrationObserver());
    c->observers_.resize(num_values);
    for (ir::ValueId v : observed) {
      QDIFF_ASSIGN_OR_RETURN(calib::RangeObserver o, calib::RangeObserver::create(options));
      c->observers_[v] = std::make_unique<calib::RangeObserver>(std::move(o));
    }
    return c;
  }
  bool wants(ir::ValueId id) const override { return observers_[id] != nullptr; }
  Status observe(ir::ValueId id, const Tensor& value) override {
    return observers_[id]->update(value);
  }
  const calib::RangeObserver& get(ir::ValueId id) const { return *observers_[id]; }

 private:
  CalibrationObserver() = default;
  std::vector<std::unique_ptr<calib::RangeObserver>> observers_;
};

bool all_finite(const std::vector<Tensor>& inputs) {
  for (const Tensor& t : inputs) {
    if (t.dtype() != DType::kFloat32) continue;
    for (float v : t.to_plain().values<float>())
      if (!std::isfinite(v)) return false;
  }
  return true;
}

void draw_progress(size_t done, size_t total, int64_t samples) {
  const int width = 30;
  const int filled = total ? static_cast<int>(width * done / total) : 0;
  std::fprintf(stderr, "\rcalibrating [%.*s%*s] %zu/%zu files, %lld samples", filled,
               "==============================", width - filled, "", done, total,
               static_cast<long long>(samples));
  std::fflush(stderr);
}

}  // namespace

std::string describe_method(const calib::ObserverOptions& o) {
  switch (o.method) {
    case calib::Method::kMinMax:
      return "minmax";
    case calib::Method::kMovingAverageMinMax:
      return "moving-average(" + std::to_string(o.averaging) + ")";
    case calib::Method::kPercentile: {
      char buf[64];
      std::snprintf(buf, sizeof buf, "percentile(%g)", o.percentile);
      return buf;
    }
    case calib::Method::kMse:
      return "mse";
    case calib::Method::kEntropy:
      return "entropy";
  }
  return "?";
}

Result<CalibrationReport> calibrate(const ir::Graph& graph, runtime::SampleReader& samples,
                                    const CalibrationOptions& options) {
  QDIFF_ASSIGN_OR_RETURN(PlanStructure structure,
                         plan_structure(graph, options.precision, options.scheme.units));
  const std::vector<ir::ValueId> observed = structure.observed();
  QDIFF_ASSIGN_OR_RETURN(auto observer_ptr, CalibrationObserver::create(
                                                graph.num_values(), observed, options.observer));
  CalibrationObserver& observer = *observer_ptr;
  runtime::RunOptions ro;
  ro.threads = options.threads;
  QDIFF_ASSIGN_OR_RETURN(auto interpreter, runtime::Interpreter::create(graph, ro));
  CalibrationReport report;
  const bool bar = options.progress && isatty(STDERR_FILENO);
  std::vector<Tensor> inputs;
  std::string name;
  while (options.max_samples < 0 || report.samples_used < options.max_samples) {
    QDIFF_ASSIGN_OR_RETURN(bool more, samples.next(&inputs, &name));
    if (!more) break;
    if (!all_finite(inputs)) {
      report.bad_samples.push_back(name);
      continue;
    }
    auto run = interpreter->run(inputs, &observer);
    if (!run.ok()) return run.status().with_context("calibration sample " + name);
    ++report.samples_used;
    if (bar) draw_progress(samples.files_read(), samples.files(), report.samples_used);
  }
  if (bar) std::fprintf(stderr, "\n");
  if (report.samples_used == 0)
    return invalid_argument(report.bad_samples.empty()
                                ? "no calibration samples"
                                : "every calibration sample holds NaN or Inf");
  std::map<ir::ValueId, std::pair<float, float>> ranges;
  for (const PlannedTensor& pt : structure.tensors) {
    if (pt.kind != TensorKind::kObserved) continue;
    const calib::RangeObserver& o = observer.get(pt.value);
    const std::string& vname = graph.value(pt.value).name;
    if (o.nonfinite_count() > 0)
      report.nonfinite_tensors.push_back(vname + ": " + std::to_string(o.nonfinite_count()));
    const Format& f = pt.bits == 16 ? options.scheme.activation16 : options.scheme.activation;
    auto r =
        o.ranges(calib::Format{f.bits, f.is_signed, f.symmetric, f.narrow_range || f.narrow_scale});
    if (!r.ok()) return r.status().with_context("tensor '" + vname + "'");
    ranges[pt.value] = r.value().at(0);
  }
  QDIFF_ASSIGN_OR_RETURN(report.plan, make_plan(graph, structure, options.scheme, ranges,
                                                describe_method(options.observer)));
  report.plan.origin = "calibrate --target " + options.scheme.target + " --method " +
                       describe_method(options.observer) + " (" +
                       std::to_string(report.samples_used) + " samples)";
  return report;
}

}  // namespace qdiff::quant
