// Note-density balance: the bias that steers a continuation's notes per bar toward its primer's.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { densityBalanceFlag } from '../src/cli/family-flags.ts';
import { continueWords } from '../src/engine/continue.ts';
import { CPTransformer } from '../src/engine/model/transformer.ts';
import { Timeline } from '../src/engine/duet/timeline.ts';
import { DensityBalance, notesPerBarBefore, REFERENCE_BARS, withNoteBias } from '../src/engine/sampler/density-balance.ts';
import { Sampler } from '../src/engine/sampler/sampler.ts';
import { BAR, beatToken, CONTI, F, FAMILY_SIZES, TYPE, pitchToToken, type Word } from '../src/engine/vocab.ts';
import { DuetRig } from './helpers/duet.ts';
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

test('a part that starts mid-bar counts its time from there; a Bar word brings the rest of that bar', () => {
  const b = new DensityBalance(2);
  b.setRate(4, 8); // four notes a bar, starting at step 8 of the current bar
  assert.ok(Math.abs(b.bias()) < 1e-12, 'nothing has passed yet');
  b.observe(beat(12));
  b.observe(note(60));
  b.observe(note(64));
  // Two notes in a quarter of a bar is twice the reference's rate: hold back.
  assert.ok(b.bias() < 0, `two notes in four steps: ${b.bias()}`);
  const c = new DensityBalance(2);
  c.setRate(4, 8);
  c.observe(bar); // half a bar went by without a note
  assert.ok(c.bias() > 0, `half a bar of silence: ${c.bias()}`);
});

test('notes per bar before a step: the last bars, from the bar of the earliest note in them, one bar at least', () => {
  const at = 10 * 16;
  assert.is(notesPerBarBefore([], at), null);
  assert.is(notesPerBarBefore([0, 16, 32], at), null, 'only notes older than the window');
  // Eight notes in bar 9 alone: a one-bar call after a long silence is eight a bar, not two.
  assert.is(notesPerBarBefore([9 * 16, 9 * 16 + 2, 9 * 16 + 4, 9 * 16 + 6, 9 * 16 + 8, 9 * 16 + 10, 9 * 16 + 12, 9 * 16 + 14], at), 8);
  // Four notes from bar 6 to bar 9: over the four bars.
  assert.is(notesPerBarBefore([6 * 16 + 3, 7 * 16, 8 * 16, 9 * 16 + 15], at), 1);
  // Half a bar into bar 10, one note: over one bar at least.
  assert.is(notesPerBarBefore([at + 1], at + 8), 1);
  assert.is(notesPerBarBefore([at + 9], at + 8), null, 'notes at or after the step do not count');
});

test('the timeline keeps the steps of the latest notes, and a rollback takes them back', () => {
  const model = CPTransformer.create(tinyConfig(), 8);
  const t = new Timeline(model);
  t.append([bar, beat(0), note(60), beat(4), note(62), note(64)]);
  assert.equal([...t.recentNoteSteps], [0, 4, 4]);
  const m = t.mark();
  t.append([bar, beat(2), note(65)]);
  assert.equal([...t.recentNoteSteps], [0, 4, 4, 18]);
  assert.ok(t.rollback(m));
  assert.equal([...t.recentNoteSteps], [0, 4, 4]);
  t.dispose();
  model.dispose();
});

test('in a duet, the answer to a busy call has more notes with the balance than without, and to a sparse call fewer', () => {
  const model = CPTransformer.create(tinyConfig(), 8);
  // Two bars at 120 BPM from 1000 ms: sixteenths are 125 ms.
  const busy = Array.from({ length: 32 }, (_, i) => ({ at: 1000 + i * 125, dur: 100, note: 60 + ((i * 5) % 24) }));
  const sparse = [
    { at: 1000, dur: 900, note: 60 },
    { at: 3000, dur: 900, note: 67 },
  ];
  const answerNotes = (call: typeof busy, densityBalance: number) => {
    let total = 0;
    for (const seed of [1, 2, 3]) {
      const rig = new DuetRig(model, { seed, settings: { tempoSource: 'fixed', bpm: 120, densityBalance, maxBars: 2, minBars: 2 } });
      rig.play(call);
      rig.run();
      total += rig.of('noteon').length;
      rig.session.dispose();
    }
    return total;
  };
  const [busyOff, busyOn] = [answerNotes(busy, 0), answerNotes(busy, 8)];
  const [sparseOff, sparseOn] = [answerNotes(sparse, 0), answerNotes(sparse, 8)];
  assert.ok(busyOn > busyOff, `after 16 notes a bar: ${busyOn} answer notes with the balance, ${busyOff} without (three seeds)`);
  assert.ok(sparseOn < sparseOff, `after 1 note a bar: ${sparseOn} with, ${sparseOff} without`);
  model.dispose();
});

test.run();
