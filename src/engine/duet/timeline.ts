// The duet's one word sequence: the person's and the AI's words in time order, the KV cache
// that holds them, the grammar position and the encoder state that both parts continue.
// Marks let a speculative or cut-short run of words be taken back exactly.

import { initialEncoderState, type EncoderState } from '../encode.ts';
import type { KVCache } from '../model/kv-cache.ts';
import type { CPTransformer, NextWordLogits } from '../model/transformer.ts';
import { Grammar } from '../sampler/grammar.ts';
import { BAR, CONTI, F, STEPS_PER_BAR, TYPE, tokenToBeat, type Word } from '../vocab.ts';

/** Runs up to this long are stepped word by word rather than primed. */
const STEP_RUN = 3;

export interface TimelineMark {
  readonly length: number;
  readonly slides: number;
  readonly grammar: Grammar;
  readonly enc: EncoderState;
  readonly next: NextWordLogits | null;
}

export class Timeline {
  readonly cache: KVCache;
  grammar = new Grammar();
  /** Shared with the live tokenizer of the current call, so the person's words continue the AI's. */
  readonly enc: EncoderState = initialEncoderState();
  /** Distributions for the next word; null before the first word. */
  next: NextWordLogits | null = null;
  /** Words appended over the session's life (the cache keeps only its window). */
  total = 0;

  constructor(
    readonly model: CPTransformer,
    private readonly onModelCall: () => void = () => {},
  ) {
    this.cache = model.createCache();
  }

  /** Extends the cache: one word by a step, a run by one batched prime. */
  append(words: readonly Word[]): void {
    if (!words.length) return;
    for (const w of words) this.track(w);
    // A batched prime has a fixed cost of about three steps (measured on wasm), so short runs step.
    if (words.length <= STEP_RUN) for (const w of words) this.next = this.model.step(this.cache, w);
    else this.next = this.model.prime(this.cache, words);
    this.total += words.length;
    this.onModelCall();
  }

  /** The timeline step of a word that would come next (a Bar word: its bar's first step). */
  stepOf(w: Word): number {
    const g = this.grammar;
    if (w[F.type] === TYPE.METRICAL) {
      if (w[F.barBeat] === BAR) return (g.bar + 1) * STEPS_PER_BAR;
      return Math.max(g.bar, 0) * STEPS_PER_BAR + tokenToBeat(w[F.barBeat]);
    }
    return Math.max(g.bar, 0) * STEPS_PER_BAR + (g.step ?? 0);
  }

  /** The first step a new run of the person's words may use. */
  resumeStep(): number {
    const g = this.grammar;
    if (g.bar < 0) return 0;
    return g.step === null ? g.bar * STEPS_PER_BAR : g.bar * STEPS_PER_BAR + g.step + 1;
  }

  /** The first step of the first bar whose Bar word is not written yet. */
  nextBarStep(): number {
    return this.enc.nextBar * STEPS_PER_BAR;
  }

  mark(): TimelineMark {
    return { length: this.cache.length, slides: this.cache.slides, grammar: this.grammar.clone(), enc: { ...this.enc }, next: this.next };
  }

  /**
   * Takes back every word after `m`. False (and nothing changes) when the cache slid since,
   * because the words to drop are then mixed with the slide's copy.
   */
  rollback(m: TimelineMark): boolean {
    if (this.cache.slides !== m.slides || this.cache.length < m.length) return false;
    this.total -= this.cache.length - m.length;
    this.cache.truncate(m.length);
    this.grammar = m.grammar.clone();
    Object.assign(this.enc, m.enc);
    this.next = m.next;
    return true;
  }

  dispose(): void {
    this.cache.dispose();
  }

  /** Keeps the grammar and encoder state in step with a word from either part. */
  private track(w: Word): void {
    this.grammar.advance(w);
    if (w[F.type] !== TYPE.METRICAL) return;
    if (w[F.barBeat] === BAR) {
      this.enc.nextBar = Math.max(this.enc.nextBar, this.grammar.bar + 1);
      return;
    }
    if (w[F.tempo] !== CONTI) this.enc.lastTempo = w[F.tempo];
    if (w[F.chord] !== CONTI) this.enc.lastChord = w[F.chord];
  }
}
