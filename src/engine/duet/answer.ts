// One answer: sampled word by word into the timeline, each note handed out `lookaheadMs`
// before its time on the call's grid.
//
// Generation runs just ahead of the clock: metrical words are committed as soon as they are
// sampled (the next note needs them in the cache), a note waits, sampled but not yet in the
// cache, until its look-ahead moment. So a cut (barge-in, panic, disposal, an error) finds in
// the cache only words up to about now + look-ahead, and takes back exactly those after now.
// Every note-on that was handed out gets its note-off, whatever ends the answer.

import type { SchedulerLike, Subscription } from 'rxjs';
import type { TimeGrid } from '../live-tokenizer.ts';
import { DensityBalance, notesPerBarBefore, withNoteBias } from '../sampler/density-balance.ts';
import { PitchBalance } from '../sampler/pitch-balance.ts';
import type { Sampler } from '../sampler/sampler.ts';
import { CONTI, DURATION_STEPS, F, STEPS_PER_BAR, TICKS_PER_BEAT, TICKS_PER_STEP, TYPE, tokenToPitch, tokenToVelocity, type Word } from '../vocab.ts';
import type { Recorder } from './recorder.ts';
import type { Timeline, TimelineMark } from './timeline.ts';
import type { DuetOutput, DuetSettings } from './types.ts';

export interface AnswerPlan {
  /** The first timeline step an onset may use. */
  startStep: number;
  /** The answer stops before this step. */
  endStep: number;
  channel: number;
}

export interface AnswerDeps {
  timeline: Timeline;
  sampler: Sampler;
  scheduler: SchedulerLike;
  grid: TimeGrid;
  plan: AnswerPlan;
  settings: DuetSettings;
  emit: (o: DuetOutput) => void;
  recorder: Recorder;
  onDone: (a: Answer) => void;
  onError: (e: unknown) => void;
  /** Each uninterrupted piece of model work, in wall-clock ms (the session's block stats). */
  onWork?: (ms: number) => void;
}

/** Words per bar before an answer is cut as runaway (a model stuck on one step). */
const MAX_WORDS_PER_BAR = 96;

/**
 * Words committed per task while answering: one, so a chord's notes or a run of metrical words
 * never hold the thread for several model steps while another session's note is due.
 */
const PUMP_WORDS = 1;

interface Sounding {
  note: number;
  channel: number;
  startMs: number;
  endMs: number;
  off: Subscription | null;
}

export class Answer {
  wordsCommitted = 0;
  /** Wall-clock ms spent sampling and stepping this answer's words. */
  computeMs = 0;
  private pending: Word | null = null;
  private primed = false;
  private timer: Subscription | null = null;
  /** Marks before each committed word, with the word's time, for a cut to take back the future. */
  private readonly log: Array<{ mark: TimelineMark; ms: number }> = [];
  private readonly sounding = new Map<string, Sounding>();
  private shiftMs = 0;
  private notesOut = 0;
  private generating = true;
  private ended = false;
  private settings: DuetSettings;
  private readonly maxWords: number;
  private readonly balance: PitchBalance;
  private readonly density: DensityBalance;

  constructor(private readonly d: AnswerDeps) {
    this.settings = d.settings;
    this.balance = new PitchBalance(d.settings.pitchBalance);
    // What came before the answer: the call, and what preceded it.
    this.balance.setReference(d.timeline.recentPitchClasses);
    this.density = new DensityBalance(d.settings.densityBalance);
    const bar = d.timeline.grammar.bar;
    this.density.setRate(notesPerBarBefore(d.timeline.recentNoteSteps, d.plan.startStep), d.plan.startStep - bar * STEPS_PER_BAR);
    this.maxWords = Math.ceil(((d.plan.endStep - d.plan.startStep) / STEPS_PER_BAR) * MAX_WORDS_PER_BAR);
  }

  /** Sampled up to the first note, during the silence (see session.ts). */
  prime(): void {
    while (!this.primeSlice()) {}
  }

  /**
   * One slice of prime(): commits at most `words` words on the way to the first note, so the
   * preparation can yield the thread between words. True once the first note (or the end of
   * the plan) is known.
   */
  primeSlice(words = Infinity): boolean {
    const { timeline, plan } = this.d;
    if (!this.primed) {
      timeline.grammar.notBefore = { bar: Math.floor(plan.startStep / STEPS_PER_BAR), step: plan.startStep % STEPS_PER_BAR };
      this.primed = true;
    }
    const before = this.wordsCommitted;
    this.advance(false, words);
    // advanceWords stops short of the first note only when the budget ran out.
    return this.pending !== null || this.wordsCommitted - before < words || !this.generating;
  }

  /** The phrase ended: hand out notes as their time comes. */
  start(): void {
    const now = this.d.scheduler.now();
    // Too late for the first note (a slow machine): move the whole answer to the next beat.
    const first = this.pending && this.pending[F.type] === TYPE.NOTE ? this.msOfStep(this.d.timeline.stepOf(this.pending)) : null;
    if (first !== null && first < now) {
      const beatMs = this.d.grid.ms(TICKS_PER_BEAT) - this.d.grid.ms(0);
      this.shiftMs = Math.ceil((now - first) / beatMs) * beatMs;
    }
    this.pump();
  }

  /** New settings mid-answer: the look-ahead and channel apply from the next note. */
  retune(s: DuetSettings): void {
    this.settings = s;
    this.balance.strength = s.pitchBalance;
    this.density.strength = s.densityBalance;
  }

  /** A prepared answer that never started: nothing was handed out. */
  cancel(): void {
    this.ended = true;
    this.generating = false;
    this.timer?.unsubscribe();
    this.timer = null;
  }

