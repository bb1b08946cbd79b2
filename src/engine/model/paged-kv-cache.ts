// The wasm layout of the KV cache: fixed pages written in place through the heap, so a
// decode step copies one word's keys and values instead of concatenating the whole cache
// (an O(context) copy per layer and word). Pages rather than one buffer because values are
// stored transposed, (dModel, words), to stay the left operand of their matMul (see
// CPTransformer.attendOne): a prefix of a transposed buffer is not contiguous, a page is.
// Attention multiplies whole value pages by probabilities padded with zeros, so unused
// columns must hold finite numbers: pages start zeroed and are re-zeroed past a shrink.
import * as tf from '@tensorflow/tfjs';
import type { Wasm } from '../kernels/wasm-heap.ts';
import type { Word } from '../vocab.ts';
import { KVCache, type CacheShape, type LayerKV } from './kv-cache.ts';

/**
 * Words per page. Each page costs a matMul call per product (~15 us here) and the last one is
 * padded with zeros: 128 was best at context 64, 512 at 1024, 256 in between (measured).
 */
export const PAGE_WORDS = 256;

export class PagedKVCache extends KVCache {
  readonly pageWords: number;
  /**
   * Per layer, the same keys and values again in one buffer each, for a batched prime
   * (wasm-attend.ts), so that it attends with one matMul per head and product instead of one
   * per page and head (and transposes no keys). Keys by head, (nHeads * headRows, dh): head h's
   * word w is row h * headRows + w, so a head's first S keys are one contiguous (S, dh) block.
   * Values transposed, (dModel, headRows), as one page headRows wide: a head's values are one
   * contiguous (dh, headRows) block. headRows grows by doubling up to the context length;
   * columns past the cache's length hold stale or zero values (finite), which the prime
   * multiplies by probabilities of exactly zero. Memory: as much again as the pages at most,
   * 2 * nLayers * contextLength * dModel floats (8 MiB for d256, L4, context 1024).
   */
  readonly headKeys: (tf.Tensor2D | null)[];
  readonly headValues: (tf.Tensor2D | null)[];
  private headRowsCap = 0;
  /** Per layer, per page: keys (P, dModel), rows are words. */
  readonly keyPages: tf.Tensor2D[][];
  /** Per layer, per page: values transposed (dModel, P), columns are words. */
  readonly valuePages: tf.Tensor2D[][];

  constructor(
    shape: CacheShape,
    readonly dModel: number,
    readonly nHeads = 1,
  ) {
    super(shape);
    this.headKeys = Array.from({ length: shape.nLayers }, () => null);
    this.headValues = Array.from({ length: shape.nLayers }, () => null);
    this.pageWords = Math.min(PAGE_WORDS, shape.contextLength);
    this.keyPages = Array.from({ length: shape.nLayers }, () => []);
    this.valuePages = Array.from({ length: shape.nLayers }, () => []);
  }

  private get backend(): Wasm {
    return tf.backend() as Wasm;
  }

  /** Rows per head in headKeys / headValues. */
  get headRows(): number {
    return this.headRowsCap;
  }

  /** Makes sure pages exist for `n` words (new pages are zeroed). */
  reserve(n: number): void {
    const need = Math.ceil(n / this.pageWords);
    const d = this.dModel;
    if (n > this.headRowsCap) this.growHeads(n);
    for (let l = 0; l < this.shape.nLayers; l++) {
      while (this.keyPages[l].length < need) {
        this.keyPages[l].push(tf.zeros([this.pageWords, d]));
        this.valuePages[l].push(tf.zeros([d, this.pageWords]));
      }
    }
  }

