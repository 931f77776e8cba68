#include "analysis/worlds.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <utility>

#include "intworld/int_world.h"
#include "quant/fake_quant.h"
#include "runtime/interpreter.h"
#include "runtime/model_info.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace qdiff::analysis {

std::string_view world_pair_name(WorldPair p) {
  switch (p) {
    case WorldPair::kQuantization:
      return "quantization";
    case WorldPair::kArithmetic:
      return "arithmetic";
    case WorldPair::kTotal:
      return "total";
    case WorldPair::kDevice:
      return "device";
  }
  return "?";
}

namespace {

// Pairs whose two sides lie on the same grid (rules at the top of worlds.h).
bool integer_pair(WorldPair p) {
  return p == WorldPair::kArithmetic || p == WorldPair::kDevice;
}

constexpr int kPairs = 4;
constexpr int kDevicePair = static_cast<int>(WorldPair::kDevice);

QuantGrid grid_of(const QuantParams& p) {
  QuantGrid g;
  g.scales = p.scales;
  g.zero_points = p.zero_points;
  g.axis = p.axis;
  g.has_range = true;
  g.qmin = p.qmin();
  g.qmax = p.qmax();
  return g;
}

// Keeps the selected tensors of one run (one sample).
class Store : public runtime::Observer {
 public:
  Store(const std::vector<bool>& selected, std::vector<Tensor>& slots)
      : selected_(selected), slots_(slots) {}
  bool wants(ir::ValueId id) const override { return id < selected_.size() && selected_[id]; }
  bool any_layout() const override { return true; }  // compare() picks the element order
  Status observe(ir::ValueId id, const Tensor& value) override {
    if (wants(id)) slots_[id] = value;
    return Status();
  }

 private:
  const std::vector<bool>& selected_;
  std::vector<Tensor>& slots_;
};

// lo = min(lo, finite x), hi = max(hi, finite x) (min and max are exact in any order).
void finite_range_scalar(const float* x, size_t n, float& lo, float& hi) {
  for (size_t i = 0; i < n; ++i) {
    if (!std::isfinite(x[i])) continue;
    lo = std::min(lo, x[i]);
    hi = std::max(hi, x[i]);
  }
}

#if defined(__x86_64__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
// 16 at a time: x - x is 0 exactly when x is finite; the others leave the lanes as they were.
__attribute__((target("avx512f"))) void finite_range_avx512(const float* x, size_t n, float& lo,
                                                            float& hi) {
  __m512 vlo = _mm512_set1_ps(lo), vhi = _mm512_set1_ps(hi);
  const __m512 zero = _mm512_setzero_ps();
  for (size_t i = 0; i < n; i += 16) {
    const size_t left = n - i;
    const __mmask16 m = left >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << left) - 1);
    const __m512 v = _mm512_maskz_loadu_ps(m, x + i);
    const __mmask16 f = m & _mm512_cmp_ps_mask(_mm512_sub_ps(v, v), zero, _CMP_EQ_OQ);
    vlo = _mm512_mask_min_ps(vlo, f, vlo, v);
    vhi = _mm512_mask_max_ps(vhi, f, vhi, v);
  }
  float a[16], b[16];
  _mm512_storeu_ps(a, vlo);
  _mm512_storeu_ps(b, vhi);
  for (int k = 0; k < 16; ++k) lo = std::min(lo, a[k]), hi = std::max(hi, b[k]);
}
#pragma GCC diagnostic pop
#endif

void finite_range(const float* x, size_t n, float& lo, float& hi) {
#if defined(__x86_64__)
  static const bool avx512 = __builtin_cpu_supports("avx512f");
  if (avx512) return finite_range_avx512(x, n, lo, hi);
#endif
  finite_range_scalar(x, n, lo, hi);
}

}  // namespace

struct WorldRunner::Impl {
  struct Entry {
    ir::ValueId value = 0;
    const quant::TensorPlan* plan = nullptr;  // static grid from the plan, or nullptr
    bool top1 = false;
    bool created = false;
    Shape shape;
    std::optional<MetricsAccumulator> acc[kPairs];
    double lo = std::numeric_limits<double>::infinity();
    double hi = -std::numeric_limits<double>::infinity();
  };

  ir::Graph graph;
  quant::QuantPlan plan;
  targets::TargetProfile profile;
  WorldsOptions options;
  std::unique_ptr<quant::FakeQuantWorld> fq;
  std::unique_ptr<runtime::Interpreter> float_run, fq_run;
  std::unique_ptr<intworld::IntWorld> int_world;  // null when the plan cannot run as integers
  std::string int_world_error;
  std::vector<Entry> entries;       // compared tensors, topological order
  std::vector<int64_t> entry_of;    // per value: index in entries or -1
  std::vector<bool> selected;       // per value: compared
  std::vector<double> weight_rel2;  // per value: relative fake-quant error energy of a weight
  std::vector<Tensor> float_vals, int_vals;
  int64_t samples = 0;

  // The device world.
  struct DeviceLink {
    size_t dump_index = 0;
    ir::ValueId value = 0;
    bool permuted = false;  // rows read NHWC -> NCHW
    std::optional<DumpTensorStream> stream;
  };
  std::optional<DumpReader> device;
  std::vector<DeviceLink> links;
  std::optional<DeviceAlignment> alignment;
  std::vector<Tensor> device_vals, device_ints;  // per value, this sample
  std::vector<std::string> device_names;         // per value: the dump's name

