// The engine benchmark: per-word decode latency through the KV cache, the same step by
// full recompute, priming throughput and peak memory. Returns a plain object that later
// benchmarks extend with their own keys.
import * as tf from '@tensorflow/tfjs';
import { selectBackend, type BackendChoice } from '../src/engine/backend.ts';
import { parameterCount, presetConfig } from '../src/engine/model/config.ts';
import { CPTransformer } from '../src/engine/model/transformer.ts';
import { Grammar } from '../src/engine/sampler/grammar.ts';
import { Sampler } from '../src/engine/sampler/sampler.ts';
import { TYPE, VOCAB } from '../src/engine/vocab.ts';
import { benchWords } from './words.ts';

export interface Latency {
  p50Ms: number;
  p99Ms: number;
}

export interface EngineBench {
  backend: string;
  model: string;
  decode: { ctx64: Latency; ctx512: Latency; ctx1024: Latency };
  recomputeRatioCtx512: number;
  primeWordsPerSec: number;
  peakRssMb: number;
  [extra: string]: unknown;
}

export interface EngineBenchOptions {
  config: string;
  backend: BackendChoice;
  /** Timed decode steps per context; the default scales with the model. */
  steps?: number;
  log?: (line: string) => void;
}

const round = (x: number, digits = 3) => Number(x.toFixed(digits));

function percentile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

export async function runEngineBench(opts: EngineBenchOptions): Promise<EngineBench> {
  const log = opts.log ?? (() => {});
  const backend = await selectBackend(opts.backend, log);
  const config = presetConfig(opts.config);
  const model = CPTransformer.create(config, 1);
  const big = config.nLayers * config.dModel > 4096;
  const steps = opts.steps ?? (big ? 60 : 300);
  const warm = big ? 5 : 20;
  const words = benchWords(config.contextLength + steps + warm + 8, 3);
  const sampler = new Sampler({ seed: 1 });

  const decode = {} as EngineBench['decode'];
  const decodeSampleCounts: Record<string, number> = {};
  for (const ctx of [64, 512, 1024] as const) {
    // Decoding at context n: n - 1 words cached, the step adds the n-th and attends to all.
    // Each measured step starts from the same n - 1 words: truncate drops the word the step
    // before added. (Until session 4 a snapshot was restored instead; rewriting the whole cache
    // before every step pushed the weights out of the CPU caches, which no live step suffers:
    // at context 512 it made a step 1.07-1.11 ms against 0.93 back to back.)
    const cache = model.createCache();
    model.prime(cache, words.slice(0, ctx - 1));
    const grammar = Grammar.after(cache.words);
    const times: number[] = [];
    for (let i = 0; i < warm + steps; i++) {
      cache.truncate(ctx - 1);
      const w = words[ctx - 1 + (i % 8)];
      const t0 = performance.now();
      const logits = model.step(cache, w);
      sampler.sampleWord(logits, grammar);
      const dt = performance.now() - t0;
      if (i >= warm) times.push(dt);
    }
    cache.dispose();
    times.sort((a, b) => a - b);
    decode[`ctx${ctx}`] = { p50Ms: round(percentile(times, 0.5)), p99Ms: round(percentile(times, 0.99)) };
    decodeSampleCounts[`ctx${ctx}`] = times.length;
    log(`decode ctx ${ctx}: p50 ${decode[`ctx${ctx}`].p50Ms} ms, p99 ${decode[`ctx${ctx}`].p99Ms} ms (${times.length} steps)`);
  }

  // The same next-word distributions by recomputing all 512 words.
  const recomputeRuns: number[] = [];
  const input = tf.tensor3d([words.slice(0, 512).map((w) => [...w])], [1, 512, 7], 'int32');
  const targets = tf.fill([1, 512], TYPE.NOTE, 'int32') as tf.Tensor2D;
  for (let r = 0; r < (big ? 2 : 4); r++) {
    const t0 = performance.now();
    const out = model.forward(input, targets);
    for (const t of Object.values(out)) t.dataSync();
    const dt = performance.now() - t0;
    for (const t of Object.values(out)) t.dispose();
    if (r > 0) recomputeRuns.push(dt);
  }
  input.dispose();
  targets.dispose();
  const forwardMs = median(recomputeRuns);
  log(`forward() over 512 words: ${forwardMs.toFixed(1)} ms`);

  const primeRuns: number[] = [];
  for (let r = 0; r < (big ? 2 : 4); r++) {
    const cache = model.createCache();
    const t0 = performance.now();
    model.prime(cache, words.slice(0, 512));
    const dt = performance.now() - t0;
    cache.dispose();
    if (r > 0) primeRuns.push(dt);
  }
  const primeMs = median(primeRuns);
  log(`prime 512 words: ${primeMs.toFixed(1)} ms`);
  // The recompute is whichever of the two full passes is faster: both end in the same
  // distributions for the 513th word, and a slow baseline would flatter the cache.
  const recomputeMs = Math.min(forwardMs, primeMs);
  log(`recompute ctx 512: ${recomputeMs.toFixed(1)} ms (the faster of forward() and a prime from empty)`);

  model.dispose();
  const peakRssMb = process.resourceUsage().maxRSS / 1024;
  return {
    backend: backend.name,
    model: config.name,
    decode,
    recomputeRatioCtx512: round(recomputeMs / decode.ctx512.p50Ms, 1),
    primeWordsPerSec: round(512 / (primeMs / 1000), 0),
    peakRssMb: round(peakRssMb, 1),
    recomputeMsCtx512: round(recomputeMs, 1),
    forwardMsCtx512: round(forwardMs, 1),
    decodeWordsPerSecCtx512: round(1000 / decode.ctx512.p99Ms, 0),
    parameters: parameterCount(config, VOCAB.sizes),
    layers: config.nLayers,
    dModel: config.dModel,
    heads: config.nHeads,
    contextLength: config.contextLength,
    decodeSteps: decodeSampleCounts,
    node: process.version,
    cpus: (await import('node:os')).cpus().length,
    date: new Date().toISOString(),
  };
}
