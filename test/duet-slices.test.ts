// Sliced model work while listening: queued words reach the cache in slices, each its own
// scheduler task, with the same results as one batched call; a preparation cut short by the
// person playing on is taken back exactly.
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs';
import { randomWords } from './helpers/engine-setup.ts';
import { worstDiff } from './helpers/logits.ts';
import { DuetRig, scaleCall, tinyModelSuite } from './helpers/duet.ts';
import { Timeline } from '../src/engine/duet/timeline.ts';
import { F } from '../src/engine/vocab.ts';

const { test, tiny } = tinyModelSuite('duet slices');

const FIXED = { tempoSource: 'fixed' as const, bpm: 120 };

test('words worked in slices reach the cache as one batched append would put them', () => {
  const words = randomWords(40, 11);
  const whole = new Timeline(tiny.model);
  whole.append(words);
  const sliced = new Timeline(tiny.model);
  sliced.enqueue(words.slice(0, 25), { measure: true });
  sliced.enqueue(words.slice(25), { measure: true });
  assert.is(sliced.pending, 40);
  assert.is(sliced.total, 40, 'the queue counts in the total');
  assert.is(sliced.cache.length, 0);
  const finished: number[] = [];
  let calls = 0;
  while (sliced.pending) {
    sliced.work(7);
    finished.push(...sliced.takeLatencies());
    calls++;
  }
  assert.is(calls, 6, '40 words in slices of 7');
  assert.is(finished.length, 2, 'one latency per queued run');
  assert.equal(sliced.cache.words, whole.cache.words);
  assert.ok(worstDiff(whole.next!, sliced.next!) < 1e-4, 'the distributions differ');
  whole.dispose();
  sliced.dispose();
});

test('reading the next distributions or taking a mark settles the queue; a rollback drops queued words', () => {
  const words = randomWords(30, 12);
  const t = new Timeline(tiny.model);
  t.append(words.slice(0, 10));
  const m = t.mark();
  const grammarBar = t.grammar.bar;
  t.enqueue(words.slice(10, 20));
  assert.is(t.pending, 10);
  assert.ok(t.rollback(m));
  assert.is(t.pending, 0);
  assert.is(t.total, 10);
  assert.is(t.cache.length, 10);
  assert.is(t.grammar.bar, grammarBar);
  t.enqueue(words.slice(10, 20));
  assert.ok(t.next, 'distributions after the queued words');
  assert.is(t.pending, 0);
  assert.is(t.cache.length, 20);
  t.enqueue(words.slice(20));
  t.mark();
  assert.is(t.pending, 0);
  assert.is(t.cache.length, 30);
  t.dispose();
});

test('a pedalled bar is put in the cache in slices, each a task of its own, and answered as an unsliced session answers', () => {
  const run = (slice: number) => {
    // No forecast: this is about the slices the real words are worked in.
    const rig = new DuetRig(tiny.model, { seed: 2, settings: { ...FIXED, minBars: 2 }, workSliceWords: slice, forecast: false });
    rig.event(900, { type: 'cc', controller: 64, value: 127, channel: 0 });
    rig.play(scaleCall(1000, 16, 125));
    let behind = -1;
    let total = -1;
    rig.at(4000, () => {
      rig.session.push({ type: 'cc', controller: 64, value: 0, channel: 0, time: rig.scheduler.now() });
      behind = rig.session.totalWords - rig.session.contextWords;
      total = rig.session.totalWords;
    });
    rig.run();
    return { rig, behind, total };
  };
  const sliced = run(2);
  const whole = run(64);
  assert.ok(sliced.total > 16, `the pedal-up makes the bar's words final (${sliced.total})`);
  assert.ok(sliced.behind >= sliced.total - 2 - 1, `after the first slice most words wait their turn (${sliced.behind} of ${sliced.total})`);
  assert.is(whole.behind, 0, 'an unsliced session takes them in one call');
  const s = sliced.rig.session.stats;
  assert.ok(s.blockMs.length >= Math.ceil(sliced.total / 2), 'one block per slice');
  const played = (r: DuetRig) => (r.session['timeline'].cache.words as number[][]).slice(0, r.session.stats.wordsPlayed);
  assert.equal(played(sliced.rig), played(whole.rig), 'the same call words in the cache');
  const notes = (r: DuetRig) => r.of('noteon').map((n) => [n.note, n.time]);
  assert.ok(notes(sliced.rig).length > 0, 'an answer');
  assert.equal(notes(sliced.rig), notes(whole.rig), 'the same answer');
  sliced.rig.session.dispose();
  whole.rig.session.dispose();
});

test('the person plays on while the preparation is still in slices: it is taken back exactly, and nothing leaks', () => {
  const before = tf.memory().numTensors;
  const CALL_END = 1000 + 3 * 250 + 200;
  const prepareAt = CALL_END + 600 * 0.25;
  const rig = new DuetRig(tiny.model, { settings: FIXED, workSliceWords: 1 });
  rig.play(scaleCall(1000, 4));
  // Scheduled after the preparation's timer and before its later slices, at the same instant.
  rig.at(prepareAt - 1, () => rig.at(prepareAt, () => rig.session.push({ type: 'noteon', note: 72, velocity: 80, channel: 0, time: rig.scheduler.now() })));
  rig.event(prepareAt + 200, { type: 'noteoff', note: 72, channel: 0 });
  rig.run();
  assert.is(rig.session.stats.rollbacks, 1);
  const plain = new DuetRig(tiny.model, { settings: { ...FIXED, silenceMs: 2000 } });
  plain.play(scaleCall(1000, 4));
  plain.event(prepareAt, { type: 'noteon', note: 72, velocity: 80, channel: 0 });
  plain.event(prepareAt + 200, { type: 'noteoff', note: 72, channel: 0 });
  plain.run();
  const played = (r: DuetRig) => (r.session['timeline'].cache.words as number[][]).slice(0, r.session.stats.wordsPlayed);
  assert.equal(played(rig), played(plain), 'the same call words, nothing of the abandoned answer');
  assert.ok(played(rig).some((w) => w[F.pitch] !== undefined));
  assert.is(rig.of('state').filter((s) => s.turn === 'answering').length, 1, 'answered once, after the whole phrase');
  rig.session.dispose();
  plain.session.dispose();
  assert.is(tf.memory().numTensors, before);
});

test('workSliceWords is checked', () => {
  assert.throws(() => new DuetRig(tiny.model, { workSliceWords: 0 }), /workSliceWords/);
  assert.throws(() => new DuetRig(tiny.model, { workSliceWords: 2.5 }), /workSliceWords/);
});

test.run();
