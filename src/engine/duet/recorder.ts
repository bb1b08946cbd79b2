// The session's recording: both parts with their real timing. Notes still sounding are closed
// at the moment the recording is taken, so a recording taken mid-phrase is still a valid file.

import type { NoteEvent } from '../note-events.ts';
import type { RecordedNote, Recording } from './types.ts';

type Part = 'person' | 'ai';

export class Recorder {
  private readonly done: Record<Part, RecordedNote[]> = { person: [], ai: [] };
  private readonly open: Record<Part, Map<string, RecordedNote>> = { person: new Map(), ai: new Map() };
  /** A cap, so an endless session cannot grow without bound; the oldest notes go first. */
  constructor(readonly maxNotes = 200_000) {}

  /** The person's side of a (validated) note event: a note-on with velocity 0 is a note-off. */
  played(e: NoteEvent): void {
    if (e.type === 'noteon' && e.velocity > 0) this.noteOn('person', e.note, e.velocity, e.channel ?? 0, e.time);
    else if (e.type === 'noteon' || e.type === 'noteoff') this.noteOff('person', e.note, e.channel ?? 0, e.time);
  }

  noteOn(part: Part, note: number, velocity: number, channel: number, ms: number): void {
    const key = `${channel}:${note}`;
    const open = this.open[part];
    const prev = open.get(key);
    if (prev) this.close(part, prev, ms);
    open.set(key, { startMs: ms, endMs: ms, note, velocity, channel });
  }

  noteOff(part: Part, note: number, channel: number, ms: number): void {
    const key = `${channel}:${note}`;
    const n = this.open[part].get(key);
    if (!n) return;
    this.open[part].delete(key);
    this.close(part, n, ms);
  }

  /** Drops an AI note that was announced but never sounded (cut in its look-ahead). */
  cancel(part: Part, note: number, channel: number): void {
    this.open[part].delete(`${channel}:${note}`);
  }

  snapshot(bpm: number, originMs: number, nowMs: number): Recording {
    const part = (p: Part): RecordedNote[] =>
      [...this.done[p], ...[...this.open[p].values()].map((n) => ({ ...n, endMs: Math.max(nowMs, n.startMs + 1) }))].sort(
        (a, b) => a.startMs - b.startMs || a.note - b.note,
      );
    return { bpm, originMs, person: part('person'), ai: part('ai') };
  }

  get noteCount(): number {
    return this.done.person.length + this.done.ai.length;
  }

  private close(part: Part, n: RecordedNote, ms: number): void {
    n.endMs = Math.max(ms, n.startMs + 1);
    const list = this.done[part];
    list.push(n);
    if (this.noteCount > this.maxNotes) list.splice(0, Math.ceil(list.length / 10));
  }
}
