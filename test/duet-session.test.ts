// The live duet in virtual time: phrase ends, pauses, the pedal, barge-in, look-ahead, late
// answers, note-off guarantees and memory.
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs';
import { DuetRig, scaleCall, type Emitted, tinyModelSuite } from './helpers/duet.ts';
import { DURATION_STEPS, F, TYPE } from '../src/engine/vocab.ts';

const { test, tiny } = tinyModelSuite('duet session');

const FIXED = { tempoSource: 'fixed' as const, bpm: 120 };
const CALL_END = 1000 + 7 * 250 + 200; // last note-off of scaleCall(1000)

/** Every note-on is followed by a note-off of the same note and channel, and none is left open. */
function assertBalanced(outs: Emitted[]): void {
  const open = new Map<string, number>();
  for (const o of outs) {
    if (o.type === 'noteon') {
      const k = `${o.channel}:${o.note}`;
      assert.not.ok(open.has(k), `note ${k} switched on twice without a note-off`);
      open.set(k, o.time);
    } else if (o.type === 'noteoff') open.delete(`${o.channel}:${o.note}`);
  }
  assert.equal([...open.keys()], [], 'notes left sounding');
}

test('a call is answered after the silence threshold, on the call grid, every note handed out a look-ahead early', () => {
  const rig = new DuetRig(tiny.model, { seed: 2, settings: { ...FIXED, lookaheadMs: 80 } });
  rig.play(scaleCall(1000));
  rig.run();
  const states = rig.of('state');
  assert.equal(states.map((s) => s.turn), ['answering', 'listening']);
  assert.is(states[0].at, CALL_END + 600, 'the answer starts when the silence threshold runs out');
  const ons = rig.of('noteon');
  assert.ok(ons.length > 0, 'the answer has notes');
  for (const n of ons) {
    assert.ok(n.time >= CALL_END + 600, 'no AI note before the phrase ended');
    assert.is(n.time - n.at, 80, 'handed out exactly the look-ahead before its time');
    // 120 BPM from the first note at 1000 ms: sixteenths every 125 ms.
    assert.ok(Math.abs(((n.time - 1000) / 125) % 1) < 1e-6, `note at ${n.time} is on the call's grid`);
  }
  // A 2-bar call gets at most a 2-bar answer (bars of 2000 ms from the grid).
  assert.ok(ons.every((n) => n.time < 1000 + 3 * 2000 + 1), 'the answer keeps to the call length in bars');
  assertBalanced(rig.outputs);
  rig.session.dispose();
});

test('the same seed gives the same answer; another seed another one', () => {
  const notes = (seed: number) => {
    const rig = new DuetRig(tiny.model, { seed, settings: FIXED });
    rig.play(scaleCall(1000));
    rig.run();
    rig.session.dispose();
    return rig.of('noteon').map((o) => [o.note, o.velocity, o.time]);
  };
  const a = notes(11);
  assert.ok(a.length > 0);
  assert.equal(notes(11), a);
  const others = [12, 13, 14].map(notes);
  assert.ok(others.some((o) => JSON.stringify(o) !== JSON.stringify(a)), 'other seeds differ');
});

test('a pause shorter than the threshold does not end the phrase; its speculative answer is taken back exactly', () => {
  const rig = new DuetRig(tiny.model, { settings: FIXED });
  rig.play(scaleCall(1000, 4));
  rig.play(scaleCall(1000 + 4 * 250 + 400, 4)); // a 450 ms gap (the last note-off to the next note-on)
  rig.run();
  assert.is(rig.of('state')[0].at, 1000 + 4 * 250 + 400 + 3 * 250 + 200 + 600, 'one answer, after the whole phrase');
  assert.is(rig.of('state').filter((s) => s.turn === 'answering').length, 1);
  assert.is(rig.session.stats.rollbacks, 1, 'the answer prepared in the pause was taken back');

  // A session that never speculated in the pause (its threshold is long) holds the same call words.
  const plain = new DuetRig(tiny.model, { settings: { ...FIXED, silenceMs: 2000 } });
  plain.play(scaleCall(1000, 4));
  plain.play(scaleCall(1000 + 4 * 250 + 400, 4));
  plain.run();
  assert.is(plain.session.stats.rollbacks, 0);
  const played = (r: DuetRig) => (r.session['timeline'].cache.words as number[][]).slice(0, r.session.stats.wordsPlayed);
  assert.is(rig.session.stats.wordsPlayed, plain.session.stats.wordsPlayed);
  assert.equal(played(rig), played(plain));
  rig.session.dispose();
  plain.session.dispose();
});

