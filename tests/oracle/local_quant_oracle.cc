// The local fake-quant oracle: every node of qdiff's fake-quant world runs on ONNX Runtime's
// values of its inputs (from ORT's dump of the QDQ model), and its output is compared with
// ORT's. Differences then cannot propagate: a quantized tensor is off only where float
// summation order flipped a rounding tie in that very node.
//
//   qdiff_local_quant_oracle FLOAT.onnx Q.onnx ORT_DUMP QDIFF_DUMP INPUT
//       [--max-flip-fraction 0.001] [--rel-tol 1e-4] [--verbose]
//
// QDIFF_DUMP is `qdiff run FLOAT --mode fakequant --quantized Q.onnx --dump` of the same
// inputs: its manifest maps each quantized tensor to ORT's name ("quant": {"ref": ...}).
// Rules: quantized tensors within one step of their scale in at most --max-flip-fraction of
// elements (or a single element, for tensors too small to show the fraction), float tensors
// within rel-tol x max|ORT|.
// Exit status: 0 pass, 1 failure, 2 usage or input error.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "onnx/importer.h"
#include "qdq/qdq_import.h"
#include "quant/fake_quant.h"
#include "runtime/dump.h"
#include "runtime/interpreter.h"
#include "runtime/samples.h"

using namespace qdiff;  // NOLINT

namespace {

struct Stats {
  bool quantized = false;
  std::vector<double> scales;
  int axis = -1;
  int64_t elements = 0, flips = 0, beyond = 0;
  double max_steps = 0, max_diff = 0, max_ref = 0;
};

// Compares each produced value with ORT's and hands ORT's value on to the readers.
class Replay : public runtime::ValueTransform {
 public:
  Replay(const ir::Graph& g, runtime::ValueTransform* world, const runtime::Dump& ort,
         const std::map<std::string, std::string>& ref_names)
      : world_(world), ort_(ort), refs_(g.num_values(), nullptr), stats_(g.num_values()) {
    for (ir::ValueId v = 0; v < g.num_values(); ++v) {
      const std::string& name = g.value(v).name;
      auto r = ref_names.find(name);
      auto t = ort.tensors.find(r != ref_names.end() ? r->second : name);
      if (t != ort.tensors.end()) refs_[v] = &t->second;
    }
  }
  bool applies(ir::ValueId id) const override { return refs_[id] || world_->applies(id); }
  Result<Tensor> apply(ir::ValueId id, const Tensor& value) override {
    Tensor v = value;
    if (world_->applies(id)) {
      QDIFF_ASSIGN_OR_RETURN(v, world_->apply(id, value));
    }
    if (!refs_[id]) return v;
    const Tensor& stacked = *refs_[id];
    if (stacked.numel() != v.numel() * static_cast<int64_t>(ort_.samples.size()))
      return invalid_argument("ORT tensor for value " + std::to_string(id) + " has shape " +
                              shape_to_string(stacked.shape()));
    Tensor ref_all = stacked.dtype() == DType::kFloat32 ? stacked : stacked.cast(DType::kFloat32);
    const int64_t n = v.numel();
    const float* r = ref_all.data<float>() + sample_ * n;
    const float* c = v.data<float>();
    Stats& s = stats_[id];
    int64_t inner = 1, channels = 1;
    if (s.quantized && s.axis >= 0) {
      channels = v.dim(s.axis);
      for (int64_t d = s.axis + 1; d < v.rank(); ++d) inner *= v.dim(d);
    }
    for (int64_t i = 0; i < n; ++i) {
      const double d = std::fabs(static_cast<double>(c[i]) - r[i]);
      s.max_ref = std::max(s.max_ref, std::fabs(static_cast<double>(r[i])));
      s.max_diff = std::max(s.max_diff, std::isnan(d) ? INFINITY : d);
      if (!s.quantized || d <= 1e-6 * std::fabs(static_cast<double>(r[i]))) continue;
      const double step = s.scales[static_cast<size_t>(s.axis >= 0 ? (i / inner) % channels : 0)];
      ++s.flips;
      s.max_steps = std::max(s.max_steps, d / step);
      if (d > 1.5 * step) ++s.beyond;  // values sit on the grid: next is 2 steps
    }
    s.elements += n;
    Tensor out = Tensor::zeros(DType::kFloat32, v.shape());
    std::copy(r, r + n, out.mutable_data<float>());
    return out;
  }
  void set_sample(int64_t s) { sample_ = s; }
  std::vector<Stats>& stats() { return stats_; }

