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

Result<SampleReader> SampleReader::open(const ir::Graph& graph,
                                        const std::vector<std::string>& specs,
                                        const std::optional<ImagePreprocess>& preprocess) {
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
  SampleReader r;
  r.graph_ = &graph;
  r.preprocess_ = preprocess;
  for (size_t k = 0; k < graph.inputs.size(); ++k) {
    const ir::Value& input = graph.value(graph.inputs[k]);
    auto it = by_input.find(input.name);
    if (it == by_input.end())
      return invalid_argument("no data for model input '" + input.name + "'");
    const fs::path path = it->second;
    by_input.erase(it);
    std::vector<fs::path> files;
    bool images = false;
    if (fs::is_directory(path)) {
      std::vector<fs::path> npys, pictures;
      for (const auto& e : fs::directory_iterator(path)) {
        if (e.path().extension() == ".npy") npys.push_back(e.path());
        if (is_image_file(e.path()) && !e.is_directory()) pictures.push_back(e.path());
      }
      if (!npys.empty() && !pictures.empty())
        return invalid_argument(path.string() + ": holds both .npy files (" +
                                npys[0].filename().string() + ", ...) and images (" +
                                pictures[0].filename().string() +
                                ", ...); give a directory of one kind");
      images = !pictures.empty();
      files = images ? std::move(pictures) : std::move(npys);
      std::sort(files.begin(), files.end());
      if (files.empty())
        return invalid_argument(path.string() +
                                ": no .npy or image (.png, .jpg, .jpeg, .bmp) files in directory");
    } else {
      images = is_image_file(path);
      files.push_back(path);
    }
    if (images && !fs::exists(path)) return io_error(path.string() + ": cannot open");
    if (images && !preprocess)
      return invalid_argument(path.string() + ": images for input '" + input.name +
                              "' need a preprocessing spec (--preprocess, e.g. "
                              "\"scale=1/255,mean=0.5,std=0.5\"; \"rgb\" gives raw pixels)");
    r.files_.push_back(std::move(files));
    r.images_.push_back(images);
  }
  if (!by_input.empty())
    return invalid_argument("the model has no input named '" + by_input.begin()->first + "'");
  if (preprocess && std::find(r.images_.begin(), r.images_.end(), true) == r.images_.end())
    return invalid_argument(
        "a preprocessing spec is given (--preprocess) but no input is given image files");
  r.cursors_.resize(r.files_.size());
  return r;
}

Result<bool> SampleReader::next(std::vector<Tensor>* inputs, std::string* name) {
  inputs->clear();
  size_t ended = 0;
  for (size_t k = 0; k < cursors_.size(); ++k) {
    Cursor& c = cursors_[k];
    while (c.row >= c.rows.size() && c.file < files_[k].size()) {
      c.rows.clear();
      c.names.clear();
      c.row = 0;
      const ir::Value& input = graph_->value(graph_->inputs[k]);
      const fs::path& file = files_[k][c.file++];
      if (images_[k]) {
        QDIFF_ASSIGN_OR_RETURN(Tensor t, load_image_sample(file, input, *preprocess_));
        c.names.push_back(file.filename().string());
        c.rows.push_back(std::move(t));
      } else {
        QDIFF_RETURN_IF_ERROR(load_one(input, file, &c.names, &c.rows));
      }
    }
    if (c.row >= c.rows.size()) {
      ++ended;
      continue;
    }
    if (k == 0) *name = c.names[c.row];
    inputs->push_back(std::move(c.rows[c.row++]));
  }
  if (ended == cursors_.size()) return false;
  if (ended != 0) {
    std::string short_inputs;
    for (size_t k = 0; k < cursors_.size(); ++k)
      if (cursors_[k].row >= cursors_[k].rows.size() && cursors_[k].file >= files_[k].size())
        short_inputs +=
            (short_inputs.empty() ? "'" : ", '") + graph_->value(graph_->inputs[k]).name + "'";
    return invalid_argument("input " + short_inputs + " has only " + std::to_string(count_) +
                            " samples; the model's other inputs have more");
  }
  ++count_;
  return true;
}

Result<Samples> load_samples(const ir::Graph& graph, const std::vector<std::string>& specs,
                             const std::optional<ImagePreprocess>& preprocess) {
  QDIFF_ASSIGN_OR_RETURN(SampleReader reader, SampleReader::open(graph, specs, preprocess));
  Samples samples;
  std::vector<Tensor> inputs;
  std::string name;
  while (true) {
    QDIFF_ASSIGN_OR_RETURN(bool more, reader.next(&inputs, &name));
    if (!more) break;
    samples.names.push_back(name);
    samples.inputs.push_back(inputs);
  }
  return samples;
}

}  // namespace qdiff::runtime
