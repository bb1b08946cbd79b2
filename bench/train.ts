// Training throughput: words per second through a full optimisation step (forward, backward,
// clipping, Adam) of a config on the chosen backend, with the wasm training kernels when on wasm.
//
// Two figures: the one-process trainer on this thread (trainWordsPerSecOneProcess), and the
// trainer `antiphon train` uses by default, data-parallel worker threads
// (trainWordsPerSec, with trainWorkers). The parallel one runs in a child process started
// synchronously, so that runTrainBench stays a plain function and the workers' threads and
// heaps are gone when it returns:
//
//   node --import tsx bench/train.ts [--config small] [--backend wasm] [--workers N|auto] [--steps 3] [--batch 4] [--context 512]
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { selectBackend, type BackendChoice } from '../src/engine/backend.ts';
import { presetConfig } from '../src/engine/model/config.ts';
import { CPTransformer } from '../src/engine/model/transformer.ts';
import { FAMILIES } from '../src/engine/vocab.ts';
import { registerTrainingKernels } from '../src/trainer/kernels/index.ts';
import { CPTrainer, OPTIM_DEFAULTS } from '../src/trainer/optimizer.ts';
import { createStepper, resolveWorkers, type Stepper } from '../src/trainer/parallel/stepper.ts';
import { benchWords } from './words.ts';

export interface TrainBench {
  /** The default trainer: data-parallel workers on wasm/cpu (one process on tensorflow, or on one core). */
  trainWordsPerSec: number;
  trainStepMs: number;
  /** Worker threads behind trainWordsPerSec (1: the one-process trainer). */
  trainWorkers: number;
  /** The one-process trainer on the main thread. */
  trainWordsPerSecOneProcess: number;
  trainStepMsOneProcess: number;
  /**
   * CPU time (all threads of the process) per step, for both: on a machine shared with other
   * work the wall-clock figures fall with the share of the cores this process gets, while
   * B x T x 1000 / cpu ms x workers stays near what free cores would give.
   */
  trainCpuMsPerStep: number;
  trainCpuMsPerStepOneProcess: number;
  trainBatch: number;
  trainContext: number;
  trainSteps: number;
}

interface Timing {
  wordsPerSec: number;
  stepMs: number;
  cpuMs: number;
}

/** The timing batch: B rows of T + 1 plausible words, flattened. */
export function benchBatch(B: number, T: number): Int32Array {
  const W = FAMILIES.length;
  const words = benchWords(B * (T + 1) + 1, 11);
  const batch = new Int32Array(B * (T + 1) * W);
  words.slice(0, B * (T + 1)).forEach((w, i) => batch.set(w, i * W));
  return batch;
}

/** Times `steps` calls of `run` by the wall clock and by the process's CPU time. */
async function time(B: number, T: number, steps: number, run: (s: number) => unknown): Promise<Timing> {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  for (let s = 1; s <= steps; s++) await run(s);
  const ms = (performance.now() - t0) / steps;
  const cpu = process.cpuUsage(c0);
  return { wordsPerSec: Math.round((B * T * 1000) / ms), stepMs: Math.round(ms), cpuMs: Math.round((cpu.user + cpu.system) / 1000 / steps) };
}

function timeSync(B: number, T: number, steps: number, run: (s: number) => unknown): Timing {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  for (let s = 1; s <= steps; s++) run(s);
  const ms = (performance.now() - t0) / steps;
  const cpu = process.cpuUsage(c0);
  return { wordsPerSec: Math.round((B * T * 1000) / ms), stepMs: Math.round(ms), cpuMs: Math.round((cpu.user + cpu.system) / 1000 / steps) };
}

/** One warm-up step, then `steps` timed ones, on the main thread. Call after the backend is selected. */
function timeOneProcess(config: string, B: number, T: number, steps: number): Timing {
  if (tf.getBackend() === 'wasm') registerTrainingKernels();
  const model = CPTransformer.create(presetConfig(config), 1);
  const trainer = new CPTrainer(model, OPTIM_DEFAULTS);
  const batch = benchBatch(B, T);
  try {
    trainer.step(batch, B, T, 0);
    return timeSync(B, T, steps, (s) => trainer.step(batch, B, T, s));
  } finally {
    trainer.dispose();
    model.dispose();
  }
}

