#include "analysis/verifier.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <optional>

#include "analysis/metrics.h"
#include "intworld/int_world.h"
#include "quant/fake_quant.h"
#include "runtime/interpreter.h"
#include "runtime/model_info.h"

namespace qdiff::analysis {

namespace {

std::vector<Tensor> plain(std::vector<Tensor> out) {
  for (Tensor& t : out) t = t.to_plain();
  return out;
}

// Keeps every tensor a run hands out, up to `limit` bytes over all runs.
struct Recorder : runtime::Observer {
  std::vector<Tensor> values;
  int64_t bytes = 0, limit = 0;
  bool wants(ir::ValueId) const override { return bytes <= limit; }
  bool any_layout() const override { return true; }  // kept as handed out (a rerun reads them)
  Status observe(ir::ValueId id, const Tensor& value) override {
    values[id] = value;
    bytes += value.nbytes();
    return Status();
  }
};

bool same_tensor(const std::optional<Tensor>& a, const std::optional<Tensor>& b) {
  if (!a || !b) return a.has_value() == b.has_value();
  if (a->dtype() != b->dtype() || a->shape() != b->shape()) return false;
  const Tensor x = a->to_plain(), y = b->to_plain();
  return x.raw() == y.raw() || std::memcmp(x.raw(), y.raw(), x.nbytes()) == 0;
}

// The nodes a world must rerun to become `next` when it was `prev` (nullptr: the float world of
// `g`): producers of values whose transform differs, Constant nodes whose tensor differs,
// readers of initializers that differ, and everything downstream. Returns the count with the
// flags.
std::pair<std::vector<bool>, int64_t> rerun_set(const ir::Graph& g,
                                                const quant::FakeQuantWorld* prev,
                                                const quant::FakeQuantWorld& next) {
  const ir::Graph& pg = prev ? prev->graph() : g;
  const ir::Graph& ng = next.graph();
  std::vector<bool> changed(g.num_values(), false), rerun(g.num_nodes(), false);
  for (ir::ValueId id = 0; id < g.num_values(); ++id) {
    const quant::TensorPlan* a = prev ? prev->activation_plan(id) : nullptr;
    const quant::TensorPlan* b = next.activation_plan(id);
    const bool transform = (a == nullptr) != (b == nullptr) || (a && !(*a == *b));
    // Weights are initializers or Constant nodes' outputs (the world rewrites either).
    changed[id] =
        transform || !same_tensor(runtime::constant_value(pg, id), runtime::constant_value(ng, id));
    if (changed[id] && g.value(id).producer != UINT32_MAX) rerun[g.value(id).producer] = true;
  }
  int64_t n = 0;
  for (size_t i = 0; i < g.num_nodes(); ++i) {
    const ir::Node& node = g.node(static_cast<ir::NodeId>(i));
    for (ir::ValueId in : node.inputs) rerun[i] = rerun[i] || (in != ir::kNoValue && changed[in]);
    if (!rerun[i]) continue;
    ++n;
    for (ir::ValueId out : node.outputs)
      if (out != ir::kNoValue) changed[out] = true;
  }
  return {std::move(rerun), n};
}

}  // namespace

double Score::cosine() const {
  if (ref == 0 && test == 0) return 1.0;
  if (ref == 0 || test == 0) return 0.0;
  return cross / std::sqrt(ref * test);
}

double Score::removed_by(const Score& after) const {
  return err > 0 ? std::min(1.0 - after.err / err, 1.0) : 0.0;
}

nlohmann::ordered_json score_json(const Score& s) {
  nlohmann::ordered_json j;
  j["sqnr_db"] = json_number(s.sqnr_db());
  if (s.classifier()) j["top1_agreement"] = json_number(s.top1());
  if (s.labelled) j["accuracy"] = json_number(s.accuracy());
  return j;
}

Verifier::Verifier(const ir::Graph& graph, std::span<const std::vector<Tensor>> samples,
                   int threads, std::vector<int64_t> labels)
    : g_(graph), samples_(samples), threads_(threads), labels_(std::move(labels)) {}

Verifier::~Verifier() = default;

Result<Verifier::Values> Verifier::record(const ir::Graph& g,
                                          runtime::ValueTransform* transform) const {
  runtime::RunOptions ro;
  ro.threads = threads_;
  QDIFF_ASSIGN_OR_RETURN(auto run, runtime::Interpreter::create(g, ro));
  Values all;
  Recorder rec;
  rec.limit = kCacheBytes / 2;  // the other world is as large
  for (const std::vector<Tensor>& in : samples_) {
    rec.values.assign(g.num_values(), Tensor());
    QDIFF_RETURN_IF_ERROR(run->run(in, &rec, transform).status());
    if (rec.bytes > rec.limit) return Values();
    all.push_back(std::move(rec.values));
  }
  return all;
}

Status Verifier::init(const quant::QuantPlan& base) {
  float_values_.clear();
  fq_values_.clear();
  QDIFF_ASSIGN_OR_RETURN(fq_base_world_, quant::FakeQuantWorld::create(g_, base));
  QDIFF_ASSIGN_OR_RETURN(Values fv, record(g_, nullptr));
  QDIFF_ASSIGN_OR_RETURN(Values qv, record(fq_base_world_->graph(), fq_base_world_->transform()));
  if (!fv.empty() && !qv.empty()) {
    float_values_ = std::move(fv);
    fq_values_ = std::move(qv);
  }
  auto outputs = [&](const Values& v) {
    std::vector<Outputs> all;
    for (const std::vector<Tensor>& s : v) {
      Outputs out;
      for (ir::ValueId id : g_.outputs) out.push_back(s[id].to_plain());
      all.push_back(std::move(out));
    }
    return all;
  };
  if (incremental()) {
    float_ = outputs(float_values_);
    fq_base_ = outputs(fq_values_);
    return Status();
  }
  runtime::RunOptions ro;
  ro.threads = threads_;
  QDIFF_ASSIGN_OR_RETURN(auto run, runtime::Interpreter::create(g_, ro));
  float_.clear();
  for (const std::vector<Tensor>& in : samples_) {
    QDIFF_ASSIGN_OR_RETURN(Outputs out, run->run(in));
    float_.push_back(plain(std::move(out)));
  }
  QDIFF_ASSIGN_OR_RETURN(fq_base_, fake_quant_outputs(base));
  return Status();
}

Score Verifier::score(const std::vector<Outputs>& ref, const std::vector<Outputs>& test) const {
  Score s;
  for (size_t k = 0; k < ref.size() && k < test.size(); ++k) {
    for (size_t o = 0; o < ref[k].size(); ++o) {
      std::span<const float> x = ref[k][o].values<float>();
      std::span<const float> y = test[k][o].values<float>();
      for (size_t i = 0; i < x.size(); ++i) {
        if (!std::isfinite(x[i]) || !std::isfinite(y[i])) {
          ++s.nonfinite;
          continue;
        }
        const double xd = x[i], yd = y[i], d = xd - yd;
        s.err += d * d;
        s.ref += xd * xd;
        s.test += yd * yd;
        s.cross += xd * yd;
      }
    }
    if (ref[k].empty() || ref[k][0].rank() < 1) continue;
    const int64_t classes = ref[k][0].dim(ref[k][0].rank() - 1);
    if (classes < 2) continue;
    std::span<const float> x = ref[k][0].values<float>();
    std::span<const float> y = test[k][0].values<float>();
    const auto c = static_cast<size_t>(classes);
    for (size_t r = 0; r + c <= x.size(); r += c) {
      ++s.rows;
      const int64_t b = argmax_row(y.subspan(r, c));
      if (argmax_row(x.subspan(r, c)) == b) ++s.agree;
      if (k < labels_.size() && x.size() == c) {
        ++s.labelled;
        s.correct += b == labels_[k];
      }
    }
  }
  return s;
}

Result<std::vector<Verifier::Outputs>> Verifier::fake_quant_outputs(
    const quant::QuantPlan& plan) const {
  QDIFF_ASSIGN_OR_RETURN(auto fq, quant::FakeQuantWorld::create(g_, plan));
  QDIFF_ASSERT(
      fq->graph().num_values() == g_.num_values() && fq->graph().num_nodes() == g_.num_nodes(),
      "the fake-quant world's graph is not the model's");
  runtime::RunOptions ro;
  ro.threads = threads_;
  QDIFF_ASSIGN_OR_RETURN(auto run, runtime::Interpreter::create(fq->graph(), ro));
  // From whichever kept world reruns fewer nodes.
  std::optional<runtime::Resume> resume;
  const Values* given = nullptr;
  std::vector<bool> rerun;
  if (incremental()) {
    auto from_fq = rerun_set(g_, fq_base_world_.get(), *fq);
    auto from_float = rerun_set(g_, nullptr, *fq);
    const bool use_fq = from_fq.second <= from_float.second;
    rerun = std::move(use_fq ? from_fq.first : from_float.first);
    given = use_fq ? &fq_values_ : &float_values_;
    resume.emplace();
    resume->rerun = &rerun;
    nodes_run_ +=
        static_cast<int64_t>(samples_.size()) * (use_fq ? from_fq.second : from_float.second);
  } else {
    nodes_run_ += static_cast<int64_t>(samples_.size() * g_.num_nodes());
  }
  nodes_full_ += static_cast<int64_t>(samples_.size() * g_.num_nodes());
  std::vector<Outputs> all;
  for (size_t k = 0; k < samples_.size(); ++k) {
    if (resume) resume->given = &(*given)[k];
    QDIFF_ASSIGN_OR_RETURN(
        Outputs out, run->run(samples_[k], nullptr, fq->transform(), resume ? &*resume : nullptr));
    all.push_back(plain(std::move(out)));
  }
  return all;
}

Result<std::vector<Verifier::Outputs>> Verifier::integer_outputs(
    const quant::QuantPlan& plan, const targets::TargetProfile& profile) const {
  intworld::IntWorldOptions io;
  io.threads = threads_;
  QDIFF_ASSIGN_OR_RETURN(auto iw, intworld::IntWorld::create(g_, plan, profile, io));
  std::vector<Outputs> all;
  for (const std::vector<Tensor>& in : samples_) {
    QDIFF_ASSIGN_OR_RETURN(Outputs out, iw->run(in));
    for (size_t o = 0; o < out.size(); ++o) {
      if (const quant::TensorPlan* q = iw->quantized(g_.outputs[o])) {
        QDIFF_ASSIGN_OR_RETURN(out[o], intworld::dequantize_tensor(out[o], q->params));
      }
    }
    all.push_back(plain(std::move(out)));
  }
  return all;
}

Result<Score> Verifier::fake_quant(const quant::QuantPlan& plan) const {
  QDIFF_ASSIGN_OR_RETURN(std::vector<Outputs> all, fake_quant_outputs(plan));
  return score(float_, all);
}

Score Verifier::base_fake_quant() const {
  return score(float_, fq_base_);
}

Score Verifier::float_self() const {
  return score(float_, float_);
}

Result<Score> Verifier::integer(const quant::QuantPlan& plan,
                                const targets::TargetProfile& profile) const {
  QDIFF_ASSIGN_OR_RETURN(std::vector<Outputs> all, integer_outputs(plan, profile));
  return score(fq_base_, all);
}

Result<Score> Verifier::integer_vs_float(const quant::QuantPlan& plan,
                                         const targets::TargetProfile& profile) const {
  QDIFF_ASSIGN_OR_RETURN(std::vector<Outputs> all, integer_outputs(plan, profile));
  return score(float_, all);
}

Result<std::vector<Tensor>> Verifier::integer_at(const quant::QuantPlan& plan,
                                                 const targets::TargetProfile& profile,
                                                 ir::ValueId probe) const {
  intworld::IntWorldOptions io;
  io.threads = threads_;
  QDIFF_ASSIGN_OR_RETURN(auto iw, intworld::IntWorld::create(g_, plan, profile, io));
  struct Keep : runtime::Observer {
    ir::ValueId id = 0;
    Tensor value;
    bool wants(ir::ValueId v) const override { return v == id; }
    Status observe(ir::ValueId v, const Tensor& t) override {
      if (v == id) value = t.to_plain();
      return Status();
    }
  } keep;
  keep.id = probe;
  std::vector<Tensor> all;
  for (const std::vector<Tensor>& in : samples_) {
    keep.value = Tensor();
    QDIFF_ASSIGN_OR_RETURN(Outputs out, iw->run(in, &keep));
    if (!keep.value.defined())
      return invalid_argument("the integer world does not hold tensor '" + g_.value(probe).name +
                              "'");
    if (const quant::TensorPlan* q = iw->quantized(probe)) {
      QDIFF_ASSIGN_OR_RETURN(keep.value, intworld::dequantize_tensor(keep.value, q->params));
    }
    all.push_back(std::move(keep.value));
  }
  return all;
}

Status Verifier::observe_float(runtime::Observer& observer) const {
  runtime::RunOptions ro;
  ro.threads = threads_;
  QDIFF_ASSIGN_OR_RETURN(auto run, runtime::Interpreter::create(g_, ro));
  for (const std::vector<Tensor>& in : samples_) {
    QDIFF_ASSIGN_OR_RETURN(Outputs out, run->run(in, &observer));
  }
  return Status();
}

}  // namespace qdiff::analysis
