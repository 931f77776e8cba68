// QuantizeLinear and DequantizeLinear reference kernels: per-tensor and per-axis.
#include <cmath>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "kernels/reference/common.h"
#include "kernels/reference/reference.h"

namespace qdiff::kernels::ref {
namespace {

bool is_quant_type(DType t) {
  return t == DType::kUInt8 || t == DType::kInt8 || t == DType::kUInt16 || t == DType::kInt16;
}

// How scale / zero_point apply to x: per tensor (one value) or along `axis`.
struct QuantParams {
  std::vector<float> scale;
  std::vector<int64_t> zero_point;
  int64_t axis_dim = 1;  // size of the quantization axis (1 for per-tensor)
  int64_t inner = 1;     // product of the dims after the axis
};

Status read_params(const KernelContext& ctx, const char* op, const Tensor& x, const Tensor& scale,
                   const Tensor* zp, QuantParams* p) {
  const std::string o(op);
  if (scale.dtype() != DType::kFloat32 && scale.dtype() != DType::kFloat64)
    return dtype_error(op, 1, scale.dtype(), "float32");
  QDIFF_ASSIGN_OR_RETURN(int64_t block_size, ctx.attrs.get_int("block_size", 0));
  if (block_size != 0)
    return unsupported(o + ": blocked quantization (block_size) is not supported");
  if (zp && zp->shape() != scale.shape())
    return invalid_model(o + ": zero_point shape " + shape_to_string(zp->shape()) +
                         " differs from scale shape " + shape_to_string(scale.shape()));
  p->scale = scale.to_f32_vector();
  if (zp)
    p->zero_point = zp->to_i64_vector();
  else
    p->zero_point.assign(p->scale.size(), 0);
  const bool per_tensor = scale.rank() == 0 || (scale.rank() == 1 && scale.numel() == 1);
  if (per_tensor) {
    p->axis_dim = 1;
    p->inner = 1;
    return Status::ok_status();
  }
  if (scale.rank() != 1)
    return invalid_model(o + ": scale must be a scalar or 1-D, got " +
                         shape_to_string(scale.shape()));
  if (ctx.opset < 13) return invalid_model(o + ": per-axis scale needs opset >= 13");
  QDIFF_ASSIGN_OR_RETURN(int64_t axis_attr, ctx.attrs.get_int("axis", 1));
  if (x.rank() == 0) return invalid_model(o + ": per-axis scale on a scalar input");
  QDIFF_ASSIGN_OR_RETURN(int64_t axis, normalize_axis(axis_attr, x.rank()));
  if (scale.dim(0) != x.dim(axis))
    return invalid_model(o + ": scale has " + str(scale.dim(0)) + " values but axis " + str(axis) +
                         " has size " + str(x.dim(axis)));
  p->axis_dim = x.dim(axis);
  p->inner = 1;
  for (int64_t d = axis + 1; d < x.rank(); ++d) p->inner *= x.dim(d);
  return Status::ok_status();
}

// Index into scale/zero_point for flat element k.
size_t param_index(const QuantParams& p, int64_t k) {
  if (p.axis_dim == 1) return 0;
  return static_cast<size_t>((k / p.inner) % p.axis_dim);
}

}  // namespace

Status QuantizeLinear(KernelContext& ctx) {
  QDIFF_ASSIGN_OR_RETURN(const Tensor* x, required_input(ctx, 0));
  QDIFF_ASSIGN_OR_RETURN(const Tensor* scale, required_input(ctx, 1));
  const Tensor* zp = ctx.input(2);
  if (zp && !zp->defined()) zp = nullptr;
  if (x->dtype() != DType::kFloat32 && x->dtype() != DType::kFloat64 && x->dtype() != DType::kInt32)
    return dtype_error("QuantizeLinear", 0, x->dtype(), "float32, float64 or int32");
  DType out_type = DType::kUInt8;
  QDIFF_ASSIGN_OR_RETURN(int64_t output_dtype, ctx.attrs.get_int("output_dtype", 0));
  if (output_dtype != 0) {
    auto t = dtype_from_onnx(static_cast<int>(output_dtype));
    if (!t || !is_quant_type(*t))
      return unsupported("QuantizeLinear: output_dtype " + str(output_dtype) +
                         " is not supported (uint8, int8, uint16, int16)");
    out_type = *t;
  }
  if (zp) {
    if (!is_quant_type(zp->dtype()))
      return dtype_error("QuantizeLinear", 2, zp->dtype(), "uint8, int8, uint16 or int16");
    if (output_dtype != 0 && zp->dtype() != out_type)
      return invalid_model("QuantizeLinear: output_dtype differs from the zero_point type");
    out_type = zp->dtype();
  }
  QuantParams p;
  QDIFF_RETURN_IF_ERROR(read_params(ctx, "QuantizeLinear", *x, *scale, zp, &p));
  QDIFF_ASSIGN_OR_RETURN(Tensor * y, ctx.alloc_output(0, out_type, x->shape()));
  const std::vector<float> xv = x->to_f32_vector();
  visit_dtype(out_type, [&](auto tag) {
    using Q = decltype(tag);
    if constexpr (std::is_integral_v<Q> && !std::is_same_v<Q, bool> && sizeof(Q) <= 2) {
      const float lo = static_cast<float>(std::numeric_limits<Q>::lowest());
      const float hi = static_cast<float>(std::numeric_limits<Q>::max());
      Q* yd = y->mutable_data<Q>();
      for (int64_t k = 0; k < x->numel(); ++k) {
        const size_t pi = param_index(p, k);
        // Round half to even (default rounding mode), add the zero point, saturate.
        float v = std::nearbyint(xv[static_cast<size_t>(k)] / p.scale[pi]) +
                  static_cast<float>(p.zero_point[pi]);
        if (std::isnan(v)) v = static_cast<float>(p.zero_point[pi]);
        v = v < lo ? lo : (v > hi ? hi : v);
        yd[k] = static_cast<Q>(v);
      }
    }
  });
  return Status::ok_status();
}

Status DequantizeLinear(KernelContext& ctx) {
  QDIFF_ASSIGN_OR_RETURN(const Tensor* x, required_input(ctx, 0));
  QDIFF_ASSIGN_OR_RETURN(const Tensor* scale, required_input(ctx, 1));
  const Tensor* zp = ctx.input(2);
  if (zp && !zp->defined()) zp = nullptr;
  if (!is_quant_type(x->dtype()) && x->dtype() != DType::kInt32)
    return dtype_error("DequantizeLinear", 0, x->dtype(), "uint8, int8, uint16, int16 or int32");
  if (zp && zp->dtype() != x->dtype())
    return dtype_error("DequantizeLinear", 2, zp->dtype(), "the type of x");
  QuantParams p;
  QDIFF_RETURN_IF_ERROR(read_params(ctx, "DequantizeLinear", *x, *scale, zp, &p));
  if (x->dtype() == DType::kInt32)
    for (int64_t z : p.zero_point)
      if (z != 0) return invalid_model("DequantizeLinear: int32 input needs a zero zero_point");
  QDIFF_ASSIGN_OR_RETURN(Tensor * y, ctx.alloc_output(0, DType::kFloat32, x->shape()));
  const std::vector<int64_t> xv = x->to_i64_vector();
  float* yd = y->mutable_data<float>();
  for (int64_t k = 0; k < x->numel(); ++k) {
    const size_t pi = param_index(p, k);
    yd[k] = static_cast<float>(xv[static_cast<size_t>(k)] - p.zero_point[pi]) * p.scale[pi];
  }
  return Status::ok_status();
}

}  // namespace qdiff::kernels::ref
