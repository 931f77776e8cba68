#!/usr/bin/env bash
# End-to-end tests of the qdiff CLI: the demo run, determinism across thread counts, and bad
# input (each must give a one-line error naming the file/node/tensor and exit code 2).
#   cli_test.sh QDIFF_BINARY
set -uo pipefail
source "$(dirname "$0")/lib.sh"

/usr/bin/python3 "$ROOT/tests/cli/make_bad_models.py" "$TMP" || { echo "cannot make test models"; exit 1; }
/usr/bin/python3 - "$TMP" "$DEMO" <<'PY'
import sys, numpy as np
tmp, demo = sys.argv[1], sys.argv[2]
x = np.load(f"{demo}/samples.npy")
np.save(f"{tmp}/wrong_shape.npy", np.zeros((1, 1, 32, 32), np.float32))
np.save(f"{tmp}/wrong_dtype.npy", np.zeros((1, 1, 28, 28), np.int32))
np.save(f"{tmp}/first20.npy", x[:20])
np.save(f"{tmp}/first20_labels.npy", np.load(f"{demo}/labels.npy")[:20])
np.save(f"{tmp}/negative.npy", np.array([-1.0, 2.0], np.float32))
PY

# --- the demo: top-1 equals the float accuracy the training script reported -------------------
out=$("$QDIFF" run "$DEMO/demo_bn.onnx" --input "$DEMO/samples.npy" --labels "$DEMO/labels.npy")
want=$(/usr/bin/python3 -c "import json; d=json.load(open('$DEMO/info.json')); print(f\"{d['float_top1_count']}/{d['samples']}\")")
if [[ "$out" == *"($want)"* ]]; then ok; else fail "demo_bn top-1: '$out' does not report ($want)"; fi
out=$("$QDIFF" run "$DEMO/demo_folded.onnx" --input "$DEMO/samples.npy" --labels "$DEMO/labels.npy")
if [[ "$out" == *"($want)"* ]]; then ok; else fail "demo_folded top-1: '$out' does not report ($want)"; fi

# --- logits equal PyTorch's (an independent oracle) for both exports ---------------------------
for m in demo_bn demo_folded; do
  "$QDIFF" run "$DEMO/$m.onnx" --input "$DEMO/samples.npy" --dump "$TMP/$m" --tensors logits >/dev/null
  if /usr/bin/python3 - "$TMP/$m/logits.npy" "$DEMO/logits_torch.npy" <<'PY'
import sys, numpy as np
q = np.load(sys.argv[1]).reshape(-1, 10)
t = np.load(sys.argv[2])
err = np.abs(q - t).max() / np.abs(t).max()
print(f"  logits vs torch: max |diff| / max |torch| = {err:.2e}")
sys.exit(0 if err <= 1e-4 else 1)
PY
  then ok; else fail "$m logits differ from PyTorch"; fi
done

