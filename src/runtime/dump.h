// The dump directory contract (docs/dump-format.md): manifest.json plus one .npy per tensor
// holding one row per sample (a leading sample dimension).
#pragma once

#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "runtime/observer.h"

namespace qdiff::runtime {

// An observer that streams the selected tensors of every sample into a dump directory.
// Rows are appended as samples run, so memory does not grow with the sample count.
class DumpWriter : public Observer {
 public:
  // `selection` empty = every tensor. `sample_names` fixes the sample count upfront.
  static Result<std::unique_ptr<DumpWriter>> create(const std::filesystem::path& dir,
                                                    const ir::Graph& graph,
                                                    std::vector<ir::ValueId> selection,
                                                    std::vector<std::string> sample_names);
  bool wants(ir::ValueId id) const override;
  Status observe(ir::ValueId id, const Tensor& value) override;
  // Writes manifest.json; call after every sample has run.
  Status finish(const std::string& model_path, const std::string& mode);
  // Tensors written so far.
  size_t tensor_count() const { return order_.size(); }
  // Adds `"key": VALUE` to the tensor's manifest entry; `json_value` is JSON text (an object,
  // say). The fake-quant world records each quantized tensor's parameters this way.
  void annotate(ir::ValueId id, const std::string& key, const std::string& json_value) {
    annotations_[id].emplace_back(key, json_value);
  }

 private:
  struct Entry {
    std::string file;
    DType dtype = DType::kUndefined;
    Shape shape;  // of one sample
    int64_t rows = 0;
    std::ofstream stream;
  };
  DumpWriter(std::filesystem::path dir, const ir::Graph& graph)
      : dir_(std::move(dir)), graph_(graph) {}

  std::filesystem::path dir_;
  const ir::Graph& graph_;
  std::vector<bool> selected_;
  std::vector<std::string> samples_;
  std::vector<ir::ValueId> order_;  // first-seen (execution) order
  std::map<ir::ValueId, Entry> entries_;
  std::map<std::string, int> used_files_;
  std::map<ir::ValueId, std::vector<std::pair<std::string, std::string>>> annotations_;
};

// A dump read back whole and as stored: tensor name -> stacked tensor [samples, ...]. The
// contract's reader (streaming one sample at a time, integer dumps dequantized, NHWC as NCHW,
// every field checked) is analysis::DumpReader (analysis/dump_reader.h).
struct Dump {
  std::vector<std::string> samples;
  std::vector<std::string> names;  // manifest order
  std::map<std::string, Tensor> tensors;
};
Result<Dump> read_dump(const std::filesystem::path& dir);

// File-system-safe file name for a tensor name: [A-Za-z0-9._-] kept, the rest '_'.
std::string sanitize_file_name(const std::string& name);

}  // namespace qdiff::runtime
