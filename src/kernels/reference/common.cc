#include "kernels/reference/common.h"

namespace qdiff::kernels::ref {

Result<const Tensor*> required_input(const KernelContext& ctx, size_t i) {
  const Tensor* t = ctx.input(i);
  if (!t || !t->defined()) return invalid_model("missing required input " + std::to_string(i));
  return t;
}

Result<int64_t> normalize_axis(int64_t axis, int64_t rank) {
  const int64_t lo = rank == 0 ? -1 : -rank;
  const int64_t hi = rank == 0 ? 1 : rank;
  if (axis < lo || axis >= hi)
    return invalid_model("axis " + std::to_string(axis) + " out of range for rank " +
                         std::to_string(rank));
  return axis < 0 ? axis + (rank == 0 ? 1 : rank) : axis;
}

std::vector<int64_t> strides_of(const Shape& shape) {
  std::vector<int64_t> s(shape.size(), 1);
  for (size_t i = shape.size(); i-- > 1;) s[i - 1] = s[i] * shape[i];
  return s;
}

Result<Shape> broadcast_shapes(const Shape& a, const Shape& b) {
  const size_t rank = std::max(a.size(), b.size());
  Shape out(rank);
  for (size_t i = 0; i < rank; ++i) {
    const int64_t da = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    const int64_t db = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    if (da != db && da != 1 && db != 1)
      return invalid_argument("shapes " + shape_to_string(a) + " and " + shape_to_string(b) +
                              " cannot be broadcast");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

std::vector<int64_t> broadcast_index_map(const Shape& in, const Shape& out) {
  const size_t rank = out.size();
  const size_t offset = rank - in.size();
  std::vector<int64_t> in_strides(rank, 0);
  const std::vector<int64_t> s = strides_of(in);
  for (size_t i = 0; i < in.size(); ++i) in_strides[offset + i] = in[i] == 1 ? 0 : s[i];
  const int64_t n = shape_numel(out).value_or(0);
  std::vector<int64_t> map(static_cast<size_t>(n));
  std::vector<int64_t> idx(rank, 0);
  int64_t flat = 0;
  for (int64_t k = 0; k < n; ++k) {
    map[static_cast<size_t>(k)] = flat;
    for (size_t d = rank; d-- > 0;) {  // odometer increment
      ++idx[d];
      flat += in_strides[d];
      if (idx[d] < out[d]) break;
      flat -= in_strides[d] * idx[d];
      idx[d] = 0;
    }
  }
  return map;
}

Result<int64_t> checked_axis(const char* op, int64_t axis, int64_t rank) {
  if (axis < -rank || axis >= rank)
    return invalid_model(std::string(op) + ": axis " + std::to_string(axis) +
                         " out of range for rank " + std::to_string(rank));
  return axis < 0 ? axis + rank : axis;
}

int64_t dim_product(const Shape& shape, size_t begin, size_t end) {
  int64_t p = 1;
  for (size_t d = begin; d < end; ++d) p *= shape[d];
  return p;
}

bool next_index(std::vector<int64_t>& idx, const std::vector<int64_t>& dims) {
  for (size_t d = idx.size(); d-- > 0;) {
    if (++idx[d] < dims[d]) return true;
    idx[d] = 0;
  }
  return false;
}

Status check_data_dtype(const char* op, size_t i, const Tensor& t) {
  if (dtype_size(t.dtype()) == 0) return dtype_error(op, i, t.dtype(), "a numeric or bool type");
  return Status::ok_status();
}

Status dtype_error(const char* op, size_t input, DType got, const char* expected) {
  return unsupported(std::string(op) + ": input " + std::to_string(input) + " has type " +
                     std::string(dtype_name(got)) + ", expected " + expected);
}

}  // namespace qdiff::kernels::ref
