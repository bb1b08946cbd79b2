// A model's size and window. Stored as config.json beside the weights (as nanoGPT stores
// its model args), so a checkpoint can always rebuild the graph it was trained with.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { AntiphonError } from '../../errors.ts';
import { FAMILIES, type Family } from '../vocab.ts';
import { meterBuckets } from './meter.ts';

const positiveInt = z.number().int().positive();

const embDimsSchema = z.object(
  Object.fromEntries(FAMILIES.map((f) => [f, positiveInt])) as Record<Family, typeof positiveInt>,
).strict();

export const modelConfigSchema = z
  .object({
    name: z.string().min(1),
    dModel: positiveInt,
    nLayers: positiveInt,
    nHeads: positiveInt,
    dFF: positiveInt,
    /** Width of each family's embedding; they are concatenated, then projected to dModel. */
    embDims: embDimsSchema,
    /** The most words the cache holds; the window slides when a word arrives at a full cache. */
    contextLength: z.number().int().min(4),
    /** Oldest words that a slide always keeps (the opening of the piece, as llama.cpp's n_keep). */
    nKeep: z.number().int().min(0),
    lnEps: z.number().positive().default(1e-5),
    /** Metrical attention heads (meter.ts); absent in models trained before them. */
    meter: z
      .object({
        heads: positiveInt,
        bars: positiveInt.max(64),
        /** The table holds bias / gain, so that Adam (steps of about the learning rate per weight) can move a bias by nats in hundreds of steps, not tens of thousands. */
        gain: z.number().positive().default(32),
      })
      .strict()
      .optional(),
  })
  .strict()
  .refine((c) => c.dModel % c.nHeads === 0, { message: 'dModel must be a multiple of nHeads' })
  .refine((c) => !c.meter || c.meter.heads <= c.nHeads, { message: 'meter.heads must be at most nHeads' })
  .refine((c) => c.nKeep <= c.contextLength - 2, { message: 'nKeep must leave room for at least two words to slide' });

export type ModelConfig = z.output<typeof modelConfigSchema>;
export type ModelConfigInput = z.input<typeof modelConfigSchema>;

/** Validates a parsed config.json; `file` names the file in the error. */
export function parseModelConfig(raw: unknown, file = 'config.json'): ModelConfig {
  const r = modelConfigSchema.safeParse(raw);
  if (!r.success) {
    const why = r.error.issues.map((i) => `${i.path.join('.') || '(config)'}: ${i.message}`).join('; ');
    throw new AntiphonError('E_MODEL_CONFIG', `invalid model config in ${file}: ${why}`, { file });
  }
  return r.data;
}

export const PRESETS = ['small', 'base'] as const;
export type Preset = (typeof PRESETS)[number];

/** A shipped config by name: `small` (the default, fast enough for live play) or `base` (paper size). */
export function presetConfig(name: Preset | string): ModelConfig {
  if (!(PRESETS as readonly string[]).includes(name)) {
    throw new AntiphonError('E_MODEL_CONFIG', `unknown model config "${name}"; choose one of ${PRESETS.join(', ')}`);
  }
  const file = fileURLToPath(new URL(`./configs/${name}.json`, import.meta.url));
  return parseModelConfig(JSON.parse(readFileSync(file, 'utf8')), file);
}

/** Parameters a config implies, for model cards and the benchmark. */
export function parameterCount(c: ModelConfig, sizes: Readonly<Record<Family, number>>): number {
  let n = 0;
  let embTotal = 0;
  for (const f of FAMILIES) {
    n += (sizes[f] + 1) * c.embDims[f];
    embTotal += c.embDims[f];
  }
  n += embTotal * c.dModel + c.dModel;
  const d = c.dModel;
  n += c.nLayers * (4 * d + (d * 3 * d + 3 * d) + (d * d + d) + (d * c.dFF + c.dFF) + (c.dFF * d + d));
  n += 2 * d;
  n += d * sizes.type + sizes.type;
  n += (d + c.embDims.type) * d + d;
  const rest = FAMILIES.slice(1).reduce((s, f) => s + sizes[f], 0);
  n += d * rest + rest;
  if (c.meter) n += meterBuckets(c.meter) * c.meter.heads;
  return n;
}
