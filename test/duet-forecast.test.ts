// The forecast: words the person is expected to commit next, primed before they come. Real
// words that match it are kept with no model work; anything else is cut off, so the cache
// always holds exactly what it would have held without a forecast.
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs';
import { randomWords } from './helpers/engine-setup.ts';
import { worstDiff } from './helpers/logits.ts';
import { DuetRig, tinyModel, tinyModelSuite } from './helpers/duet.ts';
import { realisticCall } from '../bench/duet.ts';
import { Timeline } from '../src/engine/duet/timeline.ts';
import { ReleaseForecast, type StepOf } from '../src/engine/duet/release-forecast.ts';
import { FixedTempoGrid, LiveTokenizer } from '../src/engine/live-tokenizer.ts';
import type { NextWordLogits } from '../src/engine/model/transformer.ts';
import type { NoteEvent } from '../src/engine/note-events.ts';
import { F, TYPE, type Word } from '../src/engine/vocab.ts';

const { test, tiny } = tinyModelSuite('duet forecast');

const assertSameLogits = (a: NextWordLogits, b: NextWordLogits, what: string) =>
  assert.ok(worstDiff(a, b) < 1e-5, `${what}: the distributions differ by ${worstDiff(a, b)}`);

/** A timeline after `before`, with `forecast` primed, then `real` queued; and one that never had the forecast. */
function withForecast(before: Word[], forecast: Word[], real: Word[], slice = 3, cuts: number[] = []) {
  let calls = 0;
  const t = new Timeline(tiny.model, () => calls++);
  t.append(before);
  t.speculate(forecast, cuts);
  while (t.speculating) t.workForecast(slice);
  const callsBefore = calls;
  t.enqueue(real, { measure: true });
  const next = t.next!;
  const plain = new Timeline(tiny.model);
  plain.append([...before, ...real]);
  return { t, plain, next, callsAfter: calls - callsBefore };
}

test('real words that match the forecast are kept with no model call, and leave the cache as if primed', () => {
  const words = randomWords(40, 21);
  const { t, plain, next, callsAfter } = withForecast(words.slice(0, 20), words.slice(20, 30), words.slice(20, 30));
  assert.is(callsAfter, 0, 'no model call for forecast words');
  assert.is(t.forecastPrimed, 10);
  assert.is(t.forecastKept, 10);
  assert.equal(t.cache.words, plain.cache.words);
  assertSameLogits(next, plain.next!, 'kept forecast');
  assert.is(t.takeLatencies().length, 1, 'the run counts as ingested');
  assert.is(t.total, 30);
  t.dispose();
  plain.dispose();
});

test('a forecast that goes wrong is cut where it does, and the cache holds the real words only', () => {
  const words = randomWords(60, 22);
  const other = randomWords(20, 23);
  const before = words.slice(0, 20);
  const real = words.slice(20, 32);
  const cases: Array<[string, Word[], number, number, number[]]> = [
    ['wrong from word 5', [...real.slice(0, 5), ...other.slice(0, 7)], 5, 3, []],
    ['wrong from the first word', other.slice(0, 12), 0, 3, []],
    // The real words stop inside the forecast, where no distributions were kept: the last
    // kept word is primed again for them.
    ['longer than the real words', [...real, ...other.slice(0, 6)], real.length - 1, 64, []],
    // ...and where they were (a cut): nothing is primed again.
    ['longer, stopping at a cut', [...real, ...other.slice(0, 6)], real.length, 64, [real.length]],
    ['shorter than the real words', real.slice(0, 4), 4, 3, []],
  ];
  for (const [what, forecast, kept, slice, cuts] of cases) {
    const { t, plain, next } = withForecast(before, forecast, real, slice, cuts);
    assert.equal(t.cache.words, plain.cache.words, what);
    assertSameLogits(next, plain.next!, what);
    assert.is(t.forecastKept, kept, `${what}: kept`);
    t.dispose();
    plain.dispose();
  }
});

test('a new forecast keeps what agrees with the old one in the cache, and primes the rest', () => {
  const words = randomWords(50, 24);
  const other = randomWords(10, 25);
  const t = new Timeline(tiny.model);
  t.append(words.slice(0, 10));
  t.speculate(words.slice(10, 20));
  while (t.speculating) t.workForecast();
  t.speculate([...words.slice(10, 16), ...other.slice(0, 3)]);
  assert.is(t.speculating, 3, 'six words agree and stay');
  assert.is(t.cache.length, 16);
  // A strict prefix of what is primed: its last word is primed again, for its logits.
  t.speculate(words.slice(10, 14));
  assert.is(t.speculating, 1);
  while (t.speculating) t.workForecast();
  assert.is(t.length, 10, 'the forecast is not counted as real words');
  t.enqueue(words.slice(10, 14));
  const plain = new Timeline(tiny.model);
  plain.append(words.slice(0, 14));
  assert.equal(t.cache.words, plain.cache.words);
  assertSameLogits(t.next!, plain.next!, 'after a shrunk forecast');
  t.dispose();
  plain.dispose();
});

test('a forecast that fills the window slides it where the real words would have; kept, the cache is the same', () => {
  const words = randomWords(270, 27);
  const { t, plain, next } = withForecast(words.slice(0, 250), words.slice(250, 262), words.slice(250, 262));
  assert.is(t.forecastPrimed, 12);
  assert.is(t.forecastKept, 12);
  assert.is(t.cache.slides, 1, 'the forecast slid the window');
  assert.is(plain.cache.slides, 1);
  assert.equal(t.cache.words, plain.cache.words);
  assertSameLogits(next, plain.next!, 'after the slide');
  t.dispose();
  plain.dispose();
});

