#!/usr/bin/env bash
# ORT oracle check for one model: dump every tensor with ONNX Runtime (ort_dump.js) and with
# `qdiff run`, then compare them with qdiff_compare_dumps (max|qdiff - ORT| / max|ORT| per tensor).
#
#   tests/oracle/run_oracle.sh MODEL_KEY   # demo_bn | demo_folded | det | cls | isnet | isnet_fp16
#
# Keys: model, samples, default relative tolerance, what ORT runs (docs/oracle.md has the why):
#   demo_bn      models/demo/demo_bn.onnx                  20  1e-4  the model
#   demo_folded  models/demo/demo_folded.onnx              20  1e-4  the model
#   cls          third_party/models/ppocr/cls.onnx          4  1e-4  the model
#   det          third_party/models/ppocr/det.onnx          3  1e-4  the model
#   isnet        third_party/models/isnet/isnet_fp16.onnx   1  1e-4  its float32 original, written
#                to the temp dir by to_float32.py (qdiff computes fp16 models in float32)
#   isnet_fp16   third_party/models/isnet/isnet_fp16.onnx   1  3e-3  the fp16 model as shipped
#                (ORT computes it in float16, hence the looser tolerance)
# qdiff always runs the model file itself.
#
# Environment:
#   QDIFF_BIN          qdiff CLI            (default build/tools/qdiff/qdiff)
#   QDIFF_COMPARE_BIN  qdiff_compare_dumps  (default build/tests/qdiff_compare_dumps)
#   ORACLE_REL_TOL     relative tolerance   (default: the key's, see above)
#   ORACLE_SAMPLES     samples per model    (default: the key's, see above)
#   ORACLE_THREADS     qdiff --threads      (default: nproc, at most 8; ORT always uses 1)
#   ORACLE_QDIFF_ARGS  extra `qdiff run` flags, e.g. --reference
#   ORACLE_VERBOSE=1   print every tensor, not only the failing ones
#   ORACLE_KEEP=1      keep the temporary directory (dumps) for inspection
#   PYTHON, NODE       interpreters (default /usr/bin/python3, node)
#   TMPDIR             where the temporary directory goes (ISNet: ~1.5 GB per dump per sample)
#
# Exit status: 0 pass, 1 mismatch, 77 skipped (node_modules or model missing: run
# `npm install --ignore-scripts` in tests/oracle and scripts/fetch-models.sh), other = error.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
ORACLE="$ROOT/tests/oracle"
QDIFF_BIN="${QDIFF_BIN:-$ROOT/build/tools/qdiff/qdiff}"
QDIFF_COMPARE_BIN="${QDIFF_COMPARE_BIN:-$ROOT/build/tests/qdiff_compare_dumps}"
PYTHON="${PYTHON:-/usr/bin/python3}"
NODE="${NODE:-node}"
THREADS="${ORACLE_THREADS:-$(n=$(nproc 2>/dev/null || echo 1); echo $((n > 8 ? 8 : n)))}"

skip() { echo "run_oracle: SKIP: $*"; exit 77; }
die() { echo "run_oracle: error: $*" >&2; exit 2; }

KEYS="demo_bn demo_folded cls det isnet isnet_fp16"
[[ $# -eq 1 ]] || die "usage: $0 ${KEYS// /|}"
KEY="$1"
# The key table: model file, default samples, default relative tolerance, what ORT runs
# ("model": the file itself; "fp32": its float32 original from to_float32.py), inputs
# (make_inputs.py key; demo: models/demo/samples.npy).
row() { MODEL="$ROOT/$1"; DEF_SAMPLES="$2"; DEF_TOL="$3"; ORT_RUNS="$4"; INPUTS="$5"; }
case "$KEY" in
  demo_bn)     row models/demo/demo_bn.onnx                 20 1e-4 model demo ;;
  demo_folded) row models/demo/demo_folded.onnx             20 1e-4 model demo ;;
  cls)         row third_party/models/ppocr/cls.onnx         4 1e-4 model cls ;;
  det)         row third_party/models/ppocr/det.onnx         3 1e-4 model det ;;
  isnet)       row third_party/models/isnet/isnet_fp16.onnx  1 1e-4 fp32  isnet ;;
  isnet_fp16)  row third_party/models/isnet/isnet_fp16.onnx  1 3e-3 model isnet ;;
  *) die "unknown model key '$KEY' (${KEYS// /, })" ;;
