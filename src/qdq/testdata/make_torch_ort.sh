#!/bin/sh
# ONNX Runtime's output on PyTorch's QDQ export (tests/data/torch_qdq/qdq.onnx, made by
# scripts/make_torch_qdq.py) for its 16 samples: the oracle of QdqImport.TorchFxExport.
# Run from the repository root (needs tests/oracle/node_modules):
#     sh src/qdq/testdata/make_torch_ort.sh
# Writes src/qdq/testdata/torch_qdq_ort_logits.npy, float32 [16,1,10] (one row per sample).
set -e
tmp=$(mktemp -d)
node tests/oracle/ort_dump.js tests/data/torch_qdq/qdq.onnx tests/data/torch_qdq/samples.npy \
  "$tmp" --opt disabled
cp "$tmp/logits.npy" src/qdq/testdata/torch_qdq_ort_logits.npy
rm -rf "$tmp"
