// Helpers shared by the oneDNN fast kernels (conv_dnnl.cc, gemm_dnnl.cc, pool_dnnl.cc).
#pragma once

#include <omp.h>

#include <oneapi/dnnl/dnnl.hpp>

namespace qdiff::kernels::fast::dnnl_detail {

// The CPU engine every qdiff primitive runs on.
inline dnnl::engine& cpu_engine() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

// Attributes every qdiff primitive uses: strict fp math (no implicit bf16/f16 down-conversion
// on AMX/avx512_fp16 CPUs), user-managed scratchpad.
inline dnnl::primitive_attr strict_attr() {
  dnnl::primitive_attr attr;
  attr.set_fpmath_mode(dnnl::fpmath_mode::strict);
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return attr;
}

// Sets the calling thread's OpenMP team size (what oneDNN, built on OpenMP, uses for
// primitives created and executed from this thread) and restores it on scope exit.
class ThreadScope {
 public:
  explicit ThreadScope(int n) : old_(omp_get_max_threads()) {
    if (old_ != n) omp_set_num_threads(n);
  }
  ~ThreadScope() {
    if (omp_get_max_threads() != old_) omp_set_num_threads(old_);
  }
  ThreadScope(const ThreadScope&) = delete;
  ThreadScope& operator=(const ThreadScope&) = delete;

 private:
  int old_;
};

}  // namespace qdiff::kernels::fast::dnnl_detail
