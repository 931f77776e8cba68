#!/usr/bin/python3
"""Builds the small quantized models of qdq_import_test.cc and their expectations.

Run from anywhere: /usr/bin/python3 src/qdq/testdata/make_models.py (writes beside itself).
Each model M gets M.onnx, M_input.npy, M_float.npy (the float graph's output: dequantized weights,
activations not quantized), M_fq.npy (every activation quantized as the model says) and
M_expect.json (the parameters each quantized tensor must get in the plan, and the dequantized
weights). The expectations are computed here with numpy, independently of qdiff: dequantize is
f32(q - zp) * scale, quantize is clip(rint(f32(x / scale)) + zp), ops in float64 then float32.
"""
import json
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
rng = np.random.default_rng(7)
F32 = np.float32

RANGES = {np.uint8: (0, 255), np.int8: (-128, 127), np.uint16: (0, 65535),
          np.int16: (-32768, 32767), np.int32: (-2**31, 2**31 - 1)}


def quantize(x, s, zp, dt, axis=None):
    x = np.asarray(x, F32)
    s = np.asarray(s, F32)
    zp = np.asarray(zp, np.int64)
    if axis is not None:
        shp = [1] * x.ndim
        shp[axis] = -1
        s = s.reshape(shp)
        zp = zp.reshape(shp)
    lo, hi = RANGES[dt]
    return np.clip(np.rint((x / s).astype(F32)).astype(np.int64) + zp, lo, hi).astype(dt)


def dequantize(q, s, zp, axis=None):
    s = np.asarray(s, F32)
    zp = np.asarray(zp, np.int64)
    if axis is not None:
        shp = [1] * q.ndim
        shp[axis] = -1
        s = s.reshape(shp)
        zp = zp.reshape(shp)
    return ((q.astype(np.int64) - zp).astype(F32) * s).astype(F32)


def fq(x, s, zp, dt):
    return dequantize(quantize(x, s, zp, dt), s, zp)


def dyn_params(x):
    mn = min(F32(0), F32(x.min()))
    mx = max(F32(0), F32(x.max()))
    s = F32((mx - mn) / F32(255))
    zp = int(np.clip(np.rint(F32(0) - F32(mn / s)), 0, 255))
    return s, zp


def fq_dyn(x):
    s, zp = dyn_params(x)
    return fq(x, s, zp, np.uint8)


def conv2d(x, w, b, pad):
    x = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    oh, ow = h - kh + 1, wd - kw + 1
    y = np.zeros((n, o, oh, ow))
    for i in range(oh):
        for j in range(ow):
            patch = x[:, :, i:i + kh, j:j + kw]
            y[:, :, i, j] = np.tensordot(patch, w.astype(np.float64), axes=([1, 2, 3], [1, 2, 3]))
    if b is not None:
        y += b.astype(np.float64).reshape(1, -1, 1, 1)
    return y.astype(F32)


def mm(a, b):
    return (a.astype(np.float64) @ b.astype(np.float64)).astype(F32)


def init(name, arr):
    return numpy_helper.from_array(np.asarray(arr), name)


def expect_entry(name, role, q, s, zp, dt, axis=-1, weight=None, dynamic=False):
    lo, hi = RANGES[dt]
    signed = lo < 0
    bits = {np.uint8: 8, np.int8: 8, np.uint16: 16, np.int16: 16, np.int32: 32}[dt]
    zps = [int(z) for z in np.atleast_1d(zp)]
    symz = 0 if signed else (1 << (bits - 1))
    sym = all(z == symz for z in zps)
    narrow = bool(role == "weight" and sym and q is not None and (np.asarray(q) != lo).all())
    e = {"name": name, "role": role, "bits": bits, "signed": bool(signed), "symmetric": sym,
         "narrow_range": narrow, "axis": axis, "dynamic": dynamic,
         "scales": [float(v) for v in np.atleast_1d(np.asarray(s, F32))], "zero_points": zps}
    if weight is not None:
        e["values"] = [float(v) for v in np.asarray(weight, F32).ravel()]
    return e