/** The same with `workers` data-parallel threads (this process's backend must be selected). */
async function timeParallel(config: string, B: number, T: number, steps: number, workers: number): Promise<Timing> {
  const backend = tf.getBackend();
  if (backend !== 'wasm' && backend !== 'cpu') throw new Error(`parallel training needs wasm or cpu, not ${backend}`);
  const model = CPTransformer.create(presetConfig(config), 1);
  let stepper: Stepper | null = null;
  try {
    stepper = await createStepper(model, OPTIM_DEFAULTS, { workers, backend, batchSize: B, resumeDir: null });
    const batch = benchBatch(B, T);
    const st = stepper;
    await st.step(batch, B, T, 0);
    return await time(B, T, steps, (s) => st.step(batch, B, T, s));
  } finally {
    await stepper?.dispose();
    model.dispose();
  }
}

/** Call after the backend is selected. The one-process trainer here, the parallel one in a child process. */
export function runTrainBench(opts: { config: string; batch?: number; context?: number; steps?: number; workers?: number | 'auto'; log?: (l: string) => void }): TrainBench {
  const B = opts.batch ?? 4;
  const T = opts.context ?? 512;
  const steps = opts.steps ?? 3;
  const backend = tf.getBackend() as 'wasm' | 'cpu' | 'tensorflow';
  const workers = resolveWorkers(opts.workers ?? 'auto', backend, B);
  const one = timeOneProcess(opts.config, B, T, steps);
  opts.log?.(`train ${opts.config}, one process: ${one.stepMs} ms per step of ${B} x ${T} words (${one.wordsPerSec} words/s), ${one.cpuMs} ms CPU`);
  let par = one;
  if (workers > 1) {
    const args = ['--import', 'tsx', fileURLToPath(import.meta.url), '--config', opts.config, '--backend', backend, '--workers', String(workers),
      '--steps', String(steps), '--batch', String(B), '--context', String(T)];
    const p = spawnSync(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8', maxBuffer: 1 << 20 });
    if (p.status !== 0) throw new Error(`the parallel training benchmark failed (exit ${p.status})`);
    par = JSON.parse(p.stdout.trim().split('\n').pop()!) as Timing;
    opts.log?.(`train ${opts.config}, ${workers} workers: ${par.stepMs} ms per step (${par.wordsPerSec} words/s), ${par.cpuMs} ms CPU`);
  }
  return {
    trainWordsPerSec: par.wordsPerSec,
    trainStepMs: par.stepMs,
    trainWorkers: workers,
    trainWordsPerSecOneProcess: one.wordsPerSec,
    trainStepMsOneProcess: one.stepMs,
    trainCpuMsPerStep: par.cpuMs,
    trainCpuMsPerStepOneProcess: one.cpuMs,
    trainBatch: B,
    trainContext: T,
    trainSteps: steps,
  };
}

async function main(argv: string[]): Promise<void> {
  const o: Record<string, string> = { config: 'small', backend: 'wasm', workers: 'auto', steps: '3', batch: '4', context: '512' };
  for (let i = 0; i < argv.length; i += 2) {
    const k = argv[i].replace(/^--/, '');
    if (!(k in o) || argv[i + 1] === undefined) throw new Error(`unknown option ${argv[i]}`);
    o[k] = argv[i + 1];
  }
  const backend = await selectBackend(o.backend as BackendChoice, () => {});
  const [B, T, steps] = [Number(o.batch), Number(o.context), Number(o.steps)];
  const workers = resolveWorkers(o.workers === 'auto' ? 'auto' : Number(o.workers), backend.name, B);
  const t = workers > 1 ? await timeParallel(o.config, B, T, steps, workers) : timeOneProcess(o.config, B, T, steps);
  process.stdout.write(JSON.stringify({ ...t, workers }) + '\n');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main(process.argv.slice(2)).catch((e) => {
    process.stderr.write(`bench/train: ${(e as Error).message}\n`);
    process.exitCode = 1;
  });
}