test('the sustain pedal holds the phrase open', () => {
  const rig = new DuetRig(tiny.model, { settings: FIXED });
  rig.event(900, { type: 'cc', controller: 64, value: 127, channel: 0 });
  rig.play(scaleCall(1000, 4));
  rig.event(5000, { type: 'cc', controller: 64, value: 0, channel: 0 });
  rig.run();
  assert.is(rig.of('state')[0].at, 5600, 'the answer waits for the pedal to come up, then the threshold');
  rig.session.dispose();
});

test('a pedal pressed before the first note lengthens the call\'s notes, as one pressed after it does', () => {
  const durations = (pedalAt: number) => {
    const rig = new DuetRig(tiny.model, { settings: FIXED });
    rig.event(pedalAt, { type: 'cc', controller: 64, value: 127, channel: 0 });
    rig.play(scaleCall(1000, 4));
    rig.event(3000, { type: 'cc', controller: 64, value: 0, channel: 0 });
    rig.run();
    const words = (rig.session['timeline'].cache.words as number[][]).slice(0, rig.session.stats.wordsPlayed);
    rig.session.dispose();
    return words.filter((w) => w[F.type] === TYPE.NOTE).map((w) => DURATION_STEPS[w[F.duration]]);
  };
  const before = durations(900);
  assert.equal(before, durations(1001), 'the same words either way');
  // The first note sounds from 1000 ms until the pedal lifts at 3000 ms: 16 steps at 120 BPM.
  assert.is(before[0], 16);
});

test('the hand-off controller ends the phrase at once', () => {
  const rig = new DuetRig(tiny.model, { settings: { ...FIXED, handoffController: 67 } });
  rig.play(scaleCall(1000, 4));
  rig.event(2500, { type: 'cc', controller: 67, value: 127, channel: 0 });
  rig.run();
  assert.is(rig.of('state')[0].at, 2500);
  assert.ok(rig.of('noteon').every((n) => n.time >= 2500));
  rig.session.dispose();
});

test('barge-in: the person plays over the answer; it stops at once, every AI note is switched off, the new notes are answered', () => {
  const rig = new DuetRig(tiny.model, { seed: 11, settings: { ...FIXED, minBars: 4 } });
  rig.play(scaleCall(1000));
  rig.run();
  const full = rig.of('noteon');
  rig.session.dispose();
  assert.ok(full.length >= 2, 'the reference answer has at least two notes');
  // Barge in just after the second AI note was handed out, while it is still in its look-ahead.
  const cutAt = full[1].at + 1;
  assert.ok(cutAt < full[1].time);

  const bi = new DuetRig(tiny.model, { seed: 11, settings: { ...FIXED, minBars: 4 } });
  bi.play(scaleCall(1000));
  bi.play([{ at: cutAt, dur: 200, note: 50 }]);
  bi.run();
  const turns = bi.of('state');
  assert.equal(turns.map((t) => t.turn), ['answering', 'listening', 'answering', 'listening']);
  assert.is(turns[1].at, cutAt, 'the answer stops the moment the person plays');
  const firstAnswerOns = bi.of('noteon').filter((n) => n.at < cutAt);
  const offsAtCut = bi.of('noteoff').filter((n) => n.at === cutAt);
  // Everything switched on before the cut and not yet off gets its note-off at the cut.
  for (const on of firstAnswerOns) {
    const off = bi.of('noteoff').find((o) => o.note === on.note && o.at >= on.at);
    assert.ok(off, `AI note ${on.note} got its note-off`);
  }
  const cancel = offsAtCut.find((o) => o.note === full[1].note);
  assert.ok(cancel && cancel.time < full[1].time, 'the note still in its look-ahead is cancelled: its note-off comes before its time');
  assert.ok(bi.of('noteon').every((n) => n.at <= cutAt || n.at >= turns[2].at), 'nothing from the first answer after the cut');
  assert.ok(turns[2].at >= cutAt + 200 + 600, 'the new call is answered after its own silence');
  assertBalanced(bi.outputs);
  bi.session.dispose();
});

