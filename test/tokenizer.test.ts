import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { quantize, floorDurationToken, foldPitch } from '../src/engine/quantize.ts';
import { encodeScore, decodeWords, decodedToPerformance } from '../src/engine/encode.ts';
import { recognizeChord } from '../src/engine/chords.ts';
import { scoreNoteKey, type Performance, type ScoreNote } from '../src/engine/score.ts';
import {
  BAR, DURATION_STEPS, F, FAMILY_SIZES, TYPE, UNUSED, chordName, durationToToken, tempoToToken, tokenToTempo,
  tokenToVelocity, velocityToToken, wordError, type Word,
} from '../src/engine/vocab.ts';

const beat = 480;
const step = 120;

function roundTrip(perf: Performance) {
  const { score, stats } = quantize(perf);
  const words = encodeScore(score);
  const back = decodeWords(words);
  return { score, stats, words, back };
}

const keys = (notes: ScoreNote[]) => notes.map(scoreNoteKey).sort();

test('vocabulary: bins map back to themselves', () => {
  for (let v = 1; v <= 127; v++) assert.is(velocityToToken(tokenToVelocity(velocityToToken(v))), velocityToToken(v));
  for (let t = 1; t < FAMILY_SIZES.tempo; t++) assert.is(tempoToToken(tokenToTempo(t)), t);
  for (let d = 0; d < DURATION_STEPS.length; d++) assert.is(durationToToken(DURATION_STEPS[d]), d);
  assert.is(floorDurationToken(19), DURATION_STEPS.indexOf(16));
  assert.is(floorDurationToken(1000), DURATION_STEPS.length - 1);
  assert.is(tempoToToken(10), 1, 'slow tempi clamp to the lowest bin');
  assert.is(tempoToToken(400), FAMILY_SIZES.tempo - 1);
});

test('wordError rejects words that break the type rules', () => {
  assert.is(wordError([TYPE.NOTE, UNUSED, UNUSED, UNUSED, 39, 3, 20]), null);
  assert.ok(wordError([TYPE.NOTE, 1, UNUSED, UNUSED, 39, 3, 20])?.includes('barBeat'));
  assert.ok(wordError([TYPE.NOTE, UNUSED, UNUSED, UNUSED, 88, 3, 20])?.includes('pitch'));
  assert.ok(wordError([TYPE.METRICAL, 1, 0, 0, UNUSED, UNUSED])?.includes('families'));
  assert.ok(wordError([3, UNUSED, UNUSED, UNUSED, UNUSED, UNUSED, UNUSED])?.includes('type'));
});

test('a C major arpeggio: words, chord and round trip', () => {
  const perf: Performance = {
    notes: [60, 64, 67, 72].map((p, i) => ({ tick: i * beat, dur: beat, pitch: p, velocity: 80 })),
    tempos: [{ tick: 0, bpm: 100 }],
  };
  const { words, back, score } = roundTrip(perf);
  assert.equal(words[0], [TYPE.METRICAL, BAR, 0, 0, UNUSED, UNUSED, UNUSED]);
  const first = words[1];
  assert.is(first[F.type], TYPE.METRICAL);
  assert.is(first[F.barBeat], 1);
  assert.is(first[F.tempo], tempoToToken(100));
  assert.is(chordName(first[F.chord]), 'C:maj');
  assert.is(words[words.length - 1][F.type], TYPE.EOS);
  for (const w of words) assert.is(wordError(w), null);
  assert.equal(keys(back.notes), keys(score.notes));
  assert.is(back.notes.length, 4);
});

test('chord recognizer: common chords and silence', () => {
  const n = (pitch: number, s = 0, d = 7): ScoreNote => ({ step: s, pitch, duration: d, velocity: 20 });
  assert.is(chordName(recognizeChord([n(57), n(60), n(64)], 0)), 'A:min');
  assert.is(chordName(recognizeChord([n(43), n(59), n(62), n(65)], 0)), 'G:7');
  assert.is(chordName(recognizeChord([n(62), n(65), n(69), n(72)], 0)), 'D:min7');
  assert.is(chordName(recognizeChord([], 0)), 'N');
  assert.is(chordName(recognizeChord([n(60, 0, 3)], 8)), 'N', 'a note that ended before the window does not count');
});

test('edge: overlapping notes of the same pitch end at the re-strike', () => {
  const perf: Performance = {
    notes: [
      { tick: 0, dur: 4 * beat, pitch: 60, velocity: 90 },
      { tick: 2 * beat, dur: beat, pitch: 60, velocity: 70 },
    ],
    tempos: [],
  };
  const { score, back } = roundTrip(perf);
  assert.is(score.notes.length, 2);
  assert.is(DURATION_STEPS[score.notes[0].duration], 8);
  assert.equal(keys(back.notes), keys(score.notes));
});

