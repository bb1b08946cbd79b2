// Metrical heads (src/engine/model/meter.ts): word steps, the bias on every path, the table's
// gradient, and the cache's steps through slides and restores.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parameterCount } from '../src/engine/model/config.ts';
import { FIRST_STEP, lagBucket, meterBuckets, wordSteps } from '../src/engine/model/meter.ts';
import { CPTransformer } from '../src/engine/model/transformer.ts';
import { BAR, beatToken, FAMILY_SIZES, TYPE, UNUSED, type Word } from '../src/engine/vocab.ts';
import { isAntiphonError } from '../src/errors.ts';
import { registerTrainingKernels, trainingKernelsActive, unregisterTrainingKernels } from '../src/trainer/kernels/index.ts';
import { engineBackend, maxAbsDiff, METER, randomWords, strongMeterTable, tf, tinyConfig } from './helpers/engine-setup.ts';
import { recompute, worstDiff } from './helpers/logits.ts';

test.before(engineBackend);

const TOL = 1e-4;
const bar: Word = [TYPE.METRICAL, BAR, 0, 0, UNUSED, UNUSED, UNUSED];
const beat = (s: number): Word => [TYPE.METRICAL, beatToken(s), 0, 0, UNUSED, UNUSED, UNUSED];
const note: Word = [TYPE.NOTE, UNUSED, UNUSED, UNUSED, 40, 3, 10];

test('a word sits at its grid step: bars add 16, notes take their beat step', () => {
  assert.equal(wordSteps([bar, beat(0), note, note, beat(4), note, bar, bar, beat(2), note]), [0, 0, 0, 0, 4, 4, 16, 32, 34, 34]);
  // A crop that starts inside a bar: steps before the first Bar word are negative, lags still right.
  const mid = wordSteps([beat(3), note, bar, beat(3)]);
  assert.equal(mid, [-13, -13, 0, 3]);
  assert.is(mid[3] - mid[0], 16);
  assert.equal(wordSteps([note], FIRST_STEP), [FIRST_STEP]);
  const buckets = meterBuckets({ bars: 2 });
  assert.is(buckets, 34);
  assert.equal([0, 5, 32, 33, 500, -3].map((l) => lagBucket(l, buckets)), [0, 5, 32, 33, 33, 0]);
});

test('meter config: heads are checked, the table is a weight and counts as parameters', () => {
  const plain = tinyConfig();
  const withMeter = tinyConfig(METER);
  assert.is(parameterCount(withMeter, FAMILY_SIZES) - parameterCount(plain, FAMILY_SIZES), 34 * 2);
  const model = CPTransformer.create(withMeter, 1);
  assert.equal(model.weights['meter.table'].shape, [34, 2]);
  assert.not.ok(CPTransformer.create(plain, 1).weights['meter.table']);
  try {
    tinyConfig({ meter: { heads: 5, bars: 2 } });
    assert.unreachable('5 meter heads of 4');
  } catch (e) {
    assert.ok(isAntiphonError(e) && e.code === 'E_MODEL_CONFIG' && /meter\.heads/.test(e.message), String(e));
  }
  model.dispose();
});

for (const layout of ['auto', 'tensors'] as const) {
  test(`${layout} cache: step() and chunked prime() equal a full recompute with meter heads`, () => {
    const model = strongMeterTable(CPTransformer.create(tinyConfig(METER), 3), 8);
    const words = randomWords(60, 11);
    const ref = recompute(model, words);
    const stepped = model.createCache({ layout });
    let worst = 0;
    words.forEach((w, i) => (worst = Math.max(worst, worstDiff(model.step(stepped, w), ref[i]))));
    assert.ok(worst < TOL, `step: max |cached - recompute| = ${worst}`);
    const primed = model.createCache({ layout });
    worst = Math.max(worstDiff(model.prime(primed, words.slice(0, 23)), ref[22]), worstDiff(model.prime(primed, words.slice(23, 50)), ref[49]));
    for (let i = 50; i < 60; i++) worst = Math.max(worst, worstDiff(model.step(primed, words[i]), ref[i]));
    assert.ok(worst < TOL, `prime: max |cached - recompute| = ${worst}`);
    assert.equal(primed.steps, wordSteps(words));
    stepped.dispose();
    primed.dispose();
    model.dispose();
  });
}

test('the metrical bias changes what the model predicts', () => {
  const model = strongMeterTable(CPTransformer.create(tinyConfig(METER), 3), 8);
  const words = randomWords(60, 11);
  const withTable = recompute(model, words);
  model.weights['meter.table'].assign(tf.zerosLike(model.weights['meter.table']));
  const without = recompute(model, words);
  assert.ok(Math.max(...withTable.map((r, i) => worstDiff(r, without[i]))) > 1e-2);
  // Moving a bar line moves the lags, so the same notes are predicted differently.
  strongMeterTable(model, 8);
  const shifted = [...words.slice(0, 30), bar, ...words.slice(30)];
  const a = recompute(model, words)[59];
  const b = recompute(model, shifted)[60];
  assert.ok(worstDiff(a, b) > 1e-3, 'an extra bar changes the last prediction');
  model.dispose();
});

