// Compares a qdiff fake-quant dump (candidate) with ONNX Runtime's dump of the same quantized
// model (reference), tensor by tensor, under the rules of the quantization oracle
// (docs/oracle.md):
//
//   qdiff_compare_quant_dumps REFERENCE_DUMP CANDIDATE_DUMP [--rel-tol 1e-4]
//       [--max-flip-fraction 0.001] [--verbose]
//
// The candidate's tensors carry the float model's names. A quantized tensor's manifest entry
// has "quant": {"scale": [...], "axis": n, "ref": NAME, ...}; it is compared with the
// reference tensor NAME (the DequantizeLinear output readers see in the quantized model):
// every element within one quantization step (scale of its channel, plus float rounding), and
// at most --max-flip-fraction of the elements off by a step (float summation order can flip a
// tie). Other candidate tensors are compared with the reference tensor of the same name, if
// any: max|cand - ref| <= rel-tol * max|ref|. Reference tensors that no candidate tensor maps
// to (QuantizeLinear outputs, dequantized weights) are counted, not compared.
//
// Prints one line per failing tensor (every tensor with --verbose) and a summary with the
// measured fractions. Exit status: 0 pass, 1 any failure, 2 usage or I/O error.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tensor/npy.h"
#include "tensor/tensor.h"

namespace fs = std::filesystem;
using namespace qdiff;  // NOLINT

namespace {

struct Entry {
  std::string name;
  std::string file;
  nlohmann::json quant;  // null when absent
};

bool read_manifest(const fs::path& dir, std::vector<Entry>& out) {
  std::ifstream in(dir / "manifest.json");
  if (!in) {
    std::fprintf(stderr, "qdiff_compare_quant_dumps: %s: cannot open\n",
                 (dir / "manifest.json").c_str());
    return false;
  }
  try {
    nlohmann::json j;
    in >> j;
    for (const auto& t : j.at("tensors")) {
      Entry e;
      e.name = t.at("name").get<std::string>();
      e.file = t.at("file").get<std::string>();
      if (t.contains("quant")) e.quant = t.at("quant");
      out.push_back(std::move(e));
    }
  } catch (const std::exception& ex) {
    std::fprintf(stderr, "qdiff_compare_quant_dumps: %s: %s\n", (dir / "manifest.json").c_str(),
                 ex.what());
    return false;
  }
  return true;
}

bool load(const fs::path& dir, const std::string& file, Tensor& t) {
  auto r = read_npy(dir / file);
  if (!r.ok()) {
    std::fprintf(stderr, "qdiff_compare_quant_dumps: %s\n", r.status().message().c_str());
    return false;
  }
  t = r.value().dtype() == DType::kFloat32 ? r.value() : r.value().cast(DType::kFloat32);
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> pos;
  double rel_tol = 1e-4, max_flip = 1e-3;
  bool verbose = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if ((a == "--rel-tol" || a == "--max-flip-fraction") && i + 1 < argc) {
      (a == "--rel-tol" ? rel_tol : max_flip) = std::strtod(argv[++i], nullptr);
    } else if (a == "--verbose") {
      verbose = true;
    } else if (a.starts_with("-")) {
      std::fprintf(stderr,
                   "usage: qdiff_compare_quant_dumps REFERENCE CANDIDATE [--rel-tol X] "
                   "[--max-flip-fraction F] [--verbose]\n");
      return 2;
    } else {
      pos.push_back(a);
    }
  }
  if (pos.size() != 2) {
    std::fprintf(stderr, "usage: qdiff_compare_quant_dumps REFERENCE CANDIDATE [...]\n");
    return 2;
  }
  std::vector<Entry> ref, cand;
  if (!read_manifest(pos[0], ref) || !read_manifest(pos[1], cand)) return 2;
  std::map<std::string, const Entry*> ref_by_name;
  for (const Entry& e : ref) ref_by_name[e.name] = &e;

