// Hand-derived vectors for the integer kernels: ties, negative halves, saturation edges,
// INT32_MIN. Every expected value is worked out in the comment beside it.
#include <gtest/gtest.h>

#include <climits>

#include "intkernels/elementwise.h"
#include "intkernels/linear.h"
#include "intkernels/pool.h"
#include "intkernels/requantizer.h"

namespace qdiff::intkernels {
namespace {

using targets::AddScheme;
using targets::AvgPoolScheme;
using targets::LutScheme;
using targets::Requant;
using targets::ScaleMath;

Requantizer make(Requant r, float s_x, float s_w, float s_y, int32_t qmin = -128,
                 int32_t qmax = 127, ScaleMath math = ScaleMath::kDouble) {
  RequantInputs in;
  in.s_x = s_x;
  in.s_w = {s_w};
  in.s_y = s_y;
  in.qmin = qmin;
  in.qmax = qmax;
  RequantSpec spec;
  spec.requant = r;
  spec.scale_math = math;
  auto rq = Requantizer::create(in, spec);
  QDIFF_ASSERT(rq.ok(), rq.status().message());
  return std::move(rq).value();
}

QuantParams qp(float s, int32_t z, bool sign = true, int bits = 8) {
  QuantParams p;
  p.bits = bits;
  p.is_signed = sign;
  p.scales = {s};
  p.zero_points = {z};
  return p;
}

std::vector<int64_t> vals(const Result<Tensor>& t) {
  QDIFF_ASSERT(t.ok(), t.status().message());
  return t.value().to_i64_vector();
}

TEST(Requantizer, TiesPerMechanism) {
  // real multiplier 1/4: acc -6 -> -1.5, acc -10 -> -2.5, acc 6 -> 1.5.
  const Requantizer p3 = make(Requant::kDoubleRounding, 1, 1, 4);
  EXPECT_EQ(p3.fixed_multiplier(0), (QuantizedMultiplier{1 << 30, -1}));
  // SRDHM(-6, 2^30) = rhu(-3) = -3, then rhaz(-3 / 2) = -2.
  EXPECT_EQ(p3.apply(-6, 0), -2);
  EXPECT_EQ(p3.apply(-10, 0), -3);  // -5, rhaz(-2.5) = -3
  EXPECT_EQ(p3.apply(6, 0), 2);
  const Requantizer p4 = make(Requant::kSingleRounding, 1, 1, 4);
  EXPECT_EQ(p4.apply(-6, 0), -1);  // rhu(-1.5) = -1
  EXPECT_EQ(p4.apply(-10, 0), -2);
  EXPECT_EQ(p4.apply(6, 0), 2);
  const Requantizer f32 = make(Requant::kFloat32, 1, 1, 4);
  EXPECT_EQ(f32.apply(-6, 0), -2);   // rhe(-1.5) = -2
  EXPECT_EQ(f32.apply(-10, 0), -2);  // rhe(-2.5) = -2
  EXPECT_EQ(f32.apply(6, 0), 2);
  const Requantizer rndnu = make(Requant::kRndnu, 1, 1, 4);
  EXPECT_EQ(rndnu.apply(-6, 0), -1);  // rhu
  EXPECT_EQ(rndnu.apply(-10, 0), -2);
  // 15-bit multiplier path: 0.25 exactly representable, rhu.
  const Requantizer p5 = make(Requant::kInt64Reduced, 1, 1, 4);
  EXPECT_EQ(p5.apply(-6, 0), -1);
  EXPECT_EQ(p5.apply(int64_t{1} << 40, 0), 127);  // int64 accumulator, saturates to qmax
}

TEST(Requantizer, SaturationAndInt32Min) {
  // Output grid edges: 127.5 -> clamp 127; -128.5 -> -128 for every mechanism.
  for (Requant r : {Requant::kFloat32, Requant::kDoubleRounding, Requant::kSingleRounding}) {
    const Requantizer rq = make(r, 1, 1, 2);
    EXPECT_EQ(rq.apply(255, 0), 127);
    EXPECT_EQ(rq.apply(-257, 0), -128);
    EXPECT_EQ(rq.apply(INT32_MIN, 0), -128);
    EXPECT_EQ(rq.apply(INT32_MAX, 0), 127);
  }
  // Full int32 grid: INT32_MIN * 1/2 = -2^30 exactly (SRDHM(INT32_MIN, 2^30) = -2^30).
  const Requantizer p3 = make(Requant::kDoubleRounding, 1, 1, 2, INT32_MIN, INT32_MAX);
  EXPECT_EQ(p3.apply(INT32_MIN, 0), -(1 << 30));
  // Multiplier 1 (M = 2^30, shift 1): TFLite's x * 2 overflows (UB there); emulated as a wrap:
  // INT32_MIN * 2 wraps to 0.
  const Requantizer one = make(Requant::kDoubleRounding, 1, 1, 1, INT32_MIN, INT32_MAX);
  EXPECT_EQ(one.apply(INT32_MIN, 0), 0);
  // The float path saturates: f32(-2^31) * 1 clamps to the grid minimum.
  const Requantizer f = make(Requant::kFloat32, 1, 1, 1, INT32_MIN, INT32_MAX);
  EXPECT_EQ(f.apply(INT32_MIN, 0), INT32_MIN);
}

TEST(Requantizer, PowerOfTwoDpuRound) {
  // s_x 2^-3, s_w 2^-4, s_y 2^-4: ratio 2^-3, shift_cut 3. -12 / 8 = -1.5 -> rhu -1; 12 -> 2.
  const Requantizer rq = make(Requant::kPowerOfTwo, 0.125f, 0.0625f, 0.0625f);
  EXPECT_EQ(rq.shift_cut(0), 3);
  EXPECT_EQ(rq.apply(-12, 0), -1);
  EXPECT_EQ(rq.apply(12, 0), 2);
  EXPECT_EQ(rq.apply(-13, 0), -2);  // -1.625
}

TEST(Requantizer, UnrepresentableMultipliersAreErrors) {
  RequantInputs in;
  in.s_x = 1;
  in.s_w = {1, 1e-12f};
  in.s_y = 1;
  RequantSpec spec;
  spec.requant = Requant::kDoubleRounding;
  auto r = Requantizer::create(in, spec);  // 1e-12 < 2^-32: flushed by QuantizeMultiplier
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("channel 1"), std::string::npos) << r.status().message();
  in.s_w = {1};
  in.s_y = 1.0f / 512;  // 512 >= 256: outside XNNPACK's range
  spec.requant = Requant::kRndnu;
  EXPECT_FALSE(Requantizer::create(in, spec).ok());
  in.s_y = 3;  // 1/3 is not a power of two
  spec.requant = Requant::kPowerOfTwo;
  EXPECT_FALSE(Requantizer::create(in, spec).ok());
  in.s_y = 1.0f / (1 << 20);  // multiplier 2^20 needs shift 21 > 7 on the int64 path
  spec.requant = Requant::kInt64Reduced;
  EXPECT_FALSE(Requantizer::create(in, spec).ok());
  in.s_y = 1;
  in.float_bias = {0.5f};  // float bias only with the float32 epilogue
  spec.requant = Requant::kDoubleRounding;
  EXPECT_FALSE(Requantizer::create(in, spec).ok());
}

TEST(Requantizer, FloatBiasAndFusedRelu6) {
  RequantInputs in;
  in.s_x = 1;
  in.s_w = {1};
  in.s_y = 1;
  in.float_bias = {0.5f};
  RequantSpec spec;
  auto rq = Requantizer::create(in, spec);
  ASSERT_TRUE(rq.ok());
  EXPECT_EQ(rq->apply(0, 0), 0);   // 0 + 0.5 -> rhe 0
  EXPECT_EQ(rq->apply(1, 0), 2);   // 1.5 -> 2
  EXPECT_EQ(rq->apply(-1, 0), 0);  // -0.5 -> -0 = 0
  int32_t lo = 0, hi = 0;
  // Relu6 on s_y 0.05, z 10: lo = 10 + 0 = 10, hi = 10 + rhaz(6 / 0.05 = 120) = 130.
  fused_activation_bounds(0.0f, 6.0f, 0.05f, 10, 0, 255, RoundingMode::kHalfAwayFromZero, &lo, &hi);
  EXPECT_EQ(lo, 10);
  EXPECT_EQ(hi, 130);
}

TEST(Accumulator, WrapSaturateWidths) {
  AccumulatorModel m16{16, targets::Overflow::kWrap, false};
  EXPECT_EQ(accumulate(32767, 1, m16), -32768);
  m16.overflow = targets::Overflow::kSaturate;
  EXPECT_EQ(accumulate(32767, 1, m16), 32767);
  EXPECT_EQ(accumulate(-32768, -5, m16), -32768);
  AccumulatorModel m32{32, targets::Overflow::kWrap, false};
  EXPECT_EQ(accumulate(INT32_MAX, 1, m32), INT32_MIN);
  AccumulatorModel m64{64, targets::Overflow::kSaturate, false};
  EXPECT_EQ(accumulate(INT64_MAX, 1, m64), INT64_MAX);
}

TEST(Accumulator, PairSaturationU8S8) {
  const Tensor a = Tensor::from_vector<uint8_t>({1, 3}, {255, 255, 255});
  const Tensor b = Tensor::from_vector<int8_t>({3, 1}, {127, 127, 127});
  AccumulatorModel exact;
  AccumulatorModel pairs;
  pairs.pair_saturation_u8s8 = true;
  // Exact: 3 * 255 * 127 = 97155.
  EXPECT_EQ(vals(gemm_accumulate(a, 0, b, {0}, false, false, Tensor(), exact))[0], 97155);
  // Pairs: sat16(32385 + 32385) = 32767, then the odd tail 32385: 65152.
  EXPECT_EQ(vals(gemm_accumulate(a, 0, b, {0}, false, false, Tensor(), pairs))[0], 65152);
  // z_a = 128: exact 3 * 127 * 127 = 48387; pairs: 65152 - 128 * 381 = 16384.
  EXPECT_EQ(vals(gemm_accumulate(a, 128, b, {0}, false, false, Tensor(), exact))[0], 48387);
  EXPECT_EQ(vals(gemm_accumulate(a, 128, b, {0}, false, false, Tensor(), pairs))[0], 16384);
}

TEST(Linear, ConvPadsAndGroups) {
  // x = 1..9 (3x3), z_x = 2, w = ones 2x2, pads top/left 1: output (0,0) reads three pads and
  // x[0][0] = 1. Pads hold z_x: acc = (1 - 2) = -1; pads 0: acc = 3 * (0 - 2) + (1 - 2) = -7.
  const Tensor x = Tensor::from_vector<uint8_t>({1, 1, 3, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9});
  const Tensor w = Tensor::from_vector<int8_t>({1, 1, 2, 2}, {1, 1, 1, 1});
  ConvParams p;
  p.pads = {1, 1, 0, 0};
  auto acc = vals(conv_accumulate(x, 2, w, {0}, Tensor(), p, AccumulatorModel{}));
  ASSERT_EQ(acc.size(), 9u);
  EXPECT_EQ(acc[0], -1);
  EXPECT_EQ(acc[4], (1 + 2 + 4 + 5) - 8);  // interior, no pads: 4
  p.pad_value = 0;
  EXPECT_EQ(vals(conv_accumulate(x, 2, w, {0}, Tensor(), p, AccumulatorModel{}))[0], -7);
  // Depthwise (2 groups), stride 2, bias: channel c sums its own 2x2 corner * (c + 1) + bias.
  const Tensor x2 = Tensor::from_vector<int8_t>({1, 2, 2, 2}, {1, 2, 3, 4, -1, -2, -3, -4});
  const Tensor w2 = Tensor::from_vector<int8_t>({2, 1, 2, 2}, {1, 1, 1, 1, 2, 2, 2, 2});
  const Tensor bias = Tensor::from_vector<int32_t>({2}, {100, -100});
  ConvParams g;
  g.group = 2;
  g.strides = {2, 2};
  EXPECT_EQ(vals(conv_accumulate(x2, 0, w2, {0}, bias, g, AccumulatorModel{})),
            (std::vector<int64_t>{110, -120}));
}

TEST(Linear, GemmTransposes) {
  // A = [[1, 2], [3, 4]], B = [[5, 6], [7, 8]]: AB = [[19, 22], [43, 50]],
  // A^T B = [[26, 30], [38, 44]], A B^T = [[17, 23], [39, 53]].
  const Tensor a = Tensor::from_vector<int8_t>({2, 2}, {1, 2, 3, 4});
  const Tensor b = Tensor::from_vector<int8_t>({2, 2}, {5, 6, 7, 8});
  const AccumulatorModel m;
  EXPECT_EQ(vals(gemm_accumulate(a, 0, b, {0}, false, false, Tensor(), m)),
            (std::vector<int64_t>{19, 22, 43, 50}));
  EXPECT_EQ(vals(gemm_accumulate(a, 0, b, {0}, true, false, Tensor(), m)),
            (std::vector<int64_t>{26, 30, 38, 44}));
  EXPECT_EQ(vals(gemm_accumulate(a, 0, b, {0}, false, true, Tensor(), m)),
            (std::vector<int64_t>{17, 23, 39, 53}));
  // Per-column weight zero points {1, 2}: (A)(B - z) = [[19-3, 22-6], [43-7, 50-14]].
  EXPECT_EQ(vals(gemm_accumulate(a, 0, b, {1, 2}, false, false, Tensor(), m)),
            (std::vector<int64_t>{16, 16, 36, 36}));
}

TEST(Elementwise, AddTiesPerScheme) {
  // s_a = s_b = 1, s_c = 2, all zero points 0: a + b = +-1 gives +-0.5 at the output.
  const Tensor a = Tensor::from_vector<int8_t>({4}, {1, -1, 3, -3});
  const Tensor b = Tensor::from_vector<int8_t>({4}, {0, 0, 0, 0});
  const QuantParams p1 = qp(1, 0), p2 = qp(2, 0);
  auto run = [&](AddScheme s) { return vals(qlinear_binary(BinaryOp::kAdd, a, p1, b, p1, p2, s)); };
  // 0.5, -0.5, 1.5, -1.5
  EXPECT_EQ(run(AddScheme::kFloat), (std::vector<int64_t>{0, 0, 2, -2}));         // rhe
  EXPECT_EQ(run(AddScheme::kXnnpack), (std::vector<int64_t>{1, 0, 2, -1}));       // rhu
  EXPECT_EQ(run(AddScheme::kFixed22Rhaz), (std::vector<int64_t>{1, -1, 2, -2}));  // rhaz
  EXPECT_EQ(run(AddScheme::kTflite), (std::vector<int64_t>{1, -1, 2, -2}));       // rhaz last
  EXPECT_EQ(run(AddScheme::kAlignShift), (std::vector<int64_t>{1, 0, 2, -1}));    // DPU_ROUND
}

TEST(Elementwise, SaturationReluBroadcastAndMul) {
  const QuantParams p = qp(1, 0);
  const Tensor a = Tensor::from_vector<int8_t>({2, 2}, {100, -100, 5, -5});
  const Tensor b = Tensor::from_vector<int8_t>({2, 1}, {100, -3});
  for (AddScheme s : {AddScheme::kFloat, AddScheme::kTflite, AddScheme::kXnnpack,
                      AddScheme::kFixed22Rhaz, AddScheme::kAlignShift}) {
    // [100+100, -100+100, 5-3, -5-3] = [200 -> 127, 0, 2, -8]; relu: -8 -> 0.
    EXPECT_EQ(vals(qlinear_binary(BinaryOp::kAdd, a, p, b, p, p, s)),
              (std::vector<int64_t>{127, 0, 2, -8}));
    EXPECT_EQ(vals(qlinear_binary(BinaryOp::kAdd, a, p, b, p, p, s, true)),
              (std::vector<int64_t>{127, 0, 2, 0}));
    EXPECT_EQ(vals(qlinear_binary(BinaryOp::kSub, a, p, b, p, p, s)),
              (std::vector<int64_t>{0, -128, 8, -2}));
  }
  // Mul with s_c = 4: 5 * -3 = -15 / 4 = -3.75 -> -4; 2 * 2 / 4 = 1; -2 * 1 / 4 = -0.5.
  const Tensor x = Tensor::from_vector<int8_t>({3}, {5, 2, -2});
  const Tensor y = Tensor::from_vector<int8_t>({3}, {-3, 2, 1});
  EXPECT_EQ(vals(qlinear_binary(BinaryOp::kMul, x, p, y, p, qp(4, 0), AddScheme::kFloat)),
            (std::vector<int64_t>{-4, 1, 0}));  // rhe(-0.5) = 0
  EXPECT_EQ(vals(qlinear_binary(BinaryOp::kMul, x, p, y, p, qp(4, 0), AddScheme::kTflite)),
            (std::vector<int64_t>{-4, 1, -1}));  // rhaz(-0.5) = -1
  EXPECT_EQ(vals(qlinear_binary(BinaryOp::kMul, x, p, y, p, qp(4, 0), AddScheme::kAlignShift)),
            (std::vector<int64_t>{-4, 1, 0}));  // DPU_ROUND(-0.5) = 0
  // Shapes that do not broadcast are an error.
  EXPECT_FALSE(qlinear_binary(BinaryOp::kAdd, x, p, a, p, p, AddScheme::kFloat).ok());
}

TEST(Lut, SchemesAndTies) {
  // Identity from s_in 0.5 to s_out 1: q = 1 -> 0.5, q = 3 -> 1.5, q = -1 -> -0.5.
  const QuantParams in = qp(0.5f, 0), out = qp(1, 0);
  auto id = [](float v) { return v; };
  auto rhe = build_lut(id, in, out, LutScheme::kFloatRhe);
  auto rhaz = build_lut(id, in, out, LutScheme::kFloatRhaz);
  ASSERT_TRUE(rhe.ok() && rhaz.ok());
  EXPECT_EQ(rhe->table.size(), 256u);
  EXPECT_EQ((*rhe)(1), 0);
  EXPECT_EQ((*rhe)(3), 2);
  EXPECT_EQ((*rhe)(-1), 0);
  EXPECT_EQ((*rhaz)(1), 1);
  EXPECT_EQ((*rhaz)(-1), -1);
  EXPECT_EQ((*rhaz)(-128), -64);
  // Saturation: s_out 0.25 doubles the codes: 127 * 2 -> 127, -128 * 2 -> -128.
  auto sat = build_lut(id, in, qp(0.25f, 0), LutScheme::kFloatRhe);
  EXPECT_EQ((*sat)(127), 127);
  EXPECT_EQ((*sat)(-128), -128);
  // ORT's logistic at 0 is exactly 0.5: p(0) = 0.
  EXPECT_EQ(mlas_logistic(0.0f, true), 0.5f);
  EXPECT_EQ(mlas_logistic(100.0f, true), mlas_logistic(18.0f, true));  // clamped input
}

TEST(Lut, CoarseTables) {
  // x^2 on int8 with s_in 1/16 to s_out 1/8: exact table entry(q) = rhe(q^2 / 32).
  const QuantParams in = qp(1.0f / 16, 0), out = qp(1.0f / 8, 0);
  auto sq = [](float v) { return v * v; };
  auto exact = [](int32_t q) {
    return std::min(127, static_cast<int32_t>(std::nearbyint(q * q / 32.0)));
  };
  // 2 table bits: breakpoints -128, -64, 0, 64, 128 (step 64); entries 127, 127, 0, 127, 127
  // (saturated), interpolated with rhaz.
  auto lerp = build_lut(sq, in, out, LutScheme::kFloatRhe, 2, true);
  ASSERT_TRUE(lerp.ok());
  EXPECT_EQ(lerp->table.size(), 256u);
  EXPECT_EQ((*lerp)(0), 0);
  EXPECT_EQ((*lerp)(32), 64);   // 0 + 127 * 32 / 64 = 63.5 -> 64 (rhaz)
  EXPECT_EQ((*lerp)(-32), 63);  // 127 + rhaz((0 - 127) * 32 / 64 = -63.5) = 127 - 64
  EXPECT_EQ((*lerp)(1), 2);     // 127 / 64 = 1.98 -> 2
  EXPECT_EQ((*lerp)(-128), 127);
  EXPECT_EQ((*lerp)(127), 127);
  // Without interpolation each segment holds its midpoint's entry: -96, -32, 32, 96.
  auto hold = build_lut(sq, in, out, LutScheme::kFloatRhe, 2, false);
  ASSERT_TRUE(hold.ok());
  EXPECT_EQ((*hold)(0), exact(32));  // 32
  EXPECT_EQ((*hold)(63), exact(32));
  EXPECT_EQ((*hold)(-1), exact(-32));
  EXPECT_EQ((*hold)(-128), exact(-96));
  // 8 bits (or 0) on an 8-bit input is the exact table.
  auto full = build_lut(sq, in, out, LutScheme::kFloatRhe, 8, true);
  ASSERT_TRUE(full.ok());
  for (int32_t q = -128; q <= 127; ++q) EXPECT_EQ((*full)(q), exact(q)) << q;
}

TEST(Lut, DpuApproximations) {
  EXPECT_EQ(dpu_leaky_relu_alpha(0.1f), 26.0f / 256.0f);
  EXPECT_EQ(dpu_leaky_relu(-10, 0, 0), -1);  // -1.015625
  EXPECT_EQ(dpu_leaky_relu(-64, 0, 0), -6);  // -6.5 -> rhu -6
  EXPECT_EQ(dpu_leaky_relu(-5, 0, 0), -1);   // -0.5078
  EXPECT_EQ(dpu_leaky_relu(100, 0, 0), 100);
  EXPECT_EQ(dpu_leaky_relu(100, 0, 1), 127);  // 200 saturates
  // hsigmoid(0) = 0.5 -> 64 at pos 7: 2731 * 48 / 2^11 = 64.008 -> 64.
  EXPECT_EQ(dpu_hard_sigmoid(0, 4, 7), 64);
  EXPECT_EQ(dpu_hard_sigmoid(-48, 4, 7), 0);   // x = -3
  EXPECT_EQ(dpu_hard_sigmoid(48, 4, 7), 127);  // x = 3: 1.0 = 128 saturates to 127
  // hswish(x = 1, pos 4 -> q 16): h = rhu(2731 * 64 / 2^11) = rhu(85.34) = 85;
  // 16 * 85 / 2^(4 + 7 - 4) = 10.625 -> 11 (real 0.6875 at pos 4; exact 2/3 = 0.667).
  EXPECT_EQ(dpu_hard_swish(16, 4, 4), 11);
  const DpuCoefficient c9 = dpu_avgpool_coefficient(9);
  EXPECT_EQ(c9.multiplier, 7);
  EXPECT_EQ(c9.shift, 6);
  for (auto [taps, m, s] : std::vector<std::tuple<int64_t, int64_t, int>>{
           {81, 101, 13}, {100, 41, 12}, {144, 57, 13}, {169, 97, 14}, {49, 21, 10}}) {
    const DpuCoefficient c = dpu_avgpool_coefficient(taps);
    EXPECT_EQ(c.multiplier, m) << taps;
    EXPECT_EQ(c.shift, s) << taps;
  }
}

TEST(Pool, MaxAndAverageSchemes) {
  const Tensor x = Tensor::from_vector<int8_t>({1, 1, 2, 2}, {-5, -3, -7, -1});
  PoolParams p;
  p.kernel = {2, 2};
  p.pads = {1, 1, 1, 1};
  p.strides = {2, 2};
  // Windows: top-left sees only -5; bottom-right only -1 (pads never win).
  EXPECT_EQ(vals(max_pool(x, p)), (std::vector<int64_t>{-5, -3, -7, -1}));
  // TFLite rhaz(sum / valid) on raw q: {1, 2} -> 1.5 -> 2, {-1, -2} -> -1.5 -> -2.
  const Tensor y = Tensor::from_vector<int8_t>({1, 1, 1, 4}, {1, 2, -1, -2});
  PoolParams q;
  q.kernel = {1, 2};
  q.strides = {1, 2};
  const QuantParams s = qp(1, 0);
  EXPECT_EQ(vals(avg_pool(y, s, s, q, AvgPoolScheme::kValidCountRhaz)),
            (std::vector<int64_t>{2, -2}));
  EXPECT_EQ(vals(avg_pool(y, s, s, q, AvgPoolScheme::kFloat)),
            (std::vector<int64_t>{2, -2}));  // rhe(1.5) = 2, rhe(-1.5) = -2
  // count_include_pad: one pad on the left of {1, 2}, kernel 1x2 stride 2: windows {pad, 1}
  // and {2, -1}, {-2, pad}: divisor 2 -> 0.5 -> 0, 0.5 -> 0, -1.
  q.pads = {0, 1, 0, 1};
  q.count_include_pad = true;
  EXPECT_EQ(vals(avg_pool(y, s, s, q, AvgPoolScheme::kFloat)), (std::vector<int64_t>{0, 0, -1}));
  q.count_include_pad = false;  // divisors 1, 2, 1: 1, 0.5 -> 0, -2
  EXPECT_EQ(vals(avg_pool(y, s, s, q, AvgPoolScheme::kFloat)), (std::vector<int64_t>{1, 0, -2}));
  // TFLite needs equal parameters.
  EXPECT_FALSE(avg_pool(y, s, qp(2, 0), q, AvgPoolScheme::kValidCountRhaz).ok());
  // DPU 3x3: sum * 7 / 64. Nine 10s: 630 / 64 = 9.84 -> 10; true mean 10.
  const Tensor nine = Tensor::from_vector<int8_t>({1, 1, 3, 3}, std::vector<int8_t>(9, 10));
  PoolParams k3;
  k3.kernel = {3, 3};
  EXPECT_EQ(vals(avg_pool(nine, s, s, k3, AvgPoolScheme::kDpuMultiplier)),
            (std::vector<int64_t>{10}));
  const Tensor nine64 = Tensor::from_vector<int8_t>({1, 1, 3, 3}, std::vector<int8_t>(9, 64));
  // 576 * 7 / 64 = 63 (the DPU's -1.56 % bias).
  EXPECT_EQ(vals(avg_pool(nine64, s, s, k3, AvgPoolScheme::kDpuMultiplier)),
            (std::vector<int64_t>{63}));
}

TEST(Pool, GlobalAverage) {
  // {1, 2, 3, 4} with s_in = s_out = 1: acc 10, S = 1 / 4, 2.5 -> rhe 2 (ORT), rhaz 3 (TFLite).
  const Tensor x = Tensor::from_vector<uint8_t>({1, 1, 2, 2}, {1, 2, 3, 4});
  const QuantParams p = qp(1, 0, false);
  EXPECT_EQ(vals(global_avg_pool(x, p, p, AvgPoolScheme::kFloat)), (std::vector<int64_t>{2}));
  EXPECT_EQ(vals(global_avg_pool(x, p, p, AvgPoolScheme::kValidCountRhaz)),
            (std::vector<int64_t>{3}));
  // Zero point 2 in, 0 out: acc = 10 - 8 = 2, 0.5 -> 0.
  EXPECT_EQ(vals(global_avg_pool(x, qp(1, 2, false), p, AvgPoolScheme::kFloat)),
            (std::vector<int64_t>{0}));
  // ORT refuses s_in / (s_out * N) >= 256.
  EXPECT_FALSE(global_avg_pool(x, qp(4096, 0, false), p, AvgPoolScheme::kFloat).ok());
}

TEST(Concat, CopyOrRequantize) {
  const Tensor a = Tensor::from_vector<int8_t>({1, 2}, {1, 3});
  const Tensor b = Tensor::from_vector<int8_t>({1, 1}, {-1});
  const QuantParams half = qp(0.5f, 0), one = qp(1, 0);
  // a requantized from 0.5 to 1: 0.5 -> 0, 1.5 -> 2 (rhe); b copied.
  EXPECT_EQ(vals(qlinear_concat({a, b}, {half, one}, one, 1, LutScheme::kFloatRhe)),
            (std::vector<int64_t>{0, 2, -1}));
  EXPECT_EQ(vals(qlinear_concat({a, b}, {half, one}, one, 1, LutScheme::kFloatRhaz)),
            (std::vector<int64_t>{1, 2, -1}));
  // Axis 0 stacks rows.
  EXPECT_EQ(vals(qlinear_concat({a, a}, {one, one}, one, 0, LutScheme::kFloatRhe)),
            (std::vector<int64_t>{1, 3, 1, 3}));
}

}  // namespace
}  // namespace qdiff::intkernels
