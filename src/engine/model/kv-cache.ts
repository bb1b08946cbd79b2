// One session's attention memory. The cache owns its tensors: every replaced layer
// tensor is disposed when the new one is committed, and dispose() frees the rest.
import * as tf from '@tensorflow/tfjs';
import { AntiphonError } from '../../errors.ts';
import type { Word } from '../vocab.ts';

export interface CacheShape {
  nLayers: number;
  contextLength: number;
  nKeep: number;
}

/** A frozen copy of a cache. It owns clones (shared data, own refcount), so dispose it. */
export class KVSnapshot {
  constructor(
    readonly keys: (tf.Tensor2D | null)[], // per layer (n, dModel)
    readonly values: (tf.Tensor2D | null)[], // per layer (dModel, n): transposed
    readonly words: readonly Word[],
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

export class KVCache {
  /** Per layer (n, dModel); null while empty. */
  keys: (tf.Tensor2D | null)[];
  /**
   * Per layer (dModel, n), transposed, so that attention can keep the big operand on the
   * left of its matMul (see CPTransformer.attendOne); null while empty.
   */
  values: (tf.Tensor2D | null)[];
  /** The words whose keys and values are cached, oldest first. */
  words: Word[] = [];
  /** How many times the window has slid. */
  slides = 0;
  private freed = false;

  constructor(readonly shape: CacheShape) {
    this.keys = new Array(shape.nLayers).fill(null);
    this.values = new Array(shape.nLayers).fill(null);
  }

  get length(): number {
    return this.words.length;
  }
  get disposed(): boolean {
    return this.freed;
  }

  assertLive(): void {
    if (this.freed) throw new AntiphonError('E_INTERNAL', 'this KV cache was disposed');
  }

  /** Installs new layer tensors (already kept by the caller) and frees the old ones. */
  commit(keys: (tf.Tensor2D | null)[], values: (tf.Tensor2D | null)[], words: readonly Word[]): void {
    for (let l = 0; l < this.shape.nLayers; l++) {
      if (this.keys[l] !== keys[l]) this.keys[l]?.dispose();
      if (this.values[l] !== values[l]) this.values[l]?.dispose();
    }
    this.keys = keys;
    this.values = values;
    this.words = words.slice();
  }

  /**
   * Makes room for one more word when the window is full: keeps the nKeep oldest words
   * and the newer half of the rest, as llama.cpp's context shift does. Halving (rather
   * than dropping one word per step) makes a slide rare: its copy costs one step's worth
   * of work every (C - nKeep) / 2 words. Kept rows are copied bit for bit; with ALiBi
   * they carry no position, so nothing is re-encoded.
   */
  slide(): void {
    this.assertLive();
    const n = this.length;
    const keep = this.shape.nKeep;
    const drop = Math.floor((n - keep) / 2);
    if (drop <= 0) return;
    // Words run along `axis`: rows of the keys, columns of the transposed values.
    const cut = (t: tf.Tensor2D | null, axis: 0 | 1): tf.Tensor2D | null => {
      if (!t) return t;
      const at = (from: number, size: number): tf.Tensor2D =>
        axis === 0 ? tf.slice(t, [from, 0], [size, t.shape[1]]) : tf.slice(t, [0, from], [t.shape[0], size]);
      return tf.tidy(() => {
        const tail = at(keep + drop, n - keep - drop);
        return keep > 0 ? (tf.concat([at(0, keep), tail], axis) as tf.Tensor2D) : tail;
      });
    };
    const keys = this.keys.map((t) => cut(t, 0));
    const values = this.values.map((t) => cut(t, 1));
    this.commit(keys, values, [...this.words.slice(0, keep), ...this.words.slice(keep + drop)]);
    this.slides++;
  }

  /**
   * Forgets the newest words, keeping the first `n` (an answer cut short by a barge-in drops
   * the words it had generated ahead of the clock). Costs one slice per layer.
   */
  truncate(n: number): void {
    this.assertLive();
    if (!Number.isInteger(n) || n < 0 || n > this.length) throw new AntiphonError('E_INTERNAL', `cannot truncate a cache of ${this.length} words to ${n}`);
    if (n === this.length) return;
    const cut = (t: tf.Tensor2D | null, axis: 0 | 1): tf.Tensor2D | null => {
      if (!t || n === 0) return null;
      return axis === 0 ? tf.slice(t, [0, 0], [n, t.shape[1]]) : tf.slice(t, [0, 0], [t.shape[0], n]);
    };
    this.commit(this.keys.map((t) => cut(t, 0)), this.values.map((t) => cut(t, 1)), this.words.slice(0, n));
  }

  snapshot(): KVSnapshot {
    this.assertLive();
    return new KVSnapshot(
      this.keys.map((t) => (t ? tf.clone(t) : null)),
      this.values.map((t) => (t ? tf.clone(t) : null)),
      this.words.slice(),
      this.slides,
      this.shape,
    );
  }

  /** Returns the cache to a snapshot's state. The snapshot stays valid and can be restored again. */
  restore(s: KVSnapshot): void {
    this.assertLive();
    if (s.disposed) throw new AntiphonError('E_INTERNAL', 'cannot restore a disposed KV snapshot');
    if (s.owner.nLayers !== this.shape.nLayers || s.owner.contextLength !== this.shape.contextLength) {
      throw new AntiphonError('E_INTERNAL', 'this snapshot was taken from a cache of another model');
    }
    const keys = s.keys.map((t) => (t ? tf.clone(t) : null)) as tf.Tensor2D[];
    const values = s.values.map((t) => (t ? tf.clone(t) : null)) as tf.Tensor2D[];
    this.commit(keys, values, s.words);
    this.slides = s.slides;
  }

  /** Forgets every word (a new piece) without freeing the cache object. */
  clear(): void {
    this.assertLive();
    this.commit(new Array(this.shape.nLayers).fill(null), new Array(this.shape.nLayers).fill(null), []);
  }

  dispose(): void {
    if (this.freed) return;
    for (const t of [...this.keys, ...this.values]) t?.dispose();
    this.keys = [];
    this.values = [];
    this.words = [];
    this.freed = true;
  }
}