  // The sample x tensor map: SQNR (dB, float32) of each sample at each compared tensor in the
  // total pair (the quantization pair without an integer world); NaN where not compared.
  std::vector<std::string> sample_names;
  std::vector<std::vector<float>> sample_rows;
  std::vector<float> sample_row;  // this sample's, filled by compare()
  std::vector<int64_t> labels;    // set_labels
  Accuracy accuracy;

  static float sqnr_of(const MetricsAccumulator::SampleSums& s) {
    if (s.err == 0) return std::numeric_limits<float>::infinity();
    return static_cast<float>(10.0 * std::log10(s.ref / s.err));
  }
  Status compare(ir::ValueId id, const Tensor& fq_value);
  Status align_device();
  Status read_device();
};

namespace {

class FqComparer : public runtime::Observer {
 public:
  explicit FqComparer(WorldRunner::Impl& impl) : impl_(impl) {}
  bool wants(ir::ValueId id) const override {
    return id < impl_.selected.size() && impl_.selected[id];
  }
  bool any_layout() const override { return true; }  // compare() picks the element order
  Status observe(ir::ValueId id, const Tensor& value) override {
    if (!wants(id)) return Status();
    return impl_.compare(id, value);
  }

 private:
  WorldRunner::Impl& impl_;
};

}  // namespace

