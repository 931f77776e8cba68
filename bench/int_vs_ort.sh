#!/bin/bash
# int_vs_ort.sh -- qdiff's integer world (target ort-cpu, fast kernels) vs ONNX Runtime's own int8
# run of the same QDQ model, on MobileNetV2 and ResNet18. A benchmark, never run in CI.
#
#   bench/int_vs_ort.sh [BUILD_DIR] [MODEL_DIR] [ROUNDS]
#
# BUILD_DIR (default build-bench) must be configured with -DQDIFF_BUILD_BENCH=ON and have
# bench_run and qdiff built; MODEL_DIR (default /tmp/qdiff-bench) is filled by
# bench/export_models.py when empty. Per model, qdiff calibrates an int8 plan (ort-cpu scheme:
# uint8 activations, int8 per-channel weights, MinMax over 8 random samples) and exports it as a
# QDQ model; ORT runs that QDQ model (graphOptimizationLevel 'all': QLinearConv, QLinearAdd...),
# qdiff runs the float model under the same plan (bench_run --int). Both compute the same
# integers (tests/oracle/run_int_oracle.sh checks that bit for bit on the demo model). For each
# thread count (1, 2) the two alternate for ROUNDS rounds (default 5); each round is one process
# that warms up 3 runs and reports the median of 20 timed runs; the table gives the median over
# rounds.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
QDIFF=$BUILD/tools/qdiff/qdiff
[ -x "$QDIFF" ] || { echo "build $QDIFF first" >&2; exit 1; }
[ -f "$DIR/calib.npy" ] || /usr/bin/python3 -c "
import numpy as np, sys
np.save(sys.argv[1], np.random.default_rng(0).standard_normal((8, 1, 3, 224, 224)).astype(np.float32))
" "$DIR/calib.npy"

printf "%-14s %7s %10s %10s %10s\n" model threads qdiff_ms ort_ms ort/qdiff
for m in mobilenet_v2 resnet18; do
  if [ ! -f "$DIR/${m}_qdq.onnx" ]; then
    "$QDIFF" calibrate "$DIR/$m.onnx" --data "$DIR/calib.npy" -o "$DIR/${m}_plan.json" >/dev/null
    "$QDIFF" export "$DIR/$m.onnx" --plan "$DIR/${m}_plan.json" -o "$DIR/${m}_qdq.onnx" >/dev/null
  fi
  for t in 1 2; do
    q=(); o=()
    for ((r = 0; r < ROUNDS; r++)); do
      q+=("$("$BUILD/bench/bench_run" "$DIR/$m.onnx" "$DIR/$m.npy" --int "$DIR/${m}_plan.json" \
        --target ort-cpu --threads "$t" --runs $RUNS | field)")
      o+=("$(node bench/ort_time.js "$DIR/${m}_qdq.onnx" "$DIR/$m.npy" --threads "$t" --runs $RUNS | field)")
    done
    qm=$(printf "%s\n" "${q[@]}" | median)
    om=$(printf "%s\n" "${o[@]}" | median)
    printf "%-14s %7d %10.2f %10.2f %10.2f\n" "$m" "$t" "$qm" "$om" "$(echo "$om / $qm" | bc -l)"
  done
done
