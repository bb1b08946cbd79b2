// GatherV2 for wasm. The backend's own kernel walks a strided index per element: the meter
// heads' (T, T) lag biases, 262,144 lookups in a 130-entry table, took 12.9 ms each, twice per
// sequence. One pass in JS over the heap takes a fraction of a millisecond. Batched gathers
// (batchDims > 0) go to the backend's kernel.
import { util, type KernelFunc, type TensorInfo } from '@tensorflow/tfjs-core';
import { callOriginal } from '../../engine/kernels/original.ts';
import type { Wasm } from '../../engine/kernels/wasm-heap.ts';

type Numbers = Float32Array | Int32Array | Uint8Array;

export const gatherKernel: KernelFunc = ({ inputs, backend: anyBackend, attrs }) => {
  const backend = anyBackend as Wasm;
  const { x, indices } = inputs as { x: TensorInfo; indices: TensorInfo };
  const { axis, batchDims } = attrs as unknown as { axis: number; batchDims: number };
  if (batchDims || x.dtype === 'string' || x.dtype === 'complex64') {
    return callOriginal('GatherV2', backend, { x, indices }, attrs as Record<string, unknown>);
  }
  const ax = util.parseAxisParam(axis, x.shape)[0];
  const outer = util.sizeFromShape(x.shape.slice(0, ax));
  const n = x.shape[ax];
  const inner = util.sizeFromShape(x.shape.slice(ax + 1));
  const count = util.sizeFromShape(indices.shape);
  const out = backend.makeOutput([...x.shape.slice(0, ax), ...indices.shape, ...x.shape.slice(ax + 1)], x.dtype);
  // Views after makeOutput, which may grow the heap.
  const dst = backend.typedArrayFromHeap(out) as Numbers;
  const src = backend.typedArrayFromHeap(x) as Numbers;
  const ids = backend.typedArrayFromHeap(indices) as Int32Array | Float32Array;
  for (let j = 0; j < count; j++) {
    const i = ids[j];
    if (!(i >= 0 && i < n)) {
      backend.disposeData(out.dataId);
      throw new Error(`GatherV2: the index value ${i} is not in [0, ${n - 1}]`);
    }
  }
  if (inner === 1) {
    for (let o = 0; o < outer; o++) {
      const from = o * n;
      const to = o * count;
      for (let j = 0; j < count; j++) dst[to + j] = src[from + ids[j]];
    }
  } else {
    for (let o = 0; o < outer; o++) {
      for (let j = 0; j < count; j++) {
        const from = (o * n + ids[j]) * inner;
        dst.set(src.subarray(from, from + inner), (o * count + j) * inner);
      }
    }
  }
  return out;
};
