// The paper's loss: per-family cross-entropy, each family averaged over the positions whose
// target word's type uses it, then the families averaged. Also the evaluation metrics.

import * as tf from '@tensorflow/tfjs';
import type { CPTransformer, ForwardLogits } from '../engine/model/transformer.ts';
import { F, FAMILIES, FAMILY_SIZES, UNUSED, type Family } from '../engine/vocab.ts';

const W = FAMILIES.length;

export interface BatchTensors {
  /** (B, T, 7) int32 inputs */
  inputs: tf.Tensor3D;
  /** (B, T) int32: each target word's type */
  targetTypes: tf.Tensor2D;
  /** per family: (B*T) int32 target token, UNUSED replaced by 0 */
  targets: Record<Family, tf.Tensor1D>;
  /** per family: (B*T) float32, 1 where the target word uses the family */
  masks: Record<Family, tf.Tensor1D>;
}

/** Splits (B, T + 1, 7) words into inputs and shifted targets. The caller disposes (use tf.tidy). */
export function batchTensors(words: Int32Array, B: number, T: number): BatchTensors {
  const inputs = new Int32Array(B * T * W);
  const tgt = Object.fromEntries(FAMILIES.map((f) => [f, new Int32Array(B * T)])) as Record<Family, Int32Array>;
  const mask = Object.fromEntries(FAMILIES.map((f) => [f, new Float32Array(B * T)])) as Record<Family, Float32Array>;
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      const src = (b * (T + 1) + t) * W;
      inputs.set(words.subarray(src, src + W), (b * T + t) * W);
      FAMILIES.forEach((f, k) => {
        const v = words[src + W + k];
        tgt[f][b * T + t] = v === UNUSED ? 0 : v;
        mask[f][b * T + t] = v === UNUSED ? 0 : 1;
      });
    }
  }
  return {
    inputs: tf.tensor3d(inputs, [B, T, W], 'int32'),
    targetTypes: tf.tensor2d(tgt.type, [B, T], 'int32'),
    targets: Object.fromEntries(FAMILIES.map((f) => [f, tf.tensor1d(tgt[f], 'int32')])) as Record<Family, tf.Tensor1D>,
    masks: Object.fromEntries(FAMILIES.map((f) => [f, tf.tensor1d(mask[f], 'float32')])) as Record<Family, tf.Tensor1D>,
  };
}

/** Per-position negative log-likelihood of the targets, (B*T). */
export function familyNll(logits: tf.Tensor3D, target: tf.Tensor1D, size: number): tf.Tensor1D {
  return tf.tidy(() => {
    const flat = tf.reshape(logits, [-1, size]) as tf.Tensor2D;
    // oneHot straight to float32 returns zeros on wasm 4.22; int32 then cast is right everywhere.
    const hot = tf.cast(tf.oneHot(target, size), 'float32');
    return tf.neg(tf.sum(tf.mul(hot, tf.logSoftmax(flat)), 1)) as tf.Tensor1D;
  });
}

/** Per family, how many target words of (B, T + 1, 7) words use it: the loss's denominators. */
export function familyCounts(words: Int32Array, B: number, T: number): Record<Family, number> {
  const counts = Object.fromEntries(FAMILIES.map((f) => [f, 0])) as Record<Family, number>;
  for (let b = 0; b < B; b++) {
    for (let t = 1; t <= T; t++) {
      const at = (b * (T + 1) + t) * W;
      FAMILIES.forEach((f, k) => {
        if (words[at + k] !== UNUSED) counts[f]++;
      });
    }
  }
  return counts;
}

/**
 * The training loss: a scalar. With `counts` (familyCounts of a whole batch) each family's
 * sum is divided by the whole batch's count instead of this batch's own: the losses of a
 * batch's row shards then add up to the whole batch's loss, and so do their gradients,
 * which is what data-parallel workers sum.
 */
export function cpLoss(logits: ForwardLogits, batch: BatchTensors, counts?: Record<Family, number>): tf.Scalar {
  return tf.tidy(() => {
    const perFamily = FAMILIES.map((f) => {
      const nll = familyNll(logits[f], batch.targets[f], FAMILY_SIZES[f]);
      const m = batch.masks[f];
      const denominator = counts ? tf.scalar(Math.max(counts[f], 1)) : tf.maximum(tf.sum(m), 1);
      return tf.div(tf.sum(tf.mul(nll, m)), denominator);
    });
    return tf.div(tf.addN(perFamily), FAMILIES.length) as tf.Scalar;
  });
}

export interface EvalTotals {
  words: number;
  /** Sum over target words of the type's NLL plus the used families' NLLs. */
  nllSum: number;
  families: Record<Family, { nllSum: number; correct: number; count: number }>;
}

export const emptyTotals = (): EvalTotals => ({
  words: 0,
  nllSum: 0,
  families: Object.fromEntries(FAMILIES.map((f) => [f, { nllSum: 0, correct: 0, count: 0 }])) as EvalTotals['families'],
});

/** Adds one batch's NLLs and accuracies (argmax) to `totals`, in nats; returns the batch's training loss from the same forward pass. */
export function accumulateEval(model: CPTransformer, batch: BatchTensors, totals: EvalTotals): number {
  const { nll, hit, loss } = tf.tidy(() => {
    const logits = model.forward(batch.inputs, batch.targetTypes);
    return {
      nll: FAMILIES.map((f) => familyNll(logits[f], batch.targets[f], FAMILY_SIZES[f])),
      hit: FAMILIES.map((f) => tf.cast(tf.equal(tf.argMax(tf.reshape(logits[f], [-1, FAMILY_SIZES[f]]), 1), batch.targets[f]), 'float32')),
      loss: cpLoss(logits, batch),
    };
  });
  const masks = FAMILIES.map((f) => batch.masks[f].dataSync());
  const n = masks[F.type].length;
  const nlls = nll.map((t) => t.dataSync());
  const hits = hit.map((t) => t.dataSync());
  for (let i = 0; i < n; i++) {
    totals.words++;
    FAMILIES.forEach((f, k) => {
      if (masks[k][i] === 0) return;
      totals.nllSum += nlls[k][i];
      const fam = totals.families[f];
      fam.nllSum += nlls[k][i];
      fam.correct += hits[k][i];
      fam.count++;
    });
  }
  for (const t of [...nll, ...hit]) t.dispose();
  const value = loss.dataSync()[0];
  loss.dispose();
  return value;
}

export function summarizeEval(t: EvalTotals): { words: number; nllPerWord: number; families: Record<string, { nll: number; accuracy: number }> } {
  return {
    words: t.words,
    nllPerWord: t.words ? t.nllSum / t.words : NaN,
    families: Object.fromEntries(
      FAMILIES.map((f) => {
        const x = t.families[f];
        return [f, { nll: x.count ? x.nllSum / x.count : NaN, accuracy: x.count ? x.correct / x.count : NaN }];
      }),
    ),
  };
}
