// Data-parallel training: the all-reduce, the worker pool against the one-process trainer,
// bit-identical replicas, and failures that must end a run instead of hanging it.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import { CPTransformer } from '../src/engine/model/transformer.ts';
import { FAMILIES } from '../src/engine/vocab.ts';
import { AntiphonError } from '../src/errors.ts';
import { familyCounts } from '../src/trainer/loss.ts';
import { CPTrainer, OPTIM_DEFAULTS } from '../src/trainer/optimizer.ts';
import { abortAllReduce, createAllReduceBuffers, type AllReduceBuffers } from '../src/trainer/parallel/allreduce.ts';
import { liveTrainWorkerCount, TrainWorkerPool } from '../src/trainer/parallel/pool.ts';
import { createStepper, resolveWorkers } from '../src/trainer/parallel/stepper.ts';
import { engineBackend, randomWords, tinyConfig } from './helpers/engine-setup.ts';

const W = FAMILIES.length;
const B = 4;
const T = 24;
const optim = { ...OPTIM_DEFAULTS, lr: 3e-3, warmup: 2, totalSteps: 50 };
const BOOT = new URL('../src/io/worker-boot.mjs', import.meta.url);
const ALLREDUCE = new URL('../src/trainer/parallel/allreduce.ts', import.meta.url).href;

function batchFrom(seed: number, rows = B): Int32Array {
  const out = new Int32Array(rows * (T + 1) * W);
  for (let b = 0; b < rows; b++) randomWords(T + 1, seed + b).forEach((w, t) => out.set(w, (b * (T + 1) + t) * W));
  return out;
}

const parameterCount = (m: CPTransformer) => Object.values(m.weights).reduce((n, v) => n + v.size, 0);
const snapshot = (m: CPTransformer) => Object.fromEntries(Object.entries(m.weights).map(([k, v]) => [k, Float32Array.from(v.dataSync() as Float32Array)]));

let tmp = '';
let reducerEntry = '';
test.before(async () => {
  await engineBackend();
  tmp = await mkdtemp(join(tmpdir(), 'antiphon-parallel-'));
  // A bare all-reduce participant. Each message is one round: every unit's vector (or
  // `stall`: never arrive); it claims units until none is left, fills their slots, and
  // answers with the sum and the units it took.
  reducerEntry = join(tmp, 'reducer.ts');
  await writeFile(
    reducerEntry,
    `import { parentPort, workerData } from 'node:worker_threads';
import { AllReduce } from ${JSON.stringify(ALLREDUCE)};
const r = new AllReduce(workerData.buffers, workerData.rank, workerData.timeoutMs);
parentPort!.on('message', (m: { units?: Float32Array[]; stall?: boolean; delayMs?: number }) => {
  if (m.stall) return;
  try {
    const took: number[] = [];
    for (let u = r.claim(); u >= 0; u = r.claim()) {
      took.push(u);
      r.slot(u).set(m.units![u]);
      const until = performance.now() + (m.delayMs ?? 0);
      while (performance.now() < until) {
        // a slow worker
      }
    }
    parentPort!.postMessage({ sum: r.reduce().slice(), took });
  } catch (e) {
    parentPort!.postMessage({ error: (e as Error).message });
  }
});
parentPort!.postMessage({ ready: true });
`,
  );
});
test.after(async () => {
  await rm(tmp, { recursive: true, force: true });
});

/** Starts one reducer thread per worker of the group; each answers every round with its sum or its error. */
async function reducers(buffers: AllReduceBuffers, timeoutMs: number) {
  const workers = Array.from({ length: buffers.workers }, (_, rank) => new Worker(BOOT, { workerData: { entry: pathToFileURL(reducerEntry).href, buffers, rank, timeoutMs } }));
  const inbox = workers.map((w) => {
    const queue: Array<Record<string, unknown>> = [];
    const waiting: Array<(m: Record<string, unknown>) => void> = [];
    w.on('message', (m) => (waiting.length ? waiting.shift()!(m) : queue.push(m)));
    return () => (queue.length ? Promise.resolve(queue.shift()!) : new Promise<Record<string, unknown>>((r) => waiting.push(r)));
  });
  await Promise.all(inbox.map((next) => next()));
  const close = () => Promise.all(workers.map((w) => w.terminate()));
  return { workers, inbox, close };
}

