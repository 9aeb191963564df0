// ONNX Runtime side of engine_compare.py: batch-1 latency of one model and of a one-Add
// model (the binding's per-call overhead), alternating, each round printing one median.
// usage: node engine_ort.js <ort-node-dir> <model.onnx> <dims e.g. 1,28,28,1> <add.onnx>
//        <threads> <rounds> <runs>
const path = require('path');
const [ortDir, modelPath, dimsArg, addPath, threadsArg, roundsArg, runsArg] = process.argv.slice(2);
// Resolved from the working directory (require alone would resolve a relative path from this file's folder).
const ort = require(path.resolve(ortDir, 'node_modules', 'onnxruntime-node'));

function median(a) {
  const s = [...a].sort((x, y) => x - y);
  return s[Math.floor(s.length / 2)];
}

async function session(p, threads) {
  return ort.InferenceSession.create(p, {
    graphOptimizationLevel: 'all', intraOpNumThreads: threads, interOpNumThreads: 1,
    executionMode: 'sequential'});
}

function inputs(dims, n) {
  const size = dims.reduce((a, b) => a * b, 1);
  const out = [];
  let s = 12345;
  for (let k = 0; k < n; ++k) {
    const d = new Float32Array(size);
    for (let i = 0; i < size; ++i) { s = (s * 1103515245 + 12345) % 2147483648; d[i] = s / 2147483648; }
    out.push(d);
  }
  return out;
}

async function timeRuns(sess, feeds, runs) {
  const t = [];
  for (let i = 0; i < runs; ++i) {
    const a = process.hrtime.bigint();
    await sess.run(feeds[i % feeds.length]);
    t.push(Number(process.hrtime.bigint() - a) / 1000);
  }
  return median(t);
}

(async () => {
  const threads = parseInt(threadsArg), rounds = parseInt(roundsArg), runs = parseInt(runsArg);
  const dims = dimsArg.split(',').map(Number);
  const model = await session(modelPath, threads), add = await session(addPath, threads);
  const mf = inputs(dims, 16).map(d => ({[model.inputNames[0]]: new ort.Tensor('float32', d, dims)}));
  const af = inputs([1, 640], 16).map(d => ({[add.inputNames[0]]: new ort.Tensor('float32', d, [1, 640])}));
  await timeRuns(model, mf, 50);
  await timeRuns(add, af, 50);
  for (let r = 0; r < rounds; ++r) {
    console.log(`ort\t${r}\t${(await timeRuns(model, mf, runs)).toFixed(2)}`);
    console.log(`ort-overhead\t${r}\t${(await timeRuns(add, af, runs)).toFixed(2)}`);
  }
})().catch(e => { console.error(`engine_ort.js: ${e.message}`); process.exit(1); });
