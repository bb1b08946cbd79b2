// Pairs a live stream of note events into notes with lengths, the way a piano does:
// a released key keeps sounding while the sustain pedal is down; striking a sounding key again
// ends its previous note there (this also clears stuck keys: a note-on with no note-off).
// Times are whatever unit the caller uses (the live tokenizer passes ticks).

import type { PerfNote } from './score.ts';

const SUSTAIN = 64;

interface Sounding {
  tick: number;
  velocity: number;
  /** Key released while the pedal held it. */
  released: boolean;
}

/** A sounding note ended at `tick` (never of zero length). */
const noteOf = (pitch: number, s: Sounding, tick: number): PerfNote => ({ tick: s.tick, dur: Math.max(tick - s.tick, 1e-6), pitch, velocity: s.velocity });

export class NoteTracker {
  private readonly sounding = new Map<number, Sounding>();
  private pedalDown = false;

  /** Returns the note it ended, if a re-strike ended one. */
  noteOn(pitch: number, velocity: number, tick: number): PerfNote | null {
    if (velocity === 0) return this.noteOff(pitch, tick);
    const ended = this.end(pitch, tick);
    this.sounding.set(pitch, { tick, velocity, released: false });
    return ended;
  }

  noteOff(pitch: number, tick: number): PerfNote | null {
    const s = this.sounding.get(pitch);
    if (!s || s.released) return null; // a duplicate or stray note-off
    if (this.pedalDown) {
      s.released = true;
      return null;
    }
    return this.end(pitch, tick);
  }

  /** Only the sustain pedal changes lengths; other controllers are ignored here. */
  control(controller: number, value: number, tick: number): PerfNote[] {
    if (controller !== SUSTAIN) return [];
    const down = value >= 64;
    if (down === this.pedalDown) return [];
    this.pedalDown = down;
    if (down) return [];
    const ended: PerfNote[] = [];
    for (const [pitch, s] of this.sounding) {
      if (s.released) ended.push(this.end(pitch, tick)!);
    }
    return ended;
  }

  /** Ends every sounding note: the performance is over. */
  endAll(tick: number): PerfNote[] {
    const ended: PerfNote[] = [];
    for (const pitch of [...this.sounding.keys()]) ended.push(this.end(pitch, tick)!);
    this.pedalDown = false;
    return ended;
  }

  /** The notes sounding now (held, or kept by the pedal), as if they all ended at `tick`. */
  endedAt(tick: number): PerfNote[] {
    return [...this.sounding].map(([pitch, s]) => noteOf(pitch, s, tick));
  }

  /** Earliest onset still waiting for its length, or Infinity. */
  earliestOpenTick(): number {
    let t = Infinity;
    for (const s of this.sounding.values()) t = Math.min(t, s.tick);
    return t;
  }

  get openCount(): number {
    return this.sounding.size;
  }

  private end(pitch: number, tick: number): PerfNote | null {
    const s = this.sounding.get(pitch);
    if (!s) return null;
    this.sounding.delete(pitch);
    return noteOf(pitch, s, tick);
  }
}
