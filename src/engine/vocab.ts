// The compound-word vocabulary: fixed and versioned, never rebuilt from data.
// A model stores VOCAB_VERSION and refuses to load against any other.
//
// A word is one integer per family, in FAMILIES order. A family that the word's
// type does not use holds UNUSED (-1).

export const VOCAB_VERSION = 'cp-piano-v1';

export const FAMILIES = ['type', 'barBeat', 'tempo', 'chord', 'pitch', 'duration', 'velocity'] as const;
export type Family = (typeof FAMILIES)[number];
export type Word = readonly number[]; // length FAMILIES.length
export const UNUSED = -1;

export const F = {
  type: 0,
  barBeat: 1,
  tempo: 2,
  chord: 3,
  pitch: 4,
  duration: 5,
  velocity: 6,
} as const satisfies Record<Family, number>;

// ---- time grid -------------------------------------------------------------
/** Internal resolution, the same as Pop1K7's files. */
export const TICKS_PER_BEAT = 480;
/** Grid steps per beat: sixteenth notes. */
export const STEPS_PER_BEAT = 4;
export const TICKS_PER_STEP = TICKS_PER_BEAT / STEPS_PER_BEAT; // 120
/** Every bar is tokenized as four beats (see docs/representation.md for other meters). */
export const BEATS_PER_BAR = 4;
export const STEPS_PER_BAR = STEPS_PER_BEAT * BEATS_PER_BAR; // 16

// ---- type ------------------------------------------------------------------
export const TYPE = { EOS: 0, METRICAL: 1, NOTE: 2 } as const;
export const TYPE_NAMES = ['EOS', 'Metrical', 'Note'] as const;

// ---- bar/beat: Bar, then one value per grid step of the bar ------------------
export const BAR = 0;
export const beatToken = (step: number): number => 1 + step;
export const tokenToBeat = (token: number): number => token - 1;

// ---- tempo: CONTI, then 65 bins over 32..224 BPM ----------------------------
export const CONTI = 0;
export const TEMPO_MIN = 32;
export const TEMPO_STEP = 3;
export const TEMPO_BINS = 65;
export function tempoToToken(bpm: number): number {
  const i = Math.round((bpm - TEMPO_MIN) / TEMPO_STEP);
  return 1 + Math.min(TEMPO_BINS - 1, Math.max(0, i));
}
export const tokenToTempo = (token: number): number => TEMPO_MIN + (token - 1) * TEMPO_STEP;

// ---- chord: CONTI, N (no chord), then root x quality -------------------------
export const CHORD_QUALITIES = ['maj', 'min', 'dim', 'aug', 'sus2', 'sus4', 'maj7', 'min7', 'dim7', 'hdim7', '7'] as const;
export type ChordQuality = (typeof CHORD_QUALITIES)[number];
export const PITCH_CLASSES = ['C', 'C#', 'D', 'D#', 'E', 'F', 'F#', 'G', 'G#', 'A', 'A#', 'B'] as const;
export const NO_CHORD = 1;
export const chordToken = (root: number, quality: number): number => 2 + root * CHORD_QUALITIES.length + quality;
/** The root pitch class (0-11) of a chord token; only for tokens that name a chord. */
export const chordRoot = (token: number): number => Math.floor((token - 2) / CHORD_QUALITIES.length);
export function chordName(token: number): string {
  if (token === CONTI) return 'CONTI';
  if (token === NO_CHORD) return 'N';
  const i = token - 2;
  return `${PITCH_CLASSES[Math.floor(i / CHORD_QUALITIES.length)]}:${CHORD_QUALITIES[i % CHORD_QUALITIES.length]}`;
}

// ---- pitch: the 88 piano keys ------------------------------------------------
export const PITCH_LOW = 21; // A0
export const PITCH_HIGH = 108; // C8
export const pitchToToken = (midi: number): number => midi - PITCH_LOW;
export const tokenToPitch = (token: number): number => token + PITCH_LOW;

// ---- duration: in grid steps; every step up to a bar, then coarser up to 4 bars
export const DURATION_STEPS = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 20, 24, 28, 32, 40, 48, 64] as const;
export const MAX_DURATION_STEPS = DURATION_STEPS[DURATION_STEPS.length - 1];
/** Nearest bin to a duration in steps (ties go to the shorter bin); at least one step, at most four bars. */
export function durationToToken(steps: number): number {
  let best = 0;
  for (let i = 1; i < DURATION_STEPS.length; i++) {
    if (Math.abs(DURATION_STEPS[i] - steps) < Math.abs(DURATION_STEPS[best] - steps)) best = i;
  }
  return best;
}
export const tokenToDuration = (token: number): number => DURATION_STEPS[token];

// ---- velocity: 32 bins of 4 ---------------------------------------------------
export const VELOCITY_BINS = 32;
export const velocityToToken = (v: number): number => Math.min(VELOCITY_BINS - 1, Math.max(0, (Math.round(v) - 1) >> 2));
/** The bin's upper-middle value, so that every bin maps back to itself. */
export const tokenToVelocity = (token: number): number => Math.min(127, token * 4 + 3);

export const FAMILY_SIZES: Readonly<Record<Family, number>> = {
  type: TYPE_NAMES.length, // 3
  barBeat: 1 + STEPS_PER_BAR, // 17
  tempo: 1 + TEMPO_BINS, // 66
  chord: 2 + 12 * CHORD_QUALITIES.length, // 134
  pitch: PITCH_HIGH - PITCH_LOW + 1, // 88
  duration: DURATION_STEPS.length, // 23
  velocity: VELOCITY_BINS, // 32
};

/** Which families each type uses; the others hold UNUSED. */
export const FAMILIES_OF_TYPE: Readonly<Record<number, readonly Family[]>> = {
  [TYPE.EOS]: [],
  [TYPE.METRICAL]: ['barBeat', 'tempo', 'chord'],
  [TYPE.NOTE]: ['pitch', 'duration', 'velocity'],
};

export interface VocabDescriptor {
  version: string;
  families: readonly Family[];
  sizes: Readonly<Record<Family, number>>;
}
export const VOCAB: VocabDescriptor = { version: VOCAB_VERSION, families: FAMILIES, sizes: FAMILY_SIZES };

/** Why a word is not in the vocabulary, or null if it is. */
export function wordError(word: ArrayLike<number>): string | null {
  if (word.length !== FAMILIES.length) return `a word has ${FAMILIES.length} families, got ${word.length}`;
  const type = word[F.type];
  if (!Number.isInteger(type) || type < 0 || type >= FAMILY_SIZES.type) return `type ${type} is not one of 0..${FAMILY_SIZES.type - 1}`;
  const used = FAMILIES_OF_TYPE[type];
  for (let f = 1; f < FAMILIES.length; f++) {
    const name = FAMILIES[f];
    const v = word[f];
    if (used.includes(name)) {
      if (!Number.isInteger(v) || v < 0 || v >= FAMILY_SIZES[name]) {
        return `${name} ${v} is outside 0..${FAMILY_SIZES[name] - 1} for a ${TYPE_NAMES[type]} word`;
      }
    } else if (v !== UNUSED) {
      return `${name} must be ${UNUSED} in a ${TYPE_NAMES[type]} word, got ${v}`;
    }
  }
  return null;
}