Status WorldRunner::Impl::compare(ir::ValueId id, const Tensor& fq_any) {
  Entry& e = entries[static_cast<size_t>(entry_of[id])];
  const std::string& name = graph.value(id).name;
  const Tensor& f_any = float_vals[id];
  if (f_any.defined() && f_any.dtype() != DType::kFloat32) return Status();  // not a float tensor
  QDIFF_ASSERT(f_any.defined(), "the float world did not produce a compared tensor");
  QDIFF_ASSERT(fq_any.dtype() == DType::kFloat32 && fq_any.shape() == f_any.shape(),
               "the fake-quant world changed a tensor's type or shape");
  const quant::TensorPlan* iq = int_world ? int_world->quantized(id) : nullptr;
  // The element order: where the float and fake-quant worlds both hold the tensor channels-last
  // and no metric depends on the order (per-tensor grids, no top-1, no device rows), their
  // storage as it is (the integer world's converted to it); else plain. Either way the sums
  // follow one fixed order per tensor.
  const Layout layout = fq_any.layout();
  const bool physical = layout != Layout::kPlain && f_any.layout() == layout && !e.top1 &&
                        (!e.plan || !e.plan->params.per_channel()) &&
                        (!iq || !iq->params.per_channel()) && device_vals.empty();
  auto in_order = [&](const Tensor& t) {
    return physical ? t.to_layout(layout).physical() : t.to_plain();
  };
  const Tensor f = in_order(f_any), fq_value = in_order(fq_any);
  const Tensor it = int_vals[id].defined() ? in_order(int_vals[id]) : Tensor();
  if (!e.created) {
    e.shape = f_any.shape();
    std::optional<QuantGrid> grid;
    if (e.plan) grid = grid_of(e.plan->params);
    for (int p = 0; p < kPairs; ++p) {
      MetricsConfig c;
      c.shape = e.shape;
      c.lsb = grid;
      c.top1 = e.top1;
      const bool int_test = p != static_cast<int>(WorldPair::kQuantization);
      if (int_test) {
        if (!it.defined()) continue;  // the integer world does not produce it
        if (iq) c.test_grid = grid_of(iq->params);
        // Fake-quant and integer values both on the plan's grid: the integers agree where the
        // values do (MetricsConfig::on_grid).
        if (p == static_cast<int>(WorldPair::kArithmetic))
          c.on_grid = iq && e.plan && iq->params == e.plan->params;
      } else {
        c.test_grid = grid;
      }
      QDIFF_ASSIGN_OR_RETURN(MetricsAccumulator a, MetricsAccumulator::create(std::move(c)));
      e.acc[p].emplace(std::move(a));
    }
    e.created = true;
  } else if (f_any.shape() != e.shape) {
    return invalid_argument("tensor " + name + ": shape " + shape_to_string(f_any.shape()) +
                            " differs from " + shape_to_string(e.shape) + " of earlier samples");
  }
  const bool has_int = e.acc[static_cast<int>(WorldPair::kArithmetic)].has_value();
  if (has_int != it.defined())
    return invalid_argument("tensor " + name +
                            ": the integer world produced it for some samples only");

  std::span<const float> fv = f.values<float>();
  {
    float lo = std::numeric_limits<float>::infinity(), hi = -lo;
    finite_range(fv.data(), fv.size(), lo, hi);
    if (lo <= hi) {
      e.lo = std::min(e.lo, static_cast<double>(lo));
      e.hi = std::max(e.hi, static_cast<double>(hi));
    }
  }
  const SampleView float_side{fv, {}};
  SampleView fq_side{fq_value.values<float>(), {}};
  const MetricsAccumulator::SampleSums qs =
      e.acc[static_cast<int>(WorldPair::kQuantization)]->add(float_side, fq_side);
  const size_t column = static_cast<size_t>(entry_of[id]);
  const bool scored = !labels.empty() && id == graph.outputs[0];
  if (scored) {
    if (fv.size() != static_cast<size_t>(e.shape.back()))
      return invalid_argument("--labels: output " + name + " of shape " + shape_to_string(e.shape) +
                              " is not one row of class scores per sample");
    if (samples >= static_cast<int64_t>(labels.size()))
      return invalid_argument("--labels holds " + std::to_string(labels.size()) +
                              " labels; the data has more samples");
    const int64_t label = labels[static_cast<size_t>(samples)];
    accuracy.rows += 1;
    accuracy.float_correct += argmax_row(fv) == label;
    accuracy.fake_quant_correct += argmax_row(fq_side.values) == label;
  }
  if (!has_int) {
    sample_row[column] = sqnr_of(qs);
    return Status();
  }

  // The integer side as floats (and integers when it holds them).
  Tensor int_float, q32;
  std::span<const int32_t> int_q;
  if (iq) {
    QDIFF_ASSERT(dtype_is_integer(it.dtype()), "a quantized tensor not held as integers");
    QDIFF_ASSIGN_OR_RETURN(int_float, intworld::dequantize_tensor(it, iq->params));
    q32 = it.cast(DType::kInt32);
    int_q = q32.values<int32_t>();
  } else {
    QDIFF_ASSERT(it.dtype() == DType::kFloat32, "a float tensor of the integer world not float32");
    int_float = it;
  }
  QDIFF_ASSERT(int_float.shape() == f.shape(), "the integer world changed a tensor's shape");
  SampleView int_side{int_float.values<float>(), int_q};
  e.acc[static_cast<int>(WorldPair::kArithmetic)]->add(fq_side, int_side);
  SampleView int_values_only{int_side.values, int_side.integers};
  sample_row[column] =
      sqnr_of(e.acc[static_cast<int>(WorldPair::kTotal)]->add(float_side, int_values_only));

  if (scored) {
    accuracy.integer_correct += argmax_row(int_side.values) == labels[static_cast<size_t>(samples)];
    accuracy.has_integer = true;
  }
  if (device_vals.empty() || !device_vals[id].defined()) return Status();

  // The device against the integer world.
  const Tensor& dv = device_vals[id];
  const Tensor& di = device_ints[id];
  const DumpTensor& dt = device->tensors()[static_cast<size_t>(
      std::find_if(links.begin(), links.end(), [&](const DeviceLink& l) {
        return l.value == id;
      })->dump_index)];
  if (dv.shape() != e.shape)
    return invalid_argument("device dump tensor '" + dt.name + "': shape " +
                            shape_to_string(dv.shape()) + " differs from the model's " +
                            shape_to_string(e.shape));
  if (!e.acc[kDevicePair]) {
    MetricsConfig c;
    c.shape = e.shape;
    if (iq) c.lsb = grid_of(iq->params);
    c.test_grid = dt.quant;
    if (c.test_grid && !c.test_grid->has_range) c.test_grid.reset();
    c.integers = iq && di.defined() && dt.quant && *dt.quant == grid_of(iq->params);
    if (c.integers) c.test_grid = dt.quant;
    QDIFF_ASSIGN_OR_RETURN(MetricsAccumulator a, MetricsAccumulator::create(std::move(c)));
    e.acc[kDevicePair].emplace(std::move(a));
  }
  MetricsAccumulator& dev = *e.acc[kDevicePair];
  std::vector<int32_t> dev_q;
  if (di.defined()) dev_q.assign(di.data<int32_t>(), di.data<int32_t>() + di.numel());
  SampleView device_side{dv.values<float>(), dev_q};
  if (scored) {
    accuracy.device_correct +=
        argmax_row(device_side.values) == labels[static_cast<size_t>(samples)];
    accuracy.has_device = true;
  }
  SampleView int_ref{int_side.values,
                     dev.config().integers ? int_side.integers : std::span<const int32_t>()};
  if (!dev.config().integers && !dev.config().test_grid) device_side.integers = {};
  dev.add(int_ref, device_side);
  return Status();
}

namespace {

// Values named [n, c, h, w] but stored in [n, h, w, c] order -> plain [n, c, h, w].
Tensor permute_nhwc(const Tensor& t) {
  if (!t.defined() || t.rank() != 4) return t;
  return t.reshaped({t.dim(0), t.dim(2), t.dim(3), t.dim(1)})
      .with_physical_layout(Layout::kNhwc)
      .to_plain();
}

}  // namespace

