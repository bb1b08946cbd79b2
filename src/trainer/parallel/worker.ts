// One data-parallel training worker (a worker thread, started by pool.ts through
// src/io/worker-boot.mjs). It owns a tfjs backend, the training kernels, a copy of the model
// and of the optimiser. Per step it computes the loss and gradients of its rows of the batch,
// sums them with the other workers' through the shared all-reduce, and applies the same Adam
// update as every other worker, so all copies stay bit-identical without sending weights.

import * as tf from '@tensorflow/tfjs';
import { parentPort, workerData } from 'node:worker_threads';
import { selectBackend } from '../../engine/backend.ts';
import { CPTransformer } from '../../engine/model/transformer.ts';
import { weightSpecs } from '../../engine/model/weights.ts';
import { FAMILIES } from '../../engine/vocab.ts';
import { AntiphonError, isAntiphonError } from '../../errors.ts';
import { registerTrainingKernels } from '../kernels/index.ts';
import type { Wasm } from '../../engine/kernels/wasm-heap.ts';
import { familyCounts } from '../loss.ts';
import { CPTrainer } from '../optimizer.ts';
import { AllReduce, chunkOf, isAbandoned } from './allreduce.ts';
import { READY_ID, type Reply, type Request, type StepResult, type TrainWorkerData } from './protocol.ts';

const W = FAMILIES.length;
const data = workerData as TrainWorkerData;
const port = parentPort!;

let model: CPTransformer | null = null;
let trainer: CPTrainer | null = null;
const reduce = new AllReduce(data.buffers, data.rank, data.barrierTimeoutMs);

function setUp(msg: Extract<Request, { type: 'init' }>): Promise<void> {
  if (model) throw new AntiphonError('E_INTERNAL', `training worker ${data.rank}: initialised twice`);
  const specs = weightSpecs(data.config);
  const named: Record<string, tf.Tensor> = {};
  for (const s of specs) {
    const v = msg.weights[s.name];
    if (v) named[s.name] = tf.tensor(v, s.shape, 'float32');
  }
  model = CPTransformer.fromTensors(data.config, named);
  trainer = new CPTrainer(model, data.optim);
  // The shared vector holds every gradient in the trainer's order, then the loss.
  const length = trainer.variableNames.reduce((n, name) => n + model!.weights[name].size, 0) + 1;
  if (length !== data.buffers.length) {
    throw new AntiphonError('E_INTERNAL', `training worker ${data.rank}: the model has ${length - 1} parameters, the pool expected ${data.buffers.length - 1}`);
  }
  return msg.optimizerDir ? trainer.loadState(msg.optimizerDir) : Promise.resolve();
}

function fault(step: number): void {
  const f = data.fault;
  if (!f || f.rank !== data.rank || f.step !== step) return;
  if (f.kind === 'throw') throw new Error(`injected failure in worker ${data.rank} at step ${step}`);
  if (f.kind === 'exit') process.exit(3);
  for (;;) {
    // hang: never answer, never reach the barrier
  }
}

/**
 * A tensor's floats. On wasm, a view of the backend's heap, valid until the next allocation
 * (use it at once): a step moves every gradient twice, and 14 MB a time of short-lived
 * copies kept V8's collector busy on every core.
 */
function floats(t: tf.Tensor): Float32Array {
  return data.backend === 'wasm' ? ((tf.backend() as unknown as Wasm).typedArrayFromHeap(t) as Float32Array) : (t.dataSync() as Float32Array);
}

/**
 * A tensor of a part of the shared result. wasm copies the values into its heap as it
 * creates the tensor; the cpu backend keeps the array it is given, so it gets a copy (the
 * result is rewritten next step).
 */
function tensorOf(values: Float32Array, shape: number[]): tf.Tensor {
  return tf.tensor(data.backend === 'wasm' ? values : values.slice(), shape, 'float32');
}

function runStep(msg: Extract<Request, { type: 'step' }>): StepResult {
  if (!model || !trainer) throw new AntiphonError('E_INTERNAL', `training worker ${data.rank}: a step before init`);
  const t = trainer;
  const { B, T } = msg;
  const units = data.buffers.units;
  if (B !== data.batchSize) throw new AntiphonError('E_INTERNAL', `training worker ${data.rank}: a batch of ${B}, the pool was built for ${data.batchSize}`);
  const lr = t.setLearningRate(msg.step);
  fault(msg.step);
  // Each unit (a run of rows) is computed by whichever worker claims it first, into its own
  // slot; every loss and gradient is that unit's share of the whole batch's.
  const counts = familyCounts(msg.words, B, T);
  for (let u = reduce.claim(); u >= 0; u = reduce.claim()) {
    const [from, to] = chunkOf(u, units, B);
    tf.tidy(() => {
      const { loss, grads } = t.lossAndGradients(msg.words.subarray(from * (T + 1) * W, to * (T + 1) * W), to - from, T, counts);
      const slot = reduce.slot(u);
      let at = 0;
      for (const g of grads) {
        slot.set(floats(g), at);
        at += g.size;
      }
      slot[at] = loss.dataSync()[0];
    });
  }
  const sum = reduce.reduce();
  const loss = sum[sum.length - 1];
  const norm = tf.tidy(() => {
    let at = 0;
    const summed = t.variableNames.map((name) => {
      const v = model!.weights[name];
      const g = tensorOf(sum.subarray(at, at + v.size), v.shape);
      at += v.size;
      return g;
    });
    return t.clipAndApply(summed);
  });
  const gradNorm = norm.dataSync()[0];
  norm.dispose();
  return { loss, gradNorm, lr };
}

function weights(): Record<string, Float32Array> {
  if (!model) throw new AntiphonError('E_INTERNAL', `training worker ${data.rank}: no model yet`);
  return Object.fromEntries(Object.entries(model.weights).map(([name, v]) => [name, Float32Array.from(v.dataSync() as Float32Array)]));
}

async function handle(msg: Request): Promise<void> {
  try {
    let reply: Reply;
    if (msg.type === 'init') {
      await setUp(msg);
      reply = { type: 'done', id: msg.id };
    } else if (msg.type === 'step') {
      reply = { type: 'done', id: msg.id, result: runStep(msg) };
    } else if (msg.type === 'weights') {
      const w = weights();
      port.postMessage({ type: 'done', id: msg.id, result: w } satisfies Reply, Object.values(w).map((a) => a.buffer as ArrayBuffer));
      return;
    } else {
      if (!trainer) throw new AntiphonError('E_INTERNAL', `training worker ${data.rank}: no optimiser yet`);
      await trainer.saveState(msg.dir);
      reply = { type: 'done', id: msg.id };
    }
    port.postMessage(reply);
  } catch (e) {
    // Say why first, then wake the peers: their "abandoned" replies come after this one.
    const abandoned = isAbandoned(e);
    const error = isAntiphonError(e)
      ? { code: e.code, message: e.message, ...(e.file ? { file: e.file } : {}) }
      : { code: 'E_INTERNAL' as const, message: `training worker ${data.rank}: ${(e as Error)?.stack ?? String(e)}` };
    port.postMessage({ type: 'failed', id: msg.id, error, abandoned } satisfies Reply);
    reduce.abort();
  }
}

// Messages are handled one at a time, in order: a step never starts before the previous
// request (an init reading the optimiser state, say) has finished.
let queue: Promise<void> = Promise.resolve();
port.on('message', (msg: Request) => {
  queue = queue.then(() => handle(msg));
});

await selectBackend(data.backend, () => {});
if (data.backend === 'wasm') registerTrainingKernels();
port.postMessage({ type: 'done', id: READY_ID } satisfies Reply);
