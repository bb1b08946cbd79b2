// Note-density balance: the bias that steers a continuation's notes per bar toward its primer's.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { densityBalanceFlag } from '../src/cli/family-flags.ts';
import { continueWords } from '../src/engine/continue.ts';
import { CPTransformer } from '../src/engine/model/transformer.ts';
import { DensityBalance, REFERENCE_BARS, withNoteBias } from '../src/engine/sampler/density-balance.ts';
import { Sampler } from '../src/engine/sampler/sampler.ts';
import { BAR, beatToken, CONTI, F, FAMILY_SIZES, TYPE, pitchToToken, type Word } from '../src/engine/vocab.ts';
import { engineBackend, tinyConfig } from './helpers/engine-setup.ts';

const bar: Word = [TYPE.METRICAL, BAR, CONTI, CONTI, -1, -1, -1];
const beat = (step: number): Word => [TYPE.METRICAL, beatToken(step), 10, 5, -1, -1, -1];
const note = (midi: number): Word => [TYPE.NOTE, -1, -1, -1, pitchToToken(midi), 3, 20];

/** `bars` bars with `perBar` notes each, one per beat from step 0. */
function bars(count: number, perBar: number): Word[] {
  const out: Word[] = [];
  for (let b = 0; b < count; b++) {
    out.push(bar);
    for (let k = 0; k < perBar; k++) out.push(beat(k % 16), note(60 + (k % 12)));
  }
  return out;
}

const notesOf = (ws: readonly Word[]) => ws.filter((w) => w[F.type] === TYPE.NOTE).length;

test.before(engineBackend);

test('the reference is the notes per bar of the last bars; with nothing generated there is no push', () => {
  const b = new DensityBalance(2);
  assert.is(b.bias(), 0, 'no reference, no bias');
  b.setReference([note(60), note(62)]);
  assert.is(b.reference, null, 'no Bar word: no bars to count');
  b.setReference([...bars(6, 1), ...bars(REFERENCE_BARS, 8)]);
  assert.is(b.reference, 8, 'only the last REFERENCE_BARS bars count');
  assert.ok(Math.abs(b.bias()) < 1e-12);
  assert.is(new DensityBalance(0).bias(), 0);
});

test('the bias adds notes while the continuation runs sparse, and holds back while it runs dense', () => {
  const sparse = new DensityBalance(2);
  sparse.setReference(bars(4, 8));
  for (const w of [...bars(2, 1), bar]) sparse.observe(w);
  assert.ok(sparse.bias() > 1, `two bars of one note against eight: ${sparse.bias()}`);
  const dense = new DensityBalance(2);
  dense.setReference(bars(4, 2));
  for (const w of bars(1, 12)) dense.observe(w);
  assert.ok(dense.bias() < -1, `twelve notes into the first bar against two a bar: ${dense.bias()}`);
  const twice = new DensityBalance(4);
  twice.setReference(bars(4, 2));
  for (const w of bars(1, 12)) twice.observe(w);
  assert.ok(Math.abs(twice.bias() - 2 * dense.bias()) < 1e-9, 'the bias scales with the strength');
});

test('withNoteBias moves only the note logit, on a copy', () => {
  const logits = { type: Float32Array.from([0.5, 1, 2]), given: {} } as never as Parameters<typeof withNoteBias>[0];
  const biased = withNoteBias(logits, 1.5);
  assert.equal([...biased.type], [0.5, 1, 3.5]);
  assert.equal([...logits.type], [0.5, 1, 2], 'the original is kept');
  assert.is(withNoteBias(logits, 0), logits);
});

test('a bad strength is refused by name, as a setting and as a flag', () => {
  for (const bad of [-1, 9, Number.NaN]) {
    assert.throws(() => new DensityBalance(bad), (e: Error & { code?: string }) => e.code === 'E_SAMPLER_SETTING' && /density balance/.test(e.message));
  }
  assert.is(densityBalanceFlag({}), 1, 'the default');
  assert.is(densityBalanceFlag({ 'density-balance': '0' }), 0);
  for (const bad of ['9', '-1', 'x', '']) {
    assert.throws(() => densityBalanceFlag({ 'density-balance': bad }), (e: Error & { code?: string }) => e.code === 'E_USAGE' && /--density-balance/.test(e.message));
  }
});

test("a continuation with the balance follows a dense primer up and a sparse one down; 0 changes nothing", () => {
  const model = CPTransformer.create(tinyConfig(), 8);
  const run = (primer: Word[], densityBalance?: number) =>
    continueWords(model, primer, new Sampler({ seed: 3 }), { bars: 8, maxWords: 600, densityBalance });
  const perBar = (ws: Word[]) => notesOf(ws) / Math.max(1, ws.filter((w) => w[F.type] === TYPE.METRICAL && w[F.barBeat] === BAR).length);
  const dense = bars(4, 12);
  const sparse = bars(4, 1);
  assert.equal(run(dense, 0), run(dense), 'strength 0 is the plain continuation');
  const [denseOff, denseOn] = [run(dense, 0), run(dense, 8)].map(perBar);
  const [sparseOff, sparseOn] = [run(sparse, 0), run(sparse, 8)].map(perBar);
  assert.ok(denseOn > denseOff + 1, `after 12 notes a bar: ${denseOn.toFixed(2)} notes a bar with the balance, ${denseOff.toFixed(2)} without`);
  assert.ok(sparseOn < sparseOff - 0.5, `after 1 note a bar: ${sparseOn.toFixed(2)} with, ${sparseOff.toFixed(2)} without`);
  model.dispose();
});

test.run();
