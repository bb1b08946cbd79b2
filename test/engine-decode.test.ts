// The wasm fast path (PagedKVCache + wasm-decode.ts) against the plain one (TensorKVCache,
// tfjs ops), which every backend runs.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { KVCache } from '../src/engine/model/kv-cache.ts';
import { PagedKVCache } from '../src/engine/model/paged-kv-cache.ts';
import { CPTransformer, type NextWordLogits } from '../src/engine/model/transformer.ts';
import { TYPE } from '../src/engine/vocab.ts';
import { worstDiff } from './helpers/logits.ts';
import { engineBackend, maxAbsDiff, METER, randomWords, strongMeterTable, tf, tinyConfig } from './helpers/engine-setup.ts';

test.before(engineBackend);

const TOL = 1e-5;


// Context 300: the cache's buffers grow 64 -> 128 -> 256 -> 300 words a head, and columns
// past the length hold zeros or stale values that the zero probabilities must cancel;
// 4 heads of 8 dims as in tinyConfig.
const config = (over: Parameters<typeof tinyConfig>[0] = {}) => tinyConfig({ contextLength: 300, nKeep: 8, ...over });


/** Both caches hold the same keys and values in every layer (then both are freed). */
function assertSameCacheThenDispose(fast: KVCache, plain: KVCache): void {
  for (let l = 0; l < 2; l++) {
    const [x, y] = [fast.arrays(l), plain.arrays(l)];
    assert.ok(maxAbsDiff(x.keys.flat(), y.keys.flat()) < TOL && maxAbsDiff(x.values.flat(), y.values.flat()) < TOL, `layer ${l} cache`);
  }
  fast.dispose();
  plain.dispose();
}
test('on wasm, createCache() is paged unless the plain layout is asked for', () => {
  const model = CPTransformer.create(config(), 1);
  const a = model.createCache();
  const b = model.createCache({ layout: 'tensors' });
  assert.instance(a, PagedKVCache);
  assert.not.instance(b, PagedKVCache);
  a.dispose();
  b.dispose();
  model.dispose();
});

// Each of these runs on an ALiBi-only model and on one with metrical heads.
const VARIANTS = [
  { label: 'ALiBi', over: {} },
  { label: 'meter', over: METER },
] as const;

for (const { label, over } of VARIANTS) {
  test(`${label}: paged step() equals the plain step() at every position, through a slide`, () => {
    const model = strongMeterTable(CPTransformer.create(config(over), 31));
    const words = randomWords(340, 32);
    const fast = model.createCache();
    const plain = model.createCache({ layout: 'tensors' });
    let worst = 0;
    let moved = 0;
    let prev: NextWordLogits | null = null;
    for (const w of words) {
      const a = model.step(fast, w);
      const b = model.step(plain, w);
      worst = Math.max(worst, worstDiff(a, b));
      if (prev) moved = Math.max(moved, maxAbsDiff(prev.type, a.type));
      prev = a;
    }
    assert.is(fast.slides, 1);
    assert.equal(fast.words, plain.words);
    assert.equal(fast.steps, plain.steps);
    assert.ok(worst < TOL, `max |paged - plain| = ${worst}`);
    assert.ok(moved > 1e-3, 'logits vary, so the comparison can fail');
    assertSameCacheThenDispose(fast, plain);
    model.dispose();
  });

  test(`${label}: paged prime, truncate, restore and clear match the plain cache`, () => {
    const model = strongMeterTable(CPTransformer.create(config(over), 33));
    const words = randomWords(420, 34);
    const caches = [model.createCache(), model.createCache({ layout: 'tensors' })];
    const run = (f: (c: (typeof caches)[number]) => NextWordLogits) => {
      const [a, b] = caches.map(f);
      assert.ok(worstDiff(a, b) < TOL, `diff ${worstDiff(a, b)}`);
      assert.equal(caches[0].words, caches[1].words);
      assert.equal(caches[0].steps, caches[1].steps);
    };
    run((c) => model.prime(c, words.slice(0, 200)));
    const snaps = caches.map((c) => c.snapshot());
    run((c) => model.step(c, words[200]));
    // Back to 130 words: the stale columns 130..200 must not leak into the next words.
    caches.forEach((c) => c.truncate(130));
    run((c) => model.step(c, words[201]));
    run((c) => model.prime(c, words.slice(202, 260)));
    caches.forEach((c, i) => c.restore(snaps[i]));
    run((c) => model.step(c, words[260]));
    run((c) => model.prime(c, words.slice(261, 420))); // past the window: slides inside prime
    assert.ok(caches[0].slides >= 1);
    caches.forEach((c) => c.clear());
    run((c) => model.step(c, words[0]));
    snaps.forEach((s) => s.dispose());
    caches.forEach((c) => c.dispose());
    model.dispose();
  });

  test(`${label}: paged prime equals the plain prime for runs of 1..40 words, across buffer growth and slides`, () => {
    for (const nHeads of 'meter' in over ? [4, 2] : [4, 1]) {
      const model = strongMeterTable(CPTransformer.create(config({ ...over, nHeads }), 41 + nHeads));
      const words = randomWords(900, 42);
      const fast = model.createCache();
      const plain = model.createCache({ layout: 'tensors' });
      let worst = 0;
      let at = 0;
      const sizes: number[] = [];
      for (let i = 0; at < words.length; i++) {
        const T = Math.min(1 + ((i * 17) % 40), words.length - at); // every size 1..40, shuffled
        sizes.push(T);
        const chunk = words.slice(at, at + T);
        worst = Math.max(worst, worstDiff(model.prime(fast, chunk), model.prime(plain, chunk)));
        at += T;
      }
      assert.ok(fast.slides >= 2, `slides ${fast.slides}`);
      assert.equal(new Set(sizes.filter((t) => t < 40)).size, 39);
      assert.equal(fast.words, plain.words);
      assert.equal(fast.steps, plain.steps);
      assert.ok(worst < TOL, `H=${nHeads}: max |paged - plain| = ${worst}`);
      assertSameCacheThenDispose(fast, plain);
      model.dispose();
    }
  });
}

