import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { removedWasmListenerCount, selectBackend, stripWasmProcessHandlers } from '../src/engine/backend.ts';
import { parameterCount, parseModelConfig, presetConfig } from '../src/engine/model/config.ts';
import { CPTransformer } from '../src/engine/model/transformer.ts';
import { VOCAB } from '../src/engine/vocab.ts';
import { sliceKernel, splitVKernel } from '../src/engine/kernels/slice.ts';
import { isAntiphonError } from '../src/errors.ts';
import { engineBackend, tf, tinyConfig } from './helpers/engine-setup.ts';

test.before(engineBackend);

test('the wasm backend runs, and no rethrowing process handler of its module survives', async () => {
  assert.is(tf.getBackend(), 'wasm');
  await selectBackend('wasm', () => {});
  const rethrowers = [...process.listeners('uncaughtException'), ...process.listeners('unhandledRejection')].filter((l) =>
    /ExitStatus|throw reason/.test(String(l)),
  );
  assert.is(rethrowers.length, 0);
  // Whoever initialised wasm first (another suite in this process may have), the count
  // of handlers we removed is a number; the invariant above is what matters.
  assert.type(removedWasmListenerCount(), 'number');
});

test('wasm serves inference with the in-place Slice and SplitV, and they give the plain kernels\' results', async () => {
  await engineBackend();
  assert.is(tf.getKernel('Slice', 'wasm')?.kernelFunc, sliceKernel);
  assert.is(tf.getKernel('SplitV', 'wasm')?.kernelFunc, splitVKernel);
  // One head of an ALiBi-like (H, T, S) table, and a qkv row split three ways.
  const table = tf.tidy(() => tf.randomNormal([4, 19, 120], 0, 1, 'float32', 3));
  const head = tf.slice(table, [2, 0, 0], [1, 19, 120]);
  const expect = (table.arraySync() as number[][][])[2];
  assert.equal((head.arraySync() as number[][][])[0], expect);
  const row = tf.tidy(() => tf.randomNormal([1, 96], 0, 1, 'float32', 4));
  const parts = tf.split(row, 3, 1);
  const flat = (row.arraySync() as number[][])[0];
  parts.forEach((p, i) => assert.equal((p.arraySync() as number[][])[0], flat.slice(i * 32, (i + 1) * 32)));
  tf.dispose([table, head, row, ...parts]);
});

test('stripWasmProcessHandlers removes an emscripten-style rethrower and nothing else', () => {
  const mine = () => {};
  // The exact shape emscripten installs.
  const rethrow = new Function('return function (reason) { throw reason; }')() as (r: unknown) => void;
  process.on('unhandledRejection', mine);
  process.on('unhandledRejection', rethrow);
  assert.is(stripWasmProcessHandlers(), 1);
  assert.ok(process.listeners('unhandledRejection').includes(mine));
  assert.not.ok(process.listeners('unhandledRejection').includes(rethrow));
  process.removeListener('unhandledRejection', mine);
});

test('auto logs that tfjs-node-gpu is missing and falls back', async () => {
  const lines: string[] = [];
  const info = await selectBackend('auto', (l) => lines.push(l));
  assert.is(info.name, 'wasm');
  assert.is(info.fallbacks[0].backend, 'tensorflow');
  assert.match(info.fallbacks[0].reason, 'tfjs-node-gpu');
  assert.is(lines.length, 1);
  assert.match(lines[0], 'backend: wasm');
});

test('an unknown or unavailable backend is E_BACKEND', async () => {
  for (const name of ['metal', 'tensorflow']) {
    try {
      await selectBackend(name as 'cpu', () => {});
      assert.unreachable(name);
    } catch (e) {
      assert.ok(isAntiphonError(e));
      assert.is((e as { code: string }).code, 'E_BACKEND');
    }
  }
  assert.is(tf.getBackend(), 'wasm', 'a failed choice leaves the backend as it was');
});

test('shipped configs: small is the default size, base is the paper size (~39 M parameters)', () => {
  const small = presetConfig('small');
  const base = presetConfig('base');
  assert.equal([small.nLayers, small.dModel], [4, 256]);
  assert.equal([base.nLayers, base.dModel, base.nHeads], [12, 512, 8]);
  const p = parameterCount(base, VOCAB.sizes);
  assert.ok(p > 36e6 && p < 42e6, `${p}`);
  // The count matches the weights a model actually allocates.
  const m = CPTransformer.create(tinyConfig(), 1);
  const allocated = Object.values(m.weights).reduce((s, v) => s + v.size, 0);
  assert.is(parameterCount(m.config, VOCAB.sizes), allocated);
  m.dispose();
});

test('a bad config is E_MODEL_CONFIG naming the field', () => {
  try {
    parseModelConfig({ ...presetConfig('small'), dModel: -1 }, 'x.json');
    assert.unreachable();
  } catch (e) {
    assert.is((e as { code: string }).code, 'E_MODEL_CONFIG');
    assert.match((e as Error).message, 'dModel');
    assert.match((e as Error).message, 'x.json');
  }
  try {
    presetConfig('huge');
    assert.unreachable();
  } catch (e) {
    assert.is((e as { code: string }).code, 'E_MODEL_CONFIG');
  }
});

test.run();
