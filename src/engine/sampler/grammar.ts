// Grammar masks: which tokens may come next so that every sampled word is well formed.
//
// The rules, in the compound-word grammar of vocab.ts:
// - a Bar word is [Metrical, Bar, CONTI, CONTI]; a Beat word may carry a tempo and chord;
// - within a bar, Beat positions strictly rise; after a Bar any Beat may follow;
// - a Beat carries a tempo only on a beat, and a chord only at a chord window's start (the
//   encoder writes them nowhere else; off those steps both are CONTI);
// - a Note sounds at the latest Beat, so it needs a Beat in the current bar; the notes of
//   one step come in rising pitch, each pitch once (as the encoder writes them);
// - no position (Beat) or onset (Note) before `notBefore`, the current time that the
//   caller supplies (bar index and step, in the same count as this grammar's bars);
// - EOS only when the caller allows it.
import { AntiphonError } from '../../errors.ts';
import { CHORD_WINDOW_STEPS } from '../chords.ts';
import { BAR, CONTI, F, FAMILY_SIZES, STEPS_PER_BAR, STEPS_PER_BEAT, TYPE, beatToken, tokenToBeat, type Word } from '../vocab.ts';

export interface TimePoint {
  /** Bars seen so far minus one: the first Bar word starts bar 0. */
  bar: number;
  /** Grid step in the bar, 0..15. */
  step: number;
}

export interface GrammarOptions {
  allowEos?: boolean;
  notBefore?: TimePoint | null;
}

const only = (size: number, token: number): Uint8Array => {
  const m = new Uint8Array(size);
  m[token] = 1;
  return m;
};

const before = (a: TimePoint, b: TimePoint) => a.bar < b.bar || (a.bar === b.bar && a.step < b.step);

export class Grammar {
  /** The current bar; -1 before the first Bar word. */
  bar = -1;
  /** The latest Beat's step in the current bar; null right after a Bar (or at the start). */
  step: number | null = null;
  /** The highest pitch token of a Note at the latest Beat; -1 before its first Note. */
  lastPitch = -1;
  allowEos: boolean;
  notBefore: TimePoint | null;
  ended = false;

  constructor(opts: GrammarOptions = {}) {
    this.allowEos = opts.allowEos ?? false;
    this.notBefore = opts.notBefore ?? null;
    if (this.notBefore && !(Number.isInteger(this.notBefore.step) && this.notBefore.step >= 0 && this.notBefore.step < STEPS_PER_BAR)) {
      throw new AntiphonError('E_SAMPLER_SETTING', `notBefore.step must be 0..${STEPS_PER_BAR - 1}, got ${this.notBefore.step}`);
    }
  }

  /** The grammar state after a history of words (the person's and the model's). */
  static after(words: readonly Word[], opts: GrammarOptions = {}): Grammar {
    const g = new Grammar(opts);
    for (const w of words) g.advance(w);
    return g;
  }

  clone(): Grammar {
    const g = new Grammar({ allowEos: this.allowEos, notBefore: this.notBefore ? { ...this.notBefore } : null });
    g.bar = this.bar;
    g.step = this.step;
    g.lastPitch = this.lastPitch;
    g.ended = this.ended;
    return g;
  }

  /** The position of the latest Beat, or null if the bar has none yet. */
  get position(): TimePoint | null {
    return this.step === null ? null : { bar: this.bar, step: this.step };
  }

  /** Why `word` breaks the grammar here, or null; does not change the state. */
  violation(word: Word): string | null {
    const type = word[F.type];
    if (this.ended) return 'a word after EOS';
    if (type === TYPE.EOS) return this.allowEos ? null : 'EOS is not allowed here';
    if (type === TYPE.NOTE) {
      if (this.step === null) return 'a Note before any Beat in its bar';
      if (this.notBefore && before({ bar: this.bar, step: this.step }, this.notBefore)) return 'a Note in the past';
      if (word[F.pitch] <= this.lastPitch) return `pitch token ${word[F.pitch]} does not rise above ${this.lastPitch} in its step`;
      return null;
    }
    const bb = word[F.barBeat];
    if (bb === BAR) return word[F.tempo] === CONTI && word[F.chord] === CONTI ? null : 'a Bar word carries a tempo or chord';
    if (this.bar < 0) return 'a Beat before the first Bar';
    const s = tokenToBeat(bb);
    if (this.step !== null && s <= this.step) return `Beat ${s} does not come after Beat ${this.step}`;
    if (this.notBefore && before({ bar: this.bar, step: s }, this.notBefore)) return `Beat ${s} of bar ${this.bar} is in the past`;
    if (word[F.tempo] !== CONTI && s % STEPS_PER_BEAT !== 0) return `a tempo at step ${s}, off the beat`;
    if (word[F.chord] !== CONTI && s % CHORD_WINDOW_STEPS !== 0) return `a chord at step ${s}, off a chord window's start`;
    return null;
  }

  advance(word: Word): void {
    const type = word[F.type];
    if (type === TYPE.EOS) this.ended = true;
    else if (type === TYPE.NOTE) this.lastPitch = Math.max(this.lastPitch, word[F.pitch]);
    else if (type === TYPE.METRICAL) {
      this.lastPitch = -1;
      if (word[F.barBeat] === BAR) {
        this.bar++;
        this.step = null;
      } else this.step = tokenToBeat(word[F.barBeat]);
    }
  }

  /** (3) 1 where the next word's type is allowed. Metrical is always possible (a Bar). */
  allowedTypes(): Uint8Array {
    const m = new Uint8Array(FAMILY_SIZES.type);
    if (this.ended) return m;
    m[TYPE.EOS] = this.allowEos ? 1 : 0;
    m[TYPE.METRICAL] = 1;
    const noteRoom = this.lastPitch < FAMILY_SIZES.pitch - 1;
    m[TYPE.NOTE] = this.step !== null && noteRoom && !(this.notBefore && before({ bar: this.bar, step: this.step }, this.notBefore)) ? 1 : 0;
    return m;
  }

  /** (pitch) 1 where a Note's pitch may come: above the step's notes so far. */
  allowedPitch(): Uint8Array {
    const m = new Uint8Array(FAMILY_SIZES.pitch);
    m.fill(1, this.lastPitch + 1);
    return m;
  }

  /** (tempo) A Beat at `step` may change the tempo only on a beat. */
  allowedTempo(step: number): Uint8Array | undefined {
    return step % STEPS_PER_BEAT === 0 ? undefined : only(FAMILY_SIZES.tempo, CONTI);
  }

  /** (chord) A Beat at `step` may change the chord only at a chord window's start. */
  allowedChord(step: number): Uint8Array | undefined {
    return step % CHORD_WINDOW_STEPS === 0 ? undefined : only(FAMILY_SIZES.chord, CONTI);
  }

  /** (17) 1 where a Metrical word's bar/beat token is allowed. */
  allowedBarBeat(): Uint8Array {
    const m = new Uint8Array(FAMILY_SIZES.barBeat);
    m[BAR] = 1;
    if (this.bar < 0) return m;
    for (let s = this.step === null ? 0 : this.step + 1; s < STEPS_PER_BAR; s++) {
      if (!this.notBefore || !before({ bar: this.bar, step: s }, this.notBefore)) m[beatToken(s)] = 1;
    }
    return m;
  }
}
