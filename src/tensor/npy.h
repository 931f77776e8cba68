// NumPy .npy files (format 1.0/2.0/3.0, little endian, C order) to and from tensors.
#pragma once

#include <filesystem>
#include <string>

#include "support/status.h"
#include "tensor/tensor.h"

namespace qdiff {

Result<Tensor> read_npy(const std::filesystem::path& path);
Status write_npy(const std::filesystem::path& path, const Tensor& t);

// The header of a .npy file (magic, version 1.0, dict, padding) for an array of `shape`;
// data follows it. Lets a writer stream rows into a file whose total shape is known upfront.
std::string npy_header(DType dtype, const Shape& shape);

}  // namespace qdiff
