// Adam (tfjs's own) with linear warm-up, cosine decay and global-norm gradient clipping.
// Its moments and step count save beside a checkpoint, so --resume continues exactly.

import * as tf from '@tensorflow/tfjs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { CPTransformer } from '../engine/model/transformer.ts';
import { AntiphonError } from '../errors.ts';
import type { Family } from '../engine/vocab.ts';
import { batchTensors, cpLoss } from './loss.ts';

export interface OptimOptions {
  /** Peak learning rate. */
  lr: number;
  /** Steps of linear warm-up from 0 to lr. */
  warmup: number;
  /** Step at which the cosine decay reaches minLr. */
  totalSteps: number;
  /** Floor of the decay, as a fraction of lr. */
  minLrRatio: number;
  /** Largest global gradient norm; larger gradients are scaled down to it. */
  clipNorm: number;
  beta1: number;
  beta2: number;
}

export const OPTIMIZER_SPECS = 'optimizer.json';
export const OPTIMIZER_DATA = 'optimizer.bin';

/**
 * Moment slots are named "<variable>/m" and "<variable>/v"; "iter" is the step count. tfjs's Adam
 * matches moments to gradients by position, so the trainer always passes variables in one order.
 */
function renameSlot(name: string, map: Map<string, string>): string {
  const slash = name.lastIndexOf('/');
  const base = slash < 0 ? name : name.slice(0, slash);
  const to = map.get(base);
  return to ? `${to}${name.slice(slash)}` : name;
}

export const OPTIM_DEFAULTS: OptimOptions = { lr: 3e-4, warmup: 200, totalSteps: 20_000, minLrRatio: 0.1, clipNorm: 1, beta1: 0.9, beta2: 0.98 };

export function learningRate(o: OptimOptions, step: number): number {
  if (step < o.warmup) return (o.lr * (step + 1)) / o.warmup;
  const p = Math.min(1, (step - o.warmup) / Math.max(1, o.totalSteps - o.warmup));
  return o.lr * (o.minLrRatio + (1 - o.minLrRatio) * 0.5 * (1 + Math.cos(Math.PI * p)));
}

export class CPTrainer {
  readonly optimizer: tf.AdamOptimizer;
  private readonly vars: tf.Variable[];
  private readonly names: string[];

  constructor(readonly model: CPTransformer, readonly options: OptimOptions) {
    this.optimizer = tf.train.adam(options.lr, options.beta1, options.beta2, 1e-8);
    this.names = Object.keys(model.weights).sort();
    this.vars = this.names.map((n) => model.weights[n]);
  }

  /** The trained weights' names, in the order every gradient list follows (sorted). */
  get variableNames(): readonly string[] {
    return this.names;
  }

  /** One optimisation step on (B, T + 1, 7) words; returns the loss before the update and the gradient norm. */
  step(words: Int32Array, B: number, T: number, step: number): { loss: number; gradNorm: number; lr: number } {
    const lr = this.setLearningRate(step);
    const [loss, gradNorm] = tf.tidy(() => {
      const { loss: value, grads } = this.lossAndGradients(words, B, T);
      const norm = this.clipAndApply(grads);
      return [value.dataSync()[0], norm.dataSync()[0]];
    });
    return { loss, gradNorm, lr };
  }

  /**
   * The loss on (B, T + 1, 7) words and its gradients, in `variableNames` order. With `counts`
   * (familyCounts of the whole batch, when these words are a shard of it) the loss and
   * gradients are this shard's share, and the shards' add up to the whole batch's. Call
   * inside tf.tidy.
   */
  lossAndGradients(words: Int32Array, B: number, T: number, counts?: Record<Family, number>): { loss: tf.Scalar; grads: tf.Tensor[] } {
    const batch = batchTensors(words, B, T);
    const { value, grads } = tf.variableGrads(() => cpLoss(this.model.forward(batch.inputs, batch.targetTypes), batch, counts), this.vars);
    return { loss: value, grads: this.vars.map((v) => grads[v.name]) };
  }

