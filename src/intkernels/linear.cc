#include "intkernels/linear.h"

#include <string>

#include "intkernels/common.h"
#include "numerics/saturate.h"

namespace qdiff::intkernels {

AccumulatorModel accumulator_model(const targets::TargetProfile& profile) {
  AccumulatorModel m;
  m.bits = profile.accumulator_bits;
  m.overflow = profile.overflow;
  m.pair_saturation_u8s8 = profile.pair_saturation_u8s8;
  return m;
}

int64_t accumulate(int64_t acc, int64_t term, const AccumulatorModel& model) {
  QDIFF_ASSERT(model.bits >= 2 && model.bits <= 64, "accumulator width out of range");
  if (model.bits == 64) {
    if (model.overflow == targets::Overflow::kWrap) {
      return static_cast<int64_t>(static_cast<uint64_t>(acc) + static_cast<uint64_t>(term));
    }
    int64_t s = 0;
    if (__builtin_add_overflow(acc, term, &s)) return term > 0 ? INT64_MAX : INT64_MIN;
    return s;
  }
  // acc is within the model's range (< 2^63 in magnitude) and terms are products of <= 16-bit
  // values or int32 biases, so the int64 sum is exact.
  const int64_t s = acc + term;
  const int64_t hi = (int64_t{1} << (model.bits - 1)) - 1;
  const int64_t lo = -hi - 1;
  if (model.overflow == targets::Overflow::kSaturate) return saturate_to(s, lo, hi);
  const int sh = 64 - model.bits;  // sign-extend the low `bits` bits
  return static_cast<int64_t>(static_cast<uint64_t>(s) << sh) >> sh;
}

namespace {

// acc over one reduction of K raw activations a[k] and raw weights w[k].
int64_t dot(const std::vector<int64_t>& a, const int64_t* w, int64_t w_stride, int64_t k_len,
            int64_t z_a, int64_t z_w, bool pair, const AccumulatorModel& model) {
  int64_t acc = 0;
  if (!pair) {
    for (int64_t k = 0; k < k_len; ++k) {
      acc = accumulate(acc, (a[static_cast<size_t>(k)] - z_a) * (w[k * w_stride] - z_w), model);
    }
    return acc;
  }
  // vpmaddubsw: raw u8 x s8 products summed in pairs with int16 saturation, then corrections.
  int64_t sum_w = 0;
  int64_t sum_a = 0;
  for (int64_t k = 0; k < k_len; k += 2) {
    int64_t p = a[static_cast<size_t>(k)] * w[k * w_stride];
    sum_w += w[k * w_stride];
    sum_a += a[static_cast<size_t>(k)];
    if (k + 1 < k_len) {
      p += a[static_cast<size_t>(k + 1)] * w[(k + 1) * w_stride];
      sum_w += w[(k + 1) * w_stride];
      sum_a += a[static_cast<size_t>(k + 1)];
    }
    acc = accumulate(acc, saturate<int16_t>(p), model);
  }
  acc = accumulate(acc, -z_a * sum_w, model);
  acc = accumulate(acc, -z_w * sum_a, model);
  acc = accumulate(acc, k_len * z_a * z_w, model);
  return acc;
}

Status check_model(const AccumulatorModel& model) {
  if (model.bits < 16 || model.bits > 64) {
    return invalid_argument("accumulator_bits must be in [16, 64], got " +
                            std::to_string(model.bits));
  }
  return Status();
}

Result<int64_t> zero_point_for(const std::vector<int32_t>& z, int64_t channel, int64_t channels,
                               const char* what) {
  if (z.size() == 1) return int64_t{z[0]};
  if (static_cast<int64_t>(z.size()) != channels) {
    return invalid_argument(std::string(what) + ": " + std::to_string(z.size()) +
                            " zero points for " + std::to_string(channels) + " channels");
  }
  return int64_t{z[static_cast<size_t>(channel)]};
}

bool use_pairs(const Tensor& a, const Tensor& w, const AccumulatorModel& model) {
  return model.pair_saturation_u8s8 && a.dtype() == DType::kUInt8 && w.dtype() == DType::kInt8;
}

Result<std::vector<int64_t>> bias_values(const Tensor& bias, const char* what) {
  if (!bias.defined()) return std::vector<int64_t>{};
  if (bias.dtype() != DType::kInt32) {
    return invalid_argument(std::string(what) + ": bias must be int32, got " +
                            std::string(dtype_name(bias.dtype())));
  }
  return bias.to_plain().to_i64_vector();
}

}  // namespace

Result<Tensor> conv_accumulate(const Tensor& x, int32_t z_x, const Tensor& w,
                               const std::vector<int32_t>& z_w, const Tensor& bias,
                               const ConvParams& params, const AccumulatorModel& model) {
  QDIFF_RETURN_IF_ERROR(check_model(model));
  if (x.rank() != 4 || w.rank() != 4) {
    return unsupported("integer Conv: only 2-D NCHW convolutions (rank-4 X and W) are supported");
  }
  QDIFF_ASSIGN_OR_RETURN(std::vector<int64_t> xv, integer_values(x, "Conv input X"));
  QDIFF_ASSIGN_OR_RETURN(std::vector<int64_t> wv, integer_values(w, "Conv weight W"));
  QDIFF_ASSIGN_OR_RETURN(std::vector<int64_t> bv, bias_values(bias, "Conv"));
  const int64_t n = x.dim(0), c = x.dim(1), h = x.dim(2), wd = x.dim(3);
  const int64_t m = w.dim(0), cg = w.dim(1), kh = w.dim(2), kw = w.dim(3);
  const int64_t g = params.group;
  if (g < 1 || c % g != 0 || m % g != 0 || c / g != cg) {
    return invalid_argument("integer Conv: group " + std::to_string(g) + " does not match X " +
                            shape_to_string(x.shape()) + " and W " + shape_to_string(w.shape()));
  }
  if (!bv.empty() && static_cast<int64_t>(bv.size()) != m) {
    return invalid_argument("integer Conv: bias has " + std::to_string(bv.size()) +
                            " elements for " + std::to_string(m) + " output channels");
  }
  auto get2 = [](const std::vector<int64_t>& v, size_t i, int64_t dflt) {
    return v.empty() ? dflt : v[i];
  };
  if ((!params.strides.empty() && params.strides.size() != 2) ||
      (!params.dilations.empty() && params.dilations.size() != 2) ||
      (!params.pads.empty() && params.pads.size() != 4)) {
    return invalid_argument("integer Conv: strides/dilations need 2 values and pads 4");
  }
  const int64_t sh = get2(params.strides, 0, 1), sw = get2(params.strides, 1, 1);
  const int64_t dh = get2(params.dilations, 0, 1), dw = get2(params.dilations, 1, 1);
  const int64_t pt = get2(params.pads, 0, 0), pl = get2(params.pads, 1, 0);
  const int64_t pb = get2(params.pads, 2, 0), pr = get2(params.pads, 3, 0);
  if (sh < 1 || sw < 1 || dh < 1 || dw < 1 || pt < 0 || pl < 0 || pb < 0 || pr < 0) {
    return invalid_argument("integer Conv: strides and dilations must be >= 1, pads >= 0");
  }
  const int64_t oh = (h + pt + pb - (dh * (kh - 1) + 1)) / sh + 1;
  const int64_t ow = (wd + pl + pr - (dw * (kw - 1) + 1)) / sw + 1;
  if (oh < 1 || ow < 1) return invalid_argument("integer Conv: empty output");
  const int64_t pad = params.pad_value.value_or(z_x);
  const bool pair = use_pairs(x, w, model);
  const int64_t k_len = cg * kh * kw;
  const int64_t m_per_group = m / g;
  std::vector<int64_t> out(static_cast<size_t>(n * m * oh * ow));
  std::vector<int64_t> patch(static_cast<size_t>(k_len));
  for (int64_t b = 0; b < n; ++b) {
    for (int64_t oc = 0; oc < m; ++oc) {
      const int64_t grp = oc / m_per_group;
      QDIFF_ASSIGN_OR_RETURN(const int64_t zw, zero_point_for(z_w, oc, m, "Conv weight"));
      const int64_t* wrow = wv.data() + oc * k_len;
      for (int64_t y = 0; y < oh; ++y) {
        for (int64_t xo = 0; xo < ow; ++xo) {
          // im2col of one output position: k = (ic * KH + i) * KW + j.
          size_t k = 0;
          for (int64_t ic = 0; ic < cg; ++ic) {
            const int64_t cin = grp * cg + ic;
            for (int64_t i = 0; i < kh; ++i) {
              const int64_t iy = y * sh - pt + i * dh;
              for (int64_t j = 0; j < kw; ++j) {
                const int64_t ix = xo * sw - pl + j * dw;
                const bool inside = iy >= 0 && iy < h && ix >= 0 && ix < wd;
                patch[k++] =
                    inside ? xv[static_cast<size_t>(((b * c + cin) * h + iy) * wd + ix)] : pad;
              }
            }
          }
          int64_t acc = dot(patch, wrow, 1, k_len, z_x, zw, pair, model);
          if (!bv.empty()) acc = accumulate(acc, bv[static_cast<size_t>(oc)], model);
          out[static_cast<size_t>(((b * m + oc) * oh + y) * ow + xo)] = acc;
        }
      }
    }
  }
  return make_integer_tensor(DType::kInt64, {n, m, oh, ow}, out);
}

namespace {

// C[M, N] = A[M, K] (element (i, k) at a_off + i * a_rs + k * a_cs) x B[K, N] (likewise).
Result<std::vector<int64_t>> gemm_core(const std::vector<int64_t>& av, int64_t a_off, int64_t a_rs,
                                       int64_t a_cs, const std::vector<int64_t>& bv, int64_t b_off,
                                       int64_t b_rs, int64_t b_cs, int64_t m, int64_t k_len,
                                       int64_t n, int64_t z_a, const std::vector<int32_t>& z_b,
                                       bool pair, const AccumulatorModel& model) {
  std::vector<int64_t> out(static_cast<size_t>(m * n));
  std::vector<int64_t> row(static_cast<size_t>(k_len));
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t k = 0; k < k_len; ++k) {
      row[static_cast<size_t>(k)] = av[static_cast<size_t>(a_off + i * a_rs + k * a_cs)];
    }
    for (int64_t j = 0; j < n; ++j) {
      QDIFF_ASSIGN_OR_RETURN(const int64_t zb, zero_point_for(z_b, j, n, "weight B"));
      out[static_cast<size_t>(i * n + j)] =
          dot(row, bv.data() + b_off + j * b_cs, b_rs, k_len, z_a, zb, pair, model);
    }
  }
  return out;
}

}  // namespace

