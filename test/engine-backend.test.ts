import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { removedWasmListenerCount, selectBackend } from '../src/engine/backend.ts';
import { parameterCount, parseModelConfig, presetConfig } from '../src/engine/model/config.ts';
import { CPTransformer } from '../src/engine/model/transformer.ts';
import { VOCAB } from '../src/engine/vocab.ts';
import { isAntiphonError } from '../src/errors.ts';
import { engineBackend, tf, tinyConfig } from './helpers/engine-setup.ts';

await engineBackend();

test('the wasm backend runs, and the rethrowing process handlers it installs are removed', () => {
  assert.is(tf.getBackend(), 'wasm');
  assert.ok(removedWasmListenerCount() >= 1, 'wasm installed handlers that were removed');
  for (const l of process.listeners('uncaughtException')) assert.not.match(String(l), /throw\s+ex|ExitStatus/);
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
