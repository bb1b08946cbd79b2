// One decode step on the wasm backend, as direct calls into the backend's matMul with the
// small vector work (layer norm, residuals, ALiBi) done in JS.
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
// The softmax's exponentials run in the same kernel module (softmaxNum), and the step's
// products are direct calls into XNNPACK on tensors the decoder keeps (kernels/direct-matmul.ts):
// nothing is allocated per step.
import * as tf from '@tensorflow/tfjs';
import type { TensorInfo } from '@tensorflow/tfjs-core';
import { callOriginal } from '../kernels/original.ts';
import { DirectMatMul } from '../kernels/direct-matmul.ts';
import { kernelsFor } from '../kernels/gemv.ts';
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
    this.sums = new Float32Array(this.H);
  }

  private get backend(): Wasm {
    return tf.backend() as Wasm;
  }

  /** Each head's softmax denominator, kept between steps. */
  private readonly sums: Float32Array;

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
   * Every product reads and writes the decoder's own tensors (StepIO): nothing is allocated.
   */
  step(dw: DecodeWeights, cache: PagedKVCache, x0: Float32Array, n: number, meter: { q: number; prior: readonly number[] } | null): Float32Array {
    const { d, H, dh } = this;
    const b = this.backend;
    const iw = dw.iw;
    const S = n + 1; // words attended to, the new one included
    cache.startWord(n);
    const R = cache.headRows; // after startWord: it may grow the buffers
    const io = this.stepIO(dw, H * R + dh, H * S);
    const { mm } = io;
    const x = new Float32Array(x0);
    const scale = Math.fround(1 / Math.sqrt(dh)); // as the plain step's float32 head mask
    const at = (t: TensorInfo) => b.getMemoryOffset(t.dataId);
    const bp = at(io.bias);
    this.stepBias(S, meter && iw.meter ? this.meterBias(meter.q, meter.prior, iw.meter) : null, heapF32(b).subarray(bp >> 2, (bp >> 2) + H * S));
    const { gemv, softmaxNum } = kernelsFor(b);
    const [xin, qkvAt, att, out] = [at(io.xin) >> 2, at(io.qkv) >> 2, at(io.att), at(io.out) >> 2];
    // In the heap: each head's scores, then probabilities, R apart; then the scaled query.
    const sp = at(io.scores);
    const qp = sp + H * R * 4;
    const addOut = () => {
      const heap = heapF32(b);
      for (let j = 0; j < d; j++) x[j] += heap[out + j];
    };
    for (let l = 0; l < this.config.nLayers; l++) {
      // Attention input and the new word's key and value. (Views of the heap are taken again
      // after each product: a product may malloc, and the heap may grow.)
      this.normalize(x, heapF32(b).subarray(xin, xin + d));
      mm.run(io.xin, iw.qkv[l].w, iw.qkv[l].b, io.qkv);
      let heap = heapF32(b);
      const qkv = heap.subarray(qkvAt, qkvAt + 3 * d);
      cache.write(l, n, qkv.subarray(d, 2 * d), qkv.subarray(2 * d), 1);
      const kp = at(cache.headKeys[l]!);
      const vp = at(cache.headValues[l]!);
      for (let hd = 0; hd < H; hd++) {
        for (let j = 0, q = qp >> 2; j < dh; j++) heap[q + j] = Math.fround(qkv[hd * dh + j] * scale);
        // A head's keys are one contiguous (S, dh) block.
        gemv(kp + hd * R * dh * 4, dh, S, dh, qp, sp + hd * R * 4, 0);
      }
      const sums = this.sums;
      for (let hd = 0; hd < H; hd++) sums[hd] = softmaxNum(sp + hd * R * 4, bp + hd * S * 4, S);
      // A head's values are dh rows of the transposed (dModel, R) buffer; its weights, S of them,
      // are the softmax's numerators: the head's output is divided by their sum afterwards.
      for (let hd = 0; hd < H; hd++) gemv(vp + hd * dh * R * 4, R, dh, S, sp + hd * R * 4, att + hd * dh * 4, 0);
      heap = heapF32(b);
      for (let hd = 0; hd < H; hd++) for (let j = 0, o = (att >> 2) + hd * dh; j < dh; j++) heap[o + j] /= sums[hd];
      mm.run(io.att, dw.attnOut[l].w, dw.attnOut[l].b, io.out);
      addOut();
      // Feed-forward.
      this.normalize(x, heapF32(b).subarray(xin, xin + d));
      mm.run(io.xin, iw.ff1[l].w, iw.ff1[l].b, io.hidden, true);
      mm.run(io.hidden, dw.ff2[l].w, dw.ff2[l].b, io.out);
      addOut();
    }
    return this.heads(dw, x);
  }

  /** Frees the decoder's own tensors (the model does, when it is disposed). */
  dispose(): void {
    const io = this.io;
    if (!io) return;
    this.io = null;
    const b = this.backend;
    for (const t of [io.xin, io.qkv, io.att, io.out, io.hidden, io.type, io.condH, io.cond, io.fam, io.scores, io.bias]) free(b, t);
    io.mm.dispose();
  }

  private io: StepIO | null = null;

  /** The decoder's tensors, made on first use; the scores' and the bias's room grown to fit. */
  private stepIO(dw: DecodeWeights, scoreFloats: number, biasFloats: number): StepIO {
    const b = this.backend;
    if (!this.io) {
      const d = this.d;
      const make = (rows: number, cols: number) => b.makeOutput([1, rows, cols], 'float32');
      const nType = dw.iw.typeHead.w.shape[1] as number;
      const nFam = dw.families.w.shape[1] as number;
      this.io = {
        mm: new DirectMatMul(b),
        xin: make(1, d),
        qkv: make(1, 3 * d),
        att: make(1, d),
        out: make(1, d),
        hidden: make(1, this.config.dFF),
        type: make(1, nType),
        condH: make(1, d),
        cond: make(2, d),
        fam: make(2, nFam),
        scores: make(1, Math.max(scoreFloats, 1)),
        bias: make(1, Math.max(biasFloats, 1)),
      };
    }
    const io = this.io;
    const grown = (t: TensorInfo, floats: number) => {
      if (t.shape[2] >= floats) return t;
      free(b, t);
      return b.makeOutput([1, 1, Math.max(floats, 2 * t.shape[2])], 'float32');
    };
    io.scores = grown(io.scores, scoreFloats);
    io.bias = grown(io.bias, biasFloats);
    return io;
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
    return withLogits ? this.heads(dw, x.subarray((T - 1) * d)) : null;
  }

  private meterScratch = new Float32Array(0);

  /** The step's meter bias, (S, H), in a buffer kept between steps (no garbage per step). */
  private meterBias(q: number, prior: readonly number[], m: MeterTable): Float32Array {
    const need = (prior.length + 1) * this.H;
    if (this.meterScratch.length < need) this.meterScratch = new Float32Array(Math.max(need, 2 * this.meterScratch.length));
    return meterDecodeBias(q, prior, this.H, m, this.meterScratch);
  }

  /**
   * The step's attention bias for the S words, (H, S), into `out`: ALiBi, plus the meter
   * heads' bias ((S, H), if any), each a float32 sum as the plain step adds them. The same for
   * every layer.
   */
  private stepBias(S: number, meterBias: Float32Array | null, out: Float32Array): void {
    const H = this.H;
    for (let hd = 0; hd < H; hd++) {
      const m = this.slopes[hd];
      for (let i = 0; i < S; i++) {
        const alibi = Math.fround(-m * (S - 1 - i));
        out[hd * S + i] = meterBias ? Math.fround(alibi + meterBias[i * H + hd]) : alibi;
      }
    }
  }

  /** The type head and both type-conditioned family heads, as CPTransformer.headsForLast. */
  private heads(dw: DecodeWeights, x: Float32Array): Float32Array {
    const b = this.backend;
    const iw = dw.iw;
    const d = this.d;
    const io = this.stepIO(dw, 0, 0);
    const { mm } = io;
    const at = (t: TensorInfo) => b.getMemoryOffset(t.dataId) >> 2;
    this.normalize(x, heapF32(b).subarray(at(io.xin), at(io.xin) + d));
    mm.run(io.xin, iw.typeHead.w, iw.typeHead.b, io.type);
    mm.run(io.xin, iw.condHidden, null, io.condH);
    const heap = heapF32(b);
    const byType = at(iw.condByType); // (2, d)
    const [condH, cond] = [at(io.condH), at(io.cond)];
    for (let r = 0; r < 2; r++) for (let j = 0; j < d; j++) heap[cond + r * d + j] = heap[condH + j] + heap[byType + r * d + j];
    mm.run(io.cond, dw.families.w, dw.families.b, io.fam);
    const type = b.typedArrayFromHeap(io.type) as Float32Array;
    const fam = b.typedArrayFromHeap(io.fam) as Float32Array;
    const out = new Float32Array(type.length + fam.length);
    out.set(type);
    out.set(fam, type.length);
    return out;
  }
}

/** The tensors a step's products read and write, kept by the decoder between steps. */
interface StepIO {
  mm: DirectMatMul;
  /** A normalized row, the input of the next product. */
  xin: TensorInfo;
  qkv: TensorInfo;
  /** The attention heads' outputs. */
  att: TensorInfo;
  /** A sub-layer's output, added to the residual. */
  out: TensorInfo;
  hidden: TensorInfo;
  type: TensorInfo;
  condH: TensorInfo;
  /** The conditioned rows, one per type. */
  cond: TensorInfo;
  fam: TensorInfo;
  /** Attention scores, (H, R) and the scaled query after them. */
  scores: TensorInfo;
  /** The step's attention bias, (H, S). */
  bias: TensorInfo;
}