def save(name, model, x, y_float, y_fq, expect, check=True):
    if check:
        onnx.checker.check_model(model)
    onnx.save(model, os.path.join(HERE, name + ".onnx"))
    np.save(os.path.join(HERE, name + "_input.npy"), x)
    np.save(os.path.join(HERE, name + "_float.npy"), y_float)
    np.save(os.path.join(HERE, name + "_fq.npy"), y_fq)
    with open(os.path.join(HERE, name + "_expect.json"), "w") as f:
        json.dump({"tensors": expect}, f, indent=1)


def qdq_conv():
    """ORT-style QDQ: Conv+Relu between one DQ and one Q, GlobalAveragePool, Flatten, Gemm."""
    x = rng.uniform(-1, 1.5, (1, 2, 6, 6)).astype(F32)
    sx, zx = F32(0.01), 120
    w = rng.uniform(-0.5, 0.5, (3, 2, 3, 3)).astype(F32)
    sw = (np.abs(w).reshape(3, -1).max(axis=1) / 127).astype(F32)
    wq = quantize(w, sw, np.zeros(3, np.int64), np.int8, axis=0)
    bq = rng.integers(-2000, 2000, 3).astype(np.int32)
    sb = (sx * sw).astype(F32)
    sr, zr = F32(0.02), 0
    sg, zg = F32(0.01), 3
    w2 = rng.uniform(-0.8, 0.8, (3, 4)).astype(F32)
    sw2 = F32(np.abs(w2).max() / 127)
    w2q = quantize(w2, sw2, 0, np.int8)
    b2q = rng.integers(-500, 500, 4).astype(np.int32)
    sb2 = F32(sg * sw2)
    so, zo = F32(0.015), 128

    nodes = [
        helper.make_node("QuantizeLinear", ["x", "x_scale", "x_zero_point"], ["x_QuantizeLinear_Output"], name="x_QuantizeLinear"),
        helper.make_node("DequantizeLinear", ["x_QuantizeLinear_Output", "x_scale", "x_zero_point"], ["x_DequantizeLinear_Output"], name="x_DequantizeLinear"),
        helper.make_node("DequantizeLinear", ["W_quantized", "W_scale", "W_zero_point"], ["W_DequantizeLinear_Output"], name="W_DequantizeLinear", axis=0),
        helper.make_node("DequantizeLinear", ["B_quantized", "B_scale", "B_zero_point"], ["B_DequantizeLinear_Output"], name="B_DequantizeLinear", axis=0),
        helper.make_node("Conv", ["x_DequantizeLinear_Output", "W_DequantizeLinear_Output", "B_DequantizeLinear_Output"], ["conv_out"], name="conv", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["conv_out"], ["relu_out"], name="relu"),
        helper.make_node("QuantizeLinear", ["relu_out", "r_scale", "r_zp"], ["relu_q"], name="relu_out_QuantizeLinear"),
        helper.make_node("DequantizeLinear", ["relu_q", "r_scale", "r_zp"], ["relu_dq"], name="relu_out_DequantizeLinear"),
        helper.make_node("GlobalAveragePool", ["relu_dq"], ["gap"], name="gap"),
        helper.make_node("QuantizeLinear", ["gap", "g_scale", "g_zp"], ["gap_q"], name="gap_QuantizeLinear"),
        helper.make_node("DequantizeLinear", ["gap_q", "g_scale", "g_zp"], ["gap_dq"], name="gap_DequantizeLinear"),
        helper.make_node("Flatten", ["gap_dq"], ["flat"], name="flatten"),
        helper.make_node("QuantizeLinear", ["flat", "g_scale", "g_zp"], ["flat_q"], name="flat_QuantizeLinear"),
        helper.make_node("DequantizeLinear", ["flat_q", "g_scale", "g_zp"], ["flat_dq"], name="flat_DequantizeLinear"),
        helper.make_node("DequantizeLinear", ["W2_quantized", "W2_scale", "W2_zero_point"], ["W2_DequantizeLinear_Output"], name="W2_DequantizeLinear"),
        helper.make_node("DequantizeLinear", ["B2_quantized", "B2_scale", "B2_zero_point"], ["B2_DequantizeLinear_Output"], name="B2_DequantizeLinear"),
        helper.make_node("Gemm", ["flat_dq", "W2_DequantizeLinear_Output", "B2_DequantizeLinear_Output"], ["output_QuantizeLinear_Input"], name="gemm"),
        helper.make_node("QuantizeLinear", ["output_QuantizeLinear_Input", "o_scale", "o_zp"], ["output_QuantizeLinear_Output"], name="output_QuantizeLinear"),
        helper.make_node("DequantizeLinear", ["output_QuantizeLinear_Output", "o_scale", "o_zp"], ["output"], name="output_DequantizeLinear"),
    ]
    inits = [
        init("x_scale", sx), init("x_zero_point", np.uint8(zx)),
        init("W_quantized", wq), init("W_scale", sw), init("W_zero_point", np.zeros(3, np.int8)),
        init("B_quantized", bq), init("B_scale", sb), init("B_zero_point", np.zeros(3, np.int32)),
        init("r_scale", sr), init("r_zp", np.uint8(zr)), init("g_scale", sg), init("g_zp", np.uint8(zg)),
        init("W2_quantized", w2q), init("W2_scale", sw2), init("W2_zero_point", np.int8(0)),
        init("B2_quantized", b2q), init("B2_scale", sb2), init("B2_zero_point", np.int32(0)),
        init("o_scale", so), init("o_zp", np.uint8(zo)),
    ]
    g = helper.make_graph(nodes, "qdq_conv", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 6, 6])],
                          [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 4])], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)], producer_name="qdiff make_models.py")
    m.ir_version = 7

    wd = dequantize(wq, sw, np.zeros(3), axis=0)
    bd = dequantize(bq, sb, np.zeros(3), axis=0)
    w2d = dequantize(w2q, sw2, 0)
    b2d = dequantize(b2q, sb2, 0)

    def run(q):
        a = fq(x, sx, zx, np.uint8) if q else x
        c = np.maximum(conv2d(a, wd, bd, 1), 0)
        c = fq(c, sr, zr, np.uint8) if q else c
        p = c.astype(np.float64).mean(axis=(2, 3), keepdims=True).astype(F32)
        p = fq(p, sg, zg, np.uint8) if q else p
        f = p.reshape(1, -1)
        f = fq(f, sg, zg, np.uint8) if q else f
        y = (mm(f, w2d) + b2d).astype(F32)
        return fq(y, so, zo, np.uint8) if q else y

    expect = [
        expect_entry("x", "activation", None, sx, zx, np.uint8),
        expect_entry("W", "weight", wq, sw, np.zeros(3, int), np.int8, axis=0, weight=wd),
        expect_entry("B", "bias", bq, sb, np.zeros(3, int), np.int32, axis=0, weight=bd),
        expect_entry("relu_out", "activation", None, sr, zr, np.uint8),
        expect_entry("gap", "activation", None, sg, zg, np.uint8),
        expect_entry("flat", "activation", None, sg, zg, np.uint8),
        expect_entry("W2", "weight", w2q, sw2, 0, np.int8, weight=w2d),
        expect_entry("B2", "bias", b2q, sb2, 0, np.int32, weight=b2d),
        expect_entry("output", "activation", None, so, zo, np.uint8),
    ]
    save("qdq_conv", m, x, run(False), run(True), expect)

    # The float original, with the names torch gives: for map_plan.
    fnodes = [
        helper.make_node("Conv", ["input", "conv.weight", "conv.bias"], ["/conv/Conv_output_0"], name="/conv/Conv", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["/conv/Conv_output_0"], ["/relu/Relu_output_0"], name="/relu/Relu"),
        helper.make_node("GlobalAveragePool", ["/relu/Relu_output_0"], ["/gap/GlobalAveragePool_output_0"], name="/gap/GlobalAveragePool"),
        helper.make_node("Flatten", ["/gap/GlobalAveragePool_output_0"], ["/Flatten_output_0"], name="/Flatten"),
        helper.make_node("Gemm", ["/Flatten_output_0", "fc.weight", "fc.bias"], ["logits"], name="/fc/Gemm"),
    ]
    finits = [init("conv.weight", w), init("conv.bias", bd), init("fc.weight", w2), init("fc.bias", b2d)]
    fg = helper.make_graph(fnodes, "float", [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 2, 6, 6])],
                           [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 4])], finits)
    fm = helper.make_model(fg, opset_imports=[helper.make_opsetid("", 13)], producer_name="qdiff make_models.py")
    fm.ir_version = 7
    onnx.checker.check_model(fm)
    onnx.save(fm, os.path.join(HERE, "qdq_conv_float.onnx"))


