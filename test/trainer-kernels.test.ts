// Each wasm training kernel against the plain cpu backend, within 5e-5.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { dense, denseRelu, layerNorm, registerTrainingKernels, trainingKernelsActive } from '../src/trainer/kernels/index.ts';

import { selectBackend } from '../src/engine/backend.ts';

await selectBackend('wasm', () => {});
await tf.setBackend('cpu');
registerTrainingKernels();

const TOL = 5e-5;

let seed = 12345;
function rand(n: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    seed = (seed * 1103515245 + 12345) >>> 0;
    out[i] = (seed / 2 ** 32) * 2 - 1;
  }
  return out;
}
const size = (s: number[]) => s.reduce((p, q) => p * q, 1);
type Input = { shape: number[]; data: Float32Array | Int32Array; dtype?: 'float32' | 'int32' };
const randT = (shape: number[]): Input => ({ shape, data: rand(size(shape)) });

/** Runs `f` on fresh copies of `inputs` on one backend; returns every output as arrays. */
async function on(backend: string, inputs: Input[], f: (...ts: tf.Tensor[]) => tf.Tensor | tf.Tensor[]) {
  await tf.setBackend(backend);
  const outs = tf.tidy(() => {
    const ts = inputs.map((i) => tf.tensor(i.data, i.shape, i.dtype ?? 'float32'));
    const r = f(...ts);
    return Array.isArray(r) ? r : [r];
  });
  const res = outs.map((o) => ({ shape: o.shape, data: o.dataSync() as Float32Array }));
  tf.dispose(outs);
  return res;
}

function close(got: { shape: number[]; data: Float32Array }[], want: typeof got, what: string) {
  assert.is(got.length, want.length, what);
  got.forEach((g, i) => {
    assert.equal(g.shape, want[i].shape, `${what}: shape of output ${i}`);
    let worst = 0;
    for (let j = 0; j < g.data.length; j++) worst = Math.max(worst, Math.abs(g.data[j] - want[i].data[j]));
    assert.ok(worst <= TOL, `${what}: output ${i} differs by ${worst}`);
  });
}

async function same(what: string, inputs: Input[], f: (...ts: tf.Tensor[]) => tf.Tensor | tf.Tensor[]) {
  assert.ok(trainingKernelsActive());
  close(await on('wasm', inputs, f), await on('cpu', inputs, f), what);
}

const FLAGS: [boolean, boolean][] = [[false, false], [true, false], [false, true], [true, true]];
const mm = (tA: boolean, tB: boolean) => (a: tf.Tensor, b: tf.Tensor) => tf.matMul(a, b, tA, tB);
const shapeFor = (batch: number[], rows: number, cols: number, t: boolean) => [...batch, ...(t ? [cols, rows] : [rows, cols])];

test('unbatched matMul, all four transpose flags', async () => {
  for (const [tA, tB] of FLAGS) {
    const [m, k, n] = [7, 13, 5];
    await same(`2d ${tA} ${tB}`, [randT(shapeFor([], m, k, tA)), randT(shapeFor([], k, n, tB))], mm(tA, tB));
  }
});

test('batched matMul (rank 3 and 4), all four transpose flags', async () => {
  for (const [tA, tB] of FLAGS) {
    await same(`3d ${tA} ${tB}`, [randT(shapeFor([3], 6, 9, tA)), randT(shapeFor([3], 9, 4, tB))], mm(tA, tB));
    await same(`4d ${tA} ${tB}`, [randT(shapeFor([2, 3], 5, 8, tA)), randT(shapeFor([2, 3], 8, 6, tB))], mm(tA, tB));
  }
});

/** matMul as broadcast multiply and sum: the cpu kernel broadcasts batch dims by modulo,
 * which is wrong for shapes like [2,1] x [3], so general broadcasting is checked against this. */
const refMatMul = (tA: boolean, tB: boolean) => (a: tf.Tensor, b: tf.Tensor) => {
  const swap = (t: tf.Tensor) => tf.transpose(t, [...t.shape.keys()].map((i, _, all) => (i < all.length - 2 ? i : all.length * 2 - 3 - i)));
  const am = tA ? swap(a) : a;
  const bm = tB ? swap(b) : b;
  return tf.sum(tf.mul(tf.expandDims(am, -1), tf.expandDims(bm, -3)), -2);
};

