// Training throughput: words per second through a full optimisation step (forward, backward,
// clipping, Adam) of a config on the chosen backend, with the wasm training kernels when on wasm.
import * as tf from '@tensorflow/tfjs';
import { presetConfig } from '../src/engine/model/config.ts';
import { CPTransformer } from '../src/engine/model/transformer.ts';
import { FAMILIES } from '../src/engine/vocab.ts';
import { registerTrainingKernels } from '../src/trainer/kernels/index.ts';
import { CPTrainer, OPTIM_DEFAULTS } from '../src/trainer/optimizer.ts';
import { benchWords } from './words.ts';

export interface TrainBench {
  trainWordsPerSec: number;
  trainStepMs: number;
  trainBatch: number;
  trainContext: number;
  trainSteps: number;
}

/** Call after the backend is selected. One warm-up step, then `steps` timed ones. */
export function runTrainBench(opts: { config: string; batch?: number; context?: number; steps?: number; log?: (l: string) => void }): TrainBench {
  const B = opts.batch ?? 4;
  const T = opts.context ?? 512;
  const steps = opts.steps ?? 3;
  if (tf.getBackend() === 'wasm') registerTrainingKernels();
  const model = CPTransformer.create(presetConfig(opts.config), 1);
  const trainer = new CPTrainer(model, OPTIM_DEFAULTS);
  const W = FAMILIES.length;
  const words = benchWords(B * (T + 1) + 1, 11);
  const batch = new Int32Array(B * (T + 1) * W);
  words.slice(0, B * (T + 1)).forEach((w, i) => batch.set(w, i * W));
  try {
    trainer.step(batch, B, T, 0);
    const t0 = performance.now();
    for (let s = 1; s <= steps; s++) trainer.step(batch, B, T, s);
    const ms = (performance.now() - t0) / steps;
    opts.log?.(`train ${opts.config}: ${ms.toFixed(0)} ms per step of ${B} x ${T} words`);
    return { trainWordsPerSec: Math.round((B * T * 1000) / ms), trainStepMs: Math.round(ms), trainBatch: B, trainContext: T, trainSteps: steps };
  } finally {
    trainer.dispose();
    model.dispose();
  }
}
