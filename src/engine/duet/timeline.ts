// The duet's one word sequence: the person's and the AI's words in time order, the KV cache
// that holds them, the grammar position and the encoder state that both parts continue.
// Marks let a speculative or cut-short run of words be taken back exactly.
//
// Words can be queued before the model sees them (`enqueue`, then `work` in slices), so a
// session that shares its thread with others never blocks it for a whole bar of words. The
// grammar and encoder state follow a word when it is queued; the cache, when it is worked.
// Anything that needs the cache current (the next word's distributions, a mark) settles first.
//
// A forecast (`speculate`) is a run of words expected to come next, primed in idle slices after
// the real words and never tracked. Real words that match it take its place in the cache with
// no model work; the rest of it is cut off. Only the words themselves decide what is kept, so a
// wrong forecast costs idle time and never changes what the model hears.

import { initialEncoderState, type EncoderState } from '../encode.ts';
import type { KVCache } from '../model/kv-cache.ts';
import type { CPTransformer, NextWordLogits } from '../model/transformer.ts';
import { Grammar } from '../sampler/grammar.ts';
import { REFERENCE_NOTES } from '../sampler/pitch-balance.ts';
import { BAR, CONTI, F, STEPS_PER_BAR, TYPE, tokenToBeat, tokenToPitch, type Word } from '../vocab.ts';

/**
 * Runs up to this long are stepped word by word rather than primed. On wasm a paged prime of 2
 * words already costs about what 2 steps do (ctx 100: 3.4 vs 2.7 ms; ctx 900: 4.5 vs 6.4 ms)
 * and 3 or more prime faster, so only a single word steps.
 */
const STEP_RUN = 1;

const sameWord = (a: Word, b: Word): boolean => a.every((x, i) => x === b[i]);

export interface TimelineMark {
  readonly length: number;
  readonly notes: readonly number[];
  readonly noteSteps: readonly number[];
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
  private readonly queue: Array<{ words: readonly Word[]; at: number; measure: boolean }> = [];
  private queued = 0;
  /** Words appended over the session's life, queued ones included (the cache keeps only its window). */
  total = 0;
  /** Pitch classes of the latest REFERENCE_NOTES note words of either part (a pitch balance's reference). */
  private notes: number[] = [];
  /** Their timeline steps (a density balance's reference). */
  private noteSteps: number[] = [];
  /** The forecast: words expected after the real ones; the first `specDone` of them are in the cache. */
  private spec: readonly Word[] = [];
  private specDone = 0;
  /** Where real words are expected to stop in the forecast (counts of its words). */
  private specCuts: readonly number[] = [];
  /** Distributions after the forecast's words in the cache, by count: at each cut and at specDone. */
  private specNext = new Map<number, NextWordLogits>();
  /** ms from each measured run's enqueue until it was all in the cache, not yet taken by `takeLatencies`. */
  private readonly latencies: number[] = [];
  /** Forecast words primed, and those of them real words matched (so were never primed again). */
  forecastPrimed = 0;
  forecastKept = 0;

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

  /** Real words in the cache (the cache may hold a forecast after them). */
  get length(): number {
    return this.cache.length - this.specDone;
  }

  /** Forecast words not yet primed. */
  get speculating(): number {
    return this.spec.length - this.specDone;
  }

  /** Extends the cache now, after anything queued. */
  append(words: readonly Word[]): void {
    this.enqueue(words);
    this.settle();
  }

  /**
   * Queues words for the cache; the grammar and encoder state take them at once. Forecast
   * words they match are kept in the cache as theirs, and the rest of the forecast is cut off.
   */
  enqueue(words: readonly Word[], opts: { at?: number; measure?: boolean } = {}): void {
    if (!words.length) return;
    const at = opts.at ?? performance.now();
    const measure = opts.measure ?? false;
    for (const w of words) this.track(w);
    this.total += words.length;
    const rest = this.claimForecast(words);
    if (!rest.length) {
      if (measure) this.latencies.push(performance.now() - at);
      return;
    }
    this.queue.push({ words: rest, at, measure });
    this.queued += rest.length;
  }

  /**
   * Sets the forecast: the words expected after the real ones, and the counts of them at which
   * the real words may stop (their distributions are kept there). What the cache holds of the
   * old forecast is kept as far as the new one agrees with it; `workForecast` primes the rest.
   */
  speculate(words: readonly Word[], cuts: readonly number[] = []): void {
    let k = this.primedAgreement(words);
    if (k < this.specDone) {
      // With nothing new to prime and no distributions kept after word k, word k is primed again.
      if (k === words.length && k > 0 && !this.specNext.has(k)) k--;
      this.cache.truncate(this.cache.length - (this.specDone - k));
      this.specDone = k;
      for (const n of this.specNext.keys()) if (n > k) this.specNext.delete(n);
    }
    this.spec = words;
    this.specCuts = cuts;
  }

  /** Drops the forecast, in the cache and not. */
  dropForecast(): void {
    if (this.specDone) this.cache.truncate(this.cache.length - this.specDone);
    this.spec = [];
    this.specCuts = [];
    this.specDone = 0;
    this.specNext.clear();
  }

