// One decode step on the wasm backend, as direct calls into the backend's matMul kernel
// with the small vector work (layer norm, residuals, softmax, ALiBi) done in JS.
//
// Why: the plain step (CPTransformer.step on TensorKVCache) runs ~210 tfjs kernels, and
// each costs 4-5 us of engine bookkeeping (scopes, tensor tracking, op wrappers) on top of
// its arithmetic; at context 64 that overhead was most of the step. Here a step is ~30-70
// kernel calls with no engine in between, and the KV cache is written in place
// (PagedKVCache) rather than concatenated. It computes the same function as the plain
// step: test/engine-decode.test.ts checks both against each other and a full recompute.
// Attention reads the cache's per-head buffers in place (paged-kv-cache.ts) through the gemv
// kernel (kernels/gemv.wat): per layer and head, one product for the scores and one for the
// values. As XNNPACK matMuls with one or four output columns they took 1.0 of a 1.8 ms step at
// context 512 (a GEMM computes whole column tiles); with the kernel the step took 0.94 ms.
import * as tf from '@tensorflow/tfjs';
import type { TensorInfo } from '@tensorflow/tfjs-core';
import { callOriginal } from '../kernels/original.ts';
import { gemvFor, type Gemv } from '../kernels/gemv.ts';
import { free, heapF32, type Wasm } from '../kernels/wasm-heap.ts';
import { alibiBlockData, alibiSlopes } from './alibi.ts';
import { addMeterBlock, meterDecodeBias, type MeterTable } from './meter.ts';
import type { ModelConfig } from './config.ts';
import type { InferenceWeights } from './inference-weights.ts';
import type { PagedKVCache } from './paged-kv-cache.ts';
import { attendBlock } from './wasm-attend.ts';
import type { WeightMap } from './weights.ts';

/** The weights a step reads, resolved once per InferenceWeights. */
export interface DecodeWeights {
  iw: InferenceWeights;
  attnOut: { w: tf.Tensor; b: tf.Tensor }[];
  ff2: { w: tf.Tensor; b: tf.Tensor }[];
  families: { w: tf.Tensor; b: tf.Tensor };
}

export function decodeWeights(iw: InferenceWeights, weights: WeightMap, nLayers: number): DecodeWeights {
  const lin = (w: string, b: string) => ({ w: weights[w], b: weights[b] });
  return {
    iw,
    attnOut: Array.from({ length: nLayers }, (_, l) => lin(`block${l}.attn.out.w`, `block${l}.attn.out.b`)),
    ff2: Array.from({ length: nLayers }, (_, l) => lin(`block${l}.ff.w2`, `block${l}.ff.b2`)),
    families: lin('head.families.w', 'head.families.b'),
  };
}

export class WasmDecoder {
  private readonly slopes: Float32Array;
  private readonly d: number;
  private readonly H: number;
  private readonly dh: number;

  constructor(private readonly config: ModelConfig) {
    this.d = config.dModel;
    this.H = config.nHeads;
    this.dh = this.d / this.H;
    this.slopes = alibiSlopes(this.H, config.meter?.heads ?? 0);
  }

  private get backend(): Wasm {
    return tf.backend() as Wasm;
  }

  private get gemv(): Gemv {
    return gemvFor(this.backend);
  }

  /** A new (rows, cols) float tensor holding `data`. */
  private upload(data: Float32Array, rows: number, cols: number): TensorInfo {
    const b = this.backend;
    const t = b.makeOutput([1, rows, cols], 'float32');
    (b.typedArrayFromHeap(t) as Float32Array).set(data);
    return t;
  }

  /** a (1, M, K) @ w (K, N) [+ bias] [relu] -> a new (1, M, N) tensor. */
  private matMul(a: TensorInfo, w: TensorInfo, bias?: TensorInfo, relu = false): TensorInfo {
    const [K, N] = w.shape.slice(-2);
    return callOriginal(
      '_FusedMatMul',
      this.backend,
      { a, b: { dataId: w.dataId, shape: [1, K, N], dtype: 'float32' }, bias },
      { transposeA: false, transposeB: false, activation: relu ? 'relu' : 'linear' },
    );
  }

  /** Reads a tensor into `into` (or a new array) and frees it. */
  private take(t: TensorInfo, into?: Float32Array): Float32Array {
    const v = this.backend.typedArrayFromHeap(t) as Float32Array;
    const out = into ?? new Float32Array(v.length);
    out.set(v);
    free(this.backend, t);
    return out;
  }

  /** Zero mean, unit variance, as CPTransformer.normalize (float32 rounding of each stage). */
  private normalize(x: Float32Array, out: Float32Array): Float32Array {
    const d = x.length;
    let s = 0;
    for (let j = 0; j < d; j++) s += x[j];
    const mean = Math.fround(s / d);
    let v = 0;
    for (let j = 0; j < d; j++) {
      out[j] = x[j] - mean;
      v += Math.fround(out[j] * out[j]);
    }
    const r = Math.fround(1 / Math.sqrt(Math.fround(Math.fround(v / d) + this.config.lnEps)));
    for (let j = 0; j < d; j++) out[j] *= r;
    return out;
  }

