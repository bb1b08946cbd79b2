// `antiphon train`: folders of MIDI (or a built token store) -> a model folder the engine serves.
//
// out/
//   config.json, weights.*, card.json, README.md, manifest.json   the final model
//   checkpoints/step-NNNNNNN/   model + optimizer.{json,bin} + trainer.json, rotated
//   dataset/                    the token store, when built from MIDI folders
//   metrics.jsonl, curves.svg   one line per logged step and per evaluation; the picture of them

import { existsSync, readFileSync } from 'node:fs';
import { appendFile, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { selectBackend, type BackendChoice } from '../engine/backend.ts';
import { loadModel, saveModel } from '../engine/model/checkpoint.ts';
import { parseModelConfig, presetConfig, PRESETS, type ModelConfig } from '../engine/model/config.ts';
import { CPTransformer } from '../engine/model/transformer.ts';
import { AntiphonError } from '../errors.ts';
import type { MidiReaderOptions } from '../io/midi-pool.ts';
import { BatchSampler, splitSongs } from './batches.ts';
import { curvesSvg } from './curves.ts';
import { buildDataset } from './dataset-build.ts';
import { registerTrainingKernels } from './kernels/index.ts';
import { accumulateEval, batchTensors, emptyTotals, summarizeEval } from './loss.ts';
import { OPTIM_DEFAULTS } from './optimizer.ts';
import { createStepper, resolveWorkers, type ParallelTuning, type Stepper } from './parallel/stepper.ts';
import { INDEX_FILE, readTokenStore, type TokenStore } from './token-store.ts';

export interface TrainOptions {
  data: string[];
  out: string;
  /** small | base | path to a config JSON. */
  config: string;
  steps: number;
  resume: boolean;
  backend: BackendChoice;
  seed: number;
  evalEvery: number;
  checkpointEvery: number;
  /** Checkpoints kept; the one with the best validation loss is never the one removed. */
  keepCheckpoints: number;
  batchSize: number;
  /** Words per training example (at most the config's context length). */
  context: number;
  lr: number;
  warmup: number;
  valFraction: number;
  maxTranspose: number;
  /** Validation batches per evaluation. */
  evalBatches: number;
  /** A metrics line every this many steps. */
  logEvery: number;
  /** Data-parallel worker threads, or auto (one per core up to the batch size on wasm/cpu, 1 on tensorflow). */
  workers: number | 'auto';
}

export const TRAIN_DEFAULTS: Omit<TrainOptions, 'data' | 'out'> = {
  config: 'small',
  steps: 20_000,
  resume: false,
  backend: 'auto',
  seed: 1,
  evalEvery: 500,
  checkpointEvery: 1000,
  keepCheckpoints: 20,
  batchSize: 4,
  context: 512,
  lr: OPTIM_DEFAULTS.lr,
  warmup: OPTIM_DEFAULTS.warmup,
  valFraction: 0.05,
  maxTranspose: 5,
  evalBatches: 16,
  logEvery: 10,
  workers: 'auto',
};

export interface StepInfo {
  step: number;
  steps: number;
  loss: number;
  lr: number;
  wordsPerSec: number;
}

export interface TrainHooks {
  log?: (line: string) => void;
  onStep?: (info: StepInfo) => void;
  /** Checked between steps; when it returns true the run checkpoints and stops. */
  shouldStop?: () => boolean;
  reader?: Partial<MidiReaderOptions>;
  /** Data-parallel internals: barrier and start-up deadlines, and (tests only) an injected worker fault. */
  parallel?: ParallelTuning;
}

export interface TrainResult {
  step: number;
  trainLoss: number;
  valLoss: number | null;
  wordsPerSec: number;
  stopped: boolean;
}

const CHECKPOINTS = 'checkpoints';
const TRAINER_STATE = 'trainer.json';
const METRICS = 'metrics.jsonl';

export function resolveConfig(spec: string): ModelConfig {
  if ((PRESETS as readonly string[]).includes(spec)) return presetConfig(spec);
  if (!existsSync(spec)) throw new AntiphonError('E_MODEL_CONFIG', `--config "${spec}" is neither ${PRESETS.join(' nor ')} nor a file`, { file: spec });
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(spec, 'utf8'));
  } catch (e) {
    throw new AntiphonError('E_MODEL_CONFIG', `${spec}: not a readable JSON config (${(e as Error).message})`, { file: spec });
  }
  return parseModelConfig(raw, spec);
}

async function openData(opts: TrainOptions, hooks: TrainHooks): Promise<TokenStore> {
  if (opts.data.length === 1 && existsSync(join(opts.data[0], INDEX_FILE))) return readTokenStore(opts.data[0]);
  const dir = join(opts.out, 'dataset');
  const sources = opts.data.map((d) => basename(d.replace(/\/+$/, '')));
  if (existsSync(join(dir, INDEX_FILE))) {
    const store = await readTokenStore(dir);
    if (JSON.stringify(store.index.sources) === JSON.stringify(sources)) {
      hooks.log?.(`data: reusing the token store in ${dir}`);
      return store;
    }
  }
  hooks.log?.(`data: tokenizing ${opts.data.join(', ')} into ${dir}`);
  const { stats } = await buildDataset({
    data: opts.data,
    out: dir,
    reader: hooks.reader,
    onFile: (file, e) => e && hooks.log?.(`skipped ${file}: ${e.code}: ${e.message}`),
  });
  hooks.log?.(`data: ${stats.songs} songs, ${stats.words} words, ${stats.skipped} files skipped`);
  return readTokenStore(dir);
}