  /** Regrows the by-head layout to hold at least `n` words a head, keeping what it holds. */
  private growHeads(n: number): void {
    const cap = Math.max(n, Math.min(this.shape.contextLength, 2 ** Math.ceil(Math.log2(Math.max(n, 64)))));
    const H = this.nHeads;
    const dh = this.dModel / H;
    const old = this.headRowsCap;
    const b = this.backend;
    const d = this.dModel;
    for (let l = 0; l < this.shape.nLayers; l++) {
      const keys = tf.zeros([H * cap, dh]) as tf.Tensor2D;
      const values = tf.zeros([d, cap]) as tf.Tensor2D;
      const pk = this.headKeys[l];
      const pv = this.headValues[l];
      if (pk && pv) {
        let src = b.typedArrayFromHeap(pk) as Float32Array;
        let dst = b.typedArrayFromHeap(keys) as Float32Array;
        for (let h = 0; h < H; h++) dst.set(src.subarray(h * old * dh, (h + 1) * old * dh), h * cap * dh);
        src = b.typedArrayFromHeap(pv) as Float32Array;
        dst = b.typedArrayFromHeap(values) as Float32Array;
        for (let j = 0; j < d; j++) dst.set(src.subarray(j * old, (j + 1) * old), j * cap);
        pk.dispose();
        pv.dispose();
      }
      this.headKeys[l] = keys;
      this.headValues[l] = values;
    }
    this.headRowsCap = cap;
  }

  /**
   * Writes `count` words' keys and values, each (count, dModel) row-major, at word `at`
   * of layer `l`. Pages must be reserved.
   */
  write(l: number, at: number, keys: Float32Array, values: Float32Array, count: number): void {
    const P = this.pageWords;
    const d = this.dModel;
    const b = this.backend;
    for (let t = 0; t < count; t++) {
      const w = at + t;
      const p = Math.floor(w / P);
      const c = w % P;
      const kp = b.typedArrayFromHeap(this.keyPages[l][p]) as Float32Array;
      kp.set(keys.subarray(t * d, (t + 1) * d), c * d);
      const vp = b.typedArrayFromHeap(this.valuePages[l][p]) as Float32Array;
      for (let j = 0, o = t * d; j < d; j++) vp[j * P + c] = values[o + j];
    }
    const H = this.nHeads;
    const dh = d / H;
    const R = this.headRowsCap;
    const hk = b.typedArrayFromHeap(this.headKeys[l]!) as Float32Array;
    const hv = b.typedArrayFromHeap(this.headValues[l]!) as Float32Array;
    for (let h = 0; h < H; h++) {
      for (let t = 0; t < count; t++) {
        const o = t * d + h * dh;
        hk.set(keys.subarray(o, o + dh), (h * R + at + t) * dh);
      }
    }
    for (let t = 0; t < count; t++) for (let j = 0, o = t * d, w = at + t; j < d; j++, w += R) hv[w] = values[o + j];
  }

  /** Reads `count` words from word `from` of layer `l`: keys and values, each (count, dModel). */
  read(l: number, from: number, count: number): { keys: Float32Array; values: Float32Array } {
    const P = this.pageWords;
    const d = this.dModel;
    const b = this.backend;
    const keys = new Float32Array(count * d);
    const values = new Float32Array(count * d);
    for (let t = 0; t < count; t++) {
      const w = from + t;
      const p = Math.floor(w / P);
      const c = w % P;
      const kp = b.typedArrayFromHeap(this.keyPages[l][p]) as Float32Array;
      keys.set(kp.subarray(c * d, (c + 1) * d), t * d);
      const vp = b.typedArrayFromHeap(this.valuePages[l][p]) as Float32Array;
      for (let j = 0, o = t * d; j < d; j++) values[o + j] = vp[j * P + c];
    }
    return { keys, values };
  }

  /** Zeroes the value columns from word `n` to the end of its page (see the file comment). */
  private zeroTail(n: number): void {
    const P = this.pageWords;
    const c = n % P;
    const p = Math.floor(n / P);
    if (c === 0) return; // a fresh page is zeroed when its first word is written
    for (let l = 0; l < this.shape.nLayers; l++) {
      const vp = this.backend.typedArrayFromHeap(this.valuePages[l][p]) as Float32Array;
      for (let j = 0; j < this.dModel; j++) vp.fill(0, j * P + c, (j + 1) * P);
    }
  }

  /** Called by the decode step before it writes word `w`: the first word of a page zeroes it. */
  startWord(w: number): void {
    this.reserve(w + 1);
    if (w % this.pageWords !== 0) return;
    const p = w / this.pageWords;
    for (let l = 0; l < this.shape.nLayers; l++) (this.backend.typedArrayFromHeap(this.valuePages[l][p]) as Float32Array).fill(0);
  }

  /**
   * Called by a batched prime before it writes words n..n+T-1: every column past them in the
   * last page is zeroed here, the rest of those pages is overwritten by the block.
   */
  startBlock(n: number, T: number): void {
    this.reserve(n + T);
    this.zeroTail(n + T);
  }

