// A stand-in for the live duet session, so the server's and the MIDI ports' tests do not depend
// on a model. It keeps the contract of DuetSessionApi: when the person has been silent for
// `silenceMs` (no key held), it answers by echoing the call transposed, with the call's own
// timing, each note emitted `lookaheadMs` before its time; a new note-on cuts the answer; panic and
// dispose send a note-off for every AI note that sounds. It records what it was fed and counts
// what was called, for the tests to assert.
import { Subject, asyncScheduler, type Observable, type SchedulerLike, type Subscription } from 'rxjs';
import type {
  ClockEvent,
  DuetOutput,
  DuetSessionApi,
  DuetSessionOptions,
  DuetSettings,
  DuetSettingsInput,
  Recording,
  RecordedNote,
  Turn,
} from '../../src/engine/duet/types.ts';
import { assertNoteEvent, type NoteEvent } from '../../src/engine/note-events.ts';
import { DEFAULT_SAMPLING, resolveSampling } from '../../src/engine/sampler/settings.ts';
import { AntiphonError } from '../../src/errors.ts';

export const FAKE_DEFAULTS: DuetSettings = {
  sampling: DEFAULT_SAMPLING,
  minBars: 1,
  maxBars: 8,
  silenceMs: 120,
  handoffController: null,
  tempoSource: 'fixed',
  bpm: 120,
  lookaheadMs: 20,
  aiChannel: null,
  maxRestBars: 2,
  pitchBalance: 4,
  densityBalance: 1,
};

export interface FakeBehaviour {
  /** Semitones added to the call (default 12). */
  transpose?: number;
  /** Each answer note lasts this long when the call's note had no note-off (ms). */
  defaultDurationMs?: number;
  /** push() refuses this note with E_EVENT_INVALID, as a session refuses an event. */
  refuseNote?: number;
  /** push() throws a plain Error('session bug') on this note: a bug in the session. */
  crashOnNote?: number;
}

interface CallNote {
  note: number;
  velocity: number;
  channel: number;
  on: number;
  off: number | null;
}

const keyOf = (note: number, channel: number) => channel * 128 + note;

export class FakeDuetSession implements DuetSessionApi {
  private readonly out = new Subject<DuetOutput>();
  readonly output$: Observable<DuetOutput> = this.out.asObservable();
  readonly pushes: NoteEvent[] = [];
  /** Every clock message connectClock() was fed. */
  readonly clock: ClockEvent[] = [];
  readonly updates: DuetSettingsInput[] = [];
  readonly opts: DuetSessionOptions;
  disposeCount = 0;
  panicCount = 0;
  handOffCount = 0;
  answers = 0;
  /** Every output, in order, including those after the last subscriber left. */
  readonly emitted: DuetOutput[] = [];

  private current: DuetSettings;
  private readonly scheduler: SchedulerLike;
  private readonly behaviour: Required<Omit<FakeBehaviour, 'refuseNote' | 'crashOnNote'>> & FakeBehaviour;
  private call: CallNote[] = [];
  /** channel * 128 + note of the person's held keys. */
  private readonly held = new Set<number>();
  /** The silence timer, or the current answer's timers: never both, since answering waits for no silence. */
  private readonly timers = new Set<Subscription>();
  /** AI notes emitted and not yet ended; one object per note, so a repeated pitch cannot hide another. */
  private readonly sounding = new Set<{ note: number; channel: number }>();
  private readonly person: RecordedNote[] = [];
  private readonly ai: RecordedNote[] = [];
  private clockSubs = 0;
  private answering = false;
  private isClosed = false;

  constructor(opts: DuetSessionOptions = {}, behaviour: FakeBehaviour = {}) {
    this.opts = opts;
    this.scheduler = opts.scheduler ?? asyncScheduler;
    this.behaviour = { transpose: 12, defaultDurationMs: 80, ...behaviour };
    this.current = this.merge(opts.settings ?? {});
  }

  get settings(): DuetSettings {
    return this.current;
  }

  get turn(): Turn {
    return this.answering ? 'answering' : 'listening';
  }

  get disposed(): boolean {
    return this.isClosed;
  }

  /** Notes of the current answer that have sounded and not ended. */
  get soundingCount(): number {
    return this.sounding.size;
  }

  /** Clock subscriptions still open (a binding must end its own). */
  get clockSubscribers(): number {
    return this.clockSubs;
  }

  /** Timers this fake still has pending (silence, answer notes). */
  get pendingTimers(): number {
    return this.timers.size;
  }

  connect(input: Observable<NoteEvent>): Subscription {
    return input.subscribe((e) => this.push(e));
  }

  connectClock(clock: Observable<ClockEvent>): Subscription {
    this.clockSubs += 1;
    const sub = clock.subscribe((c) => this.clock.push(c));
    sub.add(() => (this.clockSubs -= 1));
    return sub;
  }

  push(event: NoteEvent): void {
    this.live();
    if (event.type !== 'cc' && event.note === this.behaviour.crashOnNote) throw new Error('session bug');
    if (event.type !== 'cc' && event.note === this.behaviour.refuseNote) {
      throw new AntiphonError('E_EVENT_INVALID', `ignored a note event: note ${event.note} is refused by this session`);
    }
    assertNoteEvent(event);
    this.pushes.push(event);
    const channel = event.channel ?? 0;
    if (event.type === 'noteon') {
      if (this.answering) this.stopAnswer(this.scheduler.now()); // barge-in
      this.clearTimers(); // the silence, if any, starts again after this note
      this.held.add(keyOf(event.note, channel));
      this.call.push({ note: event.note, velocity: event.velocity, channel, on: event.time, off: null });
      return;
    }
    if (event.type === 'noteoff') {
      this.held.delete(keyOf(event.note, channel));
      const n = [...this.call].reverse().find((c) => c.note === event.note && c.channel === channel && c.off === null);
      if (n) {
        n.off = event.time;
        this.person.push({ startMs: n.on, endMs: event.time, note: n.note, velocity: n.velocity, channel });
      }
    }
    if (this.held.size === 0 && this.call.length > 0 && !this.answering) {
      this.clearTimers();
      this.later(this.current.silenceMs, () => this.answer());
    }
  }

