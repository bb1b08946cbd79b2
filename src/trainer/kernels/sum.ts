// Sum over leading or trailing axes for wasm: bias gradients and the batch reduction in a
// broadcast matMul's gradient (leading), layer norm and softmax gradients (trailing). The
// backend's kernel transposes the reduced axes to the end, a full copy in a slow gather, and
// a ones-vector matMul packs the whole matrix into XNNPACK first (2-4 ms for (512, 1024)).
// The SIMD kernels of gemv.wat read the matrix once: colSum for leading axes, gemv with a
// ones vector for trailing ones.
import { util, type KernelFunc, type TensorInfo } from '@tensorflow/tfjs-core';
import { callOriginal } from '../../engine/kernels/original.ts';
import { kernelsFor } from '../../engine/kernels/gemv.ts';
import { filled, free, type Wasm } from '../../engine/kernels/wasm-heap.ts';

function sortedAxes(axis: number | number[], rank: number): number[] {
  return [...new Set(util.parseAxisParam(axis, [...Array(rank)].map(() => 1)))].sort((p, q) => p - q);
}

/** The count of leading axes that `axis` names, or -1 if it names anything else. */
export function leadingAxes(axis: number | number[], rank: number): number {
  const axes = sortedAxes(axis, rank);
  return axes.every((v, i) => v === i) ? axes.length : -1;
}

/** The count of trailing axes that `axis` names, or -1 if it names anything else. */
export function trailingAxes(axis: number | number[], rank: number): number {
  const axes = sortedAxes(axis, rank);
  return axes.every((v, i) => v === rank - axes.length + i) ? axes.length : -1;
}

export const sumKernel: KernelFunc = ({ inputs, backend: anyBackend, attrs }) => {
  const backend = anyBackend as Wasm;
  const { x } = inputs as { x: TensorInfo };
  const { axis, keepDims } = attrs as unknown as { axis: number | number[]; keepDims: boolean };
  const rank = x.shape.length;
  const lead = x.dtype === 'float32' ? leadingAxes(axis, rank) : -1;
  const trail = x.dtype === 'float32' && lead < 0 ? trailingAxes(axis, rank) : -1;
  // Reduced axes first (lead) or last (trail): the matrix is then rows x cols, summed
  // down its columns (lead) or along its rows (trail).
  const split = lead > 0 ? lead : rank - trail;
  const rows = util.sizeFromShape(x.shape.slice(0, split));
  const cols = util.sizeFromShape(x.shape.slice(split));
  if ((lead <= 0 && trail <= 0) || split <= 0 || split >= rank || rows < 2 || cols < 2) {
    return callOriginal('Sum', backend, { x }, attrs as Record<string, unknown>);
  }
  const kept = lead > 0 ? x.shape.slice(lead) : x.shape.slice(0, split);
  const ones = (n: number) => Array(n).fill(1) as number[];
  const shape = !keepDims ? kept : lead > 0 ? [...ones(lead), ...kept] : [...kept, ...ones(trail)];
  const out = backend.makeOutput(shape, 'float32');
  const k = kernelsFor(backend);
  if (lead > 0) {
    k.colSum(backend.getMemoryOffset(x.dataId), rows, cols, backend.getMemoryOffset(out.dataId));
    return out;
  }
  const unit = filled(backend, [cols], 1);
  k.gemv(backend.getMemoryOffset(x.dataId), cols, rows, cols, backend.getMemoryOffset(unit.dataId), backend.getMemoryOffset(out.dataId), 0);
  free(backend, unit);
  return out;
};