Status WorldRunner::Impl::align_device() {
  const std::vector<DumpTensor>& dts = device->tensors();
  DeviceAlignment al;
  std::vector<bool> taken(graph.num_values(), false);
  std::vector<bool> linked(dts.size(), false);
  auto link = [&](size_t i, ir::ValueId v, bool permuted) {
    DeviceLink l;
    l.dump_index = i;
    l.value = v;
    l.permuted = permuted;
    links.push_back(std::move(l));
    taken[v] = true;
    linked[i] = true;
  };
  for (size_t i = 0; i < dts.size(); ++i) {
    auto v = graph.find_value(dts[i].name);
    if (!v) continue;
    if (*v < selected.size() && selected[*v] && !taken[*v]) {
      link(i, *v, false);
      al.matched.push_back({dts[i].name, dts[i].name, "name", 1.0, 0.0, false});
    } else {
      linked[i] = true;  // a constant, or a tensor no world compares
      al.not_compared.push_back(dts[i].name);
    }
  }
  // By values: correlation with the float world on this (the first) sample.
  auto correlation = [](std::span<const float> a, std::span<const float> b) {
    double sa = 0, sb = 0, saa = 0, sbb = 0, sab = 0;
    const auto n = static_cast<double>(a.size());
    for (size_t i = 0; i < a.size(); ++i) {
      sa += a[i], sb += b[i];
      saa += static_cast<double>(a[i]) * a[i];
      sbb += static_cast<double>(b[i]) * b[i];
      sab += static_cast<double>(a[i]) * b[i];
    }
    const double va = saa - sa * sa / n, vb = sbb - sb * sb / n;
    if (!(va > 0) || !(vb > 0)) return 0.0;
    return (sab - sa * sb / n) / std::sqrt(va * vb);
  };
  for (size_t i = 0; i < dts.size(); ++i) {
    if (linked[i]) continue;
    const DumpTensor& dt = dts[i];
    auto st = device->stream(i);
    if (!st.ok()) return st.status();
    DumpRow row;
    QDIFF_RETURN_IF_ERROR(st->next(&row));
    const int64_t numel = row.values.numel();
    std::span<const float> dv = row.values.values<float>();
    // The rows as NHWC read as NCHW (a dump whose manifest gives the wrong layout).
    const Tensor swapped_rows = dt.shape.size() == 4 ? permute_nhwc(row.values) : Tensor();
    std::span<const float> swapped;
    if (swapped_rows.defined()) swapped = swapped_rows.values<float>();
    // Candidates: the tensors the integer world holds (a device holds what its target does),
    // correlated as its values (integers or floats: correlation ignores scale and offset), the
    // better of the two layouts; a candidate whose name the dump's name contains
    // ("conv1_out_QuantizeLinear_Output") is preferred among the good ones.
    struct Candidate {
      ir::ValueId value;
      double r;
      bool permuted, named;
    };
    std::vector<Candidate> cands;
    for (const Entry& e : entries) {
      if (!int_vals[e.value].defined() || int_vals[e.value].numel() != numel) continue;
      const std::vector<float> iv = int_vals[e.value].to_f32_vector();
      Candidate c{e.value, -2.0, false, false};
      for (int perm = 0; perm < (swapped.empty() ? 1 : 2); ++perm) {
        const double r = correlation(iv, perm ? swapped : dv);
        if (r > c.r) c.r = r, c.permuted = perm == 1;
      }
      const std::string& name = graph.value(e.value).name;
      c.named = name.size() >= 3 && dt.name.find(name) != std::string::npos;
      cands.push_back(c);
    }
    const Candidate* best = nullptr;
    double runner_up = -1.0;
    for (const Candidate& c : cands) {
      const bool better =
          !best || (c.named && c.r >= 0.9) > (best->named && best->r >= 0.9) ||
          ((c.named && c.r >= 0.9) == (best->named && best->r >= 0.9) && c.r > best->r);
      if (better) best = &c;
    }
    for (const Candidate& c : cands)
      if (&c != best) runner_up = std::max(runner_up, c.r);
    if (!best) {
      al.unmatched.emplace_back(dt.name, "no model tensor the integer world holds has " +
                                             std::to_string(numel) + " elements");
      continue;
    }
    const std::string& best_name = graph.value(best->value).name;
    if (best->r < 0.9 || (!best->named && best->r - std::max(runner_up, 0.0) < 0.05)) {
      char why[256];
      std::snprintf(why, sizeof why,
                    "no clear match by values (best correlation %.3f with %s, runner-up %.3f)",
                    best->r, best_name.c_str(), runner_up);
      al.unmatched.emplace_back(dt.name, why);
    } else if (taken[best->value]) {
      // Another dump tensor holds it already (a quantized copy of a float output, say).
      linked[i] = true;
      al.not_compared.push_back(dt.name + " (the values of " + best_name + ")");
    } else {
      link(i, best->value, best->permuted);
      al.matched.push_back({dt.name, best_name, best->named ? "name and values" : "values", best->r,
                            runner_up, best->permuted});
    }
  }
  for (DeviceLink& l : links) {
    QDIFF_ASSIGN_OR_RETURN(DumpTensorStream st, device->stream(l.dump_index));
    l.stream.emplace(std::move(st));
  }
  device_names.assign(graph.num_values(), "");
  for (const DeviceLink& l : links) device_names[l.value] = dts[l.dump_index].name;
  alignment = std::move(al);
  return Status();
}

Status WorldRunner::Impl::read_device() {
  const size_t nv = graph.num_values();
  device_vals.assign(nv, Tensor());
  device_ints.assign(nv, Tensor());
  if (samples >= device->sample_count())
    return invalid_argument("device dump " + device->dir().string() + " holds " +
                            std::to_string(device->sample_count()) + " samples; the data has more");
  for (DeviceLink& l : links) {
    DumpRow row;
    QDIFF_RETURN_IF_ERROR(l.stream->next(&row));
    if (l.permuted) {
      row.values = permute_nhwc(row.values);
      row.integers = permute_nhwc(row.integers);
    }
    device_vals[l.value] = std::move(row.values);
    device_ints[l.value] = std::move(row.integers);
  }
  return Status();
}

