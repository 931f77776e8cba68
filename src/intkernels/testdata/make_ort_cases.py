#!/usr/bin/python3
"""Builds tiny quantized ONNX models (QLinearConv, QLinearMatMul, QLinearAdd, QLinearMul,
QLinearGlobalAveragePool, QLinearAveragePool, QLinearSigmoid, QLinearLeakyRelu) and their inputs
for intkernels' bit-exact test against ONNX Runtime.

    /usr/bin/python3 make_ort_cases.py            # writes models/ and <case>.x*.npy
    node run_ort.js                                # writes <case>.y.npy (ORT's outputs)

The quantization parameters here are repeated in ort_oracle_test.cc (kCases); keep both equal.
Models, inputs and ORT outputs are committed (a few hundred KiB).
"""
import os
import numpy as np
import onnx
from onnx import helper, TensorProto, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
MODELS = os.path.join(HERE, "models")
os.makedirs(MODELS, exist_ok=True)
rng = np.random.default_rng(20240611)

U8, I8, I32, F = TensorProto.UINT8, TensorProto.INT8, TensorProto.INT32, TensorProto.FLOAT
ONNX_DT = {np.uint8: U8, np.int8: I8, np.int32: I32, np.float32: F}


def const(name, arr):
    return numpy_helper.from_array(np.asarray(arr), name)


def save(case, nodes, inputs, out_name, out_dtype, inits):
    """inputs: list of (name, array); writes the model and <case>.<name>.npy."""
    g_inputs = [helper.make_tensor_value_info(n, ONNX_DT[a.dtype.type], list(a.shape))
                for n, a in inputs]
    g_out = helper.make_tensor_value_info(out_name, out_dtype, None)
    graph = helper.make_graph(nodes, case, g_inputs, [g_out], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13),
                                                    helper.make_opsetid("com.microsoft", 1)])
    model.ir_version = 7
    onnx.save(model, os.path.join(MODELS, case + ".onnx"))
    for n, a in inputs:
        np.save(os.path.join(HERE, f"{case}.{n}.npy"), a)


def qparams(prefix, scale, zp, zdtype):
    s = np.asarray(scale, dtype=np.float32)
    z = np.asarray(zp, dtype=zdtype)
    return [const(prefix + "_scale", s), const(prefix + "_zp", z)]


def conv_case(case, xshape, wshape, group, strides, pads, x_sz, w_scales, y_sz, dil=(1, 1)):
    x = rng.integers(0, 256, size=xshape, dtype=np.uint8)
    w = rng.integers(-127, 128, size=wshape, dtype=np.int8)
    b = rng.integers(-3000, 3000, size=(wshape[0],), dtype=np.int32)
    inits = qparams("x", x_sz[0], x_sz[1], np.uint8)
    inits += [const("w", w), const("w_scale", np.asarray(w_scales, np.float32)),
              const("w_zp", np.zeros(len(w_scales), np.int8)), const("b", b)]
    inits += qparams("y", y_sz[0], y_sz[1], np.uint8)
    node = helper.make_node("QLinearConv", ["x", "x_scale", "x_zp", "w", "w_scale", "w_zp",
                                            "y_scale", "y_zp", "b"], ["y"], group=group,
                            strides=list(strides), pads=list(pads), dilations=list(dil),
                            kernel_shape=list(wshape[2:]))
    save(case, [node], [("x", x)], "y", U8, inits)
    np.save(os.path.join(HERE, f"{case}.w.npy"), w)
    np.save(os.path.join(HERE, f"{case}.b.npy"), b)


# Per-channel weights, pads 1, stride 1 (3 -> 4 channels).
conv_case("conv_pc", (1, 3, 6, 6), (4, 3, 3, 3), 1, (1, 1), (1, 1, 1, 1),
          (0.02, 117), [0.003, 0.0011, 0.0052, 0.0007], (0.05, 120))
# Depthwise, stride 2, asymmetric pads, dilation 2.
conv_case("conv_dw", (1, 4, 9, 9), (4, 1, 3, 3), 4, (2, 2), (1, 2, 2, 1),
          (0.031, 128), [0.0042, 0.0019, 0.0063, 0.0025], (0.04, 100), dil=(2, 2))

# QLinearMatMul: per-tensor and per-column B.
for case, bscale in (("matmul_pt", [0.0045]), ("matmul_pc", [0.003, 0.0061, 0.0012, 0.0029, 0.008])):
    a = rng.integers(0, 256, size=(2, 3, 8), dtype=np.uint8)
    bm = rng.integers(-127, 128, size=(8, 5), dtype=np.int8)
    inits = qparams("a", 0.027, 131, np.uint8)
    inits += [const("bm", bm), const("b_scale", np.asarray(bscale, np.float32)),
              const("b_zp", np.zeros(len(bscale), np.int8))]
    inits += qparams("y", 0.11, 125, np.uint8)
    node = helper.make_node("QLinearMatMul", ["a", "a_scale", "a_zp", "bm", "b_scale", "b_zp",
                                              "y_scale", "y_zp"], ["y"])
    save(case, [node], [("a", a)], "y", U8, inits)
    np.save(os.path.join(HERE, f"{case}.bm.npy"), bm)

