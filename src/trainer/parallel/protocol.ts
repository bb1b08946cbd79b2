// Messages between the training pool (main thread) and its worker threads.

import type { ModelConfig } from '../../engine/model/config.ts';
import type { ErrorCode } from '../../errors.ts';
import type { OptimOptions } from '../optimizer.ts';
import type { AllReduceBuffers } from './allreduce.ts';

/** For tests: make one worker fail at one step, the way real failures look. */
export interface WorkerFault {
  rank: number;
  step: number;
  /** throw: an exception in the step; exit: the thread dies; hang: it never answers. */
  kind: 'throw' | 'exit' | 'hang';
}

export interface TrainWorkerData {
  /** The file URL worker-boot.mjs imports. */
  entry: string;
  rank: number;
  backend: 'wasm' | 'cpu';
  config: ModelConfig;
  optim: OptimOptions;
  /** Rows per batch; the all-reduce's units are runs of them. */
  batchSize: number;
  buffers: AllReduceBuffers;
  barrierTimeoutMs: number;
  fault?: WorkerFault;
}

export type Request =
  /** The starting weights (every worker gets the same), and the optimiser state to resume from. */
  | { type: 'init'; id: number; weights: Record<string, Float32Array>; optimizerDir: string | null }
  /** A step on the whole batch `words` (B, T + 1, 7); the workers share out its rows. */
  | { type: 'step'; id: number; step: number; words: Int32Array; B: number; T: number }
  | { type: 'weights'; id: number }
  | { type: 'save-optimizer'; id: number; dir: string };

export interface StepResult {
  /** The whole batch's loss before the update. */
  loss: number;
  /** Global norm of the summed gradient, before clipping. */
  gradNorm: number;
  lr: number;
}

export type Reply =
  | { type: 'done'; id: number; result?: StepResult | Record<string, Float32Array> }
  | {
      type: 'failed';
      id: number;
      error: { code: ErrorCode; message: string; file?: string };
      /** True when this worker only gave up because another one failed first. */
      abandoned: boolean;
    };

/** The id of the `done` every worker sends once its backend is up. */
export const READY_ID = 0;
