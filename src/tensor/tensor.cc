#include "tensor/tensor.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <limits>

#include "tensor/float16.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace qdiff {
namespace {

std::atomic<uint64_t> g_byte_limit{8ull << 30};

// Element read as double / write from double, for the generic (slow but exact enough) cast path.
// 64-bit integers take the exact int64 path below instead.
double load_as_double(const std::byte* p, DType t) {
  switch (t) {
    case DType::kFloat16:
      return half_to_float(*reinterpret_cast<const uint16_t*>(p));
    case DType::kBFloat16:
      return bfloat16_to_float(*reinterpret_cast<const uint16_t*>(p));
    default:
      break;
  }
  double v = 0;
  visit_dtype(t, [&](auto tag) {
    using T = decltype(tag);
    T x;
    std::memcpy(&x, p, sizeof(T));
    v = static_cast<double>(x);
  });
  return v;
}

template <typename T>
T saturating_from_double(double v) {
  // Float to integer is undefined out of range in C++; ONNX leaves it undefined too. qdiff
  // truncates toward zero and wraps modulo 2^bits (what x86 runtimes do for in-int64 values),
  // and maps NaN to 0, so the result is at least deterministic.
  if (std::isnan(v)) return T{0};
  v = std::trunc(v);
  if (v >= 9.2233720368547758e18 || v < -9.2233720368547758e18) return T{0};
  return static_cast<T>(static_cast<int64_t>(v));
}

void store_from_double(std::byte* p, DType t, double v) {
  switch (t) {
    case DType::kFloat16: {
      uint16_t h = float_to_half(static_cast<float>(v));
      std::memcpy(p, &h, 2);
      return;
    }
    case DType::kBFloat16: {
      uint16_t h = float_to_bfloat16(static_cast<float>(v));
      std::memcpy(p, &h, 2);
      return;
    }
    default:
      break;
  }
  visit_dtype(t, [&](auto tag) {
    using T = decltype(tag);
    T x;
    if constexpr (std::is_same_v<T, bool>) {
      x = v != 0.0;
    } else if constexpr (std::is_floating_point_v<T>) {
      x = static_cast<T>(v);
    } else {
      x = saturating_from_double<T>(v);
    }
    std::memcpy(p, &x, sizeof(T));
  });
}

bool is_64bit_int(DType t) {
  return t == DType::kInt64 || t == DType::kUInt64;
}

}  // namespace

std::string shape_to_string(const Shape& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ",";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

std::optional<int64_t> shape_numel(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) return std::nullopt;
    if (d != 0 && n > std::numeric_limits<int64_t>::max() / d) return std::nullopt;
    n *= d;
  }
  return n;
}

void set_tensor_byte_limit(uint64_t bytes) {
  g_byte_limit = bytes;
}
uint64_t tensor_byte_limit() {
  return g_byte_limit;
}

Result<Tensor> Tensor::create(DType dtype, Shape shape) {
  if (dtype_size(dtype) == 0)
    return unsupported("tensors of type " + std::string(dtype_name(dtype)) + " are not supported");
  auto n = shape_numel(shape);
  if (!n) return invalid_argument("invalid tensor shape " + shape_to_string(shape));
  const uint64_t limit = tensor_byte_limit();
  const uint64_t size = dtype_size(dtype);
  if (static_cast<uint64_t>(*n) > limit / size) {
    return resource_limit("tensor of shape " + shape_to_string(shape) + " (" +
                          std::string(dtype_name(dtype)) + ") would need more than the " +
                          std::to_string(limit >> 20) + " MiB tensor limit");
  }
  return zeros(dtype, std::move(shape));
}

