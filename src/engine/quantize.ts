// Performance -> Score: the one place where information is thrown away.
// Every rule here is documented in docs/representation.md; the round trip is measured after it.

import type { Performance, PerfNote, Score, ScoreNote } from './score.ts';
import { compareScoreNotes } from './score.ts';
import {
  DURATION_STEPS,
  PITCH_HIGH,
  PITCH_LOW,
  STEPS_PER_BAR,
  STEPS_PER_BEAT,
  TICKS_PER_BEAT,
  TICKS_PER_STEP,
  tempoToToken,
  velocityToToken,
} from './vocab.ts';

export interface QuantizeStats {
  /** Notes given. */
  notesRaw: number;
  /** Notes in the score. */
  notes: number;
  /** Notes that fell on the same step and pitch as another and were merged into it. */
  merged: number;
  /** Notes outside A0..C8, moved by octaves into range. */
  folded: number;
  /** Notes longer than the longest duration bin, shortened to it. */
  clamped: number;
  /** Sum of |onset shift| in steps, for the mean displacement. */
  onsetShiftSteps: number;
  /** Onsets more than a quarter of a step from the grid (off-grid rhythms such as triplets). */
  offGrid: number;
  /** Whole bars of leading silence removed. */
  barsTrimmed: number;
}

/** Largest duration token whose length does not exceed `steps`: a note never outlasts its note-off. */
export function floorDurationToken(steps: number): number {
  let t = 0;
  while (t + 1 < DURATION_STEPS.length && DURATION_STEPS[t + 1] <= steps) t++;
  return t;
}

export function foldPitch(pitch: number): number {
  let p = pitch;
  while (p < PITCH_LOW) p += 12;
  while (p > PITCH_HIGH) p -= 12;
  return p;
}

/** Grid step of a tick: the nearest step; an exact half goes up. */
export const tickToStep = (tick: number): number => Math.floor(tick / TICKS_PER_STEP + 0.5);

/** One note onto the grid, with no knowledge of other notes: the live tokenizer uses the same rule. */
export function quantizeNote(n: PerfNote): ScoreNote {
  const step = tickToStep(n.tick);
  const end = tickToStep(n.tick + n.dur);
  return {
    step,
    pitch: foldPitch(n.pitch),
    duration: floorDurationToken(Math.max(1, end - step)),
    velocity: velocityToToken(n.velocity),
  };
}

/** Tempo of every beat from `fromBeat` for `count` beats, as tokens. */
export function beatTempoTokens(perf: Performance, fromBeat: number, count: number): number[] {
  const out: number[] = [];
  let i = 0;
  const tempos = perf.tempos;
  for (let b = fromBeat; b < fromBeat + count; b++) {
    // A tempo point within half a step of the beat counts as that beat's tempo.
    const tick = b * TICKS_PER_BEAT + TICKS_PER_STEP / 2;
    while (i + 1 < tempos.length && tempos[i + 1].tick < tick) i++;
    out.push(tempoToToken(tempos.length && tempos[i].tick < tick ? tempos[i].bpm : tempos[0]?.bpm ?? 120));
  }
  return out;
}

/**
 * Puts a performance on the grid.
 * - onsets to the nearest sixteenth; ends likewise; duration rounds down to a bin (longest bin: 4 bars);
 * - pitches folded by octaves into the piano's range;
 * - notes on the same step and pitch merge (longest, loudest) — a piano key sounds once;
 * - a note that overlaps a later onset of its pitch ends there (only possible when tracks were merged);
 * - leading empty bars are removed.
 */
export function quantize(perf: Performance): { score: Score; stats: QuantizeStats } {
  const stats: QuantizeStats = {
    notesRaw: perf.notes.length, notes: 0, merged: 0, folded: 0, clamped: 0, onsetShiftSteps: 0, offGrid: 0, barsTrimmed: 0,
  };
  const byKey = new Map<number, ScoreNote>();
  for (const n of perf.notes) {
    const q = quantizeNote(n);
    const exact = n.tick / TICKS_PER_STEP;
    const shift = Math.abs(exact - q.step);
    stats.onsetShiftSteps += shift;
    if (shift > 0.25) stats.offGrid++;
    if (q.pitch !== n.pitch) stats.folded++;
    if (tickToStep(n.tick + n.dur) - q.step > DURATION_STEPS[DURATION_STEPS.length - 1]) stats.clamped++;
    const key = q.step * 128 + q.pitch;
    const prev = byKey.get(key);
    if (prev) {
      stats.merged++;
      prev.duration = Math.max(prev.duration, q.duration);
      prev.velocity = Math.max(prev.velocity, q.velocity);
    } else {
      byKey.set(key, q);
    }
  }
  const notes = [...byKey.values()].sort((a, b) => a.pitch - b.pitch || a.step - b.step);
  for (let i = 0; i + 1 < notes.length; i++) {
    const a = notes[i];
    const b = notes[i + 1];
    if (b.pitch === a.pitch && a.step + DURATION_STEPS[a.duration] > b.step) {
      a.duration = floorDurationToken(b.step - a.step);
    }
  }
  notes.sort(compareScoreNotes);

  const firstBar = notes.length ? Math.floor(notes[0].step / STEPS_PER_BAR) : 0;
  stats.barsTrimmed = firstBar;
  const shift = firstBar * STEPS_PER_BAR;
  for (const n of notes) n.step -= shift;
  stats.notes = notes.length;

  const lastStep = notes.length ? notes[notes.length - 1].step : -1;
  const beats = notes.length ? Math.floor(lastStep / STEPS_PER_BEAT) + 1 : 0;
  const beatTempos = beatTempoTokens(perf, shift / STEPS_PER_BEAT, beats);
  return { score: { notes, beatTempos }, stats };
}
