// Sum over leading axes (bias gradients, the batch reduction in a broadcast matMul's
// gradient) for wasm. The backend transposes the reduced axes to the end first, which
// costs a full copy in a slow gather; ones[1,R] x X[R,C] on the fast path avoids it.
import { util, type KernelFunc, type TensorInfo } from '@tensorflow/tfjs-core';
import { fastMatMul } from './fast-matmul.ts';
import { callOriginal } from '../../engine/kernels/original.ts';
import { filled, free, type Wasm } from '../../engine/kernels/wasm-heap.ts';

/** The count of leading axes that `axis` names, or -1 if it names anything else. */
export function leadingAxes(axis: number | number[], rank: number): number {
  const axes = [...new Set(util.parseAxisParam(axis, [...Array(rank)].map(() => 1)))].sort((p, q) => p - q);
  return axes.every((v, i) => v === i) ? axes.length : -1;
}

export const sumKernel: KernelFunc = ({ inputs, backend: anyBackend, attrs }) => {
  const backend = anyBackend as Wasm;
  const { x } = inputs as { x: TensorInfo };
  const { axis, keepDims } = attrs as unknown as { axis: number | number[]; keepDims: boolean };
  const rank = x.shape.length;
  const lead = x.dtype === 'float32' ? leadingAxes(axis, rank) : -1;
  const rows = util.sizeFromShape(x.shape.slice(0, Math.max(lead, 0)));
  const cols = util.sizeFromShape(x.shape.slice(Math.max(lead, 0)));
  if (lead <= 0 || lead >= rank || rows < 2 || cols < 2) {
    return callOriginal('Sum', backend, { x }, attrs as Record<string, unknown>);
  }
  const ones = filled(backend, [1, rows], 1);
  const out = fastMatMul(backend, ones, x, 1, rows, cols);
  free(backend, ones);
  const rest = x.shape.slice(lead);
  const shape = keepDims ? [...Array(lead).fill(1), ...rest] : rest;
  return { dataId: out.dataId, shape, dtype: 'float32' };
};
