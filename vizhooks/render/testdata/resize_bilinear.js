// Oracle for ResizeBilinear tests (render and imageio): resizes each case
// with TF.js's tf.image.resizeBilinear(x, [outH, outW], alignCorners=false,
// halfPixelCenters=true) on the CPU backend.
//   node resize_bilinear.js <node_modules> <in.json> <out.json>
// in.json: {"cases": [{"h", "w", "c", "outH", "outW", "data": [h*w*c]}]}
// out.json: {"results": [[outH*outW*c values], ...]}
'use strict';
const [nm, inFile, outFile] = process.argv.slice(2);
const tf = require(nm + '/@tensorflow/tfjs');
const fs = require('fs');
tf.setBackend('cpu');
const input = JSON.parse(fs.readFileSync(inFile));
const results = input.cases.map((k) => {
  const x = tf.tensor4d(k.data, [1, k.h, k.w, k.c], 'float32');
  const y = tf.image.resizeBilinear(x, [k.outH, k.outW], false, true);
  return Array.from(y.dataSync());
});
fs.writeFileSync(outFile, JSON.stringify({ results }));
