#include "intkernels/elementwise.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <optional>
#include <string>
#include <type_traits>

#include "intkernels/common.h"
#include "numerics/fixed_point.h"
#include "numerics/rounding.h"
#include "numerics/saturate.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace qdiff::intkernels {

using targets::AddScheme;
using targets::LutScheme;

namespace {

Status check_per_tensor(const QuantParams& p, const char* what) {
  Status s = p.validate();
  if (!s.ok()) return s.with_context(what);
  if (p.per_channel()) return unsupported(std::string(what) + ": must be quantized per tensor");
  return Status();
}

int float_exponent(float v) {  // unbiased exponent of a normal positive float
  return static_cast<int>((std::bit_cast<uint32_t>(v) >> 23) & 0xFF) - 127;
}

// ORT's broadcast span classification: which operand is constant within the innermost span.
enum class Span : uint8_t { kGeneral, kScalarA, kScalarB };
Span classify_span(const Shape& a, const Shape& b, const Shape& out) {
  int64_t na = 1, nb = 1;
  for (int64_t d : a) na *= d;
  for (int64_t d : b) nb *= d;
  if (na == 1) return Span::kScalarA;
  if (nb == 1) return Span::kScalarB;
  // Innermost output dimension larger than 1.
  for (size_t k = 0; k < out.size(); ++k) {
    const size_t o = out.size() - 1 - k;
    if (out[o] == 1) continue;
    const int64_t da = k < a.size() ? a[a.size() - 1 - k] : 1;
    const int64_t db = k < b.size() ? b[b.size() - 1 - k] : 1;
    if (da == 1) return Span::kScalarA;
    if (db == 1) return Span::kScalarB;
    return Span::kGeneral;
  }
  return Span::kGeneral;
}

struct Pow2 {
  int pos = 0;
};
Result<int> pow2_position(float scale, int32_t zp, const char* what) {
  int e = 0;
  const float m = std::frexp(scale, &e);
  if (m != 0.5f || zp != 0) {
    return invalid_argument(std::string(what) +
                            ": the DPU scheme needs a power-of-two scale and zero point 0");
  }
  return -(e - 1);  // scale = 2^(e-1) = 2^-pos
}

#if defined(__x86_64__)
// AddScheme::kFloat Add/Sub of equal shapes (Span::kGeneral), 8-bit tensors: the element
// function of qlinear_binary below, v = fma(x, ra, fma(y, rb, fixed)), clamped to the output
// grid and rounded half to even, 8 elements at a time with AVX2/FMA (the same single-rounding
// fma and the same rounding: identical results). nullopt: no AVX2/FMA or other dtypes.
template <typename TA, typename TB, typename TC>
__attribute__((target("avx2,fma"))) void add_float_avx2(const TA* a, const TB* b, TC* c, int64_t n,
                                                        float ra, float rb, float fixed, float lo,
                                                        float hi) {
  const __m256 vra = _mm256_set1_ps(ra), vrb = _mm256_set1_ps(rb), vf = _mm256_set1_ps(fixed);
  const __m256 vlo = _mm256_set1_ps(lo), vhi = _mm256_set1_ps(hi);
  int64_t i = 0;
  alignas(32) int32_t q[8];
  for (; i + 8 <= n; i += 8) {
    const __m128i ab = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(a + i));
    const __m128i bb = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(b + i));
    const __m256 x = _mm256_cvtepi32_ps(std::is_signed_v<TA> ? _mm256_cvtepi8_epi32(ab)
                                                             : _mm256_cvtepu8_epi32(ab));
    const __m256 y = _mm256_cvtepi32_ps(std::is_signed_v<TB> ? _mm256_cvtepi8_epi32(bb)
                                                             : _mm256_cvtepu8_epi32(bb));
    __m256 v = _mm256_fmadd_ps(x, vra, _mm256_fmadd_ps(y, vrb, vf));
    v = _mm256_min_ps(_mm256_max_ps(v, vlo), vhi);
    _mm256_store_si256(reinterpret_cast<__m256i*>(q), _mm256_cvtps_epi32(v));
    for (int k = 0; k < 8; ++k) c[i + k] = static_cast<TC>(q[k]);
  }
  for (; i < n; ++i) {
    float v = std::fma(static_cast<float>(a[i]), ra, std::fma(static_cast<float>(b[i]), rb, fixed));
    v = std::min(std::max(v, lo), hi);
    c[i] = static_cast<TC>(static_cast<int32_t>(std::nearbyint(v)));
  }
}