  /** Residual rows += a @ W + b, through the backend; frees `a`. */
  private addLinear(x: Float32Array, a: TensorInfo, W: TensorInfo, bias: TensorInfo): void {
    const y = this.matMul(a, W, bias);
    free(this.backend, a);
    const v = this.backend.typedArrayFromHeap(y) as Float32Array;
    for (let j = 0; j < x.length; j++) x[j] += v[j];
    free(this.backend, y);
  }

  /**
   * Feeds `x0` (the word's input embedding, (dModel)) through every layer, writing its keys
   * and values at word `n` of `cache`; returns the flat logits as CPTransformer.headsForLast.
   */
  step(dw: DecodeWeights, cache: PagedKVCache, x0: Float32Array, n: number, meter: { q: number; prior: readonly number[] } | null): Float32Array {
    const { d, H, dh } = this;
    const b = this.backend;
    const iw = dw.iw;
    const S = n + 1; // words attended to, the new one included
    cache.startWord(n);
    const R = cache.headRows; // after startWord: it may grow the buffers
    const x = new Float32Array(x0);
    const h = new Float32Array(d);
    const scale = Math.fround(1 / Math.sqrt(dh)); // as the plain step's float32 head mask
    const bias = this.stepBias(S, meter && iw.meter ? this.meterBias(meter.q, meter.prior, iw.meter) : null);
    const gemv = this.gemv;
    for (let l = 0; l < this.config.nLayers; l++) {
      // Attention input and the new word's key and value.
      const hIn = this.upload(this.normalize(x, h), 1, d);
      const qkv = this.take(this.matMul(hIn, iw.qkv[l].w, iw.qkv[l].b));
      free(b, hIn);
      cache.write(l, n, qkv.subarray(d, 2 * d), qkv.subarray(2 * d), 1);
      // In the heap: each head's scores, then probabilities, R apart; then the scaled query.
      const scratch = b.makeOutput([H * R + dh], 'float32');
      const out = b.makeOutput([1, 1, d], 'float32'); // the heads' outputs, the next matMul's input
      const sp = b.getMemoryOffset(scratch.dataId);
      const qp = sp + H * R * 4;
      const kp = b.getMemoryOffset(cache.headKeys[l]!.dataId);
      const vp = b.getMemoryOffset(cache.headValues[l]!.dataId);
      const heap = heapF32(b); // after the mallocs: they may grow the heap
      for (let hd = 0; hd < H; hd++) {
        for (let j = 0, at = qp >> 2; j < dh; j++) heap[at + j] = Math.fround(qkv[hd * dh + j] * scale);
        // A head's keys are one contiguous (S, dh) block.
        gemv(kp + hd * R * dh * 4, dh, S, dh, qp, sp + hd * R * 4, 0);
      }
      const sums = this.expInPlace(heap, sp >> 2, R, S, bias);
      // A head's values are dh rows of the transposed (dModel, R) buffer; its weights, S of them,
      // are the softmax's numerators: the head's output is divided by their sum afterwards.
      const op = b.getMemoryOffset(out.dataId);
      for (let hd = 0; hd < H; hd++) gemv(vp + hd * dh * R * 4, R, dh, S, sp + hd * R * 4, op + hd * dh * 4, 0);
      const o = heapF32(b);
      for (let hd = 0; hd < H; hd++) for (let j = 0, at = (op >> 2) + hd * dh; j < dh; j++) o[at + j] /= sums[hd];
      free(b, scratch);
      this.addLinear(x, out, dw.attnOut[l].w, dw.attnOut[l].b);
      // Feed-forward, its hidden layer left in the heap.
      const h2 = this.upload(this.normalize(x, h), 1, d);
      const hidden = this.matMul(h2, iw.ff1[l].w, iw.ff1[l].b, true);
      free(b, h2);
      const y = this.matMul(hidden, dw.ff2[l].w, dw.ff2[l].b);
      free(b, hidden);
      const yv = b.typedArrayFromHeap(y) as Float32Array;
      for (let j = 0; j < d; j++) x[j] += yv[j];
      free(b, y);
    }
    return this.heads(dw, x, h);
  }

