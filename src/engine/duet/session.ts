// One performer's duet with the model: listens to a call, answers it on the call's grid, and
// yields the moment the person plays again.
//
// Listening: events go through a live tokenizer; committed words extend the KV cache as the
// person plays. When the person goes quiet (no key held, pedal up) the answer is prepared,
// speculatively: the call's last words are primed and the answer sampled up to its first
// note. If the silence lasts `silenceMs` (or the hand-off controller is pressed) the phrase has
// ended and the prepared answer starts; if the person plays on, the speculation is taken back
// word for word (timeline marks), so it costs nothing but the idle time it used.
//
// Model work while listening comes in slices of at most `workSliceWords` words, each its own
// task on the scheduler: a session never holds its thread for a whole pedalled bar, so other
// sessions in the thread (and the sockets of the server thread) get their turn between slices.
// A phrase end that finds work left finishes it at once.
//
// Forecast: while the person plays, the words they are expected to commit next (their notes
// as if they ended at the next pedal change or window end; see release-forecast.ts) are
// primed in idle slices after the real words. Real words that match are already in the cache;
// the rest of the forecast is cut off. A wrong forecast costs idle time, never a wrong context.
//
// Answering: see answer.ts. A note-on from the person cuts the answer (barge-in) and begins the
// next call.

import { Subject, asyncScheduler, type Observable, type SchedulerLike, type Subscription } from 'rxjs';
import { AntiphonError, isAntiphonError } from '../../errors.ts';
import { FixedTempoGrid, LiveTokenizer, type TimeGrid } from '../live-tokenizer.ts';
import type { CPTransformer } from '../model/transformer.ts';
import { assertNoteEvent, type NoteEvent } from '../note-events.ts';
import { Sampler } from '../sampler/sampler.ts';
import { tickToStep } from '../quantize.ts';
import { STEPS_PER_BAR, TICKS_PER_STEP, type Word } from '../vocab.ts';
import { Answer, type AnswerPlan } from './answer.ts';
import { ClockGrid } from './clock-grid.ts';
import { Recorder } from './recorder.ts';
import { ReleaseForecast } from './release-forecast.ts';
import { windowEnd } from '../chords.ts';
import { SegmentGrid } from './segment-grid.ts';
import { DEFAULT_DUET_SETTINGS, resolveDuetSettings } from './settings.ts';
import { estimateTempo } from './tempo-estimate.ts';
import { Timeline, type TimelineMark } from './timeline.ts';
import type {
  ClockEvent,
  DuetOutput,
  DuetSessionApi,
  DuetSessionOptions,
  DuetSettings,
  DuetSettingsInput,
  Recording,
  Turn,
} from './types.ts';

const SUSTAIN = 64;
/** The share of the silence threshold after which the answer is prepared. */
const PREPARE_AT = 0.25;

/**
 * Default for DuetSessionOptions.workSliceWords. A batched prime has a fixed cost that grows
 * with the context (on wasm at 900 words: ~4-6 ms for 4 words, ~12-14 ms for 19), so small
 * slices multiply the work: 32 leaves a pedalled bar whole and splits only long runs, such as the
 * first call of a 'call'-tempo segment, primed at its phrase end.
 */
export const DEFAULT_WORK_SLICE_WORDS = 32;

/** A valid workSliceWords, or E_SETTING naming it. */
export function checkWorkSliceWords(n: number | undefined): number {
  const v = n ?? DEFAULT_WORK_SLICE_WORDS;
  if (!Number.isInteger(v) || v < 1) throw new AntiphonError('E_SETTING', `workSliceWords must be a whole number of words, 1 or more (got ${n})`);
  return v;
}

/**
 * Forecasts made on a timer (the guessed end passed with notes still sounding) before the
 * person's next event: a pedal held for bars would otherwise re-prime its words every step.
 */
const MAX_TIMED_FORECASTS = 4;

