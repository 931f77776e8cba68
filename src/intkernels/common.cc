#include "intkernels/common.h"

#include <algorithm>
#include <string>

namespace qdiff::intkernels {

DType storage_dtype(const QuantParams& p) {
  if (p.bits <= 8) return p.is_signed ? DType::kInt8 : DType::kUInt8;
  if (p.bits <= 16) return p.is_signed ? DType::kInt16 : DType::kUInt16;
  return DType::kInt32;
}

Result<std::vector<int64_t>> integer_values(const Tensor& t, const char* what) {
  if (!dtype_is_integer(t.dtype()) || t.dtype() == DType::kUInt64 || t.dtype() == DType::kUInt32) {
    return invalid_argument(std::string(what) + ": expected an integer tensor (int8..int64), got " +
                            std::string(dtype_name(t.dtype())));
  }
  return t.to_plain().to_i64_vector();
}

Tensor make_integer_tensor(DType dtype, const Shape& shape, const std::vector<int64_t>& values) {
  Tensor out = Tensor::zeros(dtype, shape);
  QDIFF_ASSERT(static_cast<int64_t>(values.size()) == out.numel(), "make_integer_tensor: size");
  auto fill = [&](auto tag) {
    using T = decltype(tag);
    T* d = out.mutable_data<T>();
    for (size_t i = 0; i < values.size(); ++i) {
      QDIFF_ASSERT(values[i] >= static_cast<int64_t>(std::numeric_limits<T>::min()) &&
                       values[i] <= static_cast<int64_t>(std::numeric_limits<T>::max()),
                   "make_integer_tensor: value out of the storage range");
      d[i] = static_cast<T>(values[i]);
    }
  };
  switch (dtype) {
    case DType::kInt8:
      fill(int8_t{});
      break;
    case DType::kUInt8:
      fill(uint8_t{});
      break;
    case DType::kInt16:
      fill(int16_t{});
      break;
    case DType::kUInt16:
      fill(uint16_t{});
      break;
    case DType::kInt32:
      fill(int32_t{});
      break;
    case DType::kInt64:
      fill(int64_t{});
      break;
    default:
      QDIFF_ASSERT(false, "make_integer_tensor: not an integer storage type");
  }
  return out;
}

Result<Shape> broadcast_shapes(const Shape& a, const Shape& b) {
  const size_t rank = std::max(a.size(), b.size());
  Shape out(rank, 1);
  for (size_t i = 0; i < rank; ++i) {
    const int64_t da = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    const int64_t db = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    if (da != db && da != 1 && db != 1) {
      return invalid_argument("shapes " + shape_to_string(a) + " and " + shape_to_string(b) +
                              " do not broadcast");
    }
    out[i] = da == 1 ? db : da;
  }
  return out;
}

std::vector<int64_t> broadcast_index_map(const Shape& in, const Shape& out) {
  if (in == out) {  // the identity
    std::vector<int64_t> map(static_cast<size_t>(shape_numel(out).value_or(0)));
    for (size_t i = 0; i < map.size(); ++i) map[i] = static_cast<int64_t>(i);
    return map;
  }
  const size_t rank = out.size();
  std::vector<int64_t> in_strides(rank, 0);
  int64_t stride = 1;
  for (size_t k = 0; k < in.size(); ++k) {
    const size_t i = in.size() - 1 - k;  // dim of `in`
    const size_t o = rank - 1 - k;       // aligned dim of `out`
    in_strides[o] = in[i] == 1 ? 0 : stride;
    stride *= in[i];
  }
  int64_t total = 1;
  for (int64_t d : out) total *= d;
  std::vector<int64_t> map(static_cast<size_t>(total));
  std::vector<int64_t> idx(rank, 0);
  for (int64_t n = 0; n < total; ++n) {
    int64_t off = 0;
    for (size_t d = 0; d < rank; ++d) off += idx[d] * in_strides[d];
    map[static_cast<size_t>(n)] = off;
    for (size_t d = rank; d-- > 0;) {
      if (++idx[d] < out[d]) break;
      idx[d] = 0;
    }
  }
  return map;
}

}  // namespace qdiff::intkernels
