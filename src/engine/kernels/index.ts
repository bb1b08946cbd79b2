// wasm kernel overrides that serve inference as well as training. The backend's own Slice
// (and SplitV, which calls it per part) copies its whole input out of the heap before taking
// the part it wants: the ALiBi table per head in a prime, the qkv row three times per layer in
// a step. Measured on the step-450 model, context 100-800: prime of 19 words 17.6-25.4 ->
// 9.7-20.0 ms, one step 4.4-4.9 -> 2.7-3.8 ms (p50). test/trainer-kernels.test.ts checks both
// against the cpu backend.
import * as tf from '@tensorflow/tfjs';
import type { KernelFunc } from '@tensorflow/tfjs-core';
import { captureOriginal } from './original.ts';
import { sliceKernel, splitVKernel } from './slice.ts';

export const INFERENCE_OVERRIDES: Record<string, KernelFunc> = { Slice: sliceKernel, SplitV: splitVKernel };

/**
 * Installs `overrides` on the wasm backend in place of its own kernels (kept, so overrides can
 * call them and unregistering can restore them). Idempotent; returns the names it registered.
 */
export function installWasmOverrides(overrides: Record<string, KernelFunc>): string[] {
  const changed: string[] = [];
  for (const [name, kernelFunc] of Object.entries(overrides)) {
    const current = tf.getKernel(name, 'wasm');
    if (current?.kernelFunc === kernelFunc) continue;
    const original = captureOriginal(name);
    if (current) tf.unregisterKernel(name, 'wasm');
    // The original's setupFunc binds its wasm export; the override calls into it.
    tf.registerKernel({ kernelName: name, backendName: 'wasm', kernelFunc, setupFunc: original?.setupFunc, disposeFunc: original?.disposeFunc });
    changed.push(name);
  }
  return changed;
}

/** Installs the inference overrides on the wasm backend (idempotent); returns the names it registered. */
export const registerInferenceKernels = (): string[] => installWasmOverrides(INFERENCE_OVERRIDES);