/** Timing samples kept per kind by default; an endless session keeps only the newest. */
export const DEFAULT_STATS_SAMPLES = 1024;

/** Timings a benchmark or a status page reads (the newest `statsSamples` of each kind). */
export interface DuetStats {
  /** ms from an event that made words final until the last of them is in the cache. */
  ingestMs: number[];
  /** ms of each uninterrupted piece of model work (a slice, an answer's pump): how long the session holds its thread. */
  blockMs: number[];
  /** ms from the phrase-end trigger to the answer's first note in the scheduler. */
  firstAnswerMs: number[];
  /** ms of speculative work done in the silence before a phrase end (its slices added up). */
  prepareMs: number[];
  wordsPlayed: number;
  wordsGenerated: number;
  /** Speculative answers taken back because the person played on. */
  rollbacks: number;
  /** Forecast words primed, and those of them the person's real words matched. */
  forecastPrimed: number;
  forecastKept: number;
  /** Wall-clock ms spent generating answers, and the answers' musical length in ms. */
  generateMs: number;
  answeredMs: number;
}

interface Prepared {
  mark: TimelineMark;
  rngState: number;
  answer: Answer;
  /** The trigger time the plan was made for. */
  triggerAt: number;
  /** The call's words this preparation put in the cache. */
  callWords: number;
  /** A 'call'-tempo segment estimated for this call, adopted only if the phrase really ends. */
  segment: SegmentGrid | null;
  bpm: number | null;
  /** The answer is sampled up to its first note. */
  ready: boolean;
  /** ms of work so far. */
  workMs: number;
}

export class DuetSession implements DuetSessionApi {
  private readonly out = new Subject<DuetOutput>();
  readonly output$: Observable<DuetOutput> = this.out.asObservable();
  readonly stats: DuetStats = { ingestMs: [], blockMs: [], firstAnswerMs: [], prepareMs: [], wordsPlayed: 0, wordsGenerated: 0, rollbacks: 0, forecastPrimed: 0, forecastKept: 0, generateMs: 0, answeredMs: 0 };

  private current: DuetSettings;
  private readonly scheduler: SchedulerLike;
  private readonly timeline: Timeline;
  private readonly sampler: Sampler;
  private readonly recorder = new Recorder();
  private readonly subs: Subscription[] = [];
  private clock: ClockGrid | null = null;

  /** The grid of the current segment; null until the first call (or while a 'call' tempo is unknown). */
  private segment: SegmentGrid | null = null;
  private segmentStale = false;
  /** Tempo of the session's first segment and its bar-1 time: the recording's tempo map. */
  private firstBpm: number | null = null;
  private originMs: number | null = null;

  private call: LiveTokenizer | null = null;
  /** Events of a call whose tempo is not known yet ('call' tempo at a segment start). */
  private buffered: NoteEvent[] | null = null;
  private keysDown = new Set<string>();
  private pedalDown = false;
  private lastChannel = 0;
  private lastEventAt = -Infinity;
  private silenceTimer: Subscription | null = null;
  private prepareTimer: Subscription | null = null;
  /** A preparation asked for (the phrase end it expects), not begun yet. */
  private prepareFor: number | null = null;
  private prepared: Prepared | null = null;
  /** The next slice of model work, when there is work left. */
  private workTimer: Subscription | null = null;
  private readonly sliceWords: number;
  private readonly forecasting: boolean;
  private readonly releases = new ReleaseForecast();
  private forecastTimer: Subscription | null = null;
  private timedForecasts = 0;
  private answer: Answer | null = null;
  private disposed = false;
  private readonly statsSamples: number;

  constructor(
    readonly model: CPTransformer,
    opts: DuetSessionOptions = {},
  ) {
    this.current = resolveDuetSettings(opts.settings ?? {}, DEFAULT_DUET_SETTINGS);
    this.scheduler = opts.scheduler ?? asyncScheduler;
    this.timeline = new Timeline(model, opts.onModelCall);
    this.sampler = new Sampler({ seed: opts.seed ?? 1, settings: this.current.sampling });
    this.statsSamples = opts.statsSamples ?? DEFAULT_STATS_SAMPLES;
    this.sliceWords = checkWorkSliceWords(opts.workSliceWords);
    this.forecasting = opts.forecast ?? true;
  }

