#!/usr/bin/env node
// Runs every model of models/ with ONNX Runtime (onnxruntime-node, CPU EP, one thread, no graph
// optimisation) on the committed inputs <case>.<input>.npy and writes <case>.y.npy.
//   NODE_PATH=../../../tests/oracle/node_modules node run_ort.js
'use strict';
const fs = require('fs');
const path = require('path');
const ort = require(path.join(__dirname, '../../../tests/oracle/node_modules/onnxruntime-node'));

const DT = { '|u1': ['uint8', Uint8Array], '|i1': ['int8', Int8Array], '<i4': ['int32', Int32Array] };
const BACK = { uint8: '|u1', int8: '|i1', int32: '<i4' };

function readNpy(file) {
  const buf = fs.readFileSync(file);
  const hlen = buf.readUInt16LE(8);
  const header = buf.slice(10, 10 + hlen).toString('latin1');
  const descr = /'descr':\s*'([^']+)'/.exec(header)[1];
  const shape = /'shape':\s*\(([^)]*)\)/.exec(header)[1].split(',').filter((s) => s.trim()).map(Number);
  const [type, Arr] = DT[descr];
  const data = new Arr(buf.buffer.slice(buf.byteOffset + 10 + hlen, buf.byteOffset + buf.length));
  return new ort.Tensor(type, data, shape);
}

function writeNpy(file, t) {
  const descr = BACK[t.type];
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${t.dims.join(', ')}${t.dims.length === 1 ? ',' : ''}), }`;
  const total = 10 + header.length + 1;
  header += ' '.repeat((64 - (total % 64)) % 64) + '\n';
  const pre = Buffer.alloc(10);
  pre.write('\x93NUMPY', 0, 'latin1');
  pre[6] = 1; pre[7] = 0;
  pre.writeUInt16LE(header.length, 8);
  fs.writeFileSync(file, Buffer.concat([pre, Buffer.from(header, 'latin1'),
    Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength)]));
}

(async () => {
  const dir = path.join(__dirname, 'models');
  for (const f of fs.readdirSync(dir).filter((n) => n.endsWith('.onnx')).sort()) {
    const kase = f.slice(0, -5);
    const session = await ort.InferenceSession.create(path.join(dir, f), {
      graphOptimizationLevel: 'disabled', intraOpNumThreads: 1, executionProviders: ['cpu'] });
    const feeds = {};
    for (const name of session.inputNames) feeds[name] = readNpy(path.join(__dirname, `${kase}.${name}.npy`));
    const out = await session.run(feeds);
    writeNpy(path.join(__dirname, `${kase}.y.npy`), out[session.outputNames[0]]);
    console.log(kase, out[session.outputNames[0]].dims);
  }
})().catch((e) => { console.error(e); process.exit(1); });