test('edge: same step and pitch from two tracks merge (longest, loudest)', () => {
  const perf: Performance = {
    notes: [
      { tick: 0, dur: beat, pitch: 64, velocity: 50 },
      { tick: 10, dur: 2 * beat, pitch: 64, velocity: 100 },
    ],
    tempos: [],
  };
  const { score, stats } = roundTrip(perf);
  assert.is(score.notes.length, 1);
  assert.is(stats.merged, 1);
  assert.is(DURATION_STEPS[score.notes[0].duration], 8);
  assert.is(score.notes[0].velocity, velocityToToken(100));
});

test('edge: very long notes clamp to the longest bin; out-of-range pitches fold by octaves', () => {
  const perf: Performance = {
    notes: [
      { tick: 0, dur: 100 * beat, pitch: 10, velocity: 64 },
      { tick: 0, dur: beat, pitch: 120, velocity: 64 },
    ],
    tempos: [],
  };
  const { score, stats, back } = roundTrip(perf);
  assert.is(stats.clamped, 1);
  assert.is(stats.folded, 2);
  assert.equal(score.notes.map((n) => n.pitch).sort(), [foldPitch(10), foldPitch(120)].sort());
  assert.is(foldPitch(10), 22);
  assert.is(foldPitch(120), 108);
  assert.is(DURATION_STEPS[score.notes.find((n) => n.pitch === 22)!.duration], 64);
  assert.equal(keys(back.notes), keys(score.notes));
});

test('edge: tempo changes on every beat become Beat words with explicit tempo', () => {
  const notes = Array.from({ length: 8 }, (_, i) => ({ tick: i * beat, dur: beat, pitch: 60 + (i % 3), velocity: 64 }));
  const tempos = Array.from({ length: 8 }, (_, i) => ({ tick: i * beat, bpm: 90 + i * 6 }));
  const { words, back, score } = roundTrip({ notes, tempos });
  assert.equal(score.beatTempos, tempos.map((t) => tempoToToken(t.bpm)));
  assert.is(back.tempos.length, 8);
  assert.equal(back.tempos.map((t) => t.token), score.beatTempos);
  const perfBack = decodedToPerformance(back);
  assert.equal(perfBack.tempos.map((t) => t.tick), tempos.map((t) => t.tick));
  assert.ok(words.length > 8);
});

test('edge: leading silence is trimmed by whole bars; empty bars keep their Bar word', () => {
  const perf: Performance = {
    notes: [
      { tick: 9 * beat + step, dur: step, pitch: 70, velocity: 64 }, // bar 2, step 5
      { tick: 20 * beat, dur: step, pitch: 72, velocity: 64 }, // bar 5
    ],
    tempos: [],
  };
  const { score, words, back } = roundTrip(perf);
  assert.is(score.notes[0].step, 5, 'bar 2, step 5 became bar 0, step 5');
  const bars = words.filter((w) => w[F.type] === TYPE.METRICAL && w[F.barBeat] === BAR).length;
  assert.is(bars, 4);
  assert.equal(keys(back.notes), keys(score.notes));
});

test('edge: an empty performance is a single EOS word', () => {
  const { words, back } = roundTrip({ notes: [], tempos: [] });
  assert.equal(words, [[TYPE.EOS, UNUSED, UNUSED, UNUSED, UNUSED, UNUSED, UNUSED]] as Word[]);
  assert.is(back.notes.length, 0);
  assert.ok(back.ended);
});

test('decode tolerates model output: a note before any Beat sits on the bar start', () => {
  const d = decodeWords([
    [TYPE.METRICAL, BAR, 0, 0, UNUSED, UNUSED, UNUSED],
    [TYPE.NOTE, UNUSED, UNUSED, UNUSED, 39, 3, 10],
    [TYPE.METRICAL, BAR, 0, 0, UNUSED, UNUSED, UNUSED],
    [TYPE.METRICAL, 5, 0, 0, UNUSED, UNUSED, UNUSED],
    [TYPE.NOTE, UNUSED, UNUSED, UNUSED, 40, 3, 10],
  ]);
  assert.equal(d.notes.map((n) => n.step), [0, 20]);
});

test('decode rejects a malformed word with E_WORD_INVALID', () => {
  try {
    decodeWords([[TYPE.NOTE, 2, UNUSED, UNUSED, 39, 3, 10]]);
    assert.unreachable('should throw');
  } catch (e) {
    assert.is((e as { code: string }).code, 'E_WORD_INVALID');
  }
});

test('property: random performances round-trip every quantized note', () => {
  let seed = 12345;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  for (let trial = 0; trial < 30; trial++) {
    const notes = Array.from({ length: 200 }, () => ({
      tick: Math.floor(rnd() * 64 * beat),
      dur: 1 + Math.floor(rnd() * 12 * beat),
      pitch: Math.floor(rnd() * 128),
      velocity: 1 + Math.floor(rnd() * 127),
    }));
    const tempos = Array.from({ length: 64 }, (_, i) => ({ tick: i * beat, bpm: 40 + rnd() * 200 }));
    const { score, back, words } = roundTrip({ notes, tempos });
    for (const w of words) assert.is(wordError(w), null);
    assert.equal(keys(back.notes), keys(score.notes));
  }
});

test.run();