test('broadcast batch dims, all four transpose flags', async () => {
  for (const [tA, tB] of FLAGS) {
    await same(`[4]x[] ${tA} ${tB}`, [randT(shapeFor([4], 6, 9, tA)), randT(shapeFor([], 9, 5, tB))], mm(tA, tB));
    await same(`[]x[4] ${tA} ${tB}`, [randT(shapeFor([], 6, 9, tA)), randT(shapeFor([4], 9, 5, tB))], mm(tA, tB));
    for (const [ba, bb] of [[[2, 1], [3]], [[1, 3], [1]], [[3], [2, 1]]]) {
      const inputs = [randT(shapeFor(ba, 4, 7, tA)), randT(shapeFor(bb, 7, 3, tB))];
      close(await on('wasm', inputs, mm(tA, tB)), await on('cpu', inputs, refMatMul(tA, tB)), `[${ba}]x[${bb}] ${tA} ${tB}`);
    }
  }
});

test('fused matMul: bias and relu, batched left operand, transposes, prelu fallback', async () => {
  for (const [tA, tB] of FLAGS) {
    const inputs = [randT(shapeFor([2, 3], 5, 8, tA)), randT(shapeFor([], 8, 6, tB)), randT([6])];
    for (const activation of ['linear', 'relu', 'relu6'] as const) {
      await same(`fused ${activation} ${tA} ${tB}`, inputs, (a, b, bias) =>
        tf.fused.matMul({ a, b, bias, activation, transposeA: tA, transposeB: tB }),
      );
    }
  }
  await same('fused prelu', [randT([4, 5]), randT([5, 3]), randT([3])], (a, b, w) =>
    tf.fused.matMul({ a, b, activation: 'prelu', preluActivationWeights: w }),
  );
  await same('fused batched right operand', [randT([3, 4, 5]), randT([3, 5, 2]), randT([2])], (a, b, bias) =>
    tf.fused.matMul({ a, b, bias, activation: 'relu' }),
  );
});

test('sum over leading or trailing axes, with and without keepDims; other axes untouched', async () => {
  const x = randT([3, 4, 5, 2]);
  for (const axis of [0, [0, 1], [1, 0], [0, 1, 2], 1, [1, 3], -1, [0, 3], [2, 3], [3, 1, 2], 2]) {
    for (const keepDims of [false, true]) {
      await same(`sum ${JSON.stringify(axis)} ${keepDims}`, [x], (t) => tf.sum(t, axis, keepDims));
    }
  }
  await same('sum all', [x], (t) => tf.sum(t));
  // Widths past a SIMD quad and with every remainder, as the bias and softmax gradients have.
  for (const cols of [4, 5, 6, 7, 33, 1024]) {
    await same(`sum rows of (9, ${cols})`, [randT([9, cols])], (t) => tf.sum(t, 0));
    await same(`sum columns of (9, ${cols})`, [randT([9, cols])], (t) => tf.sum(t, 1, true));
  }
});

test('gather along any axis, with 1-D and 2-D indices, float, int and bool; bad indices throw', async () => {
  const idx = (shape: number[], values: number[]): Input => ({ shape, data: Int32Array.from(values), dtype: 'int32' });
  await same('gather rows', [randT([7, 3]), idx([5], [6, 0, 2, 2, 5])], (x, i) => tf.gather(x, i));
  await same('gather a vector by a matrix', [randT([130]), idx([3, 4], [0, 129, 7, 7, 64, 1, 2, 3, 128, 0, 5, 9])], (x, i) => tf.gather(x, i));
  await same('gather axis 1', [randT([4, 6, 5]), idx([2, 3], [5, 0, 1, 1, 3, 4])], (x, i) => tf.gather(x, i, 1));
  await same('gather last axis', [randT([4, 6, 5]), idx([4], [4, 0, 2, 4])], (x, i) => tf.gather(x, i, -1));
  const ints: Input = { shape: [5, 2], data: Int32Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]), dtype: 'int32' };
  await same('gather int', [ints, idx([3], [4, 0, 4])], (x, i) => tf.cast(tf.gather(x, i), 'float32'));
  await same('gather bool', [randT([5, 3]), idx([2], [3, 1])], (x, i) => tf.cast(tf.gather(tf.greater(x, 0), i), 'float32'));
  await same('gather in a batch', [randT([2, 5, 3]), idx([2, 2], [4, 0, 1, 3])], (x, i) => tf.gather(x, i, 1, 1));
  await tf.setBackend('wasm');
  const before = tf.memory().numTensors;
  const x = tf.tensor1d([1, 2, 3]);
  for (const bad of [3, -1]) {
    const i = tf.tensor1d([0, bad], 'int32');
    assert.throws(() => tf.gather(x, i), /index value/);
    i.dispose();
  }
  x.dispose();
  assert.is(tf.memory().numTensors, before);
});

