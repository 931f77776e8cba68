// Tensor: an owning, dense, row-major (C order) n-dimensional array with shared storage.
// Copies share the buffer (cheap); kernels never write into their inputs, so sharing is safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "support/status.h"
#include "tensor/dtype.h"

namespace qdiff {

using Shape = std::vector<int64_t>;

std::string shape_to_string(const Shape& shape);  // "[1,3,224,224]"
// Number of elements; nullopt on a negative dimension or int64 overflow.
std::optional<int64_t> shape_numel(const Shape& shape);

// Largest tensor (in bytes) qdiff will allocate. Shapes beyond it are refused before allocation.
// Default 8 GiB; the CLI sets it from --max-tensor-mb.
void set_tensor_byte_limit(uint64_t bytes);
uint64_t tensor_byte_limit();

// Physical order of a tensor's elements. kPlain: row-major over shape() (the default; every
// reference kernel, observer, dump and file only ever sees plain tensors). kNhwc: a rank-4
// tensor of logical shape [N,C,H,W] stored as N,H,W,C; only fast kernels that declare it
// produce or read it, and the interpreter converts it back (to_plain()) for everyone else.
enum class Layout : uint8_t { kPlain, kNhwc };

// Bytes held by live tensor buffers in this process, and the high-water mark since the last
// reset: how much memory a run really needs (the interpreter frees tensors after last use).
uint64_t tensor_live_bytes();
uint64_t tensor_peak_bytes();
void reset_tensor_peak_bytes();

class Tensor {
 public:
  Tensor() = default;

  // Allocates a zero-filled tensor; refuses negative dims, overflow and shapes over the limit.
  static Result<Tensor> create(DType dtype, Shape shape);
  // Same, for shapes the caller has already validated (kernel outputs with checked shapes).
  static Tensor zeros(DType dtype, Shape shape);
  // Like create(), but the elements are left uninitialized (the caller overwrites every one),
  // stored in `layout` (kNhwc needs rank 4).
  static Result<Tensor> create_for_overwrite(DType dtype, Shape shape,
                                             Layout layout = Layout::kPlain);
  template <typename T>
  static Tensor from_vector(Shape shape, const std::vector<T>& values);
  static Tensor scalar_f32(float v) { return from_vector<float>({}, {v}); }

  bool defined() const { return dtype_ != DType::kUndefined; }
  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  int64_t rank() const { return static_cast<int64_t>(shape_.size()); }
  int64_t dim(int64_t i) const { return shape_[static_cast<size_t>(i)]; }
  int64_t numel() const { return numel_; }
  size_t nbytes() const { return static_cast<size_t>(numel_) * dtype_size(dtype_); }
  Layout layout() const { return layout_; }
  bool is_plain() const { return layout_ == Layout::kPlain; }
  // The same values stored plain: this tensor when it is plain, else a reordered copy (exact).
  Tensor to_plain() const;
  // The same values stored as `layout` (kNhwc: rank 4 only): this tensor when it already is.
  Tensor to_layout(Layout layout) const;

  // The storage in the physical layout (see layout()).
  const std::byte* raw() const { return data_.get(); }
  std::byte* raw_mutable() { return data_.get(); }
  // Typed element access, row-major over shape(): plain tensors only.
  template <typename T>
  const T* data() const {
    QDIFF_ASSERT(dtype_of<T>() == dtype_, "tensor dtype mismatch");
    QDIFF_ASSERT(layout_ == Layout::kPlain, "typed access to a non-plain tensor");
    return reinterpret_cast<const T*>(data_.get());
  }
  template <typename T>
  T* mutable_data() {
    QDIFF_ASSERT(dtype_of<T>() == dtype_, "tensor dtype mismatch");
    QDIFF_ASSERT(layout_ == Layout::kPlain, "typed access to a non-plain tensor");
    return reinterpret_cast<T*>(data_.get());
  }
  template <typename T>
  std::span<const T> values() const {
    return {data<T>(), static_cast<size_t>(numel_)};
  }

  // The same storage seen as a plain tensor of its physical shape (NHWC: [N, H, W, C]), for
  // kernels whose result does not depend on the element order (elementwise on equal shapes).
  Tensor physical() const;
  // Inverse of physical(): a plain tensor of physical shape [N, H, W, C] labelled `layout`
  // (logical shape [N, C, H, W] for kNhwc), sharing its storage.
  Tensor with_physical_layout(Layout layout) const;
  // Same storage, new shape (numel must match; plain tensors only). Used by Reshape/Flatten.
  Tensor reshaped(Shape shape) const;
  // Deep copy (same layout).
  Tensor clone() const;
  // Elementwise conversion to another dtype (same layout) (float16/bfloat16 included). Float to
  // integer truncates toward zero and wraps like a C cast of the int64 value (ONNX Cast semantics
  // leave out-of-range conversion undefined).
  Tensor cast(DType to) const;
  // Values as float32/int64 (converting); convenient for small index/parameter tensors.
  std::vector<float> to_f32_vector() const;
  std::vector<int64_t> to_i64_vector() const;

 private:
  DType dtype_ = DType::kUndefined;
  Shape shape_;
  int64_t numel_ = 0;
  Layout layout_ = Layout::kPlain;
  std::shared_ptr<std::byte[]> data_;
};

template <typename T>
Tensor Tensor::from_vector(Shape shape, const std::vector<T>& values) {
  Tensor t = zeros(dtype_of<T>(), std::move(shape));
  QDIFF_ASSERT(static_cast<int64_t>(values.size()) == t.numel(), "from_vector size mismatch");
  if constexpr (std::is_same_v<T, bool>) {
    for (size_t i = 0; i < values.size(); ++i) t.mutable_data<bool>()[i] = values[i];
  } else {
    std::copy(values.begin(), values.end(), t.mutable_data<T>());
  }
  return t;
}

}  // namespace qdiff