Result<Tensor> gemm_accumulate(const Tensor& a, int32_t z_a, const Tensor& b,
                               const std::vector<int32_t>& z_b, bool trans_a, bool trans_b,
                               const Tensor& bias, const AccumulatorModel& model) {
  QDIFF_RETURN_IF_ERROR(check_model(model));
  if (a.rank() != 2 || b.rank() != 2) return invalid_argument("integer Gemm: A and B must be 2-D");
  QDIFF_ASSIGN_OR_RETURN(std::vector<int64_t> av, integer_values(a, "Gemm input A"));
  QDIFF_ASSIGN_OR_RETURN(std::vector<int64_t> bv, integer_values(b, "Gemm input B"));
  QDIFF_ASSIGN_OR_RETURN(std::vector<int64_t> cv, bias_values(bias, "Gemm"));
  const int64_t m = trans_a ? a.dim(1) : a.dim(0);
  const int64_t k_len = trans_a ? a.dim(0) : a.dim(1);
  const int64_t kb = trans_b ? b.dim(1) : b.dim(0);
  const int64_t n = trans_b ? b.dim(0) : b.dim(1);
  if (k_len != kb) {
    return invalid_argument("integer Gemm: inner dimensions differ: A " +
                            shape_to_string(a.shape()) + ", B " + shape_to_string(b.shape()));
  }
  const int64_t a_rs = trans_a ? 1 : k_len, a_cs = trans_a ? m : 1;
  const int64_t b_rs = trans_b ? 1 : n, b_cs = trans_b ? k_len : 1;
  QDIFF_ASSIGN_OR_RETURN(std::vector<int64_t> out,
                         gemm_core(av, 0, a_rs, a_cs, bv, 0, b_rs, b_cs, m, k_len, n, z_a, z_b,
                                   use_pairs(a, b, model), model));
  if (!cv.empty()) {
    const int64_t cn = static_cast<int64_t>(cv.size());
    if (cn != 1 && cn != n && cn != m * n) {
      return invalid_argument("integer Gemm: bias C has " + std::to_string(cn) +
                              " elements; expected 1, N or M*N");
    }
    for (int64_t i = 0; i < m; ++i) {
      for (int64_t j = 0; j < n; ++j) {
        const int64_t cval =
            cn == 1 ? cv[0]
                    : (cn == n ? cv[static_cast<size_t>(j)] : cv[static_cast<size_t>(i * n + j)]);
        auto& o = out[static_cast<size_t>(i * n + j)];
        o = accumulate(o, cval, model);
      }
    }
  }
  return make_integer_tensor(DType::kInt64, {m, n}, out);
}

