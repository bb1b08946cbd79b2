// The measures a continuation is judged by, each against the real bars that followed the primer.
// docs/judging.md defines them and says which direction is better. Notes are ScoreNotes with
// absolute grid steps; callers pass only the notes inside the judged bars.

import { CHORD_WINDOW_STEPS, recognizeChord } from '../../engine/chords.ts';
import type { ScoreNote } from '../../engine/score.ts';
import { NO_CHORD, STEPS_PER_BAR, chordRoot } from '../../engine/vocab.ts';
import { scalePitchClasses, type Key } from './key.ts';

/** 12 bins, one per pitch class, counting notes, normalised to sum 1 (all zeros for no notes). */
export function pitchClassHistogram(notes: readonly ScoreNote[]): number[] {
  const h = new Array<number>(12).fill(0);
  for (const n of notes) h[n.pitch % 12]++;
  return normalise(h);
}

/**
 * 16 bins, one per grid step of the bar, counting onsets: a step where several notes start
 * counts once, so a thick chord weighs as much as a single note. Normalised to sum 1.
 */
export function onsetHistogram(notes: readonly ScoreNote[]): number[] {
  const h = new Array<number>(STEPS_PER_BAR).fill(0);
  for (const step of new Set(notes.map((n) => n.step))) h[((step % STEPS_PER_BAR) + STEPS_PER_BAR) % STEPS_PER_BAR]++;
  return normalise(h);
}

function normalise(h: number[]): number[] {
  const total = h.reduce((a, b) => a + b, 0);
  return total > 0 ? h.map((v) => v / total) : h;
}

const isEmpty = (h: readonly number[]) => !h.some((v) => v > 0);

/**
 * Total variation distance between two normalised histograms: half their L1 distance, which is
 * one minus their overlapping area. 0 when they are equal, 1 when they share no bin. An empty
 * histogram (no notes) is at distance 1 from a non-empty one, and 0 from another empty one.
 */
export function histogramDistance(p: readonly number[], q: readonly number[]): number {
  if (p.length !== q.length) throw new Error(`histograms of ${p.length} and ${q.length} bins`);
  const ep = isEmpty(p);
  const eq = isEmpty(q);
  if (ep || eq) return ep && eq ? 0 : 1;
  let l1 = 0;
  for (let i = 0; i < p.length; i++) l1 += Math.abs(p[i] - q[i]);
  return Math.min(1, l1 / 2);
}

/** |log2((c + 1) / (r + 1))| for note counts over the same bars: 0 is the same density, 1 is double or half. */
export function densityError(candidateNotes: number, referenceNotes: number): number {
  return Math.abs(Math.log2((candidateNotes + 1) / (referenceNotes + 1)));
}

/** Share of notes whose pitch class is in the key's diatonic scale; null for no notes or no key. */
export function inKeyShare(notes: readonly ScoreNote[], key: Key | null): number | null {
  if (!key || notes.length === 0) return null;
  const scale = scalePitchClasses(key);
  return notes.filter((n) => scale.has(n.pitch % 12)).length / notes.length;
}

/** Pitches in the order they sound: by onset, then rising pitch (the order of the compound words). */
export function pitchSequence(notes: readonly ScoreNote[]): number[] {
  return [...notes].sort((a, b) => a.step - b.step || a.pitch - b.pitch).map((n) => n.pitch);
}

/** Distinct n-grams over all n-grams of a sequence (1: nothing repeats); null when shorter than n. */
export function distinctNgramShare(seq: readonly number[], n = 4): number | null {
  const total = seq.length - n + 1;
  if (total <= 0) return null;
  const seen = new Set<string>();
  for (let i = 0; i < total; i++) seen.add(seq.slice(i, i + n).join(','));
  return seen.size / total;
}

/**
 * Does the continuation come back to the song's harmony? The share of its half-bar chord windows
 * (from step `from`, for `bars` bars) whose chord has the root of the primer's chord one phrase
 * (`bars` bars) earlier; windows where either side holds no chord, or the earlier one falls
 * before the primer, are skipped; null when none is left. Chords as the encoder recognizes them.
 */
export function harmonyRepeatShare(notes: readonly ScoreNote[], primer: readonly ScoreNote[], from: number, bars: number): number | null {
  const back = bars * STEPS_PER_BAR;
  let hits = 0;
  let windows = 0;
  for (let s = from; s < from + back; s += CHORD_WINDOW_STEPS) {
    if (s - back < 0) continue;
    const now = recognizeChord(notes, s);
    const then = recognizeChord(primer, s - back);
    if (now === NO_CHORD || then === NO_CHORD) continue;
    windows++;
    if (chordRoot(now) === chordRoot(then)) hits++;
  }
  return windows ? hits / windows : null;
}

/** The notes with onsets in [from, to) steps. */
export const notesBetween = (notes: readonly ScoreNote[], from: number, to: number): ScoreNote[] =>
  notes.filter((n) => n.step >= from && n.step < to);
