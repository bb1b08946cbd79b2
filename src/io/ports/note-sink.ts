// Plays a session's answer on a MIDI output. The session hands each note over a look-ahead before
// its time, so the sink holds it on a timer; a note-off that comes back before its note-on's time
// (barge-in, panic) cancels the note before it ever sounds. The sink also knows what is sounding,
// which is what panic() needs to leave nothing stuck.

import { asyncScheduler, type SchedulerLike, type Subscription } from 'rxjs';
import type { DuetOutput } from '../../engine/duet/types.ts';
import { guarded, runGuarded } from './guard.ts';
import { registerPanic } from './panic-registry.ts';
import { silentLogger, type MidiOutputPort, type PortLogger } from './types.ts';

export interface NoteSinkOptions {
  /** Times notes; must be the session's scheduler, since note times are on its clock. */
  scheduler?: SchedulerLike;
  logger?: PortLogger;
  /** Called with every message actually sent and the clock time it went out (echo suppression). */
  onSend?: (bytes: readonly number[], time: number) => void;
  /** Notes waiting for their time at once; more are dropped with a warning. Default 1024. */
  maxScheduled?: number;
  /** Add this sink to the process panic registry (SIGINT, SIGTERM, crashes). Default true. */
  register?: boolean;
}

export const NOTE_SINK_DEFAULTS = { maxScheduled: 1024 } as const;

interface Scheduled {
  on: number;
  off?: number;
  sounding: boolean;
  onTask?: Subscription;
  offTask?: Subscription;
}

type NoteOutput = Extract<DuetOutput, { type: 'noteon' | 'noteoff' }>;

const isInt = (v: unknown, lo: number, hi: number) => Number.isInteger(v) && (v as number) >= lo && (v as number) <= hi;

export class NoteSink {
  private readonly output: MidiOutputPort;
  private readonly scheduler: SchedulerLike;
  private readonly logger: PortLogger;
  private readonly onSend?: (bytes: readonly number[], time: number) => void;
  private readonly maxScheduled: number;
  /** channel * 128 + note -> that key's notes, in note-on order. */
  private readonly notes = new Map<number, Scheduled[]>();
  /** channel * 128 + note -> note-ons sent minus note-offs sent. */
  private readonly sounding = new Map<number, number>();
  /** Channels a note-on went out on since the last panic: the ones panic resets. */
  private readonly used = new Set<number>();
  private readonly closedSub: Subscription;
  private readonly unregister: () => void;
  /** Entries in `notes`: notes waiting to start or to end. */
  private entries = 0;
  private warnedFull = false;
  private disposed = false;

  constructor(output: MidiOutputPort, options: NoteSinkOptions = {}) {
    this.output = output;
    this.scheduler = options.scheduler ?? asyncScheduler;
    this.logger = options.logger ?? silentLogger;
    this.onSend = options.onSend;
    this.maxScheduled = options.maxScheduled ?? NOTE_SINK_DEFAULTS.maxScheduled;
    this.unregister = options.register === false ? () => {} : registerPanic(this);
    // A requested close lets panic's bytes out; after an unplug they go nowhere, but the timers
    // and the sounding set still have to be cleared.
    this.closedSub = output.closed$.subscribe(guarded(() => this.panic(), (e) => this.logger.error('panic on port close failed', e)));
  }

  /** Takes one session output; anything but noteon/noteoff is not the sink's business. */
  handle(o: DuetOutput): void {
    if (this.disposed || this.output.closed) return;
    if (o.type !== 'noteon' && o.type !== 'noteoff') return;
    if (!isInt(o.note, 0, 127) || !isInt(o.channel, 0, 15) || !Number.isFinite(o.time) || (o.type === 'noteon' && !isInt(o.velocity, 0, 127))) {
      this.logger.warn(`ignored a malformed answer note ${JSON.stringify(o)}`);
      return;
    }
    if (o.type === 'noteon' && o.velocity > 0) this.noteOn(o);
    else this.noteOff({ type: 'noteoff', note: o.note, channel: o.channel, time: o.time });
  }

  /** Notes waiting on a timer, note-ons and note-offs. */
  get pendingCount(): number {
    let n = 0;
    for (const list of this.notes.values()) for (const s of list) n += (s.onTask ? 1 : 0) + (s.offTask ? 1 : 0);
    return n;
  }

  /** Notes this sink started and has not ended, as [channel, note]. */
  soundingNotes(): Array<[number, number]> {
    return [...this.sounding.keys()].sort((a, b) => a - b).map((k) => [k >> 7, k & 127]);
  }