std::optional<Tensor> qlinear_add_float_fast(bool sub, const Tensor& a, const QuantParams& a_params,
                                             const Tensor& b, const QuantParams& b_params,
                                             const QuantParams& c_params, bool relu) {
  static const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  const DType c_dtype = storage_dtype(c_params);
  auto byte = [](DType d) { return d == DType::kUInt8 || d == DType::kInt8; };
  if (!avx2 || !byte(a.dtype()) || !byte(b.dtype()) || !byte(c_dtype)) return std::nullopt;
  // The constants exactly as the element function computes them.
  const float sa = a_params.scales[0], sb = b_params.scales[0], sc = c_params.scales[0];
  const int32_t za = a_params.zero_points[0], zb = b_params.zero_points[0];
  const int32_t zc = c_params.zero_points[0];
  const float ra = sa / sc;
  const float rb = (sub ? -1.0f : 1.0f) * (sb / sc);
  const float fixed =
      static_cast<float>(zc) - (ra * static_cast<float>(za) + rb * static_cast<float>(zb));
  const int32_t lo = relu ? std::max(c_params.qmin(), zc) : c_params.qmin();
  const int32_t hi = c_params.qmax();
  Result<Tensor> made = Tensor::create_for_overwrite(c_dtype, a.shape());
  if (!made.ok()) return std::nullopt;  // the element loop reports it
  Tensor c = std::move(*made);
  auto run = [&](auto ta, auto tb, auto tc) {
    using TA = decltype(ta);
    using TB = decltype(tb);
    using TC = decltype(tc);
    add_float_avx2(a.data<TA>(), b.data<TB>(), c.mutable_data<TC>(), a.numel(), ra, rb, fixed,
                   static_cast<float>(lo), static_cast<float>(hi));
  };
  auto with_c = [&](auto ta, auto tb) {
    if (c_dtype == DType::kUInt8)
      run(ta, tb, uint8_t{});
    else
      run(ta, tb, int8_t{});
  };
  auto with_b = [&](auto ta) {
    if (b.dtype() == DType::kUInt8)
      with_c(ta, uint8_t{});
    else
      with_c(ta, int8_t{});
  };
  if (a.dtype() == DType::kUInt8)
    with_b(uint8_t{});
  else
    with_b(int8_t{});
  return c;
}
#else
std::optional<Tensor> qlinear_add_float_fast(bool, const Tensor&, const QuantParams&, const Tensor&,
                                             const QuantParams&, const QuantParams&, bool) {
  return std::nullopt;  // the portable element loop of qlinear_binary
}
#endif

int64_t dpu_round_shift(int64_t v, int shift) {  // DPU_ROUND(v / 2^shift), shift may be < 0
  if (shift >= 0) return rounding_shift_right(v, std::min(shift, 63), RoundingMode::kHalfUp);
  return v * (int64_t{1} << -shift);
}

}  // namespace

