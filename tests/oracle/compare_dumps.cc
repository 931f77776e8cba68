// Compares two dump directories (docs/dump-format.md) tensor by tensor: a reference (ONNX
// Runtime, written by tests/oracle/ort_dump.js) and a candidate (`qdiff run --dump`).
//
//   qdiff_compare_dumps REFERENCE_DUMP CANDIDATE_DUMP [--rel-tol 1e-4] [--tol-file FILE]
//   [--verbose]
//
// Tensors are aligned by name. For every tensor of the reference:
//   float   max|cand - ref| / max|ref| <= tol (max over all samples and elements; when the
//           reference is all zero the absolute difference is used). float16/bfloat16 tensors
//           are compared in float32 (qdiff computes fp16 models in float32). NaN must meet NaN
//           and +-Inf the same infinity.
//   integer and bool: exact equality (same dtype required).
// A reference tensor missing from the candidate is a failure (qdiff must tap every tensor ORT
// has); tensors only in the candidate (graph inputs, say) are only counted.
//
// --tol-file FILE   per-tensor tolerances, one "PATTERN REL_TOL" per line ('#' comments);
//                   PATTERN is a tensor name or a glob (fnmatch: * ? [...]); the last
//                   matching line wins over --rel-tol.
// --verbose         also print one line per tensor that passes.
//
// Prints one line per failing tensor and a summary line. Exit status: 0 all within tolerance,
// 1 any tensor outside tolerance or missing, 2 usage or I/O error.
#include <fnmatch.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "tensor/npy.h"
#include "tensor/tensor.h"

namespace fs = std::filesystem;
using namespace qdiff;  // NOLINT

