#include "onnx/tensor_proto.h"

#include <onnx/onnx_pb.h>

#include <cstring>
#include <fstream>

namespace qdiff::onnx {
namespace {

Status read_external(const ::onnx::TensorProto& proto, const std::filesystem::path& base_dir,
                     size_t nbytes, std::string* out) {
  std::string location;
  uint64_t offset = 0;
  std::optional<uint64_t> length;
  for (const auto& entry : proto.external_data()) {
    if (entry.key() == "location") location = entry.value();
    try {
      if (entry.key() == "offset") offset = std::stoull(entry.value());
      if (entry.key() == "length") length = std::stoull(entry.value());
    } catch (const std::exception&) {
      return invalid_model("tensor '" + proto.name() + "': bad external data " + entry.key());
    }
  }
  if (location.empty())
    return invalid_model("tensor '" + proto.name() + "': external data without a location");
  const std::filesystem::path file = base_dir / location;
  std::ifstream in(file, std::ios::binary);
  if (!in)
    return io_error("tensor '" + proto.name() + "': cannot open external data file " +
                    file.string());
  in.seekg(0, std::ios::end);
  const auto size = static_cast<uint64_t>(in.tellg());
  const uint64_t want = length.value_or(nbytes);
  if (want != nbytes || offset > size || size - offset < want)
    return invalid_model("tensor '" + proto.name() + "': external data in " + file.string() +
                         " is shorter than its shape needs");
  out->resize(nbytes);
  in.seekg(static_cast<std::streamoff>(offset));
  if (nbytes && !in.read(out->data(), static_cast<std::streamsize>(nbytes)))
    return io_error("tensor '" + proto.name() + "': cannot read " + file.string());
  return Status();
}

template <typename Src, typename Field>
Status copy_field(const Field& field, Tensor* t, const std::string& name) {
  if (static_cast<int64_t>(field.size()) != t->numel())
    return invalid_model("tensor '" + name + "' has " + std::to_string(field.size()) +
                         " values for shape " + shape_to_string(t->shape()));
  const size_t esize = dtype_size(t->dtype());
  for (int64_t i = 0; i < t->numel(); ++i) {
    // Narrow types (int8, uint16, float16 bits, bool) are stored widened in int32_data.
    const Src v = static_cast<Src>(field.Get(static_cast<int>(i)));
    std::memcpy(t->raw_mutable() + i * esize, &v, esize);
  }
  return Status();
}

}  // namespace

Result<Tensor> tensor_from_proto(const ::onnx::TensorProto& proto,
                                 const std::filesystem::path& base_dir, bool float16_to_float32) {
  const std::string& name = proto.name();
  if (proto.data_type() == ::onnx::TensorProto::STRING)
    return unsupported("tensor '" + name + "' holds strings, which qdiff does not support");
  auto dtype = dtype_from_onnx(proto.data_type());
  if (!dtype)
    return unsupported("tensor '" + name + "' has unsupported data type " +
                       std::to_string(proto.data_type()));
  Shape shape(proto.dims().begin(), proto.dims().end());
  auto created = Tensor::create(*dtype, shape);
  if (!created.ok()) return created.status().with_context("tensor '" + name + "'");
  Tensor t = std::move(created).value();
  const size_t nbytes = t.nbytes();

  if (proto.data_location() == ::onnx::TensorProto::EXTERNAL) {
    std::string bytes;
    QDIFF_RETURN_IF_ERROR(read_external(proto, base_dir, nbytes, &bytes));
    if (nbytes) std::memcpy(t.raw_mutable(), bytes.data(), nbytes);
  } else if (proto.has_raw_data()) {
    if (proto.raw_data().size() != nbytes)
      return invalid_model("tensor '" + name + "' has " + std::to_string(proto.raw_data().size()) +
                           " bytes of raw data for shape " + shape_to_string(shape) + " of " +
                           std::string(dtype_name(*dtype)));
    if (nbytes) std::memcpy(t.raw_mutable(), proto.raw_data().data(), nbytes);
  } else {
    Status s;
    switch (*dtype) {
      case DType::kFloat32:
        s = copy_field<float>(proto.float_data(), &t, name);
        break;
      case DType::kFloat64:
        s = copy_field<double>(proto.double_data(), &t, name);
        break;
      case DType::kInt64:
        s = copy_field<int64_t>(proto.int64_data(), &t, name);
        break;
      case DType::kUInt32:
      case DType::kUInt64:
        s = copy_field<uint64_t>(proto.uint64_data(), &t, name);
        break;
      case DType::kInt8:
        s = copy_field<int8_t>(proto.int32_data(), &t, name);
        break;
      case DType::kUInt8:
        s = copy_field<uint8_t>(proto.int32_data(), &t, name);
        break;
      case DType::kInt16:
        s = copy_field<int16_t>(proto.int32_data(), &t, name);
        break;
      case DType::kUInt16:
      case DType::kFloat16:
      case DType::kBFloat16:
        s = copy_field<uint16_t>(proto.int32_data(), &t, name);
        break;
      case DType::kInt32:
        s = copy_field<int32_t>(proto.int32_data(), &t, name);
        break;
      case DType::kBool:
        s = copy_field<bool>(proto.int32_data(), &t, name);
        break;
      case DType::kUndefined:
      case DType::kString:
        s = unsupported("tensor '" + name + "': unsupported type");
        break;
    }
    QDIFF_RETURN_IF_ERROR(s);
  }
  if (float16_to_float32 && (*dtype == DType::kFloat16 || *dtype == DType::kBFloat16))
    t = t.cast(DType::kFloat32);
  return t;
}

Result<Tensor> read_tensor_proto_file(const std::filesystem::path& path, bool float16_to_float32) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return io_error(path.string() + ": cannot open file");
  ::onnx::TensorProto proto;
  if (!proto.ParseFromIstream(&in))
    return invalid_argument(path.string() + ": not a serialized ONNX TensorProto");
  auto t = tensor_from_proto(proto, path.parent_path(), float16_to_float32);
  if (!t.ok()) return t.status().with_context(path.string());
  return t;
}

}  // namespace qdiff::onnx