test('transpose of every rank, size-1 axes, merged axes, int and bool', async () => {
  const cases: [number[], number[]][] = [
    [[37, 53], [1, 0]],
    [[4, 9, 3, 2, 5], [2, 0, 3, 1, 4]],
    [[4, 9, 3, 2, 5], [4, 3, 2, 1, 0]],
    [[2, 3, 1, 4, 5, 2], [5, 1, 0, 3, 2, 4]],
    [[1, 7, 1, 6], [3, 2, 0, 1]],
    [[6, 5, 4], [0, 2, 1]],
    [[2, 3, 4, 5], [0, 2, 1, 3]],
    [[3, 4, 5, 6], [2, 3, 0, 1]],
  ];
  for (const [shape, perm] of cases) await same(`transpose ${shape} ${perm}`, [randT(shape)], (t) => tf.transpose(t, perm));
  const ints: Input = { shape: [3, 5], data: Int32Array.from({ length: 15 }, (_, i) => i * 3 - 7), dtype: 'int32' };
  await same('transpose int', [ints], (t) => tf.cast(tf.transpose(t), 'float32'));
  await same('transpose bool', [randT([4, 6])], (t) => tf.cast(tf.transpose(tf.greater(t, 0)), 'float32'));
});

test('UnsortedSegmentSum, float and int, including ids out of range', async () => {
  const ids: Input = { shape: [6], data: Int32Array.from([2, 0, 2, 5, -1, 1]), dtype: 'int32' };
  await same('segment float', [randT([6, 3, 2]), ids], (x, s) => tf.unsortedSegmentSum(x, s as tf.Tensor1D, 4));
  const xi: Input = { shape: [6, 2], data: Int32Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]), dtype: 'int32' };
  await same('segment int', [xi, ids], (x, s) => tf.unsortedSegmentSum(x, s as tf.Tensor1D, 3));
});

test('gradients of a small attention graph through tf.grads (gather, matMuls, sums, layerNorm)', async () => {
  const [B, T, V, D] = [2, 5, 11, 8];
  const tokens: Input = { shape: [B, T], data: Int32Array.from({ length: B * T }, (_, i) => (i * 7) % V), dtype: 'int32' };
  const graph = (tok: tf.Tensor, emb: tf.Tensor, wq: tf.Tensor, wk: tf.Tensor, wv: tf.Tensor, w1: tf.Tensor, b1: tf.Tensor) =>
    tf.grads((e: tf.Tensor, q: tf.Tensor, k: tf.Tensor, v: tf.Tensor, w: tf.Tensor, b: tf.Tensor) => {
      const x = tf.gather(e, tok as tf.Tensor2D); // [B,T,D]
      const h = layerNorm(x, tf.ones([D]) as tf.Tensor1D, tf.zeros([D]) as tf.Tensor1D);
      // tfjs has no gradient for a broadcast matMul, so projections go through dense (2-D).
      const att = tf.softmax(tf.div(tf.matMul(dense(h, q as tf.Tensor2D), dense(h, k as tf.Tensor2D), false, true), Math.sqrt(D)));
      const ctx = tf.matMul(att, dense(h, v as tf.Tensor2D));
      const y = denseRelu(ctx, w as tf.Tensor2D, b as tf.Tensor1D);
      return tf.sum(tf.square(y));
    })([emb, wq, wk, wv, w1, b1]);
  await same('attention grads', [tokens, randT([V, D]), randT([D, D]), randT([D, D]), randT([D, D]), randT([D, 6]), randT([6])], graph);
});

test('layerNorm matches the autodiff formula, value and gradients', async () => {
  const ref = (x: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
    const { mean, variance } = tf.moments(x, -1, true);
    return tf.add(tf.mul(tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, 1e-5))), g), b);
  };
  const inputs = [randT([2, 3, 16]), randT([16]), randT([16]), randT([2, 3, 16])];
  const run = (norm: typeof ref) => (x: tf.Tensor, g: tf.Tensor, b: tf.Tensor, w: tf.Tensor) => {
    const f = (xx: tf.Tensor, gg: tf.Tensor, bb: tf.Tensor) => tf.sum(tf.mul(norm(xx, gg, bb), w));
    return [norm(x, g, b), ...tf.grads(f)([x, g, b])];
  };
  const got = await on('wasm', inputs, run((x, g, b) => layerNorm(x, g as tf.Tensor1D, b as tf.Tensor1D)));
  close(got, await on('cpu', inputs, run(ref)), 'layerNorm');
});