WorldRunner::WorldRunner(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
WorldRunner::~WorldRunner() = default;

Result<std::unique_ptr<WorldRunner>> WorldRunner::create(const ir::Graph& graph,
                                                         const quant::QuantPlan& plan,
                                                         const targets::TargetProfile& profile,
                                                         const WorldsOptions& options) {
  if (!(options.noise_factor > 0) || !(options.differing_fraction >= 0) ||
      !(options.inherited_growth >= 1))
    return invalid_argument(
        "worlds: noise_factor must be > 0, differing_fraction >= 0, inherited_growth >= 1");
  auto impl = std::make_unique<Impl>();
  impl->graph = graph;
  impl->plan = plan;
  impl->profile = profile;
  impl->options = options;
  const ir::Graph& g = impl->graph;
  QDIFF_ASSIGN_OR_RETURN(impl->fq, quant::FakeQuantWorld::create(g, impl->plan));
  runtime::RunOptions ro;
  ro.threads = options.threads;
  QDIFF_ASSIGN_OR_RETURN(impl->float_run, runtime::Interpreter::create(g, ro));
  QDIFF_ASSIGN_OR_RETURN(impl->fq_run, runtime::Interpreter::create(impl->fq->graph(), ro));
  intworld::IntWorldOptions io;
  io.threads = options.threads;
  // Without an integer world (a plan the target cannot run as integers: weights only, an
  // unsupported unit) the float and fake-quant worlds still compare.
  auto iw = intworld::IntWorld::create(g, impl->plan, profile, io);
  if (iw.ok())
    impl->int_world = std::move(iw).value();
  else
    impl->int_world_error = iw.status().message();

  // The compared tensors: float32 graph inputs, then node outputs in node order.
  const size_t nv = g.num_values();
  impl->entry_of.assign(nv, -1);
  impl->selected.assign(nv, false);
  auto add = [&](ir::ValueId id) {
    if (id >= nv || impl->selected[id]) return;
    const ir::Value& v = g.value(id);
    if (v.initializer || (v.type.dtype != DType::kUndefined && v.type.dtype != DType::kFloat32))
      return;
    Impl::Entry e;
    e.value = id;
    const quant::TensorPlan* tp = impl->plan.find(v.name);
    if (tp && tp->role == quant::Role::kActivation && !tp->dynamic) e.plan = tp;
    e.top1 = std::find(g.outputs.begin(), g.outputs.end(), id) != g.outputs.end();
    impl->entry_of[id] = static_cast<int64_t>(impl->entries.size());
    impl->selected[id] = true;
    impl->entries.push_back(std::move(e));
  };
  for (ir::ValueId id : g.inputs) add(id);
  for (const ir::Node& n : g.nodes()) {
    if (n.op_type == "Constant") continue;
    for (ir::ValueId id : n.outputs) add(id);
  }
  // Weights and biases (initializers or Constant outputs): the relative error energy
  // fake-quantization gives them (inherited by their reader).
  impl->weight_rel2.assign(nv, 0.0);
  for (const quant::TensorPlan& tp : impl->plan.tensors) {
    if (tp.role == quant::Role::kActivation) continue;
    auto id = g.find_value(tp.name);
    if (!id) continue;
    auto w = runtime::constant_value(g, *id);
    if (!w) continue;
    const double r = quant::relative_fake_quant_error(*w, tp);
    if (std::isfinite(r)) impl->weight_rel2[*id] = r;
  }
  return std::unique_ptr<WorldRunner>(new WorldRunner(std::move(impl)));
}

Status WorldRunner::run_sample(std::span<const Tensor> inputs, std::string_view name) {
  Impl& m = *impl_;
  m.sample_row.assign(m.entries.size(), std::numeric_limits<float>::quiet_NaN());
  const size_t nv = m.graph.num_values();
  m.float_vals.assign(nv, Tensor());
  m.int_vals.assign(nv, Tensor());
  Status status;
  {
    Store store(m.selected, m.float_vals);
    auto out = m.float_run->run(inputs, &store);
    if (!out.ok()) status = out.status();
  }
  if (status.ok() && m.int_world) {
    Store store(m.selected, m.int_vals);
    auto out = m.int_world->run(inputs, &store);
    if (!out.ok()) status = out.status();
  }
  if (status.ok() && m.device) {
    if (!m.alignment) status = m.align_device();
    if (status.ok()) status = m.read_device();
  }
  if (status.ok()) {
    FqComparer comparer(m);
    auto out = m.fq_run->run(inputs, &comparer, m.fq->transform());
    if (!out.ok()) status = out.status();
  }
  // Only this sample's tensors were held.
  m.float_vals.clear();
  m.int_vals.clear();
  m.device_vals.clear();
  m.device_ints.clear();
  if (status.ok()) {
    m.sample_names.push_back(name.empty() ? std::to_string(m.samples) : std::string(name));
    m.sample_rows.push_back(std::move(m.sample_row));
    ++m.samples;
  }
  return status;
}

const ir::Graph& WorldRunner::graph() const {
  return impl_->graph;
}
const quant::QuantPlan& WorldRunner::plan() const {
  return impl_->plan;
}
const targets::TargetProfile& WorldRunner::profile() const {
  return impl_->profile;
}
Status WorldRunner::set_labels(std::vector<int64_t> labels) {
  if (impl_->samples > 0) return invalid_argument("set_labels: samples have already run");
  if (impl_->graph.outputs.empty() || impl_->entry_of[impl_->graph.outputs[0]] < 0)
    return invalid_argument("--labels: the model's first output is not a float tensor");
  impl_->labels = std::move(labels);
  return Status();
}

std::optional<Accuracy> WorldRunner::accuracy() const {
  if (impl_->labels.empty()) return std::nullopt;
  return impl_->accuracy;
}

SampleMap WorldRunner::sample_map() const {
  const Impl& m = *impl_;
  SampleMap map;
  map.pair = m.int_world ? WorldPair::kTotal : WorldPair::kQuantization;
  std::vector<size_t> columns;
  for (size_t c = 0; c < m.entries.size(); ++c) {
    if (!m.entries[c].created) continue;
    columns.push_back(c);
    map.tensors.push_back(m.graph.value(m.entries[c].value).name);
  }
  map.samples = m.sample_names;
  for (const std::vector<float>& row : m.sample_rows) {
    std::vector<float> r;
    for (size_t c : columns) r.push_back(c < row.size() ? row[c] : std::nanf(""));
    map.sqnr_db.push_back(std::move(r));
  }
  return map;
}

const std::string& WorldRunner::integer_world_error() const {
  return impl_->int_world_error;
}

Status WorldRunner::attach_device(DumpReader dump) {
  if (impl_->samples > 0) return invalid_argument("attach_device: samples have already run");
  if (!impl_->int_world)
    return invalid_argument(
        "a device dump is compared with the target's integer world, which "
        "cannot run this plan: " +
        impl_->int_world_error);
  impl_->device.emplace(std::move(dump));
  return Status();
}

const DeviceAlignment* WorldRunner::device_alignment() const {
  return impl_->alignment ? &*impl_->alignment : nullptr;
}

Result<std::vector<Tensor>> WorldRunner::device_rows(ir::ValueId value, int64_t n) const {
  const Impl& m = *impl_;
  std::vector<Tensor> rows;
  if (!m.device) return rows;
  for (const Impl::DeviceLink& l : m.links) {
    if (l.value != value) continue;
    QDIFF_ASSIGN_OR_RETURN(DumpTensorStream st, m.device->stream(l.dump_index));
    for (int64_t i = 0; i < n && i < m.device->sample_count(); ++i) {
      DumpRow row;
      QDIFF_RETURN_IF_ERROR(st.next(&row));
      rows.push_back(l.permuted ? permute_nhwc(row.values) : std::move(row.values));
    }
  }
  return rows;
}

int64_t WorldRunner::samples() const {
  return impl_->samples;
}

std::vector<TensorComparison> WorldRunner::tensors() const {
  const Impl& m = *impl_;
  std::vector<TensorComparison> out;
  for (const Impl::Entry& e : m.entries) {
    if (!e.created) continue;
    TensorComparison t;
    t.value = e.value;
    t.name = m.graph.value(e.value).name;
    const ir::NodeId producer = m.graph.value(e.value).producer;
    if (producer != UINT32_MAX) {
      t.node = m.graph.node(producer).name;
      t.op_type = m.graph.node(producer).op_type;
      t.node_index = producer;
    }
    t.index = static_cast<int64_t>(out.size());
    if (e.plan)
      t.step = *std::max_element(e.plan->params.scales.begin(), e.plan->params.scales.end());
    if (e.acc[0]) t.quantization = e.acc[0]->result();
    if (e.acc[1]) t.arithmetic = e.acc[1]->result();
    if (e.acc[2]) t.total = e.acc[2]->result();
    if (e.acc[3]) t.device = e.acc[3]->result();
    if (!m.device_names.empty()) t.device_tensor = m.device_names[e.value];
    out.push_back(std::move(t));
  }
  return out;
}

std::vector<std::pair<ir::ValueId, double>> WorldRunner::inherited(WorldPair pair) const {
  const Impl& m = *impl_;
  const ir::Graph& g = m.graph;
  const std::vector<TensorComparison> table = tensors();
  std::vector<const TensorMetrics*> metrics(g.num_values(), nullptr);
  for (const TensorComparison& t : table) {
    const std::optional<TensorMetrics>& tm = t.of(pair);
    if (tm) metrics[t.value] = &*tm;
  }
  // Per value, in node order: the relative error energy it carries (float-reference pairs) or
  // its off-by-one fraction (arithmetic pair); for a value not compared in the pair, what its
  // producer's inputs bring.
  std::vector<double> carried(g.num_values(), 0.0);
  auto inherited_by = [&](ir::NodeId n) {
    double r = 0;
    for (ir::ValueId in : g.node(n).inputs) {
      if (in == ir::kNoValue) continue;
      if (integer_pair(pair))
        r = std::max(r, carried[in]);
      else
        r += carried[in];
    }
    return r;
  };
  auto carry = [&](ir::ValueId id, double inherited_value) {
    const TensorMetrics* tm = metrics[id];
    if (!tm) {
      carried[id] =
          m.weight_rel2[id] > 0 && !integer_pair(pair) ? m.weight_rel2[id] : inherited_value;
      return;
    }
    if (integer_pair(pair))
      carried[id] = differing_fraction(*tm);
    else
      carried[id] = tm->ref_norm > 0
                        ? (tm->error_norm * tm->error_norm) / (tm->ref_norm * tm->ref_norm)
                        : 0.0;
  };
  for (size_t v = 0; v < g.num_values(); ++v)
    if (g.value(static_cast<ir::ValueId>(v)).initializer || m.weight_rel2[v] > 0)
      carry(static_cast<ir::ValueId>(v), 0.0);
  std::vector<std::pair<ir::ValueId, double>> out;
  for (ir::ValueId id : g.inputs) {
    if (metrics[id]) out.emplace_back(id, 0.0);
    carry(id, 0.0);
  }
  for (size_t n = 0; n < g.num_nodes(); ++n) {
    const double inh = inherited_by(static_cast<ir::NodeId>(n));
    for (ir::ValueId id : g.node(static_cast<ir::NodeId>(n)).outputs) {
      if (id == ir::kNoValue) continue;
      if (metrics[id]) out.emplace_back(id, inh);
      carry(id, inh);
    }
  }
  return out;
}

double differing_fraction(const TensorMetrics& tm) {
  const double exact = tm.integer_exact_match ? *tm.integer_exact_match : tm.exact_match;
  return std::isnan(exact) ? 0.0 : 1.0 - exact;
}

std::optional<Divergence> WorldRunner::first_divergence(WorldPair pair) const {
  const Impl& m = *impl_;
  const ir::Graph& g = m.graph;
  const std::vector<TensorComparison> table = tensors();
  std::vector<const TensorMetrics*> metrics(g.num_values(), nullptr);
  for (const TensorComparison& t : table) {
    const std::optional<TensorMetrics>& tm = t.of(pair);
    if (tm) metrics[t.value] = &*tm;
  }
  auto judge = [&](ir::ValueId id, double inh) -> std::optional<Divergence> {
    const TensorMetrics* tm = metrics[id];
    if (!tm || tm->compared == 0) return std::nullopt;
    const Impl::Entry& e = m.entries[static_cast<size_t>(m.entry_of[id])];
    Divergence d;
    d.pair = pair;
    d.value = id;
    d.tensor = g.value(id).name;
    const ir::NodeId producer = g.value(id).producer;
    if (producer != UINT32_MAX) {
      d.node = g.node(producer).name;
      d.op_type = g.node(producer).op_type;
    }
    for (const TensorComparison& t : table)
      if (t.value == id) d.index = t.index;
    const auto n = static_cast<double>(tm->compared);
    if (integer_pair(pair)) {
      if (!e.plan || !tm->max_error_lsb) return std::nullopt;
      d.max_error_lsb = *tm->max_error_lsb;
      d.differing_fraction = differing_fraction(*tm);
      d.inherited_fraction = inh;
      // Differences the inputs do not explain (any difference when the inputs agree exactly).
      if (!(d.differing_fraction > m.options.inherited_growth * inh)) return std::nullopt;
      if (d.max_error_lsb > 1.5) {
        d.rule = "step-error";
        return d;
      }
      if (d.differing_fraction > m.options.differing_fraction) {
        d.rule = "differing-fraction";
        return d;
      }
      return std::nullopt;
    }
    double own = 0;
    if (e.plan) {
      const QuantParams& qp = e.plan->params;
      const double levels = static_cast<double>(qp.qmax()) - static_cast<double>(qp.qmin());
      const double range_step =
          e.hi >= e.lo ? (std::max(e.hi, 0.0) - std::min(e.lo, 0.0)) / levels : 0.0;
      double s2 = 0;
      for (float s : qp.scales) {
        const double step = std::min(static_cast<double>(s), range_step);
        s2 += step * step;
      }
      own = n * (s2 / static_cast<double>(qp.scales.size())) / 12.0;
    }
    const double inherit = inh * tm->ref_norm * tm->ref_norm;
    const double err = tm->error_norm * tm->error_norm;
    const double k = m.options.noise_factor;
    d.rule = "noise-budget";
    d.error_rms = std::sqrt(err / n);
    d.own_noise_rms = std::sqrt(own / n);
    d.inherited_noise_rms = std::sqrt(inherit / n);
    d.tolerance_rms = k * std::sqrt((own + inherit) / n);
    if (err > k * k * (own + inherit)) return d;
    return std::nullopt;
  };

  for (const auto& [id, inh] : inherited(pair))
    if (auto d = judge(id, inh)) return d;
  return std::nullopt;
}

std::vector<WorstSample> worst_samples(const SampleMap& map, const ir::Graph& graph, size_t n) {
  std::vector<WorstSample> out;
  if (graph.outputs.empty()) return out;
  const auto col =
      std::find(map.tensors.begin(), map.tensors.end(), graph.value(graph.outputs[0]).name);
  if (col == map.tensors.end()) return out;
  const auto c = static_cast<size_t>(col - map.tensors.begin());
  std::vector<size_t> order;
  for (size_t i = 0; i < map.sqnr_db.size(); ++i)
    if (!std::isnan(map.sqnr_db[i][c])) order.push_back(i);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return map.sqnr_db[a][c] < map.sqnr_db[b][c]; });
  for (size_t k = 0; k < order.size() && k < n; ++k) {
    const std::vector<float>& row = map.sqnr_db[order[k]];
    WorstSample w;
    w.sample = map.samples[order[k]];
    w.output_sqnr_db = row[c];
    for (size_t t = 0; t < row.size(); ++t)
      if (row[t] < 20.0f) {
        w.first_below = map.tensors[t];
        break;
      }
    out.push_back(std::move(w));
  }
  return out;
}