def qdq16(domain, opset, name):
    """16-bit QDQ: uint16 activations, int16 weight (torch-like names), a float constant with a
    Q -> DQ pair. com.microsoft Q/DQ below opset 21 as ORT writes them, or domain "" at 21."""
    x = rng.uniform(-2, 2, (2, 4)).astype(F32)
    sx, zx = F32(1e-4), 30000
    w = rng.uniform(-1, 1, (4, 3)).astype(F32)
    sw = F32(np.abs(w).max() / 32767)
    wq = quantize(w, sw, 0, np.int16)
    sm, zm = F32(2e-4), 32000
    c = rng.uniform(-1, 1, (3,)).astype(F32)
    sc = F32(1 / 32767)
    cq = quantize(c, sc, 0, np.int16)
    so, zo = F32(3e-4), 31000

    def q(inp, s, z, out, nm):
        return helper.make_node("QuantizeLinear", [inp, s, z], [out], name=nm, domain=domain)

    def dq(inp, s, z, out, nm):
        return helper.make_node("DequantizeLinear", [inp, s, z], [out], name=nm, domain=domain)

    nodes = [
        q("x", "sx", "zx", "t1", "q1"), dq("t1", "sx", "zx", "t2", "dq1"),
        dq("onnx::MatMul_7", "sw", "zw", "t3", "dqw"),
        helper.make_node("MatMul", ["t2", "t3"], ["mm"], name="matmul"),
        q("mm", "sm", "zm", "t4", "q2"), dq("t4", "sm", "zm", "t5", "dq2"),
        q("c", "sc", "zc", "t6", "qc"), dq("t6", "sc", "zc", "t7", "dqc"),
        helper.make_node("Add", ["t5", "t7"], ["add"], name="add"),
        q("add", "so", "zo", "t8", "q3"), dq("t8", "so", "zo", "y", "dq3"),
    ]
    inits = [init("sx", sx), init("zx", np.uint16(zx)), init("onnx::MatMul_7", wq), init("sw", sw),
             init("zw", np.int16(0)), init("sm", sm), init("zm", np.uint16(zm)), init("c", c),
             init("sc", sc), init("zc", np.int16(0)), init("so", so), init("zo", np.uint16(zo))]
    g = helper.make_graph(nodes, name, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 4])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])], inits)
    ops = [helper.make_opsetid("", opset)]
    if domain:
        ops.append(helper.make_opsetid(domain, 1))
    m = helper.make_model(g, opset_imports=ops, producer_name="qdiff make_models.py")
    m.ir_version = 7 if opset <= 15 else 10
    wd = dequantize(wq, sw, 0)
    cd = dequantize(cq, sc, 0)

    def run(quant):
        a = fq(x, sx, zx, np.uint16) if quant else x
        t = mm(a, wd)
        t = fq(t, sm, zm, np.uint16) if quant else t
        t = (t + cd).astype(F32)
        return fq(t, so, zo, np.uint16) if quant else t

    expect = [
        expect_entry("x", "activation", None, sx, zx, np.uint16),
        expect_entry("t3", "weight", wq, sw, 0, np.int16, weight=wd),
        expect_entry("mm", "activation", None, sm, zm, np.uint16),
        expect_entry("c", "weight", cq, sc, 0, np.int16, weight=cd),
        expect_entry("y", "activation", None, so, zo, np.uint16),
    ]
    save(name, m, x, run(False), run(True), expect, check=opset <= 17)