  usedChannels(): number[] {
    return [...this.used].sort((a, b) => a - b);
  }

  /**
   * Silences everything this sink started: (1) a note-off for every sounding note, (2) CC64 = 0,
   * (3) CC120 (all sound off) and CC123 (all notes off) on every channel used since the last
   * panic. Pending notes are cancelled. The sink stays usable afterwards.
   */
  panic(): void {
    for (const list of this.notes.values()) for (const s of list) this.cancel(s);
    this.notes.clear();
    this.entries = 0;
    this.warnedFull = false;
    for (const key of [...this.sounding.keys()].sort((a, b) => a - b)) this.send([0x80 | (key >> 7), key & 127, 0]);
    this.sounding.clear();
    const channels = this.usedChannels();
    for (const ch of channels) this.send([0xb0 | ch, 64, 0]);
    for (const ch of channels) {
      this.send([0xb0 | ch, 120, 0]);
      this.send([0xb0 | ch, 123, 0]);
    }
    this.used.clear();
  }

  /** Panics, cancels every timer and leaves the panic registry. Does not close the port. */
  dispose(): void {
    if (this.disposed) return;
    this.panic();
    this.disposed = true;
    this.closedSub.unsubscribe();
    this.unregister();
  }

  private noteOn(o: NoteOutput & { type: 'noteon' }): void {
    if (this.entries >= this.maxScheduled) {
      if (!this.warnedFull) this.logger.warn(`more than ${this.maxScheduled} answer notes waiting; dropping note-ons until some play`);
      this.warnedFull = true;
      return;
    }
    const key = o.channel * 128 + o.note;
    const s: Scheduled = { on: o.time, sounding: false };
    s.onTask = this.at(o.time, () => {
      s.onTask = undefined;
      s.sounding = true;
      this.used.add(o.channel);
      this.sounding.set(key, (this.sounding.get(key) ?? 0) + 1);
      this.send([0x90 | o.channel, o.note, o.velocity]);
    });
    this.entries += 1;
    const list = this.notes.get(key);
    if (list) list.push(s);
    else this.notes.set(key, [s]);
  }

  private noteOff(o: NoteOutput): void {
    const key = o.channel * 128 + o.note;
    const list = this.notes.get(key);
    if (!list) return; // nothing of ours on that key: sending an off could end someone else's note
    // The oldest note without an end is the one this note-off ends; else it shortens one that ends later.
    const s = list.find((n) => n.off === undefined) ?? list.find((n) => n.off !== undefined && n.off > o.time);
    if (!s) return;
    if (!s.sounding && o.time < s.on) {
      this.cancel(s);
      this.forget(key, s);
      return;
    }
    s.offTask?.unsubscribe();
    s.off = o.time;
    s.offTask = this.at(o.time, () => {
      s.offTask = undefined;
      if (s.sounding) this.release(key);
      else this.cancel(s); // a zero-length note whose note-on timer lost the race: never start it
      this.forget(key, s);
    });
  }

  private release(key: number): void {
    const n = (this.sounding.get(key) ?? 0) - 1;
    if (n > 0) this.sounding.set(key, n);
    else this.sounding.delete(key);
    this.send([0x80 | (key >> 7), key & 127, 0]);
  }

  private cancel(s: Scheduled): void {
    s.onTask?.unsubscribe();
    s.offTask?.unsubscribe();
    s.onTask = s.offTask = undefined;
  }

  private forget(key: number, s: Scheduled): void {
    const list = this.notes.get(key);
    if (!list) return;
    const i = list.indexOf(s);
    if (i < 0) return;
    list.splice(i, 1);
    this.entries -= 1;
    if (list.length === 0) this.notes.delete(key);
  }

  private at(time: number, work: () => void): Subscription {
    const delay = Math.max(0, time - this.scheduler.now());
    // A throw inside scheduled work would escape as an uncaught exception (asyncScheduler) or
    // cancel every other timer (VirtualTimeScheduler); neither may happen mid-performance.
    return this.scheduler.schedule(guarded(work, (e) => this.logger.error('an answer note failed to play', e)), delay);
  }

  private send(bytes: number[]): void {
    if (!this.output.send(bytes)) return;
    const time = this.scheduler.now();
    runGuarded(() => this.onSend?.(bytes, time), (e) => this.logger.error('the send hook failed', e));
  }
}