test('the all-reduce sums every unit in unit order, bit-identically in every worker, whoever took which unit', async () => {
  for (const [n, units] of [[2, 4], [3, 5], [2, 1]]) {
    const length = 1001; // not a multiple of the workers: the summed chunks are uneven
    const buffers = createAllReduceBuffers(n, units, length);
    const { workers, inbox, close } = await reducers(buffers, 20_000);
    try {
      for (let round = 0; round < 4; round++) {
        const vectors = Array.from({ length: units }, (_, u) =>
          Float32Array.from({ length }, (_, j) => Math.fround(Math.sin(j * 0.37 + u * 1.3 + round) * 10 ** ((j % 7) - 3))),
        );
        // In odd rounds worker 0 is slow, so the others take more units.
        workers.forEach((w, rank) => w.postMessage({ units: vectors, delayMs: round % 2 && rank === 0 ? 50 : 0 }));
        const replies = await Promise.all(inbox.map((next) => next()));
        replies.forEach((m) => assert.ok(m.sum, `worker failed: ${m.error}`));
        const took = replies.flatMap((m) => m.took as number[]).sort((a, b) => a - b);
        assert.equal(took, Array.from({ length: units }, (_, u) => u), 'every unit taken once');
        const expected = new Float32Array(length);
        for (let j = 0; j < length; j++) {
          let s = vectors[0][j];
          for (let k = 1; k < units; k++) s += vectors[k][j];
          expected[j] = s;
        }
        const sums = replies.map((m) => m.sum as Float32Array);
        for (let rank = 0; rank < n; rank++) {
          assert.equal(new Uint32Array(sums[rank].buffer), new Uint32Array(expected.buffer), `round ${round}: worker ${rank} of ${n}, ${units} units`);
        }
      }
    } finally {
      await close();
    }
  }
});

test('a worker that never arrives times its peers out, and an abort wakes them at once', async () => {
  let buffers = createAllReduceBuffers(2, 2, 8);
  let r = await reducers(buffers, 300);
  const units = [new Float32Array(8), new Float32Array(8)];
  try {
    const t0 = performance.now();
    r.workers[0].postMessage({ units });
    r.workers[1].postMessage({ stall: true });
    const m = await r.inbox[0]();
    assert.match(String(m.error), /waited 0\.3 s/);
    assert.ok(performance.now() - t0 < 5000);
  } finally {
    await r.close();
  }
  buffers = createAllReduceBuffers(2, 2, 8);
  r = await reducers(buffers, 60_000);
  try {
    const t0 = performance.now();
    r.workers[0].postMessage({ units });
    setTimeout(() => abortAllReduce(buffers), 200);
    const m = await r.inbox[0]();
    assert.match(String(m.error), /abandoned/);
    assert.ok(performance.now() - t0 < 5000, 'the abort, not the 60 s deadline, ended the wait');
  } finally {
    await r.close();
  }
});

test('row shards with the whole batch’s family counts add up to the whole batch’s loss and gradient', () => {
  const model = CPTransformer.create(tinyConfig(), 3);
  const trainer = new CPTrainer(model, optim);
  const words = batchFrom(40);
  const counts = familyCounts(words, B, T);
  const rows = (from: number, to: number) => words.subarray(from * (T + 1) * W, to * (T + 1) * W);
  tf.tidy(() => {
    const whole = trainer.lossAndGradients(words, B, T);
    const a = trainer.lossAndGradients(rows(0, 1), 1, T, counts);
    const b = trainer.lossAndGradients(rows(1, B), B - 1, T, counts);
    const loss = whole.loss.dataSync()[0];
    assert.ok(Math.abs(a.loss.dataSync()[0] + b.loss.dataSync()[0] - loss) < 1e-6 * loss, 'losses add up');
    // Each shard divided by its own counts would not: the uneven shards weigh a row differently.
    const own = trainer.lossAndGradients(rows(0, 1), 1, T).loss.dataSync()[0] / B;
    assert.ok(Math.abs(own - a.loss.dataSync()[0]) > 1e-4, `the shard with its own counts is a different loss (${own} vs ${a.loss.dataSync()[0]})`);
    let worst = 0;
    whole.grads.forEach((g, i) => {
      const x = g.dataSync();
      const y = tf.add(a.grads[i], b.grads[i]).dataSync();
      const scale = Math.max(...Array.from(x, Math.abs)) || 1;
      for (let j = 0; j < x.length; j++) worst = Math.max(worst, Math.abs(x[j] - y[j]) / scale);
    });
    // float32 sums over 72 positions in another order: a few units in the last place of the largest element.
    assert.ok(worst < 1e-5, `gradients differ by ${worst} of the largest element`);
  });
  trainer.dispose();
  model.dispose();
});