Result<Tensor> qlinear_binary(BinaryOp op, const Tensor& a, const QuantParams& a_params,
                              const Tensor& b, const QuantParams& b_params,
                              const QuantParams& c_params, AddScheme scheme, bool relu) {
  if (!a.is_plain() || !b.is_plain()) {
    // Equal shapes stored alike: elementwise on the storage, the result stored alike.
    if (a.shape() == b.shape() && a.layout() == b.layout()) {
      QDIFF_ASSIGN_OR_RETURN(Tensor c, qlinear_binary(op, a.physical(), a_params, b.physical(),
                                                      b_params, c_params, scheme, relu));
      return c.with_physical_layout(a.layout());
    }
    return qlinear_binary(op, a.to_plain(), a_params, b.to_plain(), b_params, c_params, scheme,
                          relu);
  }
  QDIFF_RETURN_IF_ERROR(check_per_tensor(a_params, "input A"));
  QDIFF_RETURN_IF_ERROR(check_per_tensor(b_params, "input B"));
  QDIFF_RETURN_IF_ERROR(check_per_tensor(c_params, "output C"));
  if (scheme == AddScheme::kFloat && op != BinaryOp::kMul && a.shape() == b.shape()) {
    std::optional<Tensor> fast =
        qlinear_add_float_fast(op == BinaryOp::kSub, a, a_params, b, b_params, c_params, relu);
    if (fast) return std::move(*fast);
  }
  QDIFF_ASSIGN_OR_RETURN(Shape out_shape, broadcast_shapes(a.shape(), b.shape()));
  QDIFF_ASSIGN_OR_RETURN(std::vector<int64_t> av, integer_values(a, "input A"));
  QDIFF_ASSIGN_OR_RETURN(std::vector<int64_t> bv, integer_values(b, "input B"));
  const std::vector<int64_t> amap = broadcast_index_map(a.shape(), out_shape);
  const std::vector<int64_t> bmap = broadcast_index_map(b.shape(), out_shape);
  const float sa = a_params.scales[0], sb = b_params.scales[0], sc = c_params.scales[0];
  const int32_t za = a_params.zero_points[0], zb = b_params.zero_points[0];
  const int32_t zc = c_params.zero_points[0];
  const int32_t lo = relu ? std::max(c_params.qmin(), zc) : c_params.qmin();
  const int32_t hi = c_params.qmax();
  const bool mul = op == BinaryOp::kMul;
  const int64_t sign_b = op == BinaryOp::kSub ? -1 : 1;
  std::vector<int64_t> out(amap.size());
  auto clamp_out = [&](int64_t v) { return saturate_to(v, int64_t{lo}, int64_t{hi}); };

  // Per-scheme element function (raw a, raw b) -> output integer.
  std::function<int64_t(int64_t, int64_t)> fn;
  switch (scheme) {
    case AddScheme::kFloat: {
      if (mul) {
        const float r = (sa * sb) / sc;
        const float fzc = static_cast<float>(zc);
        fn = [=](int64_t x, int64_t y) {
          const float p = static_cast<float>((x - za) * (y - zb));
          const float v = p * r + fzc;
          return clamp_out(
              saturate_float(round_float(v, RoundingMode::kHalfToEven), INT32_MIN, INT32_MAX));
        };
        break;
      }
      const float ra = sa / sc;
      const float rb = static_cast<float>(sign_b) * (sb / sc);
      const float fixed =
          static_cast<float>(zc) - (ra * static_cast<float>(za) + rb * static_cast<float>(zb));
      const Span span = classify_span(a.shape(), b.shape(), out_shape);
      fn = [=](int64_t x, int64_t y) {
        const float fx = static_cast<float>(x), fy = static_cast<float>(y);
        float v = 0.0f;
        switch (span) {
          case Span::kGeneral:
            v = std::fma(fx, ra, std::fma(fy, rb, fixed));
            break;
          case Span::kScalarB:
            v = std::fma(fx, ra, fixed + fy * rb);
            break;
          case Span::kScalarA:
            v = std::fma(fy, rb, fixed + fx * ra);
            break;
        }
        return clamp_out(
            saturate_float(round_float(v, RoundingMode::kHalfToEven), INT32_MIN, INT32_MAX));
      };
      break;
    }
    case AddScheme::kTflite: {
      const int bits = std::max(a_params.bits, c_params.bits);
      if (mul) {
        const QuantizedMultiplier m = quantize_multiplier(tflite_real_multiplier(sa, sb, sc));
        if (m.multiplier == 0 || m.shift > 31) {
          return invalid_argument("TFLite Mul: output multiplier cannot be represented");
        }
        fn = [=](int64_t x, int64_t y) {
          const int32_t p = static_cast<int32_t>((x - za) * (y - zb));
          return clamp_out(
              int64_t{multiply_by_quantized_multiplier_double_rounding(p, m.multiplier, m.shift)} +
              zc);
        };
        break;
      }
      const int left_shift = bits > 8 ? 15 : 20;
      const double twice_max = 2.0 * std::max(static_cast<double>(sa), static_cast<double>(sb));
      const QuantizedMultiplier ma = quantize_multiplier(static_cast<double>(sa) / twice_max);
      const QuantizedMultiplier mb = quantize_multiplier(static_cast<double>(sb) / twice_max);
      const QuantizedMultiplier mo = quantize_multiplier(
          twice_max / (static_cast<double>(int64_t{1} << left_shift) * static_cast<double>(sc)));
      if (mo.multiplier == 0 || mo.shift > 0 || ma.shift > 0 || mb.shift > 0) {
        return invalid_argument("TFLite Add: the output multiplier " +
                                std::to_string(twice_max / ((1 << left_shift) * double{sc})) +
                                " must be below 1 and representable");
      }
      fn = [=](int64_t x, int64_t y) {
        const int32_t xs = static_cast<int32_t>((x - za) * (int64_t{1} << left_shift));
        const int32_t ys = static_cast<int32_t>((y - zb) * (int64_t{1} << left_shift));
        const int32_t s1 =
            multiply_by_quantized_multiplier_double_rounding(xs, ma.multiplier, ma.shift);
        const int32_t s2 =
            multiply_by_quantized_multiplier_double_rounding(ys, mb.multiplier, mb.shift);
        const int32_t raw = static_cast<int32_t>(int64_t{s1} + sign_b * int64_t{s2});
        return clamp_out(int64_t{multiply_by_quantized_multiplier_double_rounding(
                             raw, mo.multiplier, mo.shift)} +
                         zc);
      };
      break;
    }
    case AddScheme::kXnnpack: {
      if (mul) {
        const float r = (sa * sb) / sc;
        fn = [=](int64_t x, int64_t y) {
          return clamp_out(
              requantize_fp32(static_cast<int32_t>((x - za) * (y - zb)), r, zc, lo, hi));
        };
        break;
      }
      const float ra = sa / sc, rb = sb / sc;
      const int shift = 20 - float_exponent(std::max(ra, rb));
      if (shift < 12 || shift > 30) {
        return invalid_argument("XNNPACK Add: scale ratio " + std::to_string(std::max(ra, rb)) +
                                " outside [2^-10, 2^9)");
      }
      const int64_t ma = std::lrint(std::ldexp(ra, shift));
      const int64_t mb = sign_b * std::lrint(std::ldexp(rb, shift));
      fn = [=](int64_t x, int64_t y) {
        const int64_t acc = (x - za) * ma + (y - zb) * mb;
        return clamp_out(rounding_shift_right(acc, shift, RoundingMode::kHalfUp) + zc);
      };
      break;
    }
    case AddScheme::kFixed22Rhaz: {
      if (mul)
        return qlinear_binary(op, a, a_params, b, b_params, c_params, AddScheme::kFloat, relu);
      const float ra = sa / sc, rb = sb / sc;
      constexpr float kMinRatio = 0x1.0p-14f, kMaxRatio = 256.0f;
      bool fixed_ok = ra >= kMinRatio && ra < kMaxRatio && rb >= kMinRatio && rb < kMaxRatio;
      int shift = 0;
      int64_t ma = 0, mb = 0;
      if (fixed_ok) {
        shift = 21 - float_exponent(std::max(ra, rb));
        fixed_ok = shift >= 13 && shift <= 31;
        if (fixed_ok) {
          const float mult = std::ldexp(1.0f, shift);
          ma = std::lrint(ra * mult);
          mb = std::lrint(rb * mult);
          fixed_ok = ma < 0x00400000 && mb < 0x00400000 && (ma >= 0x00200000 || mb >= 0x00200000);
        }
      }
      if (fixed_ok) {
        mb *= sign_b;
        fn = [=](int64_t x, int64_t y) {
          int64_t acc = static_cast<int32_t>((x - za) * ma + (y - zb) * mb);
          acc += acc < 0 ? -1 : 0;
          const int64_t r = rounding_shift_right(acc, shift, RoundingMode::kHalfUp);
          return clamp_out(saturate<int16_t>(int64_t{saturate<int16_t>(r)} + zc));
        };
      } else {
        // MlasQLinearAddKernelRawHelper: float values, divide by s_c, clamp, nearbyintf.
        const float fmin = static_cast<float>(c_params.qmin() - zc);
        const float fmax = static_cast<float>(c_params.qmax() - zc);
        fn = [=](int64_t x, int64_t y) {
          const float va = sa * static_cast<float>(x - za);
          const float vb = static_cast<float>(sign_b) * (sb * static_cast<float>(y - zb));
          float v = (va + vb) / sc;
          v = std::min(std::max(v, fmin), fmax);
          const float r = round_float(v + static_cast<float>(zc), RoundingMode::kHalfToEven);
          return clamp_out(saturate_float(r, INT32_MIN, INT32_MAX));
        };
      }
      break;
    }
    case AddScheme::kAlignShift: {
      QDIFF_ASSIGN_OR_RETURN(const int pa, pow2_position(sa, za, "DPU eltwise input A"));
      QDIFF_ASSIGN_OR_RETURN(const int pb, pow2_position(sb, zb, "DPU eltwise input B"));
      QDIFF_ASSIGN_OR_RETURN(const int pc, pow2_position(sc, zc, "DPU eltwise output"));
      if (mul) {
        const int shift = pa + pb - pc;
        if (shift < 0 || shift > 32) {
          return invalid_argument("DPU eltwise mul: shift_write " + std::to_string(shift) +
                                  " outside [0, 32]");
        }
        fn = [=](int64_t x, int64_t y) { return clamp_out(dpu_round_shift(x * y, shift)); };
        break;
      }
      const int min_pos = std::min(pa, pb);
      const int read_a = pa - min_pos, read_b = pb - min_pos;
      const int shift_write = min_pos - pc;
      if (read_a > 7 || read_b > 7 || shift_write < -7 || shift_write > 25) {
        return invalid_argument(
            "DPU eltwise add: shift_read must be <= 7 and shift_write in "
            "[-7, 25] (positions " +
            std::to_string(pa) + ", " + std::to_string(pb) + " -> " + std::to_string(pc) + ")");
      }
      fn = [=](int64_t x, int64_t y) {
        const int64_t ta = (x * (int64_t{1} << 7)) >> read_a;  // floor(q * 2^(7 - read))
        const int64_t tb = (y * (int64_t{1} << 7)) >> read_b;
        return clamp_out(dpu_round_shift(ta + sign_b * tb, shift_write + 7));
      };
      break;
    }
  }
  for (size_t i = 0; i < out.size(); ++i) {
    out[i] = fn(av[static_cast<size_t>(amap[i])], bv[static_cast<size_t>(bmap[i])]);
  }
  return make_integer_tensor(storage_dtype(c_params), out_shape, out);
}