def qlinear():
    """ORT QOperator format: QLinear ops, integer MaxPool/Flatten, Q at the input, DQ at the output."""
    x = rng.uniform(-1, 1, (1, 2, 6, 6)).astype(F32)
    sx, zx = F32(0.008), 128
    w = rng.uniform(-0.6, 0.6, (3, 2, 3, 3)).astype(F32)
    sw = (np.abs(w).reshape(3, -1).max(axis=1) / 127).astype(F32)
    wq = quantize(w, sw, np.zeros(3), np.int8, axis=0)
    bq = rng.integers(-3000, 3000, 3).astype(np.int32)
    sc_, zc = F32(0.02), 100
    sl, zl = F32(0.015), 90
    sg, zg = F32(0.01), 80
    g_w = rng.uniform(-1, 1, (3, 4)).astype(F32)
    g_sw = (np.abs(g_w).max(axis=0) / 127).astype(F32)  # per column (transB = 0)
    g_wq = quantize(g_w, g_sw, np.zeros(4), np.int8, axis=1)
    g_bq = rng.integers(-300, 300, 4).astype(np.int32)
    sgm, zgm = F32(0.02), 128
    addc = rng.integers(0, 255, (1, 4)).astype(np.uint8)
    s_addc, z_addc = F32(0.01), 128
    sa, za = F32(0.025), 120
    m_w = rng.integers(0, 255, (4, 3)).astype(np.uint8)
    s_mw, z_mw = F32(0.004), 127
    smm, zmm = F32(0.01), 125
    smul, zmul = F32(0.002), 10
    ssig, zsig = F32(1 / 256), 0

    MS = "com.microsoft"
    nodes = [
        helper.make_node("QuantizeLinear", ["x", "sx", "zx"], ["x_q"], name="x_QuantizeLinear"),
        helper.make_node("QLinearConv", ["x_q", "sx", "zx", "w_quantized", "sw", "zw", "sc", "zc", "b_quantized"], ["c_q"], name="conv_quant", pads=[1, 1, 1, 1]),
        helper.make_node("MaxPool", ["c_q"], ["p_q"], name="pool", kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("QLinearLeakyRelu", ["p_q", "sc", "zc", "sl", "zl"], ["l_q"], name="leaky_quant", domain=MS, alpha=0.1),
        helper.make_node("QLinearGlobalAveragePool", ["l_q", "sl", "zl", "sg", "zg"], ["g_q"], name="gap_quant", domain=MS, channels_last=0),
        helper.make_node("Flatten", ["g_q"], ["f_q"], name="flatten"),
        helper.make_node("QGemm", ["f_q", "sg", "zg", "gw_quantized", "gsw", "gzw", "gb_quantized", "sgm", "zgm"], ["gm_q"], name="gemm_quant", domain=MS),
        helper.make_node("QLinearAdd", ["gm_q", "sgm", "zgm", "addc", "s_addc", "z_addc", "sa", "za"], ["a_q"], name="add_quant", domain=MS),
        helper.make_node("QLinearMatMul", ["a_q", "sa", "za", "mw", "s_mw", "z_mw", "smm", "zmm"], ["mm_q"], name="matmul_quant"),
        helper.make_node("QLinearMul", ["mm_q", "smm", "zmm", "mm_q", "smm", "zmm", "smul", "zmul"], ["mul_q"], name="mul_quant", domain=MS),
        helper.make_node("QLinearSigmoid", ["mul_q", "smul", "zmul", "ssig", "zsig"], ["sig_q"], name="sigmoid_quant", domain=MS),
        helper.make_node("DequantizeLinear", ["sig_q", "ssig", "zsig"], ["output"], name="output_DequantizeLinear"),
    ]
    inits = [
        init("sx", sx), init("zx", np.uint8(zx)), init("w_quantized", wq), init("sw", sw), init("zw", np.zeros(3, np.int8)),
        init("sc", sc_), init("zc", np.uint8(zc)), init("b_quantized", bq), init("sl", sl), init("zl", np.uint8(zl)),
        init("sg", sg), init("zg", np.uint8(zg)), init("gw_quantized", g_wq), init("gsw", g_sw), init("gzw", np.zeros(4, np.int8)),
        init("gb_quantized", g_bq), init("sgm", sgm), init("zgm", np.uint8(zgm)), init("addc", addc), init("s_addc", s_addc),
        init("z_addc", np.uint8(z_addc)), init("sa", sa), init("za", np.uint8(za)), init("mw", m_w), init("s_mw", s_mw),
        init("z_mw", np.uint8(z_mw)), init("smm", smm), init("zmm", np.uint8(zmm)), init("smul", smul),
        init("zmul", np.uint8(zmul)), init("ssig", ssig), init("zsig", np.uint8(zsig)),
    ]
    g = helper.make_graph(nodes, "qlinear", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 6, 6])],
                          [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 3])], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid(MS, 1)],
                          producer_name="qdiff make_models.py")
    m.ir_version = 7
    wd = dequantize(wq, sw, np.zeros(3), axis=0)
    bd = dequantize(bq, (sx * sw).astype(F32), np.zeros(3), axis=0)
    g_wd = dequantize(g_wq, g_sw, np.zeros(4), axis=1)
    g_bd = dequantize(g_bq, (sg * g_sw).astype(F32), np.zeros(4), axis=0)
    addd = dequantize(addc, s_addc, z_addc)
    m_wd = dequantize(m_w, s_mw, z_mw)

    def run(q):
        def f(v, s, z):
            return fq(v, s, z, np.uint8) if q else v
        a = f(x, sx, zx)
        c = f(conv2d(a, wd, bd, 1), sc_, zc)
        p = c.reshape(1, 3, 3, 2, 3, 2).max(axis=(3, 5))
        lr = f(np.where(p < 0, (p.astype(np.float64) * F32(0.1)).astype(F32), p), sl, zl)
        gp = f(lr.astype(np.float64).mean(axis=(2, 3), keepdims=True).astype(F32), sg, zg)
        fl = gp.reshape(1, -1)
        gm = f((mm(fl, g_wd) + g_bd).astype(F32), sgm, zgm)
        ad = f((gm + addd).astype(F32), sa, za)
        mmv = f(mm(ad, m_wd), smm, zmm)
        mu = f((mmv * mmv).astype(F32), smul, zmul)
        sg_ = (1 / (1 + np.exp(-mu.astype(np.float64)))).astype(F32)
        return f(sg_, ssig, zsig)

    expect = [
        expect_entry("x", "activation", None, sx, zx, np.uint8),
        expect_entry("w", "weight", wq, sw, np.zeros(3, int), np.int8, axis=0, weight=wd),
        expect_entry("b", "bias", bq, (sx * sw).astype(F32), np.zeros(3, int), np.int32, axis=0, weight=bd),
        expect_entry("c_q", "activation", None, sc_, zc, np.uint8),
        expect_entry("p_q", "activation", None, sc_, zc, np.uint8),
        expect_entry("l_q", "activation", None, sl, zl, np.uint8),
        expect_entry("g_q", "activation", None, sg, zg, np.uint8),
        expect_entry("f_q", "activation", None, sg, zg, np.uint8),
        expect_entry("gw", "weight", g_wq, g_sw, np.zeros(4, int), np.int8, axis=1, weight=g_wd),
        expect_entry("gb", "bias", g_bq, (sg * g_sw).astype(F32), np.zeros(4, int), np.int32, axis=0, weight=g_bd),
        expect_entry("gm_q", "activation", None, sgm, zgm, np.uint8),
        expect_entry("addc_dequantized", "weight", addc, s_addc, z_addc, np.uint8, weight=addd),
        expect_entry("a_q", "activation", None, sa, za, np.uint8),
        expect_entry("mw_dequantized", "weight", m_w, s_mw, z_mw, np.uint8, weight=m_wd),
        expect_entry("mm_q", "activation", None, smm, zmm, np.uint8),
        expect_entry("mul_q", "activation", None, smul, zmul, np.uint8),
        expect_entry("output", "activation", None, ssig, zsig, np.uint8),
    ]
    save("qlinear", m, x, run(False), run(True), expect)


