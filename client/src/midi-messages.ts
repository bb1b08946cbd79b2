// Raw MIDI bytes in and out of WebMIDI. Pure, tested in Node.

export type MidiEvent =
  | { type: 'noteon'; channel: number; note: number; velocity: number }
  | { type: 'noteoff'; channel: number; note: number }
  | { type: 'cc'; channel: number; controller: number; value: number };

/**
 * Reads one channel message. A noteon with velocity 0 is a noteoff. Everything else (clock,
 * sysex, pitch bend, aftertouch, running status fragments) is null.
 */
export function parseMidi(data: ArrayLike<number>): MidiEvent | null {
  if (data.length < 3) return null;
  const status = data[0];
  const kind = status & 0xf0;
  const channel = status & 0x0f;
  const a = data[1];
  const b = data[2];
  if (a > 127 || b > 127) return null;
  if (kind === 0x90) return b === 0 ? { type: 'noteoff', channel, note: a } : { type: 'noteon', channel, note: a, velocity: b };
  if (kind === 0x80) return { type: 'noteoff', channel, note: a };
  if (kind === 0xb0) return { type: 'cc', channel, controller: a, value: b };
  return null;
}

const ch = (c: number) => Math.min(15, Math.max(0, c | 0));

export function noteOnBytes(channel: number, note: number, velocity: number): number[] {
  return [0x90 | ch(channel), note & 0x7f, Math.max(1, Math.min(127, Math.round(velocity)))];
}

export function noteOffBytes(channel: number, note: number): number[] {
  return [0x80 | ch(channel), note & 0x7f, 0];
}

/**
 * Silences a device: sustain off, all notes off (123) and all sound off (120) on every channel.
 * Sent on panic, on disconnect and when the output is switched away.
 */
export function panicBytes(): number[][] {
  const out: number[][] = [];
  for (let c = 0; c < 16; c++) {
    out.push([0xb0 | c, 64, 0], [0xb0 | c, 123, 0], [0xb0 | c, 120, 0]);
  }
  return out;
}
