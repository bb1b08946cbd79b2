import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { ScoreNote } from '../src/engine/score.ts';
import {
  densityError,
  distinctNgramShare,
  harmonyRepeatShare,
  histogramDistance,
  inKeyShare,
  notesBetween,
  onsetHistogram,
  pitchClassHistogram,
  pitchSequence,
} from '../src/trainer/judge/metrics.ts';
import { pairedDifference, summarize } from '../src/trainer/judge/stats.ts';
import { familyFlags, parseFamilyValues } from '../src/cli/family-flags.ts';

const note = (step: number, pitch: number, duration = 3): ScoreNote => ({ step, pitch, duration, velocity: 20 });
const close = (a: number, b: number, eps = 1e-12) => assert.ok(Math.abs(a - b) <= eps, `${a} is not ${b}`);

test('pitch-class histogram: counts notes by pitch class, octaves folded, normalised', () => {
  const h = pitchClassHistogram([note(0, 60), note(0, 72), note(4, 64), note(8, 67)]);
  assert.is(h.length, 12);
  assert.equal(h, [0.5, 0, 0, 0, 0.25, 0, 0, 0.25, 0, 0, 0, 0]);
  assert.equal(pitchClassHistogram([]), new Array(12).fill(0));
});

test('onset histogram: 16 positions in the bar, a chord counts once, bars folded', () => {
  // a triad on step 0 of bar 0, one note on step 4 of bar 0, one on step 4 of bar 1 (step 20)
  const h = onsetHistogram([note(0, 60), note(0, 64), note(0, 67), note(4, 62), note(20, 62)]);
  assert.is(h.length, 16);
  close(h[0], 1 / 3);
  close(h[4], 2 / 3);
  close(h.reduce((a, b) => a + b, 0), 1);
});

test('histogram distance: identical 0, disjoint 1, half overlap 0.5, empty against non-empty 1', () => {
  const a = pitchClassHistogram([note(0, 60), note(1, 64)]);
  assert.is(histogramDistance(a, a), 0);
  assert.is(histogramDistance(a, pitchClassHistogram([note(0, 61), note(1, 66)])), 1);
  close(histogramDistance(a, pitchClassHistogram([note(0, 60), note(1, 65)])), 0.5);
  assert.is(histogramDistance(pitchClassHistogram([]), a), 1);
  assert.is(histogramDistance(pitchClassHistogram([]), pitchClassHistogram([])), 0);
  // symmetric
  const b = pitchClassHistogram([note(0, 60), note(1, 62), note(2, 62), note(3, 62)]);
  close(histogramDistance(a, b), histogramDistance(b, a));
  close(histogramDistance(a, b), 0.75); // overlap: min(1/2, 1/4) at C only
  assert.throws(() => histogramDistance(a, onsetHistogram([note(0, 60)])));
});

test('density error: 0 for the same count, 1 for double, symmetric in log, finite for silence', () => {
  assert.is(densityError(12, 12), 0);
  close(densityError(15, 7), 1);
  close(densityError(7, 15), 1);
  close(densityError(0, 3), 2);
});

test('in-key share: notes of the diatonic scale over all notes; null without notes or key', () => {
  const cMajor = { tonic: 0, mode: 'major' as const, correlation: 1 };
  assert.is(inKeyShare([note(0, 60), note(1, 62), note(2, 61), note(3, 66)], cMajor), 0.5);
  const aMinor = { tonic: 9, mode: 'minor' as const, correlation: 1 };
  assert.is(inKeyShare([note(0, 57), note(1, 60), note(2, 64)], aMinor), 1);
  assert.is(inKeyShare([note(0, 68)], aMinor), 0); // G#, the harmonic minor's leading tone, is outside the natural minor
  assert.is(inKeyShare([], cMajor), null);
  assert.is(inKeyShare([note(0, 60)], null), null);
});

