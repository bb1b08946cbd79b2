// Plain data read from a MIDI file: what the worker sends back, structured-clone safe.
// Times are in the file's own ticks (see `ppq`); values are range-checked before they get here.

export interface RawNote {
  /** Onset, in file ticks. */
  ticks: number;
  /** Length in file ticks; > 0. A note-on with no note-off ends at the next note-on of its pitch or at the track's end. */
  durationTicks: number;
  /** MIDI note number 0..127 (not yet folded into the piano's range). */
  midi: number;
  /** 1..127 */
  velocity: number;
  /** 0..15 */
  channel: number;
  /** True when the file gave no note-off for it. */
  unterminated?: boolean;
}

export interface RawControl {
  ticks: number;
  channel: number;
  /** 0..127 */
  controller: number;
  /** 0..127 */
  value: number;
}

export interface RawTrack {
  name: string;
  /** Channel 10 (index 9) or a drum program: not piano, skipped by the tokenizer. */
  percussion: boolean;
  notes: RawNote[];
  /** Sustain (64), sostenuto (66) and soft (67) pedals only; other controllers are dropped. */
  pedals: RawControl[];
}

export interface TempoEvent {
  ticks: number;
  bpm: number;
}

export interface MeterEvent {
  ticks: number;
  numerator: number;
  denominator: number;
}

export interface ParsedMidi {
  /** The file's name, for error messages. */
  file: string;
  /** Ticks per quarter note. */
  ppq: number;
  tempos: TempoEvent[];
  meters: MeterEvent[];
  tracks: RawTrack[];
  /** Tick of the last event of any track. */
  endTicks: number;
}
