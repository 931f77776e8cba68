#!/usr/bin/env bash
# The calibration tables of the README: the demo model's top-1 in the float world and in the
# fake-quant world for each observer x weight granularity x activation bits, and PP-OCRv4 det's
# output SQNR against float with per-tensor vs per-channel weights.
#
#   bench/quant_tables.sh [BUILD_DIR]     (default build)
#
# Demo: calibrated on the first 100 of the 300 bundled samples, top-1 measured on all 300.
# det: weights per tensor, per channel except depthwise convs (per-tensor-depthwise), or per
# channel; calibrated on 4 synthetic 320x320 images (tests/oracle/make_inputs.py, seed 1001),
# SQNR = 20 log10(||float|| / ||float - fakequant||) over the output map of 4 other images.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${1:-$ROOT/build}"
Q="$BUILD/tools/qdiff/qdiff"
PY=/usr/bin/python3
W="$(mktemp -d "${TMPDIR:-/tmp}/qdiff-quant-tables.XXXXXX")"
trap 'rm -rf "$W"' EXIT

DEMO="$ROOT/models/demo/demo_folded.onnx"
$PY -c "import numpy as np; a=np.load('$ROOT/models/demo/samples.npy'); np.save('$W/cal.npy', a[:100])"
top1() { "$@" | sed -n 's/.*top-1 \([0-9.]*\) (\([0-9]*\/[0-9]*\)).*/\1 (\2)/p'; }
echo "Demo model (models/demo/demo_folded.onnx), top-1 on 300 Fashion-MNIST test images"
echo
echo "| activations | observer | per-channel weights | per-tensor weights |"
echo "|---|---|---|---|"
echo "| float | - | $(top1 "$Q" run "$DEMO" --input "$ROOT/models/demo/samples.npy" --labels "$ROOT/models/demo/labels.npy") | |"
for bits in 8 16; do
  for method in minmax moving-average percentile mse entropy; do
    row="| int$bits | $method |"
    for gran in per-channel per-tensor; do
      "$Q" calibrate "$DEMO" --data "$W/cal.npy" --method "$method" --granularity "$gran" \
        --activation-bits "$bits" -o "$W/plan.json" >/dev/null
      row="$row $(top1 "$Q" run "$DEMO" --mode fakequant --plan "$W/plan.json" \
        --input "$ROOT/models/demo/samples.npy" --labels "$ROOT/models/demo/labels.npy") |"
    done
    echo "$row"
  done
done

DET="$ROOT/third_party/models/ppocr/det.onnx"
[[ -f "$DET" ]] || { echo "(det.onnx missing: scripts/fetch-models.sh)"; exit 0; }
$PY "$ROOT/tests/oracle/make_inputs.py" "$W/detcal" --models det --samples 4 >/dev/null
$PY - "$W/detcal/det" "$W/dettest" <<'PY'
import os, sys
import numpy as np
# 4 more images: the same generator, flipped and shifted so they differ from the calibration set.
src, dst = sys.argv[1], sys.argv[2]
os.makedirs(dst, exist_ok=True)
for i, f in enumerate(sorted(os.listdir(src))):
    a = np.load(os.path.join(src, f))
    np.save(os.path.join(dst, "%03d.npy" % i), np.ascontiguousarray(np.roll(a[:, :, ::-1, :], 37 * (i + 1), axis=3)))
PY
"$Q" run "$DET" --input "$W/dettest" --dump "$W/float" --tensors outputs >/dev/null
sqnr() {
  $PY - "$W/float" "$W/fq" <<'PY'
import json, sys
import numpy as np
def load(d):
    m = json.load(open(d + "/manifest.json"))
    return np.load(d + "/" + m["tensors"][0]["file"]).astype(np.float64)
f, q = load(sys.argv[1]), load(sys.argv[2])
print("%.2f dB" % (20 * np.log10(np.linalg.norm(f) / np.linalg.norm(f - q))))
PY
}
echo
echo "PP-OCRv4 det (third_party/models/ppocr/det.onnx), output SQNR vs float, int8 (ort-cpu), minmax"
echo
echo "| weights | weights only | weights and activations |"
echo "|---|---|---|"
for gran in per-tensor per-tensor-depthwise per-channel; do
  row="| $gran |"
  for what in weights all; do
    "$Q" calibrate "$DET" --data "$W/detcal/det" --granularity "$gran" --quantize "$what" \
      -o "$W/det.json" >/dev/null
    "$Q" run "$DET" --mode fakequant --plan "$W/det.json" --input "$W/dettest" --dump "$W/fq" \
      --tensors outputs >/dev/null
    row="$row $(sqnr) |"
  done
  echo "$row"
done
