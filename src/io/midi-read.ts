// Bytes → ParsedMidi. Pure and synchronous: it runs inside the parser worker (midi-worker.ts),
// because midi-file can loop forever on crafted input and only a worker can be killed.
import tm from '@tonejs/midi';
import { parseMidi } from 'midi-file';
import type { MidiData, MidiEvent } from 'midi-file';
import { AntiphonError } from '../errors.ts';
import type { MeterEvent, ParsedMidi, RawControl, RawNote, RawTrack, TempoEvent } from './midi-types.ts';

const { Header } = tm;

/**
 * Tempos outside this range are corrupt data, not music. The ceiling is a 10 ms beat, not 1000 BPM:
 * beat-tracked files carry single glitch beats (pop1k7 has one at 1500 and one at 2000 BPM) and
 * losing a whole song for one beat is worse than letting the tokenizer clamp it.
 */
export const BPM_RANGE = { min: 1, max: 6000 } as const;
const PEDALS = new Set([64, 66, 67]);
const PERCUSSION_CHANNEL = 9;

export function parseMidiBytes(bytes: Uint8Array, file: string): ParsedMidi {
  checkChunks(bytes, file);
  const data = parseStructure(bytes, file);
  const ppq = data.header.ticksPerBeat;
  if (ppq === undefined) {
    throw new AntiphonError('E_MIDI_RANGE', `${file}: SMPTE time division is not supported; the file must count ticks per quarter note`, { file });
  }
  if (!Number.isInteger(ppq) || ppq <= 0) {
    throw new AntiphonError('E_MIDI_RANGE', `${file}: ticks per quarter note is ${ppq}; it must be above 0`, { file });
  }

  const tracks: RawTrack[] = [];
  let endTicks = 0;
  data.tracks.forEach((events, index) => {
    const read = readTrack(events, index, file);
    endTicks = Math.max(endTicks, read.lastTick);
    tracks.push(...read.tracks);
  });

  const { tempos, meters } = readHeader(data, file);
  return { file, ppq, tempos, meters, tracks, endTicks };
}

function fail(file: string, message: string, code: 'E_MIDI_PARSE' | 'E_MIDI_RANGE' = 'E_MIDI_PARSE'): never {
  throw new AntiphonError(code, `${file}: ${message}`, { file });
}

/**
 * midi-file reads past the end of a cut-off file without complaint (it yields undefined bytes),
 * so check the chunk frame first: a truncated file is a parse error, not a range error later.
 */
function checkChunks(bytes: Uint8Array, file: string): void {
  const id = (at: number): string => String.fromCharCode(bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]);
  const len = (at: number): number => ((bytes[at] << 24) >>> 0) + (bytes[at + 1] << 16) + (bytes[at + 2] << 8) + bytes[at + 3];
  if (bytes.length < 14 || id(0) !== 'MThd') fail(file, 'not a MIDI file (it does not start with an MThd header)');
  const headerLen = len(4);
  if (headerLen < 6 || 8 + headerLen > bytes.length) fail(file, `the MIDI header is ${headerLen} bytes; it must be at least 6`);
  const declared = (bytes[10] << 8) + bytes[11];
  let at = 8 + headerLen;
  let found = 0;
  while (found < declared) {
    const left = bytes.length - at;
    if (left === 0) fail(file, `the file is cut short: the header promises ${declared} tracks but the file holds ${found}`);
    if (left < 8) fail(file, `the file is cut short inside the chunk header of track ${found + 1}`);
    const size = len(at + 4);
    if (size > left - 8) fail(file, `the file is cut short: track ${found + 1} declares ${size} bytes but only ${left - 8} remain`);
    at += 8 + size;
    found++;
  }
}

function parseStructure(bytes: Uint8Array, file: string): MidiData {
  try {
    return parseMidi(bytes);
  } catch (cause) {
    // midi-file throws plain strings, so the message has to be taken as whatever was thrown.
    const reason = cause instanceof Error ? cause.message : String(cause);
    throw new AntiphonError('E_MIDI_PARSE', `${file}: unreadable MIDI data (${reason})`, { file, cause });
  }
}

function readHeader(data: MidiData, file: string): { tempos: TempoEvent[]; meters: MeterEvent[] } {
  // @tonejs/midi's Header reads tracks[0] unguarded; a file with no tracks has no tempo map anyway.
  if (data.tracks.length === 0) return { tempos: [], meters: [] };
  let header: InstanceType<typeof Header>;
  try {
    header = new Header(data);
  } catch (cause) {
    throw new AntiphonError('E_MIDI_PARSE', `${file}: unreadable tempo or meter events`, { file, cause });
  }
  const tempos = header.tempos.map(({ ticks, bpm }) => {
    if (!Number.isFinite(bpm) || bpm < BPM_RANGE.min || bpm > BPM_RANGE.max) {
      fail(file, `tick ${ticks}: tempo ${bpm} BPM is outside ${BPM_RANGE.min}..${BPM_RANGE.max}`, 'E_MIDI_RANGE');
    }
    return { ticks, bpm };
  });
  const meters = header.timeSignatures.map(({ ticks, timeSignature: [numerator, denominator] }) => {
    if (!isIntIn(numerator, 1, 255) || !isIntIn(denominator, 1, 256)) {
      fail(file, `tick ${ticks}: meter ${numerator}/${denominator} is not a valid time signature`, 'E_MIDI_RANGE');
    }
    return { ticks, numerator, denominator };
  });
  return { tempos, meters };
}

