#!/usr/bin/env python3
"""Compares qdiff's integer world (qdiff run --mode int --dump) with ONNX Runtime's integer
tensors (ort_dump.js --only-op QuantizeLinear on the QDQ model): every quantized tensor of qdiff's
dump whose manifest names its DequantizeLinear output ("quant.ref") is matched with the input of
that DequantizeLinear in the QDQ model (a QuantizeLinear output, which ORT keeps as the output of
the fused QLinearConv / QGemm / QLinearAdd ... node) and compared exactly; float graph outputs are
compared with ORT's outputs bit for bit. Prints the bit-exact fraction per tensor.

  compare_int_dumps.py QDQ.onnx ORT_DIR QDIFF_DIR [--verbose]
Exit status 0 when every compared tensor is bit-exact, 1 otherwise."""
import json
import os
import sys

import numpy as np
import onnx


def load(d):
    m = json.load(open(os.path.join(d, "manifest.json")))
    return {t["name"]: t for t in m["tensors"]}, d


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    verbose = "--verbose" in sys.argv
    qdq, ort_dir, qd_dir = args
    model = onnx.load(qdq, load_external_data=False)
    dq_input = {n.output[0]: n.input[0] for n in model.graph.node if n.op_type == "DequantizeLinear"}
    ort, _ = load(ort_dir)
    qd, _ = load(qd_dir)
    compared = 0
    bad = 0
    print(f"{'tensor':60s} {'exact':>8s}  elements")
    for name, t in qd.items():
        ort_name = None
        if "quant" in t and "ref" in t["quant"]:
            ort_name = dq_input.get(t["quant"]["ref"])
        elif name in ort and t["dtype"] == ort[name]["dtype"]:
            ort_name = name
        if ort_name is None or ort_name not in ort:
            continue
        a = np.load(os.path.join(qd_dir, t["file"]))
        b = np.load(os.path.join(ort_dir, ort[ort_name]["file"]))
        if a.shape != b.shape or a.dtype != b.dtype:
            print(f"{name:60s} shape/dtype differ: qdiff {a.dtype}{a.shape} ORT {b.dtype}{b.shape}")
            bad += 1
            compared += 1
            continue
        eq = (a.view(np.uint8) == b.view(np.uint8)) if a.dtype.itemsize == 1 else (a == b)
        if a.dtype == np.float32:
            eq = a.view(np.uint32) == b.view(np.uint32)
        frac = float(eq.mean()) if eq.size else 1.0
        compared += 1
        if frac < 1.0:
            bad += 1
        print(f"{name:60s} {100 * frac:7.3f}%  {eq.size}")
        if verbose and frac < 1.0:
            idx = np.argwhere(~eq)[:5]
            for i in idx:
                print("   ", tuple(i), "qdiff", a[tuple(i)], "ORT", b[tuple(i)])
    print(f"{compared} tensors compared, {compared - bad} bit-exact")
    if compared == 0:
        print("no tensor compared")
        return 2
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
