// Key finding by the Krumhansl-Schmuckler algorithm: correlate a piece's pitch-class weights
// (here each note's duration in grid steps) with the Krumhansl-Kessler probe-tone profiles
// rotated to each of the 12 tonics, in major and minor, and take the best of the 24.

import { PITCH_CLASSES, tokenToDuration } from '../../engine/vocab.ts';
import type { ScoreNote } from '../../engine/score.ts';

/** Krumhansl & Kessler (1982), from C. */
export const KK_MAJOR = [6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88] as const;
export const KK_MINOR = [6.33, 2.68, 3.52, 5.38, 2.6, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17] as const;

/** Scale degrees of the key's diatonic scale; minor is the natural minor. */
const MAJOR_SCALE = [0, 2, 4, 5, 7, 9, 11];
const MINOR_SCALE = [0, 2, 3, 5, 7, 8, 10];

export type Mode = 'major' | 'minor';

export interface Key {
  /** Pitch class of the tonic, 0 = C. */
  tonic: number;
  mode: Mode;
  /** Pearson correlation of the weights with the chosen profile. */
  correlation: number;
}

export const keyName = (k: Key): string => `${PITCH_CLASSES[k.tonic]} ${k.mode}`;

function pearson(x: ArrayLike<number>, y: (i: number) => number): number {
  let mx = 0;
  let my = 0;
  for (let i = 0; i < 12; i++) {
    mx += x[i];
    my += y(i);
  }
  mx /= 12;
  my /= 12;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < 12; i++) {
    const dx = x[i] - mx;
    const dy = y(i) - my;
    sxy += dx * dy;
    sxx += dx * dx;
    syy += dy * dy;
  }
  return sxx === 0 || syy === 0 ? 0 : sxy / Math.sqrt(sxx * syy);
}

/** Pitch-class weights of notes: each note counts its duration in grid steps. */
export function durationWeightedPitchClasses(notes: readonly ScoreNote[]): number[] {
  const w = new Array<number>(12).fill(0);
  for (const n of notes) w[n.pitch % 12] += tokenToDuration(n.duration);
  return w;
}

/**
 * The best of the 24 keys for 12 pitch-class weights, or null when every weight is zero.
 * Ties go to the first found: major before minor, then the lower tonic from C.
 */
export function findKey(weights: ArrayLike<number>): Key | null {
  let total = 0;
  for (let i = 0; i < 12; i++) total += weights[i];
  if (!(total > 0)) return null;
  let best: Key | null = null;
  for (const mode of ['major', 'minor'] as const) {
    const profile = mode === 'major' ? KK_MAJOR : KK_MINOR;
    for (let tonic = 0; tonic < 12; tonic++) {
      const r = pearson(weights, (pc) => profile[(pc - tonic + 12) % 12]);
      if (!best || r > best.correlation) best = { tonic, mode, correlation: r };
    }
  }
  return best;
}

/** The key of some notes (durations as weights), or null for no notes. */
export const keyOfNotes = (notes: readonly ScoreNote[]): Key | null => findKey(durationWeightedPitchClasses(notes));

/** The seven pitch classes of the key's diatonic scale (for minor, the natural minor). */
export function scalePitchClasses(key: Key): Set<number> {
  return new Set((key.mode === 'major' ? MAJOR_SCALE : MINOR_SCALE).map((d) => (key.tonic + d) % 12));
}
