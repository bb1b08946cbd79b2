// Where one training step's time goes: the loss and gradients of the shipped model's config
// for `--rows` sequences of `--context` words (what one data-parallel worker computes per
// unit), timed, then once under tf.profile, time per kernel and per matMul shape.
//
//   node --import tsx bench/train-profile.ts [--config small] [--rows 1] [--context 512] [--reps 3] [--json]
//
// Custom-op wrappers (fusedMatMul__op and the like) enclose kernels listed on their own and
// are left out of the totals.
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/engine/backend.ts';
import { presetConfig } from '../src/engine/model/config.ts';
import { CPTransformer } from '../src/engine/model/transformer.ts';
import { registerTrainingKernels } from '../src/trainer/kernels/index.ts';
import { CPTrainer, OPTIM_DEFAULTS } from '../src/trainer/optimizer.ts';
import { benchBatch } from './train.ts';

export interface TrainProfile {
  config: string;
  rows: number;
  context: number;
  wallMs: number;
  wordsPerSecOneCore: number;
  kernelMs: number;
  kernelCalls: number;
  kernels: { name: string; ms: number; calls: number }[];
  matMuls: { name: string; ms: number; calls: number }[];
}

interface Row {
  name: string;
  ms: number;
  calls: number;
}

function top(entries: Map<string, Row>, n: number): Row[] {
  return [...entries.values()].sort((a, b) => b.ms - a.ms).slice(0, n).map((e) => ({ ...e, ms: +e.ms.toFixed(1) }));
}

/** Profiles one unit on the wasm backend (selected here if it is not already), with the training kernels. */
export async function profileTrainUnit(opts: { config: string; rows?: number; context?: number; reps?: number }): Promise<TrainProfile> {
  const B = opts.rows ?? 1;
  const T = opts.context ?? 512;
  const reps = opts.reps ?? 3;
  if (tf.getBackend() !== 'wasm') await selectBackend('wasm', () => {});
  registerTrainingKernels();
  const model = CPTransformer.create(presetConfig(opts.config), 1);
  const trainer = new CPTrainer(model, OPTIM_DEFAULTS);
  try {
    const batch = benchBatch(B, T);
    const run = () =>
      tf.tidy(() => {
        const { loss, grads } = trainer.lossAndGradients(batch, B, T);
        loss.dataSync();
        for (const g of grads) g.dataSync();
      });
    run(); // warm-up: kernels set up, XNNPACK weights packed
    const t0 = performance.now();
    for (let r = 0; r < reps; r++) run();
    const wallMs = (performance.now() - t0) / reps;
    const profile = await tf.profile(() => {
      run();
    });
    const byKernel = new Map<string, Row>();
    const byMatMul = new Map<string, Row>();
    for (const k of profile.kernels) {
      if (k.name.endsWith('__op')) continue;
      const ms = Number(await k.kernelTimeMs);
      const add = (m: Map<string, Row>, name: string) => {
        const e = m.get(name) ?? { name, ms: 0, calls: 0 };
        e.ms += ms;
        e.calls++;
        m.set(name, e);
      };
      add(byKernel, k.name);
      if (k.name === 'BatchMatMul' || k.name === '_FusedMatMul') add(byMatMul, `${k.name} ${k.inputShapes.slice(0, 2).map((s) => `[${s}]`).join(' x ')}`);
    }
    return {
      config: opts.config,
      rows: B,
      context: T,
      wallMs: Math.round(wallMs),
      wordsPerSecOneCore: Math.round((B * T * 1000) / wallMs),
      kernelMs: Math.round([...byKernel.values()].reduce((s, e) => s + e.ms, 0)),
      kernelCalls: [...byKernel.values()].reduce((s, e) => s + e.calls, 0),
      kernels: top(byKernel, 15),
      matMuls: top(byMatMul, 12),
    };
  } finally {
    trainer.dispose();
    model.dispose();
  }
}

async function main(): Promise<void> {
  const USAGE = 'usage: node --import tsx bench/train-profile.ts [--config small|base] [--rows N] [--context T] [--reps N] [--json]';
  const { values: opt } = parseArgs({
    options: {
      config: { type: 'string', default: 'small' },
      rows: { type: 'string', default: '1' },
      context: { type: 'string', default: '512' },
      reps: { type: 'string', default: '3' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (opt.help) {
    console.log(USAGE);
    return;
  }
  const [rows, context, reps] = [opt.rows, opt.context, opt.reps].map(Number);
  if (![rows, context, reps].every((n) => Number.isInteger(n) && n >= 1)) {
    console.error(USAGE);
    process.exitCode = 2;
    return;
  }
  const r = await profileTrainUnit({ config: opt.config!, rows, context, reps });
  if (opt.json) {
    console.log(JSON.stringify(r));
    return;
  }
  console.log(`${r.config}, ${r.rows} x ${r.context} words: loss and gradients ${r.wallMs} ms (${r.wordsPerSecOneCore} words/s on one core)`);
  console.log(`kernels ${r.kernelMs} ms in ${r.kernelCalls} calls`);
  for (const e of r.kernels) console.log(`  ${e.name.padEnd(20)} ${e.ms.toFixed(1).padStart(8)} ms ${((100 * e.ms) / r.kernelMs).toFixed(1).padStart(5)}% ${String(e.calls).padStart(5)} calls`);
  console.log('matMuls by shape:');
  for (const e of r.matMuls) console.log(`  ${e.ms.toFixed(1).padStart(8)} ms ${String(e.calls).padStart(4)}x  ${e.name}`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await main();