// --- LUT ----------------------------------------------------------------------------------------

Result<Lut> build_lut(const RealFunction& f, const QuantParams& in, const QuantParams& out,
                      LutScheme scheme, int table_bits, bool interpolate) {
  QDIFF_RETURN_IF_ERROR(check_per_tensor(in, "LUT input"));
  QDIFF_RETURN_IF_ERROR(check_per_tensor(out, "LUT output"));
  if (in.bits > 16) return unsupported("lookup tables need inputs of at most 16 bits");
  const float s_out = out.scales[0];
  const int32_t z_out = out.zero_points[0];
  auto entry = [&](int32_t q) {
    const float y = f(dequantize(q, in.scales[0], in.zero_points[0]));
    switch (scheme) {
      case LutScheme::kFloatRhe:
        return quantize(y, s_out, z_out, out.qmin(), out.qmax(), RoundingMode::kHalfToEven);
      case LutScheme::kFloatRhaz:
        return quantize_by_reciprocal(y, s_out, z_out, out.qmin(), out.qmax(),
                                      RoundingMode::kHalfAwayFromZero);
      case LutScheme::kLrintf:
        return quantize_by_reciprocal(y, s_out, z_out, out.qmin(), out.qmax(),
                                      RoundingMode::kHalfToEven);
    }
    QDIFF_ASSERT(false, "unknown LutScheme");
    return 0;
  };
  Lut lut;
  lut.in_min = in.qmin();
  if (table_bits <= 0 || table_bits >= in.bits) {
    for (int32_t q = in.qmin(); q <= in.qmax(); ++q) lut.table.push_back(entry(q));
    return lut;
  }
  const int shift = in.bits - table_bits;
  const int32_t step = int32_t{1} << shift;
  const int32_t lo = in.is_signed ? -(int32_t{1} << (in.bits - 1)) : 0;
  std::vector<int32_t> e;
  const int32_t entries = (int32_t{1} << table_bits) + (interpolate ? 1 : 0);
  for (int32_t i = 0; i < entries; ++i)
    e.push_back(entry(lo + i * step + (interpolate ? 0 : step / 2)));
  for (int32_t q = in.qmin(); q <= in.qmax(); ++q) {
    const auto i = static_cast<size_t>((q - lo) >> shift);
    if (!interpolate) {
      lut.table.push_back(e[i]);
      continue;
    }
    const int64_t num = int64_t{e[i + 1] - e[i]} * ((q - lo) & (step - 1));
    const int64_t half = step / 2;
    const int64_t delta = num >= 0 ? (num + half) >> shift : -((-num + half) >> shift);
    lut.table.push_back(static_cast<int32_t>(e[i] + delta));
  }
  return lut;
}

