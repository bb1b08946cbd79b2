// Profiles one training step of a representative CP-Transformer-shaped model on wasm,
// with the backend's own kernels and with the training kernels, and prints words/s and
// the kernels that dominate. Run: node --import tsx src/trainer/kernels/profile.ts
//   [--batch 4] [--seq 256] [--layers 4] [--d 256] [--steps 3] [--baseline-steps 1] [--json]
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { parseArgs } from 'node:util';
import { FAMILIES, FAMILY_SIZES } from '../../engine/vocab.ts';
import { registerTrainingKernels, unregisterTrainingKernels } from './index.ts';
import { dense, denseRelu, layerNorm } from './ops.ts';
import { unsortedSegmentSumKernel } from './unsorted-segment-sum.ts';
import { selectBackend } from '../../engine/backend.ts';

const { values: opt } = parseArgs({
  options: {
    batch: { type: 'string', default: '4' },
    seq: { type: 'string', default: '256' },
    layers: { type: 'string', default: '4' },
    d: { type: 'string', default: '256' },
    heads: { type: 'string', default: '4' },
    steps: { type: 'string', default: '3' },
    'baseline-steps': { type: 'string', default: '1' },
    json: { type: 'boolean', default: false },
  },
});
const B = Number(opt.batch);
const T = Number(opt.seq);
const L = Number(opt.layers);
const D = Number(opt.d);
const H = Number(opt.heads);
const DH = D / H;
const EMB: Record<string, number> = { type: 32, barBeat: 64, tempo: 128, chord: 256, pitch: 512, duration: 128, velocity: 128 };

async function wasmBackend(): Promise<void> {
  // selectBackend also strips the emscripten glue's rethrowing process handlers.
  await selectBackend('wasm', () => {});
}

type Weights = Record<string, tf.Variable>;
function makeWeights(): Weights {
  const w: Weights = {};
  const v = (name: string, shape: number[], scale = 0.02) => {
    w[name] = tf.variable(tf.randomNormal(shape, 0, scale, 'float32', 1 + Object.keys(w).length), true, name);
  };
  const embTotal = FAMILIES.reduce((s, f) => s + EMB[f], 0);
  for (const f of FAMILIES) v(`emb.${f}`, [FAMILY_SIZES[f], EMB[f]]);
  v('in.w', [embTotal, D]);
  v('pos', [T, D]);
  for (let l = 0; l < L; l++) {
    w[`l${l}.ln1.g`] = tf.variable(tf.ones([D]));
    w[`l${l}.ln1.b`] = tf.variable(tf.zeros([D]));
    v(`l${l}.qkv`, [D, 3 * D]);
    v(`l${l}.o`, [D, D]);
    w[`l${l}.ln2.g`] = tf.variable(tf.ones([D]));
    w[`l${l}.ln2.b`] = tf.variable(tf.zeros([D]));
    v(`l${l}.ff1`, [D, 4 * D]);
    w[`l${l}.ff1.b`] = tf.variable(tf.zeros([4 * D]));
    v(`l${l}.ff2`, [4 * D, D]);
  }
  w['lnf.g'] = tf.variable(tf.ones([D]));
  w['lnf.b'] = tf.variable(tf.zeros([D]));
  for (const f of FAMILIES) v(`head.${f}`, [D, FAMILY_SIZES[f]]);
  return w;
}

/** How a first, straightforward trainer writes the layers. */
const naiveOps = {
  dense: (x: tf.Tensor, w: tf.Tensor, b?: tf.Tensor) => {
    const y = tf.matMul(tf.reshape(x, [-1, x.shape[x.shape.length - 1]]), w as tf.Tensor2D);
    return tf.reshape(b ? tf.add(y, b) : y, [...x.shape.slice(0, -1), w.shape[1]!]);
  },
  denseRelu: (x: tf.Tensor, w: tf.Tensor, b?: tf.Tensor) => tf.relu(naiveOps.dense(x, w, b)),
  layerNorm: (x: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
    const { mean, variance } = tf.moments(x, -1, true);
    return tf.add(tf.mul(tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, 1e-5))), g), b);
  },
};
const tunedOps = {
  dense: (x: tf.Tensor, w: tf.Tensor, b?: tf.Tensor) => dense(x, w as tf.Tensor2D, b as tf.Tensor1D | undefined),
  denseRelu: (x: tf.Tensor, w: tf.Tensor, b?: tf.Tensor) => denseRelu(x, w as tf.Tensor2D, b as tf.Tensor1D | undefined),
  layerNorm: (x: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => layerNorm(x, g as tf.Tensor1D, b as tf.Tensor1D),
};
type Ops = typeof naiveOps;

function loss(w: Weights, ops: Ops, tokens: tf.Tensor3D, targets: tf.Tensor3D, mask: tf.Tensor): tf.Scalar {
  const embs = FAMILIES.map((f, i) => tf.gather(w[`emb.${f}`], tf.squeeze(tf.slice(tokens, [0, 0, i], [B, T, 1]), [2])));
  let x = tf.add(ops.dense(tf.concat(embs, -1), w['in.w']), w['pos']);
  for (let l = 0; l < L; l++) {
    const h = ops.layerNorm(x, w[`l${l}.ln1.g`], w[`l${l}.ln1.b`]);
    const qkv = tf.transpose(tf.reshape(ops.dense(h, w[`l${l}.qkv`]), [B, T, 3, H, DH]), [2, 0, 3, 1, 4]);
    const [q, k, v] = tf.unstack(qkv);
    const scores = tf.add(tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(DH)), mask);
    const ctx = tf.matMul(tf.softmax(scores), v); // [B,H,T,DH]
    const merged = tf.reshape(tf.transpose(ctx, [0, 2, 1, 3]), [B, T, D]);
    x = tf.add(x, ops.dense(merged, w[`l${l}.o`]));
    const h2 = ops.layerNorm(x, w[`l${l}.ln2.g`], w[`l${l}.ln2.b`]);
    x = tf.add(x, ops.dense(ops.denseRelu(h2, w[`l${l}.ff1`], w[`l${l}.ff1.b`]), w[`l${l}.ff2`]));
  }
  const hf = tf.reshape(ops.layerNorm(x, w['lnf.g'], w['lnf.b']), [B * T, D]);
  const losses = FAMILIES.map((f, i) => {
    const logits = ops.dense(hf, w[`head.${f}`]);
    const labels = tf.oneHot(tf.reshape(tf.slice(targets, [0, 0, i], [B, T, 1]), [B * T]), FAMILY_SIZES[f]);
    return tf.losses.softmaxCrossEntropy(labels, logits);
  });
  return tf.addN(losses) as tf.Scalar;
}

