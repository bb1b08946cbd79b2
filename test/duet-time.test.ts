// Time in the duet: tempo from the call, MIDI clock following, the recording, and an hour of
// play in virtual time with a sliding window.
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs';
import tm from '@tonejs/midi';
import { Subject } from 'rxjs';
import { DuetRig, scaleCall, tinyModel, type PlayedNote, tinyModelSuite } from './helpers/duet.ts';
import { estimateTempo } from '../src/engine/duet/tempo-estimate.ts';
import { ClockGrid } from '../src/engine/duet/clock-grid.ts';
import type { ClockEvent } from '../src/engine/duet/types.ts';
import { recordingToMidi } from '../src/io/recording-midi.ts';

const { test, tiny } = tinyModelSuite('duet time');

/** A rhythm of beats and half-beats at `bpm`, with a little human jitter. */
function rhythm(bpm: number, pattern: number[], jitterMs = 8): number[] {
  const beat = 60000 / bpm;
  let t = 1000;
  let s = 12345;
  const out: number[] = [];
  for (const len of pattern) {
    s = (s * 1103515245 + 12345) % 2147483648;
    out.push(t + ((s / 2147483648) * 2 - 1) * jitterMs);
    t += len * beat;
  }
  return out;
}

test('tempo from a call: quarter and eighth notes at several tempi, within 2%', () => {
  const pattern = [1, 0.5, 0.5, 1, 1, 0.5, 0.5, 0.5, 0.5, 1, 2];
  for (const bpm of [90, 100, 110, 128]) {
    const est = estimateTempo(rhythm(bpm, pattern));
    assert.ok(est !== null);
    assert.ok(Math.abs(est! - bpm) / bpm < 0.02, `${bpm} BPM estimated as ${est}`);
  }
  // Far from the prior's centre the metrical level is ambiguous (quarters at 72 are eighths
  // at 144): the estimate is the tempo or its double or half, never something in between.
  for (const bpm of [66, 72, 150, 170]) {
    const est = estimateTempo(rhythm(bpm, pattern))!;
    assert.ok([bpm, bpm * 2, bpm / 2].some((b) => Math.abs(est - b) / b < 0.02), `${bpm} BPM estimated as ${est}`);
  }
  assert.is(estimateTempo([1000, 1500]), null, 'two onsets are not enough');
  // Chord tones within 60 ms count once.
  const chords = rhythm(100, [1, 1, 1, 1, 1]).flatMap((t) => [t, t + 10, t + 25]);
  assert.ok(Math.abs(estimateTempo(chords)! - 100) < 2);
});

test("'call' tempo: the answer lands on the grid of the call's own tempo", () => {
  const rig = new DuetRig(tiny.model, { seed: 11, settings: { tempoSource: 'call', minBars: 2 } });
  // 90 BPM: beats of 666.7 ms; quarter and eighth notes.
  const onsets = rhythm(90, [1, 0.5, 0.5, 1, 1, 0.5, 0.5, 1, 1], 0);
  rig.play(onsets.map((at, i) => ({ at, dur: 200, note: 60 + (i % 5) })));
  rig.run();
  const tempo = rig.of('tempo');
  assert.is(tempo.length, 1);
  // Every note of the call is in the context, though the call was held back until its tempo was known.
  const words = rig.session['timeline'].cache.words as number[][];
  assert.is(words.slice(0, rig.session.stats.wordsPlayed).filter((w) => w[0] === 2).length, onsets.length);
  assert.ok(Math.abs(tempo[0].bpm - 90) <= 1, `estimated ${tempo[0].bpm}`);
  const step = 60000 / tempo[0].bpm / 4;
  const ons = rig.of('noteon');
  assert.ok(ons.length > 0);
  for (const n of ons) {
    const k = (n.time - onsets[0]) / step;
    assert.ok(Math.abs(k - Math.round(k)) < 1e-6, `AI note at ${n.time} is on the call's sixteenth grid`);
  }
  rig.session.dispose();
});

test('MIDI clock: tempo and bar grid follow the clock (24 pulses per quarter), start sets bar 1', () => {
  const clock = new Subject<ClockEvent>();
  const rig = new DuetRig(tiny.model, { seed: 11, settings: { tempoSource: 'clock', bpm: 100, minBars: 2 } });
  rig.session.connectClock(clock);
  const pulse = 60000 / (132 * 24); // 132 BPM
  const startAt = 700;
  rig.at(startAt, () => clock.next({ type: 'start', time: startAt }));
  for (let i = 1; i <= 24 * 4 * 8; i++) rig.at(startAt + i * pulse, () => clock.next({ type: 'tick', time: rig.scheduler.now() }));
  // The person comes in on beat 3 of bar 2 of the clock.
  const beat = 60000 / 132;
  const call: PlayedNote[] = [0, 1, 1.5, 2, 3].map((b, i) => ({ at: startAt + (4 + 2 + b) * beat, dur: 150, note: 64 + i }));
  rig.play(call);
  rig.run();
  const tempos = rig.of('tempo');
  assert.ok(tempos.length >= 1);
  assert.ok(Math.abs(tempos[tempos.length - 1].bpm - 132) < 1.5, `clock tempo ${tempos[tempos.length - 1].bpm}`);
  const ons = rig.of('noteon');
  assert.ok(ons.length > 0);
  for (const n of ons) {
    const k = (n.time - startAt) / (beat / 4);
    assert.ok(Math.abs(k - Math.round(k)) < 0.05, `AI note at ${n.time} is on the clock's sixteenth grid (k=${k})`);
  }
  rig.session.dispose();
  clock.complete();
});