  get settings(): DuetSettings {
    return this.current;
  }

  get turn(): Turn {
    return this.answer ? 'answering' : 'listening';
  }

  /** Words in the context window now (a forecast primed after them not counted). */
  get contextWords(): number {
    return this.timeline.length;
  }

  /** Words over the session's life, both parts. */
  get totalWords(): number {
    return this.timeline.total;
  }

  connect(input: Observable<NoteEvent>): Subscription {
    this.assertLive();
    const sub = input.subscribe({ next: (e) => this.push(e), error: (e) => this.emitError(e) });
    this.subs.push(sub);
    return sub;
  }

  connectClock(clock$: Observable<ClockEvent>): Subscription {
    this.assertLive();
    const sub = clock$.subscribe({ next: (e) => this.pushClock(e), error: (e) => this.emitError(e) });
    this.subs.push(sub);
    return sub;
  }

  push(event: NoteEvent): void {
    if (this.disposed) return;
    try {
      assertNoteEvent(event);
      this.onEvent(event);
    } catch (e) {
      this.emitError(e);
    }
  }

  /** One MIDI clock message, as connectClock() would feed it. Never throws (errors go to output$). */
  pushClock(e: ClockEvent): void {
    if (this.disposed) return;
    try {
      this.onClock(e);
    } catch (err) {
      this.emitError(err);
    }
  }

  update(input: DuetSettingsInput): DuetSettings {
    this.assertLive();
    const next = resolveDuetSettings(input, this.current);
    if (input.sampling) this.sampler.update(next.sampling);
    const tempoChanged = next.tempoSource !== this.current.tempoSource || (next.tempoSource === 'fixed' && next.bpm !== this.current.bpm);
    // The grid under words already written cannot move; a new tempo starts with the next call.
    if (tempoChanged) this.segmentStale = true;
    this.current = next;
    this.answer?.retune(next);
    return next;
  }

  handOff(): void {
    if (this.disposed || this.answer) return;
    this.trigger();
  }

  panic(): void {
    if (this.disposed) return;
    this.abandonPrepared();
    this.stopAnswer();
  }

  recording(): Recording {
    const now = this.scheduler.now();
    return this.recorder.snapshot(this.firstBpm ?? this.current.bpm, this.originMs ?? now, now);
  }

  dispose(): void {
    if (this.disposed) return;
    this.clearTimers();
    this.abandonPrepared();
    this.stopAnswer();
    this.disposed = true;
    for (const s of this.subs) s.unsubscribe();
    this.subs.length = 0;
    this.timeline.dispose();
    this.out.complete();
  }

  // ---- listening ------------------------------------------------------------