test('packed-operator trap: many different right-hand tensors in a row, and reshaped views of one buffer', async () => {
  const a = randT([8, 16]);
  const bs = Array.from({ length: 6 }, () => randT([16, 12]));
  await same('six right-hand tensors', [a, ...bs], (x, ...rest) => rest.map((b) => tf.matMul(x, b)));
  // One buffer packed as [16,12], then read as [24,8] and [12,16] through reshape.
  await same('reshaped views of one right-hand buffer', [a, bs[0], randT([3, 24]), randT([5, 12])], (x, b, p, q) => [
    tf.matMul(x, b),
    tf.matMul(p, tf.reshape(b, [24, 8])),
    tf.matMul(q, tf.reshape(b, [12, 16])),
    tf.sum(tf.reshape(b, [4, 48]), 0),
    tf.matMul(x, b),
  ]);
  // Batched slices: each batch's right-hand slice must be its own, never a stale packing.
  await same('batched slices then a reuse', [randT([5, 4, 6]), randT([5, 6, 3])], (x, b) => [
    tf.matMul(x, b),
    tf.matMul(x, tf.reverse(b, 0)),
    tf.matMul(x, b),
  ]);
});

test('registration is idempotent and leaves the cpu backend alone', () => {
  const cpu = tf.getKernel('BatchMatMul', 'cpu');
  assert.equal(registerTrainingKernels(), []);
  assert.ok(trainingKernelsActive());
  assert.is(tf.getKernel('BatchMatMul', 'cpu'), cpu);
  assert.is(tf.getKernel('UnsortedSegmentSum', 'cpu')?.backendName, 'cpu');
});

// Last, so that the random inputs of the tests above stay as they were.
test('slice and split of every rank, contiguous or not, int and bool, and their gradients', async () => {
  const cases: [number[], number[], number[]][] = [
    [[37], [5], [20]],
    [[12, 9], [3, 0], [4, 9]], // whole rows: one contiguous copy
    [[12, 9], [2, 3], [7, 4]], // columns: row by row
    [[4, 12, 10], [1, 0, 0], [1, 12, 10]], // one head of a bias table
    [[4, 12, 10], [1, 2, 3], [2, -1, 5]],
    [[3, 4, 5, 6], [0, 1, 2, 1], [3, 2, 3, 4]],
    [[2, 3, 4, 5, 3], [1, 0, 1, 2, 1], [1, 3, 2, 2, 2]],
  ];
  for (const [shape, begin, size] of cases) await same(`slice ${shape} ${begin} ${size}`, [randT(shape)], (t) => tf.slice(t, begin, size));
  const ints: Input = { shape: [5, 6], data: Int32Array.from({ length: 30 }, (_, i) => i * 5 - 40), dtype: 'int32' };
  await same('slice int', [ints], (t) => tf.cast(tf.slice(t, [1, 2], [3, 3]), 'float32'));
  await same('slice bool', [randT([5, 6])], (t) => tf.cast(tf.slice(tf.greater(t, 0), [1, 1], [2, 4]), 'float32'));
  await same('split even, axis 1', [randT([6, 12])], (t) => tf.split(t, 3, 1));
  await same('split sizes, axis 0 and last of rank 3', [randT([7, 4, 9])], (t) => [...tf.split(t, [2, -1, 1], 0), ...tf.split(t, [4, 5], 2)]);
  await same('slice and split gradients', [randT([6, 12]), randT([3, 4])], (x, w) =>
    tf.grads((a: tf.Tensor) => {
      const [p, q] = tf.split(a, [8, 4], 1);
      return tf.add(tf.sum(tf.mul(tf.slice(p, [1, 2], [3, 4]), w)), tf.sum(tf.square(q)));
    })([x]),
  );
});

test('identity shares the buffer with a reference count: either side can be disposed first', async () => {
  await tf.setBackend('wasm');
  const before = tf.memory().numDataBuffers;
  const x = tf.tensor([1, 2, 3, 4, 5, 6], [2, 3]);
  const y = tf.clone(x);
  assert.is(tf.memory().numDataBuffers, before + 1, 'no second buffer');
  x.dispose();
  assert.equal(Array.from(y.dataSync()), [1, 2, 3, 4, 5, 6], 'the clone outlives the original');
  const z = tf.clone(y);
  y.dispose();
  assert.equal(tf.tidy(() => Array.from(tf.mul(z, 2).dataSync())), [2, 4, 6, 8, 10, 12]);
  z.dispose();
  assert.is(tf.memory().numDataBuffers, before, 'the buffer is freed with its last tensor');
  await same('identity through a gradient', [randT([4, 5])], (x) => [tf.clone(x), ...tf.grads((a: tf.Tensor) => tf.sum(tf.mul(tf.clone(a), a)))([x])]);
  await tf.setBackend('cpu');
});

test.run();
