// The wasm layout of the KV cache: per layer one key buffer and one value buffer, preallocated
// and written in place through the heap, so a decode step or a batched prime copies only its
// own words' keys and values instead of concatenating the whole cache (an O(context) copy per
// layer and word). Each is laid out so that one head's first S words are one contiguous block,
// which the attention products take as their left operand with no copy (wasm-attend.ts,
// WasmDecoder.step): one matMul per head and product, whatever the context.
//
// - Keys by head, (nHeads * rows, dh): head h's word w is row h * rows + w; a head's first S
//   keys are a contiguous (S, dh) block.
// - Values transposed, (dModel, rows): a head's values are the contiguous (dh, rows) block of
//   its dh rows. Transposed because the values stay the left operand (the wasm matMul packs its
//   right-hand operand on every new tensor id, which cost ~200 us for a (900, 64) block); a
//   prefix of columns is not contiguous, so attention multiplies all `rows` columns by
//   probabilities that are exactly zero past the last word. Columns past the cache's length
//   hold zeros or stale values (always finite), never NaN.
//
// `rows` grows (64, 128, 256, then by 256) up to the context length, copying what is held,
// and narrows again after a slide. Memory: 2 * nLayers * rows * dModel floats, at most
// 8 MiB for d256, L4, context 1024 (what the pages of 256 words took).
// (The name is from its first layout, fixed pages of 256 words: a prime then made one matMul
// call per page and head and transposed every key page, ~30 calls a layer against 8.)
import * as tf from '@tensorflow/tfjs';
import type { Wasm } from '../kernels/wasm-heap.ts';
import type { Word } from '../vocab.ts';
import { KVCache, type CacheShape, type LayerKV } from './kv-cache.ts';

/** The smallest buffer, in words a head. */
const MIN_ROWS = 64;

export class PagedKVCache extends KVCache {
  /** Per layer: keys by head, (nHeads * headRows, dh); null before the first word. */
  readonly headKeys: (tf.Tensor2D | null)[];
  /** Per layer: values transposed, (dModel, headRows); null before the first word. */
  readonly headValues: (tf.Tensor2D | null)[];
  private rows = 0;

  constructor(
    shape: CacheShape,
    readonly dModel: number,
    readonly nHeads = 1,
  ) {
    super(shape);
    this.headKeys = Array.from({ length: shape.nLayers }, () => null);
    this.headValues = Array.from({ length: shape.nLayers }, () => null);
  }

  private get backend(): Wasm {
    return tf.backend() as Wasm;
  }

  /** Words a head the buffers hold (their row stride). */
  get headRows(): number {
    return this.rows;
  }

  /**
   * The buffer width for `n` words: powers of two up to 256, then multiples of 256, at most
   * the context length. The value products run over the whole width, so it is kept within 255
   * words of the length (doubling alone left 1024 columns for ~520 words after a slide, and
   * prime and step at context 500 were slower than on the old pages).
   */
  private widthFor(n: number): number {
    const w = n <= 256 ? 2 ** Math.ceil(Math.log2(Math.max(n, MIN_ROWS))) : Math.ceil(n / 256) * 256;
    return Math.max(n, Math.min(this.shape.contextLength, w));
  }

  /** Makes sure the buffers hold `n` words, growing them (with what they hold) if not. */
  reserve(n: number): void {
    if (n > this.rows) this.resize(this.widthFor(n));
  }

  /** New buffers `cap` words a head wide, holding the first min(cap, old) words of the old. */
  private resize(cap: number): void {
    const H = this.nHeads;
    const d = this.dModel;
    const dh = d / H;
    const old = this.rows;
    const keep = Math.min(old, cap);
    const b = this.backend;
    for (let l = 0; l < this.shape.nLayers; l++) {
      const keys = tf.zeros([H * cap, dh]) as tf.Tensor2D;
      const values = tf.zeros([d, cap]) as tf.Tensor2D;
      const pk = this.headKeys[l];
      const pv = this.headValues[l];
      if (pk && pv) {
        // Views after the allocations: a malloc may grow (and detach) the heap.
        let src = b.typedArrayFromHeap(pk) as Float32Array;
        let dst = b.typedArrayFromHeap(keys) as Float32Array;
        for (let h = 0; h < H; h++) dst.set(src.subarray(h * old * dh, (h * old + keep) * dh), h * cap * dh);
        src = b.typedArrayFromHeap(pv) as Float32Array;
        dst = b.typedArrayFromHeap(values) as Float32Array;
        for (let j = 0; j < d; j++) dst.set(src.subarray(j * old, j * old + keep), j * cap);
        pk.dispose();
        pv.dispose();
      }
      this.headKeys[l] = keys;
      this.headValues[l] = values;
    }
    this.rows = cap;
  }

