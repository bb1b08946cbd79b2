// When will the notes sounding now end? The duet primes the words of the person's next commit
// before it comes (a pedal change or a key release makes a whole half bar final at once), and
// a note's word holds its length, so the guess must name the step it ends on.
//
// With the pedal down, every sounding note ends when it comes up. Pianists change the pedal
// with the harmony, each bar or each half bar, on the chord or just after it (legato
// pedalling), so the guess is the next step of that rhythm: whole periods (a bar or half a
// bar, whichever is nearer the last gap between pedal-ups) after the last pedal-up. The
// person's bars need not be the grid's (a call after an answer starts where the person
// starts), so the phase is theirs: the last pedal-up is kept as a time, and read on whatever
// grid the call is on. Before any pedal-up the guess is the next bar line. A change a few
// steps late is likelier than one a whole period later, so for a few steps after a missed one
// the guess is "now". With no pedal, held keys are guessed to be let go now: the session asks
// again each step while they are held, so the guess is right on the step they come up.

import { CHORD_WINDOW_STEPS } from '../chords.ts';
import { STEPS_PER_BAR } from '../vocab.ts';

/** Steps after a missed pedal change during which the guess is "now". */
const LATE_STEPS = 4;

/** A grid's step for a time on the session's clock (the nearest step, as notes are quantized). */
export type StepOf = (ms: number) => number;

export class ReleaseForecast {
  private lastUpMs: number | null = null;
  private period = STEPS_PER_BAR;

  /** The pedal came up at `ms`. */
  pedalUp(ms: number, stepOf: StepOf): void {
    if (this.lastUpMs !== null) {
      const gap = stepOf(ms) - stepOf(this.lastUpMs);
      if (gap >= CHORD_WINDOW_STEPS / 2 && gap <= 2 * STEPS_PER_BAR) {
        // Nearer (by ratio) to half a bar or to a bar.
        this.period = gap * gap < CHORD_WINDOW_STEPS * STEPS_PER_BAR ? CHORD_WINDOW_STEPS : STEPS_PER_BAR;
      }
    }
    this.lastUpMs = ms;
  }

  /**
   * The step the sounding notes are expected to end on: never before now (an end now lands on
   * now's step) and after the latest onset.
   */
  releaseStep(nowMs: number, stepOf: StepOf, pedalDown: boolean, lastOnset: number): number {
    const nowStep = stepOf(nowMs);
    if (!pedalDown) return nowStep;
    const earliest = Math.max(nowStep, lastOnset + 1);
    const p = this.period;
    const phase = this.lastUpMs === null ? 0 : stepOf(this.lastUpMs);
    const next = phase + Math.max(0, Math.ceil((earliest - phase) / p)) * p;
    const missed = next - p;
    if (missed > lastOnset && nowStep > missed && nowStep - missed <= LATE_STEPS) return nowStep;
    return next;
  }
}
