// ALiBi (Press et al. 2022): each head adds -slope * distance to its attention scores.
//
// Why ALiBi rather than RoPE or a learned relative bias: a live session never ends, so
// the window must slide. With ALiBi the cached keys and values carry no position at all;
// the position lives only in a bias computed from distances inside the window. Sliding is
// then just dropping cache rows: nothing kept is re-encoded, no rotation angle grows over
// an hour of playing (RoPE would rotate by ever larger float angles or need re-rotation of
// every kept key), and there is no table of learned distances to outgrow. It is also the
// cheapest: one add per head, no extra weights.
import * as tf from '@tensorflow/tfjs';

/**
 * Geometric slopes 2^(-8h/H), h = 1..H, as in the paper (exact for any H here). The last
 * `meterHeads` heads get 0: their position bias is metrical (meter.ts).
 */
export function alibiSlopes(nHeads: number, meterHeads = 0): Float32Array {
  const s = new Float32Array(nHeads);
  for (let h = 0; h < nHeads - meterHeads; h++) s[h] = Math.pow(2, (-8 * (h + 1)) / nHeads);
  return s;
}

/** A score that softmax turns into an exact zero, without the NaNs of -Infinity in gradients. */
export const MASKED = -1e9;

/**
 * The bias for one query, as a column per head over the whole window: row j holds
 * -slope * (C - 1 - j), so the last n rows are the bias of a query at the end of an
 * n-word cache. Built once per model; a decode step only slices it.
 */
export function alibiDecodeTable(nHeads: number, contextLength: number, meterHeads = 0): tf.Tensor2D {
  const slopes = alibiSlopes(nHeads, meterHeads);
  const v = new Float32Array(contextLength * nHeads); // (C, H)
  for (let j = 0; j < contextLength; j++) {
    const dist = contextLength - 1 - j;
    for (let h = 0; h < nHeads; h++) v[j * nHeads + h] = -slopes[h] * dist;
  }
  return tf.tensor2d(v, [contextLength, nHeads]);
}

/**
 * The causal bias for T queries against S keys, where query i sits at key index
 * offset + i. Keys after a query are masked.
 */
export function alibiBlockBias(nHeads: number, T: number, S: number, offset: number, meterHeads = 0): tf.Tensor3D {
  return tf.tensor3d(alibiBlockData(nHeads, T, S, offset, meterHeads), [nHeads, T, S]);
}

/** alibiBlockBias's values, (H, T, S) row-major, for callers that add to them first. */
export function alibiBlockData(nHeads: number, T: number, S: number, offset: number, meterHeads = 0): Float32Array {
  const slopes = alibiSlopes(nHeads, meterHeads);
  const v = new Float32Array(nHeads * T * S); // (H, T, S)
  for (let h = 0; h < nHeads; h++) {
    const m = slopes[h];
    for (let i = 0; i < T; i++) {
      const q = offset + i;
      const row = (h * T + i) * S;
      for (let j = 0; j < S; j++) v[row + j] = j <= q ? -m * (q - j) : MASKED;
    }
  }
  return v;
}
