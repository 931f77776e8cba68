// Reading a dump directory (docs/dump-format.md; the contract of qdiff.dump/1 and of device
// dumps) one sample row at a time. manifest.json =
//   {"tensors": [{"name", "file", "dtype", "shape", "layout": "NCHW|NHWC", "scale",
//                 "zero_point", "axis"}], "samples": [names, in order]}
// with one .npy per tensor holding one row per sample (leading sample dimension), or a raw .bin
// file when dtype and shape are given (shape is then one sample's; the file holds N rows).
// Integer dumps with a scale are dequantized (float32(q - zero_point) * scale, per channel along
// `axis`); rank-4 NHWC tensors are delivered as NCHW. qdiff's own dumps give a quantized
// tensor's parameters in a "quant" object ({"bits", "signed", "scale": [...], "zero_point":
// [...], "axis"}); top-level "scale"/"zero_point"/"axis" take precedence.
// Integer tensors without a scale (indices, shapes) are read as their values.
//
// Everything checkable is checked when the dump is opened, before any data is read: every error
// is one line naming the file and the tensor. runtime::read_dump (runtime/dump.h) loads a whole
// dump as stored instead (no dequantization, no layout change).
#pragma once

#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "analysis/metrics.h"
#include "support/status.h"
#include "tensor/tensor.h"

namespace qdiff::analysis {

struct DumpTensor {
  std::string name;
  std::string file;                 // as the manifest gives it (relative to the dump directory)
  DType dtype = DType::kUndefined;  // as stored
  Shape stored_shape;               // one sample, in the stored layout
  Shape shape;                      // one sample as delivered: NCHW when stored NHWC
  bool nhwc = false;                // stored NHWC (rank 4): rows are permuted to NCHW
  // The grid the values lie on: for integer dumps the dequantization parameters (axis in the
  // delivered shape); for float dumps with parameters, the grid they were dequantized from.
  std::optional<QuantGrid> quant;
  bool dequantized = false;  // integers read and dequantized (`quant` set, integer dtype)
  bool output = false;       // "output": true (a graph output)
  // Where the rows are.
  std::filesystem::path path;
  uint64_t data_offset = 0;
  uint64_t row_bytes = 0;
};

// One sample of one tensor.
struct DumpRow {
  Tensor values;    // float32, DumpTensor::shape, plain
  Tensor integers;  // int32, the same shape: the stored integers of a dequantized tensor
                    // (undefined otherwise)
};

class DumpTensorStream {
 public:
  // Reads the next sample's row. Error past the last sample or on a read failure.
  Status next(DumpRow* row);
  int64_t position() const { return next_; }

 private:
  friend class DumpReader;
  DumpTensorStream(const DumpTensor& t, int64_t rows) : t_(&t), rows_(rows) {}
  const DumpTensor* t_;
  int64_t rows_;
  int64_t next_ = 0;
  std::ifstream in_;
  std::vector<char> buf_;
};

class DumpReader {
 public:
  // Reads and checks the manifest and every file's header and size (no data).
  static Result<DumpReader> open(const std::filesystem::path& dir);

  const std::filesystem::path& dir() const { return dir_; }
  // Sample names in order ("samples" of the manifest; "0", "1", ... when it has none).
  const std::vector<std::string>& samples() const { return samples_; }
  int64_t sample_count() const { return static_cast<int64_t>(samples_.size()); }
  bool has_sample_names() const { return has_sample_names_; }
  // "model" and "mode" of qdiff's own dumps (empty when the manifest has none).
  const std::string& model() const { return model_; }
  const std::string& mode() const { return mode_; }
  // Manifest order.
  const std::vector<DumpTensor>& tensors() const { return tensors_; }
  const DumpTensor* find(const std::string& name) const;
  // A stream over tensors()[index]'s rows, first sample first. Opens the file.
  Result<DumpTensorStream> stream(size_t index) const;

 private:
  std::filesystem::path dir_;
  std::vector<std::string> samples_;
  bool has_sample_names_ = false;
  std::string model_, mode_;
  std::vector<DumpTensor> tensors_;
  std::map<std::string, size_t> by_name_;
};

}  // namespace qdiff::analysis
