#!/usr/bin/env bash
# qdiff diagnose --device-dump: device dumps with planted faults (made by qdiff's own integer
# world under a faulty target, or by rewriting a healthy dump as a broken device would), each
# of which must give the right top finding; a healthy device dump must give none; bad dumps
# must give one-line errors and exit code 2.
#   device_test.sh QDIFF_BINARY
set -uo pipefail
source "$(dirname "$0")/lib.sh"

PY=/usr/bin/python3
$PY - "$TMP" "$DEMO" <<'EOF' || { echo "cannot make test data"; exit 1; }
import sys, numpy as np
tmp, demo = sys.argv[1], sys.argv[2]
x = np.load(f"{demo}/samples.npy")
np.save(f"{tmp}/first20.npy", x[:20])
np.save(f"{tmp}/first20x2.npy", x[:20] * 2)  # a device fed twice the intended input
EOF
"$QDIFF" calibrate "$DEMO/demo_folded.onnx" --data "$TMP/first20.npy" -o "$TMP/plan.json" >/dev/null ||
  { echo "cannot calibrate"; exit 1; }
device() {  # device NAME TARGET INPUT: a "device" dump made by qdiff's integer world
  "$QDIFF" run "$DEMO/demo_folded.onnx" --mode int --target "$2" --plan "$TMP/plan.json" \
    --input "$3" --dump "$TMP/$1" >/dev/null || { echo "cannot make dump $1"; exit 1; }
}
diagnose() {  # diagnose DUMP [MODEL PLAN DATA]: sets $out and $rc
  out=$("$QDIFF" diagnose "${2:-$DEMO/demo_folded.onnx}" --data "${4:-$TMP/first20.npy}" \
    --plan "${3:-$TMP/plan.json}" --device-dump "$TMP/$1" --json "$TMP/$1.json" 2>&1)
  rc=$?
}
# expect_top NAME RC TEXT: exit code and the first finding's line.
expect_top() {
  local first
  first=$(printf '%s\n' "$out" | grep -m1 "^   1\. ")
  if [[ $rc -ne $2 ]]; then fail "$1: exit $rc, expected $2: $out"
  elif [[ "$first" != *"$3"* ]]; then fail "$1: top finding '$first', expected '$3': $out"
  else ok; fi
}

# A healthy device: bit-exact with the emulation, no device divergence, nothing but info.
device ok ort-cpu "$TMP/first20.npy"
diagnose ok
if [[ $rc -ne 0 ]]; then fail "healthy device: exit $rc: $out"
elif [[ "$out" != *"device        none"* ]]; then fail "healthy device: a divergence: $out"
elif [[ "$out" != *"27 tensors matched (0 by values), 0 unmatched"* ]]; then fail "healthy alignment: $out"
elif [[ "$out" != *"verdict: healthy"* ]]; then fail "healthy device: verdict: $out"
else ok; fi

# Padding: the device pads with the integer 0; the alternative pad value explains it exactly.
device pad "$ROOT/models/targets/ort-cpu-pad0.json" "$TMP/first20.npy"
diagnose pad
expect_top padding 1 "error   padding            /stem/conv/Conv (/stem/act/Clip_output_0)"

# Preprocessing: the device's input is twice qdiff's.
device pre ort-cpu "$TMP/first20x2.npy"
diagnose pre
expect_top preprocessing 1 "error   preprocessing      graph input (input)"
[[ "$out" == *"is 2 x + 0 of qdiff's"* ]] && ok || fail "preprocessing fit: $out"

# Approximation: the device tabulates the hard-sigmoid gates with 9 entries, each held over 32
# input steps; the alternative table resolution explains it exactly.
printf '%s\n' '{"schema": "qdiff.target/1", "base": "ort-cpu", "name": "npu-lut3",' \
  '"lut_bits": 3, "lut_interpolation": false}' >"$TMP/lut3.json"
device lut3 "$TMP/lut3.json" "$TMP/first20.npy"
diagnose lut3
expect_top coarse_table 1 "error   approximation      /block3/dw/act/HardSigmoid (/block3/dw/act/HardSigmoid_output_0)"
[[ "$out" == *'set "lut_bits": 3, "lut_interpolation": false in the target profile'* ]] && ok ||
  fail "coarse table fix: $out"