test('a late answer moves to the next beat', () => {
  const on = (late: boolean) => {
    let lateNow = false;
    const rig: DuetRig = new DuetRig(tiny.model, {
      seed: 21,
      settings: { ...FIXED, handoffController: 67 },
      // While preparing after the hand-off, each model call takes 10 s of (virtual) time.
      onModelCall: () => {
        if (lateNow) rig.scheduler.frame += 10_000;
      },
    });
    rig.play(scaleCall(1000, 4));
    rig.at(2500, () => (lateNow = late));
    rig.event(2500, { type: 'cc', controller: 67, value: 127, channel: 0 });
    rig.at(2501, () => (lateNow = false));
    rig.run();
    rig.session.dispose();
    return rig.of('noteon');
  };
  const onTime = on(false);
  const late = on(true);
  assert.ok(onTime.length > 0);
  assert.is(late.length, onTime.length);
  const shift = late[0].time - onTime[0].time;
  assert.ok(shift > 0 && shift % 500 === 0, `shifted by whole beats (500 ms), got ${shift}`);
  late.forEach((n, i) => assert.is(n.time - onTime[i].time, shift, 'the whole answer moves together'));
  assert.ok(late[0].time >= late[0].at, 'the late first note is not in the past');
});

test('every AI note-on gets its note-off when the session is disposed mid-answer, and on an error', () => {
  const ref = new DuetRig(tiny.model, { seed: 11, settings: { ...FIXED, minBars: 4 } });
  ref.play(scaleCall(1000));
  ref.run();
  const firstOn = ref.of('noteon')[0];
  ref.session.dispose();

  const d = new DuetRig(tiny.model, { seed: 11, settings: { ...FIXED, minBars: 4 } });
  d.play(scaleCall(1000));
  d.at(firstOn.at + 1, () => d.session.dispose());
  d.run();
  assert.ok(d.of('noteon').length >= 1);
  assertBalanced(d.outputs);
  assert.ok(d.completed, 'output$ completes on dispose');

  let calls = 0;
  let armed = false;
  const e: DuetRig = new DuetRig(tiny.model, {
    seed: 11,
    settings: { ...FIXED, minBars: 4 },
    onModelCall: () => {
      if (armed && ++calls === 3) throw new Error('the model fell over');
    },
  });
  e.play(scaleCall(1000));
  e.at(firstOn.at + 1, () => (armed = true));
  e.run();
  assert.ok(e.of('error').some((o) => o.message.includes('fell over')), 'the error is reported');
  assert.ok(e.of('noteon').length >= 1);
  assertBalanced(e.outputs);
  assert.equal(e.turns().slice(-1), ['listening'], 'the session carries on listening');
  e.session.dispose();
});

