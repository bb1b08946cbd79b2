// UnsortedSegmentSum, which tf.gather's gradient needs and tfjs-backend-wasm 4.22 lacks.
// One pass over the rows in JS; out-of-range segment ids are dropped, as in TensorFlow.
import { util, type KernelFunc, type TensorInfo } from '@tensorflow/tfjs-core';
import type { Wasm } from '../../engine/kernels/wasm-heap.ts';

export const unsortedSegmentSumKernel: KernelFunc = ({ inputs, backend: anyBackend, attrs }) => {
  const backend = anyBackend as Wasm;
  const { x, segmentIds } = inputs as { x: TensorInfo; segmentIds: TensorInfo };
  const { numSegments } = attrs as unknown as { numSegments: number };
  if (x.dtype !== 'float32' && x.dtype !== 'int32') throw new Error(`UnsortedSegmentSum: dtype ${x.dtype}`);
  const rows = util.sizeFromShape(segmentIds.shape);
  const inner = rows === 0 ? util.sizeFromShape(x.shape.slice(segmentIds.shape.length)) : util.sizeFromShape(x.shape) / rows;
  const outShape = [numSegments, ...x.shape.slice(segmentIds.shape.length)];
  const out = backend.makeOutput(outShape, x.dtype);
  // Views after makeOutput, which may grow the heap.
  const dst = backend.typedArrayFromHeap(out) as Float32Array | Int32Array;
  const src = backend.typedArrayFromHeap(x) as Float32Array | Int32Array;
  const ids = backend.typedArrayFromHeap(segmentIds) as Int32Array | Float32Array;
  dst.fill(0);
  for (let r = 0; r < rows; r++) {
    const s = ids[r];
    if (s < 0 || s >= numSegments) continue;
    const to = s * inner;
    const from = r * inner;
    for (let i = 0; i < inner; i++) dst[to + i] += src[from + i];
  }
  return out;
};
