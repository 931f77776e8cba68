// NumPy .npy files (format 1.0/2.0/3.0, little endian, C order) to and from tensors.
#pragma once

#include <cstdint>
#include <filesystem>
#include <istream>
#include <string>

#include "support/status.h"
#include "tensor/tensor.h"

namespace qdiff {

Result<Tensor> read_npy(const std::filesystem::path& path);

// The header of a .npy file: element type, shape, and the byte offset where the data starts.
struct NpyHeader {
  DType dtype = DType::kUndefined;
  Shape shape;
  uint64_t data_offset = 0;
};
// Reads the header from `in` (positioned at the start of the file `path` names, which errors
// mention: "PATH: not a valid .npy file: ..."), leaving `in` at the data.
Result<NpyHeader> read_npy_header(std::istream& in, const std::filesystem::path& path);
Status write_npy(const std::filesystem::path& path, const Tensor& t);

// The header of a .npy file (magic, version 1.0, dict, padding) for an array of `shape`;
// data follows it. Lets a writer stream rows into a file whose total shape is known upfront.
std::string npy_header(DType dtype, const Shape& shape);

}  // namespace qdiff
