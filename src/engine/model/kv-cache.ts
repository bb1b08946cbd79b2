// One session's attention memory. A cache owns its tensors and frees them in dispose().
// Two layouts share one contract: TensorKVCache (here) keeps one tensor per layer and works
// on every backend; PagedKVCache (paged-kv-cache.ts) writes into preallocated wasm buffers.
import * as tf from '@tensorflow/tfjs';
import { AntiphonError } from '../../errors.ts';
import type { Word } from '../vocab.ts';
import { FIRST_STEP, wordSteps } from './meter.ts';

export interface CacheShape {
  nLayers: number;
  contextLength: number;
  nKeep: number;
}

/** A frozen copy of a cache. It owns its tensors (clones or copies), so dispose it. */
export class KVSnapshot {
  constructor(
    readonly keys: (tf.Tensor2D | null)[], // per layer (n, dModel)
    readonly values: (tf.Tensor2D | null)[], // per layer (dModel, n): transposed
    readonly words: readonly Word[],
    readonly steps: readonly number[],
    readonly slides: number,
    readonly owner: CacheShape,
  ) {}

  private freed = false;
  dispose(): void {
    if (this.freed) return;
    this.freed = true;
    for (const t of [...this.keys, ...this.values]) t?.dispose();
  }
  get disposed(): boolean {
    return this.freed;
  }
}

/** A layer's cached keys (n, dModel) and transposed values (dModel, n); null while empty. */
export interface LayerKV {
  keys: tf.Tensor2D | null;
  values: tf.Tensor2D | null;
}

export abstract class KVCache {
  /** The words whose keys and values are cached, oldest first. Add to it with addWords. */
  words: Word[] = [];
  /** Each cached word's grid step (meter.ts), counted from the first word the cache took. */
  steps: number[] = [];
  /** How many times the window has slid. */
  slides = 0;
  protected freed = false;

  constructor(readonly shape: CacheShape) {}

  get length(): number {
    return this.words.length;
  }

  /** The newest word's step: where the next word's step is counted from. */
  get lastStep(): number {
    return this.steps.length ? this.steps[this.steps.length - 1] : FIRST_STEP;
  }

  /** Records words whose keys and values the caller has just written. */
  addWords(words: readonly Word[]): void {
    wordSteps(words, this.lastStep, this.steps);
    for (const w of words) this.words.push(w);
  }
  get disposed(): boolean {
    return this.freed;
  }

  assertLive(): void {
    if (this.freed) throw new AntiphonError('E_INTERNAL', 'this KV cache was disposed');
  }

  /**
   * Layer `l` as tensors. Call inside tf.tidy: a layout that has to assemble them makes
   * new tensors, which the tidy frees; the plain layout returns its own.
   */
  abstract layer(l: number): LayerKV;

  /** Appends a chunk's keys and values, each (T, dModel) per layer, and its words. */
  abstract append(keys: tf.Tensor2D[], values: tf.Tensor2D[], words: readonly Word[]): void;

  /** Copies of every layer's (keys, values) as nested arrays, for tests and debugging. */
  arrays(l: number): { keys: number[][]; values: number[][] } {
    return tf.tidy(() => {
      const { keys, values } = this.layer(l);
      return { keys: keys ? keys.arraySync() : [], values: values ? values.arraySync() : [] };
    });
  }

  /** Forgets the words at [from, from + count): rows of keys, columns of values. */
  protected abstract dropRange(from: number, count: number): void;
  /** Forgets the newest words, keeping the first `n`. */
  protected abstract keepFirst(n: number): void;
  /** Replaces the contents with a snapshot's tensors. */
  protected abstract load(keys: (tf.Tensor2D | null)[], values: (tf.Tensor2D | null)[]): void;
  protected abstract freeAll(): void;

  /**
   * Makes room for one more word when the window is full: keeps the nKeep oldest words
   * and the newer half of the rest, as llama.cpp's context shift does. Halving (rather
   * than dropping one word per step) makes a slide rare: its copy costs one step's worth
   * of work every (C - nKeep) / 2 words. Kept rows are copied bit for bit; with ALiBi
   * they carry no position, so nothing is re-encoded.
   */
  slide(): void {
    this.assertLive();
    const keep = this.shape.nKeep;
    const drop = Math.floor((this.length - keep) / 2);
    if (drop <= 0) return;
    this.dropRange(keep, drop);
    this.words = [...this.words.slice(0, keep), ...this.words.slice(keep + drop)];
    this.steps = [...this.steps.slice(0, keep), ...this.steps.slice(keep + drop)];
    this.slides++;
  }

  /**
   * Forgets the newest words, keeping the first `n` (an answer cut short by a barge-in drops
   * the words it had generated ahead of the clock).
   */
  truncate(n: number): void {
    this.assertLive();
    if (!Number.isInteger(n) || n < 0 || n > this.length) throw new AntiphonError('E_INTERNAL', `cannot truncate a cache of ${this.length} words to ${n}`);
    if (n === this.length) return;
    this.keepFirst(n);
    this.words = this.words.slice(0, n);
    this.steps = this.steps.slice(0, n);
  }

