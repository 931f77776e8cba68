// Conv and ConvTranspose reference kernels (N-D spatial, groups, dilations, auto_pad).
#include <algorithm>
#include <string>
#include <vector>

#include "kernels/reference/common.h"
#include "kernels/reference/reference.h"

namespace qdiff::kernels::ref {
namespace {

// Attributes shared by Conv and ConvTranspose, validated against the spatial rank.
struct ConvAttrs {
  std::string auto_pad;
  int64_t group = 1;
  std::vector<int64_t> kernel;     // spatial kernel shape (from the weight)
  std::vector<int64_t> strides;    // per spatial dim
  std::vector<int64_t> dilations;  // per spatial dim
  std::vector<int64_t> pads;       // begin..., end...
};

// Reads and validates the common attributes. `w_spatial` is the weight's spatial shape.
Status read_conv_attrs(const KernelContext& ctx, const char* op, const qdiff::Shape& w_spatial,
                       ConvAttrs* a) {
  const size_t nsp = w_spatial.size();
  QDIFF_ASSIGN_OR_RETURN(a->auto_pad, ctx.attrs.get_string("auto_pad", "NOTSET"));
  if (a->auto_pad != "NOTSET" && a->auto_pad != "SAME_UPPER" && a->auto_pad != "SAME_LOWER" &&
      a->auto_pad != "VALID")
    return invalid_model(std::string(op) + ": invalid auto_pad '" + a->auto_pad + "'");
  QDIFF_ASSIGN_OR_RETURN(a->group, ctx.attrs.get_int("group", 1));
  if (a->group < 1) return invalid_model(std::string(op) + ": group must be >= 1");
  QDIFF_ASSIGN_OR_RETURN(std::vector<int64_t> ks, ctx.attrs.get_ints("kernel_shape", {}));
  if (!ks.empty()) {
    if (ks.size() != nsp)
      return invalid_model(std::string(op) + ": kernel_shape has " + str(ks.size()) +
                           " dims but the weight has " + str(nsp) + " spatial dims");
    for (size_t i = 0; i < nsp; ++i)
      if (ks[i] != w_spatial[i])
        return invalid_model(std::string(op) + ": kernel_shape " + shape_to_string(ks) +
                             " does not match the weight's spatial shape " +
                             shape_to_string(w_spatial));
  }
  a->kernel = w_spatial;
  QDIFF_ASSIGN_OR_RETURN(a->strides, ctx.attrs.get_ints("strides", std::vector<int64_t>(nsp, 1)));
  QDIFF_ASSIGN_OR_RETURN(a->dilations,
                         ctx.attrs.get_ints("dilations", std::vector<int64_t>(nsp, 1)));
  QDIFF_ASSIGN_OR_RETURN(a->pads, ctx.attrs.get_ints("pads", std::vector<int64_t>(2 * nsp, 0)));
  if (a->strides.empty()) a->strides.assign(nsp, 1);
  if (a->dilations.empty()) a->dilations.assign(nsp, 1);
  if (a->pads.empty()) a->pads.assign(2 * nsp, 0);
  if (a->strides.size() != nsp || a->dilations.size() != nsp || a->pads.size() != 2 * nsp)
    return invalid_model(std::string(op) + ": strides/dilations/pads do not match " + str(nsp) +
                         " spatial dims");
  for (size_t i = 0; i < nsp; ++i) {
    if (a->strides[i] < 1 || a->strides[i] > (1 << 20))
      return invalid_model(std::string(op) + ": strides must be in [1, 2^20]");
    if (a->dilations[i] < 1 || a->dilations[i] > (1 << 20))
      return invalid_model(std::string(op) + ": dilations must be in [1, 2^20]");
    if (a->kernel[i] < 1 || a->kernel[i] > (1 << 20))
      return invalid_model(std::string(op) + ": kernel dims must be in [1, 2^20]");
  }
  for (int64_t p : a->pads)
    if (p < 0 || p > (int64_t{1} << 40))
      return invalid_model(std::string(op) + ": pads must be non-negative");
  return Status::ok_status();
}

int64_t floor_div(int64_t a, int64_t b) {
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

// The kernel taps of position `pos` on the strided side (Conv's output, ConvTranspose's input):
// tap k lands at pos * stride - pad + k * dilation in `sp` (Conv's input, ConvTranspose's
// output). Sets `sp_off` to the flat offsets in `sp` of the taps that land inside it and `k_off`
// to their flat offsets in the kernel.
void find_taps(const ConvAttrs& a, const std::vector<int64_t>& pos, const qdiff::Shape& sp,
               const std::vector<int64_t>& sp_strides, std::vector<int64_t>& sp_off,
               std::vector<int64_t>& k_off) {
  const size_t nsp = a.kernel.size();
  const int64_t k_size = shape_numel(a.kernel).value_or(0);
  sp_off.clear();
  k_off.clear();
  std::vector<int64_t> k_idx(nsp, 0);
  for (int64_t q = 0; q < k_size; ++q) {
    int64_t off = 0;
    bool valid = true;
    for (size_t d = 0; d < nsp; ++d) {
      const int64_t i = pos[d] * a.strides[d] - a.pads[d] + k_idx[d] * a.dilations[d];
      if (i < 0 || i >= sp[d]) {
        valid = false;
        break;
      }
      off += i * sp_strides[d];
    }
    if (valid) {
      sp_off.push_back(off);
      k_off.push_back(q);
    }
    next_index(k_idx, a.kernel);
  }
}

template <typename T>
void conv_compute(const Tensor& x, const Tensor& w, const Tensor* b, const ConvAttrs& a,
                  Tensor* y) {
  const size_t nsp = a.kernel.size();
  const int64_t N = x.dim(0), C = x.dim(1), M = w.dim(0);
  const int64_t G = a.group, Cg = C / G, Mg = M / G;
  qdiff::Shape in_sp(x.shape().begin() + 2, x.shape().end());
  qdiff::Shape out_sp(y->shape().begin() + 2, y->shape().end());
  const int64_t in_size = shape_numel(in_sp).value_or(0);
  const int64_t out_size = shape_numel(out_sp).value_or(0);
  const int64_t k_size = shape_numel(a.kernel).value_or(0);
  const std::vector<int64_t> in_strides = strides_of(in_sp);
  const T* xd = x.data<T>();
  const T* wd = w.data<T>();
  const T* bd = b ? b->data<T>() : nullptr;
  T* yd = y->mutable_data<T>();

  std::vector<int64_t> x_off, w_off;  // valid (input offset, kernel offset) pairs
  x_off.reserve(static_cast<size_t>(k_size));
  w_off.reserve(static_cast<size_t>(k_size));
  std::vector<int64_t> o_idx(nsp, 0);
  for (int64_t p = 0; p < out_size; ++p) {
    find_taps(a, o_idx, in_sp, in_strides, x_off, w_off);
    for (int64_t n = 0; n < N; ++n) {
      for (int64_t g = 0; g < G; ++g) {
        for (int64_t mg = 0; mg < Mg; ++mg) {
          const int64_t m = g * Mg + mg;
          double acc = bd ? static_cast<double>(bd[m]) : 0.0;
          for (int64_t c = 0; c < Cg; ++c) {
            const T* xc = xd + ((n * C) + g * Cg + c) * in_size;
            const T* wc = wd + (m * Cg + c) * k_size;
            for (size_t j = 0; j < x_off.size(); ++j)
              acc += static_cast<double>(xc[x_off[j]]) * static_cast<double>(wc[w_off[j]]);
          }
          yd[(n * M + m) * out_size + p] = static_cast<T>(acc);
        }
      }
    }
    next_index(o_idx, out_sp);
  }
}

template <typename T>
void conv_transpose_compute(const Tensor& x, const Tensor& w, const Tensor* b, const ConvAttrs& a,
                            Tensor* y) {
  const size_t nsp = a.kernel.size();
  const int64_t N = x.dim(0), C = x.dim(1);
  const int64_t G = a.group, Cg = C / G, Mg = w.dim(1), M = Mg * G;
  qdiff::Shape in_sp(x.shape().begin() + 2, x.shape().end());
  qdiff::Shape out_sp(y->shape().begin() + 2, y->shape().end());
  const int64_t in_size = shape_numel(in_sp).value_or(0);
  const int64_t out_size = shape_numel(out_sp).value_or(0);
  const int64_t k_size = shape_numel(a.kernel).value_or(0);
  const std::vector<int64_t> out_strides = strides_of(out_sp);
  const T* xd = x.data<T>();
  const T* wd = w.data<T>();
  const T* bd = b ? b->data<T>() : nullptr;
  std::vector<double> acc(static_cast<size_t>(N * M * out_size), 0.0);

  std::vector<int64_t> i_idx(nsp, 0);
  std::vector<int64_t> y_off, w_off;
  for (int64_t p = 0; p < in_size; ++p) {
    find_taps(a, i_idx, out_sp, out_strides, y_off, w_off);
    for (int64_t n = 0; n < N; ++n) {
      for (int64_t g = 0; g < G; ++g) {
        for (int64_t c = 0; c < Cg; ++c) {
          const int64_t ci = g * Cg + c;
          const double xv = static_cast<double>(xd[(n * C + ci) * in_size + p]);
          for (int64_t mg = 0; mg < Mg; ++mg) {
            const int64_t m = g * Mg + mg;
            const T* wk = wd + (ci * Mg + mg) * k_size;
            double* ym = acc.data() + (n * M + m) * out_size;
            for (size_t j = 0; j < y_off.size(); ++j)
              ym[y_off[j]] += xv * static_cast<double>(wk[w_off[j]]);
          }
        }
      }
    }
    next_index(i_idx, in_sp);
  }
  T* yd = y->mutable_data<T>();
  for (int64_t n = 0; n < N; ++n)
    for (int64_t m = 0; m < M; ++m)
      for (int64_t p = 0; p < out_size; ++p) {
        const int64_t k = (n * M + m) * out_size + p;
        double v = acc[static_cast<size_t>(k)];
        if (bd) v += static_cast<double>(bd[m]);
        yd[k] = static_cast<T>(v);
      }
}

// Checks X, W and B of Conv/ConvTranspose for rank and dtype.
Status check_xwb(const char* op, const Tensor& x, const Tensor& w, const Tensor* b) {
  if (x.dtype() != DType::kFloat32 && x.dtype() != DType::kFloat64)
    return dtype_error(op, 0, x.dtype(), "float32 or float64");
  if (w.dtype() != x.dtype()) return dtype_error(op, 1, w.dtype(), "the type of X");
  if (b && b->dtype() != x.dtype()) return dtype_error(op, 2, b->dtype(), "the type of X");
  if (x.rank() < 3)
    return invalid_model(std::string(op) + ": X must have rank >= 3, got " +
                         shape_to_string(x.shape()));
  if (w.rank() != x.rank())
    return invalid_model(std::string(op) + ": W has rank " + str(w.rank()) + " but X has rank " +
                         str(x.rank()));
  return Status::ok_status();
}

struct ConvInputs {
  const Tensor* x;
  const Tensor* w;
  const Tensor* b;  // nullptr when absent
  ConvAttrs a;
};

// Reads and checks X, W, the optional B and the attributes shared by Conv and ConvTranspose.
Result<ConvInputs> read_conv_inputs(const KernelContext& ctx, const char* op) {
  ConvInputs in;
  QDIFF_ASSIGN_OR_RETURN(in.x, required_input(ctx, 0));
  QDIFF_ASSIGN_OR_RETURN(in.w, required_input(ctx, 1));
  in.b = ctx.input(2);
  if (in.b && !in.b->defined()) in.b = nullptr;
  QDIFF_RETURN_IF_ERROR(check_xwb(op, *in.x, *in.w, in.b));
  const qdiff::Shape w_spatial(in.w->shape().begin() + 2, in.w->shape().end());
  QDIFF_RETURN_IF_ERROR(read_conv_attrs(ctx, op, w_spatial, &in.a));
  return in;
}

}  // namespace

Status Conv(KernelContext& ctx) {
  QDIFF_ASSIGN_OR_RETURN(ConvInputs args, read_conv_inputs(ctx, "Conv"));
  const Tensor *x = args.x, *w = args.w, *b = args.b;
  ConvAttrs& a = args.a;
  const int64_t C = x->dim(1), M = w->dim(0);
  if (C % a.group != 0 || M % a.group != 0)
    return invalid_model("Conv: channels " + str(C) + " and filters " + str(M) +
                         " must be divisible by group " + str(a.group));
  if (w->dim(1) != C / a.group)
    return invalid_model("Conv: weight has " + str(w->dim(1)) + " input channels, expected " +
                         str(C / a.group) + " (X channels / group)");
  if (b && (b->rank() != 1 || b->dim(0) != M))
    return invalid_model("Conv: bias shape " + shape_to_string(b->shape()) + " must be [" + str(M) +
                         "]");
  const size_t nsp = a.kernel.size();
  qdiff::Shape out_shape = {x->dim(0), M};
  for (size_t d = 0; d < nsp; ++d) {
    const int64_t in = x->dim(static_cast<int64_t>(d) + 2);
    const int64_t s = a.strides[d];
    const int64_t dk = (a.kernel[d] - 1) * a.dilations[d] + 1;
    int64_t out = 0;
    if (a.auto_pad == "NOTSET") {
      const int64_t span = in + a.pads[d] + a.pads[d + nsp] - dk;
      if (span < 0)
        return invalid_argument("Conv: kernel extent " + str(dk) +
                                " is larger than the padded input in spatial dim " + str(d));
      out = span / s + 1;
    } else if (a.auto_pad == "VALID") {
      if (in < dk)
        return invalid_argument("Conv: kernel extent " + str(dk) +
                                " is larger than the input in spatial dim " + str(d));
      out = (in - dk) / s + 1;
      a.pads[d] = a.pads[d + nsp] = 0;
    } else {
      out = (in + s - 1) / s;
      const int64_t total = std::max<int64_t>(0, (out - 1) * s + dk - in);
      if (a.auto_pad == "SAME_UPPER") {
        a.pads[d] = total / 2;
        a.pads[d + nsp] = total - total / 2;
      } else {
        a.pads[d + nsp] = total / 2;
        a.pads[d] = total - total / 2;
      }
    }
    out_shape.push_back(out);
  }
  QDIFF_ASSIGN_OR_RETURN(Tensor * y, ctx.alloc_output(0, x->dtype(), out_shape));
  if (x->dtype() == DType::kFloat32)
    conv_compute<float>(*x, *w, b, a, y);
  else
    conv_compute<double>(*x, *w, b, a, y);
  return Status::ok_status();
}

Status ConvTranspose(KernelContext& ctx) {
  QDIFF_ASSIGN_OR_RETURN(ConvInputs args, read_conv_inputs(ctx, "ConvTranspose"));
  const Tensor *x = args.x, *w = args.w, *b = args.b;
  ConvAttrs& a = args.a;
  const int64_t C = x->dim(1);
  if (w->dim(0) != C)
    return invalid_model("ConvTranspose: weight has " + str(w->dim(0)) + " input channels, X has " +
                         str(C));
  if (C % a.group != 0)
    return invalid_model("ConvTranspose: channels " + str(C) + " not divisible by group " +
                         str(a.group));
  const int64_t M = w->dim(1) * a.group;
  if (b && (b->rank() != 1 || b->dim(0) != M))
    return invalid_model("ConvTranspose: bias shape " + shape_to_string(b->shape()) + " must be [" +
                         str(M) + "]");
  const size_t nsp = a.kernel.size();
  QDIFF_ASSIGN_OR_RETURN(std::vector<int64_t> out_pad,
                         ctx.attrs.get_ints("output_padding", std::vector<int64_t>(nsp, 0)));
  if (out_pad.empty()) out_pad.assign(nsp, 0);
  if (out_pad.size() != nsp)
    return invalid_model("ConvTranspose: output_padding must have " + str(nsp) + " values");
  QDIFF_ASSIGN_OR_RETURN(std::vector<int64_t> out_shape_attr,
                         ctx.attrs.get_ints("output_shape", {}));
  if (!out_shape_attr.empty()) {
    if (out_shape_attr.size() == nsp + 2)
      out_shape_attr.erase(out_shape_attr.begin(), out_shape_attr.begin() + 2);
    if (out_shape_attr.size() != nsp)
      return invalid_model("ConvTranspose: output_shape must have " + str(nsp) + " values");
  }
  qdiff::Shape out_shape = {x->dim(0), M};
  for (size_t d = 0; d < nsp; ++d) {
    const int64_t in = x->dim(static_cast<int64_t>(d) + 2);
    const int64_t s = a.strides[d];
    if (out_pad[d] < 0 || out_pad[d] >= std::max(s, a.dilations[d]))
      return invalid_model("ConvTranspose: output_padding must be in [0, max(stride, dilation))");
    const int64_t dk = (a.kernel[d] - 1) * a.dilations[d] + 1;
    const int64_t full = s * (in - 1) + out_pad[d] + dk;  // output size without padding
    int64_t out = 0;
    if (!out_shape_attr.empty() || a.auto_pad == "SAME_UPPER" || a.auto_pad == "SAME_LOWER") {
      out = !out_shape_attr.empty() ? out_shape_attr[d] : in * s;
      if (out < 0 || out > (int64_t{1} << 40))
        return invalid_model("ConvTranspose: invalid output_shape");
      const int64_t total = full - out;
      // Python floor division, as the ONNX reference: a negative total extends the end.
      if (a.auto_pad == "SAME_UPPER") {
        a.pads[d] = floor_div(total, 2);
        a.pads[d + nsp] = total - floor_div(total, 2);
      } else {
        a.pads[d] = total - floor_div(total, 2);
        a.pads[d + nsp] = floor_div(total, 2);
      }
    } else {
      if (a.auto_pad == "VALID") a.pads[d] = a.pads[d + nsp] = 0;
      out = full - a.pads[d] - a.pads[d + nsp];
      if (out < 0)
        return invalid_model("ConvTranspose: pads are larger than the output in spatial dim " +
                             str(d));
    }
    out_shape.push_back(out);
  }
  QDIFF_ASSIGN_OR_RETURN(Tensor * y, ctx.alloc_output(0, x->dtype(), out_shape));
  if (x->dtype() == DType::kFloat32)
    conv_transpose_compute<float>(*x, *w, b, a, y);
  else
    conv_transpose_compute<double>(*x, *w, b, a, y);
  return Status::ok_status();
}

}  // namespace qdiff::kernels::ref
