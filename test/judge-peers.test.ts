import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { ScoreNote } from '../src/engine/score.ts';
import { Prng } from '../src/engine/sampler/prng.ts';
import { echoContinuation } from '../src/trainer/judge/echo.ts';
import { markovContinuation, primerEvents } from '../src/trainer/judge/markov.ts';

const note = (step: number, pitch: number, duration = 3, velocity = 20): ScoreNote => ({ step, pitch, duration, velocity });
const inBar = (notes: ScoreNote[], bar: number) => notes.filter((n) => Math.floor(n.step / 16) === bar).map((n) => ({ ...n, step: n.step % 16 }));

/** Four different bars: bar b holds pitch 60 + b on steps 0 and 8, and a chord on step 4. */
const fourBars: ScoreNote[] = [0, 1, 2, 3].flatMap((b) => [note(b * 16, 60 + b), note(b * 16 + 4, 48 + b), note(b * 16 + 4, 52 + b), note(b * 16 + 8, 60 + b, 5, 30)]);

test('echo repeats the primer\'s last M bars exactly, in order', () => {
  const out = echoContinuation(fourBars, 4, 2);
  assert.is(out.length, 8);
  assert.equal(inBar(out, 4), inBar(fourBars, 2));
  assert.equal(inBar(out, 5), inBar(fourBars, 3));
  assert.ok(out.every((n) => n.step >= 64 && n.step < 96));
});

test('echo cycles the whole primer when asked for more bars than it has', () => {
  const out = echoContinuation(fourBars, 4, 6);
  for (const [bar, src] of [[4, 0], [5, 1], [6, 2], [7, 3], [8, 0], [9, 1]]) assert.equal(inBar(out, bar), inBar(fourBars, src), `bar ${bar}`);
  assert.equal(echoContinuation([], 4, 4), []);
  // a silent last bar is echoed as silence
  assert.equal(echoContinuation(fourBars.filter((n) => n.step < 48), 4, 1), []);
});

test('primer events group notes by onset; the same pitch set is the same symbol', () => {
  const ev = primerEvents([note(4, 64), note(0, 60), note(4, 60), note(8, 60), note(12, 64), note(12, 60)]);
  assert.equal(ev.map((e) => e.step), [0, 4, 8, 12]);
  assert.equal(ev.map((e) => e.symbol), [0, 1, 0, 1]);
  assert.equal(ev[1].notes.map((n) => n.pitch), [60, 64]);
});

test('Markov: with one choice at every step it continues the primer\'s pattern exactly, whatever the seed', () => {
  // C D E F on the beats, with its own durations and velocities, for four bars: each event has one successor
  const bar = (b: number) => [note(b * 16, 60, 4, 10), note(b * 16 + 4, 62, 2, 11), note(b * 16 + 8, 64, 3, 12), note(b * 16 + 12, 65, 1, 13)];
  const primer = [0, 1, 2, 3].flatMap(bar);
  const expected = [4, 5].flatMap(bar);
  for (const seed of [1, 2, 3, 99]) {
    assert.equal(markovContinuation(primer, { order: 4, seed, fromStep: 64, toStep: 96 }), expected, `seed ${seed}`);
  }
  // a lower order sees the same single choice
  assert.equal(markovContinuation(primer, { order: 1, seed: 5, fromStep: 64, toStep: 96 }), expected);
});

test('Markov: keeps the rhythm of what it copies, and stops at the end of the judged bars', () => {
  // a dotted figure: onsets 0, 6, 8, 14 per bar, so gaps 6, 2, 6, 2
  const bar = (b: number) => [0, 6, 8, 14].map((s, i) => note(b * 16 + s, 60 + i * 2));
  const out = markovContinuation([0, 1].flatMap(bar), { order: 4, seed: 1, fromStep: 32, toStep: 48 });
  assert.equal(out.map((n) => n.step), [32, 38, 40, 46]);
  assert.ok(out.every((n) => n.step < 48));
});

test('Markov: seeded, so the same seed gives the same notes and other seeds differ', () => {
  const rng = new Prng(3);
  const primer: ScoreNote[] = [];
  for (let step = 0; step < 64; step += 1 + Math.floor(rng.next() * 3)) primer.push(note(step, 60 + Math.floor(rng.next() * 3)));
  const run = (seed: number) => markovContinuation(primer, { order: 2, seed, fromStep: 64, toStep: 128 });
  const a = run(7);
  assert.ok(a.length > 10);
  assert.equal(run(7), a);
  assert.ok([8, 9, 10, 11].some((s) => JSON.stringify(run(s)) !== JSON.stringify(a)), 'other seeds change the continuation');
  // everything it plays is a primer pitch, on the grid, inside the judged bars
  const pitches = new Set(primer.map((n) => n.pitch));
  assert.ok(a.every((n) => pitches.has(n.pitch) && Number.isInteger(n.step) && n.step >= 64 && n.step < 128));
});

test('Markov: backs off to order 0 when the last event was never followed, and an empty primer gives nothing', () => {
  // the last event (pitch 70) occurs only at the end, so no context matches; order 0 picks any event
  const primer = [note(0, 60), note(4, 62), note(8, 64), note(12, 70)];
  const out = markovContinuation(primer, { order: 4, seed: 2, fromStep: 16, toStep: 64 });
  assert.ok(out.length > 0);
  assert.ok(out.every((n) => [60, 62, 64, 70].includes(n.pitch)));
  assert.equal(markovContinuation([], { order: 4, seed: 1, fromStep: 0, toStep: 64 }), []);
});

test.run();
