// Resize (opsets 10-19) and Upsample (7, 9) reference kernels: nearest, linear and cubic modes
// as N-D separable interpolation. Coordinates follow the ONNX reference implementation
// (onnx/backend/test/case/node/resize.py), which generated the conformance data.
#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "kernels/reference/common.h"
#include "kernels/reference/reference.h"

namespace qdiff::kernels::ref {
namespace {

struct ResizeConfig {
  std::string mode = "nearest";                     // nearest | linear | cubic
  std::string coord = "half_pixel";                 // coordinate_transformation_mode
  std::string nearest_mode = "round_prefer_floor";  // or round_prefer_ceil | floor | ceil | simple
  double cubic_a = -0.75;
  bool exclude_outside = false;
  double extrapolation = 0.0;
};

// Per axis: input/output length, the scale, the resized length used by align_corners (the
// reference uses scale * input length when scales are given) and the roi.
struct AxisSpec {
  int64_t in = 1, out = 1;
  double scale = 1.0;
  double length_resized = 1.0;
  double roi_start = 0.0, roi_end = 1.0;
};

struct Tap {
  int64_t index;
  double weight;
};

// Original coordinate of output index x; sets *outside for tf_crop_and_resize extrapolation.
double original_coordinate(const ResizeConfig& c, const AxisSpec& a, int64_t xi, bool* outside) {
  const double x = static_cast<double>(xi);
  const double in = static_cast<double>(a.in);
  *outside = false;
  if (c.coord == "align_corners") {
    return a.length_resized == 1.0 ? 0.0 : x * (in - 1) / (a.length_resized - 1);
  }
  if (c.coord == "asymmetric") return x / a.scale;
  if (c.coord == "tf_crop_and_resize") {
    double xo = a.out == 1 ? (a.roi_end - a.roi_start) * (in - 1) / 2
                           : x * (a.roi_end - a.roi_start) * (in - 1) / (a.length_resized - 1);
    xo += a.roi_start * (in - 1);
    if (xo < 0 || xo > in - 1) *outside = true;
    return xo;
  }
  if (c.coord == "pytorch_half_pixel") return a.out > 1 ? (x + 0.5) / a.scale - 0.5 : 0.0;
  if (c.coord == "half_pixel_symmetric") {
    const double output_width = a.scale * in;
    const double adjustment = static_cast<double>(a.out) / output_width;
    const double offset = in / 2 * (1 - adjustment);
    return offset + (x + 0.5) / a.scale - 0.5;
  }
  if (c.coord == "tf_half_pixel_for_nn") return (x + 0.5) / a.scale;
  return (x + 0.5) / a.scale - 0.5;  // half_pixel
}

std::vector<double> cubic_coeffs(double r, double A) {
  return {((A * (r + 1) - 5 * A) * (r + 1) + 8 * A) * (r + 1) - 4 * A,
          ((A + 2) * r - (A + 3)) * r * r + 1,
          ((A + 2) * (1 - r) - (A + 3)) * (1 - r) * (1 - r) + 1,
          ((A * ((1 - r) + 1) - 5 * A) * ((1 - r) + 1) + 8 * A) * ((1 - r) + 1) - 4 * A};
}

int64_t clamp_index(double v, int64_t n) {
  if (!(v > 0)) return 0;  // NaN and negatives
  if (v >= static_cast<double>(n - 1)) return n - 1;
  return static_cast<int64_t>(v);
}

// Interpolation taps of one axis for output index x; empty with *outside for extrapolation.
std::vector<Tap> axis_taps(const ResizeConfig& c, const AxisSpec& a, int64_t x, bool* outside) {
  const double xo = original_coordinate(c, a, x, outside);
  if (*outside) return {};
  const int64_t n = a.in;
  if (!std::isfinite(xo)) return {{clamp_index(xo, n), 1.0}};
  const double fl = std::floor(xo);
  // Clamp far-away coordinates so the integer conversion below is defined; taps clamp anyway.
  const double lim = static_cast<double>(n) + 8;
  const double base_d = std::min(std::max(fl, -lim), lim);
  int64_t base = static_cast<int64_t>(base_d);
  double ratio = xo - fl;
  if (c.mode == "nearest") {
    int64_t idx = base;
    if (c.nearest_mode == "simple") {  // opset < 11: floor when upsampling, ceil when downsampling
      idx =
          a.scale < 1.0 ? static_cast<int64_t>(std::min(std::max(std::ceil(xo), -lim), lim)) : base;
    } else if (ratio == 0.0) {
      idx = base;
    } else if (c.nearest_mode == "round_prefer_floor") {
      idx = ratio <= 0.5 ? base : base + 1;
    } else if (c.nearest_mode == "round_prefer_ceil") {
      idx = ratio < 0.5 ? base : base + 1;
    } else if (c.nearest_mode == "floor") {
      idx = base;
    } else {
      idx = base + 1;
    }
    return {{std::min(std::max<int64_t>(idx, 0), n - 1), 1.0}};
  }
  // The reference prefers the left neighbours: an integer coordinate k is k-1 with ratio 1.
  if (ratio == 0.0) {
    base -= 1;
    ratio = 1.0;
  }
  std::vector<double> coeffs;
  int64_t first = base;
  if (c.mode == "linear") {
    coeffs = {1 - ratio, ratio};
  } else {
    coeffs = cubic_coeffs(ratio, c.cubic_a);
    first = base - 1;
  }
  if (c.exclude_outside) {
    double sum = 0;
    for (size_t i = 0; i < coeffs.size(); ++i) {
      const int64_t idx = first + static_cast<int64_t>(i);
      if (idx < 0 || idx >= n) coeffs[i] = 0;
      sum += coeffs[i];
    }
    if (sum != 0)
      for (double& w : coeffs) w /= sum;
  }
  std::vector<Tap> taps;
  for (size_t i = 0; i < coeffs.size(); ++i) {
    if (coeffs[i] == 0.0) continue;
    const int64_t idx = std::min(std::max<int64_t>(first + static_cast<int64_t>(i), 0), n - 1);
    taps.push_back({idx, coeffs[i]});
  }
  return taps;
}

template <typename T>
void resize_compute(const Tensor& x, const std::vector<std::vector<std::vector<Tap>>>& taps,
                    const std::vector<std::vector<char>>& outside, double extrapolation,
                    Tensor* y) {
  const size_t rank = taps.size();
  const std::vector<int64_t> in_strides = strides_of(x.shape());
  const T* xd = x.data<T>();
  T* yd = y->mutable_data<T>();
  const int64_t total = y->numel();
  std::vector<int64_t> o(rank, 0), t(rank, 0);
  std::vector<const std::vector<Tap>*> cur(rank);
  for (int64_t k = 0; k < total; ++k) {
    bool out_of_roi = false;
    bool empty = false;
    for (size_t d = 0; d < rank; ++d) {
      const size_t od = static_cast<size_t>(o[d]);
      if (outside[d][od]) out_of_roi = true;
      cur[d] = &taps[d][od];
      if (cur[d]->empty()) empty = true;
    }
    if (out_of_roi) {
      yd[k] = static_cast<T>(extrapolation);
    } else if (empty) {
      yd[k] = T(0);
    } else {
      double sum = 0;
      std::fill(t.begin(), t.end(), 0);
      while (true) {
        double w = 1;
        int64_t off = 0;
        for (size_t d = 0; d < rank; ++d) {
          const Tap& tap = (*cur[d])[static_cast<size_t>(t[d])];
          w *= tap.weight;
          off += tap.index * in_strides[d];
        }
        sum += w * static_cast<double>(xd[off]);
        size_t d = rank;
        while (d-- > 0) {
          if (++t[d] < static_cast<int64_t>(cur[d]->size())) break;
          t[d] = 0;
        }
        if (d == static_cast<size_t>(-1)) break;
      }
      yd[k] = static_cast<T>(sum);
    }
    for (size_t d = rank; d-- > 0;) {
      if (++o[d] < y->dim(static_cast<int64_t>(d))) break;
      o[d] = 0;
    }
  }
}

// Validates, builds the taps and runs the interpolation.
Status run_resize(KernelContext& ctx, const char* op, const Tensor& x, const ResizeConfig& c,
                  const std::vector<AxisSpec>& axes) {
  const std::string o(op);
  const bool is_int = dtype_is_integer(x.dtype());
  if (x.dtype() != DType::kFloat32 && x.dtype() != DType::kFloat64 && !is_int)
    return dtype_error(op, 0, x.dtype(), "a float or integer type");
  if (is_int && c.mode != "nearest")
    return unsupported(o + ": " + c.mode + " mode on integer tensors is not supported");
  qdiff::Shape out_shape;
  for (size_t d = 0; d < axes.size(); ++d) {
    if (axes[d].in == 0 && axes[d].out > 0)
      return invalid_argument(o + ": cannot resize an empty axis " + str(static_cast<int64_t>(d)));
    out_shape.push_back(axes[d].out);
  }
  QDIFF_ASSIGN_OR_RETURN(Tensor * y, ctx.alloc_output(0, x.dtype(), out_shape));
  std::vector<std::vector<std::vector<Tap>>> taps(axes.size());
  std::vector<std::vector<char>> outside(axes.size());
  for (size_t d = 0; d < axes.size(); ++d) {
    taps[d].resize(static_cast<size_t>(axes[d].out));
    outside[d].resize(static_cast<size_t>(axes[d].out));
    for (int64_t i = 0; i < axes[d].out; ++i) {
      bool out = false;
      taps[d][static_cast<size_t>(i)] = axis_taps(c, axes[d], i, &out);
      outside[d][static_cast<size_t>(i)] = out ? 1 : 0;
    }
  }
  visit_dtype(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (!std::is_same_v<T, bool>) resize_compute<T>(x, taps, outside, c.extrapolation, y);
  });
  return Status::ok_status();
}

// Output length from a scale (floor of in * scale, as the reference).
Status length_from_scale(const char* op, int64_t in, double scale, int64_t* out) {
  if (!(scale > 0) || !std::isfinite(scale))
    return invalid_model(std::string(op) + ": scales must be positive, got " +
                         std::to_string(scale));
  const double v = std::floor(static_cast<double>(in) * scale);
  if (v > 9.0e15) return resource_limit(std::string(op) + ": output size too large");
  *out = static_cast<int64_t>(v);
  return Status::ok_status();
}

// Opset < 11 (Upsample, Resize-10): scales per dim, asymmetric coordinates.
Status resize_legacy(KernelContext& ctx, const char* op, const Tensor& x,
                     const std::vector<float>& scales) {
  const std::string o(op);
  Result<std::string> mode_r = ctx.attrs.get_string("mode", "nearest");
  if (!mode_r.ok()) return mode_r.status();
  const std::string mode = mode_r.value() == "bilinear" ? "linear" : mode_r.value();
  if (mode != "nearest" && mode != "linear")
    return invalid_model(o + ": mode must be nearest or linear, got '" + mode + "'");
  if (static_cast<int64_t>(scales.size()) != x.rank())
    return invalid_model(o + ": expected " + str(x.rank()) + " scales, got " +
                         str(static_cast<int64_t>(scales.size())));
  ResizeConfig c;
  c.mode = mode;
  c.coord = "asymmetric";
  c.nearest_mode = "simple";
  std::vector<AxisSpec> axes(static_cast<size_t>(x.rank()));
  for (size_t d = 0; d < axes.size(); ++d) {
    axes[d].in = x.dim(static_cast<int64_t>(d));
    axes[d].scale = scales[d];
    QDIFF_RETURN_IF_ERROR(length_from_scale(op, axes[d].in, axes[d].scale, &axes[d].out));
    axes[d].length_resized = axes[d].scale * static_cast<double>(axes[d].in);
  }
  return run_resize(ctx, op, x, c, axes);
}

}  // namespace

