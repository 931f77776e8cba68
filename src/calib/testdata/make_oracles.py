#!/usr/bin/env python3
"""Independent oracles for src/calib/observers_test.cc (run with /usr/bin/python3; numpy, torch 1.13).

Prints the numbers pasted into the test:
  1. Entropy (KL) calibration following the TensorRT description (GTC 2017, "8-bit Inference with
     TensorRT"), written with numpy bincount instead of loops, on two integer histograms.
  2. torch's MovingAverageMinMaxObserver / MovingAveragePerChannelMinMaxObserver on fixed batches.
  3. The MSE-optimal symmetric clip t/b for Laplace(0, b), for the real quantizer grids
     (levels (q - zp) * s, s = 2t / (qmax - qmin)), by numerical integration of the Laplace density,
     and Banner et al.'s ACIQ closed form (2 b^2 exp(-a/b) + a^2 / (3 4^M)) for comparison.
"""
import numpy as np


def geometric_hist(n, head, num, den, stop):
    h = np.zeros(n, dtype=np.int64)
    v = head
    for k in range(stop):
        h[k] = v
        v = v * num // den
    return h


def hist_a():
    h = geometric_hist(256, 20000, 97, 100, 160)
    h[200] = 5
    h[255] = 1
    return h


def hist_b():
    # bimodal: a bump near zero and a second one further out, sparse tail
    h = np.zeros(256, dtype=np.int64)
    for k in range(256):
        if k < 40:
            h[k] = 3000 - 60 * k
        elif 90 <= k < 130:
            h[k] = 400 - 10 * abs(k - 110) * 2 if abs(k - 110) < 20 else 0
    h[180] = 7
    h[250] = 2
    return h


def smooth(p, eps=1e-4):
    z = p == 0
    nz = ~z
    if nz.sum() == 0:
        return None
    eps1 = eps * z.sum() / nz.sum()
    out = p + eps * z - eps1 * nz
    if (out <= 0).any():
        return None
    return out


def trt_entropy(hist, nq):
    n = int(np.nonzero(hist)[0][-1]) + 1
    kls = {}
    for i in range(nq, n + 1):
        ref = hist[:i].astype(np.float64).copy()
        ref[i - 1] += hist[i:].sum()
        m = i // nq
        ids = np.minimum(np.arange(i) // m, nq - 1)
        merged = np.bincount(ids, weights=hist[:i].astype(np.float64), minlength=nq)
        nz = ref != 0
        count = np.bincount(ids, weights=nz.astype(np.float64), minlength=nq)
        cand = np.where(nz, merged[ids] / np.maximum(count[ids], 1), 0.0)
        p, q = smooth(ref), smooth(cand)
        if p is None or q is None:
            kls[i] = np.inf
            continue
        p = p / p.sum()
        q = q / q.sum()
        kls[i] = float(np.sum(p * np.log(p / q)))
    best = min(kls, key=lambda i: (kls[i], i))
    return best, kls


def entropy_oracles():
    for name, h in (("A", hist_a()), ("B", hist_b())):
        best, kls = trt_entropy(h, 16)
        srt = sorted(kls.values())
        print(f"hist {name}: total {h.sum()}, best i = {best}, KL {kls[best]!r}, "
              f"runner-up KL {srt[1]!r}")
        for i in (16, 64, best - 1, best, best + 1):
            if i in kls:
                print(f"  KL[{i}] = {kls[i]!r}")


def moving_average_oracles():
    import torch
    from torch.ao.quantization.observer import (MovingAverageMinMaxObserver,
                                                MovingAveragePerChannelMinMaxObserver)
    batches = [[0.3, -1.7, 2.9], [5.1, -0.2], [-4.4, 1.0, 0.7], [0.05, 0.06]]
    obs = MovingAverageMinMaxObserver()  # averaging_constant 0.01
    for b in batches:
        obs(torch.tensor(b, dtype=torch.float32))
        print("per-tensor", float(obs.min_val).hex(), float(obs.max_val).hex())
    pc = MovingAveragePerChannelMinMaxObserver(averaging_constant=0.25, ch_axis=1)
    pbatches = [[[1.0, -2.0, 0.5], [3.0, 4.0, -1.5]], [[-6.0, 8.0, 0.25], [2.0, 1.0, 0.125]],
                [[0.1, 0.2, 0.3], [0.4, -0.5, 0.6]]]
    for b in pbatches:
        pc(torch.tensor(b, dtype=torch.float32))
    print("per-channel min", [float(v).hex() for v in pc.min_val])
    print("per-channel max", [float(v).hex() for v in pc.max_val])


def mse_oracles():
    x = np.linspace(-30, 30, 600_001)
    dx = x[1] - x[0]
    pdf = 0.5 * np.exp(-np.abs(x))  # Laplace(0, 1)

    def grid(t, bits, narrow):
        qmin = -(1 << (bits - 1)) + (1 if narrow else 0)
        qmax = (1 << (bits - 1)) - 1
        s = 2 * t / (qmax - qmin)
        q = np.clip(np.round(x / s), qmin, qmax)
        return np.sum((x - q * s) ** 2 * pdf) * dx

    for bits in (2, 3, 4, 8):
        ts = np.arange(1.0, 12.0, 0.01)
        full = ts[int(np.argmin([grid(t, bits, False) for t in ts]))]
        narrow = ts[int(np.argmin([grid(t, bits, True) for t in ts]))]
        fa = np.arange(0.5, 15, 0.001)
        aciq = fa[int(np.argmin(2 * np.exp(-fa) + fa * fa / (3 * 4.0**bits)))]
        print(f"bits {bits}: optimum t/b signed full range {full:.2f}, narrow {narrow:.2f}; "
              f"ACIQ {aciq:.3f}")


if __name__ == "__main__":
    entropy_oracles()
    moving_average_oracles()
    import sys
    if "--mse" in sys.argv:
        mse_oracles()
