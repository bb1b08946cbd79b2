// A model is a folder:
//   config.json    the model's arguments (config.ts)
//   vocab.json     the vocabulary version and family sizes it was trained on
//   weights.json   weight specs  } written by the file-system IOHandler
//   weights.bin    weight data   }
//   card.json      the model card: data sources, training steps, metrics, date
//   README.md      the same card for people
//   manifest.json  sha256 and size of every file above, written last
// Loading checks the manifest first, so a half-copied or edited folder fails with the
// name of the file at fault before anything is parsed.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import { AntiphonError } from '../../errors.ts';
import { FAMILIES, VOCAB, type Family } from '../vocab.ts';
import { parameterCount, parseModelConfig, type ModelConfig } from './config.ts';
import { fileSystemHandler, WEIGHT_DATA_FILE, WEIGHT_SPECS_FILE } from './fs-io-handler.ts';
import { CPTransformer } from './transformer.ts';

export const MANIFEST_FILE = 'manifest.json';
export const CONFIG_FILE = 'config.json';
export const VOCAB_FILE = 'vocab.json';
export const CARD_FILE = 'card.json';
export const README_FILE = 'README.md';
export const CHECKPOINT_FILES = [CONFIG_FILE, VOCAB_FILE, WEIGHT_SPECS_FILE, WEIGHT_DATA_FILE, CARD_FILE, README_FILE] as const;
const FORMAT = 'antiphon-model/1';

export const modelCardSchema = z
  .object({
    name: z.string().min(1),
    description: z.string().default(''),
    dataSources: z.array(z.string()),
    trainingSteps: z.number().int().min(0),
    metrics: z.record(z.string(), z.number()),
    /** ISO 8601. */
    date: z.string().min(1),
    parameters: z.number().int().positive().optional(),
    notes: z.string().optional(),
    /** Sampling defaults chosen for this model (per family temperature, topP, topK); the server starts sessions with them. */
    sampling: z
      .record(z.string(), z.object({ temperature: z.number(), topP: z.number(), topK: z.number() }).partial().strict())
      .optional(),
  })
  .strict();
export type ModelCard = z.output<typeof modelCardSchema>;
export type ModelCardInput = z.input<typeof modelCardSchema>;

const manifestSchema = z.object({
  format: z.literal(FORMAT),
  files: z.record(z.string(), z.object({ sha256: z.string().regex(/^[0-9a-f]{64}$/), bytes: z.number().int().min(0) })),
});

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

function readmeOf(card: ModelCard, config: ModelConfig): string {
  const metrics = Object.entries(card.metrics);
  return [
    `# ${card.name}`,
    '',
    card.description,
    '',
    `- Date: ${card.date}`,
    `- Vocabulary: ${VOCAB.version}`,
    `- Size: ${config.nLayers} layers, d_model ${config.dModel}, ${config.nHeads} heads, context ${config.contextLength} words` +
      (card.parameters ? `, ${card.parameters.toLocaleString('en-US')} parameters` : ''),
    `- Training steps: ${card.trainingSteps}`,
    '',
    '## Data sources',
    '',
    ...(card.dataSources.length ? card.dataSources.map((s) => `- ${s}`) : ['- none (untrained weights)']),
    '',
    '## Metrics',
    '',
    ...(metrics.length ? ['| metric | value |', '|---|---|', ...metrics.map(([k, v]) => `| ${k} | ${v} |`)] : ['none recorded']),
    ...(card.sampling
      ? ['', '## Sampling defaults', '', '| family | settings |', '|---|---|', ...Object.entries(card.sampling).map(([f, v]) => `| ${f} | ${JSON.stringify(v)} |`)]
      : []),
    ...(card.notes ? ['', '## Notes', '', card.notes] : []),
    '',
  ].join('\n');
}

/** Writes `model` as a checkpoint folder (created if needed). Returns the card as saved. */
export async function saveModel(model: CPTransformer, dir: string, card: ModelCardInput): Promise<ModelCard> {
  const full = modelCardSchema.parse({ parameters: parameterCount(model.config, VOCAB.sizes), ...card });
  await mkdir(dir, { recursive: true });
  const { data, specs } = await tf.io.encodeWeights(model.weights as unknown as tf.NamedTensorMap);
  await fileSystemHandler(dir).save({ weightSpecs: specs, weightData: data });
  await writeFile(join(dir, CONFIG_FILE), JSON.stringify(model.config, null, 2) + '\n');
  await writeFile(join(dir, VOCAB_FILE), JSON.stringify({ version: VOCAB.version, families: VOCAB.families, sizes: VOCAB.sizes }, null, 2) + '\n');
  await writeFile(join(dir, CARD_FILE), JSON.stringify(full, null, 2) + '\n');
  await writeFile(join(dir, README_FILE), readmeOf(full, model.config));
  await writeManifest(dir);
  return full;
}

