// Causal attention of a block of T new words over the wasm KV cache (PagedKVCache), for a
// batched prime: the cache is read where it lies, never joined or copied.
//
// Why per head: a head's keys against its queries is an (S, dh) @ (dh, T) product, and the
// fast matMul path takes 2-D operands only. The block-diagonal trick of the decode step
// (every head in one product) costs H times the multiply-adds, which a block of T queries
// can no longer hide. The cache keeps keys by head, so a head's first S keys are one
// contiguous (S, dh) block, and values transposed, (dModel, rows), so a head's values are a
// contiguous (dh, rows) block: per layer, H products for the scores and H for the values,
// on views (viewAt), never copies. The value product runs over all `rows` columns, with
// probabilities exactly zero past the last word.
//
// The big operand stays on the left. Right-hand operands (a head's queries, its slice of the
// probabilities) are fresh ids made for this call, so the backend's per-id packed operators
// can never be stale (GUIDE §4); the cache never is one: packing a (900, 64) value block on
// every call cost ~200 us against ~50 for the product itself.
import type { TensorInfo } from '@tensorflow/tfjs-core';
import { callOriginal } from '../kernels/original.ts';
import { dropView, free, viewAt, type Wasm } from '../kernels/wasm-heap.ts';
import { MASKED } from './alibi.ts';
import type { PagedKVCache } from './paged-kv-cache.ts';

const f32 = 'float32' as const;

/**
 * The ALiBi bias and causal mask of T queries at words n..n+T-1, (H * T, Sp) rows of
 * (head, query); the same for every layer, so a prime builds it once. Columns past the last
 * word are masked: the cache's buffers are Sp = headRows words wide.
 */
export function blockBias(slopes: Float32Array, n: number, T: number, Sp: number): Float32Array {
  const H = slopes.length;
  const v = new Float32Array(H * T * Sp).fill(MASKED);
  for (let h = 0; h < H; h++) {
    const m = slopes[h];
    for (let t = 0, q = n; t < T; t++, q++) {
      const row = (h * T + t) * Sp;
      // As the plain path's table: the float32 value of -slope * distance.
      for (let j = 0; j <= q; j++) v[row + j] = -m * (q - j);
    }
  }
  return v;
}

function matMul(b: Wasm, a: TensorInfo, w: TensorInfo): TensorInfo {
  return callOriginal('_FusedMatMul', b, { a, b: w }, { transposeA: false, transposeB: false, activation: 'linear' });
}

/**
 * Attention output (T, dModel) of queries `qkv` (rows of 3 * dModel, queries first) at words
 * n..n+T-1 of layer `l`, whose keys and values are already written; `bias` is
 * blockBias(slopes, n, T, cache.headRows).
 */
export function attendBlock(b: Wasm, cache: PagedKVCache, l: number, qkv: Float32Array, n: number, T: number, slopes: Float32Array, bias: Float32Array): Float32Array {
  const d = cache.dModel;
  const H = slopes.length;
  const dh = d / H;
  const S = n + T;
  const R = cache.headRows; // score rows padded to the by-head buffers' width: the padding is masked to zero
  const hk = cache.headKeys[l]!;
  const hv = cache.headValues[l]!;
  const scale = Math.fround(1 / Math.sqrt(dh)); // as the plain path's float32 multiply
  // Scores onto the bias: one row of R per (head, query); a head's keys are one (S, dh) block.
  const logits = b.makeOutput([H * T, R], f32);
  (b.typedArrayFromHeap(logits) as Float32Array).set(bias);
  for (let h = 0; h < H; h++) {
    const qT = b.makeOutput([1, dh, T], f32);
    const a = b.typedArrayFromHeap(qT) as Float32Array;
    for (let t = 0; t < T; t++) for (let j = 0, o = t * 3 * d + h * dh; j < dh; j++) a[j * T + t] = Math.fround(qkv[o + j] * scale);
    const ka = viewAt(b, hk, h * R * dh, [1, S, dh]);
    const s = matMul(b, ka, qT); // (S, T)
    dropView(b, ka);
    free(b, qT);
    const sv = b.typedArrayFromHeap(s) as Float32Array;
    const out = b.typedArrayFromHeap(logits) as Float32Array; // after the malloc: the heap may have grown
    // Masked entries get a score too: MASKED plus a score is still far below any real one.
    for (let t = 0; t < T; t++) for (let r = 0, o = (h * T + t) * R, i = t; r < S; r++, i += T) out[o + r] += sv[i];
    free(b, s);
  }
  const probs = callOriginal('Softmax', b, { logits }, { dim: 1 });
  free(b, logits);
  const pT = callOriginal('Transpose', b, { x: { dataId: probs.dataId, shape: [H, T, R], dtype: f32 } }, { perm: [0, 2, 1] }); // (H, R, T)
  free(b, probs);
  // Values: a head's transposed values (dh, R) times its probabilities (R, T), zero past S.
  const attn = new Float32Array(T * d);
  for (let h = 0; h < H; h++) {
    const va = viewAt(b, hv, h * dh * R, [1, dh, R]);
    const pr = viewAt(b, pT, h * R * T, [1, R, T]);
    const m = matMul(b, va, pr); // (dh, T)
    dropView(b, va);
    dropView(b, pr);
    const mv = b.typedArrayFromHeap(m) as Float32Array;
    for (let j = 0; j < dh; j++) for (let t = 0, o = h * dh + j; t < T; t++) attn[t * d + o] = mv[j * T + t];
    free(b, m);
  }
  free(b, pT);
  return attn;
}
