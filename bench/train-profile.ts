// Where one training step's time goes: the loss and gradients of the shipped model's config
// for `--rows` sequences of `--context` words (what one data-parallel worker computes per
// unit), timed, then once under tf.profile, time per kernel and per matMul shape.
//
//   node --import tsx bench/train-profile.ts [--config small] [--rows 1] [--context 512] [--reps 3] [--json]
//
// Custom-op wrappers (fusedMatMul__op and the like) enclose kernels listed on their own and
// are left out of the totals.
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/engine/backend.ts';
import { presetConfig } from '../src/engine/model/config.ts';
import { CPTransformer } from '../src/engine/model/transformer.ts';
import { FAMILIES } from '../src/engine/vocab.ts';
import { registerTrainingKernels } from '../src/trainer/kernels/index.ts';
import { CPTrainer, OPTIM_DEFAULTS } from '../src/trainer/optimizer.ts';
import { benchWords } from './words.ts';

const USAGE = 'usage: node --import tsx bench/train-profile.ts [--config small|base] [--rows N] [--context T] [--reps N] [--json]';
const { values: opt } = parseArgs({
  options: {
    config: { type: 'string', default: 'small' },
    rows: { type: 'string', default: '1' },
    context: { type: 'string', default: '512' },
    reps: { type: 'string', default: '3' },
    json: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (opt.help) {
  console.log(USAGE);
  process.exit(0);
}
const B = Number(opt.rows);
const T = Number(opt.context);
const reps = Number(opt.reps);
if (![B, T, reps].every((n) => Number.isInteger(n) && n >= 1)) {
  console.error(USAGE);
  process.exit(2);
}

interface Row {
  name: string;
  ms: number;
  calls: number;
}

function top(entries: Map<string, Row>, n: number): Row[] {
  return [...entries.values()].sort((a, b) => b.ms - a.ms).slice(0, n);
}

await selectBackend('wasm', () => {});
registerTrainingKernels();
const W = FAMILIES.length;
const model = CPTransformer.create(presetConfig(opt.config), 1);
const trainer = new CPTrainer(model, OPTIM_DEFAULTS);
const words = benchWords(B * (T + 1), 11);
const batch = new Int32Array(B * (T + 1) * W);
words.forEach((w, i) => batch.set(w, i * W));
const run = () =>
  tf.tidy(() => {
    const { loss, grads } = trainer.lossAndGradients(batch, B, T);
    loss.dataSync();
    for (const g of grads) g.dataSync();
  });
run(); // warm-up: kernels set up, XNNPACK weights packed
const t0 = performance.now();
for (let r = 0; r < reps; r++) run();
const wallMs = (performance.now() - t0) / reps;

const profile = await tf.profile(() => {
  run();
});
const byKernel = new Map<string, Row>();
const byMatMul = new Map<string, Row>();
for (const k of profile.kernels) {
  if (k.name.endsWith('__op')) continue;
  const ms = Number(await k.kernelTimeMs);
  const add = (m: Map<string, Row>, name: string) => {
    const e = m.get(name) ?? { name, ms: 0, calls: 0 };
    e.ms += ms;
    e.calls++;
    m.set(name, e);
  };
  add(byKernel, k.name);
  if (k.name === 'BatchMatMul' || k.name === '_FusedMatMul') add(byMatMul, `${k.name} ${k.inputShapes.slice(0, 2).map((s) => `[${s}]`).join(' x ')}`);
}
const kernelMs = [...byKernel.values()].reduce((s, e) => s + e.ms, 0);
const result = {
  config: opt.config,
  rows: B,
  context: T,
  wallMs: Math.round(wallMs),
  wordsPerSecOneCore: Math.round((B * T * 1000) / wallMs),
  kernelMs: Math.round(kernelMs),
  kernelCalls: [...byKernel.values()].reduce((s, e) => s + e.calls, 0),
  kernels: top(byKernel, 15).map((e) => ({ ...e, ms: +e.ms.toFixed(1) })),
  matMuls: top(byMatMul, 12).map((e) => ({ ...e, ms: +e.ms.toFixed(1) })),
};
trainer.dispose();
model.dispose();
if (opt.json) {
  console.log(JSON.stringify(result));
} else {
  console.log(`${opt.config}, ${B} x ${T} words: loss and gradients ${result.wallMs} ms (${result.wordsPerSecOneCore} words/s on one core)`);
  console.log(`kernels ${result.kernelMs} ms in ${result.kernelCalls} calls`);
  for (const e of result.kernels) console.log(`  ${e.name.padEnd(20)} ${e.ms.toFixed(1).padStart(8)} ms ${((100 * e.ms) / kernelMs).toFixed(1).padStart(5)}% ${String(e.calls).padStart(5)} calls`);
  console.log('matMuls by shape:');
  for (const e of result.matMuls) console.log(`  ${e.ms.toFixed(1).padStart(8)} ms ${String(e.calls).padStart(4)}x  ${e.name}`);
}
