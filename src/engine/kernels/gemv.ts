// The wasm SIMD kernels of gemv.wat (a decode step's attention, the trainer's column sums), instantiated over the wasm
// backend's own memory, so they read tensors where they lie (pointers from
// backend.getMemoryOffset).
import { GEMV_WASM } from './gemv-wasm.ts';
import type { Wasm } from './wasm-heap.ts';

/**
 * out[r] = sum_i mat[r * stride + i] * vec[i] for r < rows, i < len (or out[r] += it, with
 * add = 1); pointers are byte offsets, stride in floats.
 */
export type Gemv = (mat: number, stride: number, rows: number, len: number, vec: number, out: number, add: 0 | 1) => void;

/**
 * row[i] = exp(row[i] + bias[i] - max) for i < n, max the largest row[i] + bias[i]; returns
 * the new row's sum. Pointers are byte offsets of float32 arrays.
 */
export type SoftmaxNum = (row: number, bias: number, n: number) => number;

/** out[c] = sum_r mat[r * cols + c] for c < cols, r < rows (rows at least 1); byte offsets. */
export type ColSum = (mat: number, rows: number, cols: number, out: number) => void;

export interface Kernels {
  gemv: Gemv;
  softmaxNum: SoftmaxNum;
  colSum: ColSum;
}

const byMemory = new WeakMap<WebAssembly.Memory, Kernels>();
let compiled: WebAssembly.Module | null = null;

/** The kernels bound to `backend`'s memory (one instance per memory). */
export function kernelsFor(backend: Wasm): Kernels {
  const memory = (backend.wasm as unknown as { asm: { memory: WebAssembly.Memory } }).asm.memory;
  let k = byMemory.get(memory);
  if (!k) {
    compiled ??= new WebAssembly.Module(Buffer.from(GEMV_WASM, 'base64'));
    const instance = new WebAssembly.Instance(compiled, { env: { memory } });
    k = { gemv: instance.exports.gemv as Gemv, softmaxNum: instance.exports.softmaxNum as SoftmaxNum, colSum: instance.exports.colSum as ColSum };
    byMemory.set(memory, k);
  }
  return k;
}

export const gemvFor = (backend: Wasm): Gemv => kernelsFor(backend).gemv;
export const softmaxNumFor = (backend: Wasm): SoftmaxNum => kernelsFor(backend).softmaxNum;
