// The computer keyboard as a piano, and who holds which note. Pure, so it is tested in Node.
//
// Keys are matched by KeyboardEvent.code (the physical key), so the layout is the same shape on
// QWERTY, AZERTY or Dvorak; the labels shown can come from the browser's layout map.

export interface KeySlot {
  /** KeyboardEvent.code */
  code: string;
  /** The label on a US keyboard. */
  label: string;
  /** Semitones above the current base note. */
  offset: number;
}

/** The home row plays white keys, the row above plays black keys: C to F an octave up. */
export const KEY_SLOTS: readonly KeySlot[] = [
  { code: 'KeyA', label: 'A', offset: 0 },
  { code: 'KeyW', label: 'W', offset: 1 },
  { code: 'KeyS', label: 'S', offset: 2 },
  { code: 'KeyE', label: 'E', offset: 3 },
  { code: 'KeyD', label: 'D', offset: 4 },
  { code: 'KeyF', label: 'F', offset: 5 },
  { code: 'KeyT', label: 'T', offset: 6 },
  { code: 'KeyG', label: 'G', offset: 7 },
  { code: 'KeyY', label: 'Y', offset: 8 },
  { code: 'KeyH', label: 'H', offset: 9 },
  { code: 'KeyU', label: 'U', offset: 10 },
  { code: 'KeyJ', label: 'J', offset: 11 },
  { code: 'KeyK', label: 'K', offset: 12 },
  { code: 'KeyO', label: 'O', offset: 13 },
  { code: 'KeyL', label: 'L', offset: 14 },
  { code: 'KeyP', label: 'P', offset: 15 },
  { code: 'Semicolon', label: ';', offset: 16 },
  { code: 'Quote', label: "'", offset: 17 },
];

/** The other keys the page listens to. */
export const COMMAND_KEYS = {
  octaveDown: 'KeyZ',
  octaveUp: 'KeyX',
  velocityDown: 'KeyC',
  velocityUp: 'KeyV',
  sustain: 'Space',
  handoff: 'Enter',
  panic: 'Escape',
} as const;

const SLOT_BY_CODE = new Map(KEY_SLOTS.map((s) => [s.code, s]));
const TOP_OFFSET = KEY_SLOTS[KEY_SLOTS.length - 1].offset;

/** The lowest and highest base notes: every mapped key stays inside 0..127. */
export const MIN_BASE = 0;
export const MAX_BASE = 12 * Math.floor((127 - TOP_OFFSET) / 12);

export const VELOCITY_STEP = 10;

export class KeyboardPiano {
  /** The note under A. 60 is middle C (C4). */
  base: number;
  velocity: number;
  /** Which note each held key started, so a key released after an octave shift ends its own note. */
  private readonly held = new Map<string, number>();

  constructor(base = 60, velocity = 96) {
    this.base = clampBase(base);
    this.velocity = clampVelocity(velocity);
  }

  /** The note a key would play now, or null if it is not a piano key. */
  noteFor(code: string): number | null {
    const slot = SLOT_BY_CODE.get(code);
    return slot ? this.base + slot.offset : null;
  }

  /** A key went down: the note to start, or null (not a piano key, or already held). */
  keyDown(code: string): number | null {
    if (this.held.has(code)) return null;
    const note = this.noteFor(code);
    if (note === null) return null;
    this.held.set(code, note);
    return note;
  }

  /** A key came up: the note it had started, or null. */
  keyUp(code: string): number | null {
    const note = this.held.get(code);
    if (note === undefined) return null;
    this.held.delete(code);
    return note;
  }

  /** Every held key's note, and forgets them (the window lost focus). */
  releaseAll(): number[] {
    const notes = [...this.held.values()];
    this.held.clear();
    return notes;
  }

  /** Shifts by whole octaves, clamped; returns the new base. */
  shiftOctave(octaves: number): number {
    this.base = clampBase(this.base + 12 * octaves);
    return this.base;
  }

  shiftVelocity(steps: number): number {
    this.velocity = clampVelocity(this.velocity + steps * VELOCITY_STEP);
    return this.velocity;
  }

  /** Note → key label for the notes the map covers now (for the labels on the on-screen keys). */
  labels(layout?: ReadonlyMap<string, string>): Map<number, string> {
    const out = new Map<number, string>();
    for (const s of KEY_SLOTS) out.set(this.base + s.offset, (layout?.get(s.code) ?? s.label).toUpperCase());
    return out;
  }
}

