// Compound words from a live stream of note events, committed as soon as they are final.
//
// A grid step is final once (a) no future onset can be quantized onto it, (b) every note that
// starts on or before it knows its length, and (c) its half-bar chord window is complete. So the
// commit horizon is the last chord-window boundary before both "now" and the earliest note still
// held. Words are committed in onset order and never revised, and for the same performance they
// are exactly the file tokenizer's words (a test holds this).

import { CHORD_WINDOW_STEPS, windowEnd } from './chords.ts';
import { encodeSteps, initialEncoderState, type EncoderState } from './encode.ts';
import { assertNoteEvent, type NoteEvent } from './note-events.ts';
import { NoteTracker } from './note-tracker.ts';
import { quantizeNote, tickToStep } from './quantize.ts';
import { compareScoreNotes, type PerfNote, type ScoreNote } from './score.ts';
import { DURATION_STEPS, MAX_DURATION_STEPS, TICKS_PER_BEAT, TICKS_PER_STEP, tempoToToken, type Word } from './vocab.ts';

/** Maps the performer's clock to grid ticks, and gives each beat's tempo. */
export interface TimeGrid {
  /** Ticks since the grid's anchor (its first note), at TICKS_PER_BEAT. */
  tick(ms: number): number;
  /** The inverse of tick: when a grid tick sounds (the answer is rendered through it). */
  ms(tick: number): number;
  /** Tempo token of a beat. */
  tempoOfBeat(beat: number): number;
  /** Called with the first note's time. */
  anchor(ms: number): void;
  readonly anchored: boolean;
}

/** A fixed tempo, anchored at the first note. */
export class FixedTempoGrid implements TimeGrid {
  private origin: number | null = null;
  private readonly token: number;
  constructor(readonly bpm: number) {
    this.token = tempoToToken(bpm);
  }
  get anchored(): boolean {
    return this.origin !== null;
  }
  anchor(ms: number): void {
    this.origin ??= ms;
  }
  tick(ms: number): number {
    return ((ms - (this.origin ?? ms)) * this.bpm * TICKS_PER_BEAT) / 60000;
  }
  ms(tick: number): number {
    return (this.origin ?? 0) + (tick * 60000) / (this.bpm * TICKS_PER_BEAT);
  }
  tempoOfBeat(): number {
    return this.token;
  }
}

export interface LiveTokenizerOptions {
  /**
   * The first grid step this tokenizer may write (a duet turn starts where the other part
   * stopped); notes quantized earlier are moved onto it. Default 0.
   */
  from?: number;
  /** The encoder state the words before `from` left (tempo, chord, bars written). */
  state?: EncoderState;
}

/** Forecast words, and the word counts at which a commit can end (each chord window's end). */
export interface Forecast {
  words: Word[];
  cuts: number[];
}

/**
 * Into a sorted list. A re-strike inside one step lands on the same (step, pitch): merged, as
 * the file tokenizer does, into a new object (a forecast shares the list's notes).
 */
function insertNote(notes: ScoreNote[], q: ScoreNote): void {
  const at = notes.findIndex((m) => m.step === q.step && m.pitch === q.pitch);
  if (at >= 0) {
    const same = notes[at];
    notes[at] = { ...same, duration: Math.max(same.duration, q.duration), velocity: Math.max(same.velocity, q.velocity) };
    return;
  }
  let i = notes.length;
  while (i > 0 && compareScoreNotes(notes[i - 1], q) > 0) i--;
  notes.splice(i, 0, q);
}

export class LiveTokenizer {
  private readonly tracker = new NoteTracker();
  /** Completed notes not yet committed, plus committed ones that may still sound in a chord window. Sorted. */
  private notes: ScoreNote[] = [];
  private readonly state: EncoderState;
  /** Steps before this are committed. A chord-window boundary after the first commit, until `flush`. */
  private committed: number;
  private readonly from: number;
  private firstOnset = Infinity;
  private lastEnd = -Infinity;
  private lastMs = -Infinity;
  private lastOnsetStep = -1;
  private ended = false;
  /** Events that came earlier than one already seen, handled as if they came at that time. */
  outOfOrder = 0;

  constructor(
    readonly grid: TimeGrid,
    opts: LiveTokenizerOptions = {},
  ) {
    this.from = this.committed = opts.from ?? 0;
    this.state = opts.state ?? initialEncoderState();
  }

  /** Feeds one event; returns the words it made final (often none). Throws E_EVENT_INVALID on garbage, changing nothing. */
  push(event: NoteEvent): Word[] {
    assertNoteEvent(event);
    if (this.ended) return [];
    let ms = event.time;
    if (ms < this.lastMs) {
      this.outOfOrder++;
      ms = this.lastMs;
    }
    this.lastMs = ms;
    if (!this.grid.anchored) {
      // The pedal may go down before the first note; nothing sounds yet, so only its state matters.
      if (event.type === 'cc') this.tracker.control(event.controller, event.value, 0);
      if (event.type !== 'noteon' || event.velocity === 0) return [];
      this.grid.anchor(ms);
    }
    const tick = this.grid.tick(ms);
    if (event.type === 'noteon') {
      this.add(this.tracker.noteOn(event.note, event.velocity, tick));
      if (event.velocity > 0) this.lastOnsetStep = Math.max(this.lastOnsetStep, this.from, tickToStep(tick));
    } else if (event.type === 'noteoff') {
      this.add(this.tracker.noteOff(event.note, tick));
    } else {
      for (const n of this.tracker.control(event.controller, event.value, tick)) this.add(n);
    }
    return this.advance(ms);
  }

