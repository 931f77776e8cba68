#!/usr/bin/python3
"""PyTorch's own integer tensors of the torch QDQ test model, for the integer-world oracle
(tests/oracle/run_torch_int_oracle.sh, issue 4).

Run from the repository root:

    /usr/bin/python3 scripts/make_torch_int_dump.py

Rebuilds the converted FX int8 model of scripts/make_torch_qdq.py (build(): deterministic, one
thread, torch.backends.quantized.engine = 'onednn') and first checks that it is the committed one:
its ONNX export must equal tests/data/torch_qdq/qdq.onnx byte for byte (else the script stops;
rerun make_torch_qdq.py and this script together). Then it runs the converted GraphModule on the
16 images of tests/data/torch_qdq/samples.npy under torch.fx.Interpreter and keeps every
quantized tensor it produces (quantize_per_tensor, the fused ConvReLU2d / Linear modules,
max_pool2d, quantized.add, flatten) as integers (int_repr()) with its scale and zero point.

Each FX node is named after the float model's tensor (tests/data/torch_qdq/float.onnx) it
corresponds to, found by structure: the float graph is cut into units (Conv or Gemm with the Relu
that alone reads it; any other node alone), the FX graph's quantized nodes into the same kinds,
the two lists are matched in order and every match is checked to read the matches of its inputs.
The quantized graph input is named "input" (the float graph input it quantizes).

Output, in qdiff's dump format (docs/dump-format.md), under tests/data/torch_qdq/torch_int/:
manifest.json (schema qdiff.dump/1, mode "torch-onednn", per tensor "quant" as qdiff writes it:
{"bits", "signed", "dynamic", "scale": [s], "zero_point": [z], "axis": -1 (per tensor)}, plus
"fx_node" and "torch_dtype") and one .npy per tensor, uint8 with a leading sample dimension."""

import json
import os
import sys
import tempfile

import numpy as np
import onnx
import torch
import torch.fx

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_torch_qdq  # noqa: E402

DATA = "tests/data/torch_qdq"
OUT = os.path.join(DATA, "torch_int")


def float_units(model):
    """[(kind, output name, [input names])] of the float ONNX graph in order; a Conv/Gemm whose
    only reader is a Relu forms one unit with it."""
    g = model.graph
    readers = {}
    for n in g.node:
        for i in n.input:
            readers.setdefault(i, []).append(n)
    consts = {i.name for i in g.initializer}
    units = []
    absorbed = set()
    for n in g.node:
        if id(n) in absorbed:
            continue
        kind = {"Conv": "conv", "Gemm": "linear", "MaxPool": "maxpool", "Add": "add",
                "Flatten": "flatten"}.get(n.op_type)
        if kind is None:
            raise SystemExit("float.onnx: unexpected op %s" % n.op_type)
        out = n.output[0]
        r = readers.get(out, [])
        if kind in ("conv", "linear") and len(r) == 1 and r[0].op_type == "Relu":
            absorbed.add(id(r[0]))
            out = r[0].output[0]
        units.append((kind, out, [i for i in n.input if i and i not in consts]))
    return units


def fx_units(gm):
    """[(kind, fx node)] of the converted GraphModule's quantized nodes, in order."""
    mods = dict(gm.named_modules())
    units = []
    for n in gm.graph.nodes:
        kind = None
        if n.op == "call_function" and n.target is torch.quantize_per_tensor:
            kind = "input"
        elif n.op == "call_module":
            t = type(mods[n.target]).__name__
            kind = {"ConvReLU2d": "conv", "Conv2d": "conv", "Linear": "linear",
                    "LinearReLU": "linear"}.get(t)
            if kind is None:
                raise SystemExit("converted model: unexpected module %s" % t)
        elif n.op == "call_function" and n.target is torch.nn.functional.max_pool2d:
            kind = "maxpool"
        elif n.op == "call_function" and n.target is torch.ops.quantized.add:
            kind = "add"
        elif n.op == "call_function" and n.target is torch.flatten:
            kind = "flatten"
        if kind:
            units.append((kind, n))
    return units


