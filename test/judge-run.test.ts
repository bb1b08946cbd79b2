import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli } from './helpers/cli.ts';
import { POP909 } from './helpers/data.ts';
import { engineBackend, tinyConfig } from './helpers/engine-setup.ts';
import { saveModel } from '../src/engine/model/checkpoint.ts';
import { CPTransformer } from '../src/engine/model/transformer.ts';
import { buildDataset } from '../src/trainer/dataset-build.ts';
import { splitSongs } from '../src/trainer/batches.ts';
import { readTokenStore, type StoreIndex } from '../src/trainer/token-store.ts';

let tmp = '';
let store = '';
let checkpoints = '';
let index: StoreIndex;

const MEASURES = ['pitchClass', 'onset', 'density', 'notesPerBar', 'inKey', 'distinct4', 'harmonyRepeat'];

async function tinyModel(dir: string, seed: number, notes?: string): Promise<void> {
  // A window of 512 words holds a song's four judged bars, so contextUse measures every song.
  const model = CPTransformer.create(tinyConfig({ contextLength: 512 }), seed);
  await saveModel(model, dir, { name: 'tiny', dataSources: ['pop909'], trainingSteps: seed, metrics: {}, date: new Date(0).toISOString(), ...(notes ? { notes } : {}) });
  model.dispose();
}

test.before(async () => {
  await engineBackend();
  tmp = await mkdtemp(join(tmpdir(), 'antiphon-judge-'));
  store = join(tmp, 'store');
  await buildDataset({ data: ['001', '002', '003', '004'].map((s) => join(POP909, s)), out: store });
  index = (await readTokenStore(store)).index;
  checkpoints = join(tmp, 'run', 'checkpoints');
  await tinyModel(join(checkpoints, 'step-0000002'), 2);
  await tinyModel(join(checkpoints, 'step-0000001'), 1);
});
test.after(async () => {
  await rm(tmp, { recursive: true, force: true });
});

const common = ['--data', '', '--songs', '3', '--primer-bars', '2', '--bars', '2', '--backend', 'wasm', '--seed', '4'];
const args = (...extra: string[]) => ['judge', ...common.map((a) => (a === '' ? store : a)), ...extra];
const withoutTimes = (json: string) => JSON.stringify(JSON.parse(json, (k, v) => (k === 'seconds' ? 0 : v)));

