// The wasm SIMD matrix-vector kernel of gemv.wat, instantiated over the wasm backend's own
// memory, so it reads tensors where they lie (pointers from backend.getMemoryOffset).
import { GEMV_WASM } from './gemv-wasm.ts';
import type { Wasm } from './wasm-heap.ts';

/**
 * out[r] = sum_i mat[r * stride + i] * vec[i] for r < rows, i < len (or out[r] += it, with
 * add = 1); pointers are byte offsets, stride in floats.
 */
export type Gemv = (mat: number, stride: number, rows: number, len: number, vec: number, out: number, add: 0 | 1) => void;

const byMemory = new WeakMap<WebAssembly.Memory, Gemv>();
let compiled: WebAssembly.Module | null = null;

/** The kernel bound to `backend`'s memory (one instance per memory). */
export function gemvFor(backend: Wasm): Gemv {
  const memory = (backend.wasm as unknown as { asm: { memory: WebAssembly.Memory } }).asm.memory;
  let f = byMemory.get(memory);
  if (!f) {
    compiled ??= new WebAssembly.Module(Buffer.from(GEMV_WASM, 'base64'));
    const instance = new WebAssembly.Instance(compiled, { env: { memory } });
    f = instance.exports.gemv as Gemv;
    byMemory.set(memory, f);
  }
  return f;
}
