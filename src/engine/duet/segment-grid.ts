// A grid segment: one tempo grid mapped onto the session's running step count.
//
// A session's words form one timeline of bars. Its grid is anchored at the first note of the
// session; a call that comes after a long rest, or after the tempo changed, starts a new segment
// (a fresh grid anchored at its first note) that continues the timeline at the next bar, so the
// words never hold minutes of empty bars and never jump back in time.

import type { TimeGrid } from '../live-tokenizer.ts';
import { STEPS_PER_BEAT, TICKS_PER_STEP } from '../vocab.ts';

export class SegmentGrid implements TimeGrid {
  /**
   * @param grid the tempo grid of this segment (anchored at the segment's first note)
   * @param fromStep the timeline step that the grid's tick 0 is
   */
  constructor(
    readonly grid: TimeGrid,
    readonly fromStep: number,
  ) {}
  get anchored(): boolean {
    return this.grid.anchored;
  }
  anchor(ms: number): void {
    this.grid.anchor(ms);
  }
  tick(ms: number): number {
    return this.grid.tick(ms) + this.fromStep * TICKS_PER_STEP;
  }
  ms(tick: number): number {
    return this.grid.ms(tick - this.fromStep * TICKS_PER_STEP);
  }
  tempoOfBeat(beat: number): number {
    return this.grid.tempoOfBeat(beat - this.fromStep / STEPS_PER_BEAT);
  }
}
