// The wasm backend's own kernels, captured before any override replaces them, so the
// overrides can call the fast path they wrap.
import * as tf from '@tensorflow/tfjs-core';
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import type { Wasm } from './wasm-heap.ts';

const originals = new Map<string, KernelConfig>();

/** Remembers the current wasm kernel the first time it is asked for. */
export function captureOriginal(kernelName: string): KernelConfig | undefined {
  if (!originals.has(kernelName)) {
    const k = tf.getKernel(kernelName, 'wasm');
    if (k) originals.set(kernelName, { ...k });
  }
  return originals.get(kernelName);
}

export function callOriginal(
  kernelName: string,
  backend: Wasm,
  inputs: Record<string, TensorInfo | undefined>,
  attrs: Record<string, unknown>,
): TensorInfo {
  const k = originals.get(kernelName) ?? tf.getKernel(kernelName, 'wasm');
  if (!k) throw new Error(`no wasm kernel ${kernelName}`);
  const f = k.kernelFunc as KernelFunc;
  return f({ inputs: inputs as never, backend, attrs: attrs as never }) as TensorInfo;
}

/** Explicit transpose through the backend's own Transpose kernel. */
export function transpose(backend: Wasm, x: TensorInfo, perm: number[]): TensorInfo {
  return callOriginal('Transpose', backend, { x }, { perm });
}