test('one step with 2 workers gives the weights of one step with 1 worker on the same batch', async () => {
  const words = batchFrom(70);
  const one = CPTransformer.create(tinyConfig(), 5);
  const two = CPTransformer.create(tinyConfig(), 5);
  // The reference gradient, to know which elements sit at Adam's epsilon.
  const probe = CPTransformer.create(tinyConfig(), 5);
  const probeTrainer = new CPTrainer(probe, optim);
  const gradient = tf.tidy(() => {
    const { grads } = probeTrainer.lossAndGradients(words, B, T);
    return Object.fromEntries(probeTrainer.variableNames.map((n, i) => [n, grads[i].dataSync() as Float32Array]));
  });
  probeTrainer.dispose();
  probe.dispose();
  const s1 = await createStepper(one, optim, { workers: 1, backend: 'wasm', batchSize: B, resumeDir: null });
  const s2 = await createStepper(two, optim, { workers: 2, backend: 'wasm', batchSize: B, resumeDir: null });
  try {
    const r1 = await s1.step(words, B, T, 0);
    const r2 = await s2.step(words, B, T, 0);
    assert.ok(Math.abs(r1.loss - r2.loss) <= 1e-6 * r1.loss, `loss ${r1.loss} vs ${r2.loss}`);
    assert.ok(Math.abs(r1.gradNorm - r2.gradNorm) <= 1e-5 * r1.gradNorm, `gradient norm ${r1.gradNorm} vs ${r2.gradNorm}`);
    assert.is(r1.lr, r2.lr);
    await s2.syncModel();
    const a = snapshot(one);
    const b = snapshot(two);
    // Adam's first update is lr * g / (|g| + 1e-8) per element: about lr * sign(g), and
    // insensitive to how g's float sums were ordered, unless |g| is within a few orders of
    // epsilon, where its rounding noise decides the sign (attention's key bias, whose true
    // gradient is zero). Elsewhere the two runs agree to float32 rounding of the weight.
    let compared = 0;
    let skipped = 0;
    let worst = 0;
    for (const name of Object.keys(a)) {
      const g = gradient[name];
      for (let j = 0; j < a[name].length; j++) {
        if (g[j] !== 0 && Math.abs(g[j]) < 1e-6) {
          skipped++;
          continue;
        }
        compared++;
        worst = Math.max(worst, Math.abs(a[name][j] - b[name][j]) / Math.max(1, Math.abs(a[name][j])));
      }
    }
    assert.ok(worst <= 1e-6, `weights differ by ${worst}`);
    assert.ok(skipped < 0.01 * (compared + skipped), `${skipped} of ${compared + skipped} elements have gradients at epsilon`);
  } finally {
    await s1.dispose();
    await s2.dispose();
    one.dispose();
    two.dispose();
  }
  assert.is(liveTrainWorkerCount(), 0);
});

/** Five steps on a pool of `workers`; the weights of every worker. */
async function poolRun(workers: number, seed: number, backend: 'wasm' | 'cpu' = 'wasm', steps = 5): Promise<Array<Record<string, Float32Array>>> {
  const model = CPTransformer.create(tinyConfig(), seed);
  const pool = await TrainWorkerPool.start({
    workers, backend, config: model.config, optim, batchSize: B, parameters: parameterCount(model), barrierTimeoutMs: 60_000, startTimeoutMs: 120_000,
  });
  try {
    await pool.init(snapshot(model), null);
    for (let s = 0; s < steps; s++) {
      const r = await pool.step(batchFrom(100 + 10 * s), B, T, s);
      assert.ok(Number.isFinite(r.loss) && r.gradNorm > 0);
    }
    const out = [];
    for (let rank = 0; rank < workers; rank++) out.push(await pool.weights(rank));
    return out;
  } finally {
    await pool.dispose();
    model.dispose();
  }
}

