// qdiff compare DUMP_A DUMP_B: every tensor of two dump directories compared over all samples
// (A is the reference, B the test); a per-tensor table and, with --json, docs/compare-format.md.
#include <algorithm>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "analysis/dump_reader.h"
#include "analysis/metrics.h"
#include "commands.h"

namespace qdiff::cli {
namespace {

using analysis::DumpReader;
using analysis::DumpTensor;
using analysis::QuantGrid;
using analysis::TensorMetrics;

struct CompareCommandOptions {
  std::string dump_a;
  std::string dump_b;
  std::string json;
  std::vector<std::string> tensors;
};

// A shape without its leading 1s: [1,1,10] and [10] are the same tensor of one sample.
Shape strip_leading_ones(const Shape& s) {
  size_t k = 0;
  while (k + 1 < s.size() && s[k] == 1) ++k;
  return Shape(s.begin() + static_cast<std::ptrdiff_t>(k), s.end());
}

// The grid with its axis counted in `target` (a shape equal to `from` up to leading 1s).
QuantGrid regrid(QuantGrid g, const Shape& from, const Shape& target) {
  if (g.per_channel())
    g.axis += static_cast<int64_t>(target.size()) - static_cast<int64_t>(from.size());
  return g;
}

struct TensorReport {
  std::string name;
  Shape shape;
  const DumpTensor* a = nullptr;
  const DumpTensor* b = nullptr;
  std::string lsb_from;  // "b", "a" or "" (no grid known)
  TensorMetrics m;
};

// A fraction as a percentage that never rounds to 100.00 (or 0.00) unless it is exactly 1 (0).
std::string percent(double fraction) {
  if (std::isnan(fraction)) return "-";
  if (fraction < 1 && fraction > 0.99995) return ">99.99";
  if (fraction > 0 && fraction < 0.00005) return "<0.01";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", 100 * fraction);
  return buf;
}

std::string fmt(const char* f, double v) {
  if (std::isnan(v)) return "-";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

nlohmann::ordered_json side_json(const DumpTensor& t) {
  nlohmann::ordered_json j;
  j["dtype"] = dtype_name(t.dtype);
  if (t.nhwc || t.shape.size() == 4)
    j["layout"] = t.nhwc ? "NHWC" : "NCHW";
  else
    j["layout"] = nullptr;
  j["dequantized"] = t.dequantized;
  if (t.quant) {
    std::vector<double> scales(t.quant->scales.begin(), t.quant->scales.end());
    j["scale"] = scales;
    j["zero_point"] = t.quant->zero_points;
    j["axis"] = t.quant->axis;
  } else {
    j["scale"] = nullptr;
  }
  return j;
}

Status run_compare(const CompareCommandOptions& o) {
  QDIFF_ASSIGN_OR_RETURN(DumpReader a, DumpReader::open(o.dump_a));
  QDIFF_ASSIGN_OR_RETURN(DumpReader b, DumpReader::open(o.dump_b));
  if (a.sample_count() != b.sample_count())
    return invalid_argument(o.dump_a + " holds " + std::to_string(a.sample_count()) + " samples, " +
                            o.dump_b + " holds " + std::to_string(b.sample_count()) +
                            ": compare needs the same samples in the same order");
  for (const std::string& name : o.tensors)
    if (!a.find(name) && !b.find(name))
      return invalid_argument("--tensor: no tensor named '" + name + "' in " + o.dump_a + " or " +
                              o.dump_b);
  const std::set<std::string> wanted(o.tensors.begin(), o.tensors.end());
  auto selected = [&](const std::string& name) { return wanted.empty() || wanted.count(name); };

  // Common tensors in A's (graph) order; the others are reported, never dropped silently.
  std::vector<TensorReport> reports;
  std::vector<std::string> only_a, only_b;
  for (const DumpTensor& t : a.tensors()) {
    if (!selected(t.name)) continue;
    const DumpTensor* tb = b.find(t.name);
    if (!tb) {
      only_a.push_back(t.name);
      continue;
    }
    if (strip_leading_ones(t.shape) != strip_leading_ones(tb->shape))
      return invalid_argument("tensor '" + t.name + "': shape " + shape_to_string(t.shape) +
                              " in " + o.dump_a + " but " + shape_to_string(tb->shape) + " in " +
                              o.dump_b + " (one sample)");
    TensorReport r;
    r.name = t.name;
    r.shape = t.shape;
    r.a = &t;
    r.b = tb;
    reports.push_back(std::move(r));
  }
  for (const DumpTensor& t : b.tensors())
    if (selected(t.name) && !a.find(t.name)) only_b.push_back(t.name);

  std::string names_warning;
  if (a.has_sample_names() && b.has_sample_names())
    for (int64_t i = 0; i < a.sample_count(); ++i)
      if (a.samples()[static_cast<size_t>(i)] != b.samples()[static_cast<size_t>(i)]) {
        names_warning = "sample names differ (first at #" + std::to_string(i) + ": '" +
                        a.samples()[static_cast<size_t>(i)] + "' vs '" +
                        b.samples()[static_cast<size_t>(i)] + "'); compared in order";
        std::fprintf(stderr, "qdiff compare: warning: %s\n", names_warning.c_str());
        break;
      }

  for (TensorReport& r : reports) {
    const DumpTensor& ta = *r.a;
    const DumpTensor& tb = *r.b;
    const std::string ctx = "tensor '" + r.name + "'";
    analysis::MetricsConfig config;
    config.shape = r.shape;
    // Errors in steps of the test side's grid, else of the reference's.
    if (tb.quant) {
      config.lsb = regrid(*tb.quant, tb.shape, r.shape);
      r.lsb_from = "b";
    } else if (ta.quant) {
      config.lsb = *ta.quant;
      r.lsb_from = "a";
    }
    if (tb.quant && tb.quant->has_range) config.test_grid = regrid(*tb.quant, tb.shape, r.shape);
    config.top1 = ta.output || tb.output;
    config.integers =
        ta.dequantized && tb.dequantized && *ta.quant == regrid(*tb.quant, tb.shape, r.shape);
    auto acc = analysis::MetricsAccumulator::create(config);
    if (!acc.ok()) return acc.status().with_context(ctx);
    const size_t ia = static_cast<size_t>(&ta - a.tensors().data());
    const size_t ib = static_cast<size_t>(&tb - b.tensors().data());
    QDIFF_ASSIGN_OR_RETURN(analysis::DumpTensorStream sa, a.stream(ia));
    QDIFF_ASSIGN_OR_RETURN(analysis::DumpTensorStream sb, b.stream(ib));
    analysis::DumpRow ra, rb;
    for (int64_t s = 0; s < a.sample_count(); ++s) {
      QDIFF_RETURN_IF_ERROR(sa.next(&ra));
      QDIFF_RETURN_IF_ERROR(sb.next(&rb));
      analysis::SampleView va{ra.values.values<float>(), {}};
      analysis::SampleView vb{rb.values.values<float>(), {}};
      if (config.integers) va.integers = ra.integers.values<int32_t>();
      if (tb.dequantized) vb.integers = rb.integers.values<int32_t>();
      acc->add(va, vb);
    }
    r.m = acc->result();
  }

  // The table.
  std::printf("qdiff compare: %s (%zu tensors) vs %s (%zu tensors), %" PRId64 " sample%s\n",
              o.dump_a.c_str(), a.tensors().size(), o.dump_b.c_str(), b.tensors().size(),
              a.sample_count(), a.sample_count() == 1 ? "" : "s");
  size_t width = 6;
  for (const TensorReport& r : reports)
    width = std::max(width, std::min<size_t>(r.name.size(), 60));
  std::printf("  %-*s %12s %10s %9s %11s %9s %8s\n", static_cast<int>(width), "tensor", "elements",
              "cosine", "SQNR dB", "max abs", "max LSB", "exact %");
  for (const TensorReport& r : reports) {
    const TensorMetrics& m = r.m;
    std::string notes;
    if (m.top1)
      notes += "  top-1 " +
               percent(m.top1->rows
                           ? static_cast<double>(m.top1->agree) / static_cast<double>(m.top1->rows)
                           : NAN) +
               "% (" + std::to_string(m.top1->agree) + "/" + std::to_string(m.top1->rows) + ")";
    if (m.integer_exact_match) notes += "  integers exact " + percent(*m.integer_exact_match) + "%";
    if (m.saturation && *m.saturated > 0) notes += "  saturated " + percent(*m.saturation) + "%";
    if (m.ref_nan + m.ref_inf + m.test_nan + m.test_inf > 0)
      notes += "  NaN/Inf: A " + std::to_string(m.ref_nan) + "/" + std::to_string(m.ref_inf) +
               ", B " + std::to_string(m.test_nan) + "/" + std::to_string(m.test_inf);
    std::printf("  %-*s %12" PRId64 " %10s %9s %11s %9s %8s%s\n", static_cast<int>(width),
                r.name.c_str(), m.elements, fmt("%.6f", m.cosine).c_str(),
                fmt("%.2f", m.sqnr_db).c_str(), fmt("%.4g", m.max_abs_error).c_str(),
                m.max_error_lsb ? fmt("%.2f", *m.max_error_lsb).c_str() : "-",
                percent(m.exact_match).c_str(), notes.c_str());
  }
  auto list = [](const std::vector<std::string>& v) {
    std::string s;
    for (const std::string& n : v) s += (s.empty() ? "" : ", ") + n;
    return s;
  };
  if (!only_a.empty())
    std::printf("  only in %s (%zu): %s\n", o.dump_a.c_str(), only_a.size(), list(only_a).c_str());
  if (!only_b.empty())
    std::printf("  only in %s (%zu): %s\n", o.dump_b.c_str(), only_b.size(), list(only_b).c_str());
  std::printf("  compared %zu tensor%s\n", reports.size(), reports.size() == 1 ? "" : "s");

  if (!o.json.empty()) {
    nlohmann::ordered_json j;
    j["schema"] = "qdiff.compare/1";
    auto dump_json = [](const std::string& dir, const DumpReader& d) {
      nlohmann::ordered_json s;
      s["dir"] = dir;
      s["model"] = d.model().empty() ? nlohmann::ordered_json() : nlohmann::ordered_json(d.model());
      s["mode"] = d.mode().empty() ? nlohmann::ordered_json() : nlohmann::ordered_json(d.mode());
      s["tensors"] = d.tensors().size();
      return s;
    };
    j["a"] = dump_json(o.dump_a, a);
    j["b"] = dump_json(o.dump_b, b);
    j["samples"] = a.sample_count();
    j["warnings"] = nlohmann::ordered_json::array();
    if (!names_warning.empty()) j["warnings"].push_back(names_warning);
    j["tensors"] = nlohmann::ordered_json::array();
    for (const TensorReport& r : reports) {
      nlohmann::ordered_json t;
      t["name"] = r.name;
      t["shape"] = r.shape;
      t["output"] = r.a->output || r.b->output;
      t["a"] = side_json(*r.a);
      t["b"] = side_json(*r.b);
      t["lsb_grid"] =
          r.lsb_from.empty() ? nlohmann::ordered_json() : nlohmann::ordered_json(r.lsb_from);
      t["metrics"] = analysis::to_json(r.m);
      j["tensors"].push_back(std::move(t));
    }
    j["only_in_a"] = only_a;
    j["only_in_b"] = only_b;
    std::ofstream out(o.json, std::ios::trunc);
    if (!out) return io_error(o.json + ": cannot create file");
    // One line per tensor (as in a dump's manifest): readable, and diffs well.
    out << "{\n";
    bool first = true;
    for (const auto& [key, value] : j.items()) {
      out << (first ? "" : ",\n") << " " << nlohmann::ordered_json(key).dump() << ": ";
      first = false;
      if (!value.is_array() || value.empty()) {
        out << value.dump();
        continue;
      }
      out << "[";
      for (size_t i = 0; i < value.size(); ++i) out << (i ? ",\n  " : "\n  ") << value[i].dump();
      out << "\n ]";
    }
    out << "\n}\n";
    if (!out) return io_error(o.json + ": write failed");
    std::printf("  json: %s\n", o.json.c_str());
  }
  return Status();
}

}  // namespace

void add_compare_command(CLI::App& app, std::function<Status()>& run) {
  auto o = std::make_shared<CompareCommandOptions>();
  CLI::App* cmd = app.add_subcommand(
      "compare",
      "Compare two dump directories tensor by tensor over all samples (A is the reference, B "
      "the test): cosine, SQNR, MSE, max error (absolute and in LSB), exact matches, "
      "saturation, NaN/Inf counts, top-1 agreement of outputs.");
  cmd->add_option("dump_a", o->dump_a, "Reference dump directory (manifest.json + .npy)")
      ->required();
  cmd->add_option("dump_b", o->dump_b, "Test dump directory")->required();
  cmd->add_option("--json", o->json, "Write the comparison as JSON (schema qdiff.compare/1)");
  cmd->add_option("--tensor", o->tensors, "Compare only this tensor (repeatable)")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  cmd->callback([o, &run] { run = [o] { return run_compare(*o); }; });
}

}  // namespace qdiff::cli
