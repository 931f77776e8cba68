#include "runtime/registry.h"

#include <array>

#include "kernels/fast/fast.h"
#include "kernels/reference/reference.h"

namespace qdiff::runtime {
namespace {

constexpr std::array<KernelEntry, ir::kOpKindCount> kReference = {{
#define QDIFF_OP(Name) {"ref:" #Name, &kernels::ref::Name},
#include "ir/ops.def"
#undef QDIFF_OP
}};

std::array<KernelEntry, ir::kOpKindCount> make_fast_table() {
  std::array<KernelEntry, ir::kOpKindCount> table{};
  constexpr bool kPlain = false, kNhwc = true;
#define QDIFF_FAST_KERNEL(Op, Name, Layouts) \
  table[static_cast<size_t>(ir::OpKind::k##Op)] = {Name, &kernels::fast::Op, Layouts};
#include "kernels/fast/fast_kernels.def"
#undef QDIFF_FAST_KERNEL
  return table;
}

const std::array<KernelEntry, ir::kOpKindCount>& fast_table() {
  static const std::array<KernelEntry, ir::kOpKindCount> table = make_fast_table();
  return table;
}

}  // namespace

KernelEntry reference_kernel(ir::OpKind op) {
  return kReference[static_cast<size_t>(op)];
}
KernelEntry fast_kernel(ir::OpKind op) {
  return fast_table()[static_cast<size_t>(op)];
}

}  // namespace qdiff::runtime
