// The duet's one word sequence: the person's and the AI's words in time order, the KV cache
// that holds them, the grammar position and the encoder state that both parts continue.
// Marks let a speculative or cut-short run of words be taken back exactly.
//
// Words can be queued before the model sees them (`enqueue`, then `work` in slices), so a
// session that shares its thread with others never blocks it for a whole bar of words. The
// grammar and encoder state follow a word when it is queued; the cache, when it is worked.
// Anything that needs the cache current (the next word's distributions, a mark) settles first.

import { initialEncoderState, type EncoderState } from '../encode.ts';
import type { KVCache } from '../model/kv-cache.ts';
import type { CPTransformer, NextWordLogits } from '../model/transformer.ts';
import { Grammar } from '../sampler/grammar.ts';
import { BAR, CONTI, F, STEPS_PER_BAR, TYPE, tokenToBeat, type Word } from '../vocab.ts';

/**
 * Runs up to this long are stepped word by word rather than primed. On wasm a paged prime of 2
 * words already costs about what 2 steps do (ctx 100: 3.4 vs 2.7 ms; ctx 900: 4.5 vs 6.4 ms)
 * and 3 or more prime faster, so only a single word steps.
 */
const STEP_RUN = 1;

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
  private nextLogits: NextWordLogits | null = null;
  /** Words queued for the model, in order, with the time each run was queued. */
  private readonly queue: Array<{ words: readonly Word[]; at: number }> = [];
  private queued = 0;
  /** Words appended over the session's life, queued ones included (the cache keeps only its window). */
  total = 0;

  constructor(
    readonly model: CPTransformer,
    private readonly onModelCall: () => void = () => {},
  ) {
    this.cache = model.createCache();
  }

  /** Distributions for the next word (after every queued word); null before the first word. */
  get next(): NextWordLogits | null {
    this.settle();
    return this.nextLogits;
  }

  /** Words queued and not yet in the cache. */
  get pending(): number {
    return this.queued;
  }

  /** Extends the cache now, after anything queued. */
  append(words: readonly Word[]): void {
    this.enqueue(words);
    this.settle();
  }

  /** Queues words for the cache; the grammar and encoder state take them at once. */
  enqueue(words: readonly Word[], at = performance.now()): void {
    if (!words.length) return;
    for (const w of words) this.track(w);
    this.queue.push({ words, at });
    this.queued += words.length;
    this.total += words.length;
  }

  /**
   * Puts up to `max` queued words into the cache in one model call. Returns, for each queued
   * run this finished, the ms since it was queued.
   */
  work(max = Infinity): number[] {
    const run: Word[] = [];
    const finished: number[] = [];
    while (this.queue.length && run.length < max) {
      const head = this.queue[0];
      const take = Math.min(head.words.length, max - run.length);
      run.push(...head.words.slice(0, take));
      if (take === head.words.length) {
        this.queue.shift();
        finished.push(head.at);
      } else head.words = head.words.slice(take);
    }
    if (!run.length) return [];
    this.queued -= run.length;
    if (run.length <= STEP_RUN) for (const w of run) this.nextLogits = this.model.step(this.cache, w);
    else this.nextLogits = this.model.prime(this.cache, run);
    this.onModelCall();
    const now = performance.now();
    return finished.map((at) => now - at);
  }

  /** Every queued word into the cache. */
  settle(): void {
    if (this.queued) this.work();
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

  /** A point to roll back to; settles the queue first. */
  mark(): TimelineMark {
    const next = this.next;
    return { length: this.cache.length, slides: this.cache.slides, grammar: this.grammar.clone(), enc: { ...this.enc }, next };
  }

  /**
   * Takes back every word after `m`, queued ones included. False (and nothing changes) when
   * the cache slid since, because the words to drop are then mixed with the slide's copy.
   */
  rollback(m: TimelineMark): boolean {
    if (this.cache.slides !== m.slides || this.cache.length < m.length) return false;
    this.total -= this.cache.length - m.length + this.queued;
    this.queue.length = 0;
    this.queued = 0;
    this.cache.truncate(m.length);
    this.grammar = m.grammar.clone();
    Object.assign(this.enc, m.enc);
    this.nextLogits = m.next;
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