test('judge --json over a checkpoints folder: every model, the two peers, the documented shape', async () => {
  const r = await cli(...args('--model', checkpoints, '--val-fraction', '1', '--json'));
  assert.is(r.code, 0, r.err);
  const j = JSON.parse(r.out);
  assert.equal(Object.keys(j).sort(), ['bars', 'data', 'densityBalance', 'markovOrder', 'maxWords', 'pitchBalance', 'primerBars', 'reference', 'sampling', 'seed', 'songs', 'split', 'systems'].sort());
  assert.equal(j.split, { valFraction: 1, valFractionFrom: 'option', validationSongs: index.songs.length, eligible: j.split.eligible, skipped: j.split.skipped });
  assert.is(j.split.eligible + j.split.skipped.tooShort + j.split.skipped.silentReference, index.songs.length);
  assert.is(j.songs.judged, 3);
  assert.is(j.songs.list.length, 3);
  for (const s of j.songs.list) assert.ok(index.songs.some((x) => x.file === s.file && x.source === s.source) && /^[A-G]#? (major|minor)$/.test(s.key), JSON.stringify(s));
  assert.equal([j.primerBars, j.bars, j.seed, j.maxWords, j.markovOrder], [2, 2, 4, 256, 4]);
  assert.is(j.sampling.pitch.temperature, 1);
  assert.equal(j.systems.map((s: { name: string }) => s.name), ['step-0000001', 'step-0000002', 'echo', 'markov']);
  assert.equal(j.systems.map((s: { kind: string }) => s.kind), ['model', 'model', 'echo', 'markov']);
  assert.is(j.systems[0].trainingSteps, 1);
  for (const s of j.systems) {
    assert.equal(Object.keys(s.measures).sort(), [...MEASURES].sort());
    for (const m of ['pitchClass', 'onset', 'density', 'notesPerBar']) {
      const st = s.measures[m];
      assert.is(st.n, 3, `${s.name} ${m}`);
      assert.ok(st.ci95[0] <= st.mean + 1e-12 && st.mean <= st.ci95[1] + 1e-12 && st.std >= 0, `${s.name} ${m}: ${JSON.stringify(st)}`);
    }
    for (const m of ['pitchClass', 'onset']) assert.ok(s.measures[m].mean >= 0 && s.measures[m].mean <= 1);
    if (s.kind === 'model') {
      assert.equal(Object.keys(s.vsMarkov).sort(), ['onset', 'pitchClass']);
      const markov = j.systems.find((x: { name: string }) => x.name === 'markov');
      for (const k of ['pitchClass', 'onset']) {
        assert.is(s.vsMarkov[k].beats, s.measures[k].mean < markov.measures[k].mean);
        assert.ok(Math.abs(s.vsMarkov[k].difference.mean - (s.measures[k].mean - markov.measures[k].mean)) < 1e-9);
      }
      assert.type(s.hitMaxWords, 'number');
      const u = s.contextUse;
      assert.is(u.songs, 3);
      assert.ok(u.words > 0);
      for (const k of ['nllPerWord', 'pitch', 'chord']) {
        assert.ok(u[k].full > 0 && u[k].lastBar > 0, `${s.name} ${k}: ${JSON.stringify(u[k])}`);
        assert.ok(Math.abs(u[k].gain - (u[k].lastBar - u[k].full)) < 1e-9);
      }
      // The primer has two bars here, so its last bar alone is less context than all of it.
      assert.ok(Math.abs(u.nllPerWord.gain) > 1e-6, 'the two contexts give different predictions');
    } else assert.is(s.vsMarkov, undefined);
  }
  // the echo of a song's bars 0-1 is judged against its bars 2-3; the reference has its own density
  assert.ok(j.reference.notesPerBar.mean > 0);
  assert.equal(Object.keys(j.reference).sort(), ['distinct4', 'harmonyRepeat', 'inKey', 'notesPerBar']);
  // real pop songs come back to their harmony: some of bars 2-3's chords have the roots of bars 0-1's
  assert.ok(j.reference.harmonyRepeat.mean > 0 && j.reference.harmonyRepeat.mean <= 1, JSON.stringify(j.reference.harmonyRepeat));
  // the same seed gives the same report
  const again = await cli(...args('--model', checkpoints, '--val-fraction', '1', '--json'));
  assert.is(withoutTimes(again.out), withoutTimes(r.out));
});

test('judge reads the split from the model card and judges only its validation songs', async () => {
  // a fraction that puts some songs on each side of the split
  const fraction = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9].find((f) => {
    const s = splitSongs(index, f);
    return s.val.length > 0 && s.train.length > 0;
  });
  assert.ok(fraction !== undefined);
  const val = splitSongs(index, fraction).val.map((i) => index.songs[i].file);
  const dir = join(tmp, 'carded');
  await tinyModel(dir, 3, `${index.songs.length} songs; whole-song split by name hash, ${val.length} held out for validation (fraction ${fraction}); seed 1.`);
  const r = await cli(...args('--model', dir, '--json', '--songs', '10'));
  assert.is(r.code, 0, r.err);
  const j = JSON.parse(r.out);
  assert.is(j.split.valFractionFrom, 'model card');
  assert.is(j.split.valFraction, fraction);
  assert.is(j.split.validationSongs, val.length);
  assert.ok(j.songs.judged >= 1 && j.songs.judged <= val.length);
  for (const s of j.songs.list) assert.ok(val.includes(s.file), `${s.file} was trained on`);
});

test('judge prints a table with the reference, each system and the verdict against the Markov peer', async () => {
  const r = await cli(...args('--model', join(checkpoints, 'step-0000001'), '--val-fraction', '1', '--temperature', 'pitch=0.5'));
  assert.is(r.code, 0, r.err);
  const lines = r.out.split('\n');
  assert.ok(lines[0].startsWith(`3 of ${index.songs.length} validation songs (fraction 1, from the option)`), lines[0]);
  for (const name of ['reference', 'step-0000001', 'echo', 'markov']) assert.ok(lines.some((l) => l.startsWith(`${name} `)), `no ${name} row`);
  assert.ok(/step-0000001 vs markov .*pitch classes (BEATS|does not beat).*onsets (BEATS|does not beat)/.test(r.out), r.out);
  assert.ok(r.err.includes('judge: 3/3'), 'plain progress lines off a terminal');
});

test('judge fails with a code: no data, a bad flag, no validation songs, no model', async () => {
  let r = await cli('judge', '--model', checkpoints);
  assert.is(r.code, 2);
  assert.ok(r.err.includes('E_USAGE'));
  r = await cli(...args('--model', checkpoints, '--temperature', 'pitch'));
  assert.is(r.code, 2);
  assert.ok(r.err.includes('E_USAGE'));
  r = await cli(...args('--model', checkpoints, '--top-p', 'pitch=1.5'));
  assert.is(r.code, 1);
  assert.ok(r.err.includes('E_SAMPLER_SETTING'));
  r = await cli(...args('--model', checkpoints, '--val-fraction', '0.000000001'));
  assert.is(r.code, 1);
  assert.ok(r.err.includes('E_DATASET'), r.err);
  r = await cli(...args('--model', join(tmp, 'nothing-here')));
  assert.is(r.code, 1);
  assert.ok(r.err.includes('E_MODEL_MISSING'), r.err);
});

test.run();