  /**
   * Writes `count` words' keys and values, each (count, dModel) row-major, at word `at`
   * of layer `l`. The buffers must be reserved.
   */
  write(l: number, at: number, keys: Float32Array, values: Float32Array, count: number): void {
    const d = this.dModel;
    const H = this.nHeads;
    const dh = d / H;
    const R = this.rows;
    const b = this.backend;
    const hk = b.typedArrayFromHeap(this.headKeys[l]!) as Float32Array;
    const hv = b.typedArrayFromHeap(this.headValues[l]!) as Float32Array;
    for (let t = 0; t < count; t++) {
      for (let h = 0, o = t * d; h < H; h++, o += dh) hk.set(keys.subarray(o, o + dh), (h * R + at + t) * dh);
      for (let j = 0, o = t * d, w = at + t; j < d; j++, w += R) hv[w] = values[o + j];
    }
  }

  /** Reads `count` words from word `from` of layer `l`: keys and values, each (count, dModel). */
  read(l: number, from: number, count: number): { keys: Float32Array; values: Float32Array } {
    const d = this.dModel;
    const H = this.nHeads;
    const dh = d / H;
    const R = this.rows;
    const b = this.backend;
    const keys = new Float32Array(count * d);
    const values = new Float32Array(count * d);
    const hk = b.typedArrayFromHeap(this.headKeys[l]!) as Float32Array;
    const hv = b.typedArrayFromHeap(this.headValues[l]!) as Float32Array;
    for (let t = 0; t < count; t++) {
      for (let h = 0, o = t * d; h < H; h++, o += dh) keys.set(hk.subarray((h * R + from + t) * dh, (h * R + from + t + 1) * dh), o);
      for (let j = 0, o = t * d, w = from + t; j < d; j++, w += R) values[o + j] = hv[w];
    }
    return { keys, values };
  }

  /** Called by the decode step before it writes word `w`. */
  startWord(w: number): void {
    this.reserve(w + 1);
  }

  /** Called by a batched prime before it writes words n..n+T-1. */
  startBlock(n: number, T: number): void {
    this.reserve(n + T);
  }

  /** The layer as two new tensors, keys (n, dModel) and values transposed (dModel, n). */
  layer(l: number): LayerKV {
    const n = this.length;
    if (n === 0) return { keys: null, values: null };
    const { nHeads: H, dModel: d, rows: R } = this;
    return tf.tidy(() => {
      // Copies, never views: the buffers are written in place by later steps (slices copy).
      const byHead = tf.slice(tf.reshape(this.headKeys[l]!, [H, R, d / H]), [0, 0, 0], [H, n, d / H]);
      const keys = tf.reshape(tf.transpose(byHead, [1, 0, 2]), [n, d]) as tf.Tensor2D;
      const values = tf.slice(this.headValues[l]!, [0, 0], [d, n]);
      return { keys, values };
    });
  }

  append(keys: tf.Tensor2D[], values: tf.Tensor2D[], words: readonly Word[]): void {
    const n = this.length;
    const T = words.length;
    this.reserve(n + T);
    for (let l = 0; l < this.shape.nLayers; l++) {
      this.write(l, n, keys[l].dataSync() as Float32Array, values[l].dataSync() as Float32Array, T);
    }
    this.addWords(words);
  }

  protected dropRange(from: number, count: number): void {
    const rest = this.length - from - count;
    for (let l = 0; l < this.shape.nLayers; l++) {
      const { keys, values } = this.read(l, from + count, rest);
      this.write(l, from, keys, values, rest);
    }
    // A slide halves the words: narrow the buffers to match (see widthFor).
    const w = this.widthFor(this.length - count);
    if (w < this.rows) this.resize(w);
  }

  protected keepFirst(): void {
    // Nothing to clear: words past the length are never attended (see the file comment).
  }

  protected load(keys: (tf.Tensor2D | null)[], values: (tf.Tensor2D | null)[]): void {
    // Straight from the snapshot's heap memory: a restore allocates nothing in JS (unless the
    // buffers grow), so it leaves no garbage for the next steps to collect.
    const n = keys[0]?.shape[0] ?? 0;
    if (n === 0) return;
    this.reserve(n);
    const { dModel: d, nHeads: H, rows: R, backend: b } = this;
    const dh = d / H;
    for (let l = 0; l < this.shape.nLayers; l++) {
      const k = b.typedArrayFromHeap(keys[l]!) as Float32Array; // (n, d)
      const v = b.typedArrayFromHeap(values[l]!) as Float32Array; // (d, n)
      const hk = b.typedArrayFromHeap(this.headKeys[l]!) as Float32Array;
      const hv = b.typedArrayFromHeap(this.headValues[l]!) as Float32Array;
      for (let h = 0; h < H; h++) for (let w = 0; w < n; w++) hk.set(k.subarray(w * d + h * dh, w * d + (h + 1) * dh), (h * R + w) * dh);
      for (let j = 0; j < d; j++) hv.set(v.subarray(j * n, (j + 1) * n), j * R);
    }
  }

  protected freeAll(): void {
    for (const store of [this.headKeys, this.headValues]) {
      for (const t of store) t?.dispose();
      store.fill(null);
    }
    this.rows = 0;
  }
}