test('a paged prime that starts mid-buffer and ends past a growth boundary matches the plain one', () => {
  const model = CPTransformer.create(config(), 43);
  const words = randomWords(299, 44);
  const caches = [model.createCache(), model.createCache({ layout: 'tensors' })];
  for (const [from, to] of [
    [0, 250],
    [250, 262], // grows the buffers from 256 words to 300
    [262, 299], // fills the window to its last word
  ]) {
    const [a, b] = caches.map((c) => model.prime(c, words.slice(from, to)));
    assert.ok(worstDiff(a, b) < TOL, `[${from}, ${to}): ${worstDiff(a, b)}`);
  }
  caches.forEach((c) => c.dispose());
  model.dispose();
});

test('the by-head layout follows steps, growth, truncate and restores into other caches', () => {
  // A prime reads headKeys / headValues, which grow (64, 128, 256, 300 here), narrow after a slide, and are
  // written by steps and slides too; a snapshot restored into a fresh or a larger cache
  // must rebuild them.
  const model = CPTransformer.create(config(), 47);
  const words = randomWords(400, 48);
  const fast = model.createCache() as PagedKVCache;
  const plain = model.createCache({ layout: 'tensors' });
  const both = (f: (c: typeof plain) => NextWordLogits, what: string) => {
    const d = worstDiff(f(fast), f(plain));
    assert.ok(d < TOL, `${what}: ${d}`);
    assert.equal(fast.words, plain.words);
  };
  for (let i = 0; i < 70; i++) both((c) => model.step(c, words[i]), `step ${i}`); // grows 64 -> 128 by steps
  both((c) => model.prime(c, words.slice(70, 75)), 'prime after steps');
  assert.is(fast.headRows, 128);
  const small = [fast.snapshot(), plain.snapshot()];
  both((c) => model.prime(c, words.slice(75, 140)), 'prime growing to 256');
  assert.is(fast.headRows, 256);
  both((c) => model.prime(c, words.slice(140, 290)), 'prime growing to 300');
  assert.is(fast.headRows, 300);
  const big = [fast.snapshot(), plain.snapshot()];
  fast.restore(small[0]); // smaller snapshot into the grown cache: stale columns past its length
  plain.restore(small[1]);
  both((c) => model.prime(c, words.slice(300, 307)), 'prime after restoring a smaller snapshot');
  const fresh = model.createCache() as PagedKVCache; // a bigger snapshot into an empty cache
  fresh.restore(big[0]);
  plain.restore(big[1]);
  const d = worstDiff(model.prime(fresh, words.slice(307, 320)), model.prime(plain, words.slice(307, 320)));
  assert.ok(d < TOL, `fresh cache restored: ${d}`);
  const d2 = worstDiff(model.prime(fresh, words.slice(320, 340)), model.prime(plain, words.slice(320, 340))); // slides
  assert.ok(fresh.slides >= 1 && d2 < TOL, `after a slide: ${d2}`);
  assert.ok(fresh.headRows < 300, `narrowed after the slide: ${fresh.headRows}`);
  const d3 = worstDiff(model.prime(fresh, words.slice(340, 345)), model.prime(plain, words.slice(340, 345)));
  assert.ok(d3 < TOL, `after narrowing: ${d3}`);
  [...small, ...big].forEach((s) => s.dispose());
  [fast, plain, fresh].forEach((c) => c.dispose());
  model.dispose();
});

test('paged primes and steps keep no backend memory between calls', () => {
  const model = CPTransformer.create(config(), 45);
  const cache = model.createCache();
  const words = randomWords(280, 46);
  model.prime(cache, words.slice(0, 200));
  model.step(cache, words[200]);
  const ids = tf.backend().numDataIds();
  for (let r = 0; r < 5; r++) {
    model.prime(cache, words.slice(201, 201 + 7 * (r + 1)));
    model.step(cache, words[270]);
    cache.truncate(201);
  }
  assert.is(tf.backend().numDataIds(), ids);
  cache.dispose();
  model.dispose();
});

test('paged decoding leaks no tensors, and dispose frees its buffers', () => {
  const model = CPTransformer.create(config(), 35);
  const before = tf.memory().numTensors;
  const cache = model.createCache();
  const words = randomWords(310, 36);
  model.prime(cache, words.slice(0, 290));
  const primed = tf.memory().numTensors;
  for (const w of words.slice(290)) model.step(cache, w); // slides at 300
  assert.ok(cache.slides === 1);
  assert.is(tf.memory().numTensors, primed);
  cache.dispose();
  assert.is(tf.memory().numTensors, before);
  model.dispose();
});

test('a paged cache refuses to step on another backend', async () => {
  const model = CPTransformer.create(config(), 37);
  const cache = model.createCache();
  await tf.setBackend('cpu');
  try {
    assert.throws(() => model.step(cache, randomWords(1, 1)[0]), /wasm/);
  } finally {
    await tf.setBackend('wasm');
  }
  cache.dispose();
  model.dispose();
});

test.run();
