// BatchMatMul for wasm that always lands on the fast 2-D path: transposes are made
// explicit, a shared right-hand matrix lets the left batch fold into rows, and any
// other batch runs slice by slice. Every slice is a fresh tensor (see fast-matmul.ts).
import { broadcast_util, util, type KernelFunc, type TensorInfo } from '@tensorflow/tfjs-core';
import { fastMatMul } from './fast-matmul.ts';
import { callOriginal, transpose } from '../../engine/kernels/original.ts';
import { copyRange, free, view, writeAt, type Wasm } from '../../engine/kernels/wasm-heap.ts';

export interface MatMulPlan {
  m: number;
  k: number;
  n: number;
  batchA: number[];
  batchB: number[];
  outBatch: number[];
  outShape: number[];
}

export function planMatMul(a: TensorInfo, b: TensorInfo, transposeA: boolean, transposeB: boolean): MatMulPlan | null {
  const ra = a.shape.length;
  const rb = b.shape.length;
  if (ra < 2 || rb < 2) return null;
  const m = transposeA ? a.shape[ra - 1] : a.shape[ra - 2];
  const k = transposeA ? a.shape[ra - 2] : a.shape[ra - 1];
  const kb = transposeB ? b.shape[rb - 1] : b.shape[rb - 2];
  const n = transposeB ? b.shape[rb - 2] : b.shape[rb - 1];
  if (k !== kb || m === 0 || n === 0 || k === 0) return null; // the original reports or handles these
  const batchA = a.shape.slice(0, -2);
  const batchB = b.shape.slice(0, -2);
  const outBatch = broadcast_util.assertAndGetBroadcastShape(batchA, batchB);
  return { m, k, n, batchA, batchB, outBatch, outShape: [...outBatch, m, n] };
}

/** The flat batch index of `dims` (right-aligned, size-1 axes broadcast) for output batch `o`. */
export function broadcastIndex(o: number, outBatch: number[], dims: number[]): number {
  let index = 0;
  let stride = 1;
  let rest = o;
  for (let i = outBatch.length - 1, j = dims.length - 1; i >= 0; i--, j--) {
    const coord = rest % outBatch[i];
    rest = Math.floor(rest / outBatch[i]);
    if (j >= 0) {
      if (dims[j] !== 1) index += coord * stride;
      stride *= dims[j];
    }
  }
  return index;
}

/** `x` as [batch, rows, cols] in memory, transposing when its last two axes are swapped. */
export function asRowMajor(backend: Wasm, x: TensorInfo, batch: number, rows: number, cols: number, swapped: boolean) {
  if (!swapped) return { t: view(x, [batch, rows, cols]), owned: false };
  return { t: transpose(backend, view(x, [batch, cols, rows]), [0, 2, 1]), owned: true };
}

export function batchMatMulWasm(
  backend: Wasm,
  a: TensorInfo,
  b: TensorInfo,
  transposeA: boolean,
  transposeB: boolean,
): TensorInfo {
  const plan = a.dtype === 'float32' && b.dtype === 'float32' ? planMatMul(a, b, transposeA, transposeB) : null;
  if (plan === null) return callOriginal('BatchMatMul', backend, { a, b }, { transposeA, transposeB });
  const { m, k, n, outBatch, outShape } = plan;
  const nA = util.sizeFromShape(plan.batchA);
  const nB = util.sizeFromShape(plan.batchB);
  const nOut = util.sizeFromShape(outBatch);
  const bKN = asRowMajor(backend, b, nB, k, n, transposeB);
  const aMK = asRowMajor(backend, a, nA, m, k, transposeA);
  try {
    if (nB === 1) {
      // One right-hand matrix: the whole left batch is one tall matrix.
      const out = fastMatMul(backend, aMK.t, bKN.t, nA * m, k, n);
      return { dataId: out.dataId, shape: outShape, dtype: 'float32' };
    }
    const out = backend.makeOutput(outShape, 'float32');
    for (let o = 0; o < nOut; o++) {
      const ia = broadcastIndex(o, outBatch, plan.batchA);
      const ib = broadcastIndex(o, outBatch, plan.batchB);
      const sa = nA === 1 ? null : copyRange(backend, aMK.t, ia * m * k, [m, k]);
      const sb = copyRange(backend, bKN.t, ib * k * n, [k, n]);
      const r = fastMatMul(backend, sa ?? aMK.t, sb, m, k, n);
      writeAt(backend, out, o * m * n, r);
      free(backend, r);
      free(backend, sb);
      if (sa) free(backend, sa);
    }
    return out;
  } finally {
    if (bKN.owned) free(backend, bKN.t);
    if (aMK.owned) free(backend, aMK.t);
  }
}

export const batchMatMulKernel: KernelFunc = ({ inputs, backend, attrs }) => {
  const { a, b } = inputs as { a: TensorInfo; b: TensorInfo };
  const { transposeA, transposeB } = attrs as unknown as { transposeA: boolean; transposeB: boolean };
  return batchMatMulWasm(backend as Wasm, a, b, !!transposeA, !!transposeB);
};
