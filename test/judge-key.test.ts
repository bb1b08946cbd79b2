import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { ScoreNote } from '../src/engine/score.ts';
import { durationToToken } from '../src/engine/vocab.ts';
import { findKey, keyName, keyOfNotes, scalePitchClasses } from '../src/trainer/judge/key.ts';

/** A melody from [pitch, steps] pairs, one after the other. */
function melody(pairs: Array<[number, number]>): ScoreNote[] {
  let step = 0;
  return pairs.map(([pitch, steps]) => {
    const n = { step, pitch, duration: durationToToken(steps), velocity: 20 };
    step += steps;
    return n;
  });
}

test('a C major scale is in C major', () => {
  const k = keyOfNotes(melody([[60, 4], [62, 4], [64, 4], [65, 4], [67, 4], [69, 4], [71, 4], [72, 8]]))!;
  assert.is(keyName(k), 'C major');
  assert.ok(k.correlation > 0.8, `correlation ${k.correlation}`);
});

test('an A minor phrase (A, C, E held, with its leading tone) is in A minor, not its relative C major', () => {
  const k = keyOfNotes(melody([
    [57, 8], [60, 4], [64, 4], [69, 8], [68, 2], [69, 2], [71, 4], [72, 4], [71, 2], [69, 2], [64, 4], [57, 12],
  ]))!;
  assert.is(keyName(k), 'A minor');
});

test('transposing the phrase moves the key with it; weights are durations', () => {
  const up = keyOfNotes(melody([[62, 4], [64, 4], [66, 4], [67, 4], [69, 4], [71, 4], [73, 4], [74, 8]]))!;
  assert.is(keyName(up), 'D major');
  // E held long against short C and G: the duration weighting decides
  const e = keyOfNotes(melody([[64, 32], [67, 1], [71, 16], [59, 8], [66, 4], [60, 1]]))!;
  assert.is(e.tonic, 4);
});

test('no notes, no key; the scale sets are diatonic', () => {
  assert.is(findKey(new Array(12).fill(0)), null);
  assert.is(keyOfNotes([]), null);
  assert.equal([...scalePitchClasses({ tonic: 0, mode: 'major', correlation: 1 })].sort((a, b) => a - b), [0, 2, 4, 5, 7, 9, 11]);
  assert.equal([...scalePitchClasses({ tonic: 9, mode: 'minor', correlation: 1 })].sort((a, b) => a - b), [0, 2, 4, 5, 7, 9, 11]);
  assert.equal([...scalePitchClasses({ tonic: 2, mode: 'minor', correlation: 1 })].sort((a, b) => a - b), [0, 2, 4, 5, 7, 9, 10]);
});

test.run();
