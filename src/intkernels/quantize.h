// QuantizeLinear of a float32 tensor with one scale and half-to-even rounding (ORT's
// QuantizeLinear, the integer world's graph inputs): q = clamp(rhe(x / s) + zp, qmin, qmax),
// NaN -> zp, exactly numerics' quantize() element by element (checked by quantize_test.cc),
// 16 elements at a time with AVX-512 where the CPU has it.
#pragma once

#include <cstdint>

namespace qdiff::intkernels {

// T: uint8_t, int8_t, uint16_t or int16_t; [qmin, qmax] within T.
template <typename T>
void quantize_rhe(const float* src, int64_t n, float scale, int32_t zp, int32_t qmin, int32_t qmax,
                  T* dst);

}  // namespace qdiff::intkernels
