#!/usr/bin/env python3
"""Compares qdiff's integer world (qdiff run --mode int --dump) with PyTorch's own integer tensors
(scripts/make_torch_int_dump.py: int_repr() of every quantized tensor of the converted FX model,
stored under the float model's tensor names). Every tensor both dumps hold is compared exactly
(values, dtype, shape, scale and zero point); prints the bit-exact fraction per tensor and, where
it is below 100 %, how many elements are off by 1 LSB and the largest difference.

  compare_torch_int_dumps.py TORCH_DIR QDIFF_DIR [--verbose]
Exit status 0 when every compared tensor is bit-exact, 1 otherwise, 2 when nothing compared."""
import json
import os
import sys

import numpy as np


def load(d):
    m = json.load(open(os.path.join(d, "manifest.json")))
    return {t["name"]: t for t in m["tensors"]}


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    verbose = "--verbose" in sys.argv
    torch_dir, qd_dir = args
    ref = load(torch_dir)
    qd = load(qd_dir)
    compared = 0
    bad = 0
    print(f"{'tensor':28s} {'torch node':14s} {'exact':>8s}  {'±1':>6s} {'max|d|':>6s}  elements")
    for name, t in qd.items():
        r = ref.get(name)
        if r is None:
            continue
        compared += 1
        a = np.load(os.path.join(qd_dir, t["file"]))
        b = np.load(os.path.join(torch_dir, r["file"]))
        node = r.get("fx_node", "")
        if a.shape != b.shape or a.dtype != b.dtype:
            print(f"{name:28s} {node:14s} shape/dtype differ: qdiff {a.dtype}{a.shape} "
                  f"torch {b.dtype}{b.shape}")
            bad += 1
            continue
        qa, qb = t.get("quant", {}), r.get("quant", {})
        if (np.float32(qa.get("scale", [0])[0]) != np.float32(qb["scale"][0])
                or qa.get("zero_point") != qb["zero_point"]):
            print(f"{name:28s} {node:14s} parameters differ: qdiff {qa.get('scale')} "
                  f"{qa.get('zero_point')} torch {qb['scale']} {qb['zero_point']}")
            bad += 1
            continue
        d = np.abs(a.astype(np.int64) - b.astype(np.int64))
        frac = float((d == 0).mean()) if d.size else 1.0
        if frac < 1.0:
            bad += 1
        print(f"{name:28s} {node:14s} {100 * frac:7.3f}%  {int((d == 1).sum()):6d} "
              f"{int(d.max()) if d.size else 0:6d}  {d.size}")
        if verbose and frac < 1.0:
            for i in np.argwhere(d != 0)[:8]:
                i = tuple(i)
                print("   ", i, "qdiff", a[i], "torch", b[i])
    print(f"{compared} tensors compared, {compared - bad} bit-exact")
    if compared == 0:
        print("no tensor compared")
        return 2
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