  /** Commits what the passing of time has made final (call it on a timer during silence). */
  advance(nowMs: number): Word[] {
    if (this.ended || !this.grid.anchored) return [];
    // Time has passed: an event stamped earlier than this is late and is handled as if it came now.
    this.lastMs = Math.max(nowMs, this.lastMs);
    const nowTick = this.grid.tick(this.lastMs);
    // Any later onset quantizes to this step or after.
    const futureStep = tickToStep(nowTick);
    const open = this.tracker.earliestOpenTick();
    const horizon = Math.min(futureStep, open === Infinity ? Infinity : tickToStep(open));
    const to = Math.floor(horizon / CHORD_WINDOW_STEPS) * CHORD_WINDOW_STEPS;
    return this.commit(to);
  }

  /** The performance is over: every held note ends now and every word up to the last onset is committed. */
  flush(nowMs: number): Word[] {
    if (this.ended) return [];
    const words: Word[] = [];
    if (this.grid.anchored) {
      const tick = this.grid.tick(Math.max(nowMs, this.lastMs));
      for (const n of this.tracker.endAll(tick)) this.add(n);
      words.push(...this.commit(this.lastOnsetStep + 1));
    }
    this.ended = true;
    return words;
  }

  /**
   * The words flush() would commit now, without committing them: a duet prepares its answer
   * during the silence that may end the phrase, and the person may yet play on. Only when no
   * note is held (every length is known); null otherwise.
   */
  peekFlush(): Word[] | null {
    if (this.ended || !this.grid.anchored || this.tracker.openCount > 0) return null;
    return encodeSteps(this.notes, this.committed, this.lastOnsetStep + 1, (b) => this.grid.tempoOfBeat(b), { ...this.state });
  }

  /**
   * A forecast of the next commit: the words of the steps before `to` (a chord-window
   * boundary), if every sounding note (held or pedalled) ended on `releaseStep` and no note
   * started before `to`. Changes nothing. A duet primes these while the person plays, so that
   * when the real words come (a pedal change, a key let go) most are already in the cache.
   */
  predict(releaseStep: number, to: number): Forecast {
    const words: Word[] = [];
    const cuts: number[] = [];
    if (this.ended || !this.grid.anchored || to <= this.committed) return { words, cuts };
    const notes = this.notes.slice();
    for (const n of this.tracker.endedAt(releaseStep * TICKS_PER_STEP)) insertNote(notes, this.scoreNote(n));
    const state = { ...this.state };
    for (let s = this.committed; s < to; ) {
      const end = Math.min(to, windowEnd(s));
      encodeSteps(notes, s, end, (b) => this.grid.tempoOfBeat(b), state, words);
      cuts.push(words.length);
      s = end;
    }
    return { words, cuts };
  }

  /** The step of the latest onset so far (-1 before one). */
  get lastOnset(): number {
    return this.lastOnsetStep;
  }

  /** Notes waiting for their length: held, or kept by the pedal. */
  get heldNotes(): number {
    return this.tracker.openCount;
  }

  /** First grid step not yet committed. */
  get committedStep(): number {
    return this.committed;
  }

  /** The grid steps the notes so far cover, from the first onset to the latest end; null before a note. */
  get span(): { first: number; end: number } | null {
    return this.firstOnset === Infinity ? null : { first: this.firstOnset, end: this.lastEnd };
  }

  /** Whether flush() was called. */
  get done(): boolean {
    return this.ended;
  }

  /** The encoder state after the committed words (tempo, chord, bars written). */
  get encoderState(): Readonly<EncoderState> {
    return this.state;
  }

  private scoreNote(n: PerfNote): ScoreNote {
    const q = quantizeNote(n);
    if (q.step < this.from) q.step = this.from;
    return q;
  }

  private add(n: PerfNote | null): void {
    if (!n) return;
    const q = this.scoreNote(n);
    this.firstOnset = Math.min(this.firstOnset, q.step);
    this.lastEnd = Math.max(this.lastEnd, q.step + DURATION_STEPS[q.duration]);
    insertNote(this.notes, q);
  }

  private commit(to: number): Word[] {
    if (to <= this.committed) return [];
    const words = encodeSteps(this.notes, this.committed, to, (b) => this.grid.tempoOfBeat(b), this.state);
    this.committed = to;
    // Keep only notes that may still sound in a later chord window.
    this.notes = this.notes.filter((n) => n.step + MAX_DURATION_STEPS > to);
    return words;
  }
}
