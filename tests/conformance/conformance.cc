// Runs ONNX's backend node tests (Debian libonnx-testdata) through qdiff's importer and
// interpreter: once with the reference kernels (the specification), once with the fast kernels
// where a node has one. Tests whose ops qdiff does not support are skipped. Failures must be
// listed, with a reason, in docs/conformance.md; an unlisted failure, or a listed test that now
// passes, fails the run so the list stays true.
//
//   qdiff_conformance [--data DIR] [--known docs/conformance.md] [--filter SUBSTRING] [--verbose]
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "onnx/importer.h"
#include "onnx/tensor_proto.h"
#include "runtime/interpreter.h"

namespace fs = std::filesystem;
using namespace qdiff;  // NOLINT
namespace qo = qdiff::onnx;

namespace {

// The tolerance ONNX's own backend test runner uses.
constexpr double kRtol = 1e-3;
constexpr double kAtol = 1e-7;

std::string compare(const Tensor& actual, const Tensor& expected) {
  if (actual.shape() != expected.shape())
    return "shape " + shape_to_string(actual.shape()) + " != expected " +
           shape_to_string(expected.shape());
  if (actual.dtype() != expected.dtype())
    return "dtype " + std::string(dtype_name(actual.dtype())) + " != expected " +
           std::string(dtype_name(expected.dtype()));
  if (dtype_is_float(actual.dtype())) {
    const Tensor a = actual.cast(DType::kFloat64), e = expected.cast(DType::kFloat64);
    const double* pa = a.data<double>();
    const double* pe = e.data<double>();
    for (int64_t i = 0; i < a.numel(); ++i) {
      if (std::isnan(pa[i]) && std::isnan(pe[i])) continue;
      if (pa[i] == pe[i]) continue;
      if (!(std::fabs(pa[i] - pe[i]) <= kAtol + kRtol * std::fabs(pe[i])))
        return "element " + std::to_string(i) + ": " + std::to_string(pa[i]) + " != expected " +
               std::to_string(pe[i]);
    }
    return "";
  }
  const size_t es = dtype_size(actual.dtype());
  for (int64_t i = 0; i < actual.numel(); ++i)
    if (std::memcmp(actual.raw() + i * es, expected.raw() + i * es, es) != 0)
      return "element " + std::to_string(i) + " differs";
  return "";
}

std::vector<fs::path> numbered_files(const fs::path& dir, const std::string& prefix) {
  std::vector<fs::path> files;
  for (int i = 0;; ++i) {
    fs::path p = dir / (prefix + std::to_string(i) + ".pb");
    if (!fs::exists(p)) break;
    files.push_back(p);
  }
  return files;
}

enum class Outcome { kPass, kFail, kSkipOp, kSkipFeature };

struct TestResult {
  Outcome outcome;
  std::string detail;
};

TestResult run_test(const fs::path& dir) {
  auto model = qo::import_model(dir / "model.onnx");
  if (!model.ok()) {
    if (model.status().code() == ErrorCode::kUnsupported)
      return {Outcome::kSkipFeature, model.status().message()};
    return {Outcome::kFail, "import: " + model.status().message()};
  }
  const auto missing = runtime::Interpreter::unsupported_ops(model->graph);
  if (!missing.empty()) return {Outcome::kSkipOp, missing.front()};

  std::vector<fs::path> sets;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_directory() && e.path().filename().string().rfind("test_data_set_", 0) == 0)
      sets.push_back(e.path());
  std::sort(sets.begin(), sets.end());
  for (bool fast : {false, true}) {
    auto interp = runtime::Interpreter::create(model->graph, {1, fast});
    if (!interp.ok()) return {Outcome::kFail, interp.status().message()};
    for (const fs::path& set : sets) {
      std::vector<Tensor> inputs;
      for (const fs::path& p : numbered_files(set, "input_")) {
        auto t = qo::read_tensor_proto_file(p, true);
        if (!t.ok()) {
          if (t.status().code() == ErrorCode::kUnsupported)
            return {Outcome::kSkipFeature, t.status().message()};
          return {Outcome::kFail, t.status().message()};
        }
        inputs.push_back(std::move(t).value());
      }
      if (inputs.size() > model->graph.inputs.size()) inputs.resize(model->graph.inputs.size());
      auto outputs = (*interp)->run(inputs);
      if (!outputs.ok()) {
        if (outputs.status().code() == ErrorCode::kUnsupported)
          return {Outcome::kSkipFeature, outputs.status().message()};
        return {Outcome::kFail, (fast ? "fast: " : "") + outputs.status().message()};
      }
      const auto expected = numbered_files(set, "output_");
      for (size_t i = 0; i < expected.size() && i < outputs->size(); ++i) {
        auto e = qo::read_tensor_proto_file(expected[i], true);
        if (!e.ok()) return {Outcome::kSkipFeature, e.status().message()};
        const std::string diff = compare((*outputs)[i], *e);
        if (!diff.empty())
          return {Outcome::kFail, std::string(fast ? "fast kernels: " : "") + "output " +
                                      std::to_string(i) + ": " + diff};
      }
    }
  }
  return {Outcome::kPass, ""};
}

