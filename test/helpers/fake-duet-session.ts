// A stand-in for the live duet session, so the server's tests do not depend on a model. It
// keeps the contract of DuetSessionApi: when the person has been silent for `silenceMs` (no key
// held), it answers by echoing the call transposed, with the call's own timing, each note
// emitted `lookaheadMs` before its time; a new note-on cuts the answer; panic and dispose send a
// note-off for every AI note that sounds. It counts what was called, for the tests to assert.
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
};

export interface FakeBehaviour {
  /** Semitones added to the call (default 12). */
  transpose?: number;
  /** Each answer note lasts this long when the call's note had no note-off (ms). */
  defaultDurationMs?: number;
  /** push() refuses this note with E_EVENT_INVALID, as a session refuses an event. */
  refuseNote?: number;
  /** push() throws a plain Error on this note: a bug in the session. */
  crashOnNote?: number;
}

interface CallNote {
  note: number;
  velocity: number;
  channel: number;
  on: number;
  off: number | null;
}

export class FakeDuetSession implements DuetSessionApi {
  private readonly out = new Subject<DuetOutput>();
  readonly output$: Observable<DuetOutput> = this.out.asObservable();
  readonly pushes: NoteEvent[] = [];
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
  private readonly held = new Set<number>();
  private silence: Subscription | null = null;
  private timers: Subscription[] = [];
  /** channel * 128 + note of the AI notes emitted and not yet ended. */
  private readonly sounding = new Map<number, { note: number; channel: number }>();
  private readonly person: RecordedNote[] = [];
  private readonly ai: RecordedNote[] = [];
  private answering = false;
  private disposed = false;

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

  get isDisposed(): boolean {
    return this.disposed;
  }

  /** Notes of the current answer that have sounded and not ended. */
  get soundingCount(): number {
    return this.sounding.size;
  }

  connect(input: Observable<NoteEvent>): Subscription {
    return input.subscribe((e) => this.push(e));
  }

  connectClock(clock: Observable<ClockEvent>): Subscription {
    return clock.subscribe(() => {});
  }

  push(event: NoteEvent): void {
    this.live();
    if (event.type !== 'cc' && event.note === this.behaviour.crashOnNote) throw new Error('the fake session fell over');
    if (event.type !== 'cc' && event.note === this.behaviour.refuseNote) {
      throw new AntiphonError('E_EVENT_INVALID', `ignored a note event: note ${event.note} is refused by this session`);
    }
    assertNoteEvent(event);
    this.pushes.push(event);
    const channel = event.channel ?? 0;
    if (event.type === 'noteon') {
      if (this.answering) this.stopAnswer(this.scheduler.now()); // barge-in
      this.silence?.unsubscribe();
      this.silence = null;
      this.held.add(event.note);
      this.call.push({ note: event.note, velocity: event.velocity, channel, on: event.time, off: null });
      return;
    }
    if (event.type === 'noteoff') {
      this.held.delete(event.note);
      const n = [...this.call].reverse().find((c) => c.note === event.note && c.off === null);
      if (n) {
        n.off = event.time;
        this.person.push({ startMs: n.on, endMs: event.time, note: n.note, velocity: n.velocity, channel });
      }
    }
    if (this.held.size === 0 && this.call.length > 0 && !this.answering) {
      this.silence?.unsubscribe();
      this.silence = this.scheduler.schedule(() => this.answer(), this.current.silenceMs);
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
    if (this.disposed) return;
    this.silence?.unsubscribe();
    this.stopAnswer(this.scheduler.now(), false);
    this.disposed = true;
    this.out.complete();
  }

  /** Emits `n` outputs at once (the backpressure tests). */
  flood(n: number, output: DuetOutput = { type: 'state', turn: 'answering' }): void {
    for (let i = 0; i < n && !this.disposed; i++) this.emit(output);
  }

  private live(): void {
    if (this.disposed) throw new AntiphonError('E_SESSION_CLOSED', 'this duet session has ended');
  }

  private merge(input: DuetSettingsInput, base: DuetSettings = FAKE_DEFAULTS): DuetSettings {
    const next = { ...base, ...input, sampling: base.sampling } as DuetSettings;
    if (input.sampling) {
      try {
        next.sampling = resolveSampling(input.sampling, base.sampling);
      } catch (e) {
        throw new AntiphonError('E_SETTING', (e as Error).message);
      }
    }
    if (next.silenceMs < 50) throw new AntiphonError('E_SETTING', `setting silenceMs is invalid: must be at least 50 ms, got ${next.silenceMs}`);
    if (next.minBars > next.maxBars) throw new AntiphonError('E_SETTING', `setting minBars (${next.minBars}) must not exceed maxBars (${next.maxBars})`);
    return next;
  }

  private emit(o: DuetOutput): void {
    this.emitted.push(o);
    this.out.next(o);
  }

  private answer(): void {
    this.silence?.unsubscribe();
    this.silence = null;
    const call = this.call;
    this.call = [];
    if (call.length === 0 || this.answering || this.disposed) return;
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
      const note = Math.min(127, Math.max(0, c.note + this.behaviour.transpose));
      const channel = this.current.aiChannel ?? c.channel;
      const key = channel * 128 + note;
      this.timers.push(
        this.scheduler.schedule(() => {
          this.sounding.set(key, { note, channel });
          this.emit({ type: 'noteon', note, velocity: c.velocity, channel, time: start + at });
        }, at),
        this.scheduler.schedule(() => {
          if (!this.sounding.delete(key)) return;
          this.ai.push({ startMs: start + at, endMs: start + at + dur, note, velocity: c.velocity, channel });
          this.emit({ type: 'noteoff', note, channel, time: start + at + dur });
        }, at + dur),
      );
      last = Math.max(last, at + dur);
    }
    this.timers.push(this.scheduler.schedule(() => this.finishAnswer(), last + 1));
  }

  private finishAnswer(): void {
    this.timers.forEach((t) => t.unsubscribe());
    this.timers = [];
    if (!this.answering) return;
    this.answering = false;
    this.emit({ type: 'state', turn: 'listening' });
  }

  /** A note-off now for every sounding AI note, then listening (unless `announce` is false). */
  private stopAnswer(now: number, announce = true): void {
    this.timers.forEach((t) => t.unsubscribe());
    this.timers = [];
    for (const { note, channel } of this.sounding.values()) this.emit({ type: 'noteoff', note, channel, time: now });
    this.sounding.clear();
    if (this.answering) {
      this.answering = false;
      if (announce) this.emit({ type: 'state', turn: 'listening' });
    }
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
