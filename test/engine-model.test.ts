import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CPTransformer, type NextWordLogits } from '../src/engine/model/transformer.ts';
import type { Word } from '../src/engine/vocab.ts';
import { isAntiphonError } from '../src/errors.ts';
import { engineBackend, maxAbsDiff, randomWords, tf, tinyConfig } from './helpers/engine-setup.ts';
import { recompute, worstDiff } from './helpers/logits.ts';

test.before(engineBackend);

const TOL = 1e-4;

test('cached step() logits equal a full recompute within 1e-4 at every position', () => {
  const model = CPTransformer.create(tinyConfig(), 3);
  const words = randomWords(48, 11);
  const ref = recompute(model, words);
  const cache = model.createCache();
  let worst = 0;
  words.forEach((w, i) => {
    const got = model.step(cache, w);
    worst = Math.max(worst, worstDiff(got, ref[i]));
  });
  assert.ok(worst < TOL, `max |cached - recompute| = ${worst}`);
  // The comparison must be able to fail: logits vary by position.
  assert.ok(maxAbsDiff(ref[5].type, ref[30].type) > 1e-3);
  cache.dispose();
  model.dispose();
});

test('prime() in chunks, then step(), equals the full recompute', () => {
  const model = CPTransformer.create(tinyConfig(), 4);
  const words = randomWords(40, 12);
  const ref = recompute(model, words);
  const cache = model.createCache();
  const a = model.prime(cache, words.slice(0, 17));
  assert.ok(worstDiff(a, ref[16]) < TOL, `prime #1 ${worstDiff(a, ref[16])}`);
  const b = model.prime(cache, words.slice(17, 30));
  assert.ok(worstDiff(b, ref[29]) < TOL, `prime #2 ${worstDiff(b, ref[29])}`);
  for (let i = 30; i < 40; i++) {
    const c = model.step(cache, words[i]);
    assert.ok(worstDiff(c, ref[i]) < TOL, `step ${i}`);
  }
  assert.is(cache.length, 40);
  cache.dispose();
  model.dispose();
});

test('an out-of-vocabulary word throws E_WORD_INVALID and leaves the cache as it was', () => {
  const model = CPTransformer.create(tinyConfig(), 5);
  const cache = model.createCache();
  const words = randomWords(10, 13);
  model.prime(cache, words);
  const keysBefore = [0, 1].map((l) => cache.arrays(l).keys);
  const tensorsBefore = tf.memory().numTensors;
  const bad: Word[] = [
    [2, -1, -1, -1, 88, 0, 0], // pitch out of range
    [1, 0, 0, 0, 5, -1, -1], // a Metrical word with a pitch
    [3, -1, -1, -1, -1, -1, -1], // no such type
    [2, -1, -1, -1, 1.5, 0, 0], // not an integer
    [2, -1, -1], // too short
  ];
  for (const w of bad) {
    try {
      model.step(cache, w);
      assert.unreachable(`accepted ${JSON.stringify(w)}`);
    } catch (e) {
      assert.ok(isAntiphonError(e), String(e));
      assert.is((e as { code: string }).code, 'E_WORD_INVALID');
    }
  }
  try {
    model.prime(cache, [words[0], bad[0]]);
    assert.unreachable('prime accepted a bad word');
  } catch (e) {
    assert.is((e as { code: string }).code, 'E_WORD_INVALID');
    assert.match((e as Error).message, /word 1/);
  }
  assert.is(cache.length, 10);
  assert.equal(cache.words, words);
  assert.is(tf.memory().numTensors, tensorsBefore);
  keysBefore.forEach((k, l) => assert.equal(cache.arrays(l).keys, k));
  cache.dispose();
  model.dispose();
});

test('numTensors is unchanged after 1,000 steps (through several slides) and after dispose', () => {
  const baseline = tf.memory().numTensors;
  const model = CPTransformer.create(tinyConfig({ contextLength: 48, nKeep: 4 }), 6);
  const afterModel = tf.memory().numTensors;
  const cache = model.createCache();
  const words = randomWords(1001, 14);
  model.step(cache, words[0]);
  const afterFirst = tf.memory().numTensors;
  for (let i = 1; i <= 1000; i++) model.step(cache, words[i]);
  assert.is(tf.memory().numTensors, afterFirst);
  assert.ok(cache.slides > 10, `slides ${cache.slides}`);
  assert.ok(cache.length <= 48);
  const snap = cache.snapshot();
  cache.restore(snap);
  snap.dispose();
  assert.is(tf.memory().numTensors, afterFirst);
  cache.dispose();
  assert.is(tf.memory().numTensors, afterModel);
  model.dispose();
  assert.is(tf.memory().numTensors, baseline);
});

test('forward() leaks nothing and its logits have the right shapes', () => {
  const model = CPTransformer.create(tinyConfig(), 8);
  const before = tf.memory().numTensors;
  const B = 2;
  const T = 12;
  const w = [randomWords(T, 1), randomWords(T, 2)].map((s) => s.map((x) => [...x]));
  const input = tf.tensor3d(w, [B, T, 7], 'int32');
  const targets = tf.tensor2d(w.map((s) => s.map((x) => x[0])), [B, T], 'int32');
  const out = model.forward(input, targets);
  assert.equal(out.type.shape, [B, T, 3]);
  assert.equal(out.pitch.shape, [B, T, 88]);
  assert.equal(out.chord.shape, [B, T, 134]);
  // Batch rows are independent: row 1 equals a batch of one.
  const input1 = tf.slice(input, [1, 0, 0], [1, T, 7]);
  const targets1 = tf.slice(targets, [1, 0], [1, T]);
  const one = model.forward(input1, targets1);
  const rowOne = tf.slice(out.pitch, [1, 0, 0], [1, T, 88]);
  assert.ok(maxAbsDiff(rowOne.dataSync(), one.pitch.dataSync()) < TOL);
  for (const x of [...Object.values(out), ...Object.values(one), rowOne, input, targets, input1, targets1]) x.dispose();
  assert.is(tf.memory().numTensors, before);
  model.dispose();
});