  private onEvent(e: NoteEvent): void {
    this.lastEventAt = Math.max(this.lastEventAt, e.time);
    if (e.channel !== undefined) this.lastChannel = e.channel;
    const now = this.scheduler.now();
    if (e.type === 'cc' && this.current.handoffController !== null && e.controller === this.current.handoffController) {
      if (e.value >= 64 && !this.answer) this.trigger();
      return;
    }
    this.trackKeys(e);
    this.recorder.played(e);
    if (e.type === 'cc' && e.controller === SUSTAIN && e.value < 64 && this.segment) {
      const seg = this.segment;
      this.releases.pedalUp(e.time, (ms) => tickToStep(seg.tick(ms)));
    }
    // Barge-in: the new notes begin the next call.
    if (e.type === 'noteon' && e.velocity > 0 && this.answer) this.stopAnswer();
    // The person played on: a speculative answer is taken back.
    this.abandonPrepared();
    this.silenceTimer?.unsubscribe();
    this.silenceTimer = null;

    if (!this.call && !this.buffered) {
      // Only a note starts a call; a pedal or controller before it is remembered by the tracker.
      if (e.type !== 'noteon' || e.velocity === 0) return;
      this.startCall(e);
      // A pedal already down lengthens the call's first notes, as it would have had it come after.
      if (this.pedalDown) this.toCall({ type: 'cc', controller: SUSTAIN, value: 127, channel: e.channel, time: e.time });
    }
    this.toCall(e);

    if (this.idle() && (this.call || this.buffered)) {
      this.silenceTimer = this.scheduler.schedule(() => this.trigger(), this.current.silenceMs);
      // Prepare once the quiet has lasted a quarter of the threshold: not in every gap between
      // detached notes (the work would block the next note's ingest), but long before the end.
      this.prepareTimer?.unsubscribe();
      this.prepareTimer = this.scheduler.schedule(() => this.askPrepare(now + this.current.silenceMs), this.current.silenceMs * PREPARE_AT);
    }
    this.timedForecasts = 0;
    this.forecast();
  }

  /**
   * Primes, in idle slices, the words the call is expected to commit next; again on a timer
   * when the guessed end passes with notes still sounding.
   */
  private forecast(): void {
    this.forecastTimer?.unsubscribe();
    this.forecastTimer = null;
    const call = this.call;
    if (!this.forecasting || this.disposed || this.answer || this.prepared || this.prepareFor !== null || !call || call.done) return;
    const now = this.scheduler.now();
    const release = this.releases.releaseStep(now, (ms) => tickToStep(call.grid.tick(ms)), this.pedalDown, call.lastOnset);
    // Up to the end of the window of the latest onset or of the release, whichever is later.
    const f = call.predict(release, windowEnd(Math.max(call.lastOnset, release - 1)));
    this.timeline.speculate(f.words, f.cuts);
    if (this.timeline.speculating && !this.workTimer) this.workTimer = this.scheduler.schedule(() => this.work(), 0);
    if (call.heldNotes > 0 && this.timedForecasts < MAX_TIMED_FORECASTS) {
      // An end from here on lands on a later step than the guess.
      const at = call.grid.ms((release + 0.5) * TICKS_PER_STEP);
      this.forecastTimer = this.scheduler.schedule(() => {
        this.timedForecasts++;
        this.forecast();
      }, Math.max(0, at - now));
    }
  }

  private toCall(e: NoteEvent): void {
    if (this.buffered) this.buffered.push(e);
    else if (this.call) this.ingest(this.call.push(e));
  }

  private trackKeys(e: NoteEvent): void {
    const key = `${e.channel ?? 0}:${'note' in e ? e.note : -1}`;
    if (e.type === 'noteon' && e.velocity > 0) this.keysDown.add(key);
    else if (e.type === 'noteoff' || e.type === 'noteon') this.keysDown.delete(key);
    else if (e.controller === SUSTAIN) this.pedalDown = e.value >= 64;
  }

  private idle(): boolean {
    return this.keysDown.size === 0 && !this.pedalDown;
  }

  private startCall(first: NoteEvent): void {
    const from = this.timeline.resumeStep();
    const src = this.current.tempoSource;
    if (this.segment && !this.segmentStale) {
      // Same grid, unless the rest since the last words is longer than maxRestBars.
      const step = this.segment.tick(first.time) / TICKS_PER_STEP;
      if (step - from <= this.current.maxRestBars * STEPS_PER_BAR) {
        this.call = new LiveTokenizer(this.segment, { from, state: this.timeline.enc });
        return;
      }
    }
    if (src === 'call') {
      // A new segment whose tempo comes from this call: hold its events until it ends.
      this.buffered = [];
      return;
    }
    this.segment = this.newSegment(src === 'clock' ? this.clockGrid() : new FixedTempoGrid(this.current.bpm), first.time);
    this.call = new LiveTokenizer(this.segment, { from: this.segmentStart(this.segment), state: this.timeline.enc });
  }

