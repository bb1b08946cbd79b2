// A sum all-reduce of per-unit Float32Array vectors between worker threads, through
// SharedArrayBuffers, with the units handed out first come, first served.
//
// A round's work is split into `units` (the trainer's: rows of the batch); each has its own
// slot. Layout of `data`: `units` slots, then one result, each `length` floats. A round:
//   1. each worker claims units (claim()) until none is left, and writes each one's vector
//      into that unit's slot;
//   2. barrier;
//   3. worker r sums element range r of every slot, in unit order 0..U-1 (in double
//      precision, rounded once to float32), into the result;
//   4. barrier;
//   5. every worker reads the result.
// The sum depends only on the units' vectors, never on which worker computed which unit or
// how many workers there are, and each result element is written by exactly one worker: every
// worker reads bit-identical sums. A worker that the machine slows down simply claims fewer
// units. The result is not written again before every worker has passed step 2 of the next
// round, that is, finished reading it.
//
// `control`: [arrived, generation, aborted, claimed (even rounds), claimed (odd rounds)]. A
// worker that fails, a barrier that waits past its deadline, or the owning pool sets
// `aborted` and wakes every waiter, so no worker stays blocked for a peer that will never come.

import { AntiphonError } from '../../errors.ts';

const ARRIVED = 0;
const GENERATION = 1;
const ABORTED = 2;
const CLAIMED = 3; // + round parity
const CONTROL_INTS = 5;

/** The shared memory of one all-reduce group; structured-cloneable into workers. */
export interface AllReduceBuffers {
  workers: number;
  /** Vectors summed each round. */
  units: number;
  /** Floats per vector. */
  length: number;
  control: SharedArrayBuffer;
  data: SharedArrayBuffer;
}

export function createAllReduceBuffers(workers: number, units: number, length: number): AllReduceBuffers {
  const whole = (n: number) => Number.isInteger(n) && n >= 1;
  if (!whole(workers) || !whole(units) || !whole(length)) {
    throw new AntiphonError('E_INTERNAL', `all-reduce: ${workers} workers, ${units} units, vectors of ${length} floats`);
  }
  return {
    workers,
    units,
    length,
    control: new SharedArrayBuffer(CONTROL_INTS * Int32Array.BYTES_PER_ELEMENT),
    data: new SharedArrayBuffer((units + 1) * length * Float32Array.BYTES_PER_ELEMENT),
  };
}

/** Marks the group aborted and wakes every worker waiting at its barrier. Safe from any thread. */
export function abortAllReduce(buffers: AllReduceBuffers): void {
  const control = new Int32Array(buffers.control);
  Atomics.store(control, ABORTED, 1);
  Atomics.add(control, GENERATION, 1);
  Atomics.notify(control, GENERATION);
}

export function allReduceAborted(buffers: AllReduceBuffers): boolean {
  return Atomics.load(new Int32Array(buffers.control), ABORTED) === 1;
}

/** The elements worker `rank` of `workers` sums: [from, to). */
export function chunkOf(rank: number, workers: number, length: number): [number, number] {
  return [Math.floor((rank * length) / workers), Math.floor(((rank + 1) * length) / workers)];
}

const abandonedErrors = new WeakSet<object>();

/** True for the error a worker throws only because another one aborted the group first. */
export function isAbandoned(e: unknown): boolean {
  return typeof e === 'object' && e !== null && abandonedErrors.has(e);
}

/** One worker's end of the group. Blocking (Atomics.wait): use it in worker threads only. */
export class AllReduce {
  private readonly control: Int32Array;
  private readonly slots: Float32Array[];
  private readonly result: Float32Array;
  private readonly chunk: [number, number];
  private round = 0;

  constructor(
    readonly buffers: AllReduceBuffers,
    readonly rank: number,
    /** Longest wait at a barrier for the slowest peer before the group is aborted. */
    readonly timeoutMs: number,
  ) {
    const { workers, units, length } = buffers;
    if (!Number.isInteger(rank) || rank < 0 || rank >= workers) throw new AntiphonError('E_INTERNAL', `all-reduce: rank ${rank} of ${workers}`);
    this.control = new Int32Array(buffers.control);
    this.slots = Array.from({ length: units }, (_, i) => new Float32Array(buffers.data, i * length * 4, length));
    this.result = new Float32Array(buffers.data, units * length * 4, length);
    this.chunk = chunkOf(rank, workers, length);
  }

  /** The next unit of this round for this worker to fill, or -1 when all are taken. */
  claim(): number {
    if (Atomics.load(this.control, ABORTED)) throw this.abortedError();
    const u = Atomics.add(this.control, CLAIMED + (this.round % 2), 1);
    return u < this.buffers.units ? u : -1;
  }

  /** Unit `u`'s vector, to fill after claiming it. */
  slot(u: number): Float32Array {
    return this.slots[u];
  }

  /**
   * Waits for every unit of the round, sums them; returns a view of the shared result,
   * valid until this worker calls reduce() again. Throws (and aborts the group) on a timeout
   * or an aborted group.
   */
  reduce(): Float32Array {
    this.barrier();
    // Every claim of this round is done, and none of the next round's has started: the
    // next round's counter (last used two rounds ago) can be zeroed.
    if (this.rank === 0) Atomics.store(this.control, CLAIMED + ((this.round + 1) % 2), 0);
    const [from, to] = this.chunk;
    const slots = this.slots;
    const n = slots.length;
    const out = this.result;
    if (n === 1) {
      out.set(slots[0].subarray(from, to), from);
    } else {
      for (let j = from; j < to; j++) {
        let s = slots[0][j];
        for (let k = 1; k < n; k++) s += slots[k][j];
        out[j] = s;
      }
    }
    this.barrier();
    this.round++;
    return out;
  }

  /** Marks the group aborted and wakes the other workers. */
  abort(): void {
    abortAllReduce(this.buffers);
  }

  private barrier(): void {
    const c = this.control;
    const n = this.buffers.workers;
    if (Atomics.load(c, ABORTED)) throw this.abortedError();
    const generation = Atomics.load(c, GENERATION);
    if (Atomics.add(c, ARRIVED, 1) === n - 1) {
      // The last to arrive resets the count before releasing the others, so none of them can
      // arrive at the next barrier before the reset.
      Atomics.store(c, ARRIVED, 0);
      Atomics.add(c, GENERATION, 1);
      Atomics.notify(c, GENERATION);
      return;
    }
    const deadline = performance.now() + this.timeoutMs;
    while (Atomics.load(c, GENERATION) === generation) {
      const left = deadline - performance.now();
      if (left <= 0 || Atomics.wait(c, GENERATION, generation, left) === 'timed-out') {
        if (Atomics.load(c, GENERATION) !== generation) break;
        this.abort();
        throw new AntiphonError(
          'E_INTERNAL',
          `training worker ${this.rank}: waited ${(this.timeoutMs / 1000).toFixed(1)} s for the other workers' gradients; a worker is stuck or too slow`,
        );
      }
    }
    if (Atomics.load(c, ABORTED)) throw this.abortedError();
  }

  private abortedError(): AntiphonError {
    const e = new AntiphonError('E_INTERNAL', `training worker ${this.rank}: the step was abandoned because another worker failed`);
    abandonedErrors.add(e);
    return e;
  }
}
