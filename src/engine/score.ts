// The two note forms the tokenizer works between.
// A Performance is what was played, in ticks at TICKS_PER_BEAT; a Score is the same music on the grid,
// with duration and velocity already binned: exactly what compound words can hold.

export interface PerfNote {
  /** Onset in ticks at TICKS_PER_BEAT (480 per beat). */
  tick: number;
  /** Length in ticks, > 0, sustain pedal already folded in. */
  dur: number;
  /** MIDI note number. */
  pitch: number;
  /** 1..127 */
  velocity: number;
}

export interface TempoPoint {
  /** Ticks at TICKS_PER_BEAT. */
  tick: number;
  bpm: number;
}

export interface Performance {
  notes: PerfNote[];
  /** Sorted by tick; the tempo holds until the next point. Empty means 120 BPM. */
  tempos: TempoPoint[];
}

export interface ScoreNote {
  /** Onset in grid steps from the start of bar 0. */
  step: number;
  /** MIDI note number inside the piano's range. */
  pitch: number;
  /** Duration token (see DURATION_STEPS). */
  duration: number;
  /** Velocity token. */
  velocity: number;
}

export interface Score {
  /** Sorted by step, then pitch. At most one note per (step, pitch). */
  notes: ScoreNote[];
  /** Tempo token of each beat, indexed by beat number from bar 0. */
  beatTempos: number[];
}

export const compareScoreNotes = (a: ScoreNote, b: ScoreNote): number =>
  a.step - b.step || a.pitch - b.pitch || a.duration - b.duration || a.velocity - b.velocity;

/** A stable key for multiset comparison of notes. */
export const scoreNoteKey = (n: ScoreNote): string => `${n.step}:${n.pitch}:${n.duration}:${n.velocity}`;
