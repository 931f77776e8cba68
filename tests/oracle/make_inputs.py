#!/usr/bin/python3
"""Deterministic synthetic inputs for the oracle models (numpy only).

    /usr/bin/python3 tests/oracle/make_inputs.py OUTDIR [--models det,cls,isnet] [--samples N]

Writes OUTDIR/<model>/000.npy, 001.npy, ... (one sample per file, shape equal
to the model input), usable as the INPUT directory of ort_dump.js.

Input specs (read from the models fetched by scripts/fetch-models.sh):
  det    ppocr/det.onnx         x: float32 [N,3,H,W] (dynamic N,H,W) -> 1x3x320x320,
                                  ImageNet normalisation (x/255 - mean) / std
  cls    ppocr/cls.onnx         x: float32 [N,3,H,W] (dynamic N,H,W) -> 1x3x48x192
                                  (PaddleOCR cls_image_shape), (x/255 - 0.5) / 0.5
  isnet  isnet/isnet_fp16.onnx  input: float32 [1,3,1024,1024] (fixed); the fp16 model
                                  casts fp16 weights to float32, its input is float32.
                                  imgly normalisation (x - 128) / 256
The images are smooth gradients + sinusoids + dark "text stroke" rectangles +
a little noise, seeded per model and sample, so reruns are bit-identical.
"""
import argparse
import os
import sys

import numpy as np

MEAN_IMAGENET = np.array([0.485, 0.456, 0.406], np.float32).reshape(3, 1, 1)
STD_IMAGENET = np.array([0.229, 0.224, 0.225], np.float32).reshape(3, 1, 1)

# name: (shape, dtype, default samples, normalise(img01 [3,H,W] float32) -> array, seed)
MODELS = {
    "det": ((1, 3, 320, 320), np.float32, 3, lambda x: (x - MEAN_IMAGENET) / STD_IMAGENET, 1001),
    "cls": ((1, 3, 48, 192), np.float32, 4, lambda x: (x - 0.5) / 0.5, 2002),
    "isnet": ((1, 3, 1024, 1024), np.float32, 2, lambda x: (x * 255.0 - 128.0) / 256.0, 3003),
}


def synthetic_image(rng, h, w):
    """Returns float32 [3,h,w] in [0,1]."""
    yy, xx = np.meshgrid(np.linspace(0.0, 1.0, h, dtype=np.float32),
                         np.linspace(0.0, 1.0, w, dtype=np.float32), indexing="ij")
    img = np.empty((3, h, w), np.float32)
    for c in range(3):
        a, b, f1, f2, p1, p2 = rng.uniform([-0.4, -0.4, 1.0, 1.0, 0.0, 0.0],
                                           [0.4, 0.4, 6.0, 6.0, 6.28, 6.28])
        img[c] = (0.5 + a * (xx - 0.5) + b * (yy - 0.5)
                  + 0.15 * np.sin(2 * np.pi * f1 * xx + p1) * np.cos(2 * np.pi * f2 * yy + p2))
    # dark, text-like strokes on a few light bands
    for _ in range(max(2, h // 24)):
        y0 = int(rng.integers(0, max(1, h - 8)))
        bh = int(rng.integers(max(2, h // 40), max(3, h // 12)))
        x0 = int(rng.integers(0, max(1, w // 2)))
        x1 = int(min(w, x0 + rng.integers(w // 8, w // 2 + 1)))
        img[:, y0:y0 + bh, x0:x1] = np.maximum(img[:, y0:y0 + bh, x0:x1], 0.85)
        for x in range(x0, x1, max(2, bh // 2)):
            sw = int(rng.integers(1, max(2, bh // 3)))
            img[:, y0 + 1:y0 + bh - 1, x:x + sw] = rng.uniform(0.0, 0.25)
    img += rng.normal(0.0, 0.02, img.shape).astype(np.float32)
    return np.clip(img, 0.0, 1.0)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("outdir")
    ap.add_argument("--models", default=",".join(MODELS), help="comma separated subset of %s" % ",".join(MODELS))
    ap.add_argument("--samples", type=int, default=0, help="samples per model (default: det 3, cls 4, isnet 2)")
    args = ap.parse_args(argv)
    for name in args.models.split(","):
        if name not in MODELS:
            ap.error("unknown model %r" % name)
        shape, dtype, default_n, normalise, seed = MODELS[name]
        n = args.samples or default_n
        d = os.path.join(args.outdir, name)
        os.makedirs(d, exist_ok=True)
        for k in range(n):
            rng = np.random.default_rng([seed, k])
            batch = np.stack([normalise(synthetic_image(rng, shape[2], shape[3])) for _ in range(shape[0])])
            x = np.ascontiguousarray(batch.astype(dtype))
            assert x.shape == shape, (x.shape, shape)
            np.save(os.path.join(d, "%03d.npy" % k), x)
        print("%s: %d x %s %s -> %s" % (name, n, list(shape), np.dtype(dtype).name, d))
    return 0


if __name__ == "__main__":
    sys.exit(main())
