// The main thread's side of data-parallel training: N worker threads (worker.ts), one
// all-reduce group between them, and requests that go to all of them or to worker 0.
//
// Failure: a worker that throws, dies or stops answering fails the request in hand with an
// AntiphonError (the first worker's own reason, not its peers' "abandoned" ones), the group
// is aborted so that no peer stays blocked at a barrier, and the pool refuses every later
// request. The caller then disposes it, which terminates every worker and waits for them.

import { Worker } from 'node:worker_threads';
import type { ModelConfig } from '../../engine/model/config.ts';
import { AntiphonError, type ErrorCode } from '../../errors.ts';
import type { OptimOptions } from '../optimizer.ts';
import { abortAllReduce, createAllReduceBuffers, type AllReduceBuffers } from './allreduce.ts';
import { READY_ID, type Reply, type Request, type StepResult, type TrainWorkerData, type WorkerFault } from './protocol.ts';

const BOOT = new URL('../../io/worker-boot.mjs', import.meta.url);
const ENTRY = new URL('./worker.ts', import.meta.url).href;

export interface TrainPoolOptions {
  workers: number;
  backend: 'wasm' | 'cpu';
  config: ModelConfig;
  optim: OptimOptions;
  /** Rows per batch. */
  batchSize: number;
  /** Parameters in the model: the all-reduce carries them and the loss. */
  parameters: number;
  /** Longest a worker waits at a barrier for the slowest peer (a stuck worker ends the run after this). */
  barrierTimeoutMs: number;
  /** Longest a worker may take to load tfjs and its backend. */
  startTimeoutMs: number;
  fault?: WorkerFault;
}

/**
 * Most units a batch is cut into. Each unit is a shared vector of every gradient (14 MB for
 * the small model); more units balance slowed workers better and cost memory.
 */
export const MAX_UNITS = 8;

/** After a first failure, how long the other workers' replies are awaited before giving up on them. */
const GRACE_MS = 2000;

let live = 0;
/** Training worker threads alive in this process (tests prove that none is left behind). */
export const liveTrainWorkerCount = (): number => live;

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: AntiphonError) => void;
}

interface Slot {
  rank: number;
  worker: Worker;
  pending: Map<number, Pending>;
  exited: Promise<void>;
  gone: boolean;
}

/** An error plus whether it only echoes another worker's failure. */
class WorkerFailure extends AntiphonError {
  constructor(code: ErrorCode, message: string, readonly abandoned: boolean, file?: string) {
    super(code, message, file ? { file } : {});
  }
}

export class TrainWorkerPool {
  private readonly slots: Slot[] = [];
  private readonly buffers: AllReduceBuffers;
  private nextId = READY_ID + 1;
  private failure: AntiphonError | null = null;
  private disposed = false;

  private constructor(readonly options: TrainPoolOptions) {
    this.buffers = createAllReduceBuffers(options.workers, Math.min(options.batchSize, MAX_UNITS), options.parameters + 1);
  }

  get workers(): number {
    return this.options.workers;
  }

  /** Starts the workers and waits until each has its backend up. */
  static async start(options: TrainPoolOptions): Promise<TrainWorkerPool> {
    const pool = new TrainWorkerPool(options);
    try {
      const ready = Array.from({ length: options.workers }, (_, rank) => pool.spawn(rank));
      await pool.gather(ready, options.startTimeoutMs, 'start');
      return pool;
    } catch (e) {
      await pool.dispose();
      throw e;
    }
  }

  /** Every worker gets the same starting weights and, when resuming, loads the optimiser state saved in `optimizerDir`. */
  async init(weights: Record<string, Float32Array>, optimizerDir: string | null): Promise<void> {
    await this.gather(this.slots.map((s) => this.request(s, { type: 'init', id: 0, weights, optimizerDir })));
  }

  /** One optimisation step on the whole batch (B, T + 1, 7); the workers share out its rows. */
  async step(words: Int32Array, B: number, T: number, step: number): Promise<StepResult> {
    const results = await this.gather(this.slots.map((s) => this.request(s, { type: 'step', id: 0, step, words, B, T })));
    return results[0] as StepResult;
  }

  /** The weights of worker `rank` (all are the same), by name. */
  async weights(rank = 0): Promise<Record<string, Float32Array>> {
    const [w] = await this.gather([this.request(this.slots[rank], { type: 'weights', id: 0 })]);
    return w as Record<string, Float32Array>;
  }

  /** Worker 0 writes the optimiser state into `dir`, in the one-process trainer's format. */
  async saveOptimizer(dir: string): Promise<void> {
    await this.gather([this.request(this.slots[0], { type: 'save-optimizer', id: 0, dir })]);
  }

