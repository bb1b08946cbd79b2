import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CPTransformer } from '../src/engine/model/transformer.ts';
import { CPTrainer, OPTIM_DEFAULTS, learningRate } from '../src/trainer/optimizer.ts';
import { accumulateEval, batchTensors, emptyTotals, summarizeEval } from '../src/trainer/loss.ts';
import { FAMILIES } from '../src/engine/vocab.ts';
import { engineBackend, randomWords, tinyConfig } from './helpers/engine-setup.ts';

const W = FAMILIES.length;
const B = 2;
const T = 24;

function batchFrom(seed: number): Int32Array {
  const out = new Int32Array(B * (T + 1) * W);
  for (let b = 0; b < B; b++) randomWords(T + 1, seed + b).forEach((w, t) => out.set(w, (b * (T + 1) + t) * W));
  return out;
}

const opts = { ...OPTIM_DEFAULTS, lr: 3e-3, warmup: 2, totalSteps: 50 };
let tmp = '';
test.before(async () => {
  await engineBackend();
  tmp = await mkdtemp(join(tmpdir(), 'antiphon-train-'));
});
test.after(async () => {
  await rm(tmp, { recursive: true, force: true });
});

test('the learning rate warms up linearly, then decays to its floor', () => {
  assert.is(learningRate(opts, 0), opts.lr / 2);
  assert.is(learningRate(opts, 1), opts.lr);
  assert.ok(learningRate(opts, 20) < opts.lr);
  assert.ok(Math.abs(learningRate(opts, 50) - opts.lr * opts.minLrRatio) < 1e-12);
  assert.ok(Math.abs(learningRate(opts, 500) - opts.lr * opts.minLrRatio) < 1e-12);
});

test('training lowers the loss on a batch it sees again and again, and leaks no tensor', () => {
  const model = CPTransformer.create(tinyConfig(), 3);
  const trainer = new CPTrainer(model, opts);
  const words = batchFrom(11);
  const first = trainer.step(words, B, T, 0);
  const before = tf.memory().numTensors;
  let last = first;
  for (let s = 1; s < 40; s++) last = trainer.step(words, B, T, s);
  assert.is(tf.memory().numTensors, before, 'no tensor leaks per step');
  assert.ok(Number.isFinite(first.loss) && first.loss > 1, `initial loss ${first.loss}`);
  assert.ok(last.loss < first.loss * 0.6, `loss ${first.loss} -> ${last.loss}`);
  assert.ok(first.gradNorm > 0);
  trainer.dispose();
  model.dispose();
});

test('resuming from saved weights and optimiser state continues exactly', async () => {
  const run = (model: CPTransformer, trainer: CPTrainer, from: number, to: number) => {
    for (let s = from; s < to; s++) trainer.step(batchFrom(100 + s), B, T, s);
  };
  const straight = CPTransformer.create(tinyConfig(), 5);
  const t1 = new CPTrainer(straight, opts);
  run(straight, t1, 0, 6);

  const first = CPTransformer.create(tinyConfig(), 5);
  const t2 = new CPTrainer(first, opts);
  run(first, t2, 0, 3);
  await t2.saveState(tmp);
  const weights = Object.fromEntries(Object.entries(first.weights).map(([k, v]) => [k, v.clone()]));
  t2.dispose();
  first.dispose();

  const resumed = CPTransformer.fromTensors(tinyConfig(), weights);
  const t3 = new CPTrainer(resumed, opts);
  await t3.loadState(tmp);
  run(resumed, t3, 3, 6);
  for (const name of Object.keys(straight.weights)) {
    const a = straight.weights[name].dataSync();
    const b = resumed.weights[name].dataSync();
    let max = 0;
    for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
    assert.ok(max === 0, `${name} differs by ${max}`);
  }
  for (const x of [t1, t3]) x.dispose();
  straight.dispose();
  resumed.dispose();
});

test('evaluation reports NLL per word and per-family accuracy', () => {
  const model = CPTransformer.create(tinyConfig(), 3);
  const totals = emptyTotals();
  tf.tidy(() => accumulateEval(model, batchTensors(batchFrom(5), B, T), totals));
  const s = summarizeEval(totals);
  assert.is(s.words, B * T);
  assert.ok(s.nllPerWord > s.families.type.nll, 'a word adds its families to its type');
  for (const f of FAMILIES) {
    assert.ok(s.families[f].accuracy >= 0 && s.families[f].accuracy <= 1);
  }
  model.dispose();
});

test.run();
