// Voice allocation for the synth: which of N monophonic voices plays a new note. The audio layer
// schedules each voice itself at the exact audio time (Tone's PolySynth would defer future
// notes through its own timer), so it needs its own allocator. Pure, tested in Node.

interface Voice {
  note: number | null;
  held: boolean;
  /** When the current note started (audio seconds). */
  start: number;
  /** When its release tail has died away; free from then on. */
  freeAt: number;
}

export class VoiceAllocator {
  private readonly voices: Voice[];

  constructor(readonly size: number) {
    this.voices = Array.from({ length: size }, () => ({ note: null, held: false, start: -Infinity, freeAt: -Infinity }));
  }

  /**
   * A voice for `note` starting at `at`: the one that has been free longest, else the released
   * voice whose tail ends soonest, else the oldest held voice (stolen).
   */
  allocate(note: number, at: number): { index: number; stolen: boolean } {
    let best = -1;
    for (let i = 0; i < this.size; i++) {
      const v = this.voices[i];
      if (!v.held && v.freeAt <= at && (best < 0 || v.freeAt < this.voices[best].freeAt)) best = i;
    }
    let stolen = false;
    if (best < 0) {
      stolen = true;
      for (let i = 0; i < this.size; i++) {
        const v = this.voices[i];
        if (!v.held && (best < 0 || v.freeAt < this.voices[best].freeAt)) best = i;
      }
    }
    if (best < 0) {
      for (let i = 0; i < this.size; i++) if (best < 0 || this.voices[i].start < this.voices[best].start) best = i;
    }
    const v = this.voices[best];
    v.note = note;
    v.held = true;
    v.start = at;
    v.freeAt = Infinity;
    return { index: best, stolen };
  }

  /** The voice's note ends at `at`; its tail lasts `tail` seconds. */
  release(index: number, at: number, tail: number): void {
    const v = this.voices[index];
    if (!v || !v.held) return;
    v.held = false;
    v.freeAt = Math.max(at, v.start) + tail;
  }

  /** The oldest held voice playing `note`, or -1. */
  find(note: number): number {
    let best = -1;
    for (let i = 0; i < this.size; i++) {
      const v = this.voices[i];
      if (v.held && v.note === note && (best < 0 || v.start < this.voices[best].start)) best = i;
    }
    return best;
  }

  /** Indices of the voices still held. */
  held(): number[] {
    const out: number[] = [];
    for (let i = 0; i < this.size; i++) if (this.voices[i].held) out.push(i);
    return out;
  }
}

/** Gain for a MIDI velocity: a gentle curve, so soft playing stays soft without vanishing. */
export function velocityGain(velocity: number): number {
  const v = Math.min(127, Math.max(0, velocity)) / 127;
  return v ** 1.5;
}

/** Equal temperament, A4 = 440 Hz. */
export function midiToHz(note: number): number {
  return 440 * 2 ** ((note - 69) / 12);
}
