// Song → Standard MIDI File bytes through @tonejs/midi, with integer ticks and velocities in and
// the same integers back out when the file is read again (test/io-midi-write.test.ts holds us to it).
import { writeFile } from 'node:fs/promises';
import tm from '@tonejs/midi';
import { AntiphonError } from '../errors.ts';
import type { MeterEvent, TempoEvent } from './midi-types.ts';

const { Midi } = tm;

export interface NoteToWrite {
  ticks: number;
  durationTicks: number;
  midi: number;
  /** 1..127 */
  velocity: number;
}

export interface TrackToWrite {
  name?: string;
  /** 0..15; default 0. */
  channel?: number;
  notes: NoteToWrite[];
}

export interface SongToWrite {
  /** Ticks per quarter note; default 480. */
  ppq?: number;
  tempos: TempoEvent[];
  meters?: MeterEvent[];
  tracks: TrackToWrite[];
}

export function midiBytes(song: SongToWrite, name = 'song'): Uint8Array {
  const bad = (what: string): never => {
    throw new AntiphonError('E_MIDI_RANGE', `${name}: cannot write ${what}`, { file: name });
  };
  const intIn = (v: number, lo: number, hi: number) => Number.isInteger(v) && v >= lo && v <= hi;
  const ppq = song.ppq ?? 480;
  if (!intIn(ppq, 1, 0x7fff)) bad(`ppq ${ppq}`);

  const midi = new Midi();
  const tempos = song.tempos.map(({ ticks, bpm }) => {
    if (!intIn(ticks, 0, Number.MAX_SAFE_INTEGER) || !Number.isFinite(bpm) || bpm <= 0) bad(`tempo ${bpm} BPM at tick ${ticks}`);
    const micros = Math.round(60_000_000 / bpm);
    if (!intIn(micros, 1, 0xffffff)) bad(`tempo ${bpm} BPM at tick ${ticks}`);
    // tonejs writes floor(60e6 / bpm); aiming a hair above the whole microsecond keeps float error from flooring one below.
    return { ticks, bpm: 60_000_000 / (micros + 1e-6) };
  });
  const timeSignatures = (song.meters ?? []).map(({ ticks, numerator, denominator }) => {
    const powerOfTwo = Number.isInteger(Math.log2(denominator));
    if (!intIn(ticks, 0, Number.MAX_SAFE_INTEGER) || !intIn(numerator, 1, 255) || !intIn(denominator, 1, 128) || !powerOfTwo) {
      bad(`meter ${numerator}/${denominator} at tick ${ticks}`);
    }
    return { ticks, timeSignature: [numerator, denominator] };
  });
  // ppq has no setter in @tonejs/midi; fromJSON is its one way in.
  midi.header.fromJSON({ ...midi.header.toJSON(), ppq, tempos, timeSignatures });

  song.tracks.forEach((t, i) => {
    const channel = t.channel ?? 0;
    if (!intIn(channel, 0, 15)) bad(`track ${i + 1} on channel ${channel}`);
    const track = midi.addTrack();
    track.name = t.name ?? '';
    track.channel = channel;
    for (const n of t.notes) {
      const at = `track ${i + 1}, tick ${n.ticks}`;
      if (!intIn(n.ticks, 0, Number.MAX_SAFE_INTEGER) || !intIn(n.durationTicks, 1, Number.MAX_SAFE_INTEGER)) bad(`${at}: note timing ${n.ticks}+${n.durationTicks}`);
      if (!intIn(n.midi, 0, 127)) bad(`${at}: note number ${n.midi}`);
      if (!intIn(n.velocity, 1, 127)) bad(`${at}: velocity ${n.velocity}`);
      // tonejs stores velocity as v/127 and writes floor(v * 127); for every integer 1..127 that gives v back exactly.
      track.addNote({ ticks: n.ticks, durationTicks: n.durationTicks, midi: n.midi, velocity: n.velocity / 127 });
    }
  });
  return midi.toArray();
}

export async function writeMidiFile(path: string, song: SongToWrite): Promise<void> {
  const bytes = midiBytes(song, path);
  try {
    await writeFile(path, bytes);
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    // errors.ts has no write-side code; the read codes are the closest stable ones.
    if (code === 'ENOENT') throw new AntiphonError('E_FILE_NOT_FOUND', `${path}: its folder does not exist`, { file: path, cause });
    throw new AntiphonError('E_FILE_READ', `${path}: cannot write (${code ?? String(cause)})`, { file: path, cause });
  }
}