# Layout, mismatch and renamed tensors: a healthy dump rewritten.
$PY - "$TMP" <<'EOF' || { echo "cannot rewrite dumps"; exit 1; }
import json, shutil, sys, numpy as np
tmp = sys.argv[1]
def copy(name):
    shutil.copytree(f"{tmp}/ok", f"{tmp}/{name}")
    return json.load(open(f"{tmp}/{name}/manifest.json"))
def entry(m, tensor):
    return next(t for t in m["tensors"] if t["name"] == tensor)
# One tensor written in NHWC order under its NCHW shape.
m = copy("layout")
f = f"{tmp}/layout/" + entry(m, "/block2/Add_output_0")["file"]
a = np.load(f)
np.save(f, np.ascontiguousarray(a.transpose(0, 1, 3, 4, 2)).reshape(a.shape))
# A kernel fault: one channel of one tensor off by 7 steps, nothing known explains it.
m = copy("mismatch")
f = f"{tmp}/mismatch/" + entry(m, "/block2/Add_output_0")["file"]
a = np.load(f)
a[:, :, 0] = np.clip(a[:, :, 0].astype(np.int32) + 7, 0, 255).astype(a.dtype)
np.save(f, a)
# A gate computed by another function (saturating early) than any profile knows: the device's
# output read as a table of its input explains it.
m = copy("gate")
x = np.load(f"{tmp}/gate/" + entry(m, "/block3/dw/conv/Conv_output_0")["file"]).astype(np.int32)
f = f"{tmp}/gate/" + entry(m, "/block3/dw/act/HardSigmoid_output_0")["file"]
y = np.load(f)
table = np.zeros(256, np.int32)
table[x.ravel()] = y.astype(np.int32).ravel()
np.save(f, np.where(table > 160, 255, table)[x].astype(y.dtype))
# Three tensors under names the model does not have: matched by their values.
m = copy("renamed")
for i, t in enumerate(["/block1/pw/conv/Conv_output_0", "/block3/dw/act/Mul_output_0", "logits"]):
    entry(m, t)["name"] = f"device_tensor_{i}"
json.dump(m, open(f"{tmp}/renamed/manifest.json", "w"))
# Fewer samples than the data; a matched tensor with another shape.
m = copy("short")
m["samples"] = m["samples"][:19]
json.dump(m, open(f"{tmp}/short/manifest.json", "w"))
m = copy("reshaped")
e = entry(m, "input")
a = np.load(f"{tmp}/reshaped/" + e["file"])
np.save(f"{tmp}/reshaped/" + e["file"], a.reshape(20, 1, 1, 14, 56))
e["shape"] = [1, 1, 14, 56]
json.dump(m, open(f"{tmp}/reshaped/manifest.json", "w"))
EOF
diagnose layout
expect_top layout 0 "layout             /block2/Add (/block2/Add_output_0)"
[[ "$out" == *"holds NHWC-ordered values under the NCHW shape"* ]] && ok || fail "layout summary: $out"
diagnose mismatch
expect_top mismatch 0 "device-mismatch    /block2/Add (/block2/Add_output_0)"
diagnose gate
expect_top gate_table 0 "approximation      /block3/dw/act/HardSigmoid (/block3/dw/act/HardSigmoid_output_0)"
[[ "$out" == *"the device's HardSigmoid is another function of its input"* ]] && ok ||
  fail "gate table summary: $out"
diagnose renamed
if [[ $rc -ne 0 || "$out" != *"27 tensors matched (3 by values)"* || "$out" != *"device        none"* ]]; then
  fail "renamed: $out"
elif [[ "$out" != *"device_tensor_2 -> logits (values, correlation 1.0000"* ]]; then fail "renamed logits: $out"
else ok; fi
$PY - "$TMP" <<'EOF' && ok || fail "device JSON"
import json, sys
tmp = sys.argv[1]
r = json.load(open(f"{tmp}/renamed.json"))
by_values = [m for m in r["device_alignment"]["matched"] if m["how"] == "values"]
assert sorted(m["tensor"] for m in by_values) == sorted(
    ["/block1/pw/conv/Conv_output_0", "/block3/dw/act/Mul_output_0", "logits"]), by_values
