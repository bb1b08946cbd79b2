// `antiphon train --workers 2`: exact resume, resuming a one-process run, stopping on SIGINT
// and on a failing worker, with no worker thread left behind.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModel } from '../src/engine/model/checkpoint.ts';
import { AntiphonError } from '../src/errors.ts';
import { liveTrainWorkerCount } from '../src/trainer/parallel/pool.ts';
import { train, TRAIN_DEFAULTS } from '../src/trainer/train-run.ts';
import { cli } from './helpers/cli.ts';
import { POP909, ROOT } from './helpers/data.ts';
import { engineBackend } from './helpers/engine-setup.ts';

let tmp = '';
let config = '';
let store = '';
const common = (out: string, steps: number, workers: number) => [
  'train', '--data', store, '--out', out, '--config', config, '--steps', String(steps), '--backend', 'wasm',
  '--context', '48', '--batch-size', '2', '--eval-every', '3', '--checkpoint-every', '3', '--eval-batches', '1',
  '--val-fraction', '0.3', '--warmup', '2', '--log-every', '1', '--workers', String(workers),
];

async function weightsOf(dir: string): Promise<Record<string, Float32Array>> {
  const { model } = await loadModel(dir);
  const w = Object.fromEntries(Object.entries(model.weights).map(([k, v]) => [k, Float32Array.from(v.dataSync() as Float32Array)]));
  model.dispose();
  return w;
}

const lossAt = async (out: string, step: number) =>
  ((await readFile(join(out, 'metrics.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l)).find((m) => m.step === step && m.loss !== undefined) as { loss: number }).loss;

test.before(async () => {
  await engineBackend();
  tmp = await mkdtemp(join(tmpdir(), 'antiphon-parallel-run-'));
  config = join(tmp, 'tiny.json');
  await writeFile(config, JSON.stringify({
    name: 'tiny', dModel: 32, nLayers: 2, nHeads: 4, dFF: 64,
    embDims: { type: 4, barBeat: 8, tempo: 8, chord: 8, pitch: 8, duration: 8, velocity: 8 },
    contextLength: 64, nKeep: 4,
  }));
  store = join(tmp, 'store');
  const songs = ['001', '002', '003', '004', '005', '006'].flatMap((s) => ['--data', join(POP909, s)]);
  const r = await cli('dataset', 'build', ...songs, '--out', store);
  assert.is(r.code, 0, r.err);
});
test.after(async () => {
  await rm(tmp, { recursive: true, force: true });
});

test('--workers 2: --resume gives the weights of an uninterrupted 2-worker run, bit for bit', async () => {
  const straight = join(tmp, 'straight');
  const resumed = join(tmp, 'resumed');
  const s = await cli(...common(straight, 6, 2));
  assert.is(s.code, 0, s.err);
  assert.ok(s.err.includes('split across 2 workers'), s.err);
  assert.is((await cli(...common(resumed, 3, 2))).code, 0);
  const r = await cli(...common(resumed, 6, 2), '--resume');
  assert.is(r.code, 0, r.err);
  assert.ok(r.err.includes('resuming from') && r.err.includes('step 3'));
  const a = await weightsOf(straight);
  const b = await weightsOf(resumed);
  for (const name of Object.keys(a)) assert.equal(new Uint32Array(b[name].buffer), new Uint32Array(a[name].buffer), `${name} differs after resume`);
  assert.is(liveTrainWorkerCount(), 0);
});

test('a run started by the one-process trainer resumes with --workers 2', async () => {
  const straight = join(tmp, 'one-straight');
  const mixed = join(tmp, 'one-then-two');
  assert.is((await cli(...common(straight, 6, 1))).code, 0);
  assert.is((await cli(...common(mixed, 3, 1))).code, 0);
  const r = await cli(...common(mixed, 6, 2), '--resume');
  assert.is(r.code, 0, r.err);
  assert.ok(r.err.includes('split across 2 workers'));
  // The first resumed step sees the same weights, data and Adam state: the same loss.
  const [l1, l2] = [await lossAt(straight, 4), await lossAt(mixed, 4)];
  assert.ok(Math.abs(l1 - l2) <= 1e-5 * l1, `step 4 loss ${l1} vs ${l2}`);
  // Three steps on, only float-order noise separates them. Had the workers started Adam
  // afresh, their first update would be lr * sign(g) and most weights would be off by ~lr.
  const a = await weightsOf(straight);
  const b = await weightsOf(mixed);
  let n = 0;
  let close = 0;
  for (const name of Object.keys(a)) {
    for (let j = 0; j < a[name].length; j++) {
      n++;
      if (Math.abs(a[name][j] - b[name][j]) <= 1e-6) close++;
    }
  }
  assert.ok(close >= 0.99 * n, `${n - close} of ${n} weights differ by more than 1e-6`);
});

test('a worker that throws ends train() with an AntiphonError, and no worker is left', async () => {
  let error: unknown = null;
  try {
    await train(
      {
        ...TRAIN_DEFAULTS, data: [store], out: join(tmp, 'fault'), config, steps: 6, backend: 'wasm', context: 48, batchSize: 2,
        evalEvery: 3, checkpointEvery: 3, evalBatches: 1, valFraction: 0.3, warmup: 2, logEvery: 1, workers: 2,
      },
      { parallel: { fault: { rank: 1, step: 4, kind: 'throw' } } },
    );
  } catch (e) {
    error = e;
  }
  assert.instance(error, AntiphonError);
  assert.is((error as AntiphonError).code, 'E_INTERNAL');
  assert.match((error as AntiphonError).message, /injected failure in worker 1 at step 4/);
  assert.is(liveTrainWorkerCount(), 0);
  assert.ok(existsSync(join(tmp, 'fault', 'checkpoints', 'step-0000003', 'trainer.json')), 'the checkpoint before the failure stays');
});

test('SIGINT: the run checkpoints, stops, and the process exits with no worker left', async () => {
  const out = join(tmp, 'sigint');
  const child = spawn(process.execPath, [join(ROOT, 'bin', 'antiphon.js'), ...common(out, 100_000, 2).concat(['--checkpoint-every', '100000', '--eval-every', '100000'])], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  let stdout = '';
  child.stdout.on('data', (d) => (stdout += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    const deadline = setTimeout(() => reject(new Error(`no step 3 within 120 s:\n${err}`)), 120_000);
    child.stderr.on('data', (d) => {
      err += d;
      if (/step 3\/100000/.test(err)) {
        clearTimeout(deadline);
        resolve();
      }
    });
  });
  child.kill('SIGINT');
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const code = await exited;
  clearTimeout(timer);
  assert.is(code, 0, `exit ${code}: ${err}`);
  const stopped = /stopped to step (\d+)/.exec(stdout);
  assert.ok(stopped, stdout);
  const step = Number(stopped![1]);
  assert.ok(step >= 3);
  assert.ok(existsSync(join(out, 'checkpoints', `step-${String(step).padStart(7, '0')}`, 'optimizer.bin')), 'a checkpoint with the optimiser state');
});

test('--workers that cannot work is refused before any data is read', async () => {
  const r = await cli('train', '--data', join(tmp, 'no-such-folder'), '--out', join(tmp, 'refused'), '--backend', 'wasm', '--batch-size', '2', '--workers', '3');
  assert.is(r.code, 2, r.err);
  assert.match(r.err, /E_USAGE.*--workers 3 is more than the batch size 2/);
  assert.not.ok(existsSync(join(tmp, 'refused')), 'nothing was written');
});

test.run();