  /** A segment continuing the timeline at the next unwritten bar, anchored at `ms`. */
  private newSegment(grid: TimeGrid, ms: number): SegmentGrid {
    grid.anchor(ms);
    // A clock grid keeps its bar lines: the note lands in the next bar at its place in the clock's bar.
    const inBar = grid instanceof ClockGrid ? Math.floor(grid.tick(ms) / TICKS_PER_STEP / STEPS_PER_BAR) * STEPS_PER_BAR : 0;
    const seg = new SegmentGrid(grid, this.timeline.nextBarStep() - inBar);
    this.segmentStale = false;
    if (this.originMs === null) {
      this.originMs = seg.ms(this.timeline.nextBarStep() * TICKS_PER_STEP);
      this.firstBpm = grid instanceof FixedTempoGrid ? grid.bpm : grid instanceof ClockGrid ? grid.bpm : this.current.bpm;
    }
    this.emit({ type: 'tempo', bpm: this.bpmOf(grid), source: this.current.tempoSource });
    return seg;
  }

  private segmentStart(seg: SegmentGrid): number {
    return Math.max(this.timeline.resumeStep(), seg.fromStep);
  }

  private bpmOf(grid: TimeGrid): number {
    return grid instanceof FixedTempoGrid || grid instanceof ClockGrid ? Math.round(grid.bpm * 10) / 10 : this.current.bpm;
  }

  private clockGrid(): ClockGrid {
    this.clock ??= new ClockGrid(this.current.bpm);
    return this.clock;
  }

  private onClock(e: ClockEvent): void {
    const grid = this.clockGrid();
    if (grid.onClock(e) && this.current.tempoSource === 'clock') this.emit({ type: 'tempo', bpm: this.bpmOf(grid), source: 'clock' });
    if (e.type === 'start' && this.current.tempoSource === 'clock') this.segmentStale = true;
  }

  private ingest(words: Word[]): void {
    if (!words.length) return;
    this.timeline.enqueue(words, { measure: true });
    this.stats.wordsPlayed += words.length;
    this.work();
  }

  // ---- sliced work ----------------------------------------------------------

  /** Does one slice of the work left now, and schedules the next while any is left. */
  private work(): void {
    this.workTimer?.unsubscribe();
    this.workTimer = null;
    if (this.disposed) return;
    const t0 = performance.now();
    try {
      if (this.timeline.pending) {
        this.timeline.work(this.sliceWords);
      } else if (this.prepareFor !== null) {
        this.beginPrepare(this.prepareFor, false);
      } else if (this.prepared && !this.prepared.ready) {
        this.prepared.ready = this.prepared.answer.primeSlice(1);
        if (this.prepared.ready) this.sample(this.stats.prepareMs, this.prepared.workMs + performance.now() - t0);
      } else if (this.timeline.speculating) {
        this.timeline.workForecast(this.sliceWords);
      }
    } catch (e) {
      this.abandonPrepared();
      this.timeline.dropForecast();
      this.emitError(e);
    }
    for (const ms of this.timeline.takeLatencies()) this.sample(this.stats.ingestMs, ms);
    this.stats.forecastPrimed = this.timeline.forecastPrimed;
    this.stats.forecastKept = this.timeline.forecastKept;
    const ms = performance.now() - t0;
    this.sample(this.stats.blockMs, ms);
    if (this.prepared) this.prepared.workMs += ms;
    const more = this.timeline.pending > 0 || this.prepareFor !== null || (this.prepared !== null && !this.prepared.ready) || this.timeline.speculating > 0;
    if (more) this.workTimer = this.scheduler.schedule(() => this.work(), 0);
  }

  /** The phrase is over: whatever is left of the preparation is done now. */
  private settle(): void {
    this.workTimer?.unsubscribe();
    this.workTimer = null;
    this.timeline.settle();
  }

