#!/usr/bin/env node
// ort_dump.js -- dump EVERY intermediate tensor of an ONNX model with ONNX Runtime
// (onnxruntime-node, CPU EP), as an independent oracle for qdiff's interpreter.
//
//   node ort_dump.js MODEL.onnx INPUT OUTDIR [--opt disabled|basic|extended|layout|all] [--threads N] [--chunk K]
//   node ort_dump.js MODEL.onnx NAME=INPUT [NAME=INPUT ...] OUTDIR [...]
//
// INPUT is one of
//   - a .npy file whose rank equals the model input's rank: one sample;
//   - a .npy file whose rank is one more: a stack of samples along axis 0;
//   - a directory of .npy files (one sample each, sorted by file name).
// A model with several inputs needs NAME=INPUT for each input; all of them must
// give the same number of samples.
//
// The model is rewritten at the protobuf wire level (no full decode: initializer
// bytes are copied, not parsed) so that every node output of the main graph is
// also a graph output (ValueInfoProto with just a name, GraphProto field 12).
// Tensors inside subgraphs (If/Loop/Scan bodies) are not dumped.
//
// --opt      ORT graphOptimizationLevel (default disabled). Fusions whose inner
//            tensors are graph outputs are blocked by ORT, so every tensor still exists.
// --threads  intraOpNumThreads (default 1).
// --chunk K  fetch at most K tensors per session.run (the model is re-run for each
//            chunk): bounds memory for big models; default 0 = all in one run.
// --only-op OP  dump only the outputs of nodes of type OP (e.g. QuantizeLinear) and
//            the model's own outputs: other node outputs made graph outputs would
//            block ORT's fusions (tests/oracle/run_int_oracle.sh).
// --optimized PATH  write the model as ORT optimized it (optimizedModelFilePath).
//
// OUTDIR gets manifest.json
//   {"tensors": [{"name", "file", "dtype", "shape": [samples, ...]}, ...],   // node output order
//    "samples": [input file names in order], ...}
// and one .npy (format 1.0, little endian, C order) per tensor with all samples
// stacked along a new leading axis. String and non-tensor values are skipped.
'use strict';

const fs = require('fs');
const path = require('path');
const os = require('os');

const USAGE = `usage: node ort_dump.js MODEL.onnx INPUT|NAME=INPUT... OUTDIR [--opt disabled|basic|extended|layout|all] [--threads N] [--chunk K] [--only-op OP] [--optimized PATH]`;

function die(msg) {
  process.stderr.write(`ort_dump: error: ${msg}\n`);
  process.exit(1);
}

// ---------------------------------------------------------------------------
// protobuf wire format
// ---------------------------------------------------------------------------

// Returns [value, nextPos]. Values up to 2^53 are exact (enough for lengths).
function readVarint(buf, pos) {
  let result = 0;
  let mul = 1;
  for (let i = 0; i < 10; i++) {
    if (pos >= buf.length) throw new Error('truncated varint');
    const b = buf[pos++];
    result += (b & 0x7f) * mul;
    if ((b & 0x80) === 0) return [result, pos];
    mul *= 128;
  }
  throw new Error('varint too long');
}

function encodeVarint(n) {
  const out = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return Buffer.from(out);
}

// Iterates the fields of a message stored in buf[start, end).
// Yields {field, wire, tagPos, valPos, end, value} where for wire type 2 the
// payload is buf[valPos, end) and for varints `value` holds the number.
function* fields(buf, start, end) {
  let pos = start;
  while (pos < end) {
    const tagPos = pos;
    let tag;
    [tag, pos] = readVarint(buf, pos);
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    if (field === 0) throw new Error(`invalid field number 0 at byte ${tagPos}`);
    let valPos = pos;
    let value;
    switch (wire) {
      case 0: [value, pos] = readVarint(buf, pos); break;
      case 1: pos += 8; break;
      case 2: {
        let len;
        [len, valPos] = readVarint(buf, pos);
        pos = valPos + len;
        break;
      }
      case 5: pos += 4; break;
      default: throw new Error(`unsupported wire type ${wire} (field ${field}) at byte ${tagPos}`);
    }
    if (pos > end) throw new Error(`field ${field} at byte ${tagPos} overruns its message`);
    yield { field, wire, tagPos, valPos, end: pos, value };
  }
}