 private:
  runtime::ValueTransform* world_;
  const runtime::Dump& ort_;
  std::vector<const Tensor*> refs_;
  std::vector<Stats> stats_;
  int64_t sample_ = 0;
};

int fail(const Status& s) {
  std::fprintf(stderr, "qdiff_local_quant_oracle: %s\n", s.message().c_str());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> pos;
  double max_flip = 1e-3, rel_tol = 1e-4;
  bool verbose = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if ((a == "--max-flip-fraction" || a == "--rel-tol") && i + 1 < argc)
      (a == "--rel-tol" ? rel_tol : max_flip) = std::strtod(argv[++i], nullptr);
    else if (a == "--verbose")
      verbose = true;
    else
      pos.push_back(a);
  }
  if (pos.size() != 5) {
    std::fprintf(stderr,
                 "usage: qdiff_local_quant_oracle FLOAT.onnx Q.onnx ORT_DUMP QDIFF_DUMP INPUT "
                 "[--max-flip-fraction F] [--rel-tol X] [--verbose]\n");
    return 2;
  }
  auto fm = onnx::import_model(pos[0]);
  if (!fm.ok()) return fail(fm.status());
  auto qm = onnx::import_model(pos[1]);
  if (!qm.ok()) return fail(qm.status());
  auto imported = qdq::import_quantized(qm.value().graph, pos[1]);
  if (!imported.ok()) return fail(imported.status());
  ir::Graph graph = fm.value().graph;
  quant::QuantPlan plan;
  if (pos[0] == pos[1]) {
    graph = imported.value().float_graph;
    plan = imported.value().plan;
  } else {
    auto mapped = qdq::map_plan(imported.value().plan, imported.value().float_graph, graph);
    if (!mapped.ok()) return fail(mapped.status());
    plan = mapped.value().plan;
  }
  auto world = quant::FakeQuantWorld::create(graph, plan);
  if (!world.ok()) return fail(world.status());
  const ir::Graph& g = world.value()->graph();

  // ORT names of the quantized tensors, from qdiff's dump manifest.
  std::map<std::string, std::string> ref_names;
  {
    std::ifstream in(pos[3] + "/manifest.json");
    nlohmann::json m;
    try {
      in >> m;
      for (const auto& t : m.at("tensors"))
        if (t.contains("quant") && t["quant"].contains("ref"))
          ref_names[t["name"].get<std::string>()] = t["quant"]["ref"].get<std::string>();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "qdiff_local_quant_oracle: %s/manifest.json: %s\n", pos[3].c_str(),
                   e.what());
      return 2;
    }
  }
  auto ort = runtime::read_dump(pos[2]);
  if (!ort.ok()) return fail(ort.status());
  auto samples = runtime::load_samples(g, {pos[4]});
  if (!samples.ok()) return fail(samples.status());
  if (samples.value().inputs.size() != ort.value().samples.size())
    return fail(invalid_argument("sample counts differ between INPUT and ORT_DUMP"));

  Replay replay(g, world.value()->transform(), ort.value(), ref_names);
  for (const quant::TensorPlan& t : plan.tensors) {
    if (t.role != quant::Role::kActivation || t.dynamic) continue;
    Stats& s = replay.stats()[*g.find_value(t.name)];
    s.quantized = true;
    s.scales.assign(t.params.scales.begin(), t.params.scales.end());
    s.axis = t.params.axis;
  }
  auto interp = runtime::Interpreter::create(g, {});
  if (!interp.ok()) return fail(interp.status());
  for (size_t i = 0; i < samples.value().inputs.size(); ++i) {
    replay.set_sample(static_cast<int64_t>(i));
    auto r = interp.value()->run(samples.value().inputs[i], nullptr, &replay);
    if (!r.ok()) return fail(r.status());
  }
  int quant_n = 0, quant_exact = 0, float_n = 0, failures = 0;
  int64_t flips = 0, elements = 0;
  double worst_frac = 0, worst_rel = 0;
  for (ir::ValueId v = 0; v < g.num_values(); ++v) {
    const Stats& s = replay.stats()[v];
    if (s.elements == 0) continue;
    const std::string& name = g.value(v).name;
    if (s.quantized) {
      ++quant_n;
      quant_exact += s.flips == 0;
      flips += s.flips;
      elements += s.elements;
      const double frac = static_cast<double>(s.flips) / static_cast<double>(s.elements);
      worst_frac = std::max(worst_frac, frac);
      // One flipped element is allowed in any tensor (a 200-logit output cannot show 0.1 %).
      const bool ok = s.beyond == 0 && (frac <= max_flip || s.flips <= 1);
      failures += !ok;
      if (!ok || verbose)
        std::printf("%s %s: %lld/%lld elements one step off (%.4f%%), max %.3g steps\n",
                    ok ? "ok  " : "FAIL", name.c_str(), static_cast<long long>(s.flips),
                    static_cast<long long>(s.elements), 100 * frac, s.max_steps);
    } else {
      ++float_n;
      const double rel = s.max_diff / (s.max_ref > 0 ? s.max_ref : 1.0);
      worst_rel = std::max(worst_rel, rel);
      const bool ok = rel <= rel_tol;
      failures += !ok;
      if (!ok || verbose)
        std::printf("%s %s: float, max rel %.3g\n", ok ? "ok  " : "FAIL", name.c_str(), rel);
    }
  }
  std::printf(
      "local_quant: %d quantized tensors (%d bit-exact; %lld of %lld elements one step off = "
      "%.4f%%, worst tensor %.4f%%), %d float tensors (worst rel %.3g), %d failing\n",
      quant_n, quant_exact, static_cast<long long>(flips), static_cast<long long>(elements),
      elements ? 100.0 * static_cast<double>(flips) / static_cast<double>(elements) : 0.0,
      100 * worst_frac, float_n, worst_rel, failures);
  return quant_n == 0 || failures ? 1 : 0;
}
