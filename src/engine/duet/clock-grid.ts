// A grid that follows an incoming MIDI clock: 24 pulses per quarter note, with start, stop and
// continue. A start message is bar 1, beat 1; without one, the grid is anchored at the first
// note, on the pulse nearest to it. Between pulses, time is interpolated at the latest pulse
// rate; the answer is rendered by extrapolating that rate, so a DAW's tempo change reaches the
// answer within a pulse.

import type { TimeGrid } from '../live-tokenizer.ts';
import { TICKS_PER_BEAT, tempoToToken } from '../vocab.ts';
import type { ClockEvent } from './types.ts';

export const PULSES_PER_BEAT = 24;
const TICKS_PER_PULSE = TICKS_PER_BEAT / PULSES_PER_BEAT; // 20

export class ClockGrid implements TimeGrid {
  /** Pulses counted since start (or since the clock was first seen). */
  private pulses = 0;
  private lastPulseMs: number | null = null;
  /** Smoothed ms per pulse. */
  private period: number;
  private running = false;
  /** The pulse count that is tick 0, once anchored. */
  private origin: number | null = null;

  constructor(startBpm: number) {
    this.period = 60000 / (startBpm * PULSES_PER_BEAT);
  }

  get bpm(): number {
    return 60000 / (this.period * PULSES_PER_BEAT);
  }

  get anchored(): boolean {
    return this.origin !== null;
  }

  /** Whether the clock is running (a start or continue came, and no stop since). */
  get isRunning(): boolean {
    return this.running;
  }

  /** Feeds a clock message. Returns true when the tempo estimate moved by more than 1 BPM. */
  onClock(e: ClockEvent): boolean {
    const before = this.bpm;
    switch (e.type) {
      case 'start':
        this.pulses = 0;
        this.origin = 0;
        this.lastPulseMs = e.time;
        this.running = true;
        return false;
      case 'continue':
        this.running = true;
        this.lastPulseMs = e.time;
        return false;
      case 'stop':
        this.running = false;
        return false;
      case 'tick': {
        if (this.lastPulseMs !== null) {
          const dt = e.time - this.lastPulseMs;
          // A pulse gap beyond 4x the period is a pause, not a tempo.
          if (dt > 0 && dt < this.period * 4) this.period += 0.2 * (dt - this.period);
        }
        this.lastPulseMs = e.time;
        this.pulses++;
        return Math.abs(this.bpm - before) > 1;
      }
    }
  }

  anchor(ms: number): void {
    if (this.origin !== null) return;
    this.origin = this.lastPulseMs === null ? 0 : this.pulses + Math.round((ms - this.lastPulseMs) / this.period);
    if (this.lastPulseMs === null) this.lastPulseMs = ms;
  }

  tick(ms: number): number {
    const last = this.lastPulseMs ?? ms;
    const pulse = this.pulses + (ms - last) / this.period;
    return (pulse - (this.origin ?? this.pulses)) * TICKS_PER_PULSE;
  }

  ms(tick: number): number {
    const pulse = tick / TICKS_PER_PULSE + (this.origin ?? this.pulses);
    return (this.lastPulseMs ?? 0) + (pulse - this.pulses) * this.period;
  }

  tempoOfBeat(): number {
    return tempoToToken(this.bpm);
  }
}
