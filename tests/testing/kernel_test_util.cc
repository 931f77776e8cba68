#include "testing/kernel_test_util.h"

namespace qdiff::testing {

KernelRun run_kernel(kernels::KernelFn fn, const std::vector<Tensor>& inputs,
                     const Attributes& attrs, int64_t opset, size_t num_outputs) {
  std::vector<const Tensor*> ptrs;
  for (const Tensor& t : inputs) ptrs.push_back(t.defined() ? &t : nullptr);
  KernelRun r;
  r.y.resize(num_outputs);
  kernels::KernelContext ctx{attrs, ptrs, r.y, opset};
  r.status = fn(ctx);
  return r;
}

Attributes attrs(std::vector<std::pair<std::string, AttributeValue>> list) {
  Attributes a;
  for (auto& [k, v] : list) a.set(k, std::move(v));
  return a;
}

}  // namespace qdiff::testing
