// A device dump's departures from the target's emulation explained (findings.h gives the rules):
// the input's preprocessing, layout readings, each arithmetic mechanism computed another way,
// and a pointwise activation read as a table of its input.
#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <set>
#include <utility>

#include "analysis/findings_internal.h"
#include "quant/plan_edit.h"
#include "targets/profile.h"

namespace qdiff::analysis::internal {

namespace {

// Plain rank-4 NCHW values rearranged by `index(n, c, h, w) -> source element`.
template <typename F>
Tensor rearranged(const Tensor& t, F index) {
  Tensor out = Tensor::zeros(DType::kFloat32, t.shape());
  const float* src = t.data<float>();
  float* dst = out.mutable_data<float>();
  const int64_t n = t.dim(0), c = t.dim(1), h = t.dim(2), w = t.dim(3);
  for (int64_t b = 0; b < n; ++b)
    for (int64_t k = 0; k < c; ++k)
      for (int64_t y = 0; y < h; ++y)
        for (int64_t x = 0; x < w; ++x) dst[((b * c + k) * h + y) * w + x] = src[index(b, k, y, x)];
  return out;
}

// Layout readings of a rank-4 tensor a device may have used instead of qdiff's: a name and the
// tensor as that reading would hold it.
std::vector<std::pair<std::string, Tensor>> layout_readings(const ir::Graph& g, ir::ValueId v,
                                                            const Tensor& t) {
  std::vector<std::pair<std::string, Tensor>> out;
  if (t.rank() != 4 || t.dtype() != DType::kFloat32) return out;
  const int64_t c = t.dim(1), h = t.dim(2), w = t.dim(3);
  // NCHW values written in NHWC order under the NCHW shape.
  out.emplace_back("nhwc-order", t.to_layout(Layout::kNhwc).physical().reshaped(t.shape()));
  if (c > 1)
    out.emplace_back("channels-reversed",
                     rearranged(t, [&](int64_t b, int64_t k, int64_t y, int64_t x) {
                       return ((b * c + (c - 1 - k)) * h + y) * w + x;
                     }));
  // The other DepthToSpace mode (DCR <-> CRD) for a DepthToSpace output.
  const ir::NodeId p = g.value(v).producer;
  if (p != UINT32_MAX && g.node(p).op_type == "DepthToSpace") {
    const ir::Node& n = g.node(p);
    const int64_t bs = n.attributes.get_int("blocksize", 0).value_or(0);
    const std::string mode = n.attributes.get_string("mode", "DCR").value_or("DCR");
    if (bs > 1 && h % bs == 0 && w % bs == 0) {
      const int64_t ci = c * bs * bs;
      // Input channel of output (k, i, j) in a mode: DCR (i * bs + j) * c + k, CRD k * bs^2 + ...
      auto in_channel = [&](bool dcr, int64_t k, int64_t i, int64_t j) {
        return dcr ? (i * bs + j) * c + k : k * bs * bs + i * bs + j;
      };
      const bool dcr = mode == "DCR";
      // Output position, in qdiff's mode, of input channel q at (y, x) of the input grid.
      std::vector<int64_t> where(static_cast<size_t>(ci * 2));
      for (int64_t k = 0; k < c; ++k)
        for (int64_t i = 0; i < bs; ++i)
          for (int64_t j = 0; j < bs; ++j) {
            const auto q = static_cast<size_t>(in_channel(dcr, k, i, j));
            where[2 * q] = k;
            where[2 * q + 1] = i * bs + j;
          }
      out.emplace_back(dcr ? "depth-to-space-crd" : "depth-to-space-dcr",
                       rearranged(t, [&](int64_t b, int64_t k, int64_t y, int64_t x) {
                         const int64_t i = y % bs, j = x % bs;
                         const auto q = static_cast<size_t>(in_channel(!dcr, k, i, j));
                         const int64_t k0 = where[2 * q], ij = where[2 * q + 1];
                         return ((b * c + k0) * h + (y - i + ij / bs)) * w + (x - j + ij % bs);
                       }));
    }
  }
  return out;
}

// Single-input activations a target may tabulate or approximate.
bool is_pointwise_activation(ir::OpKind k) {
  return k == ir::OpKind::kSigmoid || k == ir::OpKind::kTanh || k == ir::OpKind::kHardSigmoid ||
         k == ir::OpKind::kHardSwish || k == ir::OpKind::kLeakyRelu;
}

// The device's output integer as a function of the emulation's input integer (the inputs agree:
// the probe is the first divergence), per sample rows; the table takes each input's most
// frequent output.
struct PointwiseFit {
  double consistency = 0;  // fraction of elements the table reproduces
  int64_t inputs = 0, differing = 0, max_lsb = 0;
  int64_t device_levels = 0, emulation_levels = 0;
  Score score;  // the table applied to the emulation's input, against the device
};

PointwiseFit fit_pointwise(const std::vector<Tensor>& xin, const std::vector<Tensor>& rows,
                           const std::vector<Tensor>& emul, const QuantParams& pin,
                           const QuantParams& pout) {
  std::map<int32_t, std::map<int32_t, int64_t>> counts;
  std::map<int32_t, int32_t> emulated;
  const size_t n = std::min({xin.size(), rows.size(), emul.size()});
  int64_t total = 0;
  for (size_t i = 0; i < n; ++i) {
    std::span<const float> x = xin[i].values<float>(), y = rows[i].values<float>(),
                           e = emul[i].values<float>();
    if (x.size() != y.size() || x.size() != e.size()) continue;
    for (size_t k = 0; k < x.size(); ++k) {
      const int32_t q = quantize(x[k], pin);
      ++counts[q][quantize(y[k], pout)];
      emulated[q] = quantize(e[k], pout);
      ++total;
    }
  }
  PointwiseFit fit;
  std::map<int32_t, int32_t> table;
  std::set<int32_t> dev_levels, emu_levels;
  int64_t kept = 0;
  for (const auto& [q, outs] : counts) {
    auto best = std::max_element(outs.begin(), outs.end(),
                                 [](const auto& a, const auto& b) { return a.second < b.second; });
    table[q] = best->first;
    kept += best->second;
    dev_levels.insert(best->first);
    emu_levels.insert(emulated[q]);
    const int64_t d = std::abs(int64_t{best->first} - emulated[q]);
    fit.differing += d != 0;
    fit.max_lsb = std::max(fit.max_lsb, d);
  }
  fit.inputs = static_cast<int64_t>(counts.size());
  fit.device_levels = static_cast<int64_t>(dev_levels.size());
  fit.emulation_levels = static_cast<int64_t>(emu_levels.size());
  fit.consistency = total > 0 ? static_cast<double>(kept) / static_cast<double>(total) : 0.0;
  std::vector<Tensor> applied;
  for (size_t i = 0; i < n; ++i) {
    Tensor t = emul[i].clone();
    std::span<const float> x = xin[i].values<float>();
    float* d = t.mutable_data<float>();
    for (size_t k = 0; k < x.size() && static_cast<int64_t>(k) < t.numel(); ++k)
      d[k] = dequantize(table[quantize(x[k], pin)], pout);
    applied.push_back(std::move(t));
  }
  fit.score = tensor_score(rows, applied);
  return fit;
}

// Alternatives to a profile's mechanisms: how a device may compute instead.
struct Alternative {
  std::string field, value, category;
  std::function<bool(targets::TargetProfile&)> apply;  // false: same as the profile
  std::string setting = {};  // the profile's JSON for it, when not "field": value
};

// `at_table`: the probe is the output of a tabulated activation (coarse tables are tried).
std::vector<Alternative> alternatives(const targets::TargetProfile& base, bool at_table) {
  using targets::TargetProfile;
  std::vector<Alternative> out;
  for (RoundingMode r : kAllRoundingModes) {
    const std::string name(rounding_mode_name(r));
    out.push_back({"requant_rounding", name, "rounding", [r](TargetProfile& p) {
                     if (p.requant_rounding == r) return false;
                     p.requant_rounding = r;
                     return true;
                   }});
    out.push_back({"quantize_rounding", name, "rounding", [r](TargetProfile& p) {
                     if (p.quantize_rounding == r) return false;
                     p.quantize_rounding = r;
                     return true;
                   }});
  }
  for (auto [req, name] : {std::pair{targets::Requant::kFloat32, "float32"},
                           std::pair{targets::Requant::kDoubleRounding, "double_rounding"},
                           std::pair{targets::Requant::kSingleRounding, "single_rounding"}})
    out.push_back({"requant", name, "rounding", [req](TargetProfile& p) {
                     if (p.requant == req || p.requant == targets::Requant::kPowerOfTwo)
                       return false;
                     p.requant = req;
                     p.requant_rounding = req == targets::Requant::kFloat32
                                              ? RoundingMode::kHalfToEven
                                          : req == targets::Requant::kDoubleRounding
                                              ? RoundingMode::kHalfAwayFromZero
                                              : RoundingMode::kHalfUp;
                     return true;
                   }});
  for (int bits : {15, 16, 23})
    out.push_back({"multiplier_bits", std::to_string(bits), "precision", [bits](TargetProfile& p) {
                     if (p.multiplier_bits == bits) return false;
                     p.multiplier_bits = bits;
                     return true;
                   }});
  out.push_back({"accumulator_bits", "16", "saturation", [](TargetProfile& p) {
                   if (p.accumulator_bits == 16) return false;
                   p.accumulator_bits = 16;
                   p.overflow = targets::Overflow::kSaturate;
                   p.bias_bits = std::min(p.bias_bits, 16);
                   return true;
                 }});
  out.push_back({"pair_saturation_u8s8", "true", "saturation", [](TargetProfile& p) {
                   if (p.pair_saturation_u8s8) return false;
                   p.pair_saturation_u8s8 = true;
                   return true;
                 }});
  out.push_back(
      {"pad_value", base.pad_with_zero_point ? "0" : "zero point", "padding", [](TargetProfile& p) {
         p.pad_with_zero_point = !p.pad_with_zero_point;
         p.pad_value = 0;
         return true;
       }});
  for (auto [lut, name] : {std::pair{targets::LutScheme::kFloatRhe, "float_rhe"},
                           std::pair{targets::LutScheme::kFloatRhaz, "float_rhaz"},
                           std::pair{targets::LutScheme::kLrintf, "lrintf"}})
    out.push_back({"lut", name, "rounding", [lut](TargetProfile& p) {
                     if (p.lut == lut) return false;
                     p.lut = lut;
                     return true;
                   }});
  for (auto [add, name] : {std::pair{targets::AddScheme::kFloat, "float"},
                           std::pair{targets::AddScheme::kTflite, "tflite"},
                           std::pair{targets::AddScheme::kXnnpack, "xnnpack"}})
    out.push_back({"add", name, "rounding", [add](TargetProfile& p) {
                     if (p.add == add || p.add == targets::AddScheme::kAlignShift) return false;
                     p.add = add;
                     return true;
                   }});
  if (at_table)
    for (int bits : {3, 4, 5, 6, 7})
      for (bool interpolate : {true, false})
        out.push_back({"lut_bits",
                       std::to_string(bits) + (interpolate ? "" : " without interpolation"),
                       "approximation",
                       [bits, interpolate](TargetProfile& p) {
                         if (p.lut_bits == bits && p.lut_interpolation == interpolate) return false;
                         p.lut_bits = bits;
                         p.lut_interpolation = interpolate;
                         return true;
                       },
                       "\"lut_bits\": " + std::to_string(bits) +
                           ", \"lut_interpolation\": " + (interpolate ? "true" : "false")});
  auto flag = [&](const char* field, bool TargetProfile::*member) {
    out.push_back(
        {field, base.*member ? "false" : "true", "approximation", [member](TargetProfile& p) {
           p.*member = !(p.*member);
           return true;
         }});
  };
  flag("leaky_relu_26_256", &TargetProfile::leaky_relu_26_256);
  flag("hard_sigmoid_2731", &TargetProfile::hard_sigmoid_2731);
  flag("sigmoid_as_hard_sigmoid", &TargetProfile::sigmoid_as_hard_sigmoid);
  flag("silu_as_hard_swish", &TargetProfile::silu_as_hard_swish);
  return out;
}

}  // namespace

Status device_findings(const WorldRunner& runner, const Verifier& verifier, size_t n,
                       std::vector<Finding>& findings, nlohmann::ordered_json& analyses) {
  const ir::Graph& g = runner.graph();
  const std::optional<Divergence> div = runner.first_divergence(WorldPair::kDevice);
  nlohmann::ordered_json dj;
  dj["first_divergence"] = div ? to_json(*div) : nlohmann::ordered_json();
  if (!div) {
    analyses["device"] = std::move(dj);
    return Status();
  }
  std::optional<TensorMetrics> out_device, out_total;
  for (const TensorComparison& t : runner.tensors())
    if (!g.outputs.empty() && t.value == g.outputs[0]) {
      out_device = t.device;
      out_total = t.total;
    }
  const ir::ValueId probe = div->value;
  QDIFF_ASSIGN_OR_RETURN(std::vector<Tensor> rows, runner.device_rows(probe, n));
  QDIFF_ASSIGN_OR_RETURN(std::vector<Tensor> emul,
                         verifier.integer_at(runner.plan(), runner.profile(), probe));
  rows.resize(std::min(rows.size(), emul.size()));
  emul.resize(rows.size());
  const Score before = tensor_score(rows, emul);

  struct Explanation {
    std::string name, category, summary, fix;
    Score score;
  };
  std::vector<Explanation> found;
  nlohmann::ordered_json tried = nlohmann::ordered_json::object();
  const bool is_input = g.value(probe).producer == UINT32_MAX;
  const std::string& tname = g.value(probe).name;

  // The input's preprocessing: the device's input as a * x + b of qdiff's, per channel, fitted
  // where the device's values are not clipped by the input's grid, and put on that grid.
  if (is_input && !emul.empty()) {
    const quant::TensorPlan* tp = runner.plan().find(tname);
    const bool grid = tp && !tp->params.per_channel() && !tp->dynamic;
    const auto [glo, ghi] = grid ? quant::grid_range(tp->params) : std::pair{-1e30f, 1e30f};
    const double half_step = grid ? 0.5 * tp->params.scales[0] : 0.0;
    const Tensor& e0 = emul[0];
    const int64_t channels = e0.rank() == 4 ? e0.dim(1) : 1;
    const int64_t inner = e0.rank() == 4 ? e0.dim(2) * e0.dim(3) : e0.numel();
    std::vector<double> sx(static_cast<size_t>(channels)), sy(sx), sxx(sx), sxy(sx), cnt(sx);
    for (size_t i = 0; i < rows.size(); ++i) {
      std::span<const float> x = emul[i].values<float>(), y = rows[i].values<float>();
      for (size_t k = 0; k < x.size(); ++k) {
        if (y[k] <= glo + half_step || y[k] >= ghi - half_step) continue;  // clipped
        const auto c = static_cast<size_t>((static_cast<int64_t>(k) / inner) % channels);
        sx[c] += x[k], sy[c] += y[k], cnt[c] += 1;
        sxx[c] += static_cast<double>(x[k]) * x[k];
        sxy[c] += static_cast<double>(x[k]) * y[k];
      }
    }
    std::vector<double> a(sx.size(), 1.0), b(sx.size(), 0.0);
    for (size_t c = 0; c < sx.size(); ++c) {
      if (cnt[c] < 2) continue;
      const double var = sxx[c] - sx[c] * sx[c] / cnt[c];
      if (var > 0) a[c] = (sxy[c] - sx[c] * sy[c] / cnt[c]) / var;
      b[c] = (sy[c] - a[c] * sx[c]) / cnt[c];
    }
    std::vector<Tensor> fitted;
    for (const Tensor& e : emul) {
      Tensor f = e.clone();
      float* d = f.mutable_data<float>();
      for (int64_t k = 0; k < f.numel(); ++k) {
        const auto c = static_cast<size_t>((k / inner) % channels);
        d[k] = static_cast<float>(a[c] * d[k] + b[c]);
        if (grid) d[k] = fake_quant(d[k], tp->params, 0, tp->rounding);
      }
      fitted.push_back(std::move(f));
    }
    const Score s = tensor_score(rows, fitted);
    tried["affine"] = score_json(s);
    std::string ab;
    for (size_t c = 0; c < a.size(); ++c)
      ab += (c ? ", " : "") + fmt("%.4g", a[c]) + " x + " + fmt("%.4g", b[c]);
    found.push_back({"affine", "preprocessing",
                     "the device's input " + tname + " is " + ab +
                         " of qdiff's (per channel): it scales or normalizes the input "
                         "differently",
                     "give the device the preprocessing the model was calibrated with (scale, "
                     "mean and std of the float model's input), or calibrate with the device's",
                     s});
  }
  // Layout readings.
  if (!emul.empty() && emul[0].rank() == 4) {
    std::map<std::string, std::vector<Tensor>> readings;
    for (const Tensor& e : emul)
      for (auto& [name, t] : layout_readings(g, probe, e)) readings[name].push_back(std::move(t));
    for (auto& [name, ts] : readings) {
      const Score s = tensor_score(rows, ts);
      tried[name] = score_json(s);
      const bool channels = name == "channels-reversed";
      found.push_back(
          {name, channels && is_input ? "preprocessing" : "layout",
           name == "nhwc-order"
               ? "the device's " + tname + " holds NHWC-ordered values under the NCHW shape"
           : channels ? "the device's " + tname + " has its channels in reverse order" +
                            (is_input ? std::string(" (RGB vs BGR)") : std::string())
                      : "the device computes " + tname + " with the other DepthToSpace mode (" +
                            name.substr(std::string("depth-to-space-").size()) + ")",
           name == "nhwc-order"
               ? "fix the layout conversion (NHWC <-> NCHW) of " + tname + " on the device side"
           : channels ? (is_input ? "feed the device the channel order the model expects"
                                  : "fix the channel order of " + tname + " on the device")
                      : "compile DepthToSpace with the model's mode (PixelShuffle is CRD in ONNX)",
           s});
    }
  }
  // A pointwise activation: the device's output as a function of its (agreeing) input, read
  // off the dump. When one output integer per input integer explains the device, its table
  // is another function than the emulation's: a coarse or approximated activation.
  std::optional<Explanation> table_fit;
  const ir::Node* producer = is_input ? nullptr : &g.node(g.value(probe).producer);
  const bool at_table = producer && producer->kind && is_pointwise_activation(*producer->kind);
  if (at_table && !emul.empty()) {
    const quant::TensorPlan* tin = runner.plan().find(g.value(producer->inputs[0]).name);
    const quant::TensorPlan* tout = runner.plan().find(tname);
    if (tin && tout && !tin->params.per_channel() && !tout->params.per_channel() && !tin->dynamic &&
        !tout->dynamic) {
      QDIFF_ASSIGN_OR_RETURN(
          std::vector<Tensor> xin,
          verifier.integer_at(runner.plan(), runner.profile(), producer->inputs[0]));
      const auto fit = fit_pointwise(xin, rows, emul, tin->params, tout->params);
      if (fit.consistency >= 0.99) {
        tried["device-table"] = score_json(fit.score);
        table_fit.emplace(Explanation{
            "device-table", "approximation",
            "the device's " + producer->op_type + " is another function of its input: " +
                std::to_string(fit.differing) + " of the " + std::to_string(fit.inputs) +
                " input values seen map elsewhere (up to " + std::to_string(fit.max_lsb) +
                " LSB), " + std::to_string(fit.device_levels) + " output levels against " +
                std::to_string(fit.emulation_levels) + ": a coarse or approximated table",
            "tabulate " + producer->op_type +
                " on the device with one entry per input value, as the emulation does (or "
                "fine-tune with the device's function, or run it on the CPU)",
            fit.score});
      }
    }
  }
  // Mechanisms computed another way (before the measured table: a mechanism that explains the
  // device as well names it more precisely).
  for (const Alternative& alt : alternatives(runner.profile(), at_table)) {
    targets::TargetProfile p = runner.profile();
    if (!alt.apply(p) || !targets::check_profile(p).ok()) continue;
    auto e = verifier.integer_at(runner.plan(), p, probe);
    if (!e.ok()) continue;
    const Score s = tensor_score(rows, e.value());
    const std::string key = alt.field + "=" + alt.value;
    tried[key] = score_json(s);
    found.push_back(
        {key, alt.category,
         "the device computes " + tname + " as the target profile would with " + alt.field + " = " +
             alt.value,
         "the device's " + alt.field + " is " + alt.value + ", not " + runner.profile().name +
             "'s: fix the device's kernels or compiler, or set " +
             (alt.setting.empty() ? "\"" + alt.field + "\": " + alt.value : alt.setting) +
             " in the target profile so that qdiff emulates and calibrates for it",
         s});
  }
  if (table_fit) found.push_back(std::move(*table_fit));
  dj["probe"] = tname;
  dj["before"] = score_json(before);
  dj["tried"] = tried;
  analyses["device"] = std::move(dj);

  const Explanation* best = nullptr;
  for (const Explanation& e : found)
    if (!best || e.score.err < best->score.err) best = &e;
  const double removed = best ? before.removed_by(best->score) : 0.0;
  Finding f;
  f.node = unit_of_tensor(g, runner.plan(), probe);
  f.tensor = tname;
  f.op_type = op_of(g, f.node);
  f.evidence = to_json(*div);
  f.evidence["device_sqnr_db_at_tensor"] = json_number(before.sqnr_db());
  f.evidence["tried"] = tried;
  const std::string metric = "SQNR at " + tname + ", device vs qdiff's emulation (dB)";
  if (best && removed >= 0.9) {
    f.category = best->category;
    f.summary = best->summary + " (" + fmt("%.1f", before.sqnr_db()) + " -> " +
                fmt("%.1f", best->score.sqnr_db()) + " dB at " + tname + ")";
    f.fix = best->fix;
    f.fix_verified = FixVerified{metric, before.sqnr_db(), best->score.sqnr_db()};
  } else {
    f.category = "device-mismatch";
    f.summary = "the device departs from " + runner.profile().name + "'s emulation at " + tname +
                " (" + div->rule + ", " + fmt("%.1f", div->max_error_lsb) + " LSB, " +
                fmt("%.3g", 100.0 * div->differing_fraction) +
                "% of elements) and no known mechanism explains it: a compiler or kernel fault";
    f.fix = "report it to the device's toolchain with this tensor's dump" +
            (f.node.empty() ? std::string() : "; run node " + f.node + " on the CPU meanwhile");
  }
  const double dev_err = out_device ? out_device->error_norm * out_device->error_norm : 0.0;
  const double tot_err = out_total ? out_total->error_norm * out_total->error_norm : 0.0;
  const double share = dev_err + tot_err > 0 ? dev_err / (dev_err + tot_err) : 0.0;
  f.evidence["device_share_of_output_error"] = json_number(share);
  f.severity = damaged(out_device) || share >= 0.5 ? "error"
               : div->rule == "step-error"         ? "warning"
                                                   : "info";
  f.impact = (f.fix_verified ? removed : 1.0) * share;
  findings.push_back(std::move(f));
  return Status();
}

}  // namespace qdiff::analysis::internal
