// Oracle for tfjs_test.go: decodes a graph-model's weights with TF.js's own
// tf.io.decodeWeights (dequantization included) and writes, per weight, its
// dtype, shape and the SHA-256 of the decoded little-endian values.
//   node decode_weights.js <node_modules> <model dir> <out.json>
'use strict';
const [nm, dir, outFile] = process.argv.slice(2);
const tf = require(nm + '/@tensorflow/tfjs');
const fs = require('fs');
const path = require('path');
const crypto = require('crypto');
const m = JSON.parse(fs.readFileSync(path.join(dir, 'model.json')));
const out = {};
for (const g of m.weightsManifest) {
  const buf = Buffer.concat(g.paths.map((p) => fs.readFileSync(path.join(dir, p))));
  const ab = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.length);
  const ts = tf.io.decodeWeights(ab, g.weights);
  for (const [k, t] of Object.entries(ts)) {
    const d = t.dataSync();
    out[k] = {
      dtype: t.dtype,
      shape: t.shape,
      sha256: crypto.createHash('sha256').update(Buffer.from(d.buffer, d.byteOffset, d.byteLength)).digest('hex'),
    };
  }
}
fs.writeFileSync(outFile, JSON.stringify(out));
