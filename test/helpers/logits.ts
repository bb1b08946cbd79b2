// Logits of the cached paths against a full-sequence forward pass.
import { CPTransformer, type NextWordLogits } from '../../src/engine/model/transformer.ts';
import { OUTPUT_FAMILIES } from '../../src/engine/model/weights.ts';
import { TYPE, type Word } from '../../src/engine/vocab.ts';
import { maxAbsDiff, tf } from './engine-setup.ts';

/** Full-recompute logits at every position, for both type conditionals: [t] -> NextWordLogits-like arrays. */
export function recompute(model: CPTransformer, words: readonly Word[]): NextWordLogits[] {
  const T = words.length;
  const input = tf.tensor3d([words.map((w) => [...w])], [1, T, 7], 'int32');
  const byType: Record<number, Record<string, Float32Array>> = {};
  let typeLogits: Float32Array | null = null;
  for (const t of [TYPE.METRICAL, TYPE.NOTE]) {
    const targets = tf.fill([1, T], t, 'int32') as tf.Tensor2D;
    const out = model.forward(input, targets);
    typeLogits = out.type.dataSync() as Float32Array;
    byType[t] = {};
    for (const f of OUTPUT_FAMILIES) byType[t][f] = out[f].dataSync() as Float32Array;
    for (const x of Object.values(out)) x.dispose();
    targets.dispose();
  }
  input.dispose();
  const res: NextWordLogits[] = [];
  for (let i = 0; i < T; i++) {
    const given = {} as Record<number, Record<string, Float32Array>>;
    for (const t of [TYPE.METRICAL, TYPE.NOTE]) {
      given[t] = {};
      for (const f of OUTPUT_FAMILIES) {
        const n = byType[t][f].length / T;
        given[t][f] = byType[t][f].slice(i * n, (i + 1) * n);
      }
    }
    res.push({ type: typeLogits!.slice(i * 3, i * 3 + 3), given } as unknown as NextWordLogits);
  }
  return res;
}

export function worstDiff(a: NextWordLogits, b: NextWordLogits): number {
  let m = maxAbsDiff(a.type, b.type);
  for (const t of [TYPE.METRICAL, TYPE.NOTE] as const) for (const f of OUTPUT_FAMILIES) m = Math.max(m, maxAbsDiff(a.given[t][f], b.given[t][f]));
  return m;
}

