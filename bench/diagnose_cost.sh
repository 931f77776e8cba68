#!/bin/bash
# diagnose_cost.sh -- the cost of `qdiff diagnose` (every analysis on: the three worlds over the
# samples, candidates and their verified fixes, the mechanism differential) in float forward
# passes: its wall time divided by that of `qdiff run` (the float model alone) over the same
# samples, both whole processes. Issue 5's goal: at most 8. A benchmark, never run in CI.
#
#   bench/diagnose_cost.sh [BUILD_DIR] [MODEL_DIR] [ROUNDS]
#
# Models: the bundled demo model (its first 100 test images, its own ort-cpu plan) and
# MobileNetV2 (bench/export_models.py, 16 random 224x224 samples, a MinMax ort-cpu plan from 8
# others). Each configuration runs ROUNDS times (default 3); the table gives medians.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
DIR=${2:-/tmp/qdiff-bench}
ROUNDS=${3:-3}
QDIFF=$BUILD/tools/qdiff/qdiff
[ -x "$QDIFF" ] || { echo "build $QDIFF first" >&2; exit 1; }
[ -f "$DIR/mobilenet_v2.onnx" ] || /usr/bin/python3 bench/export_models.py "$DIR"
/usr/bin/python3 - "$DIR" models/demo/samples.npy <<'PY'
import sys, numpy as np
d, demo = sys.argv[1], sys.argv[2]
np.save(f"{d}/demo100.npy", np.load(demo)[:100])
rng = np.random.default_rng(1)
np.save(f"{d}/mnv2_16.npy", rng.standard_normal((16, 1, 3, 224, 224)).astype(np.float32))
np.save(f"{d}/mnv2_cal8.npy", rng.standard_normal((8, 1, 3, 224, 224)).astype(np.float32))
PY
"$QDIFF" calibrate models/demo/demo_folded.onnx --data models/demo/samples.npy -o "$DIR/demo_plan.json" >/dev/null
"$QDIFF" calibrate "$DIR/mobilenet_v2.onnx" --data "$DIR/mnv2_cal8.npy" -o "$DIR/mnv2_plan.json" >/dev/null

median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
# Wall seconds of a command (exit 1, "an error finding", is a normal diagnose outcome).
seconds() {
  local t0 t1
  t0=$(date +%s.%N)
  "$@" >/dev/null 2>&1 || [ $? -eq 1 ]
  t1=$(date +%s.%N)
  awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }'
}

printf "%-14s %8s %10s %12s %8s\n" model samples float_s diagnose_s ratio
for cfg in "demo models/demo/demo_folded.onnx $DIR/demo100.npy $DIR/demo_plan.json 100" \
           "mobilenet_v2 $DIR/mobilenet_v2.onnx $DIR/mnv2_16.npy $DIR/mnv2_plan.json 16"; do
  read -r name model data plan n <<<"$cfg"
  f=(); g=()
  for ((r = 0; r < ROUNDS; r++)); do
    f+=("$(seconds "$QDIFF" run "$model" --input "$data")")
    g+=("$(seconds "$QDIFF" diagnose "$model" --data "$data" --plan "$plan" --target ort-cpu)")
  done
  fm=$(printf "%s\n" "${f[@]}" | median)
  gm=$(printf "%s\n" "${g[@]}" | median)
  printf "%-14s %8d %10.3f %12.3f %8.1f\n" "$name" "$n" "$fm" "$gm" "$(awk -v a="$gm" -v b="$fm" 'BEGIN { print a / b }')"
done