test('the bias table gets a gradient from the loss', () => {
  // tf.gather's gradient needs UnsortedSegmentSum, which stock wasm lacks; the trainer installs it.
  const wereActive = trainingKernelsActive(); // other suites in this process may rely on them
  registerTrainingKernels();
  const model = CPTransformer.create(tinyConfig({ ...METER, nLayers: 1 }), 9);
  const words = randomWords(41, 3);
  const input = tf.tensor3d([words.slice(0, 40).map((x) => [...x])], [1, 40, 7], 'int32');
  const targets = tf.tensor2d([words.slice(1).map((x) => x[0])], [1, 40], 'int32');
  const table = model.weights['meter.table'];
  const { value, grads } = tf.variableGrads(() => {
    const out = model.forward(input, targets);
    return tf.addN(Object.values(out).map((t) => tf.sum(tf.mul(t, t)))) as tf.Scalar;
  }, [table]);
  const g = grads[table.name].dataSync();
  assert.ok(g.every(Number.isFinite));
  // Lags the 40 words contain get a gradient; lags they never span get none.
  const span = wordSteps(words.slice(0, 40));
  const seen = new Set<number>();
  for (let i = 0; i < span.length; i++) for (let j = 0; j <= i; j++) seen.add(lagBucket(span[i] - span[j], 34));
  for (let r = 0; r < 34; r++) {
    const mag = Math.abs(g[r * 2]) + Math.abs(g[r * 2 + 1]);
    if (seen.has(r)) assert.ok(mag > 0, `lag ${r} has no gradient`);
    else assert.is(mag, 0, `lag ${r} appears nowhere but has a gradient`);
  }
  value.dispose();
  for (const t of Object.values(grads)) t.dispose();
  input.dispose();
  targets.dispose();
  model.dispose();
  if (!wereActive) unregisterTrainingKernels();
});

test('attention in blocks of query rows equals one block: logits and every gradient', () => {
  const wereActive = trainingKernelsActive();
  registerTrainingKernels();
  const model = CPTransformer.create(tinyConfig({ ...METER, nLayers: 2 }), 11);
  const before = tf.memory().numTensors;
  const B = 2;
  const T = 40;
  const seqs = [randomWords(T + 1, 4), randomWords(T + 1, 5)];
  const input = tf.tensor3d(seqs.map((w) => w.slice(0, T).map((x) => [...x])), [B, T, 7], 'int32');
  const targets = tf.tensor2d(seqs.map((w) => w.slice(1).map((x) => x[0])), [B, T], 'int32');
  const run = (blockRows: number) =>
    tf.variableGrads(() => {
      const out = model.forward(input, targets, blockRows);
      return tf.addN(Object.values(out).map((t) => tf.sum(tf.mul(t, t)))) as tf.Scalar;
    });
  const whole = run(T);
  for (const rows of [7, 16]) {
    // 7 leaves a short last block; the blocks see 7, 14, ... 40 keys.
    const blocked = run(rows);
    const rel = Math.abs(blocked.value.dataSync()[0] - whole.value.dataSync()[0]) / Math.abs(whole.value.dataSync()[0]);
    assert.ok(rel < 1e-5, `rows ${rows}: loss differs by ${rel}`);
    for (const name of Object.keys(whole.grads)) {
      const g = blocked.grads[name].dataSync();
      const w = whole.grads[name].dataSync();
      let worst = 0;
      let scale = 0;
      for (let i = 0; i < w.length; i++) {
        worst = Math.max(worst, Math.abs(g[i] - w[i]));
        scale = Math.max(scale, Math.abs(w[i]));
      }
      assert.ok(worst <= 1e-4 * (1 + scale), `rows ${rows}: gradient of ${name} differs by ${worst} (scale ${scale})`);
    }
    tf.dispose([blocked.value, ...Object.values(blocked.grads)]);
  }
  tf.dispose([whole.value, ...Object.values(whole.grads), input, targets]);
  assert.is(tf.memory().numTensors, before);
  model.dispose();
  if (!wereActive) unregisterTrainingKernels();
});

test('a cache keeps each word its step through slides, truncate and restore', () => {
  const model = CPTransformer.create(tinyConfig({ ...METER, contextLength: 32, nKeep: 4 }), 21);
  const words = randomWords(33, 22);
  const all = wordSteps(words);
  for (const layout of ['auto', 'tensors'] as const) {
    const cache = model.createCache({ layout });
    model.prime(cache, words.slice(0, 32));
    const snap = cache.snapshot();
    model.step(cache, words[32]); // slides: keeps 4, drops 14
    assert.is(cache.slides, 1);
    assert.equal(cache.steps, [...all.slice(0, 4), ...all.slice(18, 33)]);
    cache.truncate(10);
    assert.equal(cache.steps, [...all.slice(0, 4), ...all.slice(18, 24)]);
    cache.restore(snap);
    assert.equal(cache.steps, all.slice(0, 32));
    cache.clear();
    assert.equal(cache.steps, []);
    assert.is(cache.lastStep, FIRST_STEP);
    snap.dispose();
    cache.dispose();
  }
  model.dispose();
});

test('meter decoding leaks no tensors', () => {
  const model = CPTransformer.create(tinyConfig(METER), 5);
  const words = randomWords(80, 6);
  const before = tf.memory().numTensors;
  for (const layout of ['auto', 'tensors'] as const) {
    const cache = model.createCache({ layout });
    model.prime(cache, words.slice(0, 30));
    for (const w of words.slice(30)) model.step(cache, w);
    cache.dispose();
  }
  assert.is(tf.memory().numTensors, before);
  model.dispose();
});

test.run();