test('a mark is taken after the real words; a rollback drops the forecast too', () => {
  const words = randomWords(40, 26);
  const t = new Timeline(tiny.model);
  t.append(words.slice(0, 10));
  t.speculate(words.slice(10, 18));
  t.workForecast();
  const m = t.mark();
  assert.is(m.length, 10);
  assert.is(t.cache.length, 18, 'the forecast stays through a mark');
  t.enqueue(words.slice(10, 14));
  t.settle();
  assert.ok(t.rollback(m));
  assert.is(t.cache.length, 10);
  assert.is(t.speculating, 0);
  assert.is(t.total, 10);
  t.dispose();
});

test('predict() names the words a pedal change on the guessed step commits, and changes nothing', () => {
  // At 125 BPM one tick is one millisecond; a step is 120 ms, a bar 1,920 ms.
  const grid = () => new FixedTempoGrid(125);
  const bar: NoteEvent[] = [{ type: 'cc', time: 0, controller: 64, value: 127 }];
  const notes = [60, 64, 67, 72, 71, 69, 65, 62];
  notes.forEach((note, i) => {
    bar.push({ type: 'noteon', time: 10 + i * 240, note, velocity: 70 + i }, { type: 'noteoff', time: 10 + i * 240 + 100, note });
  });
  const asked = new LiveTokenizer(grid());
  const twin = new LiveTokenizer(grid());
  const predicted: Word[][] = [];
  for (const e of bar) {
    assert.equal(asked.push(e), twin.push(e));
    predicted.push(asked.predict(16, 16).words);
  }
  assert.is(asked.heldNotes, notes.length, 'the pedal keeps every note sounding');
  // The pedal comes up 20 ms before the bar line: step 16.
  const up: NoteEvent = { type: 'cc', time: 1900, controller: 64, value: 0 };
  const real = asked.push(up);
  assert.equal(real, twin.push(up), 'asking changed nothing');
  assert.ok(real.filter((w) => w[F.type] === TYPE.NOTE).length === notes.length);
  assert.equal(predicted[predicted.length - 1], real, 'the forecast made after the last note is the commit');
  assert.equal(asked.predict(16, 16).words, [], 'nothing left to forecast up to the bar line');
  const after = asked.predict(32, 32);
  assert.ok(after.words.length > 0 && after.words.every((w) => w[F.type] !== TYPE.NOTE), 'an empty bar after it');
  assert.equal(after.cuts.length, 2, 'two chord windows');
});

test('the release guess follows the pedal rhythm: bar lines first, then the person\'s', () => {
  // A grid of 100 ms steps, and the same grid shifted by 3 steps (a later segment).
  const grid: StepOf = (ms) => Math.floor(ms / 100 + 0.5);
  const shifted: StepOf = (ms) => grid(ms) + 3;
  const f = new ReleaseForecast();
  assert.is(f.releaseStep(300, grid, true, 5), 16, 'the next bar line');
  assert.is(f.releaseStep(300, grid, false, 5), 3, 'no pedal: held keys come up now');
  // Legato pedalling on every half bar, a step after the chord.
  f.pedalUp(900, grid);
  f.pedalUp(1700, grid);
  assert.is(f.releaseStep(2000, grid, true, 24), 25);
  assert.is(f.releaseStep(1900, grid, true, 17), 25);
  assert.is(f.releaseStep(1900, shifted, true, 20), 28, 'the phase is read on the current grid');
  // Past a missed change: now, for a few steps; then the next one.
  f.pedalUp(3200, grid);
  assert.is(f.releaseStep(4500, grid, true, 44), 48, 'a bar gap: bar lines');
  assert.is(f.releaseStep(5000, grid, true, 44), 50, 'two steps late: now');
  assert.is(f.releaseStep(5500, grid, true, 44), 64, 'far past it: the next');
});

test('a pedalled duet with the forecast hears and answers exactly what one without it does, and frees its tensors', () => {
  const before = tf.memory().numTensors;
  const run = (forecast: boolean) => {
    // A window that holds the whole duet: a forecast cut short after it slid the window would
    // leave the window slid a few words early, and the contexts would differ from there on.
    const rig = new DuetRig(model, { seed: 4, forecast, settings: { tempoSource: 'fixed', bpm: 96, minBars: 2, maxBars: 2 } });
    // Four calls and their answers.
    for (let c = 0; c < 4; c++) for (const e of realisticCall(1000 + c * 24000, 96, c)) rig.event(e.time, e);
    rig.run();
    const s = rig.session.stats;
    return { rig, words: rig.session['timeline'].cache.words as Word[], notes: rig.of('noteon').map((n) => [n.note, n.time]), s, slides: rig.session['timeline'].cache.slides as number };
  };
  const model = tinyModel(3, 1024);
  const on = run(true);
  const off = run(false);
  assert.is(on.slides, 0);
  assert.equal(on.words, off.words, 'the same words in the cache');
  assert.ok(on.notes.length > 0, 'answers');
  assert.equal(on.notes, off.notes, 'the same answers');
  assert.is(off.s.forecastPrimed, 0);
  assert.ok(on.s.forecastKept > 0.6 * on.s.wordsPlayed, `most of the person's words were forecast (${on.s.forecastKept} of ${on.s.wordsPlayed})`);
  on.rig.session.dispose();
  off.rig.session.dispose();
  model.dispose();
  assert.is(tf.memory().numTensors, before);
});

test.run();