test('distinct 4-grams: 1 with no repeats, low for a loop, null when too short', () => {
  assert.is(distinctNgramShare([60, 62, 64, 65, 67, 69]), 1);
  // a 2-note loop of 10 notes: 7 four-grams, 2 distinct
  close(distinctNgramShare([60, 62, 60, 62, 60, 62, 60, 62, 60, 62])!, 2 / 7);
  assert.is(distinctNgramShare([60, 60, 60, 60]), 1); // one 4-gram, and it is distinct
  assert.is(distinctNgramShare([60, 62, 64]), null);
});

test('harmony repeat: the share of half-bar chords whose root the primer had one phrase earlier', () => {
  // A one-bar primer: C major for half a bar, then A minor (whole-note triads, 8 steps each).
  const triad = (step: number, root: number, third: number) => [note(step, root, 7), note(step, root + third, 7), note(step, root + 7, 7)];
  const primer = [...triad(0, 60, 4), ...triad(8, 57, 3)];
  const same = [...triad(16, 48, 4), ...triad(24, 69, 3)]; // the same roots, other octaves and voicing
  assert.is(harmonyRepeatShare(same, primer, 16, 1), 1);
  const swapped = [...triad(16, 57, 3), ...triad(24, 60, 4)];
  assert.is(harmonyRepeatShare(swapped, primer, 16, 1), 0);
  const half = [...triad(16, 60, 4), ...triad(24, 62, 3)];
  assert.is(harmonyRepeatShare(half, primer, 16, 1), 0.5);
  assert.is(harmonyRepeatShare([], primer, 16, 1), null, 'no chord in the continuation');
  assert.is(harmonyRepeatShare(same, primer, 16, 2), null, 'a phrase longer than the primer has nothing to compare with');
});

test('pitch sequence is in sounding order; notesBetween keeps onsets in [from, to)', () => {
  const notes = [note(4, 64), note(0, 67), note(0, 60), note(16, 55)];
  assert.equal(pitchSequence(notes), [60, 67, 64, 55]);
  assert.equal(notesBetween(notes, 4, 16).map((n) => n.pitch), [64]);
});

test('summarize: mean, sample std, a bootstrap CI around the mean; nulls ignored; none defined gives null', () => {
  const s = summarize([1, 1, 1])!;
  assert.equal(s, { mean: 1, std: 0, ci95: [1, 1], n: 3 });
  const t = summarize([0, 2, null, 4], 5)!;
  assert.is(t.n, 3);
  assert.is(t.mean, 2);
  assert.is(t.std, 2);
  assert.ok(t.ci95[0] >= 0 && t.ci95[0] < 2 && t.ci95[1] > 2 && t.ci95[1] <= 4, `CI ${t.ci95}`);
  assert.equal(summarize([0, 2, 4], 5), summarize([0, 2, 4], 5), 'seeded');
  assert.is(summarize([null, null]), null);
  const d = pairedDifference([1, 2, null], [0.5, null, 3])!;
  assert.is(d.n, 1);
  assert.is(d.mean, 0.5);
});

test('family flags: family=value pairs per flag, merged; a malformed pair is a usage error', () => {
  assert.equal(familyFlags({ temperature: 'pitch=0.8,duration=1.5', 'top-p': 'pitch=0.95', 'top-k': 'velocity=4' }), {
    pitch: { temperature: 0.8, topP: 0.95 },
    duration: { temperature: 1.5 },
    velocity: { topK: 4 },
  });
  assert.equal(familyFlags({}), {});
  for (const bad of ['pitch', 'colour=1', 'pitch=', 'pitch=x', 'pitch=1=2']) {
    try {
      parseFamilyValues(bad, 'temperature', 'temperature');
      assert.unreachable(`"${bad}" was accepted`);
    } catch (e) {
      assert.is((e as { code?: string }).code, 'E_USAGE', `"${bad}"`);
    }
  }
});

test.run();