Result<Tensor> apply_lut(const Tensor& x, const Lut& lut, DType out_dtype) {
  QDIFF_ASSIGN_OR_RETURN(std::vector<int64_t> xv, integer_values(x, "LUT input"));
  const int64_t hi = lut.in_min + static_cast<int64_t>(lut.table.size()) - 1;
  for (int64_t& v : xv) {
    if (v < lut.in_min || v > hi) {
      return invalid_argument("LUT input value " + std::to_string(v) + " outside the table");
    }
    v = lut(static_cast<int32_t>(v));
  }
  return make_integer_tensor(out_dtype, x.shape(), xv);
}

float sigmoid_ref(float x) {
  return 1.0f / (1.0f + std::exp(-x));
}

float mlas_logistic(float x, bool fma) {
  // Constants of onnxruntime/core/mlas/lib/logistic.cpp (MlasLogisticConstants).
  constexpr float kLower = -18.0f, kUpper = 18.0f;
  constexpr float a9 = 4.37031012579801e-11f, a7 = 1.15627324459942e-07f,
                  a5 = 6.08574864600143e-05f, a3 = 8.51377133304701e-03f,
                  a1 = 2.48287947061529e-01f;
  constexpr float b10 = 6.10247389755681e-13f, b8 = 5.76102136993427e-09f,
                  b6 = 6.29106785017040e-06f, b4 = 1.70198817374094e-03f,
                  b2 = 1.16817656904453e-01f, b0 = 9.93151921023180e-01f;
  auto madd = [fma](float m1, float m2, float add) {
    return fma ? std::fma(m1, m2, add) : m1 * m2 + add;
  };
  float v = x < kLower ? kLower : x;
  v = v > kUpper ? kUpper : v;
  const float v2 = v * v;
  float p = madd(v2, a9, a7);
  p = madd(p, v2, a5);
  p = madd(p, v2, a3);
  p = madd(p, v2, a1);
  p = p * v;
  float q = madd(v2, b10, b8);
  q = madd(q, v2, b6);
  q = madd(q, v2, b4);
  q = madd(q, v2, b2);
  q = madd(q, v2, b0);
  const float r = p / q + 0.5f;
  return std::clamp(r, 0.0f, 1.0f);
}