Result<Tensor> matmul_accumulate(const Tensor& a, int32_t z_a, const Tensor& b,
                                 const std::vector<int32_t>& z_b, const AccumulatorModel& model) {
  QDIFF_RETURN_IF_ERROR(check_model(model));
  if (a.rank() < 2 || b.rank() < 2) return invalid_argument("integer MatMul: ranks must be >= 2");
  const int64_t m = a.dim(a.rank() - 2), k_len = a.dim(a.rank() - 1);
  const int64_t kb = b.dim(b.rank() - 2), n = b.dim(b.rank() - 1);
  if (k_len != kb) {
    return invalid_argument("integer MatMul: inner dimensions differ: A " +
                            shape_to_string(a.shape()) + ", B " + shape_to_string(b.shape()));
  }
  const Shape batch(a.shape().begin(), a.shape().end() - 2);
  if (b.rank() != 2 && Shape(b.shape().begin(), b.shape().end() - 2) != batch) {
    return unsupported("integer MatMul: B must be 2-D or have A's leading dimensions");
  }
  QDIFF_ASSIGN_OR_RETURN(std::vector<int64_t> av, integer_values(a, "MatMul input A"));
  QDIFF_ASSIGN_OR_RETURN(std::vector<int64_t> bv, integer_values(b, "MatMul input B"));
  int64_t batches = 1;
  for (int64_t d : batch) batches *= d;
  std::vector<int64_t> out;
  out.reserve(static_cast<size_t>(batches * m * n));
  for (int64_t bi = 0; bi < batches; ++bi) {
    const int64_t b_off = b.rank() == 2 ? 0 : bi * k_len * n;
    QDIFF_ASSIGN_OR_RETURN(std::vector<int64_t> part,
                           gemm_core(av, bi * m * k_len, k_len, 1, bv, b_off, n, 1, m, k_len, n,
                                     z_a, z_b, use_pairs(a, b, model), model));
    out.insert(out.end(), part.begin(), part.end());
  }
  Shape shape = batch;
  shape.push_back(m);
  shape.push_back(n);
  return make_integer_tensor(DType::kInt64, shape, out);
}

