#include "analysis/findings.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <map>
#include <set>
#include <utility>

#include "analysis/findings_internal.h"
#include "analysis/verifier.h"
#include "calib/observers.h"
#include "intworld/int_world.h"
#include "quant/fake_quant.h"
#include "quant/plan_edit.h"
#include "runtime/interpreter.h"
#include "runtime/model_info.h"

namespace qdiff::analysis {

using internal::damaged;
using internal::fmt;
using internal::op_of;
using internal::tensor_score;
using internal::unit_of_tensor;

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// A quantized unit: its first node, members in graph order, and the tensor it produces.
struct Unit {
  std::string head;
  ir::NodeId head_id = 0;
  std::vector<ir::NodeId> members;
  ir::ValueId output = ir::kNoValue;
};

std::map<std::string, Unit> units_of(const ir::Graph& g, const quant::QuantPlan& plan) {
  std::map<std::string, ir::NodeId> ids;
  for (size_t i = 0; i < g.num_nodes(); ++i)
    ids[g.node(static_cast<ir::NodeId>(i)).name] = static_cast<ir::NodeId>(i);
  std::map<std::string, Unit> units;
  for (const quant::NodePlan& np : plan.nodes) {
    auto it = ids.find(np.name);
    if (it == ids.end() || np.precision == quant::Precision::kFloat) continue;
    Unit& u = units[np.unit];
    u.head = np.unit;
    if (auto h = ids.find(np.unit); h != ids.end()) u.head_id = h->second;
    u.members.push_back(it->second);
  }
  for (auto& [name, u] : units) {
    std::sort(u.members.begin(), u.members.end());
    const ir::Node& last = g.node(u.members.back());
    if (!last.outputs.empty()) u.output = last.outputs[0];
  }
  return units;
}

// Float values of the candidate tensors over the verification samples: data range, the range
// the MSE observer picks for the tensor's format, and the elements the plan's grid clips.
class RangeStats : public runtime::Observer {
 public:
  struct Entry {
    QuantParams grid;
    std::optional<calib::RangeObserver> minmax, mse;
    int64_t clipped = 0, total = 0;
    double clipped_energy = 0;
  };
  bool wants(ir::ValueId id) const override { return entries_.count(id) > 0; }
  Status observe(ir::ValueId id, const Tensor& value) override {
    auto it = entries_.find(id);
    if (it == entries_.end()) return Status();
    Entry& e = it->second;
    const Tensor t = value.to_plain();
    QDIFF_RETURN_IF_ERROR(e.minmax->update(t));
    QDIFF_RETURN_IF_ERROR(e.mse->update(t));
    const auto [lo, hi] = quant::grid_range(e.grid);
    for (float x : t.values<float>()) {
      if (!std::isfinite(x)) continue;
      ++e.total;
      if (x < lo || x > hi) {
        ++e.clipped;
        const double d = x < lo ? x - lo : x - hi;
        e.clipped_energy += d * d;
      }
    }
    return Status();
  }
  Status add(ir::ValueId id, const QuantParams& grid) {
    Entry e;
    e.grid = grid;
    calib::ObserverOptions mm;
    QDIFF_ASSIGN_OR_RETURN(calib::RangeObserver a, calib::RangeObserver::create(mm));
    calib::ObserverOptions ms;
    ms.method = calib::Method::kMse;
    QDIFF_ASSIGN_OR_RETURN(calib::RangeObserver b, calib::RangeObserver::create(ms));
    e.minmax.emplace(std::move(a));
    e.mse.emplace(std::move(b));
    entries_.emplace(id, std::move(e));
    return Status();
  }
  const Entry* find(ir::ValueId id) const {
    auto it = entries_.find(id);
    return it == entries_.end() ? nullptr : &it->second;
  }