float tanh_ref(float x) {
  return std::tanh(x);
}
float hard_sigmoid_ref(float x, float alpha, float beta) {
  return std::max(0.0f, std::min(1.0f, alpha * x + beta));
}
float hard_swish_ref(float x) {
  return x * std::max(0.0f, std::min(6.0f, x + 3.0f)) / 6.0f;
}
float leaky_relu_ref(float x, float alpha) {
  return x >= 0.0f ? x : alpha * x;
}

// --- DPU approximations
// ---------------------------------------------------------------------------

float dpu_leaky_relu_alpha(float alpha) {
  return static_cast<float>(
      round_float(static_cast<double>(alpha) * 256.0, RoundingMode::kHalfAwayFromZero) / 256.0);
}

int32_t dpu_leaky_relu(int32_t q, int pos_in, int pos_out, float alpha) {
  const int64_t slope = static_cast<int64_t>(
      round_float(static_cast<double>(alpha) * 256.0, RoundingMode::kHalfAwayFromZero));
  const int64_t num = int64_t{q} * (q < 0 ? slope : 256);
  return saturate<int8_t>(dpu_round_shift(num, 8 + pos_in - pos_out));
}

int32_t dpu_hard_sigmoid(int32_t q, int pos_in, int pos_out) {
  QDIFF_ASSERT(pos_in >= 0 && pos_in <= 15, "DPU hard-sigmoid: input position out of [0, 15]");
  const int shift = 14 + pos_in - pos_out;
  QDIFF_ASSERT(shift >= 0 && shift <= 31, "DPU hard-sigmoid: shift out of [0, 31]");
  const int64_t t =
      saturate_to(2731 * (int64_t{q} + 3 * (int64_t{1} << pos_in)), int64_t{0}, int64_t{1} << 32);
  return saturate<int8_t>(dpu_round_shift(t, shift));
}