async function latestCheckpoint(out: string): Promise<string | null> {
  const dir = join(out, CHECKPOINTS);
  if (!existsSync(dir)) return null;
  const names = (await readdir(dir)).filter((n) => /^step-\d+$/.test(n) && existsSync(join(dir, n, TRAINER_STATE))).sort();
  return names.length ? join(dir, names[names.length - 1]) : null;
}

/** Keeps the newest `keep` checkpoints, and the best by validation loss whatever its age. */
async function rotate(out: string, keep: number): Promise<void> {
  const dir = join(out, CHECKPOINTS);
  const names = (await readdir(dir)).filter((n) => /^step-\d+$/.test(n)).sort();
  if (names.length <= keep) return;
  let best: string | null = null;
  let bestLoss = Infinity;
  for (const n of names) {
    try {
      const s = JSON.parse(await readFile(join(dir, n, TRAINER_STATE), 'utf8')) as { valLoss: number | null };
      if (s.valLoss !== null && s.valLoss < bestLoss) [best, bestLoss] = [n, s.valLoss];
    } catch {
      // an unreadable state file makes that checkpoint an ordinary candidate for removal
    }
  }
  const removable = names.filter((n) => n !== best);
  for (const n of removable.slice(0, names.length - keep)) await rm(join(dir, n), { recursive: true, force: true });
}

async function writeCurves(out: string): Promise<void> {
  const lines = existsSync(join(out, METRICS)) ? (await readFile(join(out, METRICS), 'utf8')).split('\n').filter(Boolean) : [];
  const rows = lines.map((l) => JSON.parse(l) as { step: number; loss?: number; valLoss?: number });
  const svg = curvesSvg(
    [
      { name: 'training loss', color: '#1f77b4', points: rows.filter((r) => r.loss !== undefined).map((r) => ({ step: r.step, value: r.loss! })) },
      { name: 'validation loss', color: '#d62728', points: rows.filter((r) => r.valLoss !== undefined).map((r) => ({ step: r.step, value: r.valLoss! })) },
    ],
    `${basename(out)}: loss (mean per-family cross-entropy, nats)`,
  );
  await writeFile(join(out, 'curves.svg'), svg);
}

/** Drops metric lines past `step`, so a resumed run's curves have no doubled stretch. */
async function truncateMetrics(out: string, step: number): Promise<void> {
  const file = join(out, METRICS);
  if (!existsSync(file)) return;
  const kept = (await readFile(file, 'utf8')).split('\n').filter((l) => l && (JSON.parse(l) as { step: number }).step <= step);
  await writeFile(file, kept.map((l) => `${l}\n`).join(''));
}

