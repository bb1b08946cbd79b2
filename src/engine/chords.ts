// A rule-based chord recognizer over half-bar windows, the same at training time and live.
// It reads only quantized notes (onset step, binned duration), so file and live input agree exactly.
//
// Score of a candidate (root, quality) in a window, with w[pc] the steps that pitch class sounds:
//   in-chord weight  -  0.5 * out-of-chord weight  -  0.3 * W per missing chord tone
//   + 0.15 * W if the lowest sounding pitch is the root,  - 0.05 * W per tone beyond three
// where W is the window's total weight. The best candidate wins; a root that never sounds,
// or a best score under 0.25 * W, gives N (no chord). Ties go to the earlier candidate in
// vocabulary order, so the result is deterministic.

import type { ScoreNote } from './score.ts';
import { CHORD_QUALITIES, DURATION_STEPS, NO_CHORD, chordToken } from './vocab.ts';

/** Steps per chord window: half a 4/4 bar. */
export const CHORD_WINDOW_STEPS = 8;

/** The first chord-window boundary after `step`: the words before it are committed together. */
export const windowEnd = (step: number): number => (Math.floor(step / CHORD_WINDOW_STEPS) + 1) * CHORD_WINDOW_STEPS;

const INTERVALS: Record<(typeof CHORD_QUALITIES)[number], number[]> = {
  maj: [0, 4, 7],
  min: [0, 3, 7],
  dim: [0, 3, 6],
  aug: [0, 4, 8],
  sus2: [0, 2, 7],
  sus4: [0, 5, 7],
  maj7: [0, 4, 7, 11],
  min7: [0, 3, 7, 10],
  dim7: [0, 3, 6, 9],
  hdim7: [0, 3, 6, 10],
  '7': [0, 4, 7, 10],
};

/** Chord token of the window [start, start + CHORD_WINDOW_STEPS) from the notes that sound in it. */
export function recognizeChord(notes: Iterable<ScoreNote>, start: number): number {
  const end = start + CHORD_WINDOW_STEPS;
  const w = new Float64Array(12);
  let total = 0;
  let bass = Infinity;
  for (const n of notes) {
    const a = Math.max(n.step, start);
    const b = Math.min(n.step + DURATION_STEPS[n.duration], end);
    if (b <= a) continue;
    w[n.pitch % 12] += b - a;
    total += b - a;
    if (n.pitch < bass) bass = n.pitch;
  }
  if (total === 0) return NO_CHORD;

  let best = NO_CHORD;
  let bestScore = 0.25 * total;
  for (let root = 0; root < 12; root++) {
    if (w[root] === 0) continue;
    for (let q = 0; q < CHORD_QUALITIES.length; q++) {
      const intervals = INTERVALS[CHORD_QUALITIES[q]];
      let inside = 0;
      let missing = 0;
      for (const iv of intervals) {
        const pc = (root + iv) % 12;
        inside += w[pc];
        if (w[pc] === 0) missing++;
      }
      let score = inside - 0.5 * (total - inside) - 0.3 * total * missing - 0.05 * total * (intervals.length - 3);
      if (bass % 12 === root) score += 0.15 * total;
      if (score > bestScore) {
        bestScore = score;
        best = chordToken(root, q);
      }
    }
  }
  return best;
}