int32_t dpu_hard_swish(int32_t q, int pos_in, int pos_out) {
  const int64_t h = dpu_hard_sigmoid(q, pos_in, 7);
  return saturate<int8_t>(dpu_round_shift(int64_t{q} * h, pos_in + 7 - pos_out));
}

// --- Concat
// ----------------------------------------------------------------------------------------

Result<Tensor> qlinear_concat(const std::vector<Tensor>& inputs,
                              const std::vector<QuantParams>& in_params, const QuantParams& out,
                              int64_t axis, LutScheme scheme) {
  if (inputs.empty() || inputs.size() != in_params.size()) {
    return invalid_argument("Concat: need one QuantParams per input and at least one input");
  }
  QDIFF_RETURN_IF_ERROR(check_per_tensor(out, "Concat output"));
  const int64_t rank = inputs[0].rank();
  if (axis < 0) axis += rank;
  if (axis < 0 || axis >= rank) return invalid_argument("Concat: axis out of range");
  Shape out_shape = inputs[0].shape();
  out_shape[static_cast<size_t>(axis)] = 0;
  std::vector<std::vector<int64_t>> values;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& t = inputs[i];
    for (int64_t d = 0; d < rank; ++d) {
      if (t.rank() != rank || (d != axis && t.dim(d) != inputs[0].dim(d))) {
        return invalid_argument("Concat: input " + std::to_string(i) + " has shape " +
                                shape_to_string(t.shape()) + ", incompatible with " +
                                shape_to_string(inputs[0].shape()));
      }
    }
    out_shape[static_cast<size_t>(axis)] += t.dim(axis);
    QDIFF_ASSIGN_OR_RETURN(std::vector<int64_t> v, integer_values(t, "Concat input"));
    if (!(in_params[i] == out)) {
      QDIFF_ASSIGN_OR_RETURN(Lut lut,
                             build_lut([](float x) { return x; }, in_params[i], out, scheme));
      for (int64_t& e : v) e = lut(static_cast<int32_t>(e));
    }
    values.push_back(std::move(v));
  }
  int64_t outer = 1;
  for (int64_t d = 0; d < axis; ++d) outer *= out_shape[static_cast<size_t>(d)];
  int64_t inner = 1;
  for (int64_t d = axis + 1; d < rank; ++d) inner *= out_shape[static_cast<size_t>(d)];
  std::vector<int64_t> out_values;
  for (int64_t o = 0; o < outer; ++o) {
    for (size_t i = 0; i < inputs.size(); ++i) {
      const int64_t chunk = inputs[i].dim(axis) * inner;
      const auto begin = values[i].begin() + o * chunk;
      out_values.insert(out_values.end(), begin, begin + chunk);
    }
  }
  return make_integer_tensor(storage_dtype(out), out_shape, out_values);
}

}  // namespace qdiff::intkernels