def name_map(gm, float_model):
    fl = float_units(float_model)
    fx = fx_units(gm)
    graph_input = float_model.graph.input[0].name
    if not fx or fx[0][0] != "input":
        raise SystemExit("converted model does not start with quantize_per_tensor")
    names = {fx[0][1].name: graph_input}
    fx = fx[1:]
    if [k for k, _ in fx] != [k for k, _, _ in fl]:
        raise SystemExit("structure differs: FX %s, ONNX %s" % ([k for k, _ in fx],
                                                                [k for k, _, _ in fl]))
    for (kind, node), (_, out, ins) in zip(fx, fl):
        args = [a.name for a in node.all_input_nodes if a.name in names]
        if [names[a] for a in args] != ins:
            raise SystemExit("%s: inputs %s do not match %s" % (node.name, args, ins))
        names[node.name] = out
    return names


class Recorder(torch.fx.Interpreter):
    def __init__(self, gm, keep):
        super().__init__(gm)
        self.keep = keep
        self.seen = {}

    def run_node(self, n):
        r = super().run_node(n)
        if n.name in self.keep:
            self.seen[n.name] = r
        return r


def main():
    net, q, _, _ = make_torch_qdq.build()
    example = torch.from_numpy(np.load(os.path.join(DATA, "samples.npy"))[0])
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "qdq.onnx")
        torch.onnx.export(q, example, path, **make_torch_qdq.EXPORT_KW)
        if open(path, "rb").read() != open(os.path.join(DATA, "qdq.onnx"), "rb").read():
            raise SystemExit("the rebuilt model is not the committed qdq.onnx; rerun "
                             "scripts/make_torch_qdq.py first")
    float_model = onnx.load(os.path.join(DATA, "float.onnx"))
    names = name_map(q, float_model)
    samples = np.load(os.path.join(DATA, "samples.npy"))
    rows = {k: [] for k in names}
    params = {}
    rec = Recorder(q, set(names))
    with torch.no_grad():
        for s in samples:
            rec.seen = {}
            rec.run(torch.from_numpy(s))
            for k, t in rec.seen.items():
                if not t.is_quantized or t.qscheme() != torch.per_tensor_affine:
                    raise SystemExit("%s: expected a per-tensor quantized tensor" % k)
                rows[k].append(t.int_repr().numpy())
                p = (float(t.q_scale()), int(t.q_zero_point()), str(t.dtype))
                if params.setdefault(k, p) != p:
                    raise SystemExit("%s: parameters change between samples" % k)
    os.makedirs(OUT, exist_ok=True)
    for f in os.listdir(OUT):
        os.remove(os.path.join(OUT, f))
    tensors = []
    for node in (n.name for n in q.graph.nodes if n.name in names):
        name = names[node]
        a = np.stack(rows[node])
        file = "".join(c if c.isalnum() or c in "._-" else "_" for c in name) + ".npy"
        np.save(os.path.join(OUT, file), a)
        scale, zp, dtype = params[node]
        t = {"name": name, "file": file, "dtype": str(a.dtype), "shape": list(a.shape)}
        if a.ndim == 5:
            t["layout"] = "NCHW"
        signed = a.dtype == np.int8
        t["quant"] = {"bits": 8, "signed": bool(signed), "dynamic": False, "scale": [scale],
                      "zero_point": [zp], "axis": -1}
        t["fx_node"] = node
        t["torch_dtype"] = dtype
        tensors.append(t)
    manifest = {"schema": "qdiff.dump/1", "model": os.path.join(DATA, "float.onnx"),
                "mode": "torch-onednn",
                "producer": "scripts/make_torch_int_dump.py: torch %s, quantized engine %s, "
                            "FX convert_fx, int_repr()" % (torch.__version__,
                                                          torch.backends.quantized.engine),
                "tensors": tensors,
                "samples": ["samples.npy[%d]" % i for i in range(len(samples))]}
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    for t in tensors:
        print("%-28s %-14s %-8s %s scale %.9g zp %d" % (t["name"], t["fx_node"], t["dtype"],
                                                        t["shape"], t["quant"]["scale"][0],
                                                        t["quant"]["zero_point"][0]))


if __name__ == "__main__":
    main()