namespace {

struct Manifest {
  std::vector<std::string> names;           // manifest order
  std::map<std::string, std::string> file;  // name -> .npy file name
};

// Reads only the manifest, so tensors can be loaded one pair at a time (ISNet dumps are
// ~1.5 GB per sample).
bool read_manifest(const fs::path& dir, Manifest& m) {
  std::ifstream in(dir / "manifest.json");
  if (!in) {
    std::fprintf(stderr, "qdiff_compare_dumps: %s: cannot open (not a dump directory?)\n",
                 (dir / "manifest.json").c_str());
    return false;
  }
  try {
    nlohmann::json j;
    in >> j;
    for (const auto& t : j.at("tensors")) {
      const std::string name = t.at("name").get<std::string>();
      if (!m.file.emplace(name, t.at("file").get<std::string>()).second) continue;
      m.names.push_back(name);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "qdiff_compare_dumps: %s: %s\n", (dir / "manifest.json").c_str(),
                 e.what());
    return false;
  }
  return true;
}

struct TolRule {
  std::string pattern;
  double tol;
};

bool read_tol_file(const std::string& path, std::vector<TolRule>& rules) {
  std::ifstream in(path);
  if (!in) {
    std::fprintf(stderr, "qdiff_compare_dumps: %s: cannot open\n", path.c_str());
    return false;
  }
  std::string line;
  for (int lineno = 1; std::getline(in, line); ++lineno) {
    line = line.substr(0, line.find('#'));
    std::istringstream ls(line);
    TolRule r;
    if (!(ls >> r.pattern)) continue;  // blank or comment
    std::string extra;
    if (!(ls >> r.tol) || ls >> extra || !(r.tol >= 0)) {
      std::fprintf(stderr, "qdiff_compare_dumps: %s:%d: expected 'PATTERN REL_TOL'\n", path.c_str(),
                   lineno);
      return false;
    }
    rules.push_back(r);
  }
  return true;
}

std::string index_string(int64_t flat, const Shape& shape) {
  std::vector<int64_t> idx(shape.size());
  for (size_t d = shape.size(); d-- > 0;) {
    idx[d] = shape[d] ? flat % shape[d] : 0;
    flat = shape[d] ? flat / shape[d] : 0;
  }
  std::string s = "[";
  for (size_t d = 0; d < idx.size(); ++d) s += (d ? "," : "") + std::to_string(idx[d]);
  return s + "]";
}

struct Diff {
  double max_diff = 0;  // max |cand - ref|; inf on a NaN/Inf mismatch
  double max_ref = 0;   // max |ref| over finite values
  int64_t worst = -1;   // flat index of max_diff
  double ref_at = 0, cand_at = 0;
  double rel() const { return max_diff == 0 ? 0 : max_diff / (max_ref > 0 ? max_ref : 1.0); }
};

template <typename R, typename C>
Diff float_diff(const R* ref, const C* cand, int64_t n) {
  Diff d;
  for (int64_t i = 0; i < n; ++i) {
    const double r = ref[i], c = cand[i];
    double diff;
    if (std::isfinite(r)) {
      d.max_ref = std::max(d.max_ref, std::fabs(r));
      diff = std::isfinite(c) ? std::fabs(c - r) : INFINITY;
    } else {
      diff = (std::isnan(r) ? std::isnan(c) : r == c) ? 0.0 : INFINITY;
    }
    if (diff > d.max_diff) {
      d.max_diff = diff;
      d.worst = i, d.ref_at = r, d.cand_at = c;
    }
  }
  return d;
}

// float16/bfloat16 -> float32; float32/float64 kept.
Tensor widen(const Tensor& t) {
  return t.dtype() == DType::kFloat32 || t.dtype() == DType::kFloat64 ? t : t.cast(DType::kFloat32);
}

Diff compare_floats(const Tensor& ref_in, const Tensor& cand_in) {
  const Tensor ref = widen(ref_in), cand = widen(cand_in);
  const int64_t n = ref.numel();
  const bool rd = ref.dtype() == DType::kFloat64, cd = cand.dtype() == DType::kFloat64;
  if (rd && cd) return float_diff(ref.data<double>(), cand.data<double>(), n);
  if (rd) return float_diff(ref.data<double>(), cand.data<float>(), n);
  if (cd) return float_diff(ref.data<float>(), cand.data<double>(), n);
  return float_diff(ref.data<float>(), cand.data<float>(), n);
}

std::string g(double v, int digits = 3) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.*g", digits, v);
  return buf;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> pos;
  double rel_tol = 1e-4;
  std::string tol_file;
  bool verbose = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if ((a == "--rel-tol" || a == "--tol-file") && i + 1 < argc) {
      if (a == "--tol-file") {
        tol_file = argv[++i];
        continue;
      }
      char* end = nullptr;
      rel_tol = std::strtod(argv[++i], &end);
      if (*end || !(rel_tol >= 0)) {
        std::fprintf(stderr, "qdiff_compare_dumps: bad --rel-tol '%s'\n", argv[i]);
        return 2;
      }
    } else if (a == "--verbose" || a == "-v") {
      verbose = true;
    } else if (a == "-h" || a == "--help" || a.starts_with("-")) {
      std::fprintf(a.starts_with("-h") || a == "--help" ? stdout : stderr,
                   "usage: qdiff_compare_dumps REFERENCE_DUMP CANDIDATE_DUMP [--rel-tol 1e-4] "
                   "[--tol-file FILE] [--verbose]\n");
      return a == "-h" || a == "--help" ? 0 : 2;
    } else {
      pos.push_back(a);
    }
  }
  if (pos.size() != 2) {
    std::fprintf(stderr,
                 "usage: qdiff_compare_dumps REFERENCE_DUMP CANDIDATE_DUMP [--rel-tol 1e-4] "
                 "[--tol-file FILE] [--verbose]\n");
    return 2;
  }
  std::vector<TolRule> rules;
  if (!tol_file.empty() && !read_tol_file(tol_file, rules)) return 2;
  Manifest ref_m, cand_m;
  if (!read_manifest(pos[0], ref_m) || !read_manifest(pos[1], cand_m)) return 2;

  int within = 0, outside = 0, missing = 0;
  double worst_rel = 0;
  std::string worst_name;
  for (const std::string& name : ref_m.names) {
    double tol = rel_tol;
    for (const TolRule& r : rules)
      if (fnmatch(r.pattern.c_str(), name.c_str(), 0) == 0) tol = r.tol;
    auto cit = cand_m.file.find(name);
    if (cit == cand_m.file.end()) {
      std::printf("MISSING '%s': in the reference, not in the candidate\n", name.c_str());
      ++missing;
      continue;
    }
    auto ref = read_npy(fs::path(pos[0]) / ref_m.file.at(name));
    auto cand = read_npy(fs::path(pos[1]) / cit->second);
    if (!ref.ok() || !cand.ok()) {
      std::fprintf(stderr, "qdiff_compare_dumps: tensor '%s': %s\n", name.c_str(),
                   (!ref.ok() ? ref.status() : cand.status()).message().c_str());
      return 2;
    }
    const std::string rtype = std::string(dtype_name(ref->dtype())) + shape_to_string(ref->shape());
    const std::string ctype =
        std::string(dtype_name(cand->dtype())) + shape_to_string(cand->shape());
    auto fail = [&](const std::string& why) {
      std::printf("FAIL '%s' %s: %s\n", name.c_str(), rtype.c_str(), why.c_str());
      ++outside;
    };
    if (ref->shape() != cand->shape()) {
      fail("shape mismatch: candidate is " + ctype + " (shapes include the leading sample dim)");
      continue;
    }
    const bool rf = dtype_is_float(ref->dtype()), cf = dtype_is_float(cand->dtype());
    if (rf != cf || (!rf && ref->dtype() != cand->dtype())) {
      fail("dtype mismatch: candidate is " + ctype);
      continue;
    }
    if (!rf) {  // integer or bool: exact
      const size_t es = dtype_size(ref->dtype());
      int64_t bad = 0, first = -1;
      for (int64_t i = 0; i < ref->numel(); ++i)
        if (std::memcmp(ref->raw() + i * es, cand->raw() + i * es, es) != 0) {
          if (first < 0) first = i;
          ++bad;
        }
      if (bad) {
        const auto rv = ref->to_i64_vector(), cv = cand->to_i64_vector();
        fail(std::to_string(bad) + " of " + std::to_string(ref->numel()) +
             " elements differ (must be exact); first at " + index_string(first, ref->shape()) +
             ": ref " + std::to_string(rv[first]) + ", cand " + std::to_string(cv[first]));
        worst_rel = INFINITY, worst_name = name;
      } else {
        ++within;
        if (verbose) std::printf("ok   '%s' %s: exact\n", name.c_str(), rtype.c_str());
      }
      continue;
    }
    const Diff d = compare_floats(*ref, *cand);
    const double rel = d.rel();
    if (rel > worst_rel || worst_name.empty()) worst_rel = rel, worst_name = name;
    const std::string detail =
        "rel " + g(rel) + " (max|diff| " + g(d.max_diff) +
        (d.worst >= 0 ? " at " + index_string(d.worst, ref->shape()) + ": ref " + g(d.ref_at, 8) +
                            ", cand " + g(d.cand_at, 8)
                      : "") +
        ", max|ref| " + g(d.max_ref) + ")";
    if (rel <= tol) {
      ++within;
      if (verbose) std::printf("ok   '%s' %s: %s\n", name.c_str(), rtype.c_str(), detail.c_str());
    } else {
      fail(detail + " > tol " + g(tol));
    }
  }
  int only_cand = 0;
  for (const std::string& name : cand_m.names) only_cand += ref_m.file.count(name) ? 0 : 1;
  const int compared = within + outside;
  std::printf(
      "oracle: %d tensors, %d within %s x max|ORT|%s (worst %s at '%s'), %d outside, "
      "%d only in reference, %d only in candidate\n",
      compared, within, g(rel_tol).c_str(), rules.empty() ? "" : " (or --tol-file)",
      g(worst_rel).c_str(), worst_name.c_str(), outside, missing, only_cand);
  return outside || missing ? 1 : 0;
}