function clampBase(base: number): number {
  const octaves = Math.round(base / 12);
  return Math.min(MAX_BASE, Math.max(MIN_BASE, octaves * 12));
}

function clampVelocity(v: number): number {
  return Math.min(127, Math.max(1, Math.round(v)));
}

const NAMES = ['C', 'C♯', 'D', 'D♯', 'E', 'F', 'F♯', 'G', 'G♯', 'A', 'A♯', 'B'];

/** Scientific pitch name; MIDI 60 is C4. */
export function noteName(note: number): string {
  return `${NAMES[((note % 12) + 12) % 12]}${Math.floor(note / 12) - 1}`;
}

export function isBlack(note: number): boolean {
  return [1, 3, 6, 8, 10].includes(((note % 12) + 12) % 12);
}

/**
 * Reference-counts notes across input sources (mouse pointers, computer keys, MIDI devices),
 * so the server gets one noteon when the first source presses a note and one noteoff when
 * the last lets go.
 */
export class HeldNotes {
  private readonly bySource = new Map<string, Set<number>>();
  private readonly count = new Map<number, number>();

  /** True when this press starts the note (no other source held it). */
  press(source: string, note: number): boolean {
    let set = this.bySource.get(source);
    if (!set) this.bySource.set(source, (set = new Set()));
    if (set.has(note)) return false;
    set.add(note);
    const n = (this.count.get(note) ?? 0) + 1;
    this.count.set(note, n);
    return n === 1;
  }

  /** True when this release ends the note (the last holder let go). */
  release(source: string, note: number): boolean {
    const set = this.bySource.get(source);
    if (!set || !set.delete(note)) return false;
    if (set.size === 0) this.bySource.delete(source);
    const n = (this.count.get(note) ?? 1) - 1;
    if (n <= 0) {
      this.count.delete(note);
      return true;
    }
    this.count.set(note, n);
    return false;
  }

  /** Releases everything a source holds; returns the notes that ended. */
  releaseSource(source: string): number[] {
    const set = this.bySource.get(source);
    if (!set) return [];
    const ended: number[] = [];
    for (const note of [...set]) if (this.release(source, note)) ended.push(note);
    return ended;
  }

  isHeld(note: number): boolean {
    return this.count.has(note);
  }

  get notes(): number[] {
    return [...this.count.keys()];
  }
}

/**
 * The sustain pedal for the local sound: while it is down, released notes keep sounding;
 * lifting it ends those that no key holds any more.
 */
export class SustainPedal {
  down = false;
  private readonly sustained = new Set<number>();

  /** A note was released: true if it should stop sounding now. */
  release(note: number): boolean {
    if (this.down) {
      this.sustained.add(note);
      return false;
    }
    return true;
  }

  /** A note was struck again while sustained: it is no longer only sustained. */
  press(note: number): void {
    this.sustained.delete(note);
  }

  /** Sets the pedal; lifting returns the notes to stop (those not held by any key). */
  set(down: boolean, isHeld: (note: number) => boolean): number[] {
    this.down = down;
    if (down) return [];
    const stop = [...this.sustained].filter((n) => !isHeld(n));
    this.sustained.clear();
    return stop;
  }
}

export interface KeyGeometry {
  note: number;
  /** Left edge and width as fractions of the keyboard's width. */
  x: number;
  w: number;
  black: boolean;
}

/**
 * Where each key of [low, high] sits, as fractions of the width: white keys share it equally,
 * black keys are 0.6 of a white key, centred on the line between their neighbours. The piano
 * roll uses the same numbers, so its lanes line up with the keys below. `low` and `high`
 * should be white keys.
 */
export function keyboardLayout(low: number, high: number): KeyGeometry[] {
  let whites = 0;
  for (let n = low; n <= high; n++) if (!isBlack(n)) whites++;
  const w = 1 / whites;
  const out: KeyGeometry[] = [];
  let wi = 0;
  for (let n = low; n <= high; n++) {
    if (isBlack(n)) {
      out.push({ note: n, x: wi * w - 0.3 * w, w: 0.6 * w, black: true });
    } else {
      out.push({ note: n, x: wi * w, w, black: false });
      wi++;
    }
  }
  return out;
}

/** Velocity from where a key was struck: its top edge is soft, its front edge loud. */
export function velocityFromPosition(fraction: number, soft = 40, loud = 120): number {
  const f = Math.min(1, Math.max(0, Number.isFinite(fraction) ? fraction : 0.5));
  return Math.round(soft + (loud - soft) * f);
}