const isIntIn = (v: unknown, lo: number, hi: number): v is number =>
  typeof v === 'number' && Number.isInteger(v) && v >= lo && v <= hi;

interface TrackRead {
  tracks: RawTrack[];
  lastTick: number;
}

/**
 * Pairs notes in one pass. `open[channel * 128 + pitch]` holds 1 + the index of the sounding note,
 * so each event costs O(1) instead of @tonejs/midi's search over all earlier notes.
 */
function readTrack(events: MidiEvent[], index: number, file: string): TrackRead {
  const where = (tick: number): string => `track ${index + 1}, tick ${tick}`;
  const check = (v: unknown, lo: number, hi: number, what: string, tick: number): number => {
    if (typeof v !== 'number' || Number.isNaN(v)) fail(file, `${where(tick)}: ${what} is missing (the event is cut short)`);
    if (!isIntIn(v, lo, hi)) fail(file, `${where(tick)}: ${what} ${v} is outside ${lo}..${hi}`, 'E_MIDI_RANGE');
    return v;
  };

  const notes: RawNote[] = [];
  const pedals: RawControl[] = [];
  const open = new Int32Array(16 * 128);
  let name = '';
  let tick = 0;

  for (const event of events) {
    const delta = event.deltaTime;
    if (!Number.isInteger(delta) || delta < 0) fail(file, `${where(tick)}: bad delta time ${delta}`);
    tick += delta;
    // @tonejs/midi's Header expects absolute times on the events, as its own Midi class sets them.
    (event as MidiEvent & { absoluteTime: number }).absoluteTime = tick;

    switch (event.type) {
      case 'trackName':
        if (name === '') name = event.text;
        break;
      case 'noteOn': {
        const channel = check(event.channel, 0, 15, 'channel', tick);
        const midi = check(event.noteNumber, 0, 127, 'note number', tick);
        const velocity = check(event.velocity, 1, 127, 'velocity', tick);
        const slot = channel * 128 + midi;
        if (open[slot] !== 0) closeNote(notes[open[slot] - 1], tick);
        notes.push({ ticks: tick, durationTicks: 0, midi, velocity, channel });
        open[slot] = notes.length;
        break;
      }
      case 'noteOff': {
        const channel = check(event.channel, 0, 15, 'channel', tick);
        const midi = check(event.noteNumber, 0, 127, 'note number', tick);
        check(event.velocity, 0, 127, 'note-off velocity', tick);
        const slot = channel * 128 + midi;
        // A note-off with nothing sounding is harmless noise in real files; skip it.
        if (open[slot] !== 0) closeNote(notes[open[slot] - 1], tick);
        open[slot] = 0;
        break;
      }
      case 'controller': {
        const channel = check(event.channel, 0, 15, 'channel', tick);
        const controller = check(event.controllerType, 0, 127, 'controller number', tick);
        const value = check(event.value, 0, 127, `controller ${controller} value`, tick);
        if (PEDALS.has(controller)) pedals.push({ ticks: tick, channel, controller, value });
        break;
      }
      case 'programChange':
        check(event.channel, 0, 15, 'channel', tick);
        check(event.programNumber, 0, 127, 'program number', tick);
        break;
      case 'noteAftertouch':
        check(event.channel, 0, 15, 'channel', tick);
        check(event.noteNumber, 0, 127, 'note number', tick);
        check(event.amount, 0, 127, 'aftertouch amount', tick);
        break;
      case 'channelAftertouch':
        check(event.channel, 0, 15, 'channel', tick);
        check(event.amount, 0, 127, 'aftertouch amount', tick);
        break;
      case 'pitchBend':
        check(event.channel, 0, 15, 'channel', tick);
        check(event.value, -8192, 8191, 'pitch bend', tick);
        break;
      default:
        break;
    }
  }

  for (const slot of open) {
    if (slot === 0) continue;
    const note = notes[slot - 1];
    note.durationTicks = Math.max(1, tick - note.ticks);
    note.unterminated = true;
  }
  return { tracks: splitPercussion(name, notes, pedals), lastTick: tick };
}

