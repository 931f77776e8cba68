# The two commands (see README): `make demo` and `make test`.
BUILD      ?= build
ASAN_BUILD ?= build-asan
JOBS       ?= $(shell nproc)
DEMO_OUT   ?= out/demo
QDIFF      := $(BUILD)/tools/qdiff/qdiff

.PHONY: all deps build build-asan demo test test-unit test-conformance test-oracle format clean

all: build

deps:
	@scripts/install-deps.sh

build:
	@cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

build-asan:
	@cmake -S . -B $(ASAN_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DQDIFF_SANITIZE=ON >/dev/null
	@cmake --build $(ASAN_BUILD) -j $(JOBS)

# Runs qdiff on the bundled demo model: inspect it, run the 300 test samples (top-1, every
# tensor dumped), calibrate an int8 plan, run the fake-quant and integer (ort-cpu) worlds,
# compare them tensor by tensor, diagnose the plan on ort-cpu (healthy) and on a target with a
# planted padding fault (qdiff diagnose finds it, verifies the fix and exits 1), and export the
# plan as QDQ.
demo: deps build
	$(QDIFF) inspect models/demo/demo_bn.onnx
	$(QDIFF) run models/demo/demo_bn.onnx --input models/demo/samples.npy \
	  --labels models/demo/labels.npy --dump $(DEMO_OUT)/float
	$(QDIFF) calibrate models/demo/demo_folded.onnx --data models/demo/samples.npy \
	  -o $(DEMO_OUT)/plan.json
	$(QDIFF) run models/demo/demo_folded.onnx --mode fakequant --plan $(DEMO_OUT)/plan.json \
	  --input models/demo/samples.npy --labels models/demo/labels.npy --dump $(DEMO_OUT)/fakequant
	$(QDIFF) run models/demo/demo_folded.onnx --mode int --target ort-cpu --plan $(DEMO_OUT)/plan.json \
	  --input models/demo/samples.npy --labels models/demo/labels.npy --dump $(DEMO_OUT)/int
	$(QDIFF) compare $(DEMO_OUT)/fakequant $(DEMO_OUT)/int
	$(QDIFF) diagnose models/demo/demo_folded.onnx --data models/demo/samples.npy --samples 100 \
	  --plan $(DEMO_OUT)/plan.json --target ort-cpu --json $(DEMO_OUT)/diagnose.json
	@echo "demo: the same plan on a target whose compiled convolutions pad with the wrong value" \
	  "(exit code 1: an error finding)"
	$(QDIFF) diagnose models/demo/demo_folded.onnx --data models/demo/samples.npy --samples 100 \
	  --plan $(DEMO_OUT)/plan.json --target models/targets/ort-cpu-pad0.json \
	  --json $(DEMO_OUT)/diagnose_pad0.json || [ $$? -eq 1 ]
	$(QDIFF) export models/demo/demo_folded.onnx --plan $(DEMO_OUT)/plan.json \
	  -o $(DEMO_OUT)/demo_qdq.onnx --encodings-out $(DEMO_OUT)/demo.encodings
	@echo "demo: results in $(DEMO_OUT)/ (float/, fakequant/ and int/ dumps, plan.json, demo_qdq.onnx)"

# Every test: unit tests and ONNX conformance under ASan/UBSan, then the conformance run and
# the ONNX Runtime oracle on an optimized build.
test: deps build-asan build
	cd $(ASAN_BUILD) && ctest --output-on-failure -L 'unit|conformance'
	cd $(BUILD) && ctest --output-on-failure -L '^oracle$$'

format:
	@git ls-files '*.cc' '*.h' | xargs clang-format -i

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) out