/** (Re)writes manifest.json from the files as they are now: after a deliberate edit of the card, say. */
export async function writeManifest(dir: string): Promise<void> {
  const files: Record<string, { sha256: string; bytes: number }> = {};
  for (const f of CHECKPOINT_FILES) {
    const b = await readFile(join(dir, f));
    files[f] = { sha256: sha256(b), bytes: b.byteLength };
  }
  await writeFile(join(dir, MANIFEST_FILE), JSON.stringify({ format: FORMAT, files }, null, 2) + '\n');
}

function readJson(dir: string, name: string): unknown {
  const file = join(dir, name);
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new AntiphonError('E_MODEL_CORRUPT', `${name} in ${dir} is not valid JSON`, { file, cause: e });
  }
}

/** Checks the folder against its manifest: every file present, whole and unchanged. */
export function verifyCheckpoint(dir: string): void {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new AntiphonError('E_MODEL_MISSING', `no model folder at ${dir}`, { file: dir });
  }
  const manifestPath = join(dir, MANIFEST_FILE);
  if (!existsSync(manifestPath)) throw new AntiphonError('E_MODEL_MISSING', `${MANIFEST_FILE} is missing from ${dir}`, { file: manifestPath });
  const m = manifestSchema.safeParse(readJson(dir, MANIFEST_FILE));
  if (!m.success) throw new AntiphonError('E_MODEL_CORRUPT', `${MANIFEST_FILE} in ${dir} is not an ${FORMAT} manifest`, { file: manifestPath });
  for (const name of CHECKPOINT_FILES) {
    const file = join(dir, name);
    const entry = m.data.files[name];
    if (!entry) throw new AntiphonError('E_MODEL_CORRUPT', `${MANIFEST_FILE} does not list ${name}`, { file: manifestPath });
    if (!existsSync(file)) throw new AntiphonError('E_MODEL_MISSING', `${name} is missing from ${dir}`, { file });
    const b = readFileSync(file);
    if (b.byteLength !== entry.bytes || sha256(b) !== entry.sha256) {
      throw new AntiphonError('E_MODEL_CORRUPT', `${name} in ${dir} does not match its checksum (damaged or edited)`, { file });
    }
  }
}

/** Checks vocab.json against the tokenizer's vocabulary (src/engine/vocab.ts). */
function checkVocab(dir: string): void {
  const file = join(dir, VOCAB_FILE);
  const v = readJson(dir, VOCAB_FILE) as { version?: unknown; families?: unknown; sizes?: Record<string, unknown> };
  if (v.version !== VOCAB.version) {
    throw new AntiphonError('E_MODEL_VOCAB', `${VOCAB_FILE}: the model was trained on vocabulary ${String(v.version)}, this build uses ${VOCAB.version}`, { file });
  }
  if (JSON.stringify(v.families) !== JSON.stringify(FAMILIES)) {
    throw new AntiphonError('E_MODEL_VOCAB', `${VOCAB_FILE}: families ${JSON.stringify(v.families)} differ from ${JSON.stringify(FAMILIES)}`, { file });
  }
  for (const f of FAMILIES as readonly Family[]) {
    if (v.sizes?.[f] !== VOCAB.sizes[f]) {
      throw new AntiphonError('E_MODEL_VOCAB', `${VOCAB_FILE}: family ${f} has ${String(v.sizes?.[f])} tokens, this build has ${VOCAB.sizes[f]}`, { file });
    }
  }
}

export interface LoadedModel {
  model: CPTransformer;
  card: ModelCard;
}

/** Loads a checkpoint folder, verifying it first. Every failure names the file at fault. */
export async function loadModel(dir: string): Promise<LoadedModel> {
  verifyCheckpoint(dir);
  checkVocab(dir);
  const config = parseModelConfig(readJson(dir, CONFIG_FILE), join(dir, CONFIG_FILE));
  const c = modelCardSchema.safeParse(readJson(dir, CARD_FILE));
  if (!c.success) throw new AntiphonError('E_MODEL_CORRUPT', `${CARD_FILE} in ${dir} is not a model card`, { file: join(dir, CARD_FILE) });
  const artifacts = await fileSystemHandler(dir).load();
  const named = tf.io.decodeWeights(artifacts.weightData!, artifacts.weightSpecs!);
  try {
    return { model: CPTransformer.fromTensors(config, named, join(dir, WEIGHT_DATA_FILE)), card: c.data };
  } catch (e) {
    for (const t of Object.values(named)) if (!t.isDisposed) t.dispose();
    throw e;
  }
}
