// Element types of tensors. Values match onnx::TensorProto::DataType so conversion is a cast.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace qdiff {

enum class DType : uint8_t {
  kUndefined = 0,
  kFloat32 = 1,
  kUInt8 = 2,
  kInt8 = 3,
  kUInt16 = 4,
  kInt16 = 5,
  kInt32 = 6,
  kInt64 = 7,
  kString = 8,  // not supported by any kernel; named so errors can say so
  kBool = 9,
  kFloat16 = 10,
  kFloat64 = 11,
  kUInt32 = 12,
  kUInt64 = 13,
  kBFloat16 = 16,
};

// Size in bytes of one element; 0 for kUndefined and kString.
size_t dtype_size(DType t);
// Short name as used in manifests and messages: "float32", "int8", ...
std::string_view dtype_name(DType t);
std::optional<DType> dtype_from_name(std::string_view name);
// numpy descr ("<f4", "|i1", ...) and back.
std::string_view dtype_npy_descr(DType t);
std::optional<DType> dtype_from_npy_descr(std::string_view descr);
// Maps an ONNX TensorProto data_type; nullopt for types qdiff cannot hold.
std::optional<DType> dtype_from_onnx(int onnx_type);

bool dtype_is_float(DType t);    // float16/bfloat16/float32/float64
bool dtype_is_integer(DType t);  // signed or unsigned integer (not bool)

// C++ type for a DType, for templated kernels.
template <typename T>
constexpr DType dtype_of();
template <>
constexpr DType dtype_of<float>() {
  return DType::kFloat32;
}
template <>
constexpr DType dtype_of<double>() {
  return DType::kFloat64;
}
template <>
constexpr DType dtype_of<int8_t>() {
  return DType::kInt8;
}
template <>
constexpr DType dtype_of<uint8_t>() {
  return DType::kUInt8;
}
template <>
constexpr DType dtype_of<int16_t>() {
  return DType::kInt16;
}
template <>
constexpr DType dtype_of<uint16_t>() {
  return DType::kUInt16;
}
template <>
constexpr DType dtype_of<int32_t>() {
  return DType::kInt32;
}
template <>
constexpr DType dtype_of<uint32_t>() {
  return DType::kUInt32;
}
template <>
constexpr DType dtype_of<int64_t>() {
  return DType::kInt64;
}
template <>
constexpr DType dtype_of<uint64_t>() {
  return DType::kUInt64;
}
template <>
constexpr DType dtype_of<bool>() {
  return DType::kBool;
}

// Calls f(T{}) with T the C++ type of `t` (float16/bfloat16 excluded: they are storage-only and
// converted to float32 before computing). Returns false when the dtype has no such type.
template <typename F>
bool visit_dtype(DType t, F&& f) {
  switch (t) {
    case DType::kFloat32:
      f(float{});
      return true;
    case DType::kFloat64:
      f(double{});
      return true;
    case DType::kInt8:
      f(int8_t{});
      return true;
    case DType::kUInt8:
      f(uint8_t{});
      return true;
    case DType::kInt16:
      f(int16_t{});
      return true;
    case DType::kUInt16:
      f(uint16_t{});
      return true;
    case DType::kInt32:
      f(int32_t{});
      return true;
    case DType::kUInt32:
      f(uint32_t{});
      return true;
    case DType::kInt64:
      f(int64_t{});
      return true;
    case DType::kUInt64:
      f(uint64_t{});
      return true;
    case DType::kBool:
      f(bool{});
      return true;
    case DType::kUndefined:
    case DType::kString:
    case DType::kFloat16:
    case DType::kBFloat16:
      return false;
  }
  return false;
}

}  // namespace qdiff
