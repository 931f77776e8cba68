#!/usr/bin/env bash
# ORT oracle for the fake-quant world: ONNX Runtime runs a quantized (QDQ) model with every
# tensor dumped; qdiff runs the float model under the plan imported from that QDQ model
# (`qdiff run FLOAT --mode fakequant --quantized Q.onnx`). Two comparisons (docs/oracle.md):
#   propagated  qdiff_compare_quant_dumps: the two runs side by side; a tie flipped by float
#               summation order propagates downstream, so this one is reported, not gated;
#   local       qdiff_local_quant_oracle: every qdiff node runs on ORT's values of its inputs;
#               every quantized tensor within one quantization step in at most 0.1 % of its
#               elements, every float tensor within 1e-4 x max|ORT|. This one decides.
#
#   tests/oracle/run_quant_oracle.sh KEY
#
# Keys (model, where the QDQ model comes from, samples):
#   demo_pc     models/demo/demo_folded.onnx, qdiff calibrate (ort-cpu, per-channel) + export, 50
#   demo_pt     the same with per-tensor weights, 50
#   demo_int16  the same with 16-bit activations on every node (com.microsoft Q/DQ), 20
#   det_pc      PP-OCRv4 det (opset 11, weights in Constant nodes), per-channel weights: the
#               export upgrades it to opset 13, 2 synthetic 320x320 images (calibration: 3)
#   det_pt      the same with per-tensor weights
#   torch       tests/data/torch_qdq/qdq.onnx, made by PyTorch's FX int8 flow (onednn) and
#               exported by torch.onnx; qdiff maps it onto tests/data/torch_qdq/float.onnx, 16
#
# Environment: QDIFF_BIN, QDIFF_COMPARE_QUANT_BIN, QDIFF_LOCAL_QUANT_BIN, ORACLE_KEEP=1, ORACLE_VERBOSE=1, PYTHON, NODE
# as in run_oracle.sh. Exit status: 0 pass, 1 mismatch, 77 skipped, other = error.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
ORACLE="$ROOT/tests/oracle"
QDIFF_BIN="${QDIFF_BIN:-$ROOT/build/tools/qdiff/qdiff}"
COMPARE_BIN="${QDIFF_COMPARE_QUANT_BIN:-$ROOT/build/tests/qdiff_compare_quant_dumps}"
LOCAL_BIN="${QDIFF_LOCAL_QUANT_BIN:-$ROOT/build/tests/qdiff_local_quant_oracle}"
PYTHON="${PYTHON:-/usr/bin/python3}"
NODE="${NODE:-node}"

skip() { echo "run_quant_oracle: SKIP: $*"; exit 77; }
die() { echo "run_quant_oracle: error: $*" >&2; exit 2; }

[[ $# -eq 1 ]] || die "usage: $0 demo_pc|demo_pt|demo_int16|det_pc|det_pt|torch"
KEY="$1"
[[ -x "$QDIFF_BIN" ]] || die "qdiff not found at $QDIFF_BIN"
[[ -x "$COMPARE_BIN" ]] || die "qdiff_compare_quant_dumps not found at $COMPARE_BIN"
[[ -x "$LOCAL_BIN" ]] || die "qdiff_local_quant_oracle not found at $LOCAL_BIN"
command -v "$NODE" >/dev/null || skip "node not found"
[[ -d "$ORACLE/node_modules/onnxruntime-node" ]] || skip "onnxruntime-node missing"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/qdiff-quant-oracle-$KEY.XXXXXX")"
if [[ "${ORACLE_KEEP:-0}" == 1 ]]; then trap 'echo "kept $WORK"' EXIT; else trap 'rm -rf "$WORK"' EXIT; fi

slice() {  # slice SRC DST N: the first N rows of a stacked .npy
  "$PYTHON" - "$1" "$2" "$3" <<'PY'
import sys
import numpy as np
a = np.load(sys.argv[1], mmap_mode="r")
np.save(sys.argv[2], np.ascontiguousarray(a[: int(sys.argv[3])]))
PY
}

CAL_ARGS=()
case "$KEY" in
  demo_pc|demo_pt|demo_int16)
    FLOAT="$ROOT/models/demo/demo_folded.onnx"
    n=50; [[ "$KEY" == demo_int16 ]] && n=20
    slice "$ROOT/models/demo/samples.npy" "$WORK/samples.npy" "$n"
    CAL="$WORK/samples.npy"; INPUT="$WORK/samples.npy"
    [[ "$KEY" == demo_pt ]] && CAL_ARGS=(--granularity per-tensor)
    [[ "$KEY" == demo_int16 ]] && CAL_ARGS=(--activation-bits 16)
    ;;
  det_pc|det_pt)
    FLOAT="$ROOT/third_party/models/ppocr/det.onnx"
    [[ -f "$FLOAT" ]] || skip "$FLOAT missing (scripts/fetch-models.sh)"
    "$PYTHON" "$ORACLE/make_inputs.py" "$WORK/cal" --models det --samples 3 >/dev/null
    "$PYTHON" "$ORACLE/make_inputs.py" "$WORK/in" --models det --samples 2 >/dev/null
    CAL="$WORK/cal/det"; INPUT="$WORK/in/det"
    [[ "$KEY" == det_pt ]] && CAL_ARGS=(--granularity per-tensor)
    ;;
  torch)
    FLOAT="$ROOT/tests/data/torch_qdq/float.onnx"
    QDQ="$ROOT/tests/data/torch_qdq/qdq.onnx"
    INPUT="$ROOT/tests/data/torch_qdq/samples.npy"
    ;;
  *) die "unknown key '$KEY'" ;;
esac

if [[ "$KEY" != torch ]]; then
  QDQ="$WORK/qdq.onnx"
  "$QDIFF_BIN" calibrate "$FLOAT" --data "$CAL" -o "$WORK/plan.json" "${CAL_ARGS[@]}" | sed 's/^/  /'
  "$QDIFF_BIN" export "$FLOAT" --plan "$WORK/plan.json" -o "$QDQ" | sed 's/^/  /'
fi
"$NODE" "$ORACLE/ort_dump.js" "$QDQ" "$INPUT" "$WORK/ort" --opt disabled --threads 1 | sed 's/^/  /'
"$QDIFF_BIN" run "$FLOAT" --mode fakequant --quantized "$QDQ" --input "$INPUT" \
  --dump "$WORK/qdiff" | sed 's/^/  /'
verbose=()
[[ "${ORACLE_VERBOSE:-0}" == 1 ]] && verbose=(--verbose)
echo "propagated (reported, not gated):"
"$COMPARE_BIN" "$WORK/ort" "$WORK/qdiff" "${verbose[@]}" | sed 's/^/  /' || true
echo "local (gated):"
"$LOCAL_BIN" "$FLOAT" "$QDQ" "$WORK/ort" "$WORK/qdiff" "$INPUT" "${verbose[@]}"
