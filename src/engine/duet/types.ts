// The live duet's contract with its edges (server, MIDI ports, tests). The engine knows no
// socket and no port: sources hand it an Observable<NoteEvent> and sinks subscribe to output$.

import type { Observable, SchedulerLike, Subscription } from 'rxjs';
import type { NoteEvent } from '../note-events.ts';
import type { SamplerSettings, SamplerSettingsInput } from '../sampler/settings.ts';

export type Turn = 'listening' | 'answering';
export type TempoSource = 'fixed' | 'call' | 'clock';

export interface DuetSettings {
  sampling: SamplerSettings;
  /** The answer is as long as the call in bars, clamped to [minBars, maxBars]. */
  minBars: number;
  maxBars: number;
  /** Silence (no key held, pedal up) that ends a phrase, in ms. */
  silenceMs: number;
  /** A controller whose press (value >= 64) ends the phrase at once; null for none. */
  handoffController: number | null;
  tempoSource: TempoSource;
  /** The fixed tempo, and the start tempo of the other sources. */
  bpm: number;
  /** How long before its time each AI note is handed to output$, in ms. */
  lookaheadMs: number;
  /** The AI's MIDI channel 0..15, or null for the channel the person last played on. */
  aiChannel: number | null;
  /**
   * A call that starts after more than this many silent bars starts a fresh grid (re-anchored
   * at its first note, tempo estimated again), so long pauses do not fill the context with rests.
   */
  maxRestBars: number;
  /**
   * Steers the answer's pitch classes toward those of the notes before it (the call and what
   * preceded it): 0 is off, 4 the default, 16 the most (see sampler/pitch-balance.ts).
   */
  pitchBalance: number;
  /**
   * Steers the answer's notes per bar toward those of the bars before it: 0 is off, 1 the
   * default, 8 the most (see sampler/density-balance.ts).
   */
  densityBalance: number;
}

/** A partial update, as a websocket message or a CLI flag gives it. Validated by the session. */
export type DuetSettingsInput = Partial<Omit<DuetSettings, 'sampling'>> & { sampling?: SamplerSettingsInput };

/**
 * What a session emits. Note times are on the session's clock (its scheduler's now()), and a
 * note is emitted `lookaheadMs` before its time. A noteoff whose time is before its noteon's
 * time cancels that note (a barge-in or panic caught it in the look-ahead).
 */
export type DuetOutput =
  | { type: 'noteon'; note: number; velocity: number; channel: number; time: number }
  | { type: 'noteoff'; note: number; channel: number; time: number }
  | { type: 'state'; turn: Turn }
  | { type: 'tempo'; bpm: number; source: TempoSource }
  | { type: 'error'; code: string; message: string };

export interface RecordedNote {
  /** Session clock, ms. */
  startMs: number;
  endMs: number;
  note: number;
  velocity: number;
  channel: number;
}

/** Everything a session played and heard, for saving as a MIDI file at any time. */
export interface Recording {
  /** The session's tempo (its first grid's), and the time its bar 1 starts. */
  bpm: number;
  originMs: number;
  person: RecordedNote[];
  ai: RecordedNote[];
}

/** MIDI clock messages (24 pulses per quarter note), kept apart from the note stream. */
export type ClockEvent = { type: 'tick' | 'start' | 'stop' | 'continue'; time: number };

export interface DuetSessionOptions {
  settings?: DuetSettingsInput;
  /** Clock and timers; asyncScheduler by default, a VirtualTimeScheduler in tests. */
  scheduler?: SchedulerLike;
  /** Seeds the sampler, so a call and its answer repeat exactly. */
  seed?: number;
  /** Called after every model call (tests use it to let virtual time pass during compute). */
  onModelCall?: () => void;
  /** Timing samples kept per kind in the session's stats (default 1024, the newest). */
  statsSamples?: number;
  /**
   * Most words put into the cache in one uninterrupted piece of work while listening (default
   * 32). Smaller pieces give other sessions in the thread their turn sooner; each model call
   * has a fixed cost, so the total work grows as they shrink.
   */
  workSliceWords?: number;
  /**
   * Prime the words the person is expected to commit next while they play (default true), so
   * a pedal change or a window's end finds them in the cache. Costs idle time when wrong.
   */
  forecast?: boolean;
}

/** One performer's duet with the model. Sessions share the model's weights and nothing else. */
export interface DuetSessionApi {
  readonly output$: Observable<DuetOutput>;
  readonly settings: DuetSettings;
  readonly turn: Turn;
  /** Feeds a note stream in. Bad events produce an `error` output and are skipped. */
  connect(input: Observable<NoteEvent>): Subscription;
  /** Feeds a MIDI clock in (used when tempoSource is 'clock'). */
  connectClock(clock: Observable<ClockEvent>): Subscription;
  /** One event, as connect() would feed it. */
  push(event: NoteEvent): void;
  /** Validates and applies a partial update; throws E_SETTING (nothing changes) on a bad value. */
  update(input: DuetSettingsInput): DuetSettings;
  /** Ends the phrase now (a hand-off button). */
  handOff(): void;
  /** Stops the answer: a noteoff for every AI note that was emitted, then listening. */
  panic(): void;
  /** The session so far, with real timing; src/io/recording-midi.ts turns it into a MIDI file. */
  recording(): Recording;
  /** Stops everything (note-offs first), completes output$ and frees every tensor. */
  dispose(): void;
}
