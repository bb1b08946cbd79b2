// Slice and SplitV for wasm. The backend's Slice starts with readSync, which copies the
// whole input out of the heap before taking the part it wants: slicing one head's
// (1, T, S) bias out of the (H, T, S) ALiBi table copied all H heads, and SplitV (which
// calls that Slice once per part) copied the whole qkv activation three times. These read
// the input in place through a heap view, and copy only the output's rows.
import { backend_util, slice_util, util, type KernelFunc, type TensorInfo } from '@tensorflow/tfjs-core';
import { callOriginal } from './original.ts';
import type { Wasm } from './wasm-heap.ts';

type Arr = Float32Array | Int32Array | Uint8Array;

/** Copies the box [begin, begin + size) of `x` into a new tensor. */
function sliceOf(backend: Wasm, x: TensorInfo, begin: number[], size: number[]): TensorInfo {
  const out = backend.makeOutput(size, x.dtype);
  const n = util.sizeFromShape(size);
  if (n === 0) return out;
  // Views are taken after makeOutput: its malloc may grow (and detach) the heap.
  const dst = backend.typedArrayFromHeap(out) as Arr;
  const src = backend.typedArrayFromHeap(x) as Arr;
  const rank = x.shape.length;
  const strides = util.computeStrides(x.shape);
  if (slice_util.isSliceContinous(x.shape, begin, size)) {
    const from = slice_util.computeFlatOffset(begin, strides);
    dst.set(src.subarray(from, from + n));
    return out;
  }
  // Rows of the last axis are contiguous: walk the outer index, copy a row at a time.
  const row = size[rank - 1];
  const outer = rank - 1;
  const idx = new Array<number>(outer).fill(0);
  let from = slice_util.computeFlatOffset(begin, strides);
  for (let at = 0; at < n; at += row) {
    dst.set(src.subarray(from, from + row), at);
    for (let ax = outer - 1; ax >= 0; ax--) {
      from += strides[ax];
      if (++idx[ax] < size[ax]) break;
      from -= strides[ax] * size[ax];
      idx[ax] = 0;
    }
  }
  return out;
}

const handled = (x: TensorInfo) => x.dtype !== 'string' && x.shape.length > 0;

export const sliceKernel: KernelFunc = ({ inputs, backend: anyBackend, attrs }) => {
  const backend = anyBackend as Wasm;
  const { x } = inputs as { x: TensorInfo };
  const { begin, size } = attrs as unknown as { begin: number | number[]; size: number | number[] };
  if (!handled(x)) return callOriginal('Slice', backend, { x }, { begin, size });
  const [b, s] = slice_util.parseSliceParams(x as never, begin, size);
  return sliceOf(backend, x, b, s);
};

export const splitVKernel: KernelFunc = ({ inputs, backend: anyBackend, attrs }) => {
  const backend = anyBackend as Wasm;
  const { x } = inputs as { x: TensorInfo };
  const { numOrSizeSplits, axis } = attrs as unknown as { numOrSizeSplits: number | number[]; axis: number };
  if (!handled(x)) return callOriginal('SplitV', backend, { x }, { numOrSizeSplits, axis }) as unknown as TensorInfo[];
  const a = util.parseAxisParam(axis, x.shape)[0];
  const sizes = backend_util.prepareSplitSize(x as never, numOrSizeSplits, a);
  const begin = new Array<number>(x.shape.length).fill(0);
  return sizes.map((s) => {
    const size = [...x.shape];
    size[a] = s;
    const part = sliceOf(backend, x, [...begin], size);
    begin[a] += s;
    return part;
  });
};
