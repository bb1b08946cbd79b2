// Small helpers over the wasm backend's heap. Kernel overrides work on TensorInfo
// (dataId + shape) and must free every intermediate they allocate themselves.
import type { TensorInfo } from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

export type Wasm = BackendWasm;

/** A second shape over the same buffer; no copy, no reference taken. */
export function view(t: TensorInfo, shape: number[]): TensorInfo {
  return { dataId: t.dataId, shape, dtype: t.dtype };
}

export function free(backend: Wasm, t: TensorInfo): void {
  backend.disposeData(t.dataId);
}

/**
 * Copies `size` floats starting at element `offset` of `src` into a new tensor.
 * The copy gets a fresh tensor id, which matters: XNNPACK caches packed weights
 * by the right-hand tensor's id, so a reused scratch tensor would be read stale.
 */
export function copyRange(backend: Wasm, src: TensorInfo, offset: number, shape: number[]): TensorInfo {
  const out = backend.makeOutput(shape, 'float32');
  // Views are taken after makeOutput: a malloc may grow (and detach) the heap.
  const dst = backend.typedArrayFromHeap(out) as Float32Array;
  const from = backend.typedArrayFromHeap(src) as Float32Array;
  dst.set(from.subarray(offset, offset + dst.length));
  return out;
}

/** Writes `src` into `dst` starting at element `offset`. */
export function writeAt(backend: Wasm, dst: TensorInfo, offset: number, src: TensorInfo): void {
  const to = backend.typedArrayFromHeap(dst) as Float32Array;
  const from = backend.typedArrayFromHeap(src) as Float32Array;
  to.set(from, offset);
}

export function filled(backend: Wasm, shape: number[], value: number): TensorInfo {
  const out = backend.makeOutput(shape, 'float32');
  (backend.typedArrayFromHeap(out) as Float32Array).fill(value);
  return out;
}

/**
 * A new tensor id over `shape` elements of `base`'s memory from element `offset`: no copy.
 * Release it with dropView, never free (the memory is `base`'s). Ids are never reused, so a
 * view may be a matMul's right-hand operand, provided its memory is not written while it lives.
 */
export function viewAt(backend: Wasm, base: TensorInfo, offset: number, shape: number[]): TensorInfo {
  return backend.makeOutput(shape, 'float32', backend.getMemoryOffset(base.dataId) + offset * 4);
}

/** Unregisters a view (dropping any operator the backend cached for it) and keeps its memory. */
export function dropView(backend: Wasm, t: TensorInfo): void {
  const data = backend.dataIdMap.get(t.dataId);
  if (!data) return;
  backend.wasm.tfjs.disposeData(data.id);
  backend.dataIdMap.delete(t.dataId);
}

/** The backend's whole heap as floats; take it again after any malloc (the heap may grow). */
export const heapF32 = (backend: Wasm): Float32Array => (backend.wasm as unknown as { HEAPF32: Float32Array }).HEAPF32;