nlohmann::ordered_json to_json(const TensorComparison& t) {
  nlohmann::ordered_json j;
  j["index"] = t.index;
  j["tensor"] = t.name;
  j["node"] = t.node;
  j["op_type"] = t.op_type;
  j["node_index"] = t.node_index;
  j["step"] = t.step ? json_number(*t.step) : nullptr;
  auto put = [&](const char* key, const std::optional<TensorMetrics>& m) {
    j[key] = m ? to_json(*m) : nullptr;
  };
  put("quantization", t.quantization);
  put("arithmetic", t.arithmetic);
  put("total", t.total);
  if (!t.device_tensor.empty() || t.device) {
    put("device", t.device);
    j["device_tensor"] = t.device_tensor;
  }
  return j;
}

nlohmann::ordered_json to_json(const Divergence& d) {
  nlohmann::ordered_json j;
  j["pair"] = std::string(world_pair_name(d.pair));
  j["index"] = d.index;
  j["tensor"] = d.tensor;
  j["node"] = d.node;
  j["op_type"] = d.op_type;
  j["rule"] = d.rule;
  if (integer_pair(d.pair)) {
    j["max_error_lsb"] = json_number(d.max_error_lsb);
    j["differing_fraction"] = json_number(d.differing_fraction);
    j["inherited_fraction"] = json_number(d.inherited_fraction);
  } else {
    j["error_rms"] = json_number(d.error_rms);
    j["own_noise_rms"] = json_number(d.own_noise_rms);
    j["inherited_noise_rms"] = json_number(d.inherited_noise_rms);
    j["tolerance_rms"] = json_number(d.tolerance_rms);
  }
  return j;
}