  /**
   * Feeds T words (`x0`, their input embeddings, (T, dModel)) through every layer at words
   * n..n+T-1 of `cache`, writing their keys and values in place (a batched prime); returns
   * the last word's logits as step() does, or null when not asked for them.
   */
  prime(dw: DecodeWeights, cache: PagedKVCache, x0: Float32Array, n: number, withLogits: boolean, steps: { q: number[]; k: number[] } | null): Float32Array | null {
    const { d } = this;
    const b = this.backend;
    const iw = dw.iw;
    const T = x0.length / d;
    const x = new Float32Array(x0);
    const h = new Float32Array(T * d);
    const keys = new Float32Array(T * d);
    const values = new Float32Array(T * d);
    const normRows = () => {
      for (let t = 0; t < T; t++) this.normalize(x.subarray(t * d, (t + 1) * d), h.subarray(t * d, (t + 1) * d));
      return this.upload(h, T, d);
    };
    cache.startBlock(n, T);
    const bias = alibiBlockData(this.H, T, cache.headRows, n, this.config.meter?.heads ?? 0);
    if (steps && iw.meter) addMeterBlock(bias, cache.headRows, this.H, steps.q, steps.k, n, iw.meter);
    for (let l = 0; l < this.config.nLayers; l++) {
      const hIn = normRows();
      const qkv = this.take(this.matMul(hIn, iw.qkv[l].w, iw.qkv[l].b)); // (T, 3d)
      free(b, hIn);
      for (let t = 0; t < T; t++) {
        keys.set(qkv.subarray(t * 3 * d + d, t * 3 * d + 2 * d), t * d);
        values.set(qkv.subarray(t * 3 * d + 2 * d, (t + 1) * 3 * d), t * d);
      }
      cache.write(l, n, keys, values, T);
      const attn = attendBlock(b, cache, l, qkv, n, T, this.slopes, bias);
      this.addLinear(x, this.upload(attn, T, d), dw.attnOut[l].w, dw.attnOut[l].b);
      const h2 = normRows();
      const hidden = this.matMul(h2, iw.ff1[l].w, iw.ff1[l].b, true);
      free(b, h2);
      this.addLinear(x, hidden, dw.ff2[l].w, dw.ff2[l].b);
    }
    return withLogits ? this.heads(dw, x.subarray((T - 1) * d), h.subarray(0, d)) : null;
  }

  private meterScratch = new Float32Array(0);

  /** The step's meter bias, (S, H), in a buffer kept between steps (no garbage per step). */
  private meterBias(q: number, prior: readonly number[], m: MeterTable): Float32Array {
    const need = (prior.length + 1) * this.H;
    if (this.meterScratch.length < need) this.meterScratch = new Float32Array(Math.max(need, 2 * this.meterScratch.length));
    return meterDecodeBias(q, prior, this.H, m, this.meterScratch);
  }

  /**
   * The step's attention bias for the S words, (H, S): ALiBi, plus the meter heads' bias
   * ((S, H), if any), each a float32 sum as the plain step adds them. The same for every layer.
   */
  private stepBias(S: number, meterBias: Float32Array | null): Float32Array {
    const H = this.H;
    const out = new Float32Array(H * S);
    for (let hd = 0; hd < H; hd++) {
      const m = this.slopes[hd];
      for (let i = 0; i < S; i++) {
        const alibi = Math.fround(-m * (S - 1 - i));
        out[hd * S + i] = meterBias ? Math.fround(alibi + meterBias[i * H + hd]) : alibi;
      }
    }
    return out;
  }

  /**
   * Per head h, scores at heap[at + h * R ..][0, S) plus its bias row, replaced by the
   * softmax's numerators exp(score - max); returns each head's sum of them.
   */
  private expInPlace(heap: Float32Array, at: number, R: number, S: number, bias: Float32Array): Float64Array {
    const sums = new Float64Array(this.H);
    for (let hd = 0; hd < this.H; hd++) {
      const row = at + hd * R;
      const br = hd * S;
      let max = -Infinity;
      for (let i = 0; i < S; i++) {
        const v = Math.fround(heap[row + i] + bias[br + i]);
        heap[row + i] = v;
        if (v > max) max = v;
      }
      let sum = 0;
      for (let i = 0; i < S; i++) {
        const e = Math.exp(heap[row + i] - max);
        heap[row + i] = e;
        sum += e;
      }
      sums[hd] = sum;
    }
    return sums;
  }

  /** The type head and both type-conditioned family heads, as CPTransformer.headsForLast. */
  private heads(dw: DecodeWeights, x: Float32Array, h: Float32Array): Float32Array {
    const b = this.backend;
    const iw = dw.iw;
    const d = this.d;
    const hn = this.upload(this.normalize(x, h), 1, d);
    const type = this.take(this.matMul(hn, iw.typeHead.w, iw.typeHead.b));
    const condH = this.take(this.matMul(hn, iw.condHidden));
    free(b, hn);
    const byType = b.typedArrayFromHeap(iw.condByType) as Float32Array; // (2, d)
    const cond = new Float32Array(2 * d);
    for (let r = 0; r < 2; r++) for (let j = 0; j < d; j++) cond[r * d + j] = condH[j] + byType[r * d + j];
    const ct = this.upload(cond, 2, d);
    const fam = this.take(this.matMul(ct, dw.families.w, dw.families.b));
    free(b, ct);
    const out = new Float32Array(type.length + fam.length);
    out.set(type);
    out.set(fam, type.length);
    return out;
  }
}