  int failures = 0, quant_n = 0, quant_exact = 0, float_n = 0, unmatched = 0;
  int64_t flips_total = 0, elements_total = 0;
  double worst_flip = 0, worst_rel = 0;
  std::map<std::string, bool> ref_used;
  for (const Entry& c : cand) {
    const bool quantized = !c.quant.is_null() && c.quant.contains("ref");
    const std::string ref_name = quantized ? c.quant["ref"].get<std::string>() : c.name;
    auto it = ref_by_name.find(ref_name);
    if (it == ref_by_name.end()) {
      ++unmatched;
      if (quantized) {
        std::printf("FAIL %s: reference tensor '%s' not in the reference dump\n", c.name.c_str(),
                    ref_name.c_str());
        ++failures;
      }
      continue;
    }
    ref_used[ref_name] = true;
    Tensor r, k;
    if (!load(pos[0], it->second->file, r) || !load(pos[1], c.file, k)) return 2;
    if (r.shape() != k.shape()) {
      std::printf("FAIL %s: shape %s vs reference %s\n", c.name.c_str(),
                  shape_to_string(k.shape()).c_str(), shape_to_string(r.shape()).c_str());
      ++failures;
      continue;
    }
    const float* rv = r.data<float>();
    const float* kv = k.data<float>();
    const int64_t n = r.numel();
    if (quantized) {
      ++quant_n;
      std::vector<double> scales;
      for (const auto& s : c.quant["scale"]) scales.push_back(s.get<double>());
      const int axis = c.quant.value("axis", -1);
      const bool dynamic = c.quant.value("dynamic", false);
      // Shapes are stacked [samples, ...]: the channel axis is axis + 1.
      int64_t inner = 1, channels = 1;
      if (axis >= 0) {
        channels = r.dim(axis + 1);
        for (int64_t d = axis + 2; d < r.rank(); ++d) inner *= r.dim(d);
      }
      int64_t flips = 0, worse = 0;
      double max_steps = 0;
      for (int64_t i = 0; i < n; ++i) {
        const double d = std::fabs(static_cast<double>(kv[i]) - rv[i]);
        if (d == 0) continue;
        // Dynamic tensors: the step differs per sample; bound by the max step (checked below
        // only by the flip count).
        const double step =
            dynamic ? INFINITY
                    : scales[static_cast<size_t>(axis >= 0 ? (i / inner) % channels : 0)];
        const double tiny = 1e-6 * std::max(std::fabs(static_cast<double>(rv[i])), 1e-30);
        if (d <= tiny) continue;
        ++flips;
        if (!dynamic) {
          max_steps = std::max(max_steps, d / step);
          if (d > 1.5 * step) ++worse;  // values sit on the grid: next is 2 steps
        }
      }
      const double frac = n ? static_cast<double>(flips) / static_cast<double>(n) : 0.0;
      flips_total += flips;
      elements_total += n;
      worst_flip = std::max(worst_flip, frac);
      quant_exact += flips == 0;
      const bool ok = worse == 0 && frac <= max_flip;
      if (!ok) ++failures;
      if (!ok || verbose)
        std::printf("%s %s (ref %s): %lld/%lld elements off (%.4f%%), max %.3g steps%s\n",
                    ok ? "ok  " : "FAIL", c.name.c_str(), ref_name.c_str(),
                    static_cast<long long>(flips), static_cast<long long>(n), 100 * frac, max_steps,
                    worse ? ", some beyond one step" : "");
    } else {
      ++float_n;
      double max_diff = 0, max_ref = 0;
      for (int64_t i = 0; i < n; ++i) {
        max_ref = std::max(max_ref, std::fabs(static_cast<double>(rv[i])));
        const double d = std::fabs(static_cast<double>(kv[i]) - rv[i]);
        max_diff = std::max(max_diff, std::isnan(d) ? INFINITY : d);
      }
      const double rel = max_diff / (max_ref > 0 ? max_ref : 1.0);
      worst_rel = std::max(worst_rel, rel);
      const bool ok = rel <= rel_tol;
      if (!ok) ++failures;
      if (!ok || verbose)
        std::printf("%s %s: float, max rel %.3g\n", ok ? "ok  " : "FAIL", c.name.c_str(), rel);
    }
  }
  int ref_unused = 0;
  for (const Entry& e : ref) ref_unused += !ref_used.count(e.name);
  std::printf(
      "compare_quant: %d quantized tensors (%d bit-exact; %lld of %lld elements one step off = "
      "%.4f%%, worst tensor %.4f%%), %d float tensors (worst rel %.3g), %d failing; %d candidate "
      "tensors without a reference, %d reference tensors not compared (Q outputs, weights)\n",
      quant_n, quant_exact, static_cast<long long>(flips_total),
      static_cast<long long>(elements_total),
      elements_total
          ? 100.0 * static_cast<double>(flips_total) / static_cast<double>(elements_total)
          : 0.0,
      100 * worst_flip, float_n, worst_rel, failures, unmatched, ref_unused);
  if (quant_n == 0) {
    std::printf("compare_quant: no quantized tensor was compared\n");
    return 1;
  }
  return failures ? 1 : 0;
}