function batchData() {
  const words = (seed: number) =>
    tf.tidy(() =>
      tf.stack(FAMILIES.map((f, i) => tf.randomUniform([B, T], 0, FAMILY_SIZES[f], 'int32', seed + i)), -1),
    ) as tf.Tensor3D;
  const mask = tf.tidy(() => tf.mul(tf.sub(1, tf.linalg.bandPart(tf.ones([T, T]), -1, 0)), -1e9));
  return { tokens: words(100), targets: words(200), mask };
}

interface Run {
  name: string;
  wordsPerSec: number;
  msPerStep: number;
  loss: number;
  top: { kernel: string; ms: number; share: number; calls: number }[];
}

async function measure(name: string, ops: Ops, steps: number): Promise<Run> {
  const w = makeWeights();
  const data = batchData();
  const adam = tf.train.adam(1e-4);
  const step = () => {
    const lossValue = tf.tidy(() => {
      const { value, grads } = tf.variableGrads(() => loss(w, ops, data.tokens, data.targets, data.mask));
      adam.applyGradients(grads as Parameters<typeof adam.applyGradients>[0]);
      return value;
    });
    const l = lossValue.dataSync()[0];
    lossValue.dispose();
    return l;
  };
  step(); // warm-up: kernel setup, XNNPACK operator creation, heap growth
  const t0 = performance.now();
  let l = 0;
  for (let i = 0; i < steps; i++) l = step();
  const ms = (performance.now() - t0) / steps;
  const prof = await tf.profile(() => {
    step();
  });
  const byName = new Map<string, { ms: number; calls: number }>();
  for (const k of prof.kernels) {
    // Custom ops (fusedMatMul__op, softmaxCrossEntropy__op) enclose kernels listed on their own.
    if (!tf.getKernel(k.name, 'wasm')) continue;
    const e = byName.get(k.name) ?? { ms: 0, calls: 0 };
    e.ms += Number(await k.kernelTimeMs);
    e.calls++;
    byName.set(k.name, e);
  }
  const total = [...byName.values()].reduce((s, e) => s + e.ms, 0);
  const top = [...byName.entries()]
    .sort((p, q) => q[1].ms - p[1].ms)
    .slice(0, 8)
    .map(([kernel, e]) => ({ kernel, ms: Math.round(e.ms), share: Math.round((1000 * e.ms) / total) / 10, calls: e.calls }));
  tf.dispose([...Object.values(w), data.tokens, data.targets, data.mask]);
  adam.dispose();
  return { name, wordsPerSec: Math.round((B * T * 1000) / ms), msPerStep: Math.round(ms), loss: l, top };
}

function print(r: Run): void {
  console.log(`\n${r.name}: ${r.wordsPerSec} words/s (${r.msPerStep} ms/step, loss ${r.loss.toFixed(3)})`);
  for (const k of r.top) {
    console.log(`  ${k.kernel.padEnd(22)} ${String(k.ms).padStart(7)} ms  ${String(k.share).padStart(5)}%  ${k.calls} calls`);
  }
}

await wasmBackend();
console.log(`d${D} L${L} H${H} T${T} batch ${B}; ${B * T} words per step; backend ${tf.getBackend()}`);
const runs: Run[] = [];
// The backend alone cannot train this model: tf.gather's gradient needs UnsortedSegmentSum.
unregisterTrainingKernels();
if (!tf.getKernel('UnsortedSegmentSum', 'wasm')) {
  tf.registerKernel({ kernelName: 'UnsortedSegmentSum', backendName: 'wasm', kernelFunc: unsortedSegmentSumKernel });
}
runs.push(await measure('wasm kernels (+UnsortedSegmentSum), plain ops', naiveOps, Number(opt['baseline-steps'])));
print(runs[runs.length - 1]);
tf.unregisterKernel('UnsortedSegmentSum', 'wasm');
registerTrainingKernels();
runs.push(await measure('training kernels, plain ops', naiveOps, Number(opt.steps)));
print(runs[runs.length - 1]);
runs.push(await measure('training kernels, fused dense+relu, layerNorm customGrad', tunedOps, Number(opt.steps)));
print(runs[runs.length - 1]);
if (opt.json) console.log(JSON.stringify({ config: { B, T, L, D, H }, runs }));
