// Shared by the engine tests: one backend for the whole uvu process, tiny configs, and
// well-formed random words.
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../../src/engine/backend.ts';
import { parseModelConfig, type ModelConfig, type ModelConfigInput } from '../../src/engine/model/config.ts';
import { Prng } from '../../src/engine/sampler/prng.ts';
import { BAR, beatToken, FAMILY_SIZES, TYPE, UNUSED, type Word } from '../../src/engine/vocab.ts';

let ready: Promise<unknown> | null = null;
/**
 * wasm is what runs here; the tests pin it so float results do not depend on the machine.
 * Call it from test.before: uvu imports every file before running any suite, and other
 * suites in the same process may switch the backend.
 */
export async function engineBackend(): Promise<void> {
  ready ??= selectBackend('wasm', () => {});
  await ready;
  if (tf.getBackend() !== 'wasm') await tf.setBackend('wasm');
}

export function tinyConfig(over: Partial<ModelConfigInput> = {}): ModelConfig {
  return parseModelConfig({
    name: 'tiny',
    dModel: 32,
    nLayers: 2,
    nHeads: 4,
    dFF: 64,
    embDims: { type: 4, barBeat: 8, tempo: 8, chord: 8, pitch: 8, duration: 8, velocity: 8 },
    contextLength: 64,
    nKeep: 4,
    ...over,
  });
}

const rand = (rng: Prng, n: number) => Math.floor(rng.next() * n);

/** `n` well-formed words: bars, rising beats, notes, with CONTI and real tempos and chords. */
export function randomWords(n: number, seed = 7): Word[] {
  const rng = new Prng(seed);
  const out: Word[] = [];
  let step = -1;
  while (out.length < n) {
    const r = rng.next();
    if (step < 0 || (r < 0.1 && out.length > 0)) {
      if (step >= 0 || out.length === 0) {
        out.push([TYPE.METRICAL, BAR, 0, 0, UNUSED, UNUSED, UNUSED]);
        step = -1;
      }
      const s = rand(rng, 8);
      out.push([TYPE.METRICAL, beatToken(s), rand(rng, FAMILY_SIZES.tempo), rand(rng, FAMILY_SIZES.chord), UNUSED, UNUSED, UNUSED]);
      step = s;
    } else if (r < 0.3 && step < 15) {
      step = step + 1 + rand(rng, 15 - step);
      out.push([TYPE.METRICAL, beatToken(step), 0, 0, UNUSED, UNUSED, UNUSED]);
    } else {
      out.push([TYPE.NOTE, UNUSED, UNUSED, UNUSED, rand(rng, FAMILY_SIZES.pitch), rand(rng, FAMILY_SIZES.duration), rand(rng, FAMILY_SIZES.velocity)]);
    }
  }
  return out.slice(0, n);
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

export { tf };

/** Config overrides for a model with two metrical heads over two bars of lags. */
export const METER = { meter: { heads: 2, bars: 2 } } as const;

/**
 * Gives a meter model's bias table values of order 1 (its initial ones are near 0), so that
 * tests comparing decode paths exercise the metrical bias. Returns the model.
 */
export function strongMeterTable<M extends { weights: Record<string, tf.Variable>; config: ModelConfig }>(model: M, seed = 5): M {
  const table = model.weights['meter.table'];
  if (!table || !model.config.meter) return model;
  const rng = new Prng(seed);
  const v = new Float32Array(table.size).map(() => (rng.normal() * 2) / model.config.meter!.gain);
  table.assign(tf.tensor(v, table.shape));
  return model;
}