test('ClockGrid: interpolates between pulses and ignores a pause as a tempo', () => {
  const g = new ClockGrid(120);
  g.onClock({ type: 'start', time: 0 });
  for (let i = 1; i <= 48; i++) g.onClock({ type: 'tick', time: i * 25 }); // 100 BPM: 25 ms per pulse
  assert.ok(Math.abs(g.bpm - 100) < 0.5, `bpm ${g.bpm}`);
  assert.ok(Math.abs(g.tick(1200) - 960) < 1, 'two beats in at 1200 ms');
  assert.ok(Math.abs(g.tick(1212.5) - 970) < 1, 'half a pulse later, half a pulse of ticks more');
  assert.ok(Math.abs(g.ms(960 + 480) - 1800) < 1, 'the next beat, extrapolated');
  g.onClock({ type: 'stop', time: 1300 });
  g.onClock({ type: 'continue', time: 5000 });
  g.onClock({ type: 'tick', time: 5025 });
  assert.ok(Math.abs(g.bpm - 100) < 0.5, 'the pause did not move the tempo');
});

test('the recording holds both parts with their real timing and the tempo, and is a valid MIDI file at any moment', () => {
  const rig = new DuetRig(tiny.model, { seed: 11, settings: { tempoSource: 'fixed', bpm: 120, minBars: 2 } });
  const call = scaleCall(1000);
  rig.play(call);
  let midway: Uint8Array | null = null;
  rig.at(1600, () => (midway = recordingToMidi(rig.session.recording())));
  rig.run();
  const rec = rig.session.recording();
  assert.is(rec.bpm, 120);
  assert.equal(rec.person.map((n) => [n.note, n.startMs, n.endMs]), call.map((n) => [n.note, n.at, n.at + n.dur]));
  const ons = rig.of('noteon');
  assert.equal(rec.ai.map((n) => [n.note, n.startMs]), ons.map((n) => [n.note, n.time]));
  const midi = new tm.Midi(recordingToMidi(rec));
  const named = Object.fromEntries(midi.tracks.filter((t) => t.name).map((t) => [t.name, t]));
  assert.equal(Object.keys(named).sort(), ['antiphon', 'person']);
  assert.is(named.person.notes.length, call.length);
  assert.is(named.antiphon.notes.length, ons.length);
  assert.ok(Math.abs(midi.header.tempos[0].bpm - 120) < 0.01);
  // Real timing: the first person note is 1000 ms after... bar 1 starts at the first note, so at 0 s.
  assert.ok(Math.abs(named.person.notes[0].time - 0) < 1e-3);
  assert.ok(Math.abs(named.person.notes[1].time - 0.25) < 1e-3);
  assert.ok(midway !== null);
  const mid = new tm.Midi(midway!);
  assert.is(mid.tracks.find((t) => t.name === 'person')!.notes.length, 3, 'a recording mid-call closes the sounding note');
  rig.session.dispose();
});

test('an hour of play in virtual time: the window slides, answers keep coming, memory stays flat', () => {
  const small = tinyModel(3, 64);
  const before = tf.memory().numTensors;
  const rig = new DuetRig(small, { seed: 3, statsSamples: 64, settings: { tempoSource: 'fixed', bpm: 120, maxBars: 2 } });
  const hour = 60 * 60 * 1000;
  let calls = 0;
  // A 2-bar call every 12 s (the answer and a pause between), sometimes barging in.
  for (let t = 1000; t < hour - 12_000; t += 12_000, calls++) rig.play(scaleCall(t, 8 + (calls % 3), 250));
  let peakTensors = 0;
  let peakWords = 0;
  rig.at(hour / 2, () => (peakTensors = tf.memory().numTensors));
  for (let t = 60_000; t < hour; t += 60_000) rig.at(t, () => (peakWords = Math.max(peakWords, rig.session.contextWords)));
  rig.run();
  const answers = rig.of('state').filter((s) => s.turn === 'answering').length;
  assert.is(answers, calls, 'every call was answered');
  assert.is(rig.of('error').length, 0);
  assert.ok(rig.session.totalWords > 64 * 20, `${rig.session.totalWords} words went through a 64-word window`);
  assert.ok(peakWords <= 64, 'the window never outgrows its size');
  assert.ok(rig.session['timeline'].cache.slides > 20, 'the window slid many times');
  assert.is(tf.memory().numTensors, peakTensors, 'the same tensors live at the end as at half time');
  assert.is(rig.session.stats.ingestMs.length, 64, 'timing samples are bounded: only the newest are kept');
  assert.is(rig.session.stats.firstAnswerMs.length, 64);
  rig.session.dispose();
  assert.is(tf.memory().numTensors, before);
  small.dispose();
});

test.run();
