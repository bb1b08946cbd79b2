// Raw MIDI bytes to the engine's events. RtMidi hands over whole messages (no running status),
// but SysEx may arrive in chunks: the first starts with 0xF0, the rest with data bytes, the
// last ends with 0xF7. A chunk must never be mistaken for a note, so the parser remembers it is
// inside a SysEx until the end byte or a new status byte.

import type { ClockEvent } from '../../engine/duet/types.ts';
import type { NoteEvent } from '../../engine/note-events.ts';

/** Why a message was dropped; counted, never logged one by one (a SysEx dump is thousands). */
export type DropReason = 'sysex' | 'active-sensing' | 'system' | 'unsupported' | 'malformed';

/** A NoteEvent before it is stamped with its arrival time. */
type Untimed<E> = E extends NoteEvent ? Omit<E, 'time' | 'channel'> & { channel: number } : never;
export type UntimedNoteEvent = Untimed<NoteEvent>;

export type ParsedMessage =
  | { kind: 'note'; event: UntimedNoteEvent }
  | { kind: 'clock'; type: ClockEvent['type'] }
  | { kind: 'drop'; reason: DropReason };

const CLOCK: Record<number, ClockEvent['type']> = { 0xf8: 'tick', 0xfa: 'start', 0xfb: 'continue', 0xfc: 'stop' };
const isData = (b: number | undefined): b is number => b !== undefined && Number.isInteger(b) && b >= 0 && b < 0x80;
const drop = (reason: DropReason): ParsedMessage => ({ kind: 'drop', reason });

export class MidiInputParser {
  private inSysex = false;

  parse(bytes: readonly number[]): ParsedMessage {
    const status = bytes[0];
    if (status === undefined || !Number.isInteger(status) || status < 0 || status > 0xff) return drop('malformed');
    // Real-time bytes may legally interrupt a SysEx, so they are read before the SysEx state.
    if (status >= 0xf8) {
      const clock = CLOCK[status];
      if (clock) return { kind: 'clock', type: clock };
      return drop(status === 0xfe ? 'active-sensing' : 'system');
    }
    if (this.inSysex) {
      if (status < 0x80 || status === 0xf7) {
        if (bytes.includes(0xf7)) this.inSysex = false;
        return drop('sysex');
      }
      this.inSysex = false; // any other status byte aborts the SysEx
    }
    if (status === 0xf0) {
      this.inSysex = !bytes.includes(0xf7);
      return drop('sysex');
    }
    if (status < 0x80) return drop('malformed');
    if (status >= 0xf0) return drop('system');
    const channel = status & 0x0f;
    switch (status & 0xf0) {
      case 0x80:
      case 0x90: {
        const [, note, velocity] = bytes;
        if (bytes.length !== 3 || !isData(note) || !isData(velocity)) return drop('malformed');
        if ((status & 0xf0) === 0x90 && velocity > 0) return { kind: 'note', event: { type: 'noteon', note, velocity, channel } };
        return { kind: 'note', event: { type: 'noteoff', note, channel } };
      }
      case 0xb0: {
        const [, controller, value] = bytes;
        if (bytes.length !== 3 || !isData(controller) || !isData(value)) return drop('malformed');
        return { kind: 'note', event: { type: 'cc', controller, value, channel } };
      }
      default:
        return drop('unsupported'); // aftertouch, program change, pitch bend: the session plays none of them
    }
  }
}
