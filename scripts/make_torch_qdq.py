#!/usr/bin/python3
"""A QDQ model made by PyTorch's own int8 flow, for the oracle tests.

Run from the repository root:

    /usr/bin/python3 scripts/make_torch_qdq.py

Trains a small CNN on 10k Fashion-MNIST images for one epoch (Debian python3-torch 1.13,
dataset-fashion-mnist), quantizes it with FX graph mode post-training quantization
(torch.backends.quantized.engine = 'onednn', the default onednn qconfig: per-channel
symmetric int8 weights, uint8 activations with reduce_range off), calibrated on 64 images,
and exports both worlds to ONNX:

  tests/data/torch_qdq/float.onnx    the float model (opset 13)
  tests/data/torch_qdq/qdq.onnx      the converted int8 model as torch exports it: QuantizeLinear
                                     -> Cast -> DequantizeLinear pairs, weights in Constant nodes
  tests/data/torch_qdq/samples.npy   float32 [16,1,1,28,28] test images, normalized
scripts/make_torch_int_dump.py rebuilds the same model (build()) and dumps torch's own integer
tensors for the integer-world oracle (tests/oracle/run_torch_int_oracle.sh).
The tensor names of the two exports differ (torch numbers them); qdiff maps one onto the
other by graph structure.
"""

import gzip
import os

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.ao.quantization import get_default_qconfig_mapping
from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

OUT = "tests/data/torch_qdq"
DATA = "/usr/share/datasets/fashion-mnist"


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load(split, n):
    x = read_idx(os.path.join(DATA, "%s-images-idx3-ubyte.gz" % split))[:n]
    y = read_idx(os.path.join(DATA, "%s-labels-idx1-ubyte.gz" % split))[:n]
    x = (x.astype(np.float32) / 255.0 - 0.2860) / 0.3530
    return torch.from_numpy(x[:, None]), torch.from_numpy(y.astype(np.int64))


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 16, 3, padding=1)
        self.dw = nn.Conv2d(16, 16, 3, padding=1, groups=16)
        self.pw = nn.Conv2d(16, 24, 1)
        self.c3 = nn.Conv2d(24, 24, 3, padding=1)
        self.fc = nn.Linear(24 * 7 * 7, 10)

    def forward(self, x):
        x = F.relu(self.c1(x))
        x = F.max_pool2d(x, 2)
        y = F.relu(self.pw(F.relu(self.dw(x))))
        x = F.relu(self.c3(y)) + y
        x = F.max_pool2d(x, 2)
        return self.fc(torch.flatten(x, 1))


def build():
    """Trains the float net and converts it; returns (net, quantized GraphModule, test images,
    float top-1 on 64 test images). Deterministic (seed 0, one thread)."""
    torch.manual_seed(0)
    torch.set_num_threads(1)
    torch.backends.quantized.engine = "onednn"
    x, y = load("train", 10000)
    net = Net()
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    for i in range(0, len(x), 64):
        opt.zero_grad()
        F.cross_entropy(net(x[i:i + 64]), y[i:i + 64]).backward()
        opt.step()
    net.eval()
    xt, yt = load("t10k", 64)
    with torch.no_grad():
        acc = (net(xt).argmax(1) == yt).float().mean().item()
    example = xt[:1]
    prepared = prepare_fx(net, get_default_qconfig_mapping("onednn"), (example,))
    with torch.no_grad():
        for i in range(64):
            prepared(xt[i:i + 1])
    q = convert_fx(prepared)
    return net, q, xt, acc


EXPORT_KW = dict(opset_version=13, input_names=["input"], output_names=["logits"])


def main():
    net, q, xt, acc = build()
    example = xt[:1]
    os.makedirs(OUT, exist_ok=True)
    torch.onnx.export(net, example, os.path.join(OUT, "float.onnx"), **EXPORT_KW)
    torch.onnx.export(q, example, os.path.join(OUT, "qdq.onnx"), **EXPORT_KW)
    np.save(os.path.join(OUT, "samples.npy"), xt[:16].numpy()[:, None].astype(np.float32))
    print("float top-1 on 64 test images: %.3f" % acc)


if __name__ == "__main__":
    main()
