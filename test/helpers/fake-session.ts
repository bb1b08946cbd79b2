// A stand-in for DuetSession that keeps the DuetSessionApi contract without a model: it records
// what it is fed and, when asked to, answers a phrase by playing it back an octave up, with the
// look-ahead, barge-in and panic behaviour the real session promises.

import { Subject, asyncScheduler, type Observable, type SchedulerLike, type Subscription } from 'rxjs';
import type { ClockEvent, DuetOutput, DuetSessionApi, DuetSettings, DuetSettingsInput, Turn } from '../../src/engine/duet/types.ts';
import { assertNoteEvent, type NoteEvent } from '../../src/engine/note-events.ts';
import { AntiphonError } from '../../src/errors.ts';

export interface FakeSessionOptions {
  scheduler?: SchedulerLike;
  /** Answer each phrase after this much silence (ms); undefined never answers. */
  answerAfterMs?: number;
  lookaheadMs?: number;
  aiChannel?: number | null;
}

type AiNote = { note: number; channel: number; on: number; off: number; emittedOff: boolean };

export class FakeSession implements DuetSessionApi {
  readonly pushed: NoteEvent[] = [];
  readonly clock: ClockEvent[] = [];
  readonly emitted: DuetOutput[] = [];
  panics = 0;
  disposed = false;
  /** When set, push() throws it, as a buggy session would. */
  pushError: Error | null = null;
  turn: Turn = 'listening';
  readonly settings: DuetSettings;
  private readonly out = new Subject<DuetOutput>();
  readonly output$: Observable<DuetOutput> = this.out.asObservable();
  private readonly scheduler: SchedulerLike;
  private readonly held = new Set<number>();
  private phrase: Array<NoteEvent & { type: 'noteon' }> = [];
  private phraseEnds = new Map<number, number>();
  private timers = new Set<Subscription>();
  private aiNotes: AiNote[] = [];
  private clockSubs = 0;

  constructor(private readonly options: FakeSessionOptions = {}) {
    this.scheduler = options.scheduler ?? asyncScheduler;
    // Only the fields the ports read; a cast keeps the fake compiling as the settings grow.
    this.settings = { aiChannel: options.aiChannel ?? null, lookaheadMs: options.lookaheadMs ?? 50 } as DuetSettings;
  }

  /** Clock subscriptions still open. */
  get clockSubscribers(): number {
    return this.clockSubs;
  }

  /** Timers this fake still has pending (answer notes, silence). */
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
    if (this.disposed) throw new AntiphonError('E_SESSION_CLOSED', 'the session has ended');
    if (this.pushError) throw this.pushError;
    assertNoteEvent(event);
    this.pushed.push(event);
    if (this.options.answerAfterMs === undefined) return;
    const key = (event.channel ?? 0) * 128 + (event.type === 'cc' ? 0 : event.note);
    if (event.type === 'noteon') {
      if (this.turn === 'answering') this.stopAnswer(event.time);
      this.clearTimers();
      this.held.add(key);
      this.phrase.push(event);
    } else if (event.type === 'noteoff') {
      this.held.delete(key);
      for (let i = this.phrase.length - 1; i >= 0; i -= 1) {
        const n = this.phrase[i];
        if (n.note === event.note && (n.channel ?? 0) === (event.channel ?? 0) && !this.phraseEnds.has(i)) {
          this.phraseEnds.set(i, event.time);
          break;
        }
      }
      if (this.held.size === 0) this.later(this.options.answerAfterMs, () => this.answer());
    }
  }

  /** Hands an output to whoever listens, as the session would. */
  emit(o: DuetOutput): void {
    this.emitted.push(o);
    this.out.next(o);
  }

  update(input: DuetSettingsInput): DuetSettings {
    Object.assign(this.settings, input);
    return this.settings;
  }

  handOff(): void {
    this.answer();
  }

  panic(): void {
    this.panics += 1;
    this.stopAnswer(this.scheduler.now());
  }

  /** The ports never read recordings; an empty one, cast so the fake survives the type's changes. */
  recording(): ReturnType<DuetSessionApi['recording']> {
    return { bpm: 120, originMs: 0, person: [], ai: [] } as unknown as ReturnType<DuetSessionApi['recording']>;
  }

  /** The session ends: note-offs first, then output$ completes. */
  end(): void {
    this.dispose();
  }

  dispose(): void {
    if (this.disposed) return;
    this.stopAnswer(this.scheduler.now());
    this.disposed = true;
    this.out.complete();
  }

  private answer(): void {
    const call = this.phrase;
    this.phrase = [];
    const ends = this.phraseEnds;
    this.phraseEnds = new Map();
    if (!call.length) return;
    const look = this.settings.lookaheadMs;
    const start = this.scheduler.now() + look;
    const t0 = call[0].time;
    this.turn = 'answering';
    this.emit({ type: 'state', turn: 'answering' });
    call.forEach((n, i) => {
      const channel = this.settings.aiChannel ?? n.channel ?? 0;
      const ai: AiNote = { note: Math.min(127, n.note + 12), channel, on: start + (n.time - t0), off: start + ((ends.get(i) ?? n.time + 100) - t0), emittedOff: false };
      this.later(ai.on - look - this.scheduler.now(), () => {
        this.aiNotes.push(ai);
        this.emit({ type: 'noteon', note: ai.note, velocity: n.velocity, channel, time: ai.on });
      });
      this.later(ai.off - look - this.scheduler.now(), () => {
        ai.emittedOff = true;
        this.emit({ type: 'noteoff', note: ai.note, channel, time: ai.off });
      });
    });
    const last = Math.max(...call.map((_, i) => start + ((ends.get(i) ?? call[i].time + 100) - t0)));
    this.later(last - this.scheduler.now(), () => {
      this.aiNotes = [];
      this.turn = 'listening';
      this.emit({ type: 'state', turn: 'listening' });
    });
  }

  private stopAnswer(now: number): void {
    this.clearTimers();
    for (const n of this.aiNotes) if (!n.emittedOff || n.off > now) this.emit({ type: 'noteoff', note: n.note, channel: n.channel, time: now });
    this.aiNotes = [];
    if (this.turn === 'answering') {
      this.turn = 'listening';
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