  // ---- phrase end -----------------------------------------------------------

  /** The quiet has lasted: prepare an answer for a phrase end at `triggerAt`, in slices. */
  private askPrepare(triggerAt: number): void {
    this.prepareTimer = null;
    if (this.disposed || this.answer || this.prepared || !this.idle()) return;
    this.prepareFor = triggerAt;
    this.work();
  }

  /**
   * Begins the answer for a phrase end expected at `triggerAt`: a mark, the call's remaining
   * words queued, and the plan. The slices that follow put the words in the cache and sample
   * the answer up to its first note. Forced (a hand-off with keys down): the held notes end
   * now, and there is no going back.
   */
  private beginPrepare(triggerAt: number, force: boolean): void {
    this.prepareFor = null;
    if (this.disposed || this.answer || this.prepared || (!force && !this.idle())) return;
    const mark = this.timeline.mark();
    const rngState = this.sampler.state;
    let segment: SegmentGrid | null = null;
    let bpm: number | null = null;
    let words: Word[] | null;
    let span: { first: number; end: number } | null;
    try {
      if (this.buffered) {
        bpm = estimateTempo(this.buffered.filter((e) => e.type === 'noteon' && e.velocity > 0).map((e) => e.time)) ?? this.current.bpm;
        const firstOn = this.buffered.find((e) => e.type === 'noteon' && e.velocity > 0);
        if (!firstOn) return;
        segment = new SegmentGrid(new FixedTempoGrid(bpm), this.timeline.nextBarStep());
        segment.anchor(firstOn.time);
        const tok = new LiveTokenizer(segment, { from: this.segmentStart(segment), state: { ...this.timeline.enc } });
        // Replaying commits words as the call's time passes; every one of them belongs to the call.
        words = [];
        for (const e of this.buffered) words.push(...tok.push(e));
        words.push(...tok.flush(this.lastEventAt));
        span = tok.span;
        // The tokenizer wrote into a copy of the encoder state; the timeline tracks the words itself.
      } else {
        if (!this.call) return;
        // Forced: the held notes end now.
        words = this.call.done ? [] : (this.call.peekFlush() ?? (force ? this.call.flush(this.lastEventAt) : null));
        span = this.call.span;
        segment = this.segment;
      }
      if (!words || !span || !segment) return;
      this.timeline.enqueue(words);
      this.stats.wordsPlayed += words.length;
      const answer = this.planAnswer(segment, span, triggerAt);
      this.prepared = { mark, rngState, answer, triggerAt, callWords: words.length, segment: this.buffered ? segment : null, bpm, ready: false, workMs: 0 };
    } catch (e) {
      this.timeline.rollback(mark);
      this.sampler.state = rngState;
      this.emitError(e);
    }
  }

  private planAnswer(segment: SegmentGrid, span: { first: number; end: number }, triggerAt: number): Answer {
    const s = this.current;
    const callBars = Math.ceil((span.end - span.first) / STEPS_PER_BAR);
    const bars = Math.min(s.maxBars, Math.max(s.minBars, callBars));
    const start = Math.max(Math.ceil(segment.tick(triggerAt + s.lookaheadMs) / TICKS_PER_STEP), this.timeline.resumeStep());
    const plan: AnswerPlan = {
      startStep: start,
      endStep: start + bars * STEPS_PER_BAR,
      channel: s.aiChannel ?? this.lastChannel,
    };
    return new Answer({
      timeline: this.timeline,
      sampler: this.sampler,
      scheduler: this.scheduler,
      grid: segment,
      plan,
      settings: s,
      emit: (o) => this.emit(o),
      recorder: this.recorder,
      onDone: (a) => this.answerDone(a),
      onError: (e) => this.emitError(e),
      onWork: (ms) => this.answer && this.sample(this.stats.blockMs, ms),
    });
  }