Result<Tensor> requantize_accumulators(const Tensor& acc, const Requantizer& rq,
                                       int64_t channel_axis, DType out_dtype) {
  QDIFF_ASSIGN_OR_RETURN(std::vector<int64_t> av, integer_values(acc, "accumulators"));
  int64_t inner = 1, dim = 1;
  if (channel_axis >= 0) {
    if (channel_axis >= acc.rank())
      return invalid_argument("requantize: channel axis out of range");
    dim = acc.dim(channel_axis);
    for (int64_t d = channel_axis + 1; d < acc.rank(); ++d) inner *= acc.dim(d);
    if (rq.channels() != 1 && rq.channels() != dim) {
      return invalid_argument("requantize: " + std::to_string(rq.channels()) +
                              " channel multipliers for " + std::to_string(dim) + " channels");
    }
  } else if (rq.channels() != 1) {
    return invalid_argument("requantize: per-channel multipliers need a channel axis");
  }
  std::vector<int64_t> out(av.size());
  for (size_t i = 0; i < av.size(); ++i) {
    const int64_t ch = channel_axis >= 0 ? (static_cast<int64_t>(i) / inner) % dim : 0;
    out[i] = rq.apply(av[i], ch);
  }
  return make_integer_tensor(out_dtype, acc.shape(), out);
}

