// The weight layout: one flat name -> tensor map that the model owns, so saving,
// loading and the trainer's optimizer all see the same names.
import * as tf from '@tensorflow/tfjs';
import { FAMILIES, FAMILY_SIZES, type Family } from '../vocab.ts';
import type { ModelConfig } from './config.ts';
import { meterBuckets } from './meter.ts';
import { Prng } from '../sampler/prng.ts';

/** The non-type families in the order their logits sit in `head.families.w`. */
export const OUTPUT_FAMILIES = FAMILIES.slice(1) as Exclude<Family, 'type'>[];
export const OUTPUT_OFFSETS: Readonly<Record<Exclude<Family, 'type'>, number>> = (() => {
  const o = {} as Record<Exclude<Family, 'type'>, number>;
  let at = 0;
  for (const f of OUTPUT_FAMILIES) {
    o[f] = at;
    at += FAMILY_SIZES[f];
  }
  return o;
})();
export const OUTPUT_WIDTH = OUTPUT_FAMILIES.reduce((s, f) => s + FAMILY_SIZES[f], 0);

type Init = { kind: 'normal'; std: number } | { kind: 'const'; value: number; jitter: number };

interface WeightSpec {
  name: string;
  shape: number[];
  init: Init;
}

/** Every weight a config implies, in a fixed order (the order seeds the initialiser). */
export function weightSpecs(c: ModelConfig): WeightSpec[] {
  const d = c.dModel;
  const specs: WeightSpec[] = [];
  const normal = (std: number): Init => ({ kind: 'normal', std });
  // Biases and norm parameters start near, not at, their usual values, so that tests of
  // the cache against recompute exercise every term.
  const bias: Init = { kind: 'const', value: 0, jitter: 0.02 };
  const gain: Init = { kind: 'const', value: 1, jitter: 0.05 };
  let embTotal = 0;
  for (const f of FAMILIES) {
    // (size + 1, width): row 0 is the UNUSED token, row i + 1 is token i.
    specs.push({ name: `emb.${f}`, shape: [FAMILY_SIZES[f] + 1, c.embDims[f]], init: normal(1) });
    embTotal += c.embDims[f];
  }
  specs.push({ name: 'in.w', shape: [embTotal, d], init: normal(1 / Math.sqrt(embTotal)) });
  specs.push({ name: 'in.b', shape: [d], init: bias });
  for (let l = 0; l < c.nLayers; l++) {
    const p = `block${l}.`;
    specs.push({ name: p + 'ln1.g', shape: [d], init: gain });
    specs.push({ name: p + 'ln1.b', shape: [d], init: bias });
    specs.push({ name: p + 'attn.qkv.w', shape: [d, 3 * d], init: normal(1 / Math.sqrt(d)) });
    specs.push({ name: p + 'attn.qkv.b', shape: [3 * d], init: bias });
    specs.push({ name: p + 'attn.out.w', shape: [d, d], init: normal(1 / Math.sqrt(d * 2 * c.nLayers)) });
    specs.push({ name: p + 'attn.out.b', shape: [d], init: bias });
    specs.push({ name: p + 'ln2.g', shape: [d], init: gain });
    specs.push({ name: p + 'ln2.b', shape: [d], init: bias });
    specs.push({ name: p + 'ff.w1', shape: [d, c.dFF], init: normal(Math.sqrt(2 / d)) });
    specs.push({ name: p + 'ff.b1', shape: [c.dFF], init: bias });
    specs.push({ name: p + 'ff.w2', shape: [c.dFF, d], init: normal(1 / Math.sqrt(c.dFF * 2 * c.nLayers)) });
    specs.push({ name: p + 'ff.b2', shape: [d], init: bias });
  }
  specs.push({ name: 'final.ln.g', shape: [d], init: gain });
  specs.push({ name: 'final.ln.b', shape: [d], init: bias });
  specs.push({ name: 'head.type.w', shape: [d, FAMILY_SIZES.type], init: normal(1 / Math.sqrt(d)) });
  specs.push({ name: 'head.type.b', shape: [FAMILY_SIZES.type], init: bias });
  // The second stage: [hidden, type embedding] -> d, then one matrix for all six heads.
  specs.push({ name: 'typeCond.w', shape: [d + c.embDims.type, d], init: normal(1 / Math.sqrt(d + c.embDims.type)) });
  specs.push({ name: 'typeCond.b', shape: [d], init: bias });
  specs.push({ name: 'head.families.w', shape: [d, OUTPUT_WIDTH], init: normal(1 / Math.sqrt(d)) });
  specs.push({ name: 'head.families.b', shape: [OUTPUT_WIDTH], init: bias });
  // Last, so that adding it left every other weight's initial values as they were.
  // Near 0 after the gain: a meter head starts out attending evenly over the window.
  if (c.meter) specs.push({ name: 'meter.table', shape: [meterBuckets(c.meter), c.meter.heads], init: { kind: 'const', value: 0, jitter: 0.02 / c.meter.gain } });
  return specs;
}

export type WeightMap = Record<string, tf.Variable>;

/**
 * Fresh weights from a seed. The values come from our own PRNG rather than tf.random*,
 * so a seed gives the same model on every backend and tfjs version (the golden test
 * depends on it).
 */
export function initWeights(c: ModelConfig, seed: number): WeightMap {
  const rng = new Prng(seed);
  const out: WeightMap = {};
  for (const s of weightSpecs(c)) {
    const n = s.shape.reduce((a, b) => a * b, 1);
    const v = new Float32Array(n);
    if (s.init.kind === 'normal') for (let i = 0; i < n; i++) v[i] = rng.normal() * s.init.std;
    else for (let i = 0; i < n; i++) v[i] = s.init.value + (rng.next() * 2 - 1) * s.init.jitter;
    const t = tf.tensor(v, s.shape, 'float32');
    out[s.name] = tf.variable(t, true);
    t.dispose();
  }
  return out;
}

/** Checks a loaded name -> tensor map against the config; returns the first problem or null. */
export function weightMapError(c: ModelConfig, named: Record<string, tf.Tensor>): string | null {
  const specs = weightSpecs(c);
  for (const s of specs) {
    const t = named[s.name];
    if (!t) return `weight ${s.name} is missing`;
    if (t.dtype !== 'float32') return `weight ${s.name} is ${t.dtype}, expected float32`;
    if (t.shape.join(',') !== s.shape.join(',')) return `weight ${s.name} has shape [${t.shape}], expected [${s.shape}]`;
  }
  const known = new Set(specs.map((s) => s.name));
  const extra = Object.keys(named).find((k) => !known.has(k));
  return extra ? `unexpected weight ${extra}` : null;
}
