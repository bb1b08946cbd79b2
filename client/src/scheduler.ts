// The AI's notes between the socket and the sound. The server sends each note a little ahead
// of its time; a noteoff whose time is before its noteon's time cancels the note (barge-in or
// panic caught it in the look-ahead). Notes wait here until they are due within `windowMs` and
// only then go to the synth and the MIDI output, so a cancel that arrives in time leaves no
// trace; one that comes after the hand-over is answered with an `abort`. Pure, tested in Node.

export type AudioAction =
  /** Start the note at `time` (client ms). */
  | { kind: 'attack'; id: number; note: number; velocity: number; channel: number; time: number }
  /** End the note at `time` (client ms, never before its attack). */
  | { kind: 'release'; id: number; note: number; channel: number; time: number }
  /** The note was handed over but cancelled: end it now, and never before `onTime`. */
  | { kind: 'abort'; id: number; note: number; channel: number; onTime: number };

interface ScheduledNote {
  id: number;
  note: number;
  channel: number;
  velocity: number;
  on: number;
  /** Set once its noteoff has arrived. */
  off: number | null;
  /** The attack was handed over. */
  attacked: boolean;
  /** The release was handed over (the note is finished here). */
  released: boolean;
}

export interface ScheduleStats {
  received: number;
  cancelled: number;
  late: number;
}

export class NoteScheduler {
  /** Notes not yet finished, in the order they arrived. */
  private notes: ScheduledNote[] = [];
  private nextId = 1;
  readonly stats: ScheduleStats = { received: 0, cancelled: 0, late: 0 };

  /**
   * @param windowMs how far ahead of its time a note is handed over
   * @param lateMs a note whose noteoff time is already this far in the past when it falls due
   *   is skipped instead of played (e.g. the tab was asleep)
   */
  constructor(
    readonly windowMs = 40,
    readonly lateMs = 1000,
  ) {}

  /** An AI noteon arrived. Returns its id (the piano roll uses it). */
  noteOn(note: number, velocity: number, time: number, channel = 0): number {
    const id = this.nextId++;
    this.notes.push({ id, note, channel, velocity, on: time, off: null, attacked: false, released: false });
    this.stats.received++;
    return id;
  }

  /**
   * An AI noteoff arrived. A noteoff before its noteon's time cancels that note: the result
   * says which note and, when it had been handed over already, the abort to run now.
   * Otherwise the note's release is queued and `cancelled` is null.
   */
  noteOff(note: number, time: number, channel = 0): { cancelled: number | null; actions: AudioAction[] } {
    const open = this.notes.filter((n) => n.note === note && n.channel === channel && n.off === null);
    if (open.length === 0) return { cancelled: null, actions: [] };
    // A cancel targets a note that should start after the noteoff's time; prefer the latest such.
    const future = open.filter((n) => time < n.on);
    if (future.length > 0) {
      const victim = future[future.length - 1];
      this.remove(victim);
      this.stats.cancelled++;
      const actions: AudioAction[] = victim.attacked
        ? [{ kind: 'abort', id: victim.id, note: victim.note, channel: victim.channel, onTime: victim.on }]
        : [];
      return { cancelled: victim.id, actions };
    }
    // Otherwise it ends the oldest sounding (or waiting) note of that pitch.
    open[0].off = time;
    return { cancelled: null, actions: [] };
  }

  /** Everything due by now + window, in time order. Call it from a steady timer. */
  poll(now: number): AudioAction[] {
    const horizon = now + this.windowMs;
    const actions: AudioAction[] = [];
    for (const n of this.notes) {
      if (!n.attacked && n.on <= horizon) {
        if (n.off !== null && n.off < now - this.lateMs) {
          // Both ends are long gone: skip it rather than blurt it out.
          n.attacked = true;
          n.released = true;
          this.stats.late++;
          continue;
        }
        n.attacked = true;
        actions.push({ kind: 'attack', id: n.id, note: n.note, velocity: n.velocity, channel: n.channel, time: n.on });
      }
      if (n.attacked && !n.released && n.off !== null && n.off <= horizon) {
        n.released = true;
        actions.push({ kind: 'release', id: n.id, note: n.note, channel: n.channel, time: Math.max(n.off, n.on) });
      }
    }
    this.notes = this.notes.filter((n) => !n.released);
    actions.sort((a, b) => actionTime(a) - actionTime(b) || (a.kind === 'release' ? -1 : 1));
    return actions;
  }

  /**
   * Drops every waiting note and ends every handed-over one (panic, a lost connection).
   * Returns the aborts for the notes that had been handed over, and the ids of all dropped.
   */
  clear(): { aborts: AudioAction[]; dropped: number[] } {
    const aborts: AudioAction[] = [];
    const dropped: number[] = [];
    for (const n of this.notes) {
      dropped.push(n.id);
      if (n.attacked && !n.released) aborts.push({ kind: 'abort', id: n.id, note: n.note, channel: n.channel, onTime: n.on });
    }
    this.notes = [];
    return { aborts, dropped };
  }

  /** Notes waiting or sounding. */
  get size(): number {
    return this.notes.length;
  }

  /** The earliest time anything is waiting for (for tests and idle timers). */
  get nextTime(): number {
    let t = Infinity;
    for (const n of this.notes) {
      if (!n.attacked) t = Math.min(t, n.on);
      else if (n.off !== null) t = Math.min(t, n.off);
    }
    return t;
  }

  private remove(victim: ScheduledNote): void {
    this.notes = this.notes.filter((n) => n !== victim);
  }
}

function actionTime(a: AudioAction): number {
  return a.kind === 'abort' ? a.onTime : a.time;
}

/**
 * A client time (performance.now() ms) as an audio context time (s): the context's clock read
 * at the same moment as performance.now(), shifted. Never earlier than the context's now, since
 * Web Audio cannot schedule into the past.
 */
export function perfToContextTime(t: number, perfNow: number, contextNow: number): number {
  return Math.max(contextNow, contextNow + (t - perfNow) / 1000);
}
