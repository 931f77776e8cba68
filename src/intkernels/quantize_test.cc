// quantize_rhe (vector path where the CPU has AVX-512) against numerics' quantize(), element by
// element: every tie k + 0.5 in range, values beyond both ends, NaN and infinities, random
// values, every storage type and lengths that leave a partial last vector.
#include "intkernels/quantize.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "numerics/quant_params.h"

namespace qdiff::intkernels {
namespace {

template <typename T>
void check(float scale, int32_t zp, int32_t qmin, int32_t qmax) {
  std::vector<float> x;
  for (int k = -300; k <= 300; ++k) {
    x.push_back((static_cast<float>(k) + 0.5f) * scale);  // ties (exact for these scales)
    x.push_back(static_cast<float>(k) * scale);
  }
  x.push_back(std::numeric_limits<float>::quiet_NaN());
  x.push_back(std::numeric_limits<float>::infinity());
  x.push_back(-std::numeric_limits<float>::infinity());
  x.push_back(1e30f);
  x.push_back(-1e30f);
  x.push_back(-0.0f);
  std::mt19937 rng(9);
  std::uniform_real_distribution<float> d(-400.0f * scale, 400.0f * scale);
  for (int i = 0; i < 1000; ++i) x.push_back(d(rng));
  for (size_t n : {x.size(), x.size() - 7, size_t{5}}) {
    std::vector<T> got(n);
    quantize_rhe<T>(x.data(), static_cast<int64_t>(n), scale, zp, qmin, qmax, got.data());
    for (size_t i = 0; i < n; ++i)
      ASSERT_EQ(static_cast<int32_t>(got[i]),
                quantize(x[i], scale, zp, qmin, qmax, RoundingMode::kHalfToEven))
          << "x = " << x[i] << " scale " << scale << " zp " << zp;
  }
}

TEST(QuantizeRhe, EqualsQuantizeElementByElement) {
  check<uint8_t>(0.25f, 128, 0, 255);
  check<uint8_t>(0.0371f, 3, 0, 255);
  check<int8_t>(0.5f, -7, -128, 127);
  check<int8_t>(0.125f, 0, -127, 127);
  check<uint16_t>(0.001f, 30000, 0, 65535);
  check<int16_t>(0.0625f, 0, -32768, 32767);
}

}  // namespace
}  // namespace qdiff::intkernels
