// ONNX model file -> qdiff IR. Uses libonnx's protobuf classes for parsing, its checker and its
// shape inference where the model's opset is one libonnx knows (<= 17 for Debian's build);
// newer models are parsed and imported all the same, with qdiff's own shape propagation.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "support/status.h"

namespace qdiff::onnx {

struct ImportOptions {
  bool run_checker = true;          // onnx::checker (skipped for opsets libonnx does not know)
  bool run_shape_inference = true;  // onnx::shape_inference, same condition
  // float16/bfloat16 initializers, Cast targets and graph inputs/outputs become float32, so the
  // graph is the float model qdiff compares against.
  bool float16_to_float32 = true;
};

struct ImportedModel {
  ir::Graph graph;
  std::filesystem::path path;
  int64_t ir_version = 0;
  std::string producer;            // "pytorch 1.13.0"
  std::vector<std::string> notes;  // what the importer did that a user should know
};

Result<ImportedModel> import_model(const std::filesystem::path& path,
                                   const ImportOptions& options = {});
// Same, from bytes in memory; `base_dir` resolves external data files; `display_name` (the
// file's path) starts every error message.
Result<ImportedModel> import_model_from_bytes(const std::string& bytes,
                                              const std::filesystem::path& base_dir,
                                              const std::string& display_name,
                                              const ImportOptions& options = {});

}  // namespace qdiff::onnx