test('the workers’ weights stay bit-identical over several steps, move, and match a 1-worker pool bit for bit', async () => {
  const start = snapshot(CPTransformer.create(tinyConfig(), 9));
  const [w0, w1] = await poolRun(2, 9);
  assert.is(liveTrainWorkerCount(), 0);
  const [solo] = await poolRun(1, 9);
  assert.is(liveTrainWorkerCount(), 0);
  for (const name of Object.keys(start)) {
    assert.equal(new Uint32Array(w1[name].buffer), new Uint32Array(w0[name].buffer), `${name} differs between the workers`);
    // Each row's gradient goes to its own slot and the slots are summed in row order, so who
    // computed which row, and how many workers there were, leaves no trace.
    assert.equal(new Uint32Array(solo[name].buffer), new Uint32Array(w0[name].buffer), `${name} differs from the 1-worker pool`);
  }
  assert.ok(Object.keys(start).every((n) => w0[n].some((v, j) => v !== start[n][j])), 'every weight moved');
});

test('workers on the cpu backend train too, and agree with each other and with one worker', async () => {
  const start = snapshot(CPTransformer.create(tinyConfig(), 4));
  const [w0, w1] = await poolRun(2, 4, 'cpu', 2);
  const [solo] = await poolRun(1, 4, 'cpu', 2);
  for (const name of Object.keys(start)) {
    assert.equal(new Uint32Array(w1[name].buffer), new Uint32Array(w0[name].buffer), `${name} differs between the workers`);
    assert.equal(new Uint32Array(solo[name].buffer), new Uint32Array(w0[name].buffer), `${name} differs from the 1-worker pool`);
  }
  assert.ok(Object.keys(start).every((n) => w0[n].some((v, j) => v !== start[n][j])), 'every weight moved');
  assert.is(liveTrainWorkerCount(), 0);
});

for (const kind of ['throw', 'exit', 'hang'] as const) {
  test(`a worker that fails (${kind}) ends the step with an AntiphonError and leaves no worker alive`, async () => {
    const model = CPTransformer.create(tinyConfig(), 2);
    const t0 = performance.now();
    let stepper: Awaited<ReturnType<typeof createStepper>> | null = null;
    let error: unknown = null;
    let again: unknown = null;
    try {
      stepper = await createStepper(model, optim, { workers: 2, backend: 'wasm', batchSize: B, resumeDir: null, barrierTimeoutMs: 1500, fault: { rank: 1, step: 1, kind } });
      await stepper.step(batchFrom(1), B, T, 0);
      await stepper.step(batchFrom(2), B, T, 1);
    } catch (e) {
      error = e;
      // A failed pool refuses further work with the same reason.
      again = await stepper?.step(batchFrom(3), B, T, 2).then(() => null, (e2: unknown) => e2);
    } finally {
      await stepper?.dispose();
    }
    assert.is(again, error);
    assert.instance(error, AntiphonError);
    assert.is((error as AntiphonError).code, 'E_INTERNAL');
    const why = { throw: /injected failure in worker 1 at step 1/, exit: /worker 1 stopped unexpectedly \(exit code 3\)/, hang: /worker 0: waited 1\.5 s/ }[kind];
    assert.match((error as AntiphonError).message, why);
    assert.ok(performance.now() - t0 < 60_000, 'it ended, not hung');
    assert.is(liveTrainWorkerCount(), 0, 'no worker left');
    model.dispose();
  });
}

test('--workers resolves auto by backend, cores and batch, and refuses what cannot work', () => {
  assert.is(resolveWorkers('auto', 'wasm', 4, 2), 2);
  assert.is(resolveWorkers('auto', 'wasm', 4, 1), 1);
  assert.is(resolveWorkers('auto', 'cpu', 2, 16), 2);
  assert.is(resolveWorkers('auto', 'tensorflow', 4, 16), 1);
  assert.is(resolveWorkers(3, 'wasm', 4, 2), 3);
  assert.throws(() => resolveWorkers(2, 'tensorflow', 4, 2), (e: AntiphonError) => e.code === 'E_USAGE');
  assert.throws(() => resolveWorkers(5, 'wasm', 4, 8), (e: AntiphonError) => e.code === 'E_USAGE' && /batch size 4/.test(e.message));
  assert.throws(() => resolveWorkers(0, 'wasm', 4, 8), (e: AntiphonError) => e.code === 'E_USAGE');
});

test.run();