nlohmann::ordered_json worlds_to_json(const WorldRunner& runner) {
  nlohmann::ordered_json j;
  j["samples"] = runner.samples();
  nlohmann::ordered_json tensors = nlohmann::ordered_json::array();
  for (const TensorComparison& t : runner.tensors()) tensors.push_back(to_json(t));
  j["tensors"] = std::move(tensors);
  nlohmann::ordered_json first;
  for (WorldPair p :
       {WorldPair::kQuantization, WorldPair::kArithmetic, WorldPair::kTotal, WorldPair::kDevice}) {
    if (p == WorldPair::kDevice && !runner.device_alignment()) continue;
    auto d = runner.first_divergence(p);
    first[std::string(world_pair_name(p))] = d ? to_json(*d) : nullptr;
  }
  j["first_divergence"] = std::move(first);
  {
    // The sample x tensor map, and the worst samples at the first graph output.
    const SampleMap map = runner.sample_map();
    nlohmann::ordered_json mj;
    mj["pair"] = std::string(world_pair_name(map.pair));
    mj["tensors"] = map.tensors;
    mj["samples"] = map.samples;
    nlohmann::ordered_json rows = nlohmann::ordered_json::array();
    for (const std::vector<float>& r : map.sqnr_db) {
      nlohmann::ordered_json row = nlohmann::ordered_json::array();
      for (float v : r)
        row.push_back(json_number(std::isfinite(v) ? std::round(v * 100) / 100 : v));
      rows.push_back(std::move(row));
    }
    mj["sqnr_db"] = std::move(rows);
    nlohmann::ordered_json worst = nlohmann::ordered_json::array();
    for (const WorstSample& w : worst_samples(map, runner.graph(), 5)) {
      nlohmann::ordered_json wj;
      wj["sample"] = w.sample;
      wj["output_sqnr_db"] = json_number(w.output_sqnr_db);
      wj["first_tensor_below_20db"] = w.first_below;
      worst.push_back(std::move(wj));
    }
    mj["worst_samples"] = std::move(worst);
    j["sample_map"] = std::move(mj);
  }
  if (const DeviceAlignment* al = runner.device_alignment()) {
    nlohmann::ordered_json a;
    nlohmann::ordered_json matched = nlohmann::ordered_json::array();
    for (const DeviceAlignment::Match& m : al->matched) {
      nlohmann::ordered_json mj;
      mj["dump_tensor"] = m.dump_name;
      mj["tensor"] = m.tensor;
      mj["how"] = m.how;
      if (m.how != "name") {
        mj["correlation"] = json_number(m.correlation);
        mj["runner_up"] = json_number(m.runner_up);
        mj["nhwc_as_nchw"] = m.permuted;
      }
      matched.push_back(std::move(mj));
    }
    a["matched"] = std::move(matched);
    nlohmann::ordered_json unmatched = nlohmann::ordered_json::array();
    for (const auto& [name, why] : al->unmatched) {
      nlohmann::ordered_json uj;
      uj["dump_tensor"] = name;
      uj["why"] = why;
      unmatched.push_back(std::move(uj));
    }
    a["unmatched"] = std::move(unmatched);
    nlohmann::ordered_json not_compared = nlohmann::ordered_json::array();
    for (const std::string& name : al->not_compared) not_compared.push_back(name);
    a["not_compared"] = std::move(not_compared);
    j["device_alignment"] = std::move(a);
  }
  return j;
}

}  // namespace qdiff::analysis
