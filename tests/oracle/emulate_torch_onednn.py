#!/usr/bin/python3
"""An independent numpy model of PyTorch 1.13's onednn int8 arithmetic on the torch QDQ test
model (tests/data/torch_qdq), used to name the mechanism behind any residue of
run_torch_int_oracle.sh. Needs numpy, torch (only for conv2d in float64) and onnx.

For each linear layer (Conv / Gemm, Relu fused): weights quantized from float.onnx with the
per-channel scales of qdq.onnx, either as torch does (rhe of w * f32(1 / s_w)) or by division
(rhe of w / s_w); exact integer accumulation (float64 of integers); fp32 requantization
y = rhe(f32(acc) * f32(f32(s_x * s_w) / s_y) + f32(b / s_y)) + z_y with the *float* bias, the
fused Relu clamping at z_y. quantized.add: rhe((s_a (a - z_a) + s_b (b - z_b)) * f32(1 / s_c)) +
z_c in float32 (ATen qadd_kernel). MaxPool and Flatten: on the integers.

Prints, per tensor, the bit-exact fraction of (1) each layer fed with torch's own inputs and
(2) the whole chain from torch's quantized input, against torch's dump (torch_int/) and,
given a qdiff dump directory, against qdiff.

  emulate_torch_onednn.py [QDIFF_DIR]"""
import json
import os
import sys

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import numpy_helper

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
DATA = os.path.join(ROOT, "tests", "data", "torch_qdq")
f32 = np.float32


def main():
    tdir = os.path.join(DATA, "torch_int")
    man = {t["fx_node"]: t for t in json.load(open(os.path.join(tdir, "manifest.json")))["tensors"]}

    def ref(n):
        return np.load(os.path.join(tdir, man[n]["file"])).astype(np.int64)

    def par(n):
        return f32(man[n]["quant"]["scale"][0]), man[n]["quant"]["zero_point"][0]

    fm = onnx.load(os.path.join(DATA, "float.onnx"))
    w_float = {t.name: numpy_helper.to_array(t) for t in fm.graph.initializer}
    qm = onnx.load(os.path.join(DATA, "qdq.onnx"))
    consts = {n.output[0]: numpy_helper.to_array(n.attribute[0].t)
              for n in qm.graph.node if n.op_type == "Constant"}
    w_scale = {}
    for n in qm.graph.node:
        if n.op_type == "DequantizeLinear" and n.output[0].endswith("/DequantizeLinear_1_output_0"):
            w_scale[n.output[0].split("/")[1]] = consts[n.input[1]].astype(f32)

    def linear(name, prev, q_in, reciprocal):
        w, b, sw = w_float[name + ".weight"], w_float[name + ".bias"], w_scale[name]
        shp = (-1,) + (1,) * (w.ndim - 1)
        wq = np.rint(w * (f32(1) / sw).reshape(shp)) if reciprocal else np.rint(w / sw.reshape(shp))
        wq = np.clip(wq, -128, 127)
        (sx, zx), (sy, zy) = par(prev), par(name)
        x = torch.from_numpy((q_in - zx).astype(np.float64))
        if w.ndim == 4:
            groups = x.shape[2] if w.shape[1] == 1 and x.shape[2] > 1 else 1
            x = x.reshape((-1,) + x.shape[2:])
            acc = F.conv2d(x, torch.from_numpy(wq.astype(np.float64)), None, 1, w.shape[2] // 2, 1,
                           groups).numpy()
            sh = (1, -1, 1, 1)
        else:
            acc = x.reshape(x.shape[0], -1).numpy() @ wq.T.astype(np.float64)
            sh = (1, -1)
        acc = np.rint(acc).astype(f32)
        scale = ((sx * sw).astype(f32) / sy).astype(f32).reshape(sh)
        v = (acc * scale).astype(f32) + (b.astype(f32) / sy).astype(f32).reshape(sh)
        lo = zy if name != "fc" else 0  # ConvReLU2d: Relu fused; fc: no Relu
        y = np.clip(np.rint(np.clip(v, lo - zy, 255 - zy)), lo - zy, 255 - zy) + zy
        return y.astype(np.int64).reshape(q_in.shape[:2] + y.shape[1:])

    def maxpool(t):
        s = t.shape
        p = F.max_pool2d(torch.from_numpy(t.reshape((-1,) + s[2:]).astype(np.float64)), 2).numpy()
        return p.astype(np.int64).reshape(s[:2] + p.shape[1:])

    def add(a, b):
        (sa, za), (sb, zb), (sc, zc) = par("c3"), par("pw"), par("add_1")
        s = (sa * (a - za).astype(f32)).astype(f32) + (sb * (b - zb).astype(f32)).astype(f32)
        return np.clip(np.rint((s * (f32(1) / sc)).astype(f32)) + zc, 0, 255).astype(np.int64)

    layers = [("c1", "quantize_per_tensor"), ("dw", "max_pool2d"), ("pw", "dw"), ("c3", "pw"),
              ("fc", "flatten")]
    qdiff = None
    if len(sys.argv) > 1:
        qm_ = {t["name"]: t for t in json.load(open(os.path.join(sys.argv[1], "manifest.json")))
               ["tensors"]}
        qdiff = lambda n: np.load(os.path.join(sys.argv[1], qm_[man[n]["name"]]["file"]))  # noqa
    ok = True
    for reciprocal in (True, False):
        how = "w * (1/s)" if reciprocal else "w / s    "
        for name, prev in layers:
            y = linear(name, prev, ref(prev), reciprocal)
            print(f"weights {how}  layer {name:13s} (torch's inputs) vs torch "
                  f"{100 * (y == ref(name)).mean():7.3f}%")
        x = ref("quantize_per_tensor")
        t = {"c1": linear("c1", "quantize_per_tensor", x, reciprocal)}
        t["max_pool2d"] = maxpool(t["c1"])
        for name, prev in layers[1:4]:
            t[name] = linear(name, prev, t[prev], reciprocal)
        t["add_1"] = add(t["c3"], t["pw"])
        t["max_pool2d_1"] = maxpool(t["add_1"])
        t["flatten"] = t["max_pool2d_1"].reshape(16, 1, -1)
        t["fc"] = linear("fc", "flatten", t["flatten"], reciprocal)
        for n, v in t.items():
            line = f"weights {how}  chain {n:13s} vs torch {100 * (v == ref(n)).mean():7.3f}%"
            if reciprocal and not (v == ref(n)).all():
                ok = False
            if qdiff is not None:
                line += f"   vs qdiff {100 * (v == qdiff(n)).mean():7.3f}%"
            print(line)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