  /**
   * The layer as two tensors, keys (n, dModel) and values transposed (dModel, n), for a batched
   * prime. Kernels join the pages (memory copies in wasm): a word-by-word JS copy with the
   * transpose cost a 900-word cache ~10 ms a prime.
   */
  layer(l: number): LayerKV {
    const n = this.length;
    if (n === 0) return { keys: null, values: null };
    const pages = Math.ceil(n / this.pageWords);
    return tf.tidy(() => {
      const kp = this.keyPages[l].slice(0, pages);
      const vp = this.valuePages[l].slice(0, pages);
      const K = kp.length === 1 ? kp[0] : tf.concat(kp, 0);
      const V = vp.length === 1 ? vp[0] : tf.concat(vp, 1);
      // Copies, never views: the pages are written in place by later steps.
      return { keys: tf.slice(K, [0, 0], [n, this.dModel]).clone(), values: tf.slice(V, [0, 0], [this.dModel, n]).clone() };
    });
  }

  append(keys: tf.Tensor2D[], values: tf.Tensor2D[], words: readonly Word[]): void {
    const n = this.length;
    const T = words.length;
    this.reserve(n + T);
    for (let l = 0; l < this.shape.nLayers; l++) {
      this.write(l, n, keys[l].dataSync() as Float32Array, values[l].dataSync() as Float32Array, T);
    }
    this.zeroTail(n + T);
    this.words = [...this.words, ...words];
  }

  protected dropRange(from: number, count: number): void {
    const n = this.length;
    const rest = n - from - count;
    for (let l = 0; l < this.shape.nLayers; l++) {
      const { keys, values } = this.read(l, from + count, rest);
      this.write(l, from, keys, values, rest);
    }
    this.zeroTail(n - count);
  }

  protected keepFirst(n: number): void {
    this.zeroTail(n);
  }

  protected load(keys: (tf.Tensor2D | null)[], values: (tf.Tensor2D | null)[]): void {
    // Straight from the snapshot's heap memory, page by page: a restore allocates nothing in
    // JS, so it leaves no garbage for the next steps to collect.
    const n = keys[0]?.shape[0] ?? 0;
    const { pageWords: P, dModel: d, backend: b } = this;
    this.reserve(n);
    for (let l = 0; l < this.shape.nLayers && n > 0; l++) {
      for (let p = 0; p * P < n; p++) {
        const w = Math.min(P, n - p * P);
        const k = b.typedArrayFromHeap(keys[l]!) as Float32Array; // (n, d)
        (b.typedArrayFromHeap(this.keyPages[l][p]) as Float32Array).set(k.subarray(p * P * d, (p * P + w) * d));
        const v = b.typedArrayFromHeap(values[l]!) as Float32Array; // (d, n)
        const vp = b.typedArrayFromHeap(this.valuePages[l][p]) as Float32Array; // (d, P)
        for (let j = 0; j < d; j++) vp.set(v.subarray(j * n + p * P, j * n + p * P + w), j * P);
      }
      // And by head (see headKeys).
      const H = this.nHeads;
      const dh = d / H;
      const R = this.headRowsCap;
      const k = b.typedArrayFromHeap(keys[l]!) as Float32Array;
      const v = b.typedArrayFromHeap(values[l]!) as Float32Array;
      const hk = b.typedArrayFromHeap(this.headKeys[l]!) as Float32Array;
      const hv = b.typedArrayFromHeap(this.headValues[l]!) as Float32Array;
      for (let h = 0; h < H; h++) {
        for (let w = 0; w < n; w++) hk.set(k.subarray(w * d + h * dh, w * d + (h + 1) * dh), (h * R + w) * dh);
      }
      for (let j = 0; j < d; j++) hv.set(v.subarray(j * n, (j + 1) * n), j * R);
    }
    this.zeroTail(n);
  }

  protected freeAll(): void {
    for (const t of [...this.keyPages.flat(), ...this.valuePages.flat()]) t.dispose();
    for (const pages of [...this.keyPages, ...this.valuePages]) pages.length = 0;
    for (const store of [this.headKeys, this.headValues]) {
      for (let l = 0; l < store.length; l++) store[l]?.dispose();
      store.fill(null);
    }
    this.headRowsCap = 0;
  }
}