function closeNote(note: RawNote, tick: number): void {
  // Zero-length notes carry a pitch the player meant; keep them as the shortest possible note.
  note.durationTicks = Math.max(1, tick - note.ticks);
}

const byOnset = (a: RawNote, b: RawNote): number => a.ticks - b.ticks || a.midi - b.midi || a.channel - b.channel;

/**
 * Format-0 files hold every channel in one track, so a track's drums are split off rather than
 * letting channel 10 mark a whole piano part as percussion.
 */
function splitPercussion(name: string, notes: RawNote[], pedals: RawControl[]): RawTrack[] {
  const drums = notes.filter((n) => n.channel === PERCUSSION_CHANNEL).sort(byOnset);
  const pitched = notes.filter((n) => n.channel !== PERCUSSION_CHANNEL).sort(byOnset);
  if (drums.length === 0) return [{ name, percussion: false, notes: pitched, pedals }];
  if (pitched.length === 0) return [{ name, percussion: true, notes: drums, pedals }];
  return [
    { name, percussion: false, notes: pitched, pedals: pedals.filter((p) => p.channel !== PERCUSSION_CHANNEL) },
    { name: name === '' ? 'drums' : `${name} (drums)`, percussion: true, notes: drums, pedals: pedals.filter((p) => p.channel === PERCUSSION_CHANNEL) },
  ];
}

/**
 * ParsedMidi with its bulky arrays flattened into Float64Arrays. Structured-cloning millions of
 * small note objects cost the main thread more than parsing did (pop909: ~1.7 s to receive vs
 * ~1.2 s to parse), which made a second worker useless; typed arrays transfer without copying.
 */
export interface PackedMidi {
  file: string;
  ppq: number;
  endTicks: number;
  /** ticks, bpm per tempo event */
  tempos: Float64Array;
  meters: MeterEvent[];
  tracks: Array<{
    name: string;
    percussion: boolean;
    /** ticks, durationTicks, midi, velocity, channel, unterminated (0/1) per note */
    notes: Float64Array;
    /** ticks, channel, controller, value per pedal event */
    pedals: Float64Array;
  }>;
}

const NOTE_WIDTH = 6;
const PEDAL_WIDTH = 4;

export function packParsed(p: ParsedMidi): { packed: PackedMidi; transfer: ArrayBuffer[] } {
  const transfer: ArrayBuffer[] = [];
  const own = (a: Float64Array) => (transfer.push(a.buffer as ArrayBuffer), a);
  const tempos = own(new Float64Array(p.tempos.length * 2));
  p.tempos.forEach((t, i) => {
    tempos[i * 2] = t.ticks;
    tempos[i * 2 + 1] = t.bpm;
  });
  const tracks = p.tracks.map((t) => {
    const notes = own(new Float64Array(t.notes.length * NOTE_WIDTH));
    // Indexed stores: TypedArray.set with a fresh array literal per note was ~1 µs a note.
    let k = 0;
    for (const n of t.notes) {
      notes[k++] = n.ticks;
      notes[k++] = n.durationTicks;
      notes[k++] = n.midi;
      notes[k++] = n.velocity;
      notes[k++] = n.channel;
      notes[k++] = n.unterminated ? 1 : 0;
    }
    const pedals = own(new Float64Array(t.pedals.length * PEDAL_WIDTH));
    k = 0;
    for (const c of t.pedals) {
      pedals[k++] = c.ticks;
      pedals[k++] = c.channel;
      pedals[k++] = c.controller;
      pedals[k++] = c.value;
    }
    return { name: t.name, percussion: t.percussion, notes, pedals };
  });
  return { packed: { file: p.file, ppq: p.ppq, endTicks: p.endTicks, tempos, meters: p.meters, tracks }, transfer };
}

export function unpackParsed(p: PackedMidi): ParsedMidi {
  const tempos: TempoEvent[] = [];
  for (let i = 0; i < p.tempos.length; i += 2) tempos.push({ ticks: p.tempos[i], bpm: p.tempos[i + 1] });
  const tracks = p.tracks.map((t): RawTrack => {
    const notes: RawNote[] = [];
    const a = t.notes;
    for (let i = 0; i < a.length; i += NOTE_WIDTH) {
      const note: RawNote = { ticks: a[i], durationTicks: a[i + 1], midi: a[i + 2], velocity: a[i + 3], channel: a[i + 4] };
      if (a[i + 5] === 1) note.unterminated = true;
      notes.push(note);
    }
    const pedals: RawControl[] = [];
    const c = t.pedals;
    for (let i = 0; i < c.length; i += PEDAL_WIDTH) pedals.push({ ticks: c[i], channel: c[i + 1], controller: c[i + 2], value: c[i + 3] });
    return { name: t.name, percussion: t.percussion, notes, pedals };
  });
  return { file: p.file, ppq: p.ppq, tempos, meters: p.meters, tracks, endTicks: p.endTicks };
}
