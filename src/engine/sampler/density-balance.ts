// Note-density balance: steers how many notes a continuation writes per bar toward the notes
// per bar of its primer's last bars.
//
// Why: judged against the real next bars of held-out songs, the shipped model's note counts
// were further off than a Markov chain's that replays the primer (density error 0.46 against
// 0.34, docs/judging.md). Its overall count was right (14.0 notes a bar against 13.4) but it
// did not take a sparse or a dense primer's cue. The bias, added to the logit of a note word
// (against a metrical one: another note now, or move on), is strength * (log(r + 1) - log(g + 1)),
// r the reference's notes per bar and g the continuation's so far (started at r, worth one
// bar): it adds notes while the continuation runs sparser than the primer, and holds back
// while it runs denser. 0 turns it off.
//
// In a duet the reference is the notes per bar of the call (and what came before it) over the
// last REFERENCE_BARS bars before the answer, counted from the bar of the earliest note in
// that window, so a call of one bar after a long silence counts as one bar, not four.
import type { NextWordLogits } from '../model/transformer.ts';
import { BAR, F, STEPS_PER_BAR as STEPS, TYPE, tokenToBeat, type Word } from '../vocab.ts';
import { checkStrength } from './settings.ts';

/** Strength used when none is given: chosen by the judge (docs/judging.md, session 6). */
export const DEFAULT_DENSITY_BALANCE = 1;
/** The largest strength accepted: beyond it the balance overrides the model's rhythm. */
export const MAX_DENSITY_BALANCE = 8;
/** Bars of the reference counted: the latest ones. */
export const REFERENCE_BARS = 4;

export const checkDensityBalance = (strength: number): number => checkStrength('density balance', strength, MAX_DENSITY_BALANCE);

/**
 * Notes per bar before `atStep`, from the timeline steps of the latest notes: over the last
 * REFERENCE_BARS bars, or from the bar of the earliest note in them if that is later, and over
 * one bar at least. Null without a note in the window.
 */
export function notesPerBarBefore(noteSteps: readonly number[], atStep: number): number | null {
  const from = atStep - REFERENCE_BARS * STEPS;
  let count = 0;
  let first = Infinity;
  for (const s of noteSteps) {
    if (s < from || s >= atStep) continue;
    count++;
    first = Math.min(first, s);
  }
  if (count === 0) return null;
  const start = Math.max(from, Math.floor(first / STEPS) * STEPS);
  return count / Math.max(1, (atStep - start) / STEPS);
}

export class DensityBalance {
  private perBar: number | null = null;
  private notes = 0;
  /** Bar words seen since the reference was set, and the grid step within the current bar. */
  private bars = 0;
  private step = 0;
  /** Where the generated part starts, in grid steps from the start of the bar current when the reference was set. */
  private startStep = STEPS;

  private s: number;

  constructor(strength: number) {
    this.s = checkDensityBalance(strength);
  }

  get strength(): number {
    return this.s;
  }
  set strength(v: number) {
    this.s = checkDensityBalance(v);
  }

  /**
   * Notes per bar over the last REFERENCE_BARS bars of `words` (fewer if it has fewer), words
   * that end with a whole bar; forgets what was generated.
   */
  setReference(words: readonly Word[]): void {
    let notes = 0;
    let bars = 0;
    for (let i = words.length - 1; i >= 0 && bars < REFERENCE_BARS; i--) {
      const w = words[i];
      if (w[F.type] === TYPE.NOTE) notes++;
      else if (w[F.type] === TYPE.METRICAL && w[F.barBeat] === BAR) bars++;
    }
    this.setRate(bars > 0 ? notes / bars : null);
  }

  /**
   * A reference of `perBar` notes per bar (null: none), for a part that starts `startStep` grid
   * steps after the start of the current bar (STEPS, the default: at the next bar line; more
   * when it starts in a later bar); forgets what was generated.
   */
  setRate(perBar: number | null, startStep = STEPS): void {
    this.perBar = perBar;
    this.notes = 0;
    this.bars = 0;
    this.step = 0;
    this.startStep = startStep;
  }

  /** The reference's notes per bar, or null without one (no Bar word in it). */
  get reference(): number | null {
    return this.perBar;
  }

  /** A generated word: notes count, and metrical words move the position. */
  observe(w: Word): void {
    if (w[F.type] === TYPE.NOTE) this.notes++;
    else if (w[F.type] === TYPE.METRICAL) {
      if (w[F.barBeat] === BAR) {
        this.bars++;
        this.step = 0;
      } else this.step = tokenToBeat(w[F.barBeat]);
    }
  }

  /** What to add to the note word's logit now (0 when off or without a reference). */
  bias(): number {
    const r = this.perBar;
    if (this.strength === 0 || r === null) return 0;
    const elapsed = Math.max(0, this.bars * STEPS + this.step - this.startStep) / STEPS;
    const g = (this.notes + r) / (elapsed + 1);
    return this.strength * (Math.log(r + 1) - Math.log(g + 1));
  }
}

/** `logits` with `bias` added to the note word's type logit (a copy; the original is kept). */
export function withNoteBias(logits: NextWordLogits, bias: number): NextWordLogits {
  if (bias === 0) return logits;
  const type = Float32Array.from(logits.type);
  type[TYPE.NOTE] += bias;
  return { ...logits, type };
}