  /** The person played on: the speculative answer and its words are taken back. */
  private abandonPrepared(): void {
    this.prepareTimer?.unsubscribe();
    this.prepareTimer = null;
    this.prepareFor = null;
    const p = this.prepared;
    if (!p) return;
    this.prepared = null;
    p.answer.cancel();
    this.sampler.state = p.rngState;
    if (this.timeline.rollback(p.mark)) this.stats.wordsPlayed -= p.callWords;
    else {
      // The window slid while preparing, so the words stay; the call goes on from after them.
      this.call = null;
      this.buffered = null;
    }
    this.stats.rollbacks++;
  }

  private trigger(): void {
    this.silenceTimer?.unsubscribe();
    this.silenceTimer = null;
    if (this.disposed || this.answer) return;
    const t0 = performance.now();
    const now = this.scheduler.now();
    // A hand-off before the silence ran out: the plan was made for a later start. (A trigger
    // that fires late, on a busy event loop, keeps its plan: start() moves a late answer a beat.)
    if (this.prepared && now < this.prepared.triggerAt - 1) {
      this.abandonPrepared();
    }
    this.prepareFor = null;
    this.settle();
    if (!this.prepared) {
      // A hand-off, or a phrase end before the preparation began.
      this.beginPrepare(now, true);
      this.keysDown.clear();
      if (!this.prepared) {
        this.call = null;
        this.buffered = null;
        return;
      }
    }
    const p = this.prepared;
    if (!p.ready) {
      // The silence ran out before the slices did (or a hand-off): the rest now.
      try {
        this.timeline.settle();
        p.answer.prime();
        p.ready = true;
      } catch (e) {
        this.abandonPrepared();
        this.call = null;
        this.buffered = null;
        this.emitError(e);
        return;
      }
    }
    this.prepared = null;
    if (p.segment) {
      this.segment = p.segment;
      if (this.originMs === null) {
        this.originMs = p.segment.ms(p.segment.fromStep * TICKS_PER_STEP);
        this.firstBpm = p.bpm;
      }
      if (p.bpm !== null) this.emit({ type: 'tempo', bpm: p.bpm, source: 'call' });
    }
    this.call = null;
    this.buffered = null;
    this.answer = p.answer;
    this.emit({ type: 'state', turn: 'answering' });
    p.answer.start();
    this.sample(this.stats.firstAnswerMs, performance.now() - t0);
  }

  // ---- answering ------------------------------------------------------------

  private stopAnswer(): void {
    const a = this.answer;
    if (!a) return;
    a.cut();
    // answerDone (called by cut) flips the turn.
  }

  private answerDone(a: Answer): void {
    if (this.answer !== a) return;
    this.answer = null;
    this.stats.wordsGenerated += a.wordsCommitted;
    this.stats.generateMs += a.computeMs;
    this.stats.answeredMs += a.spanMs;
    if (!this.out.closed) this.emit({ type: 'state', turn: 'listening' });
  }

  // ---- plumbing -------------------------------------------------------------

  private sample(list: number[], ms: number): void {
    list.push(ms);
    if (list.length > this.statsSamples) list.shift();
  }

  private clearTimers(): void {
    this.silenceTimer?.unsubscribe();
    this.prepareTimer?.unsubscribe();
    this.workTimer?.unsubscribe();
    this.forecastTimer?.unsubscribe();
    this.silenceTimer = this.prepareTimer = this.workTimer = this.forecastTimer = null;
  }

  private emit(o: DuetOutput): void {
    if (!this.out.closed) this.out.next(o);
  }

  private emitError(e: unknown): void {
    const err = isAntiphonError(e) ? e : new AntiphonError('E_INTERNAL', (e as Error)?.message ?? String(e));
    this.emit({ type: 'error', code: err.code, message: err.message });
  }

  private assertLive(): void {
    if (this.disposed) throw new AntiphonError('E_SESSION_CLOSED', 'this duet session has ended; open a new one');
  }
}
