#!/usr/bin/env bash
# Real-model check of qdiff diagnose (issue 5): PP-OCRv4 det with its depthwise weights quantized
# per tensor (weights only, so the granularity is what is measured). Depthwise layers whose
# channel ranges differ by orders of magnitude lose most of their channels to one scale: the top
# finding must be weight-granularity on a depthwise Conv, verified by re-running with per-channel
# weights, and that fix must remove most of the output error (at least half its energy).
#   tests/oracle/run_diagnose_det.sh   (QDIFF_BIN, PYTHON; exit 0 pass, 1 fail, 77 skipped)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
QDIFF_BIN="${QDIFF_BIN:-$ROOT/build/tools/qdiff/qdiff}"
PYTHON="${PYTHON:-/usr/bin/python3}"
DET="$ROOT/third_party/models/ppocr/det.onnx"
[[ -f "$DET" ]] || { echo "SKIP: $DET missing (scripts/fetch-models.sh)"; exit 77; }
WORK="$(mktemp -d "${TMPDIR:-/tmp}/qdiff-diagnose-det.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
# Eight synthetic 320x320 text images: four calibrate, the other four are measured.
"$PYTHON" "$ROOT/tests/oracle/make_inputs.py" "$WORK/all" --models det --samples 8 >/dev/null
mkdir -p "$WORK/cal/det" "$WORK/in/det"
mv "$WORK"/all/det/00[0-3].npy "$WORK/cal/det/" && mv "$WORK"/all/det/00[4-7].npy "$WORK/in/det/"
"$QDIFF_BIN" calibrate "$DET" --data "$WORK/cal/det" --granularity per-tensor-depthwise \
  --quantize weights -o "$WORK/plan.json" >/dev/null
set +e
"$QDIFF_BIN" diagnose "$DET" --data "$WORK/in/det" --plan "$WORK/plan.json" --verify-samples 4 \
  --json "$WORK/diag.json" > "$WORK/out.txt" 2>&1
rc=$?
set -e
sed -n '1,12p' "$WORK/out.txt"
[[ $rc -eq 1 ]] || { echo "FAIL: exit $rc, expected 1 (an error finding)"; exit 1; }
"$PYTHON" - "$WORK/diag.json" "$DET" <<'PY'
import json, sys
import onnx
d = json.load(open(sys.argv[1]))
m = onnx.load(sys.argv[2], load_external_data=False)
group = {n.name: next((a.i for a in n.attribute if a.name == "group"), 1) for n in m.graph.node}
top = d["findings"][0]
assert top["category"] == "weight-granularity", top
assert group.get(top["node"], 1) > 1, f"{top['node']} is not a depthwise Conv"
v = top["fix_verified"]
before, after = float(v["before"]), float(v["after"])
assert after - before >= 3.0103, f"the per-channel fix removes less than half the error: {v}"
print(f"diagnose det: top finding weight-granularity at depthwise {top['node']}, "
      f"verified {before:.1f} -> {after:.1f} dB")
PY
