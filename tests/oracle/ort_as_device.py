#!/usr/bin/env python3
"""Turns ONNX Runtime's integer tensors (ort_dump.js --only-op QuantizeLinear on a QDQ model) into
a device dump for `qdiff diagnose --device-dump`: each QuantizeLinear output gets the scale and
zero point of its QuantizeLinear node (so the reader dequantizes it), under ORT's own name (which
the float model does not have: qdiff must match it by its values); float tensors (the model
outputs) are kept as they are.

  ort_as_device.py QDQ.onnx ORT_DIR OUT_DIR"""
import json
import os
import shutil
import sys

import onnx
from onnx import numpy_helper


def main():
    qdq, ort_dir, out_dir = sys.argv[1:4]
    model = onnx.load(qdq, load_external_data=False)
    consts = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    for n in model.graph.node:
        if n.op_type == "Constant":
            consts[n.output[0]] = numpy_helper.to_array(n.attribute[0].t)
    params = {}
    for n in model.graph.node:
        if n.op_type == "QuantizeLinear" and n.input[1] in consts:
            s = consts[n.input[1]].reshape(-1).astype(float).tolist()
            z = consts[n.input[2]].reshape(-1).astype(int).tolist() if len(n.input) > 2 else [0]
            params[n.output[0]] = (s, z)
    m = json.load(open(os.path.join(ort_dir, "manifest.json")))
    os.makedirs(out_dir, exist_ok=True)
    tensors = []
    for t in m["tensors"]:
        shutil.copy(os.path.join(ort_dir, t["file"]), os.path.join(out_dir, t["file"]))
        if t["name"] in params:
            s, z = params[t["name"]]
            if len(s) != 1:
                continue  # per-channel activations: not produced by this exporter
            t = dict(t, scale=s[0], zero_point=z[0])
        tensors.append(t)
    m["tensors"] = tensors
    json.dump(m, open(os.path.join(out_dir, "manifest.json"), "w"), indent=1)


if __name__ == "__main__":
    main()