namespace {

std::atomic<uint64_t> g_live_bytes{0};
std::atomic<uint64_t> g_peak_bytes{0};

std::shared_ptr<std::byte[]> allocate(size_t nbytes, bool zero) {
  // Over-allocate to a multiple of 64 bytes: vector kernels may read whole registers.
  const size_t bytes = std::max<size_t>((nbytes + 63) / 64 * 64, 64);
  std::byte* p = zero ? new (std::align_val_t(64)) std::byte[bytes]()
                      : new (std::align_val_t(64)) std::byte[bytes];
  const uint64_t live = g_live_bytes.fetch_add(bytes) + bytes;
  uint64_t peak = g_peak_bytes.load();
  while (live > peak && !g_peak_bytes.compare_exchange_weak(peak, live)) {
  }
  return std::shared_ptr<std::byte[]>(p, [bytes](std::byte* q) {
    g_live_bytes -= bytes;
    operator delete[](q, std::align_val_t(64));
  });
}

// dst[n][i][j] = src[n][j][i] for n < outer, i < rows, j < cols (elements of type T): plain
// NCHW <-> NHWC is this with (rows, cols) = (C, HW) or (HW, C). Tiled for the caches.
template <typename T>
void transpose_batches_of(const T* src, T* dst, int64_t outer, int64_t rows, int64_t cols) {
  constexpr int64_t kTile = 32;
  for (int64_t n = 0; n < outer; ++n) {
    const T* s = src + n * rows * cols;
    T* d = dst + n * rows * cols;
    for (int64_t j0 = 0; j0 < cols; j0 += kTile)
      for (int64_t i0 = 0; i0 < rows; i0 += kTile) {
        const int64_t j1 = std::min(cols, j0 + kTile), i1 = std::min(rows, i0 + kTile);
        for (int64_t j = j0; j < j1; ++j)
          for (int64_t i = i0; i < i1; ++i) d[i * cols + j] = s[j * rows + i];
      }
  }
}

#if defined(__x86_64__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
// 4-byte elements in 8 x 8 blocks (unpack, shuffle, permute: moves only, bits unchanged), the
// edges element by element.
__attribute__((target("avx2"))) void transpose_batches_4byte_avx2(const uint32_t* src,
                                                                  uint32_t* dst, int64_t outer,
                                                                  int64_t rows, int64_t cols) {
  for (int64_t n = 0; n < outer; ++n) {
    const float* s = reinterpret_cast<const float*>(src + n * rows * cols);
    float* d = reinterpret_cast<float*>(dst + n * rows * cols);
    const int64_t j8 = cols - cols % 8, i8 = rows - rows % 8;
    for (int64_t j = 0; j < j8; j += 8)
      for (int64_t i = 0; i < i8; i += 8) {
        // Source rows j..j+7 (each `rows` long) at column i; destination rows i..i+7 at j.
        __m256 r[8], t[8];
        for (int k = 0; k < 8; ++k) r[k] = _mm256_loadu_ps(s + (j + k) * rows + i);
        for (int k = 0; k < 8; k += 2) {
          t[k] = _mm256_unpacklo_ps(r[k], r[k + 1]);
          t[k + 1] = _mm256_unpackhi_ps(r[k], r[k + 1]);
        }
        for (int k = 0; k < 8; k += 4) {
          r[k] = _mm256_shuffle_ps(t[k], t[k + 2], 0x44);
          r[k + 1] = _mm256_shuffle_ps(t[k], t[k + 2], 0xEE);
          r[k + 2] = _mm256_shuffle_ps(t[k + 1], t[k + 3], 0x44);
          r[k + 3] = _mm256_shuffle_ps(t[k + 1], t[k + 3], 0xEE);
        }
        for (int k = 0; k < 4; ++k) {
          _mm256_storeu_ps(d + (i + k) * cols + j, _mm256_permute2f128_ps(r[k], r[k + 4], 0x20));
          _mm256_storeu_ps(d + (i + k + 4) * cols + j,
                           _mm256_permute2f128_ps(r[k], r[k + 4], 0x31));
        }
      }
    const uint32_t* su = src + n * rows * cols;
    uint32_t* du = dst + n * rows * cols;
    for (int64_t j = 0; j < cols; ++j)
      for (int64_t i = j < j8 ? i8 : 0; i < rows; ++i) du[i * cols + j] = su[j * rows + i];
  }
}
#pragma GCC diagnostic pop
#endif

void transpose_batches(const std::byte* src, std::byte* dst, int64_t outer, int64_t rows,
                       int64_t cols, size_t size) {
#if defined(__x86_64__)
  static const bool avx2 = __builtin_cpu_supports("avx2");
  if (size == 4 && avx2)
    return transpose_batches_4byte_avx2(reinterpret_cast<const uint32_t*>(src),
                                        reinterpret_cast<uint32_t*>(dst), outer, rows, cols);
#endif
  // Element types by size only: a transpose moves bytes, never interprets them.
  auto as = [&](auto tag) {
    using T = decltype(tag);
    transpose_batches_of(reinterpret_cast<const T*>(src), reinterpret_cast<T*>(dst), outer, rows,
                         cols);
  };
  switch (size) {
    case 1:
      return as(uint8_t{});
    case 2:
      return as(uint16_t{});
    case 4:
      return as(uint32_t{});
    case 8:
      return as(uint64_t{});
    default:
      QDIFF_ASSERT(false, "transpose of an element size qdiff has no type of");
  }
}

}  // namespace

