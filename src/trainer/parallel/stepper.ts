// What the training loop steps: the one-process trainer on the main thread, or a pool of
// data-parallel workers. Both keep the main thread's model as the one that is evaluated and
// saved, and both save and load the optimiser state in the same files, so a run can resume
// with a different number of workers.

import { availableParallelism } from 'node:os';
import * as tf from '@tensorflow/tfjs';
import type { BackendName } from '../../engine/backend.ts';
import type { CPTransformer } from '../../engine/model/transformer.ts';
import { AntiphonError } from '../../errors.ts';
import { CPTrainer, type OptimOptions } from '../optimizer.ts';
import { TrainWorkerPool } from './pool.ts';
import type { StepResult, WorkerFault } from './protocol.ts';

export type { StepResult } from './protocol.ts';

export interface Stepper {
  readonly workers: number;
  step(words: Int32Array, B: number, T: number, step: number): Promise<StepResult>;
  /** Brings the main thread's model up to date with the trained weights (before evaluating or saving it). */
  syncModel(): Promise<void>;
  /** Writes the optimiser state beside a checkpoint. */
  saveState(dir: string): Promise<void>;
  dispose(): Promise<void>;
}

export interface ParallelTuning {
  /** A worker waiting this long at a barrier for a peer ends the run (default 5 minutes). */
  barrierTimeoutMs?: number;
  /** Longest wait for the workers to load tfjs (default 5 minutes). */
  startTimeoutMs?: number;
  /** Tests only: make a worker fail. */
  fault?: WorkerFault;
}

/** Most workers `auto` starts: beyond this the all-reduce buffers and per-worker heaps cost more than they give. */
const AUTO_MAX_WORKERS = 8;

/**
 * How many workers to train with. `auto`: one per core, at most one per row of the batch,
 * on wasm and cpu; one on the tensorflow backend, whose native kernels already use every core.
 */
export function resolveWorkers(requested: number | 'auto', backend: BackendName, batchSize: number, cores = availableParallelism()): number {
  if (requested === 'auto') return backend === 'tensorflow' ? 1 : Math.max(1, Math.min(cores, batchSize, AUTO_MAX_WORKERS));
  if (!Number.isInteger(requested) || requested < 1) throw new AntiphonError('E_USAGE', `--workers must be a whole number of at least 1, or auto; got ${requested}`);
  if (requested > 1 && backend === 'tensorflow') {
    throw new AntiphonError('E_USAGE', `--workers ${requested} needs the wasm or cpu backend; the tensorflow backend trains in one process (use --workers 1)`);
  }
  if (requested > batchSize) throw new AntiphonError('E_USAGE', `--workers ${requested} is more than the batch size ${batchSize}: every worker needs at least one example`);
  return requested;
}

class LocalStepper implements Stepper {
  readonly workers = 1;
  constructor(private readonly trainer: CPTrainer) {}

  async step(words: Int32Array, B: number, T: number, step: number): Promise<StepResult> {
    return this.trainer.step(words, B, T, step);
  }

  async syncModel(): Promise<void> {
    // the trainer updates the main thread's model in place
  }

  saveState(dir: string): Promise<void> {
    return this.trainer.saveState(dir);
  }

  async dispose(): Promise<void> {
    this.trainer.dispose();
  }
}

class ParallelStepper implements Stepper {
  private stale = false;
  constructor(
    private readonly model: CPTransformer,
    private readonly pool: TrainWorkerPool,
  ) {}

  get workers(): number {
    return this.pool.workers;
  }

  async step(words: Int32Array, B: number, T: number, step: number): Promise<StepResult> {
    this.stale = true;
    return this.pool.step(words, B, T, step);
  }

  async syncModel(): Promise<void> {
    if (!this.stale) return;
    const w = await this.pool.weights(0);
    tf.tidy(() => {
      for (const [name, v] of Object.entries(this.model.weights)) v.assign(tf.tensor(w[name], v.shape, 'float32'));
    });
    this.stale = false;
  }

  saveState(dir: string): Promise<void> {
    return this.pool.saveOptimizer(dir);
  }

  dispose(): Promise<void> {
    return this.pool.dispose();
  }
}

/**
 * A stepper for `model` with `workers` threads (1: the main thread itself). When resuming,
 * the optimiser state comes from `resumeDir`. The model's current weights are the start.
 */
export async function createStepper(
  model: CPTransformer,
  optim: OptimOptions,
  opts: { workers: number; backend: BackendName; batchSize: number; resumeDir: string | null } & ParallelTuning,
): Promise<Stepper> {
  if (opts.workers === 1) {
    const trainer = new CPTrainer(model, optim);
    try {
      if (opts.resumeDir) await trainer.loadState(opts.resumeDir);
    } catch (e) {
      trainer.dispose();
      throw e;
    }
    return new LocalStepper(trainer);
  }
  if (opts.backend === 'tensorflow') throw new AntiphonError('E_USAGE', 'data-parallel workers need the wasm or cpu backend');
  const parameters = Object.values(model.weights).reduce((n, v) => n + v.size, 0);
  const pool = await TrainWorkerPool.start({
    workers: opts.workers,
    backend: opts.backend,
    config: model.config,
    optim,
    batchSize: opts.batchSize,
    parameters,
    barrierTimeoutMs: opts.barrierTimeoutMs ?? 5 * 60_000,
    startTimeoutMs: opts.startTimeoutMs ?? 5 * 60_000,
    ...(opts.fault ? { fault: opts.fault } : {}),
  });
  try {
    const weights = Object.fromEntries(Object.entries(model.weights).map(([name, v]) => [name, v.dataSync() as Float32Array]));
    await pool.init(weights, opts.resumeDir);
  } catch (e) {
    await pool.dispose();
    throw e;
  }
  return new ParallelStepper(model, pool);
}
