// Pitch-class balance: steers the pitch classes of what is generated toward those of a
// reference (the call being answered, a primer being continued).
//
// Why: judged against the real next bars of held-out songs, our models' continuations were
// further from the song's pitch classes than a Markov chain that only replays the primer's
// notes (docs/judging.md), although teacher-forced they predict those pitch classes well. A
// bias of strength * (log p - log g) per pitch class, p the reference's share of notes and g
// the generated notes' share so far (started at p, worth PSEUDO notes), raises the classes the
// answer has played less than the call did and lowers the ones it has overplayed. It steers
// toward the call's balance rather than sharpening it (a bias of log p alone piled notes onto
// the call's commonest classes and made the distance worse). 0 turns it off.
//
// The reference is the last REFERENCE_NOTES notes before the answer (in a duet, both parts),
// and its shares start from UNIFORM_NOTES notes spread over all twelve classes: a call of two
// notes says little about the key, and must not confine the answer to those two.
import { F, TYPE, tokenToPitch, type Word } from '../vocab.ts';
import { checkStrength } from './settings.ts';

/** Strength used when none is given: chosen by the judge (docs/judging.md, session 5). */
export const DEFAULT_PITCH_BALANCE = 4;
/** The largest strength accepted: beyond it a pitch class the call never played is all but forbidden. */
export const MAX_PITCH_BALANCE = 16;
/** Added to both shares, so that a class the call never played is not forbidden outright. */
const FLOOR = 0.02;
/** The generated share starts as the reference's, worth this many notes. */
const PSEUDO = 4;
/** The reference's shares start from this many notes spread evenly over the twelve classes. */
const UNIFORM_NOTES = 4;
/** Notes of the reference counted: the latest ones. */
export const REFERENCE_NOTES = 64;

/** The pitch classes (C = 0) of the note words among `words`, in order. */
export function notePitchClasses(words: readonly Word[]): number[] {
  const out: number[] = [];
  for (const w of words) if (w[F.type] === TYPE.NOTE) out.push(tokenToPitch(w[F.pitch]) % 12);
  return out;
}

export const checkPitchBalance = (strength: number): number => checkStrength('pitch balance', strength, MAX_PITCH_BALANCE);

export class PitchBalance {
  private readonly ref = new Float64Array(12);
  private refNotes = 0;
  private readonly gen = new Float64Array(12);
  private genNotes = 0;
  private s: number;

  constructor(strength: number) {
    this.s = checkPitchBalance(strength);
  }

  get strength(): number {
    return this.s;
  }
  set strength(v: number) {
    this.s = checkPitchBalance(v);
  }

  /** Counts the reference's last REFERENCE_NOTES pitch classes, and forgets what was generated. */
  setReference(pitchClasses: readonly number[]): void {
    this.ref.fill(0);
    this.gen.fill(0);
    this.genNotes = 0;
    const from = Math.max(0, pitchClasses.length - REFERENCE_NOTES);
    for (let i = from; i < pitchClasses.length; i++) this.ref[pitchClasses[i]]++;
    this.refNotes = pitchClasses.length - from;
  }

  /** A generated word (only notes count). */
  observe(w: Word): void {
    if (w[F.type] !== TYPE.NOTE) return;
    this.gen[tokenToPitch(w[F.pitch]) % 12]++;
    this.genNotes++;
  }

  /** Twelve additive biases for the pitch logits, by pitch class (C = 0); null when off or with no reference. */
  bias(): Float64Array | null {
    if (this.s === 0 || this.refNotes === 0) return null;
    const out = new Float64Array(12);
    for (let k = 0; k < 12; k++) {
      const p = (this.ref[k] + UNIFORM_NOTES / 12) / (this.refNotes + UNIFORM_NOTES);
      const g = (this.gen[k] + PSEUDO * p) / (this.genNotes + PSEUDO);
      out[k] = this.s * (Math.log(p + FLOOR) - Math.log(g + FLOOR));
    }
    return out;
  }
}
