#include "intkernels/pool.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "intkernels/common.h"
#include "numerics/fixed_point.h"
#include "numerics/rounding.h"
#include "numerics/saturate.h"

namespace qdiff::intkernels {

using targets::AvgPoolScheme;

namespace {

struct Geometry {
  int64_t n, c, h, w, kh, kw, sh, sw, pt, pl, pb, pr, dh, dw, oh, ow;
};

Result<Geometry> geometry(const Tensor& x, const PoolParams& p) {
  if (x.rank() != 4) return unsupported("integer pooling: only 2-D NCHW (rank-4) inputs");
  if (p.kernel.size() != 2) return invalid_argument("integer pooling: kernel needs 2 values");
  if ((!p.strides.empty() && p.strides.size() != 2) || (!p.pads.empty() && p.pads.size() != 4) ||
      (!p.dilations.empty() && p.dilations.size() != 2)) {
    return invalid_argument("integer pooling: strides/dilations need 2 values and pads 4");
  }
  Geometry g{};
  g.n = x.dim(0), g.c = x.dim(1), g.h = x.dim(2), g.w = x.dim(3);
  g.kh = p.kernel[0], g.kw = p.kernel[1];
  g.sh = p.strides.empty() ? 1 : p.strides[0];
  g.sw = p.strides.empty() ? 1 : p.strides[1];
  g.pt = p.pads.empty() ? 0 : p.pads[0];
  g.pl = p.pads.empty() ? 0 : p.pads[1];
  g.pb = p.pads.empty() ? 0 : p.pads[2];
  g.pr = p.pads.empty() ? 0 : p.pads[3];
  g.dh = p.dilations.empty() ? 1 : p.dilations[0];
  g.dw = p.dilations.empty() ? 1 : p.dilations[1];
  if (g.kh < 1 || g.kw < 1 || g.sh < 1 || g.sw < 1 || g.dh < 1 || g.dw < 1 || g.pt < 0 ||
      g.pl < 0 || g.pb < 0 || g.pr < 0) {
    return invalid_argument("integer pooling: kernel/strides/dilations must be >= 1, pads >= 0");
  }
  g.oh = (g.h + g.pt + g.pb - (g.dh * (g.kh - 1) + 1)) / g.sh + 1;
  g.ow = (g.w + g.pl + g.pr - (g.dw * (g.kw - 1) + 1)) / g.sw + 1;
  if (g.oh < 1 || g.ow < 1) return invalid_argument("integer pooling: empty output");
  return g;
}

Status check_same(const QuantParams& in, const QuantParams& out, const char* scheme) {
  if (!(in == out)) {
    return invalid_argument(std::string(scheme) +
                            " average pooling needs equal input and output parameters");
  }
  return Status();
}

int64_t rhaz_div(int64_t sum, int64_t n) {  // TFLite: (sum +- n/2) / n, C division
  return sum > 0 ? (sum + n / 2) / n : (sum - n / 2) / n;
}

}  // namespace

DpuCoefficient dpu_avgpool_coefficient(int64_t taps) {
  QDIFF_ASSERT(taps >= 1, "dpu_avgpool_coefficient: taps must be >= 1");
  switch (taps) {
    case 9:
      return {7, 6};
    case 25:
      return {10, 8};
    case 36:
      return {7, 8};
    case 49:
      return {21, 10};
    case 196:
      return {21, 12};
    default:
      break;
  }
  const int limit = static_cast<int>(std::ceil(std::log2(128.0 * static_cast<double>(taps))));
  DpuCoefficient best{1, 0};
  double best_err = std::numeric_limits<double>::infinity();
  const double target = 1.0 / static_cast<double>(taps);
  for (int s = 0; s < limit && s < 62; ++s) {
    const double m = round_float(std::ldexp(1.0, s) / static_cast<double>(taps),
                                 RoundingMode::kHalfAwayFromZero);
    const double err = std::fabs(m / std::ldexp(1.0, s) - target);
    if (m >= 1.0 && err < best_err) {
      best_err = err;
      best = {static_cast<int64_t>(m), s};
    }
  }
  return best;
}

Result<Tensor> max_pool(const Tensor& x, const PoolParams& params) {
  QDIFF_ASSIGN_OR_RETURN(Geometry g, geometry(x, params));
  QDIFF_ASSIGN_OR_RETURN(std::vector<int64_t> xv, integer_values(x, "MaxPool input"));
  std::vector<int64_t> out(static_cast<size_t>(g.n * g.c * g.oh * g.ow));
  size_t o = 0;
  for (int64_t nc = 0; nc < g.n * g.c; ++nc) {
    for (int64_t y = 0; y < g.oh; ++y) {
      for (int64_t xo = 0; xo < g.ow; ++xo) {
        int64_t best = std::numeric_limits<int64_t>::min();
        for (int64_t i = 0; i < g.kh; ++i) {
          const int64_t iy = y * g.sh - g.pt + i * g.dh;
          if (iy < 0 || iy >= g.h) continue;
          for (int64_t j = 0; j < g.kw; ++j) {
            const int64_t ix = xo * g.sw - g.pl + j * g.dw;
            if (ix < 0 || ix >= g.w) continue;
            best = std::max(best, xv[static_cast<size_t>((nc * g.h + iy) * g.w + ix)]);
          }
        }
        if (best == std::numeric_limits<int64_t>::min()) {
          return invalid_argument("MaxPool: a window lies entirely in the padding");
        }
        out[o++] = best;
      }
    }
  }
  return make_integer_tensor(x.dtype(), {g.n, g.c, g.oh, g.ow}, out);
}

Result<Tensor> avg_pool(const Tensor& x, const QuantParams& in, const QuantParams& out,
                        const PoolParams& params, AvgPoolScheme scheme) {
  QDIFF_RETURN_IF_ERROR(in.validate());
  QDIFF_RETURN_IF_ERROR(out.validate());
  if (in.per_channel() || out.per_channel()) {
    return unsupported("integer AveragePool: per-tensor parameters only");
  }
  if (!params.dilations.empty() && (params.dilations[0] != 1 || params.dilations[1] != 1)) {
    return unsupported("integer AveragePool: dilations are not supported");
  }
  QDIFF_ASSIGN_OR_RETURN(Geometry g, geometry(x, params));
  QDIFF_ASSIGN_OR_RETURN(std::vector<int64_t> xv, integer_values(x, "AveragePool input"));
  if (scheme != AvgPoolScheme::kFloat) {
    QDIFF_RETURN_IF_ERROR(
        check_same(in, out, scheme == AvgPoolScheme::kValidCountRhaz ? "TFLite" : "DPU"));
  }
  if (scheme == AvgPoolScheme::kDpuMultiplier && in.zero_points[0] != 0) {
    return invalid_argument("DPU average pooling needs zero point 0");
  }
  const float s_in = in.scales[0], s_out = out.scales[0];
  const int32_t z_in = in.zero_points[0], z_out = out.zero_points[0];
  const DpuCoefficient dpu = dpu_avgpool_coefficient(g.kh * g.kw);
  std::vector<int64_t> res(static_cast<size_t>(g.n * g.c * g.oh * g.ow));
  size_t o = 0;
  for (int64_t nc = 0; nc < g.n * g.c; ++nc) {
    for (int64_t y = 0; y < g.oh; ++y) {
      const int64_t h0 = y * g.sh - g.pt;
      const int64_t hs = std::max<int64_t>(h0, 0), he = std::min(h0 + g.kh, g.h);
      for (int64_t xo = 0; xo < g.ow; ++xo) {
        const int64_t w0 = xo * g.sw - g.pl;
        const int64_t ws = std::max<int64_t>(w0, 0), we = std::min(w0 + g.kw, g.w);
        const int64_t valid = std::max<int64_t>(he - hs, 0) * std::max<int64_t>(we - ws, 0);
        if (scheme == AvgPoolScheme::kFloat) {
          float sum = 0.0f;
          for (int64_t i = hs; i < he; ++i) {
            for (int64_t j = ws; j < we; ++j) {
              sum += dequantize(
                  static_cast<int32_t>(xv[static_cast<size_t>((nc * g.h + i) * g.w + j)]), s_in,
                  z_in);
            }
          }
          const int64_t count = params.count_include_pad ? g.kh * g.kw : valid;
          const float avg = sum / static_cast<float>(count);
          const float v = avg / s_out + static_cast<float>(z_out);
          const double r = round_float(v, RoundingMode::kHalfToEven);
          res[o++] = saturate_float(r, out.qmin(), out.qmax());
          continue;
        }
        int64_t sum = 0;
        for (int64_t i = hs; i < he; ++i) {
          for (int64_t j = ws; j < we; ++j)
            sum += xv[static_cast<size_t>((nc * g.h + i) * g.w + j)];
        }
        int64_t v = 0;
        if (scheme == AvgPoolScheme::kValidCountRhaz) {
          if (valid == 0)
            return invalid_argument("AveragePool: a window lies entirely in the padding");
          v = rhaz_div(sum, valid);
        } else {
          v = rounding_shift_right(sum * dpu.multiplier, dpu.shift, RoundingMode::kHalfUp);
        }
        res[o++] = saturate_to(v, int64_t{out.qmin()}, int64_t{out.qmax()});
      }
    }
  }
  return make_integer_tensor(storage_dtype(out), {g.n, g.c, g.oh, g.ow}, res);
}

Result<Tensor> global_avg_pool(const Tensor& x, const QuantParams& in, const QuantParams& out,
                               AvgPoolScheme scheme) {
  QDIFF_RETURN_IF_ERROR(in.validate());
  QDIFF_RETURN_IF_ERROR(out.validate());
  if (in.per_channel() || out.per_channel()) {
    return unsupported("integer GlobalAveragePool: per-tensor parameters only");
  }
  if (x.rank() < 3) return invalid_argument("GlobalAveragePool: input rank must be >= 3");
  QDIFF_ASSIGN_OR_RETURN(std::vector<int64_t> xv, integer_values(x, "GlobalAveragePool input"));
  const int64_t nc = x.dim(0) * x.dim(1);
  const int64_t hw = x.numel() / std::max<int64_t>(nc, 1);
  Shape out_shape = x.shape();
  for (size_t d = 2; d < out_shape.size(); ++d) out_shape[d] = 1;
  float scale = 0.0f;
  if (scheme == AvgPoolScheme::kFloat) {
    if (hw >= (int64_t{1} << 24)) {
      return invalid_argument("GlobalAveragePool: image size " + std::to_string(hw) +
                              " too large (ORT limit 2^24)");
    }
    scale = in.scales[0] / (out.scales[0] * static_cast<float>(hw));
    if (!(scale >= 0x1.0p-32f && scale < 256.0f)) {
      return invalid_argument("GlobalAveragePool: s_in / (s_out * HW) = " + std::to_string(scale) +
                              " outside ORT's range [2^-32, 256)");
    }
  } else {
    QDIFF_RETURN_IF_ERROR(
        check_same(in, out, scheme == AvgPoolScheme::kValidCountRhaz ? "TFLite" : "DPU"));
  }
  const DpuCoefficient dpu = dpu_avgpool_coefficient(hw);
  std::vector<int64_t> res(static_cast<size_t>(nc));
  for (int64_t i = 0; i < nc; ++i) {
    int64_t sum = 0;
    for (int64_t k = 0; k < hw; ++k) sum += xv[static_cast<size_t>(i * hw + k)];
    switch (scheme) {
      case AvgPoolScheme::kFloat: {
        const int32_t acc = static_cast<int32_t>(sum - int64_t{in.zero_points[0]} * hw);
        res[static_cast<size_t>(i)] =
            requantize_fp32(acc, scale, out.zero_points[0], out.qmin(), out.qmax());
        break;
      }
      case AvgPoolScheme::kValidCountRhaz:
        res[static_cast<size_t>(i)] =
            saturate_to(rhaz_div(sum, hw), int64_t{out.qmin()}, int64_t{out.qmax()});
        break;
      case AvgPoolScheme::kDpuMultiplier:
        res[static_cast<size_t>(i)] = saturate_to(
            rounding_shift_right(sum * dpu.multiplier, dpu.shift, RoundingMode::kHalfUp),
            int64_t{out.qmin()}, int64_t{out.qmax()});
        break;
    }
  }
  return make_integer_tensor(storage_dtype(out), out_shape, res);
}

}  // namespace qdiff::intkernels
