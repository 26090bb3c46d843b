// Oracle for ResizeBilinear tests (render and imageio): resizes each case
// with TF.js's tf.image.resizeBilinear(x, [outH, outW], alignCorners=false,
// halfPixelCenters=true) on the CPU backend.
//   node resize_bilinear.js <node_modules> <cases.json> <in.bin> <out.bin>
// cases.json: {"cases": [{"h", "w", "c", "outH", "outW"}, ...]}
// in.bin: the cases' h*w*c input values, concatenated, float32 little-endian
// out.bin: the outH*outW*c results, concatenated, float32 little-endian
'use strict';
const [nm, casesFile, inFile, outFile] = process.argv.slice(2);
const tf = require(nm + '/@tensorflow/tfjs');
const fs = require('fs');
tf.setBackend('cpu');
const { cases } = JSON.parse(fs.readFileSync(casesFile));
const buf = fs.readFileSync(inFile);
const input = new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.length));
let off = 0;
const parts = cases.map((k) => {
  const n = k.h * k.w * k.c;
  const x = tf.tensor4d(input.subarray(off, off + n), [1, k.h, k.w, k.c], 'float32');
  off += n;
  const y = tf.image.resizeBilinear(x, [k.outH, k.outW], false, true);
  return Buffer.from(y.dataSync().buffer);
});
if (off !== input.length) throw new Error(`read ${off} of ${input.length} input values`);
fs.writeFileSync(outFile, Buffer.concat(parts));
