// The browser's sound, with Tone.js: two parts (the person and the AI), each a pool of FM voices
// scheduled at exact audio-clock times, through a little reverb and a limiter. Nothing is loaded:
// every sound is synthesised, so the page works offline.

import { Context, FMSynth, Gain, Limiter, Panner, Reverb, Volume, setContext, start as startTone, type ToneAudioNode } from 'tone';
import type { AudioAction } from './scheduler.ts';
import { perfToContextTime } from './scheduler.ts';
import { midiToHz, velocityGain, VoiceAllocator } from './voices.ts';

type FMOptions = NonNullable<Parameters<FMSynth['set']>[0]>;

export interface Preset {
  label: string;
  options: FMOptions;
  /** Seconds a released note takes to die away. */
  tail: number;
}

export const PRESETS: Record<string, Preset> = {
  epiano: {
    label: 'Electric piano',
    tail: 0.9,
    options: {
      harmonicity: 1,
      modulationIndex: 3.5,
      oscillator: { type: 'sine' },
      modulation: { type: 'sine' },
      envelope: { attack: 0.003, decay: 2.2, sustain: 0.08, release: 0.8 },
      modulationEnvelope: { attack: 0.002, decay: 0.5, sustain: 0.05, release: 0.4 },
      volume: -1,
    },
  },
  bells: {
    label: 'Soft bells',
    tail: 1.7,
    options: {
      harmonicity: 3.01,
      modulationIndex: 5,
      oscillator: { type: 'sine' },
      modulation: { type: 'sine' },
      envelope: { attack: 0.002, decay: 2.6, sustain: 0, release: 1.5 },
      modulationEnvelope: { attack: 0.002, decay: 1.2, sustain: 0, release: 1 },
      volume: -4,
    },
  },
  mallet: {
    label: 'Mallets',
    tail: 0.6,
    options: {
      harmonicity: 4,
      modulationIndex: 2,
      oscillator: { type: 'sine' },
      modulation: { type: 'sine' },
      envelope: { attack: 0.001, decay: 0.7, sustain: 0, release: 0.5 },
      modulationEnvelope: { attack: 0.001, decay: 0.15, sustain: 0, release: 0.2 },
      volume: 1,
    },
  },
  pad: {
    label: 'Warm pad',
    tail: 1.6,
    options: {
      harmonicity: 2,
      modulationIndex: 1.2,
      oscillator: { type: 'sine' },
      modulation: { type: 'triangle' },
      envelope: { attack: 0.06, decay: 0.8, sustain: 0.6, release: 1.4 },
      modulationEnvelope: { attack: 0.2, decay: 0.5, sustain: 0.6, release: 1 },
      volume: -8,
    },
  },
};

const VOICES = 16;
/** A release is never scheduled before its attack has begun, or the envelope would ignore it. */
const MIN_NOTE_S = 0.012;
const FADE_S = 0.015;

/** A pool of FM voices, each behind its own gate so a cancelled note can be silenced outright. */
class Part {
  private readonly voices: FMSynth[] = [];
  private readonly gates: Gain[] = [];
  private readonly alloc = new VoiceAllocator(VOICES);
  private readonly starts = new Float64Array(VOICES);
  /** Note key (an AI note id, or a person's note number) → voice. */
  private readonly byKey = new Map<number, number>();
  private readonly keyOf = new Map<number, number>();
  private tail: number;

  constructor(out: ToneAudioNode, preset: Preset) {
    this.tail = preset.tail;
    for (let i = 0; i < VOICES; i++) {
      const gate = new Gain(1).connect(out);
      const voice = new FMSynth(preset.options).connect(gate);
      this.voices.push(voice);
      this.gates.push(gate);
    }
  }

  setPreset(preset: Preset): void {
    this.tail = preset.tail;
    for (const v of this.voices) v.set(preset.options);
  }

  has(key: number): boolean {
    return this.byKey.has(key);
  }

  attack(key: number, note: number, velocity: number, at: number): void {
    if (this.byKey.has(key)) this.release(key, at);
    const { index } = this.alloc.allocate(note, at);
    const old = this.keyOf.get(index);
    if (old !== undefined) this.byKey.delete(old);
    this.byKey.set(key, index);
    this.keyOf.set(index, key);
    this.starts[index] = at;
    const gate = this.gates[index].gain;
    gate.cancelScheduledValues(at);
    gate.setValueAtTime(1, at);
    this.voices[index].triggerAttack(midiToHz(note), at, velocityGain(velocity));
  }

