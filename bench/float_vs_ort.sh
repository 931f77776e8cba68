#!/bin/bash
# float_vs_ort.sh -- qdiff's float run (fast kernels) vs ONNX Runtime on MobileNetV2 and ResNet18.
# A benchmark, never run in CI.
#
#   bench/float_vs_ort.sh [BUILD_DIR] [MODEL_DIR] [ROUNDS]
#
# BUILD_DIR (default build-bench) must be configured with -DQDIFF_BUILD_BENCH=ON and have
# bench_run built; MODEL_DIR (default /tmp/qdiff-bench) is filled by bench/export_models.py
# when empty. For each model and thread count (1, 2) the script alternates qdiff and ORT for
# ROUNDS rounds (default 5); each round is one process that warms up 3 runs and reports the
# median of 20 timed runs. The table gives the median over rounds (the CPU may be shared).
# On a loaded machine, OMP_WAIT_POLICY=passive (libgomp, read at start-up) avoids spinning
# OpenMP barriers stalling on descheduled threads; both settings are worth running.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh

printf "%-14s %7s %10s %10s %10s\n" model threads qdiff_ms ort_ms ort/qdiff
for m in mobilenet_v2 resnet18; do
  for t in 1 2; do
    q=(); o=()
    for ((r = 0; r < ROUNDS; r++)); do
      q+=("$("$BUILD/bench/bench_run" "$DIR/$m.onnx" "$DIR/$m.npy" --threads "$t" --runs $RUNS | field)")
      o+=("$(node bench/ort_time.js "$DIR/$m.onnx" "$DIR/$m.npy" --threads "$t" --runs $RUNS | field)")
    done
    qm=$(printf "%s\n" "${q[@]}" | median)
    om=$(printf "%s\n" "${o[@]}" | median)
    printf "%-14s %7d %10.2f %10.2f %10.2f\n" "$m" "$t" "$qm" "$om" "$(echo "$om / $qm" | bc -l)"
  done
done