def conv_integer():
    """ORT dynamic quantization: DynamicQuantizeLinear -> ConvInteger / MatMulInteger -> Cast ->
    Mul(s_x * s_w) -> Add(bias)."""
    x = rng.uniform(-1, 2, (1, 2, 6, 6)).astype(F32)
    w = rng.uniform(-0.5, 0.5, (3, 2, 3, 3)).astype(F32)
    sw = F32((w.max() - w.min()) / 255)
    zw = int(np.rint(-w.min() / sw))
    wq = quantize(w, sw, zw, np.uint8)
    b = rng.uniform(-0.2, 0.2, 3).astype(F32)
    w2 = rng.uniform(-0.3, 0.3, (108, 4)).astype(F32)
    sw2 = F32((w2.max() - w2.min()) / 255)
    zw2 = int(np.rint(-w2.min() / sw2))
    w2q = quantize(w2, sw2, zw2, np.uint8)
    b2 = rng.uniform(-0.1, 0.1, 4).astype(F32)
    nodes = [
        helper.make_node("DynamicQuantizeLinear", ["x"], ["x_quantized", "x_scale", "x_zero_point"], name="x_QuantizeLinear"),
        helper.make_node("Mul", ["x_scale", "conv.weight_scale"], ["conv_scales"], name="/conv/Conv_quant_scales_mul"),
        helper.make_node("ConvInteger", ["x_quantized", "conv.weight_quantized", "x_zero_point", "conv.weight_zero_point"], ["conv_int"], name="/conv/Conv_quant", pads=[1, 1, 1, 1]),
        helper.make_node("Cast", ["conv_int"], ["conv_cast"], name="/conv/Conv_cast", to=TensorProto.FLOAT),
        helper.make_node("Mul", ["conv_cast", "conv_scales"], ["conv_scaled"], name="/conv/Conv_output_scale_mul"),
        helper.make_node("Reshape", ["conv.bias", "bias_shape"], ["bias_r"], name="/conv/bias_reshape"),
        helper.make_node("Add", ["conv_scaled", "bias_r"], ["/conv/Conv_output_0"], name="/conv/bias_add"),
        helper.make_node("Relu", ["/conv/Conv_output_0"], ["/relu/Relu_output_0"], name="/relu/Relu"),
        helper.make_node("Flatten", ["/relu/Relu_output_0"], ["/Flatten_output_0"], name="/Flatten"),
        helper.make_node("DynamicQuantizeLinear", ["/Flatten_output_0"], ["f_quantized", "f_scale", "f_zero_point"], name="f_QuantizeLinear"),
        helper.make_node("Mul", ["f_scale", "fc.weight_scale"], ["fc_scales"], name="/fc/MatMul_quant_scales_mul"),
        helper.make_node("MatMulInteger", ["f_quantized", "fc.weight_quantized", "f_zero_point", "fc.weight_zero_point"], ["fc_int"], name="/fc/MatMul_quant"),
        helper.make_node("Cast", ["fc_int"], ["fc_cast"], name="/fc/MatMul_cast", to=TensorProto.FLOAT),
        helper.make_node("Mul", ["fc_cast", "fc_scales"], ["/fc/MatMul_output_0"], name="/fc/MatMul_output_scale_mul"),
        helper.make_node("Add", ["/fc/MatMul_output_0", "fc.bias"], ["output"], name="/fc/Add"),
    ]
    inits = [init("conv.weight_quantized", wq), init("conv.weight_scale", sw), init("conv.weight_zero_point", np.uint8(zw)),
             init("conv.bias", b), init("bias_shape", np.array([1, -1, 1, 1], np.int64)),
             init("fc.weight_quantized", w2q), init("fc.weight_scale", sw2), init("fc.weight_zero_point", np.uint8(zw2)),
             init("fc.bias", b2)]
    g = helper.make_graph(nodes, "conv_integer", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 6, 6])],
                          [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 4])], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)], producer_name="qdiff make_models.py")
    m.ir_version = 7
    wd = dequantize(wq, sw, zw)
    w2d = dequantize(w2q, sw2, zw2)

    def run(q):
        a = fq_dyn(x) if q else x
        c = np.maximum(conv2d(a, wd, b, 1), 0).reshape(1, -1)
        c = fq_dyn(c) if q else c
        return (mm(c, w2d) + b2).astype(F32)

    expect = [
        expect_entry("x", "activation", None, 1, 0, np.uint8, dynamic=True),
        expect_entry("conv.weight", "weight", wq, sw, zw, np.uint8, weight=wd),
        expect_entry("/Flatten_output_0", "activation", None, 1, 0, np.uint8, dynamic=True),
        expect_entry("fc.weight", "weight", w2q, sw2, zw2, np.uint8, weight=w2d),
    ]
    save("conv_integer", m, x, run(False), run(True), expect)


if __name__ == "__main__":
    qdq_conv()
    qdq16("com.microsoft", 13, "qdq16_ms")
    qdq16("", 21, "qdq16_opset21")
    qlinear()
    conv_integer()