# --- dumps are identical at any thread count and with reference-only kernels -----------------
"$QDIFF" run "$DEMO/demo_bn.onnx" --input "$TMP/first20.npy" --dump "$TMP/t1" --threads 1 >/dev/null &&
"$QDIFF" run "$DEMO/demo_bn.onnx" --input "$TMP/first20.npy" --dump "$TMP/t2" --threads 2 >/dev/null
if diff -r "$TMP/t1" "$TMP/t2" >/dev/null; then ok; else fail "dumps differ between 1 and 2 threads"; fi
n=$(ls "$TMP/t1"/*.npy | wc -l)
if [[ $n -eq 48 ]]; then ok; else fail "expected 48 tensors in the dump, got $n"; fi
"$QDIFF" run "$DEMO/demo_bn.onnx" --input "$TMP/first20.npy" --dump "$TMP/sel" --tensors logits,input >/dev/null
n=$(ls "$TMP/sel"/*.npy | wc -l)
if [[ $n -eq 2 ]]; then ok; else fail "--tensors logits,input dumped $n tensors"; fi

# --- images: PNGs of the first 8 demo samples (pixels = the normalization undone; PNG is
# lossless 8-bit and the samples came from 8-bit pixels), preprocessed as the demo was ---------
if /usr/bin/python3 - "$TMP" "$DEMO" <<'PY'
import os, sys, numpy as np
from PIL import Image
tmp, demo = sys.argv[1], sys.argv[2]
x = np.load(f"{demo}/samples.npy")[:8]
pixels = np.round((x.astype(np.float64) * 0.3530 + 0.2860) * 255).astype(np.uint8)
os.makedirs(f"{tmp}/png", exist_ok=True)
for i in range(len(x)):
    Image.fromarray(pixels[i, 0, 0], mode="L").save(f"{tmp}/png/sample{i}.png")
np.save(f"{tmp}/first8.npy", x)
PY
then
  PRE="scale=1/255,mean=0.2860,std=0.3530,nchw"
  if "$QDIFF" calibrate "$DEMO/demo_folded.onnx" --data "$TMP/png" --preprocess "$PRE" \
       -o "$TMP/png_plan.json" >"$TMP/png_cal.txt" 2>&1 &&
     grep -q "8 samples" "$TMP/png_cal.txt" &&
     /usr/bin/python3 -c "import json,sys; d=json.load(open('$TMP/png_plan.json')); sys.exit(0 if len(d['tensors']) > 0 else 1)"
  then ok; else fail "calibrate from PNGs: $(cat "$TMP/png_cal.txt")"; fi
  # The same samples as .npy give the same plan (the preprocessing reproduces them exactly).
  "$QDIFF" calibrate "$DEMO/demo_folded.onnx" --data "$TMP/first8.npy" -o "$TMP/npy_plan.json" >/dev/null 2>&1
  if cmp -s "$TMP/png_plan.json" "$TMP/npy_plan.json"; then ok; else fail "plans from PNGs and .npy differ"; fi
  "$QDIFF" run "$DEMO/demo_folded.onnx" --input "$TMP/png" --preprocess "$PRE" --dump "$TMP/png_run" --tensors logits >/dev/null &&
  "$QDIFF" run "$DEMO/demo_folded.onnx" --input "$TMP/first8.npy" --dump "$TMP/npy_run" --tensors logits >/dev/null
  if /usr/bin/python3 - "$TMP/png_run/logits.npy" "$TMP/npy_run/logits.npy" <<'PY'
import sys, numpy as np
a, b = np.load(sys.argv[1]), np.load(sys.argv[2])
err = np.abs(a - b).max()
print(f"  logits from PNGs vs .npy: max |diff| = {err:.2e}")
sys.exit(0 if a.shape == b.shape == (8, 1, 10) and err <= 1e-5 else 1)
PY
  then ok; else fail "logits from PNGs differ from the .npy samples"; fi
  expect_error png_no_spec "$TMP/png" "$QDIFF" run "$DEMO/demo_folded.onnx" --input "$TMP/png"
  expect_error png_bad_key "colour" "$QDIFF" run "$DEMO/demo_folded.onnx" --input "$TMP/png" --preprocess "colour=rgb"
  expect_error png_size "sample0.png" "$QDIFF" calibrate "$DEMO/demo_folded.onnx" --data "$TMP/png" --preprocess "resize=32x32" -o "$TMP/x.json"
else
  fail "cannot write the PNG samples (python3-pil)"
fi

# --- --help everywhere -----------------------------------------------------------------------
for cmd in "" inspect run calibrate export compare; do
  if "$QDIFF" $cmd --help >/dev/null; then ok; else fail "qdiff $cmd --help"; fi
done
if "$QDIFF" inspect "$DEMO/demo_bn.onnx" | grep -q "BatchNormalization *12"; then ok; else fail "inspect op counts"; fi
if "$QDIFF" inspect "$DEMO/demo_bn.onnx" --layers | grep -q "DepthToSpace *\[1,32,14,14\]"; then ok; else fail "inspect --layers shapes"; fi
"$QDIFF" inspect "$DEMO/demo_bn.onnx" --json "$TMP/inspect.json" >/dev/null
if /usr/bin/python3 -c "import json,sys; d=json.load(open('$TMP/inspect.json')); sys.exit(0 if d['op_counts']['Conv']==12 and d['macs']==2532816 and len(d['weight_ranges'])==13 else 1)"; then ok; else fail "inspect --json"; fi

# --- bad input -------------------------------------------------------------------------------
echo "this is not a model" > "$TMP/garbage.onnx"
head -c 5000 "$DEMO/demo_bn.onnx" > "$TMP/truncated.onnx"
: > "$TMP/empty.onnx"
expect_error garbage "$TMP/garbage.onnx" "$QDIFF" inspect "$TMP/garbage.onnx"
expect_error truncated "$TMP/truncated.onnx" "$QDIFF" run "$TMP/truncated.onnx" --input "$TMP/first20.npy"
expect_error empty "empty" "$QDIFF" inspect "$TMP/empty.onnx"
expect_error missing_model "cannot open" "$QDIFF" inspect "$TMP/nope.onnx"
expect_error missing_input "nope.npy" "$QDIFF" run "$DEMO/demo_bn.onnx" --input "$TMP/nope.npy"
expect_error unknown_op "mystery_node" "$QDIFF" run "$TMP/unknown_op.onnx" --input "$TMP/negative.npy"
expect_error wrong_shape "input 'input'" "$QDIFF" run "$DEMO/demo_bn.onnx" --input "$TMP/wrong_shape.npy"
expect_error wrong_dtype "int32" "$QDIFF" run "$DEMO/demo_bn.onnx" --input "$TMP/wrong_dtype.npy"
expect_error absurd_shape "huge_fill" "$QDIFF" run "$TMP/absurd_shape.onnx" --input "$ROOT/tests/cli/one.npy"
expect_error dangling "nowhere" "$QDIFF" inspect "$TMP/dangling.onnx"
expect_error nonfinite "log_node" "$QDIFF" run "$TMP/nan.onnx" --input "$TMP/negative.npy" --stop-on-nonfinite
expect_error bad_labels "labels" "$QDIFF" run "$DEMO/demo_bn.onnx" --input "$TMP/first20.npy" --labels "$DEMO/labels.npy"
expect_error bad_tensor_name "no_such_tensor" "$QDIFF" run "$DEMO/demo_bn.onnx" --input "$TMP/first20.npy" --tensors no_such_tensor
expect_error bad_flag "--frobnicate" "$QDIFF" run "$DEMO/demo_bn.onnx" --input "$TMP/first20.npy" --frobnicate

# --- quantization: calibrate, fake-quant run, export, import, bad plans ---------------------------
P=$TMP/plan.json
"$QDIFF" calibrate "$DEMO/demo_folded.onnx" --data "$TMP/first20.npy" -o "$P" >/dev/null || fail "calibrate"
"$QDIFF" calibrate "$DEMO/demo_folded.onnx" --data "$TMP/first20.npy" -o "$TMP/plan2.json" --threads 2 >/dev/null
if cmp -s "$P" "$TMP/plan2.json"; then ok; else fail "calibrate: plan differs between 1 and 2 threads"; fi
out=$("$QDIFF" run "$DEMO/demo_folded.onnx" --mode fakequant --plan "$P" --input "$DEMO/samples.npy" --labels "$DEMO/labels.npy")
if [[ "$out" == *"mode fakequant"* && "$out" == *"top-1 0.9"* ]]; then ok; else fail "fakequant top-1: $out"; fi
"$QDIFF" export "$DEMO/demo_folded.onnx" --plan "$P" -o "$TMP/q.onnx" --encodings-out "$TMP/e.json" >/dev/null || fail "export"
for side in "--plan $P" "--quantized $TMP/q.onnx" "--encodings $TMP/e.json"; do
  # shellcheck disable=SC2086
  "$QDIFF" run "$DEMO/demo_folded.onnx" --mode fakequant $side --input "$TMP/first20.npy" \
    --dump "$TMP/fq_${side%% *}" --tensors logits >/dev/null || fail "fakequant run $side"
done
if cmp -s "$TMP/fq_--plan/logits.npy" "$TMP/fq_--quantized/logits.npy" &&
   cmp -s "$TMP/fq_--plan/logits.npy" "$TMP/fq_--encodings/logits.npy"; then ok
else fail "fakequant logits differ between --plan, --quantized (QDQ export) and --encodings"; fi
/usr/bin/python3 - "$TMP" <<'PY'
import json, sys
import numpy as np
tmp = sys.argv[1]
x = np.load(f"{tmp}/first20.npy")
x[3, 0, 0, 5, 5] = np.nan
x[7, 0, 0, 1, 1] = np.inf
np.save(f"{tmp}/some_nan.npy", x)
np.save(f"{tmp}/all_nan.npy", np.full((2, 1, 1, 28, 28), np.nan, np.float32))
plan = json.load(open(f"{tmp}/plan.json"))
def bad(name, edit):
    p = json.loads(json.dumps(plan))
    edit(p["tensors"][0])
    json.dump(p, open(f"{tmp}/bad_{name}.json", "w"))
bad("scale", lambda t: t.update(scale=[0.0]))
bad("nan_scale", lambda t: t.update(scale=[float("nan")]))
bad("zero_point", lambda t: t.update(zero_point=[300]))
bad("bits", lambda t: t.update(bits=20))
bad("tensor", lambda t: t.update(name="no_such_tensor"))
w = [t for t in plan["tensors"] if t["role"] == "weight"][0]
p = json.loads(json.dumps(plan))
[t for t in p["tensors"] if t["name"] == w["name"]][0]["axis"] = 7
json.dump(p, open(f"{tmp}/bad_axis.json", "w"))
e = json.load(open(f"{tmp}/e.json"))
e["activation_encodings"][0]["name"] = "not_in_model"
json.dump(e, open(f"{tmp}/bad_encodings.json", "w"))
PY
out=$("$QDIFF" calibrate "$DEMO/demo_folded.onnx" --data "$TMP/some_nan.npy" -o "$TMP/plan3.json")
if [[ $? -eq 0 && "$out" == *"left out 2 samples holding NaN or Inf"* ]]; then ok; else fail "calibrate with NaN samples: $out"; fi
expect_error cal_all_nan "every calibration sample holds NaN or Inf" "$QDIFF" calibrate "$DEMO/demo_folded.onnx" --data "$TMP/all_nan.npy" -o "$TMP/x.json"
expect_error cal_method "bogus" "$QDIFF" calibrate "$DEMO/demo_folded.onnx" --data "$TMP/first20.npy" -o "$TMP/x.json" --method bogus
expect_error cal_granularity "per-row" "$QDIFF" calibrate "$DEMO/demo_folded.onnx" --data "$TMP/first20.npy" -o "$TMP/x.json" --granularity per-row
expect_error cal_target "nope" "$QDIFF" calibrate "$DEMO/demo_folded.onnx" --data "$TMP/first20.npy" -o "$TMP/x.json" --target nope
expect_error fq_no_plan "exactly one of" "$QDIFF" run "$DEMO/demo_folded.onnx" --mode fakequant --input "$TMP/first20.npy"
expect_error float_with_plan "need --mode fakequant" "$QDIFF" run "$DEMO/demo_folded.onnx" --plan "$P" --input "$TMP/first20.npy"
expect_error plan_scale "scale 0" "$QDIFF" run "$DEMO/demo_folded.onnx" --mode fakequant --plan "$TMP/bad_scale.json" --input "$TMP/first20.npy"
expect_error plan_nan_scale "not valid JSON" "$QDIFF" run "$DEMO/demo_folded.onnx" --mode fakequant --plan "$TMP/bad_nan_scale.json" --input "$TMP/first20.npy"
expect_error plan_zero_point "zero point" "$QDIFF" run "$DEMO/demo_folded.onnx" --mode fakequant --plan "$TMP/bad_zero_point.json" --input "$TMP/first20.npy"
expect_error plan_bits "bits must be in [2, 16]" "$QDIFF" run "$DEMO/demo_folded.onnx" --mode fakequant --plan "$TMP/bad_bits.json" --input "$TMP/first20.npy"
expect_error plan_tensor "no_such_tensor" "$QDIFF" run "$DEMO/demo_folded.onnx" --mode fakequant --plan "$TMP/bad_tensor.json" --input "$TMP/first20.npy"
expect_error plan_axis "axis 7" "$QDIFF" run "$DEMO/demo_folded.onnx" --mode fakequant --plan "$TMP/bad_axis.json" --input "$TMP/first20.npy"
expect_error encodings_tensor "not_in_model" "$QDIFF" run "$DEMO/demo_folded.onnx" --mode fakequant --encodings "$TMP/bad_encodings.json" --input "$TMP/first20.npy"
expect_error int_labels_count "labels" "$QDIFF" run "$DEMO/demo_folded.onnx" --mode int --target ort-cpu --plan "$P" --input "$TMP/first20.npy" --labels "$DEMO/labels.npy"
"$QDIFF" run "$DEMO/demo_folded.onnx" --mode int --target ort-cpu --plan "$P" --input "$TMP/first20.npy" --dump "$TMP/int" --tensors logits >/dev/null || fail "int run"
if /usr/bin/python3 -c "
import json, numpy as np, sys
m = json.load(open('$TMP/int/manifest.json'))['tensors'][0]
a = np.load('$TMP/int/' + m['file'])
sys.exit(0 if a.dtype == np.uint8 and m['quant']['bits'] == 8 else 1)"; then ok; else fail "int dump: logits not uint8 with quant parameters"; fi
expect_error int_no_target "needs --target" "$QDIFF" run "$DEMO/demo_folded.onnx" --mode int --plan "$P" --input "$TMP/first20.npy"
expect_error int_bad_target "nope" "$QDIFF" run "$DEMO/demo_folded.onnx" --mode int --target nope --plan "$P" --input "$TMP/first20.npy"
expect_error export_missing_plan "nope.json" "$QDIFF" export "$DEMO/demo_folded.onnx" --plan "$TMP/nope.json" -o "$TMP/x.onnx"

# --- vitis-dpu and tensorrt-int8 end to end: calibrate, integer run, top-1 near the float 0.9333 --
for target in vitis-dpu tensorrt-int8; do
  "$QDIFF" calibrate "$DEMO/demo_folded.onnx" --data "$DEMO/samples.npy" --target "$target" -o "$TMP/plan_$target.json" >/dev/null || fail "calibrate --target $target"
  out=$("$QDIFF" run "$DEMO/demo_folded.onnx" --mode int --target "$target" --plan "$TMP/plan_$target.json" --input "$DEMO/samples.npy" --labels "$DEMO/labels.npy" 2>&1)
  acc=$(sed -n 's/.*top-1 \([0-9.]*\) .*/\1/p' <<<"$out")
  if [[ -n "$acc" ]] && awk -v a="$acc" 'BEGIN { exit !(a >= 0.85) }'; then ok; else fail "int run --target $target: top-1 '$acc' below 0.85: $out"; fi
  out=$("$QDIFF" run "$DEMO/demo_folded.onnx" --mode fakequant --plan "$TMP/plan_$target.json" --input "$DEMO/samples.npy" --labels "$DEMO/labels.npy" 2>&1)
  if [[ "$out" == *"top-1 0.9"* || "$out" == *"top-1 0.8"* ]]; then ok; else fail "fakequant --plan $target: $out"; fi
done
# The DPU plan holds only power-of-two scales and 8-bit biases.
if /usr/bin/python3 -c "
import json, math, sys
p = json.load(open('$TMP/plan_vitis-dpu.json'))
ok = all(math.frexp(s)[0] == 0.5 for t in p['tensors'] for s in (t['scale'] if isinstance(t['scale'], list) else [t['scale']]))
ok = ok and all(t['bits'] == 8 for t in p['tensors'] if t['role'] == 'bias')
sys.exit(0 if ok else 1)"; then ok; else fail "vitis-dpu plan: a scale is not a power of two or a bias is not 8-bit"; fi

# --- compare: float, fake-quant and integer dumps of the demo; a device-style dump ---------------
C=$TMP/cmp
"$QDIFF" run "$DEMO/demo_folded.onnx" --input "$TMP/first20.npy" --dump "$C/float" >/dev/null &&
"$QDIFF" run "$DEMO/demo_folded.onnx" --mode fakequant --plan "$P" --input "$TMP/first20.npy" --dump "$C/fq" >/dev/null &&
"$QDIFF" run "$DEMO/demo_folded.onnx" --mode int --target ort-cpu --plan "$P" --input "$TMP/first20.npy" --dump "$C/int" >/dev/null || fail "compare: the runs"
out=$("$QDIFF" compare "$C/float" "$C/fq" --json "$C/float_fq.json")
if [[ $? -eq 0 && "$out" == *"compared 36 tensors"* && "$out" == *"top-1"* ]]; then ok; else fail "compare float fakequant: $out"; fi
# The JSON against numpy's own computation of the metrics from the two dumps.
if /usr/bin/python3 - "$C" <<'PY'
import json, sys
import numpy as np
c = sys.argv[1]
d = json.load(open(f"{c}/float_fq.json"))
assert list(d)[:3] == ["schema", "a", "b"] and d["schema"] == "qdiff.compare/1", list(d)
assert d["samples"] == 20 and d["only_in_a"] == [] and d["only_in_b"] == [] and len(d["tensors"]) == 36
man = {t["name"]: t for t in json.load(open(f"{c}/fq/manifest.json"))["tensors"]}
for t in d["tensors"]:
    x = np.load(f"{c}/float/{man[t['name']]['file']}").astype(np.float64).reshape(20, -1)
    y = np.load(f"{c}/fq/{man[t['name']]['file']}").astype(np.float64).reshape(20, -1)
    m, e = t["metrics"], x - y
    assert m["elements"] == x.size
    assert abs(m["mse"] - np.mean(e ** 2)) <= 1e-12 * max(1.0, np.mean(e ** 2)), t["name"]
    assert m["max_abs_error"] == np.abs(e).max(), t["name"]
    assert m["exact_match"] == np.mean(x == y), t["name"]
    if np.any(e):
        sq = 20 * np.log10(np.linalg.norm(x) / np.linalg.norm(e))
        cos = np.dot(x.ravel(), y.ravel()) / np.linalg.norm(x) / np.linalg.norm(y)
        assert abs(m["sqnr_db"] - sq) < 1e-9 and abs(m["cosine"] - cos) < 1e-12, (t["name"], m, sq, cos)
    else:
        assert m["sqnr_db"] == "inf" and m["cosine"] == 1.0, t["name"]
    q = man[t["name"]].get("quant")
    if q:  # saturation: the fake-quant values at the ends of their grid
        k = np.rint(y / q["scale"][0]) + q["zero_point"][0]
        assert m["saturated"] == int(np.sum((k <= 0) | (k >= 2 ** q["bits"] - 1))), t["name"]
        assert abs(m["max_error_lsb"] - np.abs(e).max() / q["scale"][0]) < 1e-9, t["name"]
lg = [t for t in d["tensors"] if t["name"] == "logits"][0]
agree = int(np.sum(np.load(f"{c}/float/logits.npy").reshape(20, 10).argmax(1) ==
                   np.load(f"{c}/fq/logits.npy").reshape(20, 10).argmax(1)))
assert lg["output"] and lg["metrics"]["top1"] == {"rows": 20, "agree": agree, "agreement": agree / 20}, lg
PY
then ok; else fail "compare --json differs from numpy"; fi
# Fake-quant against the integer world: tensors only one side dumps are reported.
out=$("$QDIFF" compare "$C/fq" "$C/int")
if [[ "$out" == *"only in $C/fq (3)"* && "$out" == *"compared 33 tensors"* ]]; then ok; else fail "compare fq int: $out"; fi
# A device-style dump: the integer dump's tensors as raw NHWC .bin files with top-level
# scale/zero_point, and one tensor the other side lacks: equal to the integer dump, integers
# included.
/usr/bin/python3 - "$C" <<'PY'
import json, os, sys
import numpy as np
c = sys.argv[1]
os.makedirs(f"{c}/dev", exist_ok=True)
m = json.load(open(f"{c}/int/manifest.json"))
out = []
for t in m["tensors"]:
    q = t.get("quant")
    if not q or len(t["shape"]) != 5:
        continue
    a = np.load(f"{c}/int/{t['file']}")
    a.transpose(0, 1, 3, 4, 2).tofile(f"{c}/dev/{t['file'][:-4]}.bin")
    n, b, ch, h, w = a.shape
    out.append({"name": t["name"], "file": t["file"][:-4] + ".bin", "dtype": str(a.dtype),
                "shape": [b, h, w, ch], "layout": "NHWC", "scale": q["scale"][0], "zero_point": q["zero_point"][0]})
np.save(f"{c}/dev/extra.npy", np.zeros((20, 3), np.float32))
out.append({"name": "device_only", "file": "extra.npy", "dtype": "float32", "shape": [20, 3]})
json.dump({"tensors": out, "samples": m["samples"]}, open(f"{c}/dev/manifest.json", "w"))
PY
out=$("$QDIFF" compare "$C/int" "$C/dev" --json "$C/int_dev.json")
if [[ $? -eq 0 && "$out" == *"only in $C/dev (1): device_only"* ]] && /usr/bin/python3 -c "
import json, sys
d = json.load(open('$C/int_dev.json'))
ok = len(d['tensors']) >= 10 and all(t['metrics']['integer_exact_match'] == 1 and t['metrics']['sqnr_db'] == 'inf' and t['b']['layout'] == 'NHWC' for t in d['tensors'])
sys.exit(0 if ok and d['only_in_b'] == ['device_only'] else 1)"; then ok; else fail "compare int vs NHWC device dump: $out"; fi
# Bad dumps: one line naming the file and the tensor, exit code 2.
/usr/bin/python3 - "$C" <<'PY'
import json, os, shutil, sys
import numpy as np
c = sys.argv[1]
m = json.load(open(f"{c}/float/manifest.json"))
def bad(name, edit, samples=None):
    d = f"{c}/bad_{name}"
    shutil.copytree(f"{c}/float", d)
    mm = json.loads(json.dumps(m))
    edit(mm, d)
    json.dump(mm, open(f"{d}/manifest.json", "w"))
logits = lambda mm: [t for t in mm["tensors"] if t["name"] == "logits"][0]
bad("shape", lambda mm, d: logits(mm).update(shape=[20, 1, 11]))
bad("dtype", lambda mm, d: logits(mm).update(dtype="int4"))
bad("file", lambda mm, d: os.remove(f"{d}/logits.npy"))
bad("samples", lambda mm, d: mm.update(samples=mm["samples"][:19]))
bad("scale", lambda mm, d: logits(mm).update(dtype="float32", scale=[0.1, 0.2], axis=1))
os.makedirs(f"{c}/two", exist_ok=True)
np.save(f"{c}/two/logits.npy", np.zeros((2, 1, 10), np.float32))
json.dump({"tensors": [{"name": "logits", "file": "logits.npy"}]}, open(f"{c}/two/manifest.json", "w"))
os.makedirs(f"{c}/wide", exist_ok=True)
np.save(f"{c}/wide/logits.npy", np.zeros((20, 1, 11), np.float32))
json.dump({"tensors": [{"name": "logits", "file": "logits.npy"}]}, open(f"{c}/wide/manifest.json", "w"))
PY
expect_error cmp_missing "$TMP/nope/manifest.json" "$QDIFF" compare "$C/float" "$TMP/nope"
expect_error cmp_shape "logits.npy: shape [20,1,10] in the .npy header" "$QDIFF" compare "$C/float" "$C/bad_shape"
expect_error cmp_dtype "unknown dtype 'int4'" "$QDIFF" compare "$C/float" "$C/bad_dtype"
expect_error cmp_file "logits.npy: cannot open (tensor 'logits')" "$QDIFF" compare "$C/float" "$C/bad_file"
expect_error cmp_samples "20 samples, the manifest lists 19" "$QDIFF" compare "$C/float" "$C/bad_samples"
expect_error cmp_scale "2 scales/zero points for 10 channels" "$QDIFF" compare "$C/float" "$C/bad_scale"
expect_error cmp_count "holds 2: compare needs the same samples" "$QDIFF" compare "$C/float" "$C/two"
expect_error cmp_shapes "tensor 'logits': shape [1,10]" "$QDIFF" compare "$C/float" "$C/wide"
expect_error cmp_tensor "no tensor named 'nope'" "$QDIFF" compare "$C/float" "$C/fq" --tensor nope

# qdiff diagnose: the three worlds side by side. A healthy ort-cpu run diverges nowhere, has no
# error finding and exits 0; a target that pads with the integer 0 instead of the zero point
# diverges from fake-quant at the first padded unit (the stem Conv + Clip), by many steps: its
# top finding is a verified padding error at the stem Conv, and the exit code is 1.
D=$TMP/diag
mkdir -p "$D"
out=$("$QDIFF" diagnose "$DEMO/demo_folded.onnx" --data "$TMP/first20.npy" --json "$D/healthy.json" 2>&1)
rc=$?
if [[ $rc -ne 0 ]]; then fail "diagnose healthy: exit $rc ($out)"
elif [[ $(printf '%s\n' "$out" | grep -c "^    [a-z]* *none$") -ne 3 ]]; then fail "diagnose healthy: a divergence reported: $out"
elif [[ "$out" != *"verdict: healthy (0 error, 0 warning"* ]]; then fail "diagnose healthy: verdict: $out"
else ok; fi
printf '{"schema": "qdiff.target/1", "name": "pad0", "base": "ort-cpu", "pad_with_zero_point": false, "pad_value": 0}' >"$D/pad0.json"
out=$("$QDIFF" diagnose "$DEMO/demo_folded.onnx" --data "$TMP/first20.npy" --target "$D/pad0.json" --json "$D/pad0_report.json" --html "$D/pad0.html" --labels "$TMP/first20_labels.npy" 2>&1)
rc=$?
if [[ $rc -ne 1 ]]; then fail "diagnose pad0: exit $rc, expected 1 ($out)"
elif [[ "$out" != *"arithmetic    /stem/act/Clip_output_0"* ]]; then fail "diagnose pad0: $out"
elif [[ "$out" != *" 1. error   padding            /stem/conv/Conv"* ]]; then fail "diagnose pad0 finding: $out"
elif [[ "$out" != *"1 finding(s) of severity error"* ]]; then fail "diagnose pad0 exit message: $out"
elif ! grep -q "pad with the input" "$D/pad0.html"; then fail "diagnose pad0: the HTML page lacks the fix"
else ok; fi
/usr/bin/python3 - "$D" <<'PY' && ok || fail "diagnose JSON"
import json, sys
d = sys.argv[1]
h = json.load(open(f"{d}/healthy.json"))
p = json.load(open(f"{d}/pad0_report.json"))
assert h["schema"] == "qdiff.diagnose/1" and h["samples"] == 20, h.keys()
assert all(v is None for v in h["first_divergence"].values()), h["first_divergence"]
fd = p["first_divergence"]["arithmetic"]
assert fd["tensor"] == "/stem/act/Clip_output_0", fd
names = [t["tensor"] for t in h["tensors"]]
assert names[0] == "input" and names[-1] == "logits", names
assert h["summary"]["verdict"] == "healthy", h["summary"]
assert all(f["severity"] != "error" for f in h["findings"]), h["findings"]
assert p["summary"]["verdict"] == "broken" and p["summary"]["findings"]["error"] == 1, p["summary"]
top = p["findings"][0]
assert top["rank"] == 1 and top["category"] == "padding" and top["node"] == "/stem/conv/Conv", top
assert float(top["fix_verified"]["after"]) > float(top["fix_verified"]["before"]) + 20, top
assert "pad_value" in top["evidence"]["mechanisms"], top["evidence"]
acc = p["summary"]["accuracy"]
assert acc["samples"] == 20 and acc["float"] == acc["fake-quant"] > acc["integer"], acc
m = h["sample_map"]
assert m["pair"] == "total" and m["samples"][0] == "first20.npy[0]" and len(m["sqnr_db"]) == 20, m.keys()
assert len(m["sqnr_db"][0]) == len(m["tensors"]) == len(h["tensors"]), len(m["tensors"])
assert len(m["worst_samples"]) == 5, m["worst_samples"]
c = h["split_curves"]
assert [p["k"] for p in c["forward"]][0] == 0 and c["forward"][-1]["k"] == c["units"], c
assert c["forward"][0]["sqnr_db"] == "inf" and c["reverse"][-1]["sqnr_db"] == "inf", c
PY
"$QDIFF" diagnose "$DEMO/demo_folded.onnx" --data "$TMP/first20.npy" --json "$D/again.json" --threads 2 >/dev/null 2>&1
cmp -s "$D/healthy.json" "$D/again.json" && ok || fail "diagnose JSON differs between runs / thread counts"
expect_error diag_data "nope.npy" "$QDIFF" diagnose "$DEMO/demo_folded.onnx" --data "$TMP/nope.npy"
expect_error diag_target "nope" "$QDIFF" diagnose "$DEMO/demo_folded.onnx" --data "$TMP/first20.npy" --target nope

# qdiff tune: a reachable goal is met with few units raised and a plan the other commands
# take; an unreachable one exits 1 (the best plan still written); bad goals exit 2.
out=$("$QDIFF" tune "$DEMO/demo_folded.onnx" --data "$TMP/first20.npy" --goal "sqnr>=29" \
  -o "$D/tuned.json" --export "$D/tuned.onnx" 2>&1)
rc=$?
if [[ $rc -ne 0 || "$out" != *"goal met: sqnr>=29"* ]]; then fail "tune: exit $rc: $out"
elif ! "$QDIFF" run "$DEMO/demo_folded.onnx" --mode fakequant --plan "$D/tuned.json" --input "$TMP/first20.npy" >/dev/null 2>&1; then fail "tune: the plan does not run"
elif [[ ! -s "$D/tuned.onnx" ]]; then fail "tune: no QDQ export"
else ok; fi
out=$("$QDIFF" tune "$DEMO/demo_folded.onnx" --data "$TMP/first20.npy" --goal "sqnr>=500" --samples 4 -o "$D/best.json" 2>&1)
rc=$?
[[ $rc -eq 1 && "$out" == *"goal NOT met"* && -s "$D/best.json" ]] && ok || fail "tune unreachable: exit $rc: $out"
expect_error tune_goal "goal 'sqnr=3'" "$QDIFF" tune "$DEMO/demo_folded.onnx" --data "$TMP/first20.npy" --goal "sqnr=3" -o "$D/x.json"
expect_error tune_labels "needs --labels" "$QDIFF" tune "$DEMO/demo_folded.onnx" --data "$TMP/first20.npy" --goal "top1-drop<=0.5" -o "$D/x.json"

echo "cli: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
