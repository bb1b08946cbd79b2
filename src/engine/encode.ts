// Score <-> compound words.
//
// Word order: each bar opens with a Bar word; then, step by step, a Beat word where something
// happens (a note starts, the half-bar chord changes, or the beat's tempo bin changes), followed
// by that step's Note words in rising pitch. Tempo and chord are CONTI unless they changed.
// The same resumable `encodeSteps` serves whole files and the live tokenizer's commits.

import { CHORD_WINDOW_STEPS, recognizeChord } from './chords.ts';
import type { Score, ScoreNote, TempoPoint, Performance } from './score.ts';
import {
  BAR,
  CONTI,
  DURATION_STEPS,
  F,
  MAX_DURATION_STEPS,
  STEPS_PER_BAR,
  STEPS_PER_BEAT,
  TICKS_PER_STEP,
  TYPE,
  UNUSED,
  beatToken,
  pitchToToken,
  tokenToPitch,
  tokenToBeat,
  tokenToTempo,
  tokenToVelocity,
  wordError,
  type Word,
} from './vocab.ts';
import { AntiphonError } from '../errors.ts';

export interface EncoderState {
  /** Last tempo token written, or -1 before the first. */
  lastTempo: number;
  /** Last chord token written, or -1 before the first. */
  lastChord: number;
  /** The first bar whose Bar word is not written yet (a duet's other part may have written some). */
  nextBar: number;
}

export const initialEncoderState = (): EncoderState => ({ lastTempo: -1, lastChord: -1, nextBar: 0 });

export const barWord = (): Word => [TYPE.METRICAL, BAR, CONTI, CONTI, UNUSED, UNUSED, UNUSED];
export const beatWord = (stepInBar: number, tempo: number, chord: number): Word =>
  [TYPE.METRICAL, beatToken(stepInBar), tempo, chord, UNUSED, UNUSED, UNUSED];
export const noteWord = (n: ScoreNote): Word =>
  [TYPE.NOTE, UNUSED, UNUSED, UNUSED, pitchToToken(n.pitch), n.duration, n.velocity];
export const eosWord = (): Word => [TYPE.EOS, UNUSED, UNUSED, UNUSED, UNUSED, UNUSED, UNUSED];

/**
 * Words for grid steps [from, to). `notes` is sorted by step and holds every note that starts
 * in the range and every earlier note that may still sound in it (chords read those).
 * Chords are recognized at chord-window boundaries, so a `from` inside a window (a duet turn
 * that starts where the other part stopped) leaves that window's chord to the words before.
 * Mutates `state`.
 */
export function encodeSteps(
  notes: readonly ScoreNote[],
  from: number,
  to: number,
  tempoOfBeat: (beat: number) => number,
  state: EncoderState,
  out: Word[] = [],
): Word[] {
  if (!Number.isInteger(from) || from < 0) throw new AntiphonError('E_INTERNAL', `encodeSteps needs a step >= 0, got ${from}`);
  let lo = 0; // first note that may still sound at `s`
  let at = 0; // first note starting at or after `s`
  for (let s = from; s < to; s++) {
    while (lo < notes.length && notes[lo].step + MAX_DURATION_STEPS <= s) lo++;
    while (at < notes.length && notes[at].step < s) at++;
    if (s % STEPS_PER_BAR === 0 && s / STEPS_PER_BAR >= state.nextBar) {
      out.push(barWord());
      state.nextBar = s / STEPS_PER_BAR + 1;
    }

    let chord = CONTI;
    if (s % CHORD_WINDOW_STEPS === 0) {
      let hi = at;
      while (hi < notes.length && notes[hi].step < s + CHORD_WINDOW_STEPS) hi++;
      const c = recognizeChord(notes.slice(lo, hi), s);
      if (c !== state.lastChord) chord = state.lastChord = c;
    }
    let tempo = CONTI;
    if (s % STEPS_PER_BEAT === 0) {
      const t = tempoOfBeat(s / STEPS_PER_BEAT);
      if (t !== state.lastTempo) tempo = state.lastTempo = t;
    }
    let end = at;
    while (end < notes.length && notes[end].step === s) end++;
    if (end > at || chord !== CONTI || tempo !== CONTI) out.push(beatWord(s % STEPS_PER_BAR, tempo, chord));
    for (let i = at; i < end; i++) out.push(noteWord(notes[i]));
  }
  return out;
}

/** A whole score, ending with EOS. An empty score is just EOS. */
export function encodeScore(score: Score): Word[] {
  const words: Word[] = [];
  const notes = score.notes;
  if (notes.length) {
    const lastStep = notes[notes.length - 1].step;
    const tempoOfBeat = (b: number) => score.beatTempos[Math.min(b, score.beatTempos.length - 1)];
    encodeSteps(notes, 0, lastStep + 1, tempoOfBeat, initialEncoderState(), words);
  }
  words.push(eosWord());
  return words;
}

export interface Decoded {
  notes: ScoreNote[];
  /** Explicit tempo tokens, where they were given. */
  tempos: Array<{ step: number; token: number }>;
  chords: Array<{ step: number; token: number }>;
  /** Whether an EOS word ended the sequence. */
  ended: boolean;
}

/** State carried across decode calls, so words can be decoded as they stream. */
export interface DecoderState {
  bar: number;
  step: number;
}
export const initialDecoderState = (): DecoderState => ({ bar: -1, step: 0 });

/**
 * Words -> notes. Accepts any well-formed word sequence, including a model's: a Note before any
 * Beat word in its bar sits on the bar's first step; a Note before any Bar sits in bar 0.
 */
export function decodeWords(words: Iterable<Word>, state: DecoderState = initialDecoderState()): Decoded {
  const out: Decoded = { notes: [], tempos: [], chords: [], ended: false };
  for (const w of words) {
    const err = wordError(w);
    if (err) throw new AntiphonError('E_WORD_INVALID', `cannot decode word [${w.join(', ')}]: ${err}`);
    if (w[F.type] === TYPE.EOS) {
      out.ended = true;
      break;
    }
    if (w[F.type] === TYPE.METRICAL) {
      if (w[F.barBeat] === BAR) {
        state.bar++;
        state.step = state.bar * STEPS_PER_BAR;
        continue;
      }
      state.bar = Math.max(state.bar, 0);
      state.step = state.bar * STEPS_PER_BAR + tokenToBeat(w[F.barBeat]);
      if (w[F.tempo] !== CONTI) out.tempos.push({ step: state.step, token: w[F.tempo] });
      if (w[F.chord] !== CONTI) out.chords.push({ step: state.step, token: w[F.chord] });
      continue;
    }
    state.bar = Math.max(state.bar, 0);
    out.notes.push({ step: state.step, pitch: tokenToPitch(w[F.pitch]), duration: w[F.duration], velocity: w[F.velocity] });
  }
  return out;
}

/** Decoded words as a playable performance at TICKS_PER_BEAT. */
export function decodedToPerformance(d: Decoded): Performance {
  const notes = d.notes.map((n) => ({
    tick: n.step * TICKS_PER_STEP,
    dur: DURATION_STEPS[n.duration] * TICKS_PER_STEP,
    pitch: n.pitch,
    velocity: tokenToVelocity(n.velocity),
  }));
  const tempos: TempoPoint[] = d.tempos.map((t) => ({ tick: t.step * TICKS_PER_STEP, bpm: tokenToTempo(t.token) }));
  return { notes, tempos };
}