Status Upsample(KernelContext& ctx) {
  QDIFF_ASSIGN_OR_RETURN(const Tensor* x, required_input(ctx, 0));
  std::vector<float> scales;
  if (ctx.opset < 9) {
    QDIFF_ASSIGN_OR_RETURN(scales, ctx.attrs.get_floats("scales", {}));
  } else {
    QDIFF_ASSIGN_OR_RETURN(const Tensor* s, required_input(ctx, 1));
    if (s->dtype() != DType::kFloat32) return dtype_error("Upsample", 1, s->dtype(), "float32");
    scales = s->to_f32_vector();
  }
  for (float s : scales)
    if (!(s >= 1.0f))
      return invalid_model("Upsample: scales must be >= 1, got " + std::to_string(s));
  return resize_legacy(ctx, "Upsample", *x, scales);
}

Status Resize(KernelContext& ctx) {
  QDIFF_ASSIGN_OR_RETURN(const Tensor* x, required_input(ctx, 0));
  const int64_t rank = x->rank();
  if (ctx.opset < 11) {
    QDIFF_ASSIGN_OR_RETURN(const Tensor* s, required_input(ctx, 1));
    if (s->dtype() != DType::kFloat32) return dtype_error("Resize", 1, s->dtype(), "float32");
    return resize_legacy(ctx, "Resize", *x, s->to_f32_vector());
  }
  ResizeConfig c;
  QDIFF_ASSIGN_OR_RETURN(c.mode, ctx.attrs.get_string("mode", "nearest"));
  if (c.mode != "nearest" && c.mode != "linear" && c.mode != "cubic")
    return invalid_model("Resize: mode must be nearest, linear or cubic, got '" + c.mode + "'");
  QDIFF_ASSIGN_OR_RETURN(c.coord,
                         ctx.attrs.get_string("coordinate_transformation_mode", "half_pixel"));
  const bool coord_ok = c.coord == "half_pixel" || c.coord == "pytorch_half_pixel" ||
                        c.coord == "align_corners" || c.coord == "asymmetric" ||
                        c.coord == "tf_crop_and_resize" ||
                        (c.coord == "tf_half_pixel_for_nn" && ctx.opset < 13) ||
                        (c.coord == "half_pixel_symmetric" && ctx.opset >= 19);
  if (!coord_ok)
    return invalid_model("Resize: invalid coordinate_transformation_mode '" + c.coord + "'");
  QDIFF_ASSIGN_OR_RETURN(c.nearest_mode,
                         ctx.attrs.get_string("nearest_mode", "round_prefer_floor"));
  if (c.nearest_mode != "round_prefer_floor" && c.nearest_mode != "round_prefer_ceil" &&
      c.nearest_mode != "floor" && c.nearest_mode != "ceil")
    return invalid_model("Resize: invalid nearest_mode '" + c.nearest_mode + "'");
  QDIFF_ASSIGN_OR_RETURN(float cubic_a, ctx.attrs.get_float("cubic_coeff_a", -0.75f));
  c.cubic_a = cubic_a;
  QDIFF_ASSIGN_OR_RETURN(int64_t excl, ctx.attrs.get_int("exclude_outside", 0));
  c.exclude_outside = excl != 0;
  QDIFF_ASSIGN_OR_RETURN(float ev, ctx.attrs.get_float("extrapolation_value", 0.0f));
  c.extrapolation = ev;
  QDIFF_ASSIGN_OR_RETURN(int64_t antialias, ctx.attrs.get_int("antialias", 0));
  if (antialias != 0) return unsupported("Resize: antialias is not supported");
  QDIFF_ASSIGN_OR_RETURN(std::string policy,
                         ctx.attrs.get_string("keep_aspect_ratio_policy", "stretch"));
  if (policy != "stretch" && policy != "not_larger" && policy != "not_smaller")
    return invalid_model("Resize: invalid keep_aspect_ratio_policy '" + policy + "'");

  // Axes the roi/scales/sizes refer to (opset 18); all axes by default.
  std::vector<int64_t> axes_list;
  QDIFF_ASSIGN_OR_RETURN(std::vector<int64_t> axes_attr, ctx.attrs.get_ints("axes", {}));
  if (!axes_attr.empty()) {
    for (int64_t ax : axes_attr) {
      QDIFF_ASSIGN_OR_RETURN(int64_t na, normalize_axis(ax, rank));
      if (std::find(axes_list.begin(), axes_list.end(), na) != axes_list.end())
        return invalid_model("Resize: repeated axis " + str(ax));
      axes_list.push_back(na);
    }
  } else {
    for (int64_t d = 0; d < rank; ++d) axes_list.push_back(d);
  }
  const size_t na = axes_list.size();

  auto present = [&](size_t i) -> const Tensor* {
    const Tensor* t = ctx.input(i);
    return t && t->defined() && t->numel() > 0 ? t : nullptr;
  };
  const Tensor* roi = present(1);
  const Tensor* scales = present(2);
  const Tensor* sizes = present(3);
  if ((scales != nullptr) == (sizes != nullptr))
    return invalid_model("Resize: exactly one of scales and sizes must be given");

  std::vector<AxisSpec> axes(static_cast<size_t>(rank));
  for (int64_t d = 0; d < rank; ++d) {
    axes[static_cast<size_t>(d)].in = x->dim(d);
    axes[static_cast<size_t>(d)].out = x->dim(d);
    axes[static_cast<size_t>(d)].length_resized = static_cast<double>(x->dim(d));
  }
  if (roi && c.coord == "tf_crop_and_resize") {
    if (roi->dtype() != DType::kFloat32 && roi->dtype() != DType::kFloat64)
      return dtype_error("Resize", 1, roi->dtype(), "float32 or float64");
    if (roi->numel() != static_cast<int64_t>(2 * na))
      return invalid_model("Resize: roi must have " + str(static_cast<int64_t>(2 * na)) +
                           " values, got " + str(roi->numel()));
    const std::vector<float> r = roi->to_f32_vector();
    for (size_t i = 0; i < na; ++i) {
      axes[static_cast<size_t>(axes_list[i])].roi_start = r[i];
      axes[static_cast<size_t>(axes_list[i])].roi_end = r[i + na];
    }
  }
  if (scales) {
    if (scales->dtype() != DType::kFloat32)
      return dtype_error("Resize", 2, scales->dtype(), "float32");
    if (scales->numel() != static_cast<int64_t>(na))
      return invalid_model("Resize: expected " + str(static_cast<int64_t>(na)) + " scales, got " +
                           str(scales->numel()));
    const std::vector<float> s = scales->to_f32_vector();
    for (size_t i = 0; i < na; ++i) {
      AxisSpec& a = axes[static_cast<size_t>(axes_list[i])];
      a.scale = s[i];
      QDIFF_RETURN_IF_ERROR(length_from_scale("Resize", a.in, a.scale, &a.out));
      a.length_resized = a.scale * static_cast<double>(a.in);
    }
  } else {
    if (sizes->dtype() != DType::kInt64) return dtype_error("Resize", 3, sizes->dtype(), "int64");
    if (sizes->numel() != static_cast<int64_t>(na))
      return invalid_model("Resize: expected " + str(static_cast<int64_t>(na)) + " sizes, got " +
                           str(sizes->numel()));
    const std::vector<int64_t> sz = sizes->to_i64_vector();
    for (int64_t v : sz)
      if (v < 0 || v > (int64_t{1} << 40)) return invalid_model("Resize: invalid size " + str(v));
    if (policy == "stretch") {
      for (size_t i = 0; i < na; ++i) {
        AxisSpec& a = axes[static_cast<size_t>(axes_list[i])];
        if (a.in == 0) return invalid_argument("Resize: cannot resize an empty axis");
        a.out = sz[i];
        a.scale = static_cast<double>(a.out) / static_cast<double>(a.in);
        a.length_resized = static_cast<double>(a.out);
      }
    } else {
      double scale = policy == "not_larger" ? std::numeric_limits<double>::infinity() : 0.0;
      for (size_t i = 0; i < na; ++i) {
        const AxisSpec& a = axes[static_cast<size_t>(axes_list[i])];
        if (a.in == 0) return invalid_argument("Resize: cannot resize an empty axis");
        const double s = static_cast<double>(sz[i]) / static_cast<double>(a.in);
        scale = policy == "not_larger" ? std::min(scale, s) : std::max(scale, s);
      }
      for (size_t i = 0; i < na; ++i) {
        AxisSpec& a = axes[static_cast<size_t>(axes_list[i])];
        a.scale = scale;
        a.out = static_cast<int64_t>(std::round(scale * static_cast<double>(a.in)));
        a.length_resized = static_cast<double>(a.out);
      }
    }
    for (AxisSpec& a : axes)
      if (a.out > 0 && a.scale == 0.0)
        return invalid_model("Resize: zero scale for a non-empty output");
  }
  for (const AxisSpec& a : axes)
    if (!(a.scale > 0) && a.out > 0) return invalid_model("Resize: scales must be positive");
  return run_resize(ctx, "Resize", *x, c, axes);
}

}  // namespace qdiff::kernels::ref
