// TF.js numerical oracle for tbviz tests (see oracle.go).
//
// usage: node oracle.js <npm node_modules dir> <request.json>
//
// The request names a TF.js graph-model (model.json with its weight
// shards), an input node and a float32 input tensor stored as raw
// little-endian bytes, and asks for any of:
//   fetch:    node names whose values model.execute returns (with the
//             input and any extra feeds fed);
//   inputGrad {output, seedFile}: d(sum(seed * output))/d(input), by tf.grad
//             through model.execute;
//   nodeGrad  {node, output, seedFile}: d(sum(seed * output))/d(node), by
//             feeding the node's value, model.execute({[node]: a}, output)
//             inside tf.grad.
// Every result is written to <outDir>/<k>.f32 (raw little-endian float32)
// and described in <outDir>/result.json.
'use strict';
const fs = require('fs');
const path = require('path');

async function main() {
  const [npmDir, reqPath] = process.argv.slice(2);
  const tf = require(path.join(npmDir, '@tensorflow', 'tfjs'));
  await tf.setBackend('cpu');
  await tf.ready();
  const precision = tf.backend().floatPrecision();
  if (precision !== 32) {
    throw new Error(`TF.js cpu backend float precision is ${precision} bits, want 32`);
  }
  const req = JSON.parse(fs.readFileSync(reqPath, 'utf8'));

  const modelJSON = JSON.parse(fs.readFileSync(req.model, 'utf8'));
  if (req.relaxInputShape) {
    // Accept any spatial size: the input Placeholder's dimensions become -1
    // (for fully convolutional parts of a model, at a cheaper resolution).
    for (const n of modelJSON.modelTopology.node) {
      if (n.name === req.input && n.attr && n.attr.shape && n.attr.shape.shape) {
        for (const d of n.attr.shape.shape.dim || []) d.size = '-1';
      }
    }
    if (modelJSON.signature && modelJSON.signature.inputs) {
      for (const k of Object.keys(modelJSON.signature.inputs)) {
        const ts = modelJSON.signature.inputs[k].tensorShape;
        if (ts && ts.dim) for (const d of ts.dim) d.size = '-1';
      }
    }
  }
  const dir = path.dirname(req.model);
  const handler = {
    load: async () => {
      const specs = [];
      const bufs = [];
      for (const group of modelJSON.weightsManifest) {
        specs.push(...group.weights);
        for (const p of group.paths) bufs.push(fs.readFileSync(path.join(dir, p)));
      }
      const buf = Buffer.concat(bufs);
      return {
        modelTopology: modelJSON.modelTopology,
        format: modelJSON.format,
        generatedBy: modelJSON.generatedBy,
        convertedBy: modelJSON.convertedBy,
        signature: modelJSON.signature,
        userDefinedMetadata: modelJSON.userDefinedMetadata,
        weightSpecs: specs,
        weightData: buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength),
      };
    },
  };
  const model = await tf.loadGraphModel(handler);

  const readF32 = (file, shape) => {
    const b = fs.readFileSync(file);
    const n = shape.reduce((a, d) => a * d, 1);
    if (b.length !== 4 * n) throw new Error(`${file}: ${b.length} bytes, want ${4 * n} for shape [${shape}]`);
    const a = new Float32Array(n);
    for (let i = 0; i < n; i++) a[i] = b.readFloatLE(4 * i);
    return tf.tensor(a, shape, 'float32');
  };
  const results = {};
  let k = 0;
  const write = (name, t) => {
    const data = t.dataSync();
    const f = new Float32Array(data.length);
    for (let i = 0; i < data.length; i++) f[i] = data[i];
    const file = path.join(req.outDir, `${k++}.f32`);
    fs.writeFileSync(file, Buffer.from(f.buffer));
    results[name] = {shape: t.shape, dtype: t.dtype, file};
  };

  const x = readF32(req.inputFile, req.inputShape);
  const feeds = {[req.input]: x};
  for (const f of req.feeds || []) feeds[f.name] = readF32(f.file, f.shape);
  if (req.fetch && req.fetch.length > 0) {
    let outs = model.execute(feeds, req.fetch);
    if (!Array.isArray(outs)) outs = [outs];
    req.fetch.forEach((name, i) => write('value:' + name, outs[i]));
    tf.dispose(outs);
  }
  if (req.inputGrad) {
    const g = req.inputGrad;
    const seed = readF32(g.seedFile, g.seedShape);
    const f = (xx) => tf.sum(tf.mul(model.execute({[req.input]: xx}, g.output), seed));
    const dx = tf.grad(f)(x);
    write('inputGrad', dx);
    tf.dispose([dx, seed]);
  }
  if (req.nodeGrad) {
    const g = req.nodeGrad;
    const seed = readF32(g.seedFile, g.seedShape);
    const a = model.execute(feeds, g.node);
    // The input stays fed for branches that bypass the node (residual
    // connections); only the node's value is differentiated.
    const f = (aa) => tf.sum(tf.mul(model.execute({[req.input]: x, [g.node]: aa}, g.output), seed));
    const da = tf.grad(f)(a);
    write('nodeValue', a);
    write('nodeGrad', da);
    tf.dispose([a, da, seed]);
  }
  fs.writeFileSync(path.join(req.outDir, 'result.json'), JSON.stringify({results, backend: tf.getBackend(), precision, version: tf.version_core}));
}

main().catch((err) => {
  process.stderr.write(String(err && err.stack ? err.stack : err) + '\n');
  process.exit(1);
});