uint64_t tensor_live_bytes() {
  return g_live_bytes;
}
uint64_t tensor_peak_bytes() {
  return g_peak_bytes;
}
void reset_tensor_peak_bytes() {
  g_peak_bytes = g_live_bytes.load();
}

Result<Tensor> Tensor::create_for_overwrite(DType dtype, Shape shape, Layout layout) {
  QDIFF_ASSERT(layout == Layout::kPlain || shape.size() == 4, "NHWC layout needs rank 4");
  if (dtype_size(dtype) == 0)
    return unsupported("tensors of type " + std::string(dtype_name(dtype)) + " are not supported");
  auto n = shape_numel(shape);
  if (!n) return invalid_argument("invalid tensor shape " + shape_to_string(shape));
  const uint64_t limit = tensor_byte_limit();
  if (static_cast<uint64_t>(*n) > limit / dtype_size(dtype))
    return resource_limit("tensor of shape " + shape_to_string(shape) + " (" +
                          std::string(dtype_name(dtype)) + ") would need more than the " +
                          std::to_string(limit >> 20) + " MiB tensor limit");
  Tensor t;
  t.dtype_ = dtype;
  t.shape_ = std::move(shape);
  t.numel_ = *n;
  t.layout_ = layout;
  t.data_ = allocate(t.nbytes(), /*zero=*/false);
  return t;
}

Tensor Tensor::to_plain() const {
  return to_layout(Layout::kPlain);
}

Tensor Tensor::to_layout(Layout layout) const {
  if (layout == layout_ || !defined()) return *this;
  QDIFF_ASSERT(shape_.size() == 4, "NHWC layout needs rank 4");
  Tensor t = *this;
  t.layout_ = layout;
  t.data_ = allocate(nbytes(), /*zero=*/false);
  const int64_t c = shape_[1], hw = shape_[2] * shape_[3];
  if (layout == Layout::kNhwc)  // [N][C][HW] -> [N][HW][C]
    transpose_batches(raw(), t.raw_mutable(), shape_[0], hw, c, dtype_size(dtype_));
  else  // [N][HW][C] -> [N][C][HW]
    transpose_batches(raw(), t.raw_mutable(), shape_[0], c, hw, dtype_size(dtype_));
  return t;
}

Tensor Tensor::zeros(DType dtype, Shape shape) {
  Tensor t;
  auto n = shape_numel(shape);
  QDIFF_ASSERT(n.has_value() && dtype_size(dtype) > 0, "unchecked invalid shape");
  t.dtype_ = dtype;
  t.shape_ = std::move(shape);
  t.numel_ = *n;
  t.data_ = allocate(t.nbytes(), /*zero=*/true);
  return t;
}

