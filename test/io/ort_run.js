// Runs an ONNX model in ONNX Runtime (onnxruntime-node) for the io tests:
//   node ort_run.js model.onnx input.f32 N,d1,d2,... output.f32 [disabled|basic|extended|all]
// The input and output files are raw little-endian float32.
const ort = require('onnxruntime-node');
const fs = require('fs');

async function main() {
  const [model, inFile, shapeText, outFile, level] = process.argv.slice(2);
  const session = await ort.InferenceSession.create(model, {
    graphOptimizationLevel: level || 'all', intraOpNumThreads: 1, interOpNumThreads: 1,
  });
  const bytes = fs.readFileSync(inFile);
  const data = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length));
  const shape = shapeText.split(',').map(Number);
  const result = await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', data, shape) });
  const out = result[session.outputNames[0]].data;
  fs.writeFileSync(outFile, Buffer.from(out.buffer, out.byteOffset, out.byteLength));
}

main().catch((e) => { console.error(String(e)); process.exit(1); });
