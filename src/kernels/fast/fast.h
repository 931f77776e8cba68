// Optional fast kernels. Each has the reference kernel's signature and semantics, and returns
// a kUnsupported Status (saying why) when it does not cover a case; the runtime then runs the
// reference kernel. Every fast kernel is tested against its reference kernel.
#pragma once

#include "kernels/kernel.h"

namespace qdiff::kernels::fast {

#define QDIFF_FAST_KERNEL(Op, Name, Layouts) Status Op(KernelContext& ctx);
#include "kernels/fast/fast_kernels.def"
#undef QDIFF_FAST_KERNEL

}  // namespace qdiff::kernels::fast
