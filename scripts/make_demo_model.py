#!/usr/bin/python3
"""Build qdiff's bundled demo model and test data (Fashion-MNIST).

Run from the repository root:

    /usr/bin/python3 scripts/make_demo_model.py

Requirements (Debian packages, no PyPI): python3-torch (1.13), python3-onnx
(1.12), python3-numpy, and the Fashion-MNIST dataset files in
/usr/share/datasets/fashion-mnist/.

Outputs (in models/demo/):
  demo_bn.onnx       opset 13, BatchNormalization kept as separate (eval-mode) nodes
  demo_folded.onnx   opset 13, BatchNormalization folded into the preceding Conv
  samples.npy        float32 [300,1,1,28,28]  first 300 t10k images, normalized
  labels.npy         int64   [300]            their labels
  logits_torch.npy   float32 [300,10]         eval-mode torch logits, batch 1 each
  info.json          metadata (accuracies, normalization, classes, model ops, ...)

The script is deterministic on a given machine/torch build (fixed seeds, single
thread, deterministic algorithms); bit-exact reproduction across machines is not
guaranteed.
"""

import argparse
import gzip
import hashlib
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import onnx
from onnx import numpy_helper

DATA_DIR = "/usr/share/datasets/fashion-mnist"
MEAN = 0.2860
STD = 0.3530
OPSET = 13
NUM_SAMPLES = 300
SEED = 1234
CLASSES = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]