  /**
   * Sets Adam's rate for `step`, scales `grads` (in `variableNames` order) down to the clip
   * norm when their global norm exceeds it, and applies them. Returns the norm before
   * clipping. Call inside tf.tidy, after setLearningRate.
   */
  clipAndApply(grads: tf.Tensor[]): tf.Scalar {
    const norm = tf.sqrt(tf.addN(grads.map((g) => tf.sum(tf.square(g))))) as tf.Scalar;
    const scale = tf.minimum(tf.scalar(1), tf.div(tf.scalar(this.options.clipNorm), tf.add(norm, 1e-6)));
    this.optimizer.applyGradients(this.vars.map((v, i) => ({ name: v.name, tensor: tf.mul(grads[i], scale) })));
    return norm;
  }

  /** tfjs's Adam reads its learning rate on every update; returns the rate for `step`. */
  setLearningRate(step: number): number {
    const lr = learningRate(this.options, step);
    (this.optimizer as unknown as { learningRate: number }).learningRate = lr;
    return lr;
  }

  /** Adam's moments and step count, keyed by our weight names (tfjs's variable names are per process). */
  async saveState(dir: string): Promise<void> {
    const weights = await this.optimizer.getWeights();
    const byTfName = new Map(this.vars.map((v, i) => [v.name, this.names[i]]));
    const specs: Array<{ name: string; shape: number[] }> = [];
    const parts: Float32Array[] = [];
    for (const w of weights) {
      specs.push({ name: renameSlot(w.name, byTfName), shape: w.tensor.shape });
      parts.push(Float32Array.from(w.tensor.dataSync()));
    }
    // getWeights hands back the live moment variables, plus a fresh scalar for the step count.
    weights[0].tensor.dispose();
    const data = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
    let at = 0;
    for (const p of parts) {
      data.set(p, at);
      at += p.length;
    }
    await writeFile(join(dir, OPTIMIZER_DATA), new Uint8Array(data.buffer));
    await writeFile(join(dir, OPTIMIZER_SPECS), JSON.stringify(specs));
  }

  async loadState(dir: string): Promise<void> {
    const specsFile = join(dir, OPTIMIZER_SPECS);
    const dataFile = join(dir, OPTIMIZER_DATA);
    let specs: Array<{ name: string; shape: number[] }>;
    let data: Float32Array;
    try {
      specs = JSON.parse(await readFile(specsFile, 'utf8'));
      const bytes = await readFile(dataFile);
      data = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
    } catch (e) {
      throw new AntiphonError('E_MODEL_CORRUPT', `${specsFile}: cannot read the optimiser state (${(e as Error).message})`, { file: specsFile });
    }
    const byOurName = new Map(this.names.map((n, i) => [n, this.vars[i].name]));
    let at = 0;
    const named = specs.map((s) => {
      const n = s.shape.reduce((a, b) => a * b, 1);
      const tensor = tf.tensor(data.subarray(at, at + n), s.shape);
      at += n;
      return { name: renameSlot(s.name, byOurName), tensor };
    });
    if (at !== data.length) throw new AntiphonError('E_MODEL_CORRUPT', `${dataFile}: size does not match ${specsFile}`, { file: dataFile });
    await this.optimizer.setWeights(named);
    this.restoreBiasCorrections();
  }

  /**
   * setWeights recomputes Adam's beta^(t+1) with pow, while a running optimiser multiplies by
   * beta once a step in float32. The last-bit difference matters for weights whose gradients are
   * pure rounding noise (attention's key bias): there m/sqrt(v) is near epsilon and the update
   * swings by 1e-4. Repeating the float32 products makes a resumed run match a straight one.
   */
  private restoreBiasCorrections(): void {
    const adam = this.optimizer as unknown as { accBeta1: tf.Variable; accBeta2: tf.Variable; iterations: number };
    const product = (beta: number) => {
      const b = Math.fround(beta);
      let acc = b;
      for (let i = 0; i < adam.iterations; i++) acc = Math.fround(acc * b);
      return acc;
    };
    tf.tidy(() => {
      adam.accBeta1.assign(tf.scalar(product(this.options.beta1)));
      adam.accBeta2.assign(tf.scalar(product(this.options.beta2)));
    });
  }

  dispose(): void {
    this.optimizer.dispose();
  }
}
