// Float reference kernels: the executable specification of every op in ir/ops.def.
// Plain, single-threaded and readable; fast paths (kernels/fast) are tested against them.
// Semantics follow the ONNX operator documentation for the node's opset (ctx.opset).
#pragma once

#include "kernels/kernel.h"

namespace qdiff::kernels::ref {

#define QDIFF_OP(Name) Status Name(KernelContext& ctx);
#include "ir/ops.def"
#undef QDIFF_OP

}  // namespace qdiff::kernels::ref