# --------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------
def read_idx(path):
    """Parse an IDX file (optionally gzip-compressed) into a numpy array."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    zero, dtype_code, ndim = data[0] * 256 + data[1], data[2], data[3]
    if zero != 0 or dtype_code != 0x08:
        raise ValueError("%s: unsupported IDX header (expected ubyte data)" % path)
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    arr = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if arr.size != int(np.prod(dims)):
        raise ValueError("%s: size mismatch" % path)
    return arr.reshape(dims)


def load_split(split):
    images = read_idx(os.path.join(DATA_DIR, "%s-images-idx3-ubyte.gz" % split))
    labels = read_idx(os.path.join(DATA_DIR, "%s-labels-idx1-ubyte.gz" % split))
    assert images.shape[0] == labels.shape[0] and images.shape[1:] == (28, 28)
    return images, labels.astype(np.int64)


def normalize(images_u8):
    x = images_u8.astype(np.float32) / np.float32(255.0)
    x = (x - np.float32(MEAN)) / np.float32(STD)
    return x[:, None, :, :].astype(np.float32)  # NCHW, C=1


# --------------------------------------------------------------------------
# Model
# --------------------------------------------------------------------------
class ConvBNAct(nn.Module):
    def __init__(self, cin, cout, k, stride=1, groups=1, act=None):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(cout)
        self.act = act if act is not None else nn.Identity()

    def forward(self, x):
        return self.act(self.bn(self.conv(x)))


class DWSeparable(nn.Module):
    """Depthwise 3x3 (+BN+act) then pointwise 1x1 (+BN, linear bottleneck).

    With residual=True (requires cin == cout and stride 1) the block input is
    added to its output (ONNX Add).
    """

    def __init__(self, cin, cout, stride, act_cls, residual=False):
        super().__init__()
        assert not residual or (cin == cout and stride == 1)
        self.dw = ConvBNAct(cin, cin, 3, stride, groups=cin, act=act_cls())
        self.pw = ConvBNAct(cin, cout, 1)
        self.residual = residual

    def forward(self, x):
        y = self.pw(self.dw(x))
        return x + y if self.residual else y


class UpShuffle(nn.Module):
    """1x1 conv expanding channels x4 (+BN+act) then PixelShuffle(2) (DepthToSpace)."""

    def __init__(self, cin, cout, act_cls):
        super().__init__()
        self.expand = ConvBNAct(cin, cout * 4, 1, act=act_cls())
        self.shuffle = nn.PixelShuffle(2)

    def forward(self, x):
        return self.shuffle(self.expand(x))


class DemoNet(nn.Module):
    def __init__(self, num_classes=10):
        super().__init__()
        self.stem = ConvBNAct(1, 24, 3, 1, act=nn.ReLU6())                # 24x28x28
        self.block1 = DWSeparable(24, 48, 2, nn.ReLU6)                     # 48x14x14
        self.block2 = DWSeparable(48, 48, 1, nn.ReLU6, residual=True)      # 48x14x14
        self.block3 = DWSeparable(48, 96, 2, nn.Hardswish)                 # 96x7x7
        self.block4 = DWSeparable(96, 96, 1, nn.Hardswish, residual=True)  # 96x7x7
        self.up = UpShuffle(96, 32, nn.Hardswish)                          # 32x14x14
        self.block5 = DWSeparable(32, 128, 2, nn.Hardswish)                # 128x7x7
        self.pool = nn.AdaptiveAvgPool2d(1)                                # GlobalAveragePool
        self.flatten = nn.Flatten(1)
        self.classifier = nn.Linear(128, num_classes)

    def forward(self, x):
        x = self.stem(x)
        x = self.block1(x)
        x = self.block2(x)
        x = self.block3(x)
        x = self.block4(x)
        x = self.up(x)
        x = self.block5(x)
        x = self.flatten(self.pool(x))
        return self.classifier(x)


# --------------------------------------------------------------------------
# Training / evaluation
# --------------------------------------------------------------------------
def train(model, x_train, y_train, epochs, batch_size, lr, log):
    xt = torch.from_numpy(x_train)
    yt = torch.from_numpy(y_train)
    n = xt.shape[0]
    steps_per_epoch = (n + batch_size - 1) // batch_size
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=lr, total_steps=epochs * steps_per_epoch, pct_start=0.2)
    gen = torch.Generator().manual_seed(SEED)
    for epoch in range(epochs):
        model.train()
        t0 = time.time()
        perm = torch.randperm(n, generator=gen)
        total_loss, correct = 0.0, 0
        for s in range(steps_per_epoch):
            idx = perm[s * batch_size:(s + 1) * batch_size]
            xb, yb = xt[idx], yt[idx]
            # light augmentation: random horizontal flip (deterministic generator)
            flip = torch.rand(xb.shape[0], generator=gen) < 0.5
            xb = torch.where(flip[:, None, None, None], xb.flip(3), xb)
            out = model(xb)
            loss = F.cross_entropy(out, yb, label_smoothing=0.05)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total_loss += loss.item() * xb.shape[0]
            correct += (out.argmax(1) == yb).sum().item()
        log("epoch %d/%d  loss %.4f  train-acc %.4f  (%.1fs)" % (
            epoch + 1, epochs, total_loss / n, correct / n, time.time() - t0))


@torch.no_grad()
def predict_batched(model, x, batch_size=1000):
    model.eval()
    outs = [model(torch.from_numpy(x[i:i + batch_size])) for i in range(0, len(x), batch_size)]
    return torch.cat(outs).numpy()


# --------------------------------------------------------------------------
# Tiny numpy reference interpreter for the exported ONNX graphs.
# Used only to check that the exported files compute the same function as the
# torch model (no onnxruntime available).
# --------------------------------------------------------------------------
def _attrs(node):
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _conv2d(x, w, b, strides, pads, dilations, group):
    n, c, h, wd = x.shape
    m, cg, kh, kw = w.shape
    assert dilations in ([1, 1], None)
    sh, sw = strides
    pt, pl, pb, pr = pads
    xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    oh = (h + pt + pb - kh) // sh + 1
    ow = (wd + pl + pr - kw) // sw + 1
    # patches: [n, c, kh, kw, oh, ow]
    patches = np.empty((n, c, kh, kw, oh, ow), dtype=np.float64)
    for i in range(kh):
        for j in range(kw):
            patches[:, :, i, j] = xp[:, :, i:i + sh * oh:sh, j:j + sw * ow:sw]
    mg = m // group
    out = np.empty((n, m, oh, ow), dtype=np.float64)
    for g in range(group):
        p = patches[:, g * cg:(g + 1) * cg].reshape(n, cg * kh * kw, oh * ow)
        wg = w[g * mg:(g + 1) * mg].reshape(mg, cg * kh * kw).astype(np.float64)
        out[:, g * mg:(g + 1) * mg] = np.einsum("ok,nkp->nop", wg, p).reshape(n, mg, oh, ow)
    if b is not None:
        out += b.reshape(1, -1, 1, 1)
    return out


def run_onnx_numpy(model_proto, x):
    g = model_proto.graph
    env = {t.name: numpy_helper.to_array(t).astype(np.float64)
           if numpy_helper.to_array(t).dtype.kind == "f" else numpy_helper.to_array(t)
           for t in g.initializer}
    env[g.input[0].name] = x.astype(np.float64)
    for node in g.node:
        a = _attrs(node)
        ins = [env[i] if i else None for i in node.input]
        op = node.op_type
        if op == "Conv":
            k = ins[1].shape[2:]
            y = _conv2d(ins[0], ins[1], ins[2] if len(ins) > 2 else None,
                        list(a.get("strides", [1, 1])), list(a.get("pads", [0, 0, 0, 0])),
                        list(a.get("dilations", [1, 1])), a.get("group", 1))
            assert list(a.get("kernel_shape", k)) == list(k)
        elif op == "BatchNormalization":
            assert a.get("training_mode", 0) == 0 and len(node.output) == 1
            xx, sc, bi, mu, var = ins
            eps = a.get("epsilon", 1e-5)
            r = lambda v: v.reshape(1, -1, 1, 1)
            y = (xx - r(mu)) / np.sqrt(r(var) + eps) * r(sc) + r(bi)
        elif op == "Clip":
            lo = ins[1] if len(ins) > 1 and ins[1] is not None else -np.inf
            hi = ins[2] if len(ins) > 2 and ins[2] is not None else np.inf
            y = np.clip(ins[0], lo, hi)
        elif op == "Relu":
            y = np.maximum(ins[0], 0)
        elif op == "HardSigmoid":
            y = np.clip(a.get("alpha", 0.2) * ins[0] + a.get("beta", 0.5), 0, 1)
        elif op == "Mul":
            y = ins[0] * ins[1]
        elif op == "Add":
            y = ins[0] + ins[1]
        elif op == "DepthToSpace":
            bs = a["blocksize"]
            mode = a.get("mode", b"DCR")
            mode = mode.decode() if isinstance(mode, bytes) else mode
            n, c, h, w = ins[0].shape
            if mode == "DCR":
                t = ins[0].reshape(n, bs, bs, c // bs ** 2, h, w).transpose(0, 3, 4, 1, 5, 2)
            else:
                t = ins[0].reshape(n, c // bs ** 2, bs, bs, h, w).transpose(0, 1, 4, 2, 5, 3)
            y = t.reshape(n, c // bs ** 2, h * bs, w * bs)
        elif op == "GlobalAveragePool":
            y = ins[0].mean(axis=(2, 3), keepdims=True)
        elif op == "ReduceMean":
            y = ins[0].mean(axis=tuple(a["axes"]), keepdims=bool(a.get("keepdims", 1)))
        elif op == "Flatten":
            ax = a.get("axis", 1)
            y = ins[0].reshape(int(np.prod(ins[0].shape[:ax])), -1)
        elif op == "Reshape":
            y = ins[0].reshape([int(v) for v in ins[1]])
        elif op == "Gemm":
            A, B = ins[0], ins[1]
            if a.get("transA", 0):
                A = A.T
            if a.get("transB", 0):
                B = B.T
            y = a.get("alpha", 1.0) * (A @ B)
            if len(ins) > 2 and ins[2] is not None:
                y = y + a.get("beta", 1.0) * ins[2]
        elif op == "Constant":
            y = numpy_helper.to_array(a["value"])
        elif op == "Identity":
            y = ins[0]
        else:
            raise NotImplementedError("numpy reference: op %s" % op)
        env[node.output[0]] = y
    return env[g.output[0].name]


# --------------------------------------------------------------------------
# Export / verification
# --------------------------------------------------------------------------
def name_nodes(model_proto):
    """Give every node a unique, readable name (keeps exporter names if present)."""
    seen = set()
    for i, node in enumerate(model_proto.graph.node):
        name = node.name or "%s_%d" % (node.op_type, i)
        base, k = name, 1
        while name in seen:
            name = "%s_%d" % (base, k)
            k += 1
        node.name = name
        seen.add(name)
    # Folded Conv parameters come out as "onnx::Conv_123"; name them after the
    # module instead ("/block1/dw/conv/Conv" -> "block1.dw.conv.weight"/".bias").
    inits = {t.name: t for t in model_proto.graph.initializer}
    users = {}
    for node in model_proto.graph.node:
        for i in node.input:
            users[i] = users.get(i, 0) + 1
    for node in model_proto.graph.node:
        if node.op_type != "Conv" or not node.name.startswith("/"):
            continue
        scope = ".".join(node.name.strip("/").split("/")[:-1])
        for idx, suffix in ((1, "weight"), (2, "bias")):
            if idx >= len(node.input):
                continue
            old = node.input[idx]
            new = "%s.%s" % (scope, suffix)
            if (old.startswith("onnx::") and old in inits and users[old] == 1
                    and new not in inits):
                inits[old].name = new
                inits[new] = inits.pop(old)
                node.input[idx] = new


def export(model, path, training_mode, fold):
    model.eval()
    dummy = torch.zeros(1, 1, 28, 28)
    torch.onnx.export(
        model, dummy, path,
        input_names=["input"], output_names=["logits"],
        opset_version=OPSET,
        training=training_mode,
        do_constant_folding=fold,
        export_params=True,
    )
    m = onnx.load(path)
    name_nodes(m)
    m.producer_name = "qdiff scripts/make_demo_model.py (torch %s)" % torch.__version__
    m.doc_string = ("qdiff demo: small MobileNet-style Fashion-MNIST classifier, %s"
                    % ("BatchNorm folded into Conv" if fold else "BatchNorm kept as separate nodes"))
    onnx.checker.check_model(m)
    onnx.save(m, path)
    return m


def op_summary(m):
    ops = {}
    for node in m.graph.node:
        ops[node.op_type] = ops.get(node.op_type, 0) + 1
    return ops


def verify_io(m):
    def shape(vi):
        return [d.dim_value if d.HasField("dim_value") else d.dim_param
                for d in vi.type.tensor_type.shape.dim]
    assert [i.name for i in m.graph.input] == ["input"], [i.name for i in m.graph.input]
    assert [o.name for o in m.graph.output] == ["logits"], [o.name for o in m.graph.output]
    assert shape(m.graph.input[0]) == [1, 1, 28, 28], shape(m.graph.input[0])
    assert shape(m.graph.output[0]) == [1, 10], shape(m.graph.output[0])
    assert m.opset_import[0].version == OPSET
    # initializers must not also be listed as graph inputs
    init_names = {t.name for t in m.graph.initializer}
    assert not any(i.name in init_names for i in m.graph.input)


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("--out", default="models/demo")
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--lr", type=float, default=4e-3)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(SEED)
    np.random.seed(SEED)
    torch.use_deterministic_algorithms(True)
    os.makedirs(args.out, exist_ok=True)
    log = lambda s: print(s, flush=True)
    t_start = time.time()

    # ---- data
    tr_img, tr_lab = load_split("train")
    te_img, te_lab = load_split("t10k")
    x_train, x_test = normalize(tr_img), normalize(te_img)
    raw = tr_img.astype(np.float64) / 255.0
    log("train %s test %s; dataset mean %.4f std %.4f (using fixed mean %.4f std %.4f)" % (
        tr_img.shape, te_img.shape, raw.mean(), raw.std(), MEAN, STD))

    # ---- model + training
    model = DemoNet()
    n_params = sum(p.numel() for p in model.parameters())
    log("DemoNet parameters: %d" % n_params)
    train(model, x_train, tr_lab, args.epochs, args.batch_size, args.lr, log)
    model.eval()
    train_time = time.time() - t_start

    test_logits = predict_batched(model, x_test)
    test_top1 = float((test_logits.argmax(1) == te_lab).mean())
    log("full test set top-1 (10000 images, batched): %.4f" % test_top1)

    # ---- the 300 committed samples, evaluated one at a time with batch 1
    samples = x_test[:NUM_SAMPLES][:, None].copy()            # [300,1,1,28,28]
    labels = te_lab[:NUM_SAMPLES].astype(np.int64).copy()     # [300]
    assert samples.shape == (NUM_SAMPLES, 1, 1, 28, 28) and samples.dtype == np.float32
    logits = np.zeros((NUM_SAMPLES, 10), dtype=np.float32)
    with torch.no_grad():
        for i in range(NUM_SAMPLES):
            logits[i] = model(torch.from_numpy(samples[i])).numpy()[0]
    pred = logits.argmax(1)
    top1_count = int((pred == labels).sum())
    top1 = top1_count / NUM_SAMPLES
    # numpy consistency checks: batch-1 logits vs the batched pass over the test set
    max_diff = float(np.abs(logits - test_logits[:NUM_SAMPLES]).max())
    assert max_diff < 1e-4, max_diff
    assert (pred == test_logits[:NUM_SAMPLES].argmax(1)).all()
    log("300-sample top-1 (batch 1): %d/300 = %.4f  (max |batch1 - batched| = %.2e)" % (
        top1_count, top1, max_diff))

    np.save(os.path.join(args.out, "samples.npy"), samples)
    np.save(os.path.join(args.out, "labels.npy"), labels)
    np.save(os.path.join(args.out, "logits_torch.npy"), logits)

    # ---- ONNX export
    bn_path = os.path.join(args.out, "demo_bn.onnx")
    folded_path = os.path.join(args.out, "demo_folded.onnx")
    # PRESERVE keeps the (eval-mode) model as is and, unlike EVAL, skips the
    # exporter's eval peephole pass that fuses BatchNorm into Conv. Constant
    # folding is disabled too so nothing else touches the BN parameters.
    m_bn = export(model, bn_path, torch.onnx.TrainingMode.PRESERVE, fold=False)
    # EVAL (the default) runs the Conv+BN fusion pass.
    m_folded = export(model, folded_path, torch.onnx.TrainingMode.EVAL, fold=True)

    models_info = {}
    for path, m, want_bn in ((bn_path, m_bn, True), (folded_path, m_folded, False)):
        m = onnx.load(path)
        onnx.checker.check_model(m)
        verify_io(m)
        ops = op_summary(m)
        bn_nodes = [n for n in m.graph.node if n.op_type == "BatchNormalization"]
        if want_bn:
            n_bn = sum(isinstance(mod, nn.BatchNorm2d) for mod in model.modules())
            assert len(bn_nodes) == n_bn, (len(bn_nodes), n_bn)
            for n in bn_nodes:
                a = _attrs(n)
                assert len(n.output) == 1, "BN %s has training-mode outputs" % n.name
                assert a.get("training_mode", 0) == 0, n.name
        else:
            assert not bn_nodes, "folded model still has BatchNormalization"
        for op in ("Conv", "Clip", "HardSigmoid", "Mul", "DepthToSpace", "Add", "Gemm"):
            assert op in ops, (path, op)
        # numpy reference run of the ONNX graph on all 300 samples
        onnx_logits = np.concatenate(
            [run_onnx_numpy(m, samples[i:i + 1, 0].reshape(1, 1, 28, 28))
             for i in range(NUM_SAMPLES)]).astype(np.float64)
        diff = float(np.abs(onnx_logits - logits).max())
        agree = int((onnx_logits.argmax(1) == pred).sum())
        assert diff < 1e-3 and agree == NUM_SAMPLES, (path, diff, agree)
        name = os.path.basename(path)
        log("%s: %d nodes, %d bytes, ops %s" % (name, len(m.graph.node), os.path.getsize(path), ops))
        log("  op sequence: %s" % " ".join(n.op_type for n in m.graph.node))
        log("  numpy-reference vs torch logits: max |diff| = %.2e, argmax agree %d/300" % (diff, agree))
        models_info[name] = {
            "batchnorm": "separate nodes" if want_bn else "folded into Conv",
            "nodes": len(m.graph.node),
            "ops": ops,
            "bytes": os.path.getsize(path),
            "sha256": sha256(path),
            "numpy_reference_max_abs_diff_vs_torch": float("%.3g" % diff),
        }

    info = {
        "samples": NUM_SAMPLES,
        "float_top1": round(top1, 4),
        "float_top1_count": top1_count,
        "test_set_top1": round(test_top1, 4),
        "normalization": {"mean": MEAN, "std": STD, "formula": "(x/255 - mean)/std"},
        "input": {"name": "input", "shape": [1, 1, 28, 28], "layout": "NCHW", "dtype": "float32"},
        "output": {"name": "logits", "shape": [1, 10], "dtype": "float32"},
        "opset": OPSET,
        "classes": CLASSES,
        "dataset": "Fashion-MNIST (%s); samples = first %d images of t10k" % (DATA_DIR, NUM_SAMPLES),
        "files": {
            "samples.npy": "float32 [%d,1,1,28,28]" % NUM_SAMPLES,
            "labels.npy": "int64 [%d]" % NUM_SAMPLES,
            "logits_torch.npy": "float32 [%d,10] eval-mode torch logits, batch 1 each" % NUM_SAMPLES,
        },
        "parameters": n_params,
        "training": {
            "epochs": args.epochs, "batch_size": args.batch_size, "optimizer": "AdamW",
            "lr": args.lr, "schedule": "OneCycle", "augmentation": "random horizontal flip",
            "seed": SEED, "torch": torch.__version__, "onnx": onnx.__version__,
            "seconds": round(train_time, 1),
        },
        "models": models_info,
    }
    with open(os.path.join(args.out, "info.json"), "w") as f:
        json.dump(info, f, indent=2)
        f.write("\n")
    log("wrote %s (total %.1fs)" % (os.path.join(args.out, "info.json"), time.time() - t_start))


if __name__ == "__main__":
    sys.exit(main())
