// Fast integer convolution: the int32 accumulators of conv_accumulate computed by oneDNN's
// u8/s8 x s8 -> s32 convolution, for the cases where the two are provably equal.
//
// Exactness: on CPUs with VNNI (AVX512-VNNI or AVX-VNNI) oneDNN forms the u8 x s8 dot products
// with vpdpbusd, exact in int32 (s8 activations are shifted to u8 with an exact int32
// compensation term). Without VNNI its AVX2/AVX-512 int8 kernels add u8 x s8 pairs in int16 with
// saturation (vpmaddubsw), so Int8Conv is never used there: the reference kernel runs. The input
// zero point is oneDNN's source zero point, which treats the padded border as real zero (raw
// value z_x), the same as conv_accumulate's default pad value. The bias is not given to oneDNN
// (it would add it in float): the caller adds it in the requantization.
//
// Overflow: create() refuses geometries where |acc| could reach 2^31 (taps x max|x - z_x| x
// max|w| plus the largest bias), so int32 wrap or saturation rules of the accumulator model never
// act and the exact sum is the model's result.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "support/status.h"
#include "tensor/tensor.h"

namespace qdiff::intkernels {

struct AccumulatorModel;
struct ConvParams;

// Whether oneDNN's int8 convolutions are exact on this CPU (VNNI present and not masked).
bool fast_int8_exact();

class Int8Conv {
 public:
  // x_shape: NCHW [N, C, H, W] of a uint8 or int8 input with zero point z_x; w: int8 OIHW
  // weights whose zero points are all 0; bias_max: max |int32 bias|. Returns nullptr (no error)
  // when the fast path does not apply: no VNNI, other dtypes, nonzero weight zero points, a pad
  // value other than z_x, a non-int32 or pair-saturating accumulator model, possible overflow.
  static std::unique_ptr<Int8Conv> create(const std::vector<int64_t>& x_shape, DType x_dtype,
                                          int32_t z_x, const Tensor& w,
                                          const std::vector<int32_t>& z_w, int64_t bias_max,
                                          const ConvParams& params, const AccumulatorModel& model);
  ~Int8Conv();

  // Output shape NCHW [N, M, OH, OW].
  const std::vector<int64_t>& out_shape() const;
  // Per output channel, what the caller adds to run()'s accumulators (with the bias): empty, or
  // -z_x * sum(w[m]) when the zero point is folded out of an unpadded convolution (oneDNN then
  // runs its faster kernels without zero points; every tap is a real input, so the correction
  // is exact). create() checks that raw sums, bias and correction all fit int32.
  const std::vector<int32_t>& channel_offset() const;
  // x: the input (plain NCHW or stored NHWC), of the shape and dtype given to create().
  // Writes the accumulators (without bias) in NHWC order into `acc`, which holds at least
  // out_shape()'s element count.
  Status run(const Tensor& x, int32_t* acc);

  struct Impl;

 private:
  explicit Int8Conv(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace qdiff::intkernels
