// OpKind: the ops of ir/ops.def as an enum, with their ONNX names.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace qdiff::ir {

enum class OpKind : uint16_t {
#define QDIFF_OP(Name) k##Name,
#include "ir/ops.def"
#undef QDIFF_OP
};

inline constexpr size_t kOpKindCount = 0
#define QDIFF_OP(Name) +1
#include "ir/ops.def"
#undef QDIFF_OP
    ;

std::string_view op_kind_name(OpKind kind);
// The OpKind of an ONNX op type in the default domain; nullopt if qdiff does not support it.
std::optional<OpKind> op_kind_from_onnx(std::string_view domain, std::string_view op_type);

}  // namespace qdiff::ir
