// Helpers shared by the oneDNN fast kernels (conv_dnnl.cc, gemm_dnnl.cc, pool_dnnl.cc).
#pragma once

#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <oneapi/dnnl/dnnl.hpp>
#include <string>

#include "support/status.h"

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

// One spatial dimension of a Conv/Pool under ONNX auto_pad `ap`: sets `*out` (the output
// size) for input size `in`, dilated kernel extent `dk` and stride `s`. `*pad_begin` and
// `*pad_end` are read for NOTSET and overwritten for VALID and SAME_*. `ceil_mode` rounds the
// NOTSET output up (pooling), dropping a last window that would start in the end padding.
// Errors are kUnsupported, prefixed with `op` ("dnnl:conv").
inline Status auto_pad_dim(const char* op, const std::string& ap, int64_t in, int64_t dk, int64_t s,
                           bool ceil_mode, int64_t* pad_begin, int64_t* pad_end, int64_t* out) {
  if (ap == "NOTSET") {
    const int64_t span = in + *pad_begin + *pad_end - dk;
    if (span < 0) return unsupported(std::string(op) + ": kernel larger than the padded input");
    *out = (ceil_mode ? (span + s - 1) / s : span / s) + 1;
    if (ceil_mode && (*out - 1) * s >= in + *pad_begin) --*out;
  } else if (ap == "VALID") {
    if (in < dk) return unsupported(std::string(op) + ": kernel larger than the input");
    *out = (in - dk) / s + 1;
    *pad_begin = *pad_end = 0;
  } else if (ap == "SAME_UPPER" || ap == "SAME_LOWER") {
    *out = (in + s - 1) / s;
    const int64_t total = std::max<int64_t>(0, (*out - 1) * s + dk - in);
    const int64_t small = total / 2, large = total - total / 2;
    *pad_begin = ap == "SAME_UPPER" ? small : large;
    *pad_end = ap == "SAME_UPPER" ? large : small;
  } else {
    return unsupported(std::string(op) + ": invalid auto_pad");
  }
  return Status::ok_status();
}

}  // namespace qdiff::kernels::fast::dnnl_detail
