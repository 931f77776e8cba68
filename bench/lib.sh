# Shared by the side-by-side benchmark scripts (sourced from the repository root):
# arguments [BUILD_DIR] [MODEL_DIR] [ROUNDS], the exported models, and the helpers that read
# "median_ms=" lines and take the median over rounds.
BUILD=${1:-build-bench}
DIR=${2:-/tmp/qdiff-bench}
ROUNDS=${3:-5}
RUNS=20
[ -x "$BUILD/bench/bench_run" ] || { echo "build $BUILD/bench/bench_run first (-DQDIFF_BUILD_BENCH=ON)" >&2; exit 1; }
[ -f "$DIR/resnet18.onnx" ] || /usr/bin/python3 bench/export_models.py "$DIR"

median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
field() { sed -n 's/.*median_ms=\([0-9.]*\).*/\1/p'; }