  update(input: DuetSettingsInput): DuetSettings {
    this.live();
    this.updates.push(input);
    this.current = this.merge(input, this.current);
    return this.current;
  }

  handOff(): void {
    this.live();
    this.handOffCount++;
    this.answer();
  }

  panic(): void {
    this.live();
    this.panicCount++;
    this.stopAnswer(this.scheduler.now());
  }

  recording(): Recording {
    return { bpm: this.current.bpm, originMs: this.person[0]?.startMs ?? 0, person: [...this.person], ai: [...this.ai] };
  }

  dispose(): void {
    this.disposeCount++;
    if (this.isClosed) return;
    this.stopAnswer(this.scheduler.now());
    this.isClosed = true;
    this.out.complete();
  }

  /** Hands an output to whoever listens, as the session would (tests drive a sink with it). */
  emit(o: DuetOutput): void {
    this.emitted.push(o);
    this.out.next(o);
  }

  /** Emits `n` outputs at once (the backpressure tests). */
  flood(n: number, output: DuetOutput = { type: 'state', turn: 'answering' }): void {
    for (let i = 0; i < n && !this.isClosed; i++) this.emit(output);
  }

  private live(): void {
    if (this.isClosed) throw new AntiphonError('E_SESSION_CLOSED', 'this duet session has ended');
  }

  private merge(input: DuetSettingsInput, base: DuetSettings = FAKE_DEFAULTS): DuetSettings {
    // An option left undefined (a test passing its own optional through) keeps the base value.
    const given = Object.fromEntries(Object.entries(input).filter(([, v]) => v !== undefined)) as DuetSettingsInput;
    const next = { ...base, ...given, sampling: base.sampling } as DuetSettings;
    if (given.sampling) {
      try {
        next.sampling = resolveSampling(given.sampling, base.sampling);
      } catch (e) {
        throw new AntiphonError('E_SETTING', (e as Error).message);
      }
    }
    if (next.silenceMs < 50) throw new AntiphonError('E_SETTING', `setting silenceMs is invalid: must be at least 50 ms, got ${next.silenceMs}`);
    if (next.minBars > next.maxBars) throw new AntiphonError('E_SETTING', `setting minBars (${next.minBars}) must not exceed maxBars (${next.maxBars})`);
    return next;
  }

  private answer(): void {
    if (this.answering || this.isClosed) return;
    this.clearTimers(); // a hand-off comes before the silence would have
    const call = this.call;
    this.call = [];
    if (call.length === 0) return;
    this.answering = true;
    this.answers++;
    this.emit({ type: 'state', turn: 'answering' });
    const look = this.current.lookaheadMs;
    const start = this.scheduler.now() + look;
    const first = call[0].on;
    let last = 0;
    for (const c of call) {
      const at = c.on - first;
      const dur = c.off === null ? this.behaviour.defaultDurationMs : Math.max(1, c.off - c.on);
      const ai = { note: Math.min(127, Math.max(0, c.note + this.behaviour.transpose)), channel: this.current.aiChannel ?? c.channel };
      this.later(at, () => {
        this.sounding.add(ai);
        this.emit({ type: 'noteon', note: ai.note, velocity: c.velocity, channel: ai.channel, time: start + at });
      });
      this.later(at + dur, () => {
        if (!this.sounding.delete(ai)) return;
        this.ai.push({ startMs: start + at, endMs: start + at + dur, note: ai.note, velocity: c.velocity, channel: ai.channel });
        this.emit({ type: 'noteoff', note: ai.note, channel: ai.channel, time: start + at + dur });
      });
      last = Math.max(last, at + dur);
    }
    this.later(last + 1, () => this.stopAnswer(this.scheduler.now()));
  }

  /**
   * A note-off now for every sounding AI note (one still in its look-ahead is thereby cancelled),
   * then listening. Also ends an answer that ran its course, with nothing left sounding.
   */
  private stopAnswer(now: number): void {
    this.clearTimers();
    for (const { note, channel } of this.sounding) this.emit({ type: 'noteoff', note, channel, time: now });
    this.sounding.clear();
    if (this.answering) {
      this.answering = false;
      this.emit({ type: 'state', turn: 'listening' });
    }
  }

  private later(delay: number, work: () => void): void {
    const task = this.scheduler.schedule(() => {
      this.timers.delete(task);
      work();
    }, Math.max(0, delay));
    this.timers.add(task);
  }

  private clearTimers(): void {
    for (const t of this.timers) t.unsubscribe();
    this.timers.clear();
  }
}

/** A session factory for createServer that keeps every session it made. */
export function fakeSessions(behaviour: FakeBehaviour = {}): { create: (opts: DuetSessionOptions) => FakeDuetSession; sessions: FakeDuetSession[] } {
  const sessions: FakeDuetSession[] = [];
  return {
    sessions,
    create: (opts) => {
      const s = new FakeDuetSession(opts, behaviour);
      sessions.push(s);
      return s;
    },
  };
}