 private:
  std::map<ir::ValueId, Entry> entries_;
};

calib::Format format_of(const QuantParams& p) {
  return {p.bits, p.is_signed, p.symmetric, p.narrow_range};
}

// Per-channel spread of a weight: absmax per output channel (axis 0, or 1 for ConvTranspose).
struct WeightSpread {
  int64_t channels = 0;
  double max_absmax = 0, median_absmax = 0;
  int64_t coarse_channels = 0;  // channels using fewer than 16 levels of the per-tensor grid
};

WeightSpread weight_spread(const Tensor& w, int axis, float scale) {
  WeightSpread s;
  if (w.rank() < 2 || axis < 0 || axis >= w.rank()) return s;
  s.channels = w.dim(axis);
  int64_t inner = 1;
  for (int64_t d = axis + 1; d < w.rank(); ++d) inner *= w.dim(d);
  std::vector<double> absmax(static_cast<size_t>(s.channels), 0.0);
  const std::vector<float> v = w.to_f32_vector();
  for (size_t i = 0; i < v.size(); ++i) {
    const auto c = static_cast<size_t>((static_cast<int64_t>(i) / inner) % s.channels);
    absmax[c] = std::max(absmax[c], std::fabs(static_cast<double>(v[i])));
  }
  std::vector<double> sorted = absmax;
  std::sort(sorted.begin(), sorted.end());
  s.max_absmax = sorted.back();
  s.median_absmax = sorted[sorted.size() / 2];
  for (double a : absmax)
    if (scale > 0 && a / scale < 16) ++s.coarse_channels;
  return s;
}

// The relative error energy fake-quantization gives a node's weight (input 1), 0 without one.
double weight_error(const ir::Graph& g, const quant::QuantPlan& plan, const ir::Node& n) {
  if (n.inputs.size() < 2 || n.inputs[1] == ir::kNoValue) return 0.0;
  const quant::TensorPlan* w = plan.find(g.value(n.inputs[1]).name);
  if (!w || w->role != quant::Role::kWeight) return 0.0;
  auto wt = runtime::constant_value(g, n.inputs[1]);
  const double r = wt ? quant::relative_fake_quant_error(*wt, *w) : 0.0;
  return std::isfinite(r) ? r : 0.0;
}

// A mechanism of the target's arithmetic and how to switch it to fake-quant behaviour.
struct Mechanism {
  const char* field;
  const char* category;
  const char* what;  // the target's behaviour, for the summary
  const char* fix;
  std::function<bool(targets::TargetProfile&)> to_reference;  // false: already reference
};

std::vector<Mechanism> mechanisms() {
  using targets::TargetProfile;
  return {
      {"requant", "rounding", "fixed-point requantization",
       "requantize in float32 with round-half-to-even (as fake-quant), or evaluate the model with "
       "this target's requantization",
       [](TargetProfile& p) {
         if (p.requant == targets::Requant::kFloat32 || p.requant == targets::Requant::kPowerOfTwo)
           return false;
         p.requant = targets::Requant::kFloat32;
         p.requant_rounding = RoundingMode::kHalfToEven;
         return true;
       }},
      {"requant_rounding", "rounding", "requantization tie rounding",
       "round requantization ties half to even, or evaluate with this target's rounding",
       [](TargetProfile& p) {
         if (p.requant != targets::Requant::kFloat32 ||
             p.requant_rounding == RoundingMode::kHalfToEven)
           return false;
         p.requant_rounding = RoundingMode::kHalfToEven;
         return true;
       }},
      {"quantize_rounding", "rounding", "input quantization rounding",
       "quantize the input as x / s rounded half to even (ONNX QuantizeLinear)",
       [](TargetProfile& p) {
         if (p.quantize_rounding == RoundingMode::kHalfToEven && !p.quantize_by_reciprocal)
           return false;
         p.quantize_rounding = RoundingMode::kHalfToEven;
         p.quantize_by_reciprocal = false;
         return true;
       }},
      {"multiplier_bits", "precision", "a narrow requantization multiplier",
       "use a 31-bit requantization multiplier, or choose scales whose ratio the narrow multiplier "
       "represents",
       [](TargetProfile& p) {
         if (p.multiplier_bits >= 31 || p.requant == targets::Requant::kFloat32 ||
             p.requant == targets::Requant::kPowerOfTwo || p.requant == targets::Requant::kRndnu ||
             p.requant == targets::Requant::kInt64Reduced)
           return false;
         p.multiplier_bits = 31;
         return true;
       }},
      {"accumulator_bits", "saturation", "a narrow accumulator",
       "accumulate in 32 bits, or split the reduction (fewer input channels or a narrower kernel "
       "per accumulation)",
       [](TargetProfile& p) {
         if (p.accumulator_bits >= 32) return false;
         p.accumulator_bits = 32;
         p.overflow = targets::Overflow::kWrap;
         return true;
       }},
      {"pair_saturation_u8s8", "saturation", "16-bit pair saturation (vpmaddubsw)",
       "run on a VNNI kernel, or quantize weights to 7 bits (ONNX Runtime reduce_range) so u8 x s8 "
       "pairs cannot saturate",
       [](TargetProfile& p) {
         if (!p.pair_saturation_u8s8) return false;
         p.pair_saturation_u8s8 = false;
         return true;
       }},
      {"add", "rounding", "the elementwise add arithmetic",
       "evaluate with this target's elementwise arithmetic, or give both inputs of the add the "
       "same scale",
       [](TargetProfile& p) {
         if (p.add == targets::AddScheme::kFloat || p.add == targets::AddScheme::kAlignShift)
           return false;
         p.add = targets::AddScheme::kFloat;
         return true;
       }},
      {"avgpool", "rounding", "the average pooling arithmetic",
       "evaluate with this target's pooling arithmetic",
       [](TargetProfile& p) {
         if (p.avgpool == targets::AvgPoolScheme::kFloat ||
             p.avgpool == targets::AvgPoolScheme::kDpuMultiplier)
           return false;
         p.avgpool = targets::AvgPoolScheme::kFloat;
         return true;
       }},
      {"avgpool_dpu", "approximation", "the DPU's average pooling multiplier",
       "evaluate with the DPU's pooling multiplier, or use a kernel size the DPU divides exactly",
       [](TargetProfile& p) {
         if (p.avgpool != targets::AvgPoolScheme::kDpuMultiplier) return false;
         p.avgpool = targets::AvgPoolScheme::kFloat;
         return true;
       }},
      {"lut", "rounding", "the lookup-table rounding",
       "evaluate with this target's lookup-table rounding",
       [](TargetProfile& p) {
         if (p.lut == targets::LutScheme::kFloatRhe) return false;
         p.lut = targets::LutScheme::kFloatRhe;
         return true;
       }},
      {"lut_bits", "approximation", "a coarse activation table",
       "tabulate the activation with one entry per input value (or more entries, with "
       "interpolation), or run it on the CPU",
       [](TargetProfile& p) {
         if (p.lut_bits == 0) return false;
         p.lut_bits = 0;
         p.lut_interpolation = true;
         return true;
       }},
      {"resize", "approximation", "fixed-point resize coordinates",
       "resize in float (dequantize, interpolate, requantize), or evaluate with this target's "
       "resize",
       [](TargetProfile& p) {
         if (p.resize == targets::ResizeScheme::kFloatRhe) return false;
         p.resize = targets::ResizeScheme::kFloatRhe;
         return true;
       }},
      {"leaky_relu_26_256", "approximation", "LeakyReLU as x * 26 / 256",
       "train or fine-tune with LeakyReLU slope 26/256 (0.1015625), the slope the DPU computes",
       [](TargetProfile& p) {
         if (!p.leaky_relu_26_256) return false;
         p.leaky_relu_26_256 = false;
         return true;
       }},
      {"hard_sigmoid_2731", "approximation", "hard-sigmoid as relu6(x + 3) * 2731 / 2^14",
       "fine-tune with the DPU's hard-sigmoid (relu6(x + 3) * 2731 / 2^14)",
       [](TargetProfile& p) {
         if (!p.hard_sigmoid_2731) return false;
         p.hard_sigmoid_2731 = false;
         return true;
       }},
      {"sigmoid_as_hard_sigmoid", "approximation", "Sigmoid replaced by hard-sigmoid",
       "replace Sigmoid by hard-sigmoid in the float model and fine-tune, or run the Sigmoid on "
       "the CPU",
       [](TargetProfile& p) {
         if (!p.sigmoid_as_hard_sigmoid) return false;
         p.sigmoid_as_hard_sigmoid = false;
         return true;
       }},
      {"silu_as_hard_swish", "approximation", "SiLU replaced by hard-swish",
       "replace SiLU by hard-swish in the float model and fine-tune, or run the SiLU on the CPU",
       [](TargetProfile& p) {
         if (!p.silu_as_hard_swish) return false;
         p.silu_as_hard_swish = false;
         return true;
       }},
      {"pad_value", "padding", "padding with a fixed integer instead of the zero point",
       "pad with the input's zero point (the real 0): fix the pad value of the compiled "
       "convolution, or pad explicitly before it",
       [](TargetProfile& p) {
         if (p.pad_with_zero_point) return false;
         p.pad_with_zero_point = true;
         p.pad_value = 0;
         return true;
       }},
  };
}

// A quantization finding's severity from the fraction of the error its fix removes.
std::string severity_of(double removed, bool output_damaged) {
  if (output_damaged && removed >= 0.5) return "error";
  if (output_damaged && removed >= 0.2) return "warning";
  return "info";
}

}  // namespace

