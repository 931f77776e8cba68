// Which kernels can compute each op: an optional fast kernel, then the reference kernel.
#pragma once

#include <string_view>

#include "ir/op_kind.h"
#include "kernels/kernel.h"

namespace qdiff::runtime {

struct KernelEntry {
  std::string_view name;  // "ref:Conv", "dnnl:conv"
  kernels::KernelFn fn = nullptr;
  // Fast kernels: reads rank-4 inputs stored NHWC and may write NHWC (KernelContext).
  bool nhwc = false;
};

KernelEntry reference_kernel(ir::OpKind op);
// The fast kernel for `op`, if there is one (fn == nullptr otherwise).
KernelEntry fast_kernel(ir::OpKind op);

}  // namespace qdiff::runtime