  release(key: number, at: number): void {
    const index = this.byKey.get(key);
    if (index === undefined) return;
    this.forget(key, index);
    const t = Math.max(at, this.starts[index] + MIN_NOTE_S);
    this.voices[index].triggerRelease(t);
    this.alloc.release(index, t, this.tail);
  }

  /** Silences a note that should never have sounded: fade its gate now, free the voice later. */
  abort(key: number, now: number): void {
    const index = this.byKey.get(key);
    if (index === undefined) return;
    this.forget(key, index);
    const gate = this.gates[index].gain;
    gate.cancelScheduledValues(now);
    gate.setValueAtTime(gate.getValueAtTime(now), now);
    gate.linearRampToValueAtTime(0, now + FADE_S);
    const t = Math.max(now + FADE_S, this.starts[index] + MIN_NOTE_S);
    this.voices[index].triggerRelease(t);
    this.alloc.release(index, t, this.tail);
    gate.setValueAtTime(1, t + this.tail);
  }

  releaseAll(now: number): void {
    for (const [key] of [...this.byKey]) this.release(key, now);
  }

  private forget(key: number, index: number): void {
    this.byKey.delete(key);
    this.keyOf.delete(index);
  }
}

export class Sound {
  private context: Context | null = null;
  private person: Part | null = null;
  private ai: Part | null = null;
  private master: Volume | null = null;
  private starting: Promise<void> | null = null;
  private presets = { person: 'epiano', ai: 'bells' };
  private volumeDb = 0;
  /** Play the AI's notes here (off when they go to a MIDI instrument instead). */
  aiEnabled = true;

  get running(): boolean {
    return this.context?.state === 'running';
  }

  /**
   * Builds the graph and resumes the audio context. Call it from a user gesture (a click, a
   * key): browsers only let sound start there.
   */
  start(): Promise<void> {
    if (this.starting) return this.context?.state === 'running' ? this.starting : this.resume();
    const context = new Context({ latencyHint: 'interactive', lookAhead: 0 });
    setContext(context);
    this.context = context;
    this.master = new Volume(this.volumeDb).toDestination();
    const limiter = new Limiter(-1).connect(this.master);
    const reverb = new Reverb({ decay: 2.4, preDelay: 0.01, wet: 0.2 }).connect(limiter);
    const bus = new Gain(1).connect(reverb);
    const personPan = new Panner(-0.12).connect(bus);
    const aiPan = new Panner(0.12).connect(bus);
    this.person = new Part(personPan, PRESETS[this.presets.person]);
    this.ai = new Part(aiPan, PRESETS[this.presets.ai]);
    this.starting = startTone();
    return this.starting;
  }

  private resume(): Promise<void> {
    this.starting = startTone();
    return this.starting;
  }

  /** The audio clock time for a performance.now() time. */
  private at(perfTime: number): number {
    const c = this.context as Context;
    return perfToContextTime(perfTime, performance.now(), c.rawContext.currentTime);
  }

  private now(): number {
    return this.context ? this.context.rawContext.currentTime : 0;
  }

  personOn(note: number, velocity: number): void {
    this.whenRunning(() => this.person?.attack(note, note, velocity, this.now()));
  }

  personOff(note: number): void {
    this.whenRunning(() => this.person?.release(note, this.now()));
  }

  /**
   * Now if the context runs; else once it has resumed (the first note is often the very gesture
   * that is starting it), keeping the order of calls.
   */
  private whenRunning(fn: () => void): void {
    if (this.running) fn();
    else
      this.starting?.then(
        () => {
          if (this.running) fn();
        },
        () => {},
      );
  }

  /** Runs one of the scheduler's actions on the AI part. */
  aiAction(a: AudioAction): void {
    if (!this.ai || !this.context) return;
    if (a.kind === 'attack') {
      if (this.running && this.aiEnabled) this.ai.attack(a.id, a.note, a.velocity, this.at(a.time));
    } else if (a.kind === 'release') {
      this.ai.release(a.id, this.at(a.time));
    } else {
      this.ai.abort(a.id, this.now());
    }
  }

  /** Panic: every AI note and every person's note still ringing. */
  silence(personToo: boolean): void {
    const now = this.now();
    this.ai?.releaseAll(now);
    if (personToo) this.person?.releaseAll(now);
  }

  setPreset(who: 'person' | 'ai', name: string): void {
    const preset = PRESETS[name];
    if (!preset) return;
    this.presets[who] = name;
    this[who]?.setPreset(preset);
  }

  setVolume(db: number): void {
    this.volumeDb = db;
    if (this.master) this.master.volume.rampTo(db, 0.05);
  }
}
