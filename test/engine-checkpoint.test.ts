import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModel, saveModel, writeManifest, CHECKPOINT_FILES } from '../src/engine/model/checkpoint.ts';
import { CPTransformer } from '../src/engine/model/transformer.ts';
import { isAntiphonError } from '../src/errors.ts';
import { engineBackend, maxAbsDiff, randomWords, tf, tinyConfig } from './helpers/engine-setup.ts';

test.before(engineBackend);

const CARD = {
  name: 'tiny-test',
  description: 'A checkpoint written by the tests.',
  dataSources: ['Pop1K7 (test fixture)'],
  trainingSteps: 123,
  metrics: { 'val/loss': 2.5 },
  date: '2026-01-02T03:04:05Z',
};

const root = mkdtempSync(join(tmpdir(), 'antiphon-ckpt-'));
let n = 0;
async function freshCheckpoint(): Promise<string> {
  const dir = join(root, `m${n++}`);
  const model = CPTransformer.create(tinyConfig(), 31);
  await saveModel(model, dir, CARD);
  model.dispose();
  return dir;
}

async function loadError(dir: string): Promise<{ code: string; message: string; file?: string }> {
  const before = tf.memory().numTensors;
  try {
    const { model } = await loadModel(dir);
    model.dispose();
  } catch (e) {
    assert.ok(isAntiphonError(e), String(e));
    assert.is(tf.memory().numTensors, before, 'a failed load leaks no tensors');
    return e as { code: string; message: string; file?: string };
  }
  assert.unreachable('loaded');
  throw new Error('unreachable');
}

test('save then load gives the same model, config and card', async () => {
  const model = CPTransformer.create(tinyConfig(), 31);
  const dir = join(root, 'roundtrip');
  const saved = await saveModel(model, dir, CARD);
  assert.ok(saved.parameters! > 1000);
  const words = randomWords(20, 5);
  const a = model.prime(model.createCache(), words);
  const before = tf.memory().numTensors;
  const { model: loaded, card } = await loadModel(dir);
  assert.equal(loaded.config, model.config);
  assert.is(card.trainingSteps, 123);
  assert.equal(card.dataSources, CARD.dataSources);
  const cache = loaded.createCache();
  const b = loaded.prime(cache, words);
  assert.is(maxAbsDiff(a.type, b.type), 0);
  assert.is(maxAbsDiff(a.given[2].pitch, b.given[2].pitch), 0);
  cache.dispose();
  loaded.dispose();
  assert.is(tf.memory().numTensors, before);
  const readme = readFileSync(join(dir, 'README.md'), 'utf8');
  assert.match(readme, 'Pop1K7 (test fixture)');
  assert.match(readme, 'Training steps: 123');
  assert.match(readme, 'val/loss');
  const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
  assert.equal(Object.keys(manifest.files).sort(), [...CHECKPOINT_FILES].sort());
  model.dispose();
});

test('a missing folder, manifest or file is E_MODEL_MISSING naming it', async () => {
  let e = await loadError(join(root, 'nope'));
  assert.is(e.code, 'E_MODEL_MISSING');
  for (const f of ['manifest.json', 'weights.bin', 'config.json', 'card.json']) {
    const dir = await freshCheckpoint();
    unlinkSync(join(dir, f));
    e = await loadError(dir);
    assert.is(e.code, 'E_MODEL_MISSING', f);
    assert.match(e.message, f);
    assert.is(e.file, join(dir, f));
  }
});

test('a damaged or edited file is E_MODEL_CORRUPT naming it', async () => {
  let dir = await freshCheckpoint();
  const bin = readFileSync(join(dir, 'weights.bin'));
  bin[100] ^= 0x40;
  writeFileSync(join(dir, 'weights.bin'), bin);
  let e = await loadError(dir);
  assert.is(e.code, 'E_MODEL_CORRUPT');
  assert.match(e.message, 'weights.bin');

  dir = await freshCheckpoint();
  writeFileSync(join(dir, 'config.json'), readFileSync(join(dir, 'config.json'), 'utf8').replace('"nLayers": 2', '"nLayers": 3'));
  e = await loadError(dir);
  assert.is(e.code, 'E_MODEL_CORRUPT');
  assert.match(e.message, 'config.json');

  dir = await freshCheckpoint();
  writeFileSync(join(dir, 'manifest.json'), '{ not json');
  e = await loadError(dir);
  assert.is(e.code, 'E_MODEL_CORRUPT');
  assert.match(e.message, 'manifest.json');

  // Consistent checksums over weights that do not fit the config.
  dir = await freshCheckpoint();
  writeFileSync(join(dir, 'config.json'), readFileSync(join(dir, 'config.json'), 'utf8').replace('"nLayers": 2', '"nLayers": 3'));
  await writeManifest(dir);
  e = await loadError(dir);
  assert.is(e.code, 'E_MODEL_CORRUPT');
  assert.match(e.message, 'weights.bin');
  assert.match(e.message, 'block2');

  dir = await freshCheckpoint();
  writeFileSync(join(dir, 'weights.bin'), bin.subarray(0, 1000));
  await writeManifest(dir);
  e = await loadError(dir);
  assert.is(e.code, 'E_MODEL_CORRUPT');
  assert.match(e.message, 'weights.bin');
});

test('another vocabulary is E_MODEL_VOCAB naming vocab.json', async () => {
  let dir = await freshCheckpoint();
  const vocab = JSON.parse(readFileSync(join(dir, 'vocab.json'), 'utf8'));
  writeFileSync(join(dir, 'vocab.json'), JSON.stringify({ ...vocab, version: 'cp-piano-v0' }));
  await writeManifest(dir);
  let e = await loadError(dir);
  assert.is(e.code, 'E_MODEL_VOCAB');
  assert.match(e.message, 'vocab.json');
  assert.match(e.message, 'cp-piano-v0');

  dir = await freshCheckpoint();
  writeFileSync(join(dir, 'vocab.json'), JSON.stringify({ ...vocab, sizes: { ...vocab.sizes, pitch: 87 } }));
  await writeManifest(dir);
  e = await loadError(dir);
  assert.is(e.code, 'E_MODEL_VOCAB');
  assert.match(e.message, 'pitch');
});

test('an invalid config is E_MODEL_CONFIG naming config.json and the field', async () => {
  const dir = await freshCheckpoint();
  const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...cfg, nHeads: 5 }));
  await writeManifest(dir);
  const e = await loadError(dir);
  assert.is(e.code, 'E_MODEL_CONFIG');
  assert.match(e.message, 'config.json');
  assert.match(e.message, 'multiple of nHeads');
});

test.after(() => rmSync(root, { recursive: true, force: true }));

test.run();
