#!/usr/bin/env node
// ort_time.js -- times ONNX Runtime (onnxruntime-node, CPU EP) on one model and input, with
// ORT's normal settings (graphOptimizationLevel 'all'), for bench/float_vs_ort.sh.
//
//   node bench/ort_time.js MODEL.onnx INPUT.npy [--threads N] [--runs R] [--warmup W]
//
// Prints "median_ms=<m> min_ms=<m> runs=<R> threads=<N>" (session.run wall time).
'use strict';

const fs = require('fs');
const path = require('path');
const ort = require(path.join(__dirname, '..', 'tests', 'oracle', 'node_modules', 'onnxruntime-node'));

function readNpyF32(file) {
  const buf = fs.readFileSync(file);
  if (buf.toString('latin1', 1, 6) !== 'NUMPY') throw new Error(`${file}: not a .npy file`);
  const major = buf[6];
  const hlen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const hstart = major === 1 ? 10 : 12;
  const header = buf.toString('latin1', hstart, hstart + hlen);
  if (!/'descr':\s*'<f4'/.test(header) || /'fortran_order':\s*True/.test(header))
    throw new Error(`${file}: expected little-endian float32 in C order`);
  const shape = header.match(/'shape':\s*\(([^)]*)\)/)[1].split(',').map(s => s.trim())
    .filter(s => s.length).map(Number);
  const off = hstart + hlen;
  const data = new Float32Array(buf.buffer.slice(buf.byteOffset + off, buf.byteOffset + buf.length));
  return new ort.Tensor('float32', data, shape);
}

async function main() {
  const args = process.argv.slice(2);
  const opt = (name, def) => {
    const i = args.indexOf(name);
    return i >= 0 ? Number(args[i + 1]) : def;
  };
  const [model, input] = args;
  if (!model || !input) {
    process.stderr.write('usage: node ort_time.js MODEL.onnx INPUT.npy [--threads N] [--runs R] [--warmup W]\n');
    process.exit(2);
  }
  const threads = opt('--threads', 1), runs = opt('--runs', 20), warmup = opt('--warmup', 3);
  const session = await ort.InferenceSession.create(model, {
    executionProviders: ['cpu'],
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
  const feeds = {[session.inputNames[0]]: readNpyF32(input)};
  const ms = [];
  for (let r = 0; r < warmup + runs; r++) {
    const t0 = process.hrtime.bigint();
    await session.run(feeds);
    const t = Number(process.hrtime.bigint() - t0) / 1e6;
    if (r >= warmup) ms.push(t);
  }
  ms.sort((a, b) => a - b);
  console.log(`median_ms=${ms[Math.floor(ms.length / 2)].toFixed(3)} min_ms=${ms[0].toFixed(3)} runs=${runs} threads=${threads}`);
}

main().catch(e => { process.stderr.write(`ort_time: ${e.stack || e}\n`); process.exit(1); });
