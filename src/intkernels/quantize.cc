#include "intkernels/quantize.h"

#include <type_traits>

#include "numerics/rounding.h"
#include "numerics/rounding_avx512.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace qdiff::intkernels {

namespace {

// The scalar form: rhe(clamp(x / s, qmin - zp, qmax - zp)) + zp (rhe_clamped_quotient).
template <typename T>
void quantize_scalar(const float* src, int64_t n, float scale, int32_t zp, float lo, float hi,
                     T* dst) {
  for (int64_t i = 0; i < n; ++i)
    dst[i] = static_cast<T>(static_cast<int32_t>(rhe_clamped_quotient(src[i], scale, lo, hi)) + zp);
}

#if defined(__x86_64__)
#pragma GCC diagnostic push
// GCC 12 warns inside its own AVX-512 headers (_mm512_undefined_* operands of masked forms).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
// The same 16 at a time (rhe_clamped_quotient16, then vcvtps2dq of the integral values, + zp).
template <typename T>
__attribute__((target("avx512f,avx512bw"))) void quantize_avx512(const float* src, int64_t n,
                                                                 float scale, int32_t zp, float lo,
                                                                 float hi, T* dst) {
  const __m512 vs = _mm512_set1_ps(scale), vlo = _mm512_set1_ps(lo), vhi = _mm512_set1_ps(hi);
  const __m512i vz = _mm512_set1_epi32(zp);
  for (int64_t i = 0; i < n; i += 16) {
    __mmask16 m;
    const __m512 v = rhe_clamped_quotient16(src + i, n - i, vs, vlo, vhi, &m);
    const __m512i q = _mm512_add_epi32(_mm512_cvtps_epi32(v), vz);
    if constexpr (std::is_same_v<T, uint8_t>)
      _mm512_mask_cvtusepi32_storeu_epi8(dst + i, m, q);
    else if constexpr (std::is_same_v<T, int8_t>)
      _mm512_mask_cvtsepi32_storeu_epi8(dst + i, m, q);
    else if constexpr (std::is_same_v<T, uint16_t>)
      _mm512_mask_cvtusepi32_storeu_epi16(dst + i, m, q);
    else
      _mm512_mask_cvtsepi32_storeu_epi16(dst + i, m, q);
  }
}
#pragma GCC diagnostic pop
#endif

}  // namespace

template <typename T>
void quantize_rhe(const float* src, int64_t n, float scale, int32_t zp, int32_t qmin, int32_t qmax,
                  T* dst) {
  const float lo = static_cast<float>(qmin - zp), hi = static_cast<float>(qmax - zp);
#if defined(__x86_64__)
  static const bool avx512 =
      __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw");
  if (avx512) return quantize_avx512(src, n, scale, zp, lo, hi, dst);
#endif
  quantize_scalar(src, n, scale, zp, lo, hi, dst);
}

template void quantize_rhe<uint8_t>(const float*, int64_t, float, int32_t, int32_t, int32_t,
                                    uint8_t*);
template void quantize_rhe<int8_t>(const float*, int64_t, float, int32_t, int32_t, int32_t,
                                   int8_t*);
template void quantize_rhe<uint16_t>(const float*, int64_t, float, int32_t, int32_t, int32_t,
                                     uint16_t*);
template void quantize_rhe<int16_t>(const float*, int64_t, float, int32_t, int32_t, int32_t,
                                    int16_t*);

}  // namespace qdiff::intkernels
