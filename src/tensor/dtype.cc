#include "tensor/dtype.h"

#include <array>

namespace qdiff {
namespace {

struct DTypeInfo {
  DType type;
  size_t size;
  std::string_view name;
  std::string_view npy;
};

constexpr std::array<DTypeInfo, 14> kInfo = {{
    {DType::kFloat32, 4, "float32", "<f4"},
    {DType::kUInt8, 1, "uint8", "|u1"},
    {DType::kInt8, 1, "int8", "|i1"},
    {DType::kUInt16, 2, "uint16", "<u2"},
    {DType::kInt16, 2, "int16", "<i2"},
    {DType::kInt32, 4, "int32", "<i4"},
    {DType::kInt64, 8, "int64", "<i8"},
    {DType::kString, 0, "string", ""},
    {DType::kBool, 1, "bool", "|b1"},
    {DType::kFloat16, 2, "float16", "<f2"},
    {DType::kFloat64, 8, "float64", "<f8"},
    {DType::kUInt32, 4, "uint32", "<u4"},
    {DType::kUInt64, 8, "uint64", "<u8"},
    {DType::kBFloat16, 2, "bfloat16", ""},
}};

const DTypeInfo* find(DType t) {
  for (const auto& info : kInfo)
    if (info.type == t) return &info;
  return nullptr;
}

}  // namespace

size_t dtype_size(DType t) {
  const DTypeInfo* info = find(t);
  return info ? info->size : 0;
}

std::string_view dtype_name(DType t) {
  const DTypeInfo* info = find(t);
  return info ? info->name : "undefined";
}

std::optional<DType> dtype_from_name(std::string_view name) {
  for (const auto& info : kInfo)
    if (info.name == name) return info.type;
  return std::nullopt;
}

std::string_view dtype_npy_descr(DType t) {
  const DTypeInfo* info = find(t);
  return info ? info->npy : "";
}

std::optional<DType> dtype_from_npy_descr(std::string_view descr) {
  if (descr.empty()) return std::nullopt;
  // "=" and "|" mean native / not applicable; this machine is little endian.
  std::string_view body = descr;
  if (body[0] == '<' || body[0] == '|' || body[0] == '=') body = body.substr(1);
  for (const auto& info : kInfo)
    if (!info.npy.empty() && info.npy.substr(1) == body) return info.type;
  if (body == "b1" || body == "?") return DType::kBool;
  return std::nullopt;
}

std::optional<DType> dtype_from_onnx(int onnx_type) {
  const DTypeInfo* info = find(static_cast<DType>(onnx_type));
  if (!info || info->type == DType::kString) return std::nullopt;
  return info->type;
}

bool dtype_is_float(DType t) {
  return t == DType::kFloat32 || t == DType::kFloat64 || t == DType::kFloat16 ||
         t == DType::kBFloat16;
}

bool dtype_is_integer(DType t) {
  switch (t) {
    case DType::kInt8:
    case DType::kUInt8:
    case DType::kInt16:
    case DType::kUInt16:
    case DType::kInt32:
    case DType::kUInt32:
    case DType::kInt64:
    case DType::kUInt64:
      return true;
    default:
      return false;
  }
}

}  // namespace qdiff
