// Real-file quirks, end to end: MIDI bytes -> reader -> tokenizer -> words -> notes.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseMidiBytes } from '../src/io/midi-read.ts';
import { tokenizeParsed } from '../src/io/midi-tokens.ts';
import { decodeWords } from '../src/engine/encode.ts';
import { DURATION_STEPS, F, TYPE } from '../src/engine/vocab.ts';
import { smf, on, off, cc, tempo, trackName } from './helpers/midi-bytes.ts';

const Q = 480; // ticks per quarter in these files
const words = (bytes: Uint8Array) => tokenizeParsed(parseMidiBytes(bytes, 'edge.mid'));
const notesOf = (bytes: Uint8Array) => decodeWords(words(bytes).words).notes;

test('several tracks merge into one part; percussion is left out', () => {
  const notes = notesOf(smf([
    [trackName(0, 'right'), on(0, 72, 90), off(Q, 72)],
    [trackName(0, 'left'), on(0, 48, 70), off(2 * Q, 48)],
    [trackName(0, 'drums'), on(0, 36, 100, 9), off(Q, 36, 9)],
  ]));
  assert.equal(notes.map((n) => n.pitch).sort(), [48, 72]);
});

test('note-on with velocity 0 ends the note', () => {
  const notes = notesOf(smf([[on(0, 60, 80), on(Q, 60, 0), on(0, 62, 80), on(Q, 62, 0)]]));
  assert.equal(notes.map((n) => [n.step, n.pitch, DURATION_STEPS[n.duration]]), [[0, 60, 4], [4, 62, 4]]);
});

test('a note with no note-off ends at its next note-on or at the end of the track', () => {
  const notes = notesOf(smf([[on(0, 60, 80), on(2 * Q, 60, 80), on(0, 64, 80), off(4 * Q, 64)]]));
  const c = notes.filter((n) => n.pitch === 60).map((n) => [n.step, DURATION_STEPS[n.duration]]);
  assert.equal(c, [[0, 8], [8, 16]], 'the first C ends at the re-strike, the second at the track end');
});

test('overlapping notes of one pitch from two tracks: the earlier ends at the later onset', () => {
  const notes = notesOf(smf([
    [on(0, 67, 80), off(4 * Q, 67)],
    [on(Q, 67, 60), off(Q, 67)],
  ]));
  assert.equal(notes.map((n) => [n.step, DURATION_STEPS[n.duration]]), [[0, 4], [4, 4]]);
});

test('the sustain pedal lengthens released notes to the pedal lift', () => {
  const notes = notesOf(smf([[cc(0, 64, 127), on(0, 60, 80), off(Q, 60), cc(3 * Q, 64, 0)]]));
  assert.is(DURATION_STEPS[notes[0].duration], 16);
});

test('very long notes and pitches outside the piano are kept, shortened and folded', () => {
  const notes = notesOf(smf([[on(0, 12, 80), on(0, 127, 80), off(40 * Q, 12), off(0, 127)]]));
  assert.equal(notes.map((n) => n.pitch).sort((a, b) => a - b), [24, 103]);
  assert.ok(notes.every((n) => DURATION_STEPS[n.duration] === 64));
});

test('tempo changes on every beat give a tempo per beat', () => {
  // Each beat: its tempo, a note, and the note's release half a beat later.
  const ev = [];
  for (let i = 0; i < 8; i++) ev.push(tempo(i === 0 ? 0 : Q / 2, Math.round(60_000_000 / (80 + 10 * i))), on(0, 60 + i, 80), off(Q / 2, 60 + i));
  const t = words(smf([ev]));
  const tempi = t.words.filter((w) => w[F.type] === TYPE.METRICAL && w[F.tempo] > 0).map((w) => 32 + 3 * (w[F.tempo] - 1));
  assert.is(tempi.length, 8);
  tempi.forEach((bpm, i) => assert.ok(Math.abs(bpm - (80 + 10 * i)) <= 1.5, `beat ${i}: ${bpm}`));
});

test('an empty file (no notes) tokenizes to a lone EOS', () => {
  const t = words(smf([[trackName(0, 'nothing here'), tempo(0, 500000)]]));
  assert.equal(t.words.map((w) => w[F.type]), [TYPE.EOS]);
});

test.run();
