import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { cli } from './helpers/cli.ts';
import { POP909 } from './helpers/data.ts';
import { loadModel } from '../src/engine/model/checkpoint.ts';
import { readMidiFile } from '../src/io/midi-pool.ts';
import { engineBackend } from './helpers/engine-setup.ts';

let tmp = '';
let config = '';
const songs = ['001', '002', '003', '004', '005', '006'].flatMap((s) => ['--data', join(POP909, s)]);
const common = (out: string, steps: number) => [
  'train', ...songs, '--out', out, '--config', config, '--steps', String(steps), '--backend', 'wasm',
  '--context', '48', '--batch-size', '2', '--eval-every', '3', '--checkpoint-every', '3', '--eval-batches', '1',
  '--val-fraction', '0.3', '--warmup', '2', '--log-every', '1',
];

test.before(async () => {
  await engineBackend();
  tmp = await mkdtemp(join(tmpdir(), 'antiphon-trainrun-'));
  config = join(tmp, 'tiny.json');
  await writeFile(config, JSON.stringify({
    name: 'tiny', dModel: 32, nLayers: 2, nHeads: 4, dFF: 64,
    embDims: { type: 4, barBeat: 8, tempo: 8, chord: 8, pitch: 8, duration: 8, velocity: 8 },
    contextLength: 64, nKeep: 4,
  }));
});
test.after(async () => {
  await rm(tmp, { recursive: true, force: true });
});