nlohmann::ordered_json to_json(const Finding& f) {
  nlohmann::ordered_json j;
  j["node"] = f.node;
  j["tensor"] = f.tensor;
  j["op_type"] = f.op_type;
  j["category"] = f.category;
  j["severity"] = f.severity;
  j["summary"] = f.summary;
  j["evidence"] = f.evidence;
  j["fix"] = f.fix;
  if (f.fix_verified) {
    nlohmann::ordered_json v;
    v["metric"] = f.fix_verified->metric;
    v["before"] = json_number(f.fix_verified->before);
    v["after"] = json_number(f.fix_verified->after);
    j["fix_verified"] = std::move(v);
  } else {
    j["fix_verified"] = nullptr;
  }
  j["impact"] = json_number(f.impact);
  return j;
}

Result<Diagnosis> find_causes(const WorldRunner& runner,
                              std::span<const std::vector<Tensor>> verify,
                              const FindingsOptions& options) {
  const ir::Graph& g = runner.graph();
  const quant::QuantPlan& plan = runner.plan();
  const targets::TargetProfile& profile = runner.profile();
  const std::vector<TensorComparison> table = runner.tensors();
  Diagnosis dx;
  std::vector<Finding>& findings = dx.findings;

  // Invalid values: the first tensor holding NaN/Inf in each world.
  {
    bool float_seen = false, fq_seen = false, int_seen = false;
    for (const TensorComparison& t : table) {
      auto report = [&](const char* world, int64_t nan, int64_t inf, int64_t elements) {
        Finding f;
        f.node = t.node;
        f.tensor = t.name;
        f.op_type = t.op_type;
        f.category = "invalid-values";
        f.severity = "error";
        f.summary = std::string("the ") + world + " world produces " + std::to_string(nan) +
                    " NaN and " + std::to_string(inf) + " Inf of " + std::to_string(elements) +
                    " values at " + (t.node.empty() ? "graph input " : "") + t.name;
        f.evidence["world"] = world;
        f.evidence["nan"] = nan;
        f.evidence["inf"] = inf;
        f.evidence["elements"] = elements;
        f.fix = t.node.empty() ? "remove or repair the samples holding NaN/Inf"
                               : "guard node " + t.node +
                                     " against invalid inputs (division by zero, log or sqrt "
                                     "of a non-positive value, overflow)";
        f.impact = kInf;
        findings.push_back(std::move(f));
      };
      if (t.quantization) {
        const TensorMetrics& m = *t.quantization;
        if (!float_seen && m.ref_nan + m.ref_inf > 0) {
          float_seen = true;
          report("float", m.ref_nan, m.ref_inf, m.elements);
        } else if (!float_seen && !fq_seen && m.test_nan + m.test_inf > 0) {
          fq_seen = true;
          report("fake-quant", m.test_nan, m.test_inf, m.elements);
        }
      }
      if (t.arithmetic && !float_seen && !fq_seen && !int_seen) {
        const TensorMetrics& m = *t.arithmetic;
        if (m.test_nan + m.test_inf > 0) {
          int_seen = true;
          report("integer", m.test_nan, m.test_inf, m.elements);
        }
      }
    }
  }

  if (verify.empty()) return invalid_argument("findings: no verification samples");
  Verifier verifier(runner.graph(), verify, options.threads);
  QDIFF_RETURN_IF_ERROR(verifier.init(plan));
  const Score quant_before = verifier.base_fake_quant();
  const bool has_int = runner.integer_world_error().empty();
  Score arith_before;
  if (has_int) {
    QDIFF_ASSIGN_OR_RETURN(arith_before, verifier.integer(plan, profile));
  }
  const double total_err = quant_before.err + arith_before.err;
  bool quant_damaged = false, total_damaged = false;
  for (const TensorComparison& t : table)
    if (!g.outputs.empty() && t.value == g.outputs[0]) {
      quant_damaged = damaged(t.quantization);
      total_damaged = damaged(t.total);
    }
  auto impact = [&](const Score& before, const Score& after) {
    return total_err > 0 ? std::max(0.0, before.err - after.err) / total_err : 0.0;
  };
  nlohmann::ordered_json& an = dx.analyses;
  an["verify_samples"] = static_cast<int64_t>(verify.size());
  an["quantization_output"] = score_json(quant_before);
  an["arithmetic_output"] = score_json(arith_before);

  // --- Split-point curves: the first k units quantized and the rest float (forward), and the
  // reverse, at up to options.split_points values of k; output SQNR against float.
  {
    const std::map<std::string, Unit> all_units = units_of(g, plan);
    std::vector<const Unit*> order;
    for (const auto& [name, u] : all_units) order.push_back(&u);
    std::sort(order.begin(), order.end(),
              [](const Unit* a, const Unit* b) { return a->head_id < b->head_id; });
    const size_t nu = order.size();
    if (nu >= 2 && options.split_points >= 2) {
      std::vector<size_t> ks;
      const auto points = static_cast<size_t>(
          std::min<int64_t>(options.split_points, static_cast<int64_t>(nu) + 1));
      for (size_t p = 0; p < points; ++p) {
        const size_t k = (p * nu + (points - 1) / 2) / (points - 1);
        if (ks.empty() || ks.back() != k) ks.push_back(k);
      }
      nlohmann::ordered_json curves;
      for (const char* direction : {"forward", "reverse"}) {
        const bool forward = std::string(direction) == "forward";
        nlohmann::ordered_json curve = nlohmann::ordered_json::array();
        for (size_t k : ks) {
          // forward: units [0, k) quantized; reverse: units [k, nu) quantized.
          quant::PlanEdit e;
          e.why = "diagnose: split point";
          for (size_t i = 0; i < nu; ++i)
            if ((i < k) != forward) e.precision[order[i]->head] = quant::Precision::kFloat;
          Score sc;
          if (e.precision.empty()) {
            sc = quant_before;
          } else {
            auto edited = quant::apply_plan_edit(plan, g, profile.scheme, e);
            if (!edited.ok()) continue;
            auto scored = verifier.fake_quant(edited.value());
            if (!scored.ok()) continue;
            sc = scored.value();
          }
          nlohmann::ordered_json pj;
          pj["k"] = static_cast<int64_t>(k);
          pj["node"] = k < nu ? order[k]->head : std::string();
          pj["sqnr_db"] = json_number(sc.sqnr_db());
          curve.push_back(std::move(pj));
        }
        curves[direction] = std::move(curve);
      }
      curves["units"] = static_cast<int64_t>(nu);
      an["split_curves"] = std::move(curves);
    }
  }

  // --- Quantization: candidates by local error, their fixes verified -------------------------
  const std::map<std::string, Unit> units = units_of(g, plan);
  std::vector<double> rel(g.num_values(), -1.0);
  for (const TensorComparison& t : table)
    if (t.quantization && t.quantization->ref_norm > 0)
      rel[t.value] = std::pow(t.quantization->error_norm / t.quantization->ref_norm, 2);
  struct Candidate {
    const Unit* unit;
    double local = 0, relative = 0;
  };
  std::vector<Candidate> candidates;
  // Graph inputs too: their grid is the first thing the samples meet (range fixes only).
  std::vector<Unit> input_units;
  for (ir::ValueId in : g.inputs) {
    const quant::TensorPlan* tp = plan.find(g.value(in).name);
    if (tp && tp->role == quant::Role::kActivation && rel[in] >= 0) {
      Unit u;
      u.output = in;
      input_units.push_back(u);
    }
  }
  for (const Unit& u : input_units) candidates.push_back({&u, rel[u.output], rel[u.output]});
  // Step of each compared tensor (for its own rounding noise).
  std::map<ir::ValueId, const TensorComparison*> row;
  for (const TensorComparison& t : table) row[t.value] = &t;
  for (const auto& [name, u] : units) {
    if (u.output == ir::kNoValue || rel[u.output] < 0) continue;
    const quant::TensorPlan* out = plan.find(g.value(u.output).name);
    if (!out || out->role != quant::Role::kActivation) continue;
    std::set<ir::ValueId> members_out;
    for (ir::NodeId n : u.members)
      for (ir::ValueId o : g.node(n).outputs) members_out.insert(o);
    double inherited = 0;
    for (ir::NodeId n : u.members)
      for (ir::ValueId in : g.node(n).inputs)
        if (in != ir::kNoValue && !members_out.count(in) && !g.value(in).initializer && rel[in] > 0)
          inherited += rel[in];
    // The unit's own error, estimated two ways: what its output carries beyond its inputs'
    // (observed; meaningless once the inputs are already lost), and its weight's fake-quant
    // error energy plus its output grid's rounding noise relative to its signal (analytic).
    const double observed = inherited < 0.1 ? rel[u.output] - inherited : 0.0;
    double analytic = weight_error(g, plan, g.node(u.head_id));
    const TensorComparison* t = row[u.output];
    if (t && t->step && t->quantization && t->quantization->ref_norm > 0)
      analytic += static_cast<double>(t->quantization->compared) * *t->step * *t->step / 12.0 /
                  (t->quantization->ref_norm * t->quantization->ref_norm);
    candidates.push_back({&u, std::max(observed, analytic), rel[u.output]});
  }
  std::sort(candidates.begin(), candidates.end(), [](const Candidate& a, const Candidate& b) {
    if (a.local != b.local) return a.local > b.local;
    return a.unit->head != b.unit->head ? a.unit->head < b.unit->head
                                        : a.unit->output < b.unit->output;
  });
  if (static_cast<int64_t>(candidates.size()) > options.candidates)
    candidates.resize(static_cast<size_t>(options.candidates));

  RangeStats stats;
  for (const Candidate& c : candidates) {
    const quant::TensorPlan* out = plan.find(g.value(c.unit->output).name);
    if (!out->params.per_channel() && !out->dynamic)
      QDIFF_RETURN_IF_ERROR(stats.add(c.unit->output, out->params));
  }
  if (!candidates.empty()) QDIFF_RETURN_IF_ERROR(verifier.observe_float(stats));

  nlohmann::ordered_json cand_json = nlohmann::ordered_json::array();
  double best_single_removed = 0;
  for (const Candidate& c : candidates) {
    const Unit& u = *c.unit;
    const bool is_input = u.members.empty();  // a graph input: range fixes only
    const ir::Node* head = is_input ? nullptr : &g.node(u.head_id);
    const std::string out_name = g.value(u.output).name;
    const quant::TensorPlan& out = *plan.find(out_name);
    nlohmann::ordered_json cj;
    cj["node"] = u.head;
    cj["tensor"] = out_name;
    cj["local_error_db"] = json_number(c.local > 0 ? -10.0 * std::log10(c.local) : kInf);
    cj["output_error_db"] = json_number(c.relative > 0 ? -10.0 * std::log10(c.relative) : kInf);
    nlohmann::ordered_json tried = nlohmann::ordered_json::object();
    struct Trial {
      std::string name, category, fix;
      Score score;
    };
    std::vector<Trial> trials;
    auto trial = [&](const std::string& name, const std::string& category, const std::string& fix,
                     const quant::PlanEdit& edit) -> Status {
      auto edited = quant::apply_plan_edit(plan, g, profile.scheme, edit);
      Result<Score> s = edited.ok() ? verifier.fake_quant(edited.value()) : edited.status();
      if (!s.ok()) {
        tried[name] = "not possible: " + s.status().message();
        return Status();
      }
      tried[name] = score_json(s.value());
      trials.push_back({name, category, fix, s.value()});
      return Status();
    };
    // Float for the unit: its sensitivity (and the last resort).
    if (!is_input) {
      quant::PlanEdit to_float;
      to_float.precision[u.head] = quant::Precision::kFloat;
      to_float.why = "diagnose: float";
      QDIFF_RETURN_IF_ERROR(trial("float", "precision",
                                  "keep unit " + u.head + " in float (the target's float fallback)",
                                  to_float));
    }
    // Per-channel weights.
    std::optional<WeightSpread> spread;
    if (head && head->inputs.size() >= 2 && head->inputs[1] != ir::kNoValue) {
      const std::string& wname = g.value(head->inputs[1]).name;
      const quant::TensorPlan* w = plan.find(wname);
      auto wt = runtime::constant_value(g, head->inputs[1]);
      if (w && w->role == quant::Role::kWeight && !w->params.per_channel() && wt &&
          wt->rank() >= 2) {
        const int axis = head->op_type == "ConvTranspose" ? 1 : 0;
        spread = weight_spread(*wt, axis, w->params.scales[0]);
        if (spread->channels > 1) {
          quant::PlanEdit e;
          e.per_channel = {wname};
          e.why = "diagnose: per channel";
          QDIFF_RETURN_IF_ERROR(
              trial("per_channel", "weight-granularity",
                    "quantize " + wname + " per channel (axis " + std::to_string(axis) + ")", e));
        }
      }
    }
    // Activation range.
    const RangeStats::Entry* rs = stats.find(u.output);
    std::optional<std::pair<float, float>> data_range, mse_range;
    if (rs && rs->total > 0) {
      auto mm = rs->minmax->ranges(format_of(out.params));
      auto ms = rs->mse->ranges(format_of(out.params));
      if (mm.ok()) data_range = mm.value()[0];
      if (ms.ok()) mse_range = ms.value()[0];
      const auto [glo, ghi] = quant::grid_range(out.params);
      const double clipped = static_cast<double>(rs->clipped) / static_cast<double>(rs->total);
      cj["grid_range"] = {glo, ghi};
      if (data_range) cj["data_range"] = {data_range->first, data_range->second};
      if (mse_range) cj["mse_range"] = {mse_range->first, mse_range->second};
      cj["clipped_fraction"] = clipped;
      if (rs->clipped > 0 && data_range) {
        const bool minmax = out.source.find("minmax") != std::string::npos;
        quant::PlanEdit e;
        e.ranges[out_name] = {std::min(glo, data_range->first), std::max(ghi, data_range->second)};
        e.why = "diagnose: the samples' range";
        QDIFF_RETURN_IF_ERROR(trial(
            "data_range", minmax ? "calibration-data" : "activation-range",
            minmax
                ? "recalibrate with data that covers these samples (" + out_name + " reaches [" +
                      fmt("%.4g", data_range->first) + ", " + fmt("%.4g", data_range->second) + "])"
                : "widen the range of " + out_name + " to [" + fmt("%.4g", data_range->first) +
                      ", " + fmt("%.4g", data_range->second) + "]",
            e));
      }
      if (mse_range && (mse_range->second - mse_range->first) < 0.7 * (ghi - glo)) {
        quant::PlanEdit e;
        e.ranges[out_name] = *mse_range;
        e.why = "diagnose: mse range";
        QDIFF_RETURN_IF_ERROR(trial("mse_range", "activation-range",
                                    "calibrate " + out_name + " with the MSE observer (range [" +
                                        fmt("%.4g", mse_range->first) + ", " +
                                        fmt("%.4g", mse_range->second) + "])",
                                    e));
      }
    }
    // Int16 activations, where the target has 16-bit kernels.
    if (!is_input && out.params.bits < 16 && profile.int16_units) {
      quant::PlanEdit e;
      e.precision[u.head] = quant::Precision::kInt16;
      e.why = "diagnose: int16";
      QDIFF_RETURN_IF_ERROR(
          trial("int16", "precision", "run unit " + u.head + " with int16 activations", e));
    }
    cj["tried"] = std::move(tried);

    // The fix: trials are in order of what they cost the deployment (per-channel weights and a
    // range cost nothing, int16 costs speed); the first that removes at least 60% of what the
    // best one removes is the fix, and names the cause. Float only when no other trial recovers
    // half of what float does.
    const Trial* best = nullptr;
    const Trial* floated = nullptr;
    double top = 0;
    for (const Trial& t : trials)
      if (t.name != "float") top = std::max(top, quant_before.removed_by(t.score));
    for (const Trial& t : trials) {
      if (t.name == "float") {
        floated = &t;
        continue;
      }
      if (!best && quant_before.removed_by(t.score) >= 0.6 * top) best = &t;
    }
    double best_removed = best ? quant_before.removed_by(best->score) : 0;
    const double float_removed = floated ? quant_before.removed_by(floated->score) : 0;
    if (floated && (!best || top < 0.5 * float_removed)) {
      best = floated;
      best_removed = float_removed;
    }
    cj["sensitivity"] = json_number(std::max(best_removed, float_removed));
    cand_json.push_back(std::move(cj));
    best_single_removed = std::max(best_single_removed, best_removed);
    if (!best || best_removed < 0.2) continue;  // less than ~1 dB: not worth a finding

    Finding f;
    f.node = u.head;
    f.tensor = out_name;
    f.op_type = head ? head->op_type : "";
    f.category = best->category;
    f.fix = best->fix;
    f.fix_verified = FixVerified{"output SQNR, float vs fake-quant (dB)", quant_before.sqnr_db(),
                                 best->score.sqnr_db()};
    f.severity = severity_of(best_removed, quant_damaged);
    f.impact = impact(quant_before, best->score);
    f.evidence = cand_json.back();
    if (spread) {
      f.evidence["weight_channels"] = spread->channels;
      f.evidence["weight_absmax_max_over_median"] = json_number(
          spread->median_absmax > 0 ? spread->max_absmax / spread->median_absmax : kInf);
      f.evidence["weight_channels_under_16_levels"] = spread->coarse_channels;
    }
    const std::string gain =
        fmt("%.1f", quant_before.sqnr_db()) + " -> " + fmt("%.1f", best->score.sqnr_db()) + " dB";
    if (f.category == "weight-granularity")
      f.summary = "per-tensor weights of " + u.head + ": channel ranges differ " +
                  fmt("%.0f", spread->median_absmax > 0 ? spread->max_absmax / spread->median_absmax
                                                        : 0.0) +
                  "x (max/median), " + std::to_string(spread->coarse_channels) + " of " +
                  std::to_string(spread->channels) +
                  " channels use fewer than 16 levels; per channel: " + gain;
    else if (f.category == "calibration-data" || best->name == "data_range")
      f.summary =
          out_name + " clips " +
          fmt("%.3g", 100.0 * static_cast<double>(rs->clipped) / static_cast<double>(rs->total)) +
          "% of the samples' values outside its calibrated range; the samples' range: " + gain;
    else if (f.category == "activation-range")
      f.summary =
          "the range of " + out_name + " is wider than its values need (MSE range " +
          fmt("%.3g", mse_range ? mse_range->second - mse_range->first : 0.0) + " of " +
          fmt("%.3g", quant::grid_range(out.params).second - quant::grid_range(out.params).first) +
          "); MSE range: " + gain;
    else
      f.summary = "unit " + u.head + " loses the most in int8 by itself (local error " +
                  fmt("%.1f", c.local > 0 ? -10.0 * std::log10(c.local) : 99.0) + " dB); " +
                  best->name + ": " + gain;
    findings.push_back(std::move(f));
  }
  an["quantization_candidates"] = std::move(cand_json);

  // Weight granularity across the model: every per-tensor weight whose channel ranges differ
  // (widest channel's max |w| at least 4x the median's) per channel at once, where no single
  // unit's fix is enough (models that quantize all depthwise weights per tensor).
  {
    quant::PlanEdit e;
    e.why = "diagnose: per channel";
    struct Spread {
      double error, ratio;
      std::string node, weight;
    };
    std::vector<Spread> spread;
    for (const auto& [name, u] : units) {
      const ir::Node& head = g.node(u.head_id);
      if (head.inputs.size() < 2 || head.inputs[1] == ir::kNoValue) continue;
      const std::string& wname = g.value(head.inputs[1]).name;
      const quant::TensorPlan* w = plan.find(wname);
      auto wt = runtime::constant_value(g, head.inputs[1]);
      if (!w || w->role != quant::Role::kWeight || w->params.per_channel() || !wt || wt->rank() < 2)
        continue;
      const WeightSpread ws =
          weight_spread(*wt, head.op_type == "ConvTranspose" ? 1 : 0, w->params.scales[0]);
      if (ws.channels < 2 || !(ws.max_absmax >= 4.0 * ws.median_absmax)) continue;
      e.per_channel.insert(wname);
      spread.push_back({weight_error(g, plan, head),
                        ws.median_absmax > 0 ? ws.max_absmax / ws.median_absmax : kInf, u.head,
                        wname});
    }
    if (spread.size() >= 2) {
      auto edited = quant::apply_plan_edit(plan, g, profile.scheme, e);
      if (edited.ok()) {
        QDIFF_ASSIGN_OR_RETURN(Score s, verifier.fake_quant(edited.value()));
        const double removed = quant_before.removed_by(s);
        an["per_channel_all"] = score_json(s);
        if (removed >= 0.2 && removed > best_single_removed + 0.1) {
          std::sort(spread.begin(), spread.end(), [](const Spread& a, const Spread& b) {
            return a.error != b.error ? a.error > b.error : a.node < b.node;
          });
          Finding f;
          f.node = spread[0].node;
          f.op_type = op_of(g, f.node);
          f.tensor = spread[0].weight;
          f.category = "weight-granularity";
          f.summary = std::to_string(spread.size()) +
                      " weights are quantized per tensor although their channel ranges differ "
                      "4x or more (worst: " +
                      spread[0].node + ", " + fmt("%.0f", spread[0].ratio) + "x, weight error " +
                      fmt("%.1f", -10.0 * std::log10(spread[0].error)) +
                      " dB); all per channel: " + fmt("%.1f", quant_before.sqnr_db()) + " -> " +
                      fmt("%.1f", s.sqnr_db()) + " dB";
          nlohmann::ordered_json list = nlohmann::ordered_json::array();
          for (const Spread& sp : spread) {
            nlohmann::ordered_json wj;
            wj["node"] = sp.node;
            wj["weight"] = sp.weight;
            wj["absmax_max_over_median"] = json_number(sp.ratio);
            wj["weight_error_db"] = json_number(sp.error > 0 ? -10.0 * std::log10(sp.error) : kInf);
            list.push_back(std::move(wj));
          }
          f.evidence["weights"] = std::move(list);
          f.evidence["best_single_unit_removes"] = json_number(best_single_removed);
          f.fix = "quantize these " + std::to_string(spread.size()) +
                  " weights per channel (per output channel; a target that only takes "
                  "per-tensor weights needs them equalized first: cross-layer equalization)";
          f.fix_verified = FixVerified{"output SQNR, float vs fake-quant (dB)",
                                       quant_before.sqnr_db(), s.sqnr_db()};
          f.severity = severity_of(removed, quant_damaged);
          f.impact = impact(quant_before, s);
          findings.push_back(std::move(f));
          best_single_removed = std::max(best_single_removed, removed);
        }
      }
    }
  }

  // Accumulation: damaged, and no unit alone removes half of the error; the candidates raised
  // together must do clearly better than the best one alone.
  if (quant_damaged && best_single_removed < 0.5 && candidates.size() >= 2) {
    // Raised to int16, or to float where the target has no 16-bit kernels.
    const quant::Precision raised =
        profile.int16_units ? quant::Precision::kInt16 : quant::Precision::kFloat;
    const std::string how = profile.int16_units ? "int16" : "float";
    quant::PlanEdit e;
    e.why = "diagnose: " + how + " candidates";
    for (const Candidate& c : candidates)
      if (!c.unit->members.empty()) e.precision[c.unit->head] = raised;
    auto edited = quant::apply_plan_edit(plan, g, profile.scheme, e);
    if (edited.ok()) {
      QDIFF_ASSIGN_OR_RETURN(Score s, verifier.fake_quant(edited.value()));
      const double removed = quant_before.removed_by(s);
      if (removed >= std::max(0.2, best_single_removed + 0.1)) {
        Finding f;
        f.node = candidates[0].unit->head;
        f.tensor = g.value(candidates[0].unit->output).name;
        f.op_type =
            candidates[0].unit->members.empty() ? "" : g.node(candidates[0].unit->head_id).op_type;
        f.category = "accumulation";
        f.summary =
            "no single unit explains the output error: " + std::to_string(candidates.size()) +
            " units each add a little; " + how +
            " for all of them: " + fmt("%.1f", quant_before.sqnr_db()) + " -> " +
            fmt("%.1f", s.sqnr_db()) + " dB";
        nlohmann::ordered_json nodes = nlohmann::ordered_json::array();
        for (const Candidate& c : candidates) nodes.push_back(c.unit->head);
        f.evidence["units"] = std::move(nodes);
        f.evidence["best_single_unit_removes"] = best_single_removed;
        f.fix = (profile.int16_units ? std::string("run these units with int16 activations")
                                     : std::string("run these units in float (on the CPU)")) +
                " (qdiff tune finds the smallest set)";
        f.fix_verified = FixVerified{"output SQNR, float vs fake-quant (dB)",
                                     quant_before.sqnr_db(), s.sqnr_db()};
        f.severity = severity_of(removed, true);
        f.impact = impact(quant_before, s);
        findings.push_back(std::move(f));
      }
    }
  }

  // --- Arithmetic: the mechanism differential -------------------------------------------------
  const std::optional<Divergence> arith_div = runner.first_divergence(WorldPair::kArithmetic);
  const bool arith_large = arith_before.err > 0.25 * quant_before.err;
  if (arith_before.err > 0 && (arith_div || arith_large)) {
    nlohmann::ordered_json mech_json = nlohmann::ordered_json::object();
    struct Switched {
      const Mechanism* m;
      Score score;
    };
    std::vector<Switched> switched;
    const std::vector<Mechanism> mechs = mechanisms();
    targets::TargetProfile all = profile;
    int n_switched = 0;
    for (const Mechanism& m : mechs) {
      targets::TargetProfile p = profile;
      if (!m.to_reference(p)) continue;
      m.to_reference(all);
      ++n_switched;
      if (!targets::check_profile(p).ok()) continue;
      auto s = verifier.integer(plan, p);
      if (!s.ok()) {
        mech_json[m.field] = "not possible: " + s.status().message();
        continue;
      }
      mech_json[m.field] = score_json(s.value());
      switched.push_back({&m, s.value()});
    }
    std::optional<Score> all_score;
    if (n_switched > 1 && targets::check_profile(all).ok()) {
      auto s = verifier.integer(plan, all);
      if (s.ok()) {
        all_score = s.value();
        mech_json["all"] = score_json(s.value());
      }
    }
    an["mechanism_differential"] = mech_json;
    // Biases whose stored scale is not s_in * s_w: the integer kernel adds them at s_in * s_w.
    std::optional<std::pair<std::vector<std::string>, Score>> bias_fix;
    {
      quant::PlanEdit e;
      e.consistent_biases = true;
      e.why = "diagnose: bias scale s_in * s_w";
      auto fixed = quant::apply_plan_edit(plan, g, profile.scheme, e);
      if (fixed.ok() && !(fixed.value() == plan)) {
        std::vector<std::string> changed;
        for (const quant::TensorPlan& t : plan.tensors)
          if (const quant::TensorPlan* n = fixed.value().find(t.name);
              n && !(n->params == t.params))
            changed.push_back(t.name);
        auto sc = verifier.integer(fixed.value(), profile);
        if (sc.ok() && !changed.empty()) bias_fix.emplace(std::move(changed), sc.value());
      }
    }
    const Switched* best = nullptr;
    for (const Switched& s : switched)
      if (!best || s.score.err < best->score.err) best = &s;
    const double removed = best ? arith_before.removed_by(best->score) : 0;
    // Where: the first divergence, else the output.
    const ir::ValueId at = arith_div ? arith_div->value : g.outputs[0];
    const std::string unit = unit_of_tensor(g, plan, at);
    Finding f;
    f.node = unit;
    f.tensor = g.value(at).name;
    f.op_type = op_of(g, unit);
    if (arith_div) {
      f.evidence["divergence_rule"] = arith_div->rule;
      f.evidence["max_error_lsb"] = json_number(arith_div->max_error_lsb);
      f.evidence["differing_fraction"] = json_number(arith_div->differing_fraction);
      f.evidence["inherited_fraction"] = json_number(arith_div->inherited_fraction);
    }
    f.evidence["arithmetic_output_sqnr_db"] = json_number(arith_before.sqnr_db());
    f.evidence["quantization_output_sqnr_db"] = json_number(quant_before.sqnr_db());
    f.evidence["mechanisms"] = mech_json;
    // The arithmetic pair's share of the output error.
    const double share = total_err > 0 ? arith_before.err / total_err : 0.0;
    auto arith_severity = [&](double removed_fraction) -> std::string {
      if (removed_fraction >= 0.5 && (share >= 0.5 || (total_damaged && share >= 0.2)))
        return "error";
      return share >= 0.2 ? "warning" : "info";
    };
    f.evidence["arithmetic_share_of_output_error"] = json_number(share);
    const std::string metric = "output SQNR, fake-quant vs " + profile.name + " integer (dB)";
    if (best && removed >= 0.5) {
      f.category = best->m->category;
      f.summary = std::string(best->m->what) + " (" + profile.name + ": " + best->m->field +
                  ") makes the integer world differ from fake-quant" +
                  (arith_div ? " from " + f.tensor + " on" : "") +
                  "; with fake-quant's behaviour instead: " + fmt("%.1f", arith_before.sqnr_db()) +
                  " -> " + fmt("%.1f", best->score.sqnr_db()) + " dB";
      f.fix = best->m->fix;
      f.fix_verified = FixVerified{metric, arith_before.sqnr_db(), best->score.sqnr_db()};
      f.severity = arith_severity(removed);
      f.impact = impact(arith_before, best->score);
      findings.push_back(std::move(f));
    } else if (bias_fix && arith_before.removed_by(bias_fix->second) >= 0.5) {
      f.category = "precision";
      f.summary = std::to_string(bias_fix->first.size()) +
                  " bias(es) stored with a scale other than s_in * s_w, the scale the integer "
                  "kernel adds them at (first: " +
                  bias_fix->first.front() +
                  "); re-derived: " + fmt("%.1f", arith_before.sqnr_db()) + " -> " +
                  fmt("%.1f", bias_fix->second.sqnr_db()) + " dB";
      nlohmann::ordered_json list = nlohmann::ordered_json::array();
      for (const std::string& b : bias_fix->first) list.push_back(b);
      f.evidence["inconsistent_biases"] = std::move(list);
      f.fix =
          "quantize each bias with scale s_in * s_w of its node's input and weight (re-export "
          "the biases after any change of an activation's or weight's scale)";
      f.fix_verified = FixVerified{metric, arith_before.sqnr_db(), bias_fix->second.sqnr_db()};
      f.severity = arith_severity(arith_before.removed_by(bias_fix->second));
      f.impact = impact(arith_before, bias_fix->second);
      findings.push_back(std::move(f));
    } else if (all_score && arith_before.removed_by(*all_score) >= 0.5) {
      f.category = "accumulation";
      f.summary = "several mechanisms of " + profile.name +
                  " together make the integer world differ from fake-quant (none alone); all "
                  "switched off: " +
                  fmt("%.1f", arith_before.sqnr_db()) + " -> " + fmt("%.1f", all_score->sqnr_db()) +
                  " dB";
      f.fix = "calibrate and evaluate with this target's arithmetic";
      f.fix_verified = FixVerified{metric, arith_before.sqnr_db(), all_score->sqnr_db()};
      f.severity = arith_severity(arith_before.removed_by(*all_score));
      f.impact = impact(arith_before, *all_score);
      findings.push_back(std::move(f));
    } else if (arith_div) {
      // Nothing known explains it: reported, never dropped.
      f.category = "device-mismatch";
      f.summary = profile.name + "'s integer arithmetic departs from fake-quant at " + f.tensor +
                  " (" + arith_div->rule + ", " + fmt("%.1f", arith_div->max_error_lsb) +
                  " LSB) and no mechanism of the profile, alone or together, explains it";
      f.fix = "compare the plan's parameters at " + f.node +
              " with what the target's kernels accept, and report the tensor's dump";
      f.severity = arith_severity(0.5);
      f.impact = share;
      findings.push_back(std::move(f));
    }
  }

  // A damaged output nothing above explains is still an error: where the forward split curve
  // falls most says where the damage is done.
  const bool explained = std::any_of(findings.begin(), findings.end(),
                                     [](const Finding& f) { return f.severity == "error"; });
  if (quant_damaged && !explained) {
    Finding f;
    f.category = "accumulation";
    f.severity = "error";
    f.summary = "the output is damaged (SQNR " + fmt("%.1f", quant_before.sqnr_db()) +
                " dB against float) and no single change qdiff tried recovers it";
    if (an.contains("split_curves")) {
      const nlohmann::ordered_json& fw = an["split_curves"]["forward"];
      // SQNR of a curve point, +inf capped at 60 dB for ranking the drops.
      auto db = [](const nlohmann::ordered_json& v) {
        return v.is_number() ? std::min(v.get<double>(), 60.0) : v == "inf" ? 60.0 : -60.0;
      };
      auto text = [](const nlohmann::ordered_json& v) {
        return v.is_number() ? fmt("%.1f", v.get<double>()) : v.get<std::string>();
      };
      double worst = 0;
      size_t at = 0;
      for (size_t i = 1; i < fw.size(); ++i) {
        const double drop = db(fw[i - 1]["sqnr_db"]) - db(fw[i]["sqnr_db"]);
        if (drop > worst) worst = drop, at = i;
      }
      if (at > 0) {
        f.node = fw[at - 1]["node"].get<std::string>();
        f.op_type = op_of(g, f.node);
        for (size_t i = 0; i < g.num_nodes(); ++i)
          if (g.node(static_cast<ir::NodeId>(i)).name == f.node &&
              !g.node(static_cast<ir::NodeId>(i)).outputs.empty())
            f.tensor = g.value(g.node(static_cast<ir::NodeId>(i)).outputs[0]).name;
        f.summary += "; the forward split-point curve falls most from " +
                     text(fw[at - 1]["sqnr_db"]) + " to " + text(fw[at]["sqnr_db"]) +
                     " dB when units " + std::to_string(fw[at - 1]["k"].get<int64_t>()) + " (" +
                     f.node + ") to " + std::to_string(fw[at]["k"].get<int64_t>() - 1) +
                     " are quantized too";
        f.evidence["split_from_k"] = fw[at - 1]["k"];
        f.evidence["split_to_k"] = fw[at]["k"];
      }
    }
    f.fix =
        "qdiff tune with a goal on this output finds the units to raise; check the activation "
        "ranges of the units named here";
    f.impact = 0;
    findings.push_back(std::move(f));
  }

  // --- Device: where the device departs from the target's emulation ----------------------------
  if (runner.device_alignment()) {
    QDIFF_RETURN_IF_ERROR(
        internal::device_findings(runner, verifier, verify.size(), findings, dx.analyses));
  }

  // What the fake-quant re-runs cost: nodes run against the nodes of full runs.
  const auto [run, full] = verifier.nodes_rerun();
  nlohmann::ordered_json rj;
  rj["incremental"] = verifier.incremental();
  rj["nodes_run"] = run;
  rj["nodes_of_full_runs"] = full;
  dx.analyses["fake_quant_reruns"] = std::move(rj);

  auto rank = [](const std::string& severity) {
    return severity == "error" ? 0 : severity == "warning" ? 1 : 2;
  };
  std::stable_sort(findings.begin(), findings.end(), [&](const Finding& a, const Finding& b) {
    if (rank(a.severity) != rank(b.severity)) return rank(a.severity) < rank(b.severity);
    return a.impact > b.impact;
  });
  dx.verdict = "healthy";
  for (const Finding& f : findings) {
    if (f.severity == "error") dx.verdict = "broken";
    if (f.severity == "warning" && dx.verdict == "healthy") dx.verdict = "degraded";
  }
  return dx;
}

}  // namespace qdiff::analysis
