// Causal attention of a block of T new words over the wasm KV cache (PagedKVCache), for a
// batched prime: the cache is read where it lies, never joined or copied.
//
// Per head and query, two matrix-vector products in the gemv kernel (kernels/gemv.wat): the
// cache keeps keys by head, so a head's first S keys are one contiguous (S, dh) block, and
// values transposed, (dModel, rows), so a head's values are a contiguous (dh, rows) block. A
// query reads only the words it may see. XNNPACK's matMul did the same as (S, dh) @ (dh, T)
// products, but a GEMM computes whole tiles of 8 or 16 columns, and a live prime has 1 to 20
// queries: at context 900 the attention of a 19-word prime took ~7 of its 12 ms. The kernel
// runs at 10-13 GMAC/s here (about what 4-wide lanes without fused multiply-add allow).
import { gemvFor } from '../kernels/gemv.ts';
import { callOriginal } from '../kernels/original.ts';
import { free, heapF32, type Wasm } from '../kernels/wasm-heap.ts';
import type { PagedKVCache } from './paged-kv-cache.ts';

const f32 = 'float32' as const;

/**
 * Attention output (T, dModel) of queries `qkv` (rows of 3 * dModel, queries first) at words
 * n..n+T-1 of layer `l`, whose keys and values are already written; `bias` is the causal
 * position bias, alibiBlockData(H, T, cache.headRows, n, meterHeads) plus any meter bias:
 * (H * T, headRows) rows of (head, query), masked past each query's word.
 */
export function attendBlock(b: Wasm, cache: PagedKVCache, l: number, qkv: Float32Array, n: number, T: number, slopes: Float32Array, bias: Float32Array): Float32Array {
  const d = cache.dModel;
  const H = slopes.length;
  const dh = d / H;
  const R = cache.headRows; // score rows padded to the by-head buffers' width: the padding is masked to zero
  const gemv = gemvFor(b);
  const scale = Math.fround(1 / Math.sqrt(dh)); // as the plain path's float32 multiply
  // One row of R per (head, query), holding the bias; the kernel adds each query's scores
  // over the keys it may see (query t sees words 0..n+t).
  const logits = b.makeOutput([H * T, R], f32);
  const queries = b.makeOutput([T * dh], f32); // one head's scaled queries, (T, dh)
  const lp = b.getMemoryOffset(logits.dataId);
  const qp = b.getMemoryOffset(queries.dataId);
  const kp = b.getMemoryOffset(cache.headKeys[l]!.dataId);
  let heap = heapF32(b);
  heap.set(bias, lp >> 2);
  for (let h = 0; h < H; h++) {
    for (let t = 0, at = qp >> 2; t < T; t++) for (let j = 0, o = t * 3 * d + h * dh; j < dh; j++) heap[at++] = Math.fround(qkv[o + j] * scale);
    // A head's keys are one contiguous (S, dh) block.
    for (let t = 0; t < T; t++) gemv(kp + h * R * dh * 4, dh, n + t + 1, dh, qp + t * dh * 4, lp + (h * T + t) * R * 4, 1);
  }
  free(b, queries);
  const probs = callOriginal('Softmax', b, { logits }, { dim: 1 });
  free(b, logits);
  // A head's values are dh rows of the transposed (dModel, R) buffer, its probabilities one
  // row of R per query, exactly zero past the query's own word.
  const out = b.makeOutput([T * d], f32);
  const op = b.getMemoryOffset(out.dataId);
  const pp = b.getMemoryOffset(probs.dataId);
  const vp = b.getMemoryOffset(cache.headValues[l]!.dataId);
  for (let h = 0; h < H; h++) {
    for (let t = 0; t < T; t++) gemv(vp + h * dh * R * 4, R, dh, n + t + 1, pp + (h * T + t) * R * 4, op + (t * d + h * dh) * 4, 0);
  }
  free(b, probs);
  heap = heapF32(b);
  const attn = heap.slice(op >> 2, (op >> 2) + T * d);
  free(b, out);
  return attn;
}
