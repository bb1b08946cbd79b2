// A duet session on a tiny random model, driven in virtual time. Every output is kept with the
// virtual moment it was emitted, so look-ahead and ordering can be checked.
import { VirtualAction, VirtualTimeScheduler } from 'rxjs';
import { suite } from 'uvu';
import { CPTransformer } from '../../src/engine/model/transformer.ts';
import { DuetSession } from '../../src/engine/duet/session.ts';
import type { DuetOutput, DuetSessionOptions } from '../../src/engine/duet/types.ts';
import type { NoteEvent } from '../../src/engine/note-events.ts';
import { engineBackend, tinyConfig } from './engine-setup.ts';

export type Emitted = DuetOutput & { at: number };
/** A note event without its time (each member of the union keeps its own fields). */
type Untimed<E> = E extends unknown ? Omit<E, 'time'> : never;

export interface PlayedNote {
  at: number;
  dur: number;
  note: number;
  velocity?: number;
  channel?: number;
}

export class DuetRig {
  readonly scheduler = new VirtualTimeScheduler(VirtualAction, Infinity);
  readonly outputs: Emitted[] = [];
  readonly session: DuetSession;
  completed = false;

  constructor(
    readonly model: CPTransformer,
    opts: DuetSessionOptions = {},
  ) {
    this.session = new DuetSession(model, { seed: 5, ...opts, scheduler: this.scheduler });
    this.session.output$.subscribe({
      next: (o) => this.outputs.push({ ...o, at: this.scheduler.now() }),
      complete: () => (this.completed = true),
    });
  }

  /** Schedules events at absolute virtual times (ms). */
  at(ms: number, fn: () => void): void {
    this.scheduler.schedule(fn, Math.max(0, ms - this.scheduler.now()));
  }

  event(ms: number, e: Untimed<NoteEvent>): void {
    this.at(ms, () => this.session.push({ ...e, time: this.scheduler.now() } as NoteEvent));
  }

  play(notes: PlayedNote[]): void {
    for (const n of notes) {
      this.event(n.at, { type: 'noteon', note: n.note, velocity: n.velocity ?? 80, channel: n.channel ?? 0 });
      this.event(n.at + n.dur, { type: 'noteoff', note: n.note, channel: n.channel ?? 0 });
    }
  }

  /** Runs virtual time until nothing is scheduled, or up to `untilMs`. */
  run(untilMs = Infinity): void {
    if (untilMs === Infinity) {
      this.scheduler.maxFrames = Infinity;
    } else {
      this.scheduler.maxFrames = untilMs;
    }
    this.scheduler.flush();
  }

  of<T extends DuetOutput['type']>(type: T): Array<Extract<Emitted, { type: T }>> {
    return this.outputs.filter((o) => o.type === type) as Array<Extract<Emitted, { type: T }>>;
  }

  turns(): string[] {
    return this.of('state').map((s) => s.turn);
  }
}

/**
 * A uvu suite whose tests share one tiny model on the pinned backend (`tiny.model` inside a
 * test), freed after the suite.
 */
export function tinyModelSuite(name: string) {
  const test = suite(name);
  const tiny = { model: null as unknown as CPTransformer };
  test.before(async () => {
    await engineBackend();
    tiny.model = tinyModel();
  });
  test.after(() => tiny.model.dispose());
  return { test, tiny };
}

/** A tiny model; the same seed gives the same weights. */
export const tinyModel = (seed = 3, contextLength = 256) => CPTransformer.create(tinyConfig({ contextLength, nKeep: 8 }), seed);

/** A 2-bar call at 120 BPM: eighth notes up a C major scale (500 ms beats). */
export function scaleCall(startMs = 0, notes = 8, stepMs = 250): PlayedNote[] {
  const pitches = [60, 62, 64, 65, 67, 69, 71, 72, 74, 76, 77, 79, 81, 83, 84, 86];
  return Array.from({ length: notes }, (_, i) => ({ at: startMs + i * stepMs, dur: stepMs * 0.8, note: pitches[i % pitches.length] }));
}
