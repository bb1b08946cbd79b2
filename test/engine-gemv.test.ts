// The wasm SIMD kernels (src/engine/kernels/gemv.wat) against plain JS, and the
// committed bytes against the source.
import { execFileSync } from 'node:child_process';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { gemvFor, kernelsFor, softmaxNumFor } from '../src/engine/kernels/gemv.ts';
import { heapF32, type Wasm } from '../src/engine/kernels/wasm-heap.ts';
import { Prng } from '../src/engine/sampler/prng.ts';
import { engineBackend, tf } from './helpers/engine-setup.ts';

test.before(engineBackend);

test('gemv equals a plain dot product (stored or added) for every shape tail, with a row stride, and writes only its rows', () => {
  const b = tf.backend() as Wasm;
  const gemv = gemvFor(b);
  const rng = new Prng(3);
  let checked = 0;
  for (const rows of [1, 3, 4, 5, 8, 13, 64]) {
    for (const len of [1, 2, 4, 7, 64, 65, 511]) {
      const stride = len + (rows % 3) * 5; // padding past each row that must not be read
      const m = b.makeOutput([rows * stride], 'float32');
      const v = b.makeOutput([len], 'float32');
      const o = b.makeOutput([rows + 1], 'float32');
      const heap = heapF32(b);
      const [mp, vp, op] = [m, v, o].map((t) => b.getMemoryOffset(t.dataId));
      for (let i = 0; i < rows * stride; i++) heap[(mp >> 2) + i] = rng.normal();
      for (let i = 0; i < len; i++) heap[(vp >> 2) + i] = rng.normal();
      heap[(op >> 2) + rows] = 12345; // a guard just past the output
      const add = (rows + len) % 2 === 0;
      const before = Array.from({ length: rows }, (_, r) => (add ? (heap[(op >> 2) + r] = rng.normal()) : 0));
      gemv(mp, stride, rows, len, vp, op, add ? 1 : 0);
      for (let r = 0; r < rows; r++) {
        let want = before[r];
        for (let i = 0; i < len; i++) want += heap[(mp >> 2) + r * stride + i] * heap[(vp >> 2) + i];
        const got = heap[(op >> 2) + r];
        assert.ok(Math.abs(got - want) <= 1e-5 * (1 + Math.abs(want)) + 1e-5 * Math.sqrt(len), `rows ${rows} len ${len} row ${r}: ${got} vs ${want}`);
        checked++;
      }
      assert.is(heap[(op >> 2) + rows], 12345, 'wrote past its rows');
      for (const t of [m, v, o]) b.disposeData(t.dataId);
    }
  }
  assert.ok(checked > 500);
});

test('colSum adds the rows of a matrix for every width tail, and writes only its columns', () => {
  const b = tf.backend() as Wasm;
  const { colSum } = kernelsFor(b);
  const rng = new Prng(5);
  for (const rows of [1, 2, 3, 9, 512]) {
    for (const cols of [1, 3, 4, 5, 8, 31, 1024]) {
      const m = b.makeOutput([rows * cols], 'float32');
      const o = b.makeOutput([cols + 1], 'float32');
      const heap = heapF32(b);
      const [mp, op] = [m, o].map((t) => b.getMemoryOffset(t.dataId));
      for (let i = 0; i < rows * cols; i++) heap[(mp >> 2) + i] = rng.normal();
      for (let c = 0; c < cols; c++) heap[(op >> 2) + c] = 999; // stale output must be overwritten
      heap[(op >> 2) + cols] = 12345;
      colSum(mp, rows, cols, op);
      for (let c = 0; c < cols; c++) {
        let want = 0;
        for (let r = 0; r < rows; r++) want += heap[(mp >> 2) + r * cols + c];
        const got = heap[(op >> 2) + c];
        assert.ok(Math.abs(got - want) <= 1e-5 * Math.sqrt(rows), `rows ${rows} cols ${cols} column ${c}: ${got} vs ${want}`);
      }
      assert.is(heap[(op >> 2) + cols], 12345, 'wrote past its columns');
      for (const t of [m, o]) b.disposeData(t.dataId);
    }
  }
});

test('softmaxNum gives exp(score + bias - max) in place and their sum, within float32 rounding, for every tail', () => {
  const b = tf.backend() as Wasm;
  const softmaxNum = softmaxNumFor(b);
  const rng = new Prng(4);
  for (const n of [1, 2, 3, 4, 5, 63, 64, 513]) {
    for (const spread of [1, 30, 200]) {
      const row = b.makeOutput([n + 1], 'float32');
      const bias = b.makeOutput([n], 'float32');
      const heap = heapF32(b);
      const [rp, bp] = [row, bias].map((t) => b.getMemoryOffset(t.dataId));
      const scores = Array.from({ length: n }, () => Math.fround(rng.normal() * spread));
      const biases = Array.from({ length: n }, (_, i) => Math.fround(-0.5 * (n - 1 - i)));
      scores.forEach((v, i) => (heap[(rp >> 2) + i] = v));
      biases.forEach((v, i) => (heap[(bp >> 2) + i] = v));
      heap[(rp >> 2) + n] = 12345;
      const sum = softmaxNum(rp, bp, n);
      const v = scores.map((x, i) => Math.fround(x + biases[i]));
      const max = Math.max(...v);
      let want = 0;
      for (let i = 0; i < n; i++) {
        const e = Math.exp(v[i] - max);
        want += e;
        const got = heap[(rp >> 2) + i];
        // The kernel subtracts the max in float32, which rounds x = v - max by up to |x| 2^-24:
        // that much relative error is in the input, 1e-6 more is allowed for the series.
        const x = v[i] - max;
        assert.ok(Math.abs(got - e) <= e * (1e-6 + Math.abs(x) * 1.2e-7) + 1e-37, `n ${n} spread ${spread} at ${i}: ${got} vs ${e}`);
      }
      assert.ok(Math.abs(sum - want) <= 1e-6 * want, `n ${n}: sum ${sum} vs ${want}`);
      assert.is(heap[(rp >> 2) + n], 12345, 'wrote past its row');
      for (const t of [row, bias]) b.disposeData(t.dataId);
    }
  }
});

test('the kernel bytes in gemv-wasm.ts are assembled from gemv.wat', () => {
  const out = execFileSync(process.execPath, ['scripts/build-kernels.mjs', '--check'], { encoding: 'utf8' });
  assert.match(out, /matches/);
});

test.run();
