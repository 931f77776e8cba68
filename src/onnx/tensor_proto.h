// onnx::TensorProto <-> qdiff::Tensor.
#pragma once

#include <filesystem>

#include "support/status.h"
#include "tensor/tensor.h"

namespace onnx {
class TensorProto;
}

namespace qdiff::onnx {

// Converts a TensorProto (raw_data, typed fields or external data relative to `base_dir`).
// float16/bfloat16 become float32 when `float16_to_float32` is set.
Result<Tensor> tensor_from_proto(const ::onnx::TensorProto& proto,
                                 const std::filesystem::path& base_dir, bool float16_to_float32);

// Reads a serialized TensorProto file (the ONNX backend test data format: input_0.pb ...).
Result<Tensor> read_tensor_proto_file(const std::filesystem::path& path, bool float16_to_float32);

}  // namespace qdiff::onnx