  /** Stops now: note-offs for everything handed out, and the words after now taken back. */
  cut(): void {
    if (this.ended) return;
    const now = this.d.scheduler.now();
    this.generating = false;
    this.timer?.unsubscribe();
    this.timer = null;
    this.pending = null;
    for (const s of this.sounding.values()) {
      s.off?.unsubscribe();
      // A note still in its look-ahead gets a note-off before its note-on's time: a cancel.
      this.d.emit({ type: 'noteoff', note: s.note, channel: s.channel, time: now });
      if (s.startMs > now) this.d.recorder.cancel('ai', s.note, s.channel);
      else this.d.recorder.noteOff('ai', s.note, s.channel, now);
    }
    this.sounding.clear();
    const firstFuture = this.log.findIndex((e) => e.ms > now);
    if (firstFuture >= 0 && this.d.timeline.rollback(this.log[firstFuture].mark)) this.wordsCommitted -= this.log.length - firstFuture;
    this.finish();
  }

  private pump(): void {
    this.timer = null;
    try {
      this.advance(true, PUMP_WORDS);
      // The budget ran out with more words due now: the rest in the next task.
      if (this.generating && !this.ended && !this.timer) this.timer = this.d.scheduler.schedule(() => this.pump(), 0);
    } catch (e) {
      this.d.onError(e);
      this.cut();
    }
  }

  /**
   * Samples and commits words until a note must wait for its time (or, before the start, until
   * the first note is known). Ends generation at the plan's last step.
   */
  private advance(started: boolean, budget = Infinity): void {
    const t0 = performance.now();
    try {
      this.advanceWords(started, budget);
    } finally {
      const ms = performance.now() - t0;
      this.computeMs += ms;
      this.d.onWork?.(ms);
    }
  }

  private advanceWords(started: boolean, budget: number): void {
    const { timeline, sampler, plan, scheduler } = this.d;
    const stopAt = this.wordsCommitted + budget;
    while (this.generating && this.wordsCommitted < stopAt) {
      if (!this.pending) {
        if (!timeline.next || this.wordsCommitted >= this.maxWords) return this.endGeneration(started);
        const sampled = sampler.sampleWord(withNoteBias(timeline.next, this.density.bias()), timeline.grammar, this.balance.bias());
        this.balance.observe(sampled);
        this.density.observe(sampled);
        // The tempo is the call's grid; the AI does not change it.
        this.pending = sampled[F.type] === TYPE.METRICAL ? (sampled.map((v, i) => (i === F.tempo ? CONTI : v)) as Word) : sampled;
      }
      const w = this.pending;
      const step = timeline.stepOf(w);
      if (step >= plan.endStep || w[F.type] === TYPE.EOS) return this.endGeneration(started);
      const ms = this.msOfStep(step);
      if (w[F.type] === TYPE.NOTE) {
        if (!started) return;
        const now = scheduler.now();
        const handAt = ms - this.settings.lookaheadMs;
        if (handAt > now) {
          this.timer = scheduler.schedule(() => this.pump(), handAt - now);
          return;
        }
      }
      // A note goes out before its model step: the step is for the words after it.
      if (w[F.type] === TYPE.NOTE) this.sound(w, step, ms);
      this.pending = null;
      this.commit(w, ms);
    }
  }

  private commit(w: Word, ms: number): void {
    this.log.push({ mark: this.d.timeline.mark(), ms });
    this.d.timeline.append([w]);
    this.wordsCommitted++;
  }

  private sound(w: Word, step: number, startMs: number): void {
    const { emit, recorder, scheduler } = this.d;
    const channel = this.settings.aiChannel ?? this.d.plan.channel;
    const note = tokenToPitch(w[F.pitch]);
    const velocity = tokenToVelocity(w[F.velocity]);
    const endMs = this.msOfStep(step + DURATION_STEPS[w[F.duration]]);
    const key = `${channel}:${note}`;
    const prev = this.sounding.get(key);
    if (prev) {
      // The same key again while it sounds: end the first one where the second begins.
      prev.off?.unsubscribe();
      this.sounding.delete(key);
      emit({ type: 'noteoff', note, channel, time: startMs });
      recorder.noteOff('ai', note, channel, startMs);
    }
    emit({ type: 'noteon', note, velocity, channel, time: startMs });
    recorder.noteOn('ai', note, velocity, channel, startMs);
    this.notesOut++;
    const s: Sounding = { note, channel, startMs, endMs, off: null };
    const offAt = Math.max(0, endMs - this.settings.lookaheadMs - scheduler.now());
    s.off = scheduler.schedule(() => {
      if (this.sounding.get(key) !== s) return;
      this.sounding.delete(key);
      emit({ type: 'noteoff', note, channel, time: endMs });
      recorder.noteOff('ai', note, channel, endMs);
      if (!this.generating && this.sounding.size === 0) this.finish();
    }, offAt);
    this.sounding.set(key, s);
  }

  private endGeneration(started: boolean): void {
    if (!started) return; // the first note lies beyond the plan; start() ends it
    this.generating = false;
    this.pending = null;
    if (this.sounding.size === 0) this.finish();
  }

  private finish(): void {
    if (this.ended) return;
    this.ended = true;
    this.d.timeline.grammar.notBefore = null;
    this.d.onDone(this);
  }

  /** The answer's span in ms on the grid (its bars), for the real-time factor. */
  get spanMs(): number {
    return this.msOfStep(this.d.plan.endStep) - this.msOfStep(this.d.plan.startStep);
  }

  /** Notes handed out so far. */
  get notes(): number {
    return this.notesOut;
  }

  private msOfStep(step: number): number {
    return this.d.grid.ms(step * TICKS_PER_STEP) + this.shiftMs;
  }
}