test('forward() is differentiable: every weight gets a finite, non-zero gradient', () => {
  const model = CPTransformer.create(tinyConfig({ nLayers: 1 }), 9);
  const words = randomWords(9, 3);
  const input = tf.tensor3d([words.slice(0, 8).map((x) => [...x])], [1, 8, 7], 'int32');
  const targetWords = words.slice(1, 9);
  const targets = tf.tensor2d([targetWords.map((x) => x[0])], [1, 8], 'int32');
  const { value, grads } = tf.variableGrads(() => {
    const out = model.forward(input, targets);
    // A plain sum over all logits reaches every weight, including every head.
    return tf.addN(Object.values(out).map((t) => tf.sum(tf.mul(t, t)))) as tf.Scalar;
  });
  assert.ok(Number.isFinite(value.dataSync()[0]));
  for (const name of Object.keys(model.weights)) {
    const g = grads[Object.keys(grads).find((k) => k === model.weights[name].name)!];
    assert.ok(g, `no gradient for ${name}`);
    const a = g.abs().max().dataSync()[0];
    assert.ok(Number.isFinite(a) && a > 0, `gradient of ${name} is ${a}`);
  }
  value.dispose();
  for (const g of Object.values(grads)) g.dispose();
  input.dispose();
  targets.dispose();
  model.dispose();
});

test('a full window slides: keeps nKeep oldest and the newer half of the rest, rows copied exactly', () => {
  const model = CPTransformer.create(tinyConfig({ contextLength: 32, nKeep: 4 }), 21);
  const cache = model.createCache();
  const words = randomWords(33, 22);
  model.prime(cache, words.slice(0, 32));
  assert.is(cache.length, 32);
  const { keys: k0, values: v0 } = cache.arrays(1);
  model.step(cache, words[32]);
  // 32 full -> keep 4 + drop floor(28 / 2) = 14 -> 18 kept, then the new word.
  assert.is(cache.slides, 1);
  assert.is(cache.length, 4 + 14 + 1);
  assert.equal(cache.words, [...words.slice(0, 4), ...words.slice(18, 33)]);
  const { keys: k1, values: v1 } = cache.arrays(1);
  const keptRows = [0, 1, 2, 3, ...Array.from({ length: 14 }, (_, i) => 18 + i)];
  keptRows.forEach((r, i) => {
    assert.equal(k1[i], k0[r], `key row ${r}`);
    assert.equal(v1.map((col) => col[i]), v0.map((col) => col[r]), `value column ${r}`);
  });
  cache.dispose();
  model.dispose();
});

test('after a slide, a one-layer model equals a full recompute over the kept words', () => {
  // Exact for one layer: its keys and values depend on each word alone, and ALiBi's bias
  // depends only on distances inside the window. Deeper layers' cached rows also carry
  // what the dropped words contributed, as in llama.cpp's context shift.
  const model = CPTransformer.create(tinyConfig({ nLayers: 1, contextLength: 24, nKeep: 3 }), 23);
  const cache = model.createCache();
  const words = randomWords(60, 24);
  let got: NextWordLogits | null = null;
  for (const w of words) got = model.step(cache, w);
  assert.ok(cache.slides >= 2);
  const ref = recompute(model, cache.words);
  const d = worstDiff(got!, ref[ref.length - 1]);
  assert.ok(d < TOL, `after slide: ${d}`);
  cache.dispose();
  model.dispose();
});

test('prime() longer than the window slides at the same points as stepping', () => {
  const model = CPTransformer.create(tinyConfig({ contextLength: 40, nKeep: 4 }), 25);
  const words = randomWords(130, 26);
  const a = model.createCache();
  const b = model.createCache();
  const primed = model.prime(a, words);
  let stepped: NextWordLogits | null = null;
  for (const w of words) stepped = model.step(b, w);
  assert.is(a.slides, b.slides);
  assert.equal(a.words, b.words);
  assert.ok(worstDiff(primed, stepped!) < TOL);
  a.dispose();
  b.dispose();
  model.dispose();
});

test('changed weights (as a trainer assigns them) reach step() at once: no stale derived tables', () => {
  const model = CPTransformer.create(tinyConfig(), 27);
  const words = randomWords(6, 28);
  const a = model.createCache();
  const before = model.prime(a, words);
  for (const name of ['in.w', 'emb.pitch', 'block0.ln1.g', 'block1.ln2.b', 'final.ln.b', 'typeCond.w', 'emb.type']) {
    const v = model.weights[name];
    const doubled = tf.mul(v, 2);
    v.assign(doubled);
    doubled.dispose();
  }
  const b = model.createCache();
  const after = model.prime(b, words);
  assert.ok(maxAbsDiff(before.type, after.type) > 1e-3, 'the change is visible');
  const ref = recompute(model, words);
  assert.ok(worstDiff(after, ref[ref.length - 1]) < TOL);
  a.dispose();
  b.dispose();
  model.dispose();
});

test.run();