  /**
   * Primes up to `max` forecast words (stopping at a cut), after every real queued word. One
   * that fills the window slides it, as the real words would a few words later; a slide stays
   * if the forecast turns out wrong (the window then slid those few words early).
   */
  workForecast(max = Infinity): void {
    this.settle();
    const cut = this.specCuts.find((c) => c > this.specDone) ?? this.spec.length;
    const run = this.spec.slice(this.specDone, Math.min(cut, this.specDone + max));
    if (!run.length) return;
    const next = run.length <= STEP_RUN ? this.model.step(this.cache, run[0]) : this.model.prime(this.cache, run);
    this.specDone += run.length;
    this.specNext.set(this.specDone, next);
    this.forecastPrimed += run.length;
    this.onModelCall();
  }

  /** The ms each measured run took to reach the cache, since the last call. */
  takeLatencies(): number[] {
    return this.latencies.splice(0);
  }

  /**
   * Puts up to `max` queued words into the cache in one model call. Each measured run it
   * finishes leaves the ms since it was queued for `takeLatencies`.
   */
  work(max = Infinity): void {
    const run: Word[] = [];
    const finished: Array<{ at: number; measure: boolean }> = [];
    while (this.queue.length && run.length < max) {
      const head = this.queue[0];
      const take = Math.min(head.words.length, max - run.length);
      run.push(...head.words.slice(0, take));
      if (take === head.words.length) {
        this.queue.shift();
        finished.push(head);
      } else head.words = head.words.slice(take);
    }
    if (!run.length) return;
    this.queued -= run.length;
    if (run.length <= STEP_RUN) for (const w of run) this.nextLogits = this.model.step(this.cache, w);
    else this.nextLogits = this.model.prime(this.cache, run);
    this.onModelCall();
    const now = performance.now();
    for (const f of finished) if (f.measure) this.latencies.push(now - f.at);
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

  /** Pitch classes (C = 0) of the latest notes of either part, oldest first, at most REFERENCE_NOTES. */
  get recentPitchClasses(): readonly number[] {
    return this.notes;
  }

  /** The timeline steps of the same notes. */
  get recentNoteSteps(): readonly number[] {
    return this.noteSteps;
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

  /** A point to roll back to, after the real words; settles the queue first. */
  mark(): TimelineMark {
    const next = this.next;
    return { length: this.length, notes: this.notes.slice(), noteSteps: this.noteSteps.slice(), slides: this.cache.slides, grammar: this.grammar.clone(), enc: { ...this.enc }, next };
  }

  /**
   * Takes back every word after `m`, queued ones included. False (and nothing changes) when
   * the cache slid since, because the words to drop are then mixed with the slide's copy.
   */
  rollback(m: TimelineMark): boolean {
    if (this.cache.slides !== m.slides || this.length < m.length) return false;
    this.total -= this.length - m.length + this.queued;
    this.queue.length = 0;
    this.queued = 0;
    this.dropForecast();
    this.cache.truncate(m.length);
    this.grammar = m.grammar.clone();
    this.notes = m.notes.slice();
    this.noteSteps = m.noteSteps.slice();
    Object.assign(this.enc, m.enc);
    this.nextLogits = m.next;
    return true;
  }

  dispose(): void {
    this.cache.dispose();
  }

  /**
   * Real words are about to be queued: the forecast words in the cache that they match become
   * theirs, the rest of the forecast goes. Returns the words still to prime.
   */
  private claimForecast(words: readonly Word[]): readonly Word[] {
    if (!this.spec.length) return words;
    const k = this.primedAgreement(words);
    const kept = this.specNext.get(k);
    const done = this.specDone;
    this.spec = [];
    this.specCuts = [];
    this.specDone = 0;
    this.specNext.clear();
    this.forecastKept += k;
    this.cache.truncate(this.cache.length - (done - k));
    if (kept) {
      this.nextLogits = kept;
      return words.slice(k);
    }
    // The distributions after word k were not kept: with nothing left to prime, word k is stepped again.
    if (k > 0 && k === words.length) {
      this.cache.truncate(this.cache.length - 1);
      this.forecastKept--;
      return words.slice(k - 1);
    }
    return words.slice(k);
  }

  /** How many of the forecast words in the cache `words` repeat, from the first. */
  private primedAgreement(words: readonly Word[]): number {
    let k = 0;
    while (k < this.specDone && k < words.length && sameWord(this.spec[k], words[k])) k++;
    return k;
  }

  /** Keeps the grammar and encoder state in step with a word from either part. */
  private track(w: Word): void {
    this.grammar.advance(w);
    if (w[F.type] === TYPE.NOTE) {
      this.notes.push(tokenToPitch(w[F.pitch]) % 12);
      this.noteSteps.push(Math.max(this.grammar.bar, 0) * STEPS_PER_BAR + (this.grammar.step ?? 0));
      if (this.notes.length > REFERENCE_NOTES) {
        this.notes.shift();
        this.noteSteps.shift();
      }
    }
    if (w[F.type] !== TYPE.METRICAL) return;
    if (w[F.barBeat] === BAR) {
      this.enc.nextBar = Math.max(this.enc.nextBar, this.grammar.bar + 1);
      return;
    }
    if (w[F.tempo] !== CONTI) this.enc.lastTempo = w[F.tempo];
    if (w[F.chord] !== CONTI) this.enc.lastChord = w[F.chord];
  }
}
