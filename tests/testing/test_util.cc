#include "testing/test_util.h"

#include <cmath>
#include <cstring>

namespace qdiff::testing {

::testing::AssertionResult tensors_near(const Tensor& actual, const Tensor& expected, double atol,
                                        double rtol) {
  if (actual.shape() != expected.shape())
    return ::testing::AssertionFailure() << "shape " << shape_to_string(actual.shape())
                                         << " != expected " << shape_to_string(expected.shape());
  if (actual.dtype() != expected.dtype())
    return ::testing::AssertionFailure() << "dtype " << dtype_name(actual.dtype())
                                         << " != expected " << dtype_name(expected.dtype());
  const std::vector<float> a = actual.to_f32_vector();
  const std::vector<float> e = expected.to_f32_vector();
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::isnan(a[i]) && std::isnan(e[i])) continue;
    if (a[i] == e[i]) continue;  // equal infinities
    const double diff = std::fabs(static_cast<double>(a[i]) - e[i]);
    if (!(diff <= atol + rtol * std::fabs(static_cast<double>(e[i]))))
      return ::testing::AssertionFailure() << "element " << i << " of " << a.size() << ": " << a[i]
                                           << " != expected " << e[i] << " (diff " << diff << ")";
  }
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult tensors_equal(const Tensor& actual, const Tensor& expected) {
  if (actual.shape() != expected.shape() || actual.dtype() != expected.dtype())
    return ::testing::AssertionFailure()
           << dtype_name(actual.dtype()) << shape_to_string(actual.shape()) << " != expected "
           << dtype_name(expected.dtype()) << shape_to_string(expected.shape());
  const size_t esize = dtype_size(actual.dtype());
  for (int64_t i = 0; i < actual.numel(); ++i) {
    if (std::memcmp(actual.raw() + i * esize, expected.raw() + i * esize, esize) != 0)
      return ::testing::AssertionFailure() << "element " << i << " differs";
  }
  return ::testing::AssertionSuccess();
}

}  // namespace qdiff::testing