const str = (buf, f) => buf.toString('utf8', f.valPos, f.end);

// onnx.proto field numbers
const MODEL_GRAPH = 7;
const GRAPH_NODE = 1, GRAPH_INITIALIZER = 5, GRAPH_INPUT = 11, GRAPH_OUTPUT = 12;
const NODE_OUTPUT = 2, NODE_NAME = 3, NODE_OP_TYPE = 4;
const VALUEINFO_NAME = 1;
const TENSOR_NAME = 8, TENSOR_DATA_LOCATION = 14; // TensorProto.DataLocation EXTERNAL = 1

// Scans the model; returns the graph occurrences and the main graph's names.
function scanModel(buf) {
  const graphs = [];
  for (const f of fields(buf, 0, buf.length)) {
    if (f.field === MODEL_GRAPH && f.wire === 2) graphs.push(f);
  }
  if (graphs.length === 0) throw new Error('no GraphProto (ModelProto field 7) found: not an ONNX model?');
  // Repeated occurrences of a message field are merged by protobuf: treat the
  // concatenation as the graph.
  const nodeOutputs = []; // {name, node, op}
  const graphOutputs = new Set();
  const graphInputs = new Set();
  const initializers = new Set();
  let externalData = false;
  let nodeIndex = 0;
  for (const g of graphs) {
    for (const f of fields(buf, g.valPos, g.end)) {
      if (f.wire !== 2) continue;
      if (f.field === GRAPH_NODE) {
        const outs = [];
        let name = '', op = '';
        for (const nf of fields(buf, f.valPos, f.end)) {
          if (nf.wire !== 2) continue;
          if (nf.field === NODE_OUTPUT) outs.push(str(buf, nf));
          else if (nf.field === NODE_NAME) name = str(buf, nf);
          else if (nf.field === NODE_OP_TYPE) op = str(buf, nf);
        }
        for (const o of outs) nodeOutputs.push({ name: o, node: name, op, index: nodeIndex });
        nodeIndex++;
      } else if (f.field === GRAPH_OUTPUT || f.field === GRAPH_INPUT) {
        for (const vf of fields(buf, f.valPos, f.end)) {
          if (vf.field === VALUEINFO_NAME && vf.wire === 2) {
            (f.field === GRAPH_OUTPUT ? graphOutputs : graphInputs).add(str(buf, vf));
          }
        }
      } else if (f.field === GRAPH_INITIALIZER) {
        for (const tf of fields(buf, f.valPos, f.end)) {
          if (tf.field === TENSOR_NAME && tf.wire === 2) initializers.add(str(buf, tf));
          else if (tf.field === TENSOR_DATA_LOCATION && tf.wire === 0 && tf.value === 1) externalData = true;
        }
      }
    }
  }
  return { graphs, nodeOutputs, graphOutputs, graphInputs, initializers, externalData, nodeCount: nodeIndex };
}

// Returns a new model buffer whose (last) GraphProto has `names` appended as outputs.
function addGraphOutputs(buf, graph, names) {
  const extra = [];
  for (const n of names) {
    const nameBytes = Buffer.from(n, 'utf8');
    const vi = Buffer.concat([Buffer.from([(VALUEINFO_NAME << 3) | 2]), encodeVarint(nameBytes.length), nameBytes]);
    extra.push(Buffer.from([(GRAPH_OUTPUT << 3) | 2]), encodeVarint(vi.length), vi);
  }
  const extraBuf = Buffer.concat(extra);
  const newLen = graph.end - graph.valPos + extraBuf.length;
  return Buffer.concat([
    buf.subarray(0, graph.tagPos),
    Buffer.from([(MODEL_GRAPH << 3) | 2]),
    encodeVarint(newLen),
    buf.subarray(graph.valPos, graph.end),
    extraBuf,
    buf.subarray(graph.end),
  ]);
}

// ---------------------------------------------------------------------------
// .npy
// ---------------------------------------------------------------------------