test('garbage events are refused with an error and the session carries on; duplicates and stuck keys are survived', () => {
  const rig = new DuetRig(tiny.model, { settings: FIXED });
  rig.at(500, () => rig.session.push({ type: 'noteon', note: 200, velocity: 80, time: 500 } as never));
  rig.at(600, () => rig.session.push({ type: 'bogus', time: 600 } as never));
  rig.event(1000, { type: 'noteon', note: 60, velocity: 90 });
  rig.event(1100, { type: 'noteon', note: 60, velocity: 90 }); // stuck key: a re-strike
  rig.event(1200, { type: 'noteoff', note: 60 });
  rig.event(1200, { type: 'noteoff', note: 60 }); // duplicate
  rig.event(1300, { type: 'noteon', note: 64, velocity: 90 });
  rig.event(1500, { type: 'noteoff', note: 64 });
  // Out of order: stamped before the note-off that came ahead of it; handled as if it came then.
  rig.at(1510, () => rig.session.push({ type: 'noteon', note: 67, velocity: 90, time: 1400 }));
  rig.event(1520, { type: 'noteoff', note: 67 });
  rig.run();
  const errors = rig.of('error');
  assert.is(errors.length, 2);
  assert.ok(errors.every((e) => e.code === 'E_EVENT_INVALID'));
  assert.ok(errors[0].message.includes('note must be 0..127'));
  assert.equal(rig.turns(), ['answering', 'listening']);
  assert.is(rig.of('state')[0].at, 2120);
  const notes = (rig.session['timeline'].cache.words as number[][]).slice(0, rig.session.stats.wordsPlayed).filter((w) => w[0] === TYPE.NOTE);
  assert.is(notes.length, 4, 'the key, its re-strike (a new note 100 ms on), the next note and the late one');
  rig.session.dispose();
});

test('settings change while running; a bad value is refused and changes nothing', () => {
  const rig = new DuetRig(tiny.model, { settings: FIXED });
  assert.throws(() => rig.session.update({ silenceMs: -5 }), (e: { code: string }) => e.code === 'E_SETTING');
  assert.throws(() => rig.session.update({ sampling: { pitch: { topP: 2 } } }), (e: { code: string; message: string }) => e.code === 'E_SETTING' && /pitch\.topP/.test(e.message));
  assert.throws(() => rig.session.update({ minBars: 9, maxBars: 8 }), (e: { code: string }) => e.code === 'E_SETTING');
  assert.is(rig.session.settings.silenceMs, 600);
  rig.session.update({ silenceMs: 1500, aiChannel: 9, sampling: { pitch: { temperature: 0.5 } } });
  assert.is(rig.session.settings.sampling.pitch.temperature, 0.5);
  rig.play(scaleCall(1000, 4));
  rig.run();
  assert.is(rig.of('state')[0].at, 1000 + 3 * 250 + 200 + 1500);
  assert.ok(rig.of('noteon').every((n) => n.channel === 9));
  rig.session.dispose();
});

test('a disposed session frees every tensor it made, and sessions share only the weights', () => {
  const before = tf.memory().numTensors;
  const a = new DuetRig(tiny.model, { settings: FIXED });
  const b = new DuetRig(tiny.model, { settings: FIXED, seed: 99 });
  a.play(scaleCall(1000));
  b.play(scaleCall(1000, 3));
  a.run();
  b.run();
  assert.ok(tf.memory().numTensors > before, 'the caches hold tensors while the sessions live');
  assert.is.not(a.session.contextWords, b.session.contextWords, 'separate contexts');
  a.session.dispose();
  b.session.dispose();
  assert.is(tf.memory().numTensors, before);
  assert.throws(() => a.session.update({ silenceMs: 700 }), (e: { code: string }) => e.code === 'E_SESSION_CLOSED');
});

test('both parts go into the context: the person streams in as they play, the AI as it answers', () => {
  const rig = new DuetRig(tiny.model, { settings: FIXED });
  rig.play(scaleCall(1000));
  rig.run(2600); // mid-call, before the silence
  const mid = rig.session.contextWords;
  assert.ok(mid > 0, 'words are committed while the person plays');
  rig.run();
  const words = rig.session['timeline'].cache.words as number[][];
  const notes = words.filter((w) => w[F.type] === TYPE.NOTE).length;
  assert.is(notes, 8 + rig.of('noteon').length, "the person's 8 notes and every AI note");
  rig.session.dispose();
});

test.run();
