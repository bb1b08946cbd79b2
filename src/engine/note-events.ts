// Live note events, as every source (browser, MIDI port, test) hands them to the engine.
// `time` is in milliseconds on the source's clock.

import { AntiphonError } from '../errors.ts';

export type NoteEvent =
  | { type: 'noteon'; time: number; note: number; velocity: number; channel?: number }
  | { type: 'noteoff'; time: number; note: number; channel?: number }
  | { type: 'cc'; time: number; controller: number; value: number; channel?: number };

const isInt = (v: unknown, lo: number, hi: number): boolean => Number.isInteger(v) && (v as number) >= lo && (v as number) <= hi;

/** Throws E_EVENT_INVALID, naming the bad field, unless `e` is a well-formed NoteEvent. */
export function assertNoteEvent(e: unknown): asserts e is NoteEvent {
  const bad = (why: string): never => {
    throw new AntiphonError('E_EVENT_INVALID', `ignored a note event: ${why}`);
  };
  if (typeof e !== 'object' || e === null) bad('not an object');
  const ev = e as Record<string, unknown>;
  if (typeof ev.time !== 'number' || !Number.isFinite(ev.time)) bad(`time must be a finite number of milliseconds, got ${String(ev.time)}`);
  if (ev.channel !== undefined && !isInt(ev.channel, 0, 15)) bad(`channel must be 0..15, got ${String(ev.channel)}`);
  switch (ev.type) {
    case 'noteon':
      if (!isInt(ev.note, 0, 127)) bad(`note must be 0..127, got ${String(ev.note)}`);
      if (!isInt(ev.velocity, 0, 127)) bad(`velocity must be 0..127, got ${String(ev.velocity)}`);
      return;
    case 'noteoff':
      if (!isInt(ev.note, 0, 127)) bad(`note must be 0..127, got ${String(ev.note)}`);
      return;
    case 'cc':
      if (!isInt(ev.controller, 0, 127)) bad(`controller must be 0..127, got ${String(ev.controller)}`);
      if (!isInt(ev.value, 0, 127)) bad(`value must be 0..127, got ${String(ev.value)}`);
      return;
    default:
      bad(`unknown type ${JSON.stringify(ev.type)}`);
  }
}

/** Whether `e` is a well-formed NoteEvent (assertNoteEvent's check, without the error). */
export function isNoteEvent(e: unknown): e is NoteEvent {
  try {
    assertNoteEvent(e);
    return true;
  } catch {
    return false;
  }
}