namespace {

Result<Requantizer> make_requantizer(const QuantParams& x_params, const QuantParams& w_params,
                                     const QuantParams& y_params, const QLinearOptions& options) {
  QDIFF_RETURN_IF_ERROR(x_params.validate());
  QDIFF_RETURN_IF_ERROR(w_params.validate());
  QDIFF_RETURN_IF_ERROR(y_params.validate());
  if (x_params.per_channel() || y_params.per_channel()) {
    return unsupported("integer linear op: input and output must be quantized per tensor");
  }
  RequantInputs in;
  in.s_x = x_params.scales[0];
  in.s_w = w_params.scales;
  in.s_y = y_params.scales[0];
  in.z_y = y_params.zero_points[0];
  in.qmin = y_params.qmin();
  in.qmax = y_params.qmax();
  if (options.relu) in.act_min = in.z_y;
  in.float_bias = options.float_bias;
  return Requantizer::create(in, options.spec);
}

}  // namespace

Result<Tensor> qlinear_conv(const Tensor& x, const QuantParams& x_params, const Tensor& w,
                            const QuantParams& w_params, const Tensor& bias,
                            const QuantParams& y_params, const ConvParams& params,
                            const QLinearOptions& options) {
  QDIFF_ASSIGN_OR_RETURN(Requantizer rq, make_requantizer(x_params, w_params, y_params, options));
  if (w_params.per_channel() && w_params.axis != 0) {
    return unsupported("integer Conv: per-channel weights must use axis 0");
  }
  QDIFF_ASSIGN_OR_RETURN(
      Tensor acc, conv_accumulate(x, x_params.zero_points[0], w, w_params.zero_points, bias, params,
                                  options.model));
  return requantize_accumulators(acc, rq, 1, storage_dtype(y_params));
}

Result<Tensor> qlinear_gemm(const Tensor& a, const QuantParams& a_params, const Tensor& b,
                            const QuantParams& b_params, bool trans_a, bool trans_b,
                            const Tensor& bias, const QuantParams& y_params,
                            const QLinearOptions& options) {
  QDIFF_ASSIGN_OR_RETURN(Requantizer rq, make_requantizer(a_params, b_params, y_params, options));
  QDIFF_ASSIGN_OR_RETURN(
      Tensor acc, gemm_accumulate(a, a_params.zero_points[0], b, b_params.zero_points, trans_a,
                                  trans_b, bias, options.model));
  return requantize_accumulators(acc, rq, b_params.per_channel() ? 1 : -1, storage_dtype(y_params));
}

Result<Tensor> qlinear_matmul(const Tensor& a, const QuantParams& a_params, const Tensor& b,
                              const QuantParams& b_params, const QuantParams& y_params,
                              const QLinearOptions& options) {
  QDIFF_ASSIGN_OR_RETURN(Requantizer rq, make_requantizer(a_params, b_params, y_params, options));
  QDIFF_ASSIGN_OR_RETURN(Tensor acc, matmul_accumulate(a, a_params.zero_points[0], b,
                                                       b_params.zero_points, options.model));
  return requantize_accumulators(acc, rq, b_params.per_channel() ? acc.rank() - 1 : -1,
                                 storage_dtype(y_params));
}

}  // namespace qdiff::intkernels