  snapshot(): KVSnapshot {
    this.assertLive();
    const keys: (tf.Tensor2D | null)[] = [];
    const values: (tf.Tensor2D | null)[] = [];
    for (let l = 0; l < this.shape.nLayers; l++) {
      // clone() of a plain layer shares its data; a wasm layer is assembled afresh.
      const kv = tf.tidy(() => {
        const { keys: k, values: v } = this.layer(l);
        return [k ? tf.clone(k) : null, v ? tf.clone(v) : null].filter((t) => t) as tf.Tensor2D[];
      });
      keys.push(kv[0] ?? null);
      values.push(kv[1] ?? null);
    }
    return new KVSnapshot(keys, values, this.words.slice(), this.steps.slice(), this.slides, this.shape);
  }

  /** Returns the cache to a snapshot's state. The snapshot stays valid and can be restored again. */
  restore(s: KVSnapshot): void {
    this.assertLive();
    if (s.disposed) throw new AntiphonError('E_INTERNAL', 'cannot restore a disposed KV snapshot');
    if (s.owner.nLayers !== this.shape.nLayers || s.owner.contextLength !== this.shape.contextLength) {
      throw new AntiphonError('E_INTERNAL', 'this snapshot was taken from a cache of another model');
    }
    this.load(s.keys, s.values);
    this.words = s.words.slice();
    this.steps = s.steps.slice();
    this.slides = s.slides;
  }

  /** Forgets every word (a new piece) without freeing the cache object. */
  clear(): void {
    this.assertLive();
    this.keepFirst(0);
    this.words = [];
    this.steps = [];
  }

  dispose(): void {
    if (this.freed) return;
    this.freeAll();
    this.words = [];
    this.steps = [];
    this.freed = true;
  }
}

/** One tensor per layer, replaced (by concat) on every append: works on every backend. */
export class TensorKVCache extends KVCache {
  /** Per layer (n, dModel); null while empty. */
  keys: (tf.Tensor2D | null)[];
  /**
   * Per layer (dModel, n), transposed, so that attention can keep the big operand on the
   * left of its matMul (see CPTransformer.attendOne); null while empty.
   */
  values: (tf.Tensor2D | null)[];

  constructor(shape: CacheShape) {
    super(shape);
    this.keys = new Array(shape.nLayers).fill(null);
    this.values = new Array(shape.nLayers).fill(null);
  }

  layer(l: number): LayerKV {
    return { keys: this.keys[l], values: this.values[l] };
  }

  /** Installs new layer tensors (already kept by the caller) and frees the old ones; the caller records any new words. */
  commit(keys: (tf.Tensor2D | null)[], values: (tf.Tensor2D | null)[]): void {
    for (let l = 0; l < this.shape.nLayers; l++) {
      if (this.keys[l] !== keys[l]) this.keys[l]?.dispose();
      if (this.values[l] !== values[l]) this.values[l]?.dispose();
    }
    this.keys = keys;
    this.values = values;
  }

  append(keys: tf.Tensor2D[], values: tf.Tensor2D[], words: readonly Word[]): void {
    const joined = tf.tidy(() =>
      keys.map((k, l) => {
        const [K, V] = [this.keys[l], this.values[l]];
        const vT = tf.transpose(values[l]);
        return [K ? tf.concat([K, k], 0) : tf.clone(k), V ? tf.concat([V, vT], 1) : vT] as tf.Tensor2D[];
      }),
    );
    this.commit(
      joined.map((p) => p[0]),
      joined.map((p) => p[1]),
    );
    this.addWords(words);
  }

  protected dropRange(from: number, count: number): void {
    const n = this.length;
    // Words run along `axis`: rows of the keys, columns of the transposed values.
    const cut = (t: tf.Tensor2D | null, axis: 0 | 1): tf.Tensor2D | null => {
      if (!t) return t;
      const at = (start: number, size: number): tf.Tensor2D =>
        axis === 0 ? tf.slice(t, [start, 0], [size, t.shape[1]]) : tf.slice(t, [0, start], [t.shape[0], size]);
      return tf.tidy(() => {
        const tail = at(from + count, n - from - count);
        return from > 0 ? (tf.concat([at(0, from), tail], axis) as tf.Tensor2D) : tail;
      });
    };
    this.commit(this.keys.map((t) => cut(t, 0)), this.values.map((t) => cut(t, 1)));
  }

  protected keepFirst(n: number): void {
    const cut = (t: tf.Tensor2D | null, axis: 0 | 1): tf.Tensor2D | null => {
      if (!t || n === 0) return null;
      return axis === 0 ? tf.slice(t, [0, 0], [n, t.shape[1]]) : tf.slice(t, [0, 0], [t.shape[0], n]);
    };
    this.commit(this.keys.map((t) => cut(t, 0)), this.values.map((t) => cut(t, 1)));
  }

  protected load(keys: (tf.Tensor2D | null)[], values: (tf.Tensor2D | null)[]): void {
    const clone = (t: tf.Tensor2D | null) => (t ? tf.clone(t) : null);
    this.commit(keys.map(clone), values.map(clone));
  }

  protected freeAll(): void {
    for (const t of [...this.keys, ...this.values]) t?.dispose();
    this.keys = [];
    this.values = [];
  }
}
