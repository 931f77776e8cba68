// Input samples for a run, from .npy files: one file = one sample (its shape is the model
// input's), one file with one more leading dimension = a stack of samples, or a directory of
// .npy files (sorted by name). Or from images (PNG, JPEG, BMP; see images.h) with a
// preprocessing spec: one image file = one sample, a directory of images = one sample per image
// (sorted by name). A directory holds either .npy files or images, not both.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "runtime/images.h"
#include "support/status.h"

namespace qdiff::runtime {

struct Samples {
  std::vector<std::string> names;           // one per sample: "x.npy" or "x.npy[3]"
  std::vector<std::vector<Tensor>> inputs;  // per sample: one tensor per graph input
};

// `specs`: "PATH" (the model has one input) or "NAME=PATH" per graph input. Every input gets
// the same number of samples. float16 data is accepted for float32 inputs (converted exactly);
// any other dtype or shape mismatch is an error naming the file and the input. `preprocess`
// turns image files into input tensors; images without it are an error, and so is a spec when
// no input is given images.
Result<Samples> load_samples(const ir::Graph& graph, const std::vector<std::string>& specs,
                             const std::optional<ImagePreprocess>& preprocess = std::nullopt);

// The same samples, read one at a time: memory holds one file per input (a stacked file is
// read whole; one image at a time), so any number of samples streams through.
class SampleReader {
 public:
  static Result<SampleReader> open(const ir::Graph& graph, const std::vector<std::string>& specs,
                                   const std::optional<ImagePreprocess>& preprocess = std::nullopt);
  // The next sample (one tensor per graph input) into *inputs and its name; false at the end.
  // Inputs running out at different points is an error.
  Result<bool> next(std::vector<Tensor>* inputs, std::string* name);
  size_t files() const { return files_.empty() ? 0 : files_[0].size(); }  // of the first input
  size_t files_read() const { return cursors_.empty() ? 0 : cursors_[0].file; }

 private:
  struct Cursor {
    size_t file = 0;  // next file to read
    std::vector<Tensor> rows;
    std::vector<std::string> names;
    size_t row = 0;
  };
  const ir::Graph* graph_ = nullptr;
  std::vector<std::vector<std::filesystem::path>> files_;  // per graph input
  std::vector<bool> images_;                               // per graph input: image files
  std::optional<ImagePreprocess> preprocess_;
  std::vector<Cursor> cursors_;
  size_t count_ = 0;  // samples returned
};

}  // namespace qdiff::runtime
