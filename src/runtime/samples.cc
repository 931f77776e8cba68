#include "runtime/samples.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <map>

#include "runtime/interpreter.h"
#include "tensor/npy.h"

namespace qdiff::runtime {
namespace {

namespace fs = std::filesystem;

// Splits a stacked tensor [S, ...] into S tensors.
std::vector<Tensor> unstack(const Tensor& t) {
  std::vector<Tensor> rows;
  Shape row_shape(t.shape().begin() + 1, t.shape().end());
  const size_t row_bytes = t.nbytes() / static_cast<size_t>(std::max<int64_t>(t.dim(0), 1));
  for (int64_t i = 0; i < t.dim(0); ++i) {
    Tensor r = Tensor::zeros(t.dtype(), row_shape);
    std::memcpy(r.raw_mutable(), t.raw() + static_cast<size_t>(i) * row_bytes, row_bytes);
    rows.push_back(std::move(r));
  }
  return rows;
}

Status load_one(const ir::Value& input, const fs::path& file, std::vector<std::string>* names,
                std::vector<Tensor>* out) {
  QDIFF_ASSIGN_OR_RETURN(Tensor t, read_npy(file));
  if (t.dtype() == DType::kFloat16 && input.type.dtype == DType::kFloat32)
    t = t.cast(DType::kFloat32);
  const std::string what = file.string() + " for input '" + input.name + "'";
  const size_t rank = input.type.dims ? input.type.dims->size() : t.shape().size();
  if (t.shape().size() == rank + 1 && t.dim(0) > 0) {
    std::vector<Tensor> rows = unstack(t);
    for (size_t i = 0; i < rows.size(); ++i) {
      QDIFF_RETURN_IF_ERROR(
          check_tensor_type(what + " (row " + std::to_string(i) + ")", input.type, rows[i]));
      names->push_back(file.filename().string() + "[" + std::to_string(i) + "]");
      out->push_back(std::move(rows[i]));
    }
    return Status();
  }
  QDIFF_RETURN_IF_ERROR(check_tensor_type(what, input.type, t));
  names->push_back(file.filename().string());
  out->push_back(std::move(t));
  return Status();
}

}  // namespace

Result<Samples> load_samples(const ir::Graph& graph, const std::vector<std::string>& specs) {
  if (graph.inputs.empty()) return invalid_argument("the model has no inputs");
  std::map<std::string, std::string> by_input;
  for (const std::string& spec : specs) {
    const auto eq = spec.find('=');
    std::string name, path = spec;
    if (eq != std::string::npos && !fs::exists(spec)) {
      name = spec.substr(0, eq);
      path = spec.substr(eq + 1);
    } else if (graph.inputs.size() == 1) {
      name = graph.value(graph.inputs[0]).name;
    } else {
      return invalid_argument("the model has " + std::to_string(graph.inputs.size()) +
                              " inputs: give each as --input NAME=PATH");
    }
    if (!by_input.emplace(name, path).second)
      return invalid_argument("input '" + name + "' is given twice");
  }
  Samples samples;
  for (size_t k = 0; k < graph.inputs.size(); ++k) {
    const ir::Value& input = graph.value(graph.inputs[k]);
    auto it = by_input.find(input.name);
    if (it == by_input.end())
      return invalid_argument("no data for model input '" + input.name + "'");
    const fs::path path = it->second;
    by_input.erase(it);
    std::vector<std::string> names;
    std::vector<Tensor> tensors;
    if (fs::is_directory(path)) {
      std::vector<fs::path> files;
      for (const auto& e : fs::directory_iterator(path))
        if (e.path().extension() == ".npy") files.push_back(e.path());
      std::sort(files.begin(), files.end());
      if (files.empty()) return invalid_argument(path.string() + ": no .npy files in directory");
      for (const fs::path& f : files) QDIFF_RETURN_IF_ERROR(load_one(input, f, &names, &tensors));
    } else {
      QDIFF_RETURN_IF_ERROR(load_one(input, path, &names, &tensors));
    }
    if (k == 0) {
      samples.names = names;
      samples.inputs.resize(tensors.size());
    } else if (tensors.size() != samples.inputs.size()) {
      return invalid_argument("input '" + input.name + "' has " + std::to_string(tensors.size()) +
                              " samples, but the first input has " +
                              std::to_string(samples.inputs.size()));
    }
    for (size_t i = 0; i < tensors.size(); ++i) samples.inputs[i].push_back(std::move(tensors[i]));
  }
  if (!by_input.empty())
    return invalid_argument("the model has no input named '" + by_input.begin()->first + "'");
  return samples;
}

}  // namespace qdiff::runtime