# QLinearAdd / QLinearMul with broadcasting: general, B per channel (scalar per span), B scalar,
# A broadcast along the innermost dim.
shapes = {"same": ((1, 3, 4, 5), (1, 3, 4, 5)), "bchan": ((1, 3, 4, 5), (1, 3, 1, 1)),
          "bscalar": ((1, 3, 4, 5), (1,)), "ainner": ((2, 3, 1), (2, 3, 7))}
for op in ("QLinearAdd", "QLinearMul"):
    for tag, (sa, sb) in shapes.items():
        case = ("add_" if op == "QLinearAdd" else "mul_") + tag
        a = rng.integers(0, 256, size=sa, dtype=np.uint8)
        b = rng.integers(0, 256, size=sb, dtype=np.uint8)
        inits = qparams("a", 0.0371, 121, np.uint8) + qparams("b", 0.0213, 140, np.uint8)
        inits += qparams("c", 0.0457 if op == "QLinearAdd" else 0.0093, 118, np.uint8)
        node = helper.make_node(op, ["a", "a_scale", "a_zp", "b", "b_scale", "b_zp", "c_scale",
                                     "c_zp"], ["c"], domain="com.microsoft")
        save(case, [node], [("a", a), ("b", b)], "c", U8, inits)

# QLinearGlobalAveragePool (NCHW) and QLinearAveragePool.
x = rng.integers(0, 256, size=(1, 4, 5, 5), dtype=np.uint8)
inits = qparams("x", 0.043, 119, np.uint8) + qparams("y", 0.017, 125, np.uint8)
node = helper.make_node("QLinearGlobalAveragePool", ["x", "x_scale", "x_zp", "y_scale", "y_zp"],
                        ["y"], domain="com.microsoft", channels_last=0)
save("gavgpool", [node], [("x", x)], "y", U8, inits)
for cip in (0, 1):
    x = rng.integers(0, 256, size=(1, 2, 7, 7), dtype=np.uint8)
    inits = qparams("x", 0.029, 127, np.uint8) + qparams("y", 0.023, 131, np.uint8)
    node = helper.make_node("QLinearAveragePool", ["x", "x_scale", "x_zp", "y_scale", "y_zp"],
                            ["y"], domain="com.microsoft", kernel_shape=[3, 3], strides=[2, 2],
                            pads=[1, 1, 1, 1], count_include_pad=cip)
    save(f"avgpool_cip{cip}", [node], [("x", x)], "y", U8, inits)

# Lookup tables over every input code.
for op, case, dt, extra in (("QLinearSigmoid", "sigmoid_u8", np.uint8, {}),
                            ("QLinearSigmoid", "sigmoid_s8", np.int8, {}),
                            ("QLinearLeakyRelu", "leaky_u8", np.uint8, {"alpha": 0.1}),
                            ("QLinearLeakyRelu", "leaky_s8", np.int8, {"alpha": 0.1})):
    info = np.iinfo(dt)
    x = np.arange(info.min, info.max + 1, dtype=np.int64).astype(dt).reshape(1, 256)
    zx = 128 if dt == np.uint8 else 0
    zy = 0 if op == "QLinearSigmoid" and dt == np.uint8 else (-128 if op == "QLinearSigmoid" else zx - 20)
    sy = 1.0 / 256 if op == "QLinearSigmoid" else 0.031
    inits = qparams("x", 0.047, zx, dt) + qparams("y", sy, zy, dt)
    node = helper.make_node(op, ["x", "x_scale", "x_zp", "y_scale", "y_zp"], ["y"],
                            domain="com.microsoft", **extra)
    save(case, [node], [("x", x)], "y", ONNX_DT[dt], inits)
# Tie-rich Add: s_a / s_c = 0.5 and s_b / s_c = 0.25 exactly in float32, so a quarter of the
# outputs are exact halves: the final rounding (rhe) is what is tested.
a = rng.integers(0, 256, size=(1, 2, 16, 16), dtype=np.uint8)
b = rng.integers(0, 256, size=(1, 2, 16, 16), dtype=np.uint8)
inits = qparams("a", 0.02, 128, np.uint8) + qparams("b", 0.01, 128, np.uint8)
inits += qparams("c", 0.04, 128, np.uint8)
node = helper.make_node("QLinearAdd", ["a", "a_scale", "a_zp", "b", "b_scale", "b_zp", "c_scale",
                                       "c_zp"], ["c"], domain="com.microsoft")
save("add_ties", [node], [("a", a), ("b", b)], "c", U8, inits)
print("wrote models to", MODELS)