test('train writes a loadable model, checkpoints, metrics and curves', async () => {
  const out = join(tmp, 'a');
  const r = await cli(...common(out, 6));
  assert.is(r.code, 0, r.err);
  assert.ok(r.out.includes('trained to step 6'));
  const { model, card } = await loadModel(out);
  assert.is(card.trainingSteps, 6);
  assert.equal(card.dataSources, ['001', '002', '003', '004', '005', '006']);
  assert.ok(Number.isFinite(card.metrics.trainLoss));
  model.dispose();
  assert.equal((await readdir(join(out, 'checkpoints'))).sort(), ['step-0000003', 'step-0000006']);
  const metrics = (await readFile(join(out, 'metrics.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
  assert.is(metrics.filter((m) => m.loss !== undefined).length, 6);
  assert.ok(metrics.some((m) => m.valLoss !== undefined), 'validation ran');
  const svg = await readFile(join(out, 'curves.svg'), 'utf8');
  assert.ok(svg.startsWith('<svg') && svg.includes('<path'), 'curves are drawn');
  assert.not.ok(/<script|href=|<image/.test(svg), 'the picture loads nothing');
});

test('--resume continues exactly where a run stopped', async () => {
  const straight = join(tmp, 'straight');
  const resumed = join(tmp, 'resumed');
  assert.is((await cli(...common(straight, 6))).code, 0);
  assert.is((await cli(...common(resumed, 3))).code, 0);
  const r = await cli(...common(resumed, 6), '--resume');
  assert.is(r.code, 0, r.err);
  assert.ok(r.err.includes('resuming from') && r.err.includes('step 3'));
  const a = (await loadModel(straight)).model;
  const b = (await loadModel(resumed)).model;
  for (const name of Object.keys(a.weights)) {
    const x = a.weights[name].dataSync();
    const y = b.weights[name].dataSync();
    assert.ok(x.every((v, i) => v === y[i]), `${name} differs after resume`);
  }
  a.dispose();
  b.dispose();
  const steps = (await readFile(join(resumed, 'metrics.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l)).filter((m) => m.loss !== undefined).map((m) => m.step);
  assert.equal(steps, [1, 2, 3, 4, 5, 6], 'the metrics have no doubled stretch');
});

test('--resume with nothing to resume, and bad options, fail with a clear reason', async () => {
  let r = await cli(...common(join(tmp, 'none'), 3), '--resume');
  assert.is(r.code, 1);
  assert.ok(r.err.includes('E_MODEL_MISSING'));
  r = await cli('train', '--data', POP909, '--out', join(tmp, 'x'), '--lr', '-1');
  assert.is(r.code, 2);
  r = await cli('train', '--data', POP909, '--out', join(tmp, 'x'), '--config', join(tmp, 'nope.json'));
  assert.is(r.code, 1);
  assert.ok(r.err.includes('E_MODEL_CONFIG'));
});

test('training leaves no tensors behind', async () => {
  const before = tf.memory().numTensors;
  assert.is((await cli(...common(join(tmp, 'leak'), 3))).code, 0);
  assert.is(tf.memory().numTensors, before);
});

test('eval reports NLL per word and per-family metrics, skipping and naming bad files', async () => {
  const bad = join(tmp, 'bad.mid');
  await writeFile(bad, 'not midi');
  const r = await cli('eval', '--model', join(tmp, 'a'), '--data', join(POP909, '007'), '--data', bad, '--json', '--backend', 'wasm');
  assert.is(r.code, 0, r.err);
  const j = JSON.parse(r.out);
  assert.ok(j.words > 1000);
  assert.ok(Number.isFinite(j.nllPerWord) && j.nllPerWord > j.families.type.nll);
  for (const f of ['type', 'barBeat', 'tempo', 'chord', 'pitch', 'duration', 'velocity']) {
    assert.ok(Number.isFinite(j.families[f].nll) && j.families[f].accuracy >= 0 && j.families[f].accuracy <= 1, f);
  }
  assert.equal(j.skipped.map((s: { file: string; code: string }) => [s.file, s.code]), [[bad, 'E_MIDI_PARSE']]);
  assert.ok(r.err.includes('bad.mid'));
});

test('generate continues a primer by the asked bars, reproducibly, as a two-track MIDI file', async () => {
  const primer = join(POP909, '010', '010.mid');
  const run = (seed: number, out: string) => cli('generate', '--model', join(tmp, 'a'), '--primer', primer, '--primer-bars', '2', '--bars', '3', '--seed', String(seed), '--out', out, '--json', '--backend', 'wasm');
  const r1 = await run(9, join(tmp, 'g1.mid'));
  assert.is(r1.code, 0, r1.err);
  const j = JSON.parse(r1.out);
  assert.is(j.bars, 3);
  assert.ok(j.primerWords > 0 && j.words > 0);
  assert.is((await run(9, join(tmp, 'g2.mid'))).code, 0);
  assert.equal(await readFile(join(tmp, 'g1.mid')), await readFile(join(tmp, 'g2.mid')), 'the same seed gives the same file');
  const parsed = await readMidiFile(join(tmp, 'g1.mid'));
  const named = parsed.tracks.filter((t) => t.name); // the writer adds an unnamed conductor track for the tempo map
  assert.equal(named.map((t) => t.name), ['primer', 'antiphon']);
  assert.is(named[1].notes.length, j.notes);
  // 4/4 (the writer's meter): the primer fills bars 1-2, the continuation starts in bar 3 and ends by bar 5.
  const bar = parsed.ppq * 4;
  assert.ok(named[0].notes.every((n) => n.ticks < 2 * bar), 'the primer keeps to its two bars');
  assert.ok(named[1].notes.length > 0, 'the continuation has notes');
  assert.ok(named[1].notes.every((n) => n.ticks >= 2 * bar && n.ticks < 5 * bar), 'the continuation keeps to the three bars after the primer');
});

test('generate rejects bad sampler settings, naming them', async () => {
  const base = ['generate', '--model', join(tmp, 'a'), '--primer', join(POP909, '010', '010.mid'), '--out', join(tmp, 'x.mid')];
  let r = await cli(...base, '--top-p', 'pitch=2');
  assert.is(r.code, 1);
  assert.ok(r.err.includes('E_SAMPLER_SETTING') && r.err.includes('pitch.topP'), r.err);
  r = await cli(...base, '--temperature', 'melody=1');
  assert.is(r.code, 2);
  assert.ok(r.err.includes('melody'));
});

test.run();