assert r["summary"]["outputs"][0]["device"]["sqnr_db"] == "inf", r["summary"]["outputs"]
p = json.load(open(f"{tmp}/pad.json"))
assert p["first_divergence"]["device"]["tensor"] == "/stem/act/Clip_output_0"
top = p["findings"][0]
assert top["category"] == "padding" and "pad_value=0" in top["evidence"]["tried"], top
EOF

# DepthToSpace compiled with the other mode: a small Conv -> DepthToSpace -> Conv model.
$PY - "$TMP" <<'EOF' || { echo "cannot make the DepthToSpace model"; exit 1; }
import sys, numpy as np, onnx
from onnx import helper, TensorProto, numpy_helper
tmp = sys.argv[1]
rng = np.random.default_rng(7)
def model(mode):
    w1 = numpy_helper.from_array(rng_w1, "w1")
    w2 = numpy_helper.from_array(rng_w2, "w2")
    nodes = [helper.make_node("Conv", ["x", "w1"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
             helper.make_node("DepthToSpace", ["c1"], ["d"], name="d2s", blocksize=2, mode=mode),
             helper.make_node("Conv", ["d", "w2"], ["y"], name="conv2")]
    g = helper.make_graph(nodes, "d2s", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 6, 6])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 12, 12])], [w1, w2])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    onnx.checker.check_model(m)
    onnx.save(m, f"{tmp}/d2s_{mode.lower()}.onnx")
rng_w1 = rng.normal(size=(8, 4, 3, 3)).astype(np.float32)
rng_w2 = rng.normal(size=(3, 2, 1, 1)).astype(np.float32)
model("DCR")
model("CRD")
x = rng.normal(size=(10, 1, 4, 6, 6)).astype(np.float32)
np.save(f"{tmp}/d2s_x.npy", x)
np.save(f"{tmp}/d2s_x_bgr.npy", np.ascontiguousarray(x[:, :, ::-1]))  # channels reversed
EOF
"$QDIFF" calibrate "$TMP/d2s_dcr.onnx" --data "$TMP/d2s_x.npy" -o "$TMP/d2s_plan.json" >/dev/null &&
"$QDIFF" run "$TMP/d2s_crd.onnx" --mode int --target ort-cpu --plan "$TMP/d2s_plan.json" \
  --input "$TMP/d2s_x.npy" --dump "$TMP/d2s_dev" >/dev/null || { echo "cannot make the d2s dump"; exit 1; }
diagnose d2s_dev "$TMP/d2s_dcr.onnx" "$TMP/d2s_plan.json" "$TMP/d2s_x.npy"
expect_top depth_to_space 1 "layout             d2s (d)"
[[ "$out" == *"with the other DepthToSpace mode (crd)"* ]] && ok || fail "d2s summary: $out"

# The device fed the input with its channels reversed (BGR for RGB).
"$QDIFF" run "$TMP/d2s_dcr.onnx" --mode int --target ort-cpu --plan "$TMP/d2s_plan.json" \
  --input "$TMP/d2s_x_bgr.npy" --dump "$TMP/bgr_dev" >/dev/null || { echo "cannot make the bgr dump"; exit 1; }
diagnose bgr_dev "$TMP/d2s_dcr.onnx" "$TMP/d2s_plan.json" "$TMP/d2s_x.npy"
expect_top channel_order 1 "error   preprocessing      graph input (x)"
[[ "$out" == *"has its channels in reverse order (RGB vs BGR)"* ]] && ok || fail "bgr summary: $out"

# Bad dumps: one-line errors, exit code 2.
run_diag() { "$QDIFF" diagnose "$DEMO/demo_folded.onnx" --data "$TMP/first20.npy" --plan "$TMP/plan.json" "$@"; }
expect_error short "the manifest lists 19" run_diag --device-dump "$TMP/short"
expect_error fewer "holds 20 samples; 19 ran" run_diag --device-dump "$TMP/ok" --samples 19
expect_error missing "manifest.json" run_diag --device-dump "$TMP/nope"
expect_error reshaped "device dump tensor 'input': shape [1,1,14,56]" run_diag --device-dump "$TMP/reshaped"

echo "device: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
