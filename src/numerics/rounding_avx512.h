// rhe_clamped_quotient (numerics/rounding.h) sixteen lanes at a time, for the AVX-512 paths of
// QuantizeLinear (intkernels/quantize.cc) and fake-quantization (quant/fake_quant.cc). Callers
// check for AVX-512F at run time and keep the scalar path.
#pragma once

#if defined(__x86_64__)
#include <immintrin.h>

#include <cstdint>

namespace qdiff {

#pragma GCC diagnostic push
// GCC 12 warns inside its own AVX-512 headers (_mm512_undefined_* operands of masked forms).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
// The lanes of x[0, n) (at most 16; the others 0): vdivps, NaN -> 0, clamp to [lo, hi],
// vrndscaleps to nearest even, + 0 (-0 -> +0, as the scalar form gives). `*mask` gets the lanes.
__attribute__((target("avx512f"))) inline __m512 rhe_clamped_quotient16(const float* x, int64_t n,
                                                                        __m512 scale, __m512 lo,
                                                                        __m512 hi,
                                                                        __mmask16* mask) {
  const __mmask16 m = n >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << n) - 1);
  __m512 v = _mm512_div_ps(_mm512_maskz_loadu_ps(m, x), scale);
  v = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(v, v, _CMP_ORD_Q), v);  // NaN -> 0
  v = _mm512_min_ps(_mm512_max_ps(v, lo), hi);
  v = _mm512_roundscale_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  *mask = m;
  return _mm512_add_ps(v, _mm512_setzero_ps());
}
#pragma GCC diagnostic pop

}  // namespace qdiff

#endif