  /** Terminates every worker and waits until all have exited. Idempotent. */
  async dispose(): Promise<void> {
    this.disposed = true;
    abortAllReduce(this.buffers);
    const closed = new AntiphonError('E_INTERNAL', 'the training workers were stopped');
    for (const s of this.slots) {
      for (const p of s.pending.values()) p.reject(closed);
      s.pending.clear();
      void s.worker.terminate();
    }
    // A terminated worker holds no handle until its 'exit' arrives; keep the loop alive till then.
    const keepAlive = setInterval(() => {}, 60_000);
    try {
      await Promise.all(this.slots.map((s) => s.exited));
    } finally {
      clearInterval(keepAlive);
    }
  }

  private spawn(rank: number): Promise<unknown> {
    const workerData: TrainWorkerData = {
      entry: ENTRY,
      rank,
      backend: this.options.backend,
      config: this.options.config,
      optim: this.options.optim,
      batchSize: this.options.batchSize,
      buffers: this.buffers,
      barrierTimeoutMs: this.options.barrierTimeoutMs,
      ...(this.options.fault ? { fault: this.options.fault } : {}),
    };
    const worker = new Worker(BOOT, { workerData });
    live++;
    let markExited!: () => void;
    const slot: Slot = { rank, worker, pending: new Map(), exited: new Promise((r) => (markExited = r)), gone: false };
    this.slots.push(slot);
    const ready = new Promise((resolve, reject) => slot.pending.set(READY_ID, { resolve, reject }));

    worker.on('message', (msg: Reply) => {
      const p = slot.pending.get(msg.id);
      if (!p) return;
      slot.pending.delete(msg.id);
      if (msg.type === 'done') p.resolve(msg.result);
      else p.reject(new WorkerFailure(msg.error.code, msg.error.message, msg.abandoned, msg.error.file));
    });
    worker.on('error', (err) => {
      this.lose(slot, new WorkerFailure('E_INTERNAL', `training worker ${rank} crashed: ${err?.stack ?? String(err)}`, false));
    });
    worker.on('exit', (code) => {
      live--;
      this.lose(slot, new WorkerFailure('E_INTERNAL', `training worker ${rank} stopped unexpectedly (exit code ${code})`, false));
      markExited();
    });
    return ready;
  }

  /** A worker is gone: everything it owed fails, and its peers are released from the barrier. */
  private lose(slot: Slot, error: AntiphonError): void {
    if (slot.gone) return;
    slot.gone = true;
    if (!this.disposed) abortAllReduce(this.buffers);
    for (const p of slot.pending.values()) p.reject(error);
    slot.pending.clear();
  }

  private request(slot: Slot, msg: Request): Promise<unknown> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.disposed) return Promise.reject(new AntiphonError('E_INTERNAL', 'the training workers were already stopped'));
    if (slot.gone) return Promise.reject(new AntiphonError('E_INTERNAL', `training worker ${slot.rank} is gone`));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      slot.pending.set(id, { resolve, reject });
      slot.worker.postMessage({ ...msg, id });
    });
  }

  /**
   * All of `requests`, in order. On a first failure the group is aborted and the others get
   * GRACE_MS to answer, so that the error reported is the one that started it; the pool is
   * then failed for good. `timeoutMs` bounds the whole wait (used at start-up).
   */
  private gather(requests: Promise<unknown>[], timeoutMs?: number, what = 'request'): Promise<unknown[]> {
    return new Promise((resolve, reject) => {
      const results: unknown[] = new Array(requests.length);
      const errors: AntiphonError[] = [];
      let left = requests.length;
      let finished = false;
      let grace: NodeJS.Timeout | undefined;
      const deadline =
        timeoutMs === undefined
          ? undefined
          : setTimeout(() => {
              errors.push(new AntiphonError('E_INTERNAL', `the training workers did not ${what} within ${(timeoutMs / 1000).toFixed(0)} s`));
              finish();
            }, timeoutMs);
      const finish = () => {
        if (finished) return;
        finished = true;
        clearTimeout(grace);
        clearTimeout(deadline);
        if (!errors.length) return resolve(results);
        const first = errors.find((e) => !(e instanceof WorkerFailure && e.abandoned)) ?? errors[0];
        const error = first instanceof WorkerFailure ? new AntiphonError(first.code, first.message, first.file ? { file: first.file } : {}) : first;
        this.failure ??= error;
        abortAllReduce(this.buffers);
        reject(this.failure);
      };
      requests.forEach((r, i) =>
        r.then(
          (v) => {
            results[i] = v;
            if (--left === 0) finish();
          },
          (e: AntiphonError) => {
            errors.push(e);
            abortAllReduce(this.buffers);
            if (--left === 0) finish();
            else grace ??= setTimeout(finish, GRACE_MS);
          },
        ),
      );
    });
  }
}