esac
SAMPLES="${ORACLE_SAMPLES:-$DEF_SAMPLES}"
REL_TOL="${ORACLE_REL_TOL:-$DEF_TOL}"

[[ -x "$QDIFF_BIN" ]] || die "qdiff not found at $QDIFF_BIN (set QDIFF_BIN)"
[[ -x "$QDIFF_COMPARE_BIN" ]] || die "qdiff_compare_dumps not found at $QDIFF_COMPARE_BIN (set QDIFF_COMPARE_BIN)"
command -v "$NODE" >/dev/null || skip "node not found"
[[ -d "$ORACLE/node_modules/onnxruntime-node" ]] ||
  skip "$ORACLE/node_modules/onnxruntime-node missing (cd tests/oracle && npm install --ignore-scripts)"
[[ -f "$MODEL" ]] || skip "$MODEL missing (scripts/fetch-models.sh)"
"$PYTHON" -c 'import numpy' 2>/dev/null || skip "$PYTHON has no numpy"
if [[ "$ORT_RUNS" == fp32 ]]; then
  "$PYTHON" -c 'import onnx' 2>/dev/null || skip "$PYTHON has no onnx (needed by to_float32.py)"
fi

WORK="$(mktemp -d "${TMPDIR:-/tmp}/qdiff-oracle-$KEY.XXXXXX")"
if [[ "${ORACLE_KEEP:-0}" == 1 ]]; then
  trap 'echo "run_oracle: kept $WORK"' EXIT
else
  trap 'rm -rf "$WORK"' EXIT
fi

now() { date +%s.%N; }
took() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f s", b - a }'; }

t=$(now)
case "$INPUTS" in
  demo)
    INPUT="$WORK/samples.npy"
    "$PYTHON" - "$ROOT/models/demo/samples.npy" "$INPUT" "$SAMPLES" <<'EOF'
import sys
import numpy as np
a = np.load(sys.argv[1], mmap_mode="r")
np.save(sys.argv[2], np.ascontiguousarray(a[: int(sys.argv[3])]))
EOF
    ;;
  *)
    "$PYTHON" "$ORACLE/make_inputs.py" "$WORK/inputs" --models "$INPUTS" --samples "$SAMPLES" >/dev/null
    INPUT="$WORK/inputs/$INPUTS"
    ;;
esac
echo "run_oracle: $KEY: $(basename "$MODEL"), $SAMPLES sample(s), rel tol $REL_TOL, inputs in $(took "$t")"

ORT_MODEL="$MODEL"
if [[ "$ORT_RUNS" == fp32 ]]; then
  t=$(now)
  ORT_MODEL="$WORK/$(basename "$MODEL" .onnx).fp32.onnx"
  "$PYTHON" "$ORACLE/to_float32.py" "$MODEL" "$ORT_MODEL" >/dev/null
  echo "run_oracle: $KEY: ORT runs the float32 original $(basename "$ORT_MODEL") (to_float32.py, $(took "$t"))"
fi

t=$(now)
"$NODE" "$ORACLE/ort_dump.js" "$ORT_MODEL" "$INPUT" "$WORK/ort" --opt disabled --threads 1
echo "run_oracle: $KEY: ORT dump in $(took "$t")"

t=$(now)
# shellcheck disable=SC2086  # ORACLE_QDIFF_ARGS is a list of flags
"$QDIFF_BIN" run "$MODEL" --input "$INPUT" --dump "$WORK/qdiff" --tensors all \
  --threads "$THREADS" ${ORACLE_QDIFF_ARGS:-}
echo "run_oracle: $KEY: qdiff dump in $(took "$t")"

t=$(now)
verbose=()
[[ "${ORACLE_VERBOSE:-0}" == 1 ]] && verbose=(--verbose)
rc=0
"$QDIFF_COMPARE_BIN" "$WORK/ort" "$WORK/qdiff" --rel-tol "$REL_TOL" "${verbose[@]}" || rc=$?
echo "run_oracle: $KEY: compared in $(took "$t")"
exit "$rc"