std::set<std::string> read_known_failures(const fs::path& path) {
  std::set<std::string> known;
  std::ifstream in(path);
  std::string line;
  std::regex row(R"(^\|\s*`?(test_[A-Za-z0-9_]+)`?\s*\|)");
  std::smatch m;
  while (std::getline(in, line))
    if (std::regex_search(line, m, row)) known.insert(m[1]);
  return known;
}

}  // namespace

int main(int argc, char** argv) {
  fs::path data = "/usr/share/libonnx-testdata/data/node";
  fs::path known_path;
  std::string filter;
  bool verbose = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--data" && i + 1 < argc)
      data = argv[++i];
    else if (a == "--known" && i + 1 < argc)
      known_path = argv[++i];
    else if (a == "--filter" && i + 1 < argc)
      filter = argv[++i];
    else if (a == "--verbose")
      verbose = true;
    else {
      std::printf(
          "usage: qdiff_conformance [--data DIR] [--known FILE.md] [--filter SUBSTR] "
          "[--verbose]\n");
      return a == "--help" ? 0 : 2;
    }
  }
  if (!fs::is_directory(data)) {
    std::fprintf(stderr, "error: %s: no such directory (install libonnx-testdata)\n", data.c_str());
    return 2;
  }
  const std::set<std::string> known =
      known_path.empty() ? std::set<std::string>{} : read_known_failures(known_path);
  std::vector<fs::path> tests;
  for (const auto& e : fs::directory_iterator(data))
    if (e.is_directory() && e.path().filename().string().find(filter) != std::string::npos)
      tests.push_back(e.path());
  std::sort(tests.begin(), tests.end());

  int passed = 0, failed = 0, skipped_op = 0, skipped_feature = 0, unexpected = 0;
  std::map<std::string, int> missing_ops;
  for (const fs::path& t : tests) {
    const std::string name = t.filename().string();
    const TestResult r = run_test(t);
    const bool is_known = known.count(name) != 0;
    switch (r.outcome) {
      case Outcome::kPass:
        ++passed;
        if (is_known) {
          ++unexpected;
          std::printf("NOW PASSES %s (remove it from the known failures)\n", name.c_str());
        }
        break;
      case Outcome::kFail:
        ++failed;
        if (!is_known) ++unexpected;
        std::printf("%s %s: %s\n", is_known ? "known failure" : "FAIL", name.c_str(),
                    r.detail.c_str());
        break;
      case Outcome::kSkipOp:
        ++skipped_op;
        ++missing_ops[r.detail.substr(0, r.detail.find(' '))];
        if (verbose) std::printf("skip %s: %s\n", name.c_str(), r.detail.c_str());
        break;
      case Outcome::kSkipFeature:
        ++skipped_feature;
        std::printf("skip %s (unsupported feature): %s\n", name.c_str(), r.detail.c_str());
        break;
    }
  }
  std::printf("\nunsupported ops:");
  for (const auto& [op, n] : missing_ops) std::printf(" %s(%d)", op.c_str(), n);
  std::printf(
      "\n\nconformance: %d passed, %d failed, %d skipped (unsupported op), %d skipped "
      "(unsupported feature)\n",
      passed, failed, skipped_op, skipped_feature);
  if (unexpected) std::printf("%d results differ from docs/conformance.md\n", unexpected);
  return unexpected ? 1 : 0;
}
