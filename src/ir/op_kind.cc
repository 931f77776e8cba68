#include "ir/op_kind.h"

#include <algorithm>
#include <array>

namespace qdiff::ir {
namespace {

constexpr std::array<std::string_view, kOpKindCount> kNames = {
#define QDIFF_OP(Name) #Name,
#include "ir/ops.def"
#undef QDIFF_OP
};

}  // namespace

std::string_view op_kind_name(OpKind kind) {
  return kNames[static_cast<size_t>(kind)];
}

std::optional<OpKind> op_kind_from_onnx(std::string_view domain, std::string_view op_type) {
  // ONNX Runtime's com.microsoft QuantizeLinear / DequantizeLinear (16-bit types below opset
  // 21) have the default-domain semantics, per-axis included.
  if (domain == "com.microsoft" && (op_type == "QuantizeLinear" || op_type == "DequantizeLinear"))
    domain = "";
  if (!domain.empty() && domain != "ai.onnx") return std::nullopt;
  // ops.def is alphabetical (a test checks it), so binary search works.
  auto it = std::lower_bound(kNames.begin(), kNames.end(), op_type);
  if (it == kNames.end() || *it != op_type) return std::nullopt;
  return static_cast<OpKind>(it - kNames.begin());
}

}  // namespace qdiff::ir