// ORT tensor type -> [npy descr, bytes per element, TypedArray]
const DTYPES = {
  float32: ['<f4', 4, Float32Array],
  float64: ['<f8', 8, Float64Array],
  float16: ['<f2', 2, Uint16Array],
  int8: ['|i1', 1, Int8Array],
  uint8: ['|u1', 1, Uint8Array],
  int16: ['<i2', 2, Int16Array],
  uint16: ['<u2', 2, Uint16Array],
  int32: ['<i4', 4, Int32Array],
  uint32: ['<u4', 4, Uint32Array],
  int64: ['<i8', 8, BigInt64Array],
  uint64: ['<u8', 8, BigUint64Array],
  bool: ['|b1', 1, Uint8Array],
};
const DESCR_TO_TYPE = {};
for (const [t, [d]] of Object.entries(DTYPES)) DESCR_TO_TYPE[d] = t;
Object.assign(DESCR_TO_TYPE, { '<b1': 'bool', '=b1': 'bool', '<i1': 'int8', '<u1': 'uint8', '=i1': 'int8', '=u1': 'uint8' });

function npyHeader(descr, shape) {
  const shapeStr = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let dict = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shapeStr}, }`;
  const pre = 10; // magic(6) + version(2) + header_len(2)
  const total = Math.ceil((pre + dict.length + 1) / 64) * 64;
  dict = dict + ' '.repeat(total - pre - dict.length - 1) + '\n';
  if (dict.length > 0xffff) throw new Error('npy header too long for format 1.0');
  const h = Buffer.alloc(pre + dict.length);
  h.write('\x93NUMPY', 0, 'latin1');
  h[6] = 1; h[7] = 0;
  h.writeUInt16LE(dict.length, 8);
  h.write(dict, pre, 'latin1');
  return h;
}

function readNpy(file) {
  const buf = fs.readFileSync(file);
  if (buf.length < 10 || buf.toString('latin1', 0, 6) !== '\x93NUMPY') throw new Error(`${file}: not a .npy file`);
  const major = buf[6];
  let hlen, off;
  if (major === 1) { hlen = buf.readUInt16LE(8); off = 10; }
  else if (major === 2 || major === 3) { hlen = buf.readUInt32LE(8); off = 12; }
  else throw new Error(`${file}: unsupported .npy version ${major}`);
  const header = buf.toString(major === 3 ? 'utf8' : 'latin1', off, off + hlen);
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(header);
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header);
  const shapeM = /'shape'\s*:\s*\(([^)]*)\)/.exec(header);
  if (!descr || !fortran || !shapeM) throw new Error(`${file}: cannot parse .npy header ${JSON.stringify(header)}`);
  if (fortran[1] === 'True') throw new Error(`${file}: fortran_order arrays are not supported (save with np.ascontiguousarray)`);
  const type = DESCR_TO_TYPE[descr[1]];
  if (!type) throw new Error(`${file}: unsupported dtype '${descr[1]}' (little-endian numeric or bool only)`);
  const shape = shapeM[1].split(',').map((s) => s.trim()).filter((s) => s.length).map(Number);
  const count = shape.reduce((a, b) => a * b, 1);
  const [, size] = DTYPES[type];
  const dataOff = off + hlen;
  if (buf.length - dataOff !== count * size) {
    throw new Error(`${file}: expected ${count * size} data bytes for shape [${shape}] ${descr[1]}, found ${buf.length - dataOff}`);
  }
  // copy into an aligned buffer
  const data = new Uint8Array(count * size);
  data.set(buf.subarray(dataOff));
  return { type, shape, data };
}

function typedView(type, bytes) {
  const [, size, TA] = DTYPES[type];
  return new TA(bytes.buffer, bytes.byteOffset, bytes.byteLength / size);
}

// ---------------------------------------------------------------------------
// main
// ---------------------------------------------------------------------------

function parseArgs(argv) {
  const pos = [];
  const opts = { opt: 'disabled', threads: 1, chunk: 0, onlyOp: '', optimized: '' };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const takeVal = (name) => {
      const eq = a.indexOf('=');
      if (eq >= 0) return a.slice(eq + 1);
      if (i + 1 >= argv.length) die(`${name} needs a value\n${USAGE}`);
      return argv[++i];
    };
    if (a === '-h' || a === '--help') { console.log(USAGE); process.exit(0); }
    else if (a === '--opt' || a.startsWith('--opt=')) opts.opt = takeVal('--opt');
    else if (a === '--threads' || a.startsWith('--threads=')) opts.threads = Number(takeVal('--threads'));
    else if (a === '--chunk' || a.startsWith('--chunk=')) opts.chunk = Number(takeVal('--chunk'));
    else if (a === '--only-op' || a.startsWith('--only-op=')) opts.onlyOp = takeVal('--only-op');
    else if (a === '--optimized' || a.startsWith('--optimized=')) opts.optimized = takeVal('--optimized');
    else if (a.startsWith('--')) die(`unknown option ${a}\n${USAGE}`);
    else pos.push(a);
  }
  if (pos.length < 3) die(USAGE);
  if (!['disabled', 'basic', 'extended', 'layout', 'all'].includes(opts.opt)) die(`bad --opt ${opts.opt}`);
  if (!Number.isInteger(opts.threads) || opts.threads < 0) die(`bad --threads ${opts.threads}`);
  if (!Number.isInteger(opts.chunk) || opts.chunk < 0) die(`bad --chunk ${opts.chunk}`);
  return { model: pos[0], inputs: pos.slice(1, -1), outdir: pos[pos.length - 1], ...opts };
}

// Loads INPUT (file / stack / dir) for a model input with metadata `meta`.
// Returns [{label, type, shape, data}] (one per sample).
function loadSamples(spec, meta) {
  const rank = meta.shape.length;
  const matches = (shape) => shape.length === rank &&
    shape.every((d, i) => typeof meta.shape[i] !== 'number' || meta.shape[i] < 0 || meta.shape[i] === d);
  const check = (s, label) => {
    if (meta.type !== s.type) throw new Error(`${label}: dtype ${s.type}, model input '${meta.name}' wants ${meta.type}`);
    if (!matches(s.shape)) throw new Error(`${label}: shape [${s.shape}] does not match model input '${meta.name}' [${meta.shape}]`);
  };
  const st = fs.statSync(spec);
  const out = [];
  if (st.isDirectory()) {
    const files = fs.readdirSync(spec).filter((f) => f.endsWith('.npy')).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    if (files.length === 0) throw new Error(`${spec}: no .npy files`);
    for (const f of files) {
      const s = readNpy(path.join(spec, f));
      check(s, f);
      out.push({ label: f, ...s });
    }
  } else {
    const s = readNpy(spec);
    const base = path.basename(spec);
    if (s.shape.length === rank) {
      check(s, base);
      out.push({ label: base, ...s });
    } else if (s.shape.length === rank + 1) {
      const n = s.shape[0];
      const inner = s.shape.slice(1);
      const per = s.data.byteLength / Math.max(n, 1);
      for (let k = 0; k < n; k++) {
        const part = { type: s.type, shape: inner, data: s.data.subarray(k * per, (k + 1) * per) };
        check(part, `${base}[${k}]`);
        out.push({ label: `${base}[${k}]`, ...part });
      }
    } else {
      throw new Error(`${base}: rank ${s.shape.length}, model input '${meta.name}' has rank ${rank} (give rank ${rank} for one sample or ${rank + 1} for a stack)`);
    }
  }
  if (out.length === 0) throw new Error(`${spec}: no samples`);
  return out;
}

function sanitizer() {
  const used = new Set();
  return (name) => {
    let base = name.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 200);
    if (base === '' || base === '.' || base === '..') base = `_${base}`;
    let cand = base;
    for (let k = 1; used.has(cand.toLowerCase() + '.npy') || cand.toLowerCase() === 'manifest'; k++) cand = `${base}_${k}`;
    used.add(cand.toLowerCase() + '.npy');
    return cand + '.npy';
  };
}

function prepareOutdir(outdir) {
  fs.mkdirSync(outdir, { recursive: true });
  const mf = path.join(outdir, 'manifest.json');
  if (fs.existsSync(mf)) {
    // remove a previous dump (only the files it lists)
    try {
      const old = JSON.parse(fs.readFileSync(mf, 'utf8'));
      for (const t of old.tensors || []) {
        if (typeof t.file === 'string' && path.basename(t.file) === t.file) fs.rmSync(path.join(outdir, t.file), { force: true });
      }
    } catch (e) {
      die(`${mf}: cannot read previous manifest (${e.message}); remove ${outdir} by hand`);
    }
    fs.rmSync(mf);
  }
  const left = fs.readdirSync(outdir).filter((f) => f.endsWith('.npy'));
  if (left.length) die(`${outdir} already holds .npy files not listed in a manifest.json; use an empty directory`);
}

async function main() {
  const t0 = process.hrtime.bigint();
  const ms = (a, b) => Number(b - a) / 1e6;
  const args = parseArgs(process.argv.slice(2));
  if (os.endianness() !== 'LE') die('big-endian hosts are not supported');

  let ort;
  try {
    ort = require('onnxruntime-node');
  } catch (e) {
    die(`cannot load onnxruntime-node (run 'npm install --ignore-scripts' in ${__dirname}): ${e.message}`);
  }

  // --- rewrite the model --------------------------------------------------
  let orig, info;
  try {
    orig = fs.readFileSync(args.model);
  } catch (e) {
    die(`cannot read ${args.model}: ${e.message}`);
  }
  try {
    info = scanModel(orig);
  } catch (e) {
    die(`${args.model}: cannot parse as an ONNX ModelProto: ${e.message}`);
  }
  const order = []; // node output names, deduplicated, in node order
  const seen = new Set();
  for (const o of info.nodeOutputs) {
    if (o.name === '' || seen.has(o.name)) continue;
    if (args.onlyOp && o.op !== args.onlyOp && !info.graphOutputs.has(o.name)) continue;
    seen.add(o.name);
    order.push(o.name);
  }
  const toAdd = order.filter((n) => !info.graphOutputs.has(n));
  const model = addGraphOutputs(orig, info.graphs[info.graphs.length - 1], toAdd);

  // --- session --------------------------------------------------------------
  const sessOpts = {
    executionProviders: ['cpu'],
    graphOptimizationLevel: args.opt,
    intraOpNumThreads: args.threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    logSeverityLevel: 3,
  };
  if (args.optimized) sessOpts.optimizedModelFilePath = path.resolve(args.optimized);
  let session;
  let tmpModel = null;
  try {
    if (info.externalData) {
      // external data is resolved relative to the model file: write the
      // rewritten model next to the original for the time of loading.
      tmpModel = path.join(path.dirname(path.resolve(args.model)), `.ort_dump.${process.pid}.${path.basename(args.model)}`);
      fs.writeFileSync(tmpModel, model);
      session = await ort.InferenceSession.create(tmpModel, sessOpts);
    } else {
      session = await ort.InferenceSession.create(model, sessOpts);
    }
  } catch (e) {
    if (tmpModel) fs.rmSync(tmpModel, { force: true });
    die(`ONNX Runtime cannot load ${args.model}: ${e.message}`);
  }
  if (tmpModel) fs.rmSync(tmpModel, { force: true });
  const t1 = process.hrtime.bigint();

  const outMeta = new Map(session.outputMetadata.map((m) => [m.name, m]));
  const fetchNames = [];
  const skipped = [];
  for (const n of order) {
    const m = outMeta.get(n);
    if (!m) skipped.push(`${n} (not an output of the session)`);
    else if (!m.isTensor) skipped.push(`${n} (not a tensor)`);
    else if (!DTYPES[m.type]) skipped.push(`${n} (type ${m.type})`);
    else fetchNames.push(n);
  }
  if (fetchNames.length === 0) die('nothing to dump');

  // --- inputs ---------------------------------------------------------------
  const inMeta = session.inputMetadata;
  const inputSpecs = new Map();
  for (const spec of args.inputs) {
    const eq = spec.indexOf('=');
    if (eq > 0 && inMeta.some((m) => m.name === spec.slice(0, eq))) inputSpecs.set(spec.slice(0, eq), spec.slice(eq + 1));
    else if (inMeta.length === 1 && args.inputs.length === 1) inputSpecs.set(inMeta[0].name, spec);
    else die(`'${spec}': the model has inputs ${inMeta.map((m) => `'${m.name}'`).join(', ')}; give NAME=INPUT for each`);
  }
  for (const m of inMeta) {
    if (!inputSpecs.has(m.name)) die(`no data for model input '${m.name}'`);
    if (!m.isTensor) die(`model input '${m.name}' is not a tensor`);
  }
  const perInput = new Map();
  let nSamples = -1;
  for (const m of inMeta) {
    let s;
    try {
      s = loadSamples(inputSpecs.get(m.name), m);
    } catch (e) {
      die(e.message);
    }
    if (nSamples >= 0 && s.length !== nSamples) die(`input '${m.name}' has ${s.length} samples, others have ${nSamples}`);
    nSamples = s.length;
    perInput.set(m.name, s);
  }
  const sampleLabels = [];
  for (let k = 0; k < nSamples; k++) {
    sampleLabels.push(inMeta.length === 1
      ? perInput.get(inMeta[0].name)[k].label
      : inMeta.map((m) => `${m.name}=${perInput.get(m.name)[k].label}`).join(' '));
  }

  // --- run and stream to OUTDIR ------------------------------------------
  prepareOutdir(args.outdir);
  const fileOf = sanitizer();
  const entries = fetchNames.map((name) => ({ name, file: fileOf(name), dtype: null, shape: null }));
  let runMs = 0;
  let bytes = 0;
  for (let k = 0; k < nSamples; k++) {
    const feeds = {};
    for (const m of inMeta) {
      const s = perInput.get(m.name)[k];
      feeds[m.name] = new ort.Tensor(s.type, typedView(s.type, s.data), s.shape);
    }
    const chunk = args.chunk > 0 ? args.chunk : entries.length;
    for (let c0 = 0; c0 < entries.length; c0 += chunk) {
      const group = entries.slice(c0, c0 + chunk);
      const r0 = process.hrtime.bigint();
      let res;
      try {
        res = await session.run(feeds, group.map((e) => e.name));
      } catch (e) {
        die(`run failed on sample ${k} (${sampleLabels[k]}): ${e.message}`);
      }
      runMs += ms(r0, process.hrtime.bigint());
      for (const e of group) {
        const t = res[e.name];
        if (!t) die(`ONNX Runtime returned no value for '${e.name}'`);
        res[e.name] = null;
        const dims = Array.from(t.dims, Number);
        const raw = t.data;
        const view = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
        const dest = path.join(args.outdir, e.file);
        if (k === 0) {
          e.dtype = t.type;
          e.shape = [nSamples, ...dims];
          const [descr, size] = DTYPES[t.type];
          if (view.length !== dims.reduce((a, b) => a * b, 1) * size) die(`'${e.name}': ${view.length} bytes for shape [${dims}] ${t.type}`);
          fs.writeFileSync(dest, npyHeader(descr, e.shape));
        } else if (t.type !== e.dtype || dims.length !== e.shape.length - 1 || dims.some((d, i) => d !== e.shape[i + 1])) {
          die(`'${e.name}': sample ${k} gives ${t.type}[${dims}], sample 0 gave ${e.dtype}[${e.shape.slice(1)}]; cannot stack`);
        }
        fs.appendFileSync(dest, view);
        bytes += view.length;
        if (typeof t.dispose === 'function') t.dispose();
      }
      res = null;
    }
  }
  await session.release();

  const manifest = {
    tensors: entries.map(({ name, file, dtype, shape }) => ({ name, file, dtype, shape })),
    samples: sampleLabels,
    model: path.basename(args.model),
    inputs: inMeta.map((m) => ({ name: m.name, dtype: m.type, shape: m.shape })),
    onnxruntime: ort.env.versions ? ort.env.versions.node || ort.env.versions.common : undefined,
    graph_optimization_level: args.opt,
    intra_op_num_threads: args.threads,
    chunk: args.chunk,
    skipped,
  };
  // one tensor per line: readable and diffable
  const json = '{\n' + Object.entries(manifest).map(([k, v]) => (k === 'tensors'
    ? `  "tensors": [\n${v.map((t) => '    ' + JSON.stringify(t)).join(',\n')}\n  ]`
    : `  ${JSON.stringify(k)}: ${JSON.stringify(v)}`)).join(',\n') + '\n}\n';
  fs.writeFileSync(path.join(args.outdir, 'manifest.json'), json);
  const total = ms(t0, process.hrtime.bigint());
  for (const s of skipped) process.stderr.write(`ort_dump: skipped ${s}\n`);
  console.log(`ort_dump: ${entries.length} tensors, ${nSamples} samples, ${total.toFixed(0)} ms ` +
    `(load ${ms(t0, t1).toFixed(0)} ms, run ${runMs.toFixed(0)} ms, ${(bytes / 1048576).toFixed(1)} MiB) -> ${args.outdir}`);
}

main().catch((e) => die(e && e.stack ? e.stack : String(e)));
