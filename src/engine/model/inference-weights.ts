// Weights rearranged for inference, derived from the trained ones and rebuilt whenever
// any of those changes (Variable.assign swaps a dataId, which is what we compare).
//
// - Each family's embedding table is multiplied through its rows of the input
//   projection and read back to JS: a word's input is then seven row additions and
//   one upload instead of ~16 kernels.
// - Each layer norm's gain and bias are folded into the matMul that follows it:
//   (n * g + beta) @ W + b = n @ (diag(g) W) + (beta @ W + b). That saves two kernels per
//   norm, and a decode step is bound by kernel launches more than by arithmetic.
// - The type-conditioned projection is split: the hidden part is a matMul, the type
//   part (with the final norm's bias) a constant row per type.
import * as tf from '@tensorflow/tfjs';
import { FAMILIES, TYPE } from '../vocab.ts';
import type { ModelConfig } from './config.ts';
import { meterBuckets, type MeterTable } from './meter.ts';
import type { WeightMap } from './weights.ts';

/** gain * table in float32, as the forward pass multiplies it. */
function meterBiasTable(table: tf.Tensor, gain: number): Float32Array {
  const t = tf.tidy(() => tf.mul(table, gain));
  const v = t.dataSync() as Float32Array;
  t.dispose();
  return v;
}

export interface Linear {
  w: tf.Tensor2D; // (in, out)
  b: tf.Tensor1D; // (out)
}

/** The types whose conditionals a step returns, in row order. */
export const COND_TYPES = [TYPE.METRICAL, TYPE.NOTE] as const;

export class InferenceWeights {
  /** Per family (size + 1, dModel), row-major, the input projection folded in. */
  readonly embRows: Float32Array[];
  readonly embBias: Float32Array; // (dModel)
  readonly qkv: Linear[]; // per layer, ln1 folded in: (d, 3d)
  readonly ff1: Linear[]; // per layer, ln2 folded in: (d, dFF)
  readonly typeHead: Linear; // final norm folded in: (d, 3)
  readonly condHidden: tf.Tensor2D; // final norm's gain folded in: (d, d)
  readonly condByType: tf.Tensor2D; // (2, d): one row per COND_TYPES entry
  /** The meter heads' bias table, or null in a model without them. */
  readonly meter: MeterTable | null;
  private readonly sources: object[];

  constructor(
    private readonly weights: WeightMap,
    c: ModelConfig,
  ) {
    this.sources = Object.values(weights).map((v) => v.dataId);
    const w = (n: string) => weights[n];
    const d = c.dModel;
    let at = 0;
    this.embRows = FAMILIES.map((f) => {
      const e = c.embDims[f];
      const t = tf.tidy(() => tf.matMul(w(`emb.${f}`), tf.slice(w('in.w'), [at, 0], [e, d])));
      at += e;
      const v = t.dataSync() as Float32Array;
      t.dispose();
      return v;
    });
    this.embBias = w('in.b').dataSync().slice() as Float32Array;
    this.meter = c.meter ? { data: meterBiasTable(w('meter.table'), c.meter.gain), heads: c.meter.heads, buckets: meterBuckets(c.meter) } : null;
    const fold = (ln: string, lin: string): Linear =>
      tf.tidy(() => {
        const W = w(lin + '.w');
        const g = tf.reshape(w(ln + '.g'), [d, 1]);
        const beta = tf.reshape(w(ln + '.b'), [1, d]);
        return {
          w: tf.mul(g, W) as tf.Tensor2D,
          // Reshape before the add: wasm's fused matMul checks the rank of the bias's
          // underlying data, which a reshape (a view) leaves at 2.
          b: tf.add(tf.reshape(tf.matMul(beta, W), [-1]), w(lin + '.b')) as tf.Tensor1D,
        };
      });
    this.qkv = [];
    this.ff1 = [];
    for (let l = 0; l < c.nLayers; l++) {
      this.qkv.push(fold(`block${l}.ln1`, `block${l}.attn.qkv`));
      // ff.w1 / ff.b1 do not follow the `<prefix>.w` naming, so fold them by hand.
      this.ff1.push(
        tf.tidy(() => {
          const W = w(`block${l}.ff.w1`);
          return {
            w: tf.mul(tf.reshape(w(`block${l}.ln2.g`), [d, 1]), W) as tf.Tensor2D,
            b: tf.add(tf.reshape(tf.matMul(tf.reshape(w(`block${l}.ln2.b`), [1, d]), W), [-1]), w(`block${l}.ff.b1`)) as tf.Tensor1D,
          };
        }),
      );
    }
    this.typeHead = fold('final.ln', 'head.type');
    const eT = c.embDims.type;
    const [condHidden, condByType] = tf.tidy(() => {
      const top = tf.slice(w('typeCond.w'), [0, 0], [d, d]);
      const bottom = tf.slice(w('typeCond.w'), [d, 0], [eT, d]);
      const hidden = tf.mul(tf.reshape(w('final.ln.g'), [d, 1]), top) as tf.Tensor2D;
      const rows = tf.gather(w('emb.type'), tf.tensor1d(COND_TYPES.map((t) => t + 1), 'int32')); // (2, eT)
      const byType = tf.add(tf.add(tf.matMul(rows, bottom), tf.matMul(tf.reshape(w('final.ln.b'), [1, d]), top)), w('typeCond.b'));
      return [hidden, byType as tf.Tensor2D];
    });
    this.condHidden = condHidden;
    this.condByType = condByType;
  }

  /** False once any trained weight has been reassigned (or disposed). */
  isCurrent(): boolean {
    const now = Object.values(this.weights);
    return now.length === this.sources.length && now.every((v, i) => v.dataId === this.sources[i] && !v.isDisposed);
  }

  dispose(): void {
    for (const l of [...this.qkv, ...this.ff1, this.typeHead]) {
      l.w.dispose();
      l.b.dispose();
    }
    this.condHidden.dispose();
    this.condByType.dispose();
  }
}
