// Hand-built Standard MIDI File bytes, so tests can state exactly what a file contains,
// including things no well-behaved writer would ever produce.

/** Variable-length quantity as the SMF spec encodes delta times and lengths. */
export function vlq(value: number): number[] {
  if (!Number.isInteger(value) || value < 0 || value > 0x0fffffff) throw new Error(`vlq: ${value}`);
  const out = [value & 0x7f];
  let rest = value >>> 7;
  while (rest > 0) {
    out.unshift((rest & 0x7f) | 0x80);
    rest >>>= 7;
  }
  return out;
}

const u32 = (n: number): number[] => [(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
const u16 = (n: number): number[] => [(n >>> 8) & 0xff, n & 0xff];
const ascii = (s: string): number[] => [...s].map((c) => c.charCodeAt(0));

export function chunk(id: string, data: number[]): number[] {
  return [...ascii(id), ...u32(data.length), ...data];
}

export function header(numTracks: number, ppq = 480, format = 1): number[] {
  return chunk('MThd', [...u16(format), ...u16(numTracks), ...u16(ppq)]);
}

/** One timed event: `delta` ticks after the previous one, then raw status/data bytes. */
export interface Ev {
  delta: number;
  bytes: number[];
}

export const ev = (delta: number, ...bytes: number[]): Ev => ({ delta, bytes });
export const on = (delta: number, pitch: number, vel: number, ch = 0): Ev => ev(delta, 0x90 | ch, pitch, vel);
export const off = (delta: number, pitch: number, ch = 0): Ev => ev(delta, 0x80 | ch, pitch, 0);
export const cc = (delta: number, controller: number, value: number, ch = 0): Ev => ev(delta, 0xb0 | ch, controller, value);
export const tempo = (delta: number, microsPerBeat: number): Ev =>
  ev(delta, 0xff, 0x51, 0x03, (microsPerBeat >>> 16) & 0xff, (microsPerBeat >>> 8) & 0xff, microsPerBeat & 0xff);
/** `denomPow2` is the exponent the file stores: 2 means a quarter note. */
export const meter = (delta: number, num: number, denomPow2: number): Ev => ev(delta, 0xff, 0x58, 0x04, num, denomPow2, 24, 8);
export const trackName = (delta: number, name: string): Ev => ev(delta, 0xff, 0x03, ...vlq(name.length), ...ascii(name));
export const endOfTrack = (delta = 0): Ev => ev(delta, 0xff, 0x2f, 0x00);

/** A track chunk; appends end-of-track unless the events already end with one. */
export function track(events: Ev[], { addEnd = true } = {}): number[] {
  const data: number[] = [];
  for (const e of events) data.push(...vlq(e.delta), ...e.bytes);
  const last = events[events.length - 1];
  const endsAlready = last !== undefined && last.bytes[0] === 0xff && last.bytes[1] === 0x2f;
  if (addEnd && !endsAlready) data.push(0x00, 0xff, 0x2f, 0x00);
  return chunk('MTrk', data);
}

export function smf(tracks: Ev[][], ppq = 480): Uint8Array {
  return Uint8Array.from([...header(tracks.length, ppq), ...tracks.flatMap((t) => track(t))]);
}

/**
 * The 29-byte file that loops midi-file forever: the SysEx length `8F FF FF FF 79` overflows a
 * 32-bit shift to -7, which rewinds the reader to the start of the track on every pass.
 */
export function endlessSysex(): Uint8Array {
  const body = [0x00, 0xf0, 0x8f, 0xff, 0xff, 0xff, 0x79];
  return Uint8Array.from([...header(1, 480, 0), ...chunk('MTrk', body)]);
}