Tensor Tensor::physical() const {
  if (layout_ == Layout::kPlain) return *this;
  Tensor t = *this;
  t.layout_ = Layout::kPlain;
  t.shape_ = {shape_[0], shape_[2], shape_[3], shape_[1]};
  return t;
}

Tensor Tensor::with_physical_layout(Layout layout) const {
  QDIFF_ASSERT(layout_ == Layout::kPlain, "with_physical_layout of a non-plain tensor");
  if (layout == Layout::kPlain) return *this;
  QDIFF_ASSERT(shape_.size() == 4, "NHWC layout needs rank 4");
  Tensor t = *this;
  t.layout_ = layout;
  t.shape_ = {shape_[0], shape_[3], shape_[1], shape_[2]};
  return t;
}

Tensor Tensor::reshaped(Shape shape) const {
  auto n = shape_numel(shape);
  QDIFF_ASSERT(n.has_value() && *n == numel_, "reshape must keep the element count");
  QDIFF_ASSERT(layout_ == Layout::kPlain, "reshape of a non-plain tensor");
  Tensor t = *this;
  t.shape_ = std::move(shape);
  return t;
}

Tensor Tensor::clone() const {
  Tensor t = zeros(dtype_, shape_);
  t.layout_ = layout_;
  if (nbytes()) std::memcpy(t.raw_mutable(), raw(), nbytes());
  return t;
}

Tensor Tensor::cast(DType to) const {
  if (to == dtype_) return *this;
  Tensor out = zeros(to, shape_);
  out.layout_ = layout_;
  const size_t in_size = dtype_size(dtype_);
  const size_t out_size = dtype_size(to);
  const std::byte* src = raw();
  std::byte* dst = out.raw_mutable();
  // Integers of up to 16 bits widened to int32 or int64 (exact either way, without the double
  // detour).
  if (to == DType::kInt32 || to == DType::kInt64) {
    auto widen = [&](auto tag) {
      using T = decltype(tag);
      const T* s = reinterpret_cast<const T*>(src);
      if (to == DType::kInt32) {
        int32_t* d = reinterpret_cast<int32_t*>(dst);
        for (int64_t i = 0; i < numel_; ++i) d[i] = s[i];
      } else {
        int64_t* d = reinterpret_cast<int64_t*>(dst);
        for (int64_t i = 0; i < numel_; ++i) d[i] = s[i];
      }
    };
    switch (dtype_) {
      case DType::kInt8:
        widen(int8_t{});
        return out;
      case DType::kUInt8:
        widen(uint8_t{});
        return out;
      case DType::kInt16:
        widen(int16_t{});
        return out;
      case DType::kUInt16:
        widen(uint16_t{});
        return out;
      default:
        break;
    }
  }
  if (is_64bit_int(dtype_) && !dtype_is_float(to)) {
    // Integer to integer: exact modular conversion, no detour through double.
    for (int64_t i = 0; i < numel_; ++i) {
      uint64_t v;
      std::memcpy(&v, src + i * in_size, 8);
      if (to == DType::kBool) {
        bool b = v != 0;
        std::memcpy(dst + i * out_size, &b, 1);
      } else {
        std::memcpy(dst + i * out_size, &v, out_size);  // little endian: low bytes
      }
    }
    return out;
  }
  for (int64_t i = 0; i < numel_; ++i)
    store_from_double(dst + i * out_size, to, load_as_double(src + i * in_size, dtype_));
  return out;
}

std::vector<float> Tensor::to_f32_vector() const {
  Tensor f = to_plain().cast(DType::kFloat32);
  auto v = f.values<float>();
  return {v.begin(), v.end()};
}

std::vector<int64_t> Tensor::to_i64_vector() const {
  Tensor f = to_plain().cast(DType::kInt64);
  auto v = f.values<int64_t>();
  return {v.begin(), v.end()};
}

}  // namespace qdiff