export async function train(opts: TrainOptions, hooks: TrainHooks = {}): Promise<TrainResult> {
  const log = hooks.log ?? (() => {});
  const backend = await selectBackend(opts.backend, log);
  if (backend.name === 'wasm') registerTrainingKernels();
  // Like a bad config, an impossible worker count should fail before any tokenizing.
  const workers = resolveWorkers(opts.workers, backend.name, opts.batchSize);
  // A bad config should fail before minutes of tokenizing, not after.
  const config = opts.resume ? null : resolveConfig(opts.config);
  await mkdir(opts.out, { recursive: true });
  const store = await openData(opts, hooks);
  const split = splitSongs(store.index, opts.valFraction);

  let model: CPTransformer;
  let start = 0;
  let resumeDir: string | null = null;
  if (opts.resume) {
    resumeDir = await latestCheckpoint(opts.out);
    if (!resumeDir) throw new AntiphonError('E_MODEL_MISSING', `--resume: no checkpoint in ${join(opts.out, CHECKPOINTS)}; start without --resume`);
    model = (await loadModel(resumeDir)).model;
    start = (JSON.parse(await readFile(join(resumeDir, TRAINER_STATE), 'utf8')) as { step: number }).step;
    log(`resuming from ${resumeDir} at step ${start}`);
    await truncateMetrics(opts.out, start);
  } else {
    model = CPTransformer.create(config!, opts.seed);
    await rm(join(opts.out, METRICS), { force: true });
  }
  const T = Math.min(opts.context, model.config.contextLength);
  const B = opts.batchSize;
  let stepper: Stepper | null = null;
  try {
    stepper = await createStepper(model, { ...OPTIM_DEFAULTS, lr: opts.lr, warmup: opts.warmup, totalSteps: opts.steps }, {
      workers,
      backend: backend.name,
      batchSize: B,
      resumeDir,
      ...hooks.parallel,
    });
    const trainer = stepper;
    const sampler = new BatchSampler(store, split.train, { contextLength: T, batchSize: B, seed: opts.seed, maxTranspose: opts.maxTranspose });
    let valSampler: BatchSampler | null = null;
    try {
      valSampler = new BatchSampler(store, split.val, { contextLength: T, batchSize: B, seed: opts.seed + 1, maxTranspose: 0 });
    } catch {
      log(`no validation song is longer than ${T} words: evaluation is off`);
    }
    log(`training ${model.config.name} (${Object.keys(model.weights).length} tensors) on ${sampler.songCount} songs, validating on ${split.val.length}; batch ${B} x ${T} words${workers > 1 ? ` split across ${workers} workers` : ''}`);

    const evaluate = async (): Promise<{ valLoss: number; valNllPerWord: number } | null> => {
      if (!valSampler) return null;
      await trainer.syncModel();
      let loss = 0;
      const totals = emptyTotals();
      for (let i = 0; i < opts.evalBatches; i++) {
        const words = valSampler.batch(i);
        loss += tf.tidy(() => accumulateEval(model, batchTensors(words, B, T), totals));
      }
      return { valLoss: loss / opts.evalBatches, valNllPerWord: summarizeEval(totals).nllPerWord };
    };

    const checkpoint = async (step: number, valLoss: number | null) => {
      const dir = join(opts.out, CHECKPOINTS, `step-${String(step).padStart(7, '0')}`);
      await trainer.syncModel();
      await saveModel(model, dir, card(store, opts, step, { ...(valLoss !== null ? { valLoss } : {}) }, split.val.length));
      await trainer.saveState(dir);
      await writeFile(join(dir, TRAINER_STATE), JSON.stringify({ step, valLoss, seed: opts.seed }, null, 1));
      await rotate(opts.out, opts.keepCheckpoints);
    };

    let step = start;
    let lastLoss = NaN;
    let lastVal: number | null = null;
    let wps = 0;
    let stopped = false;
    let windowStart = performance.now();
    let windowSteps = 0;
    while (step < opts.steps) {
      if (hooks.shouldStop?.()) {
        stopped = true;
        break;
      }
      const t0 = performance.now();
      const r = await trainer.step(sampler.batch(step), B, T, step);
      step++;
      windowSteps++;
      lastLoss = r.loss;
      wps = (B * T) / ((performance.now() - t0) / 1000);
      hooks.onStep?.({ step, steps: opts.steps, loss: r.loss, lr: r.lr, wordsPerSec: wps });
      if (step % opts.logEvery === 0 || step === opts.steps) {
        const avgWps = (B * T * windowSteps) / ((performance.now() - windowStart) / 1000);
        await appendFile(join(opts.out, METRICS), JSON.stringify({ step, loss: r.loss, lr: r.lr, gradNorm: r.gradNorm, wordsPerSec: Math.round(avgWps), time: new Date().toISOString() }) + '\n');
        windowStart = performance.now();
        windowSteps = 0;
      }
      const evalNow = step % opts.evalEvery === 0 || step === opts.steps;
      if (evalNow) {
        const v = await evaluate();
        if (v) {
          lastVal = v.valLoss;
          await appendFile(join(opts.out, METRICS), JSON.stringify({ step, ...v }) + '\n');
          log(`step ${step}: validation loss ${v.valLoss.toFixed(4)}, NLL per word ${v.valNllPerWord.toFixed(3)}`);
        }
        await writeCurves(opts.out);
      }
      if (step % opts.checkpointEvery === 0 || step === opts.steps) await checkpoint(step, evalNow ? lastVal : null);
    }
    if (stopped && step > start) {
      await checkpoint(step, null);
      log(`stopped at step ${step}; continue with --resume`);
    }
    await writeCurves(opts.out);
    await trainer.syncModel();
    await saveModel(model, opts.out, card(store, opts, step, { trainLoss: lastLoss, ...(lastVal !== null ? { valLoss: lastVal } : {}), wordsPerSec: Math.round(wps) }, split.val.length));
    return { step, trainLoss: lastLoss, valLoss: lastVal, wordsPerSec: wps, stopped };
  } finally {
    await stepper?.dispose();
    model.dispose();
  }
}

function card(store: TokenStore, opts: TrainOptions, step: number, metrics: Record<string, number>, valSongs: number) {
  return {
    name: basename(opts.out.replace(/\/+$/, '')),
    description: 'A Compound Word Transformer trained by antiphon train.',
    dataSources: store.index.sources,
    trainingSteps: step,
    metrics: Object.fromEntries(Object.entries(metrics).filter(([, v]) => Number.isFinite(v))),
    date: new Date().toISOString(),
    notes: `${store.index.songs.length} songs; whole-song split by name hash, ${valSongs} held out for validation (fraction ${opts.valFraction}); seed ${opts.seed}; batch ${opts.batchSize} x ${opts.context} words; transposition up to ${opts.maxTranspose} semitones.`,
  };
}
