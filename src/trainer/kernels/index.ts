// Training kernels for the wasm backend. `registerTrainingKernels()` swaps in the
// overrides below for 'wasm' only; other backends keep their kernels. It may run
// before or after tf.setBackend('wasm'), and any number of times.
import '@tensorflow/tfjs-backend-wasm';
import * as tf from '@tensorflow/tfjs-core';
import type { KernelFunc } from '@tensorflow/tfjs-core';
import { batchMatMulKernel } from './batch-matmul.ts';
import { fusedMatMulKernel } from './fused-matmul.ts';
import { gatherKernel } from './gather.ts';
import { identityKernel } from './identity.ts';
import { captureOriginal } from '../../engine/kernels/original.ts';
import { sliceKernel, splitVKernel } from '../../engine/kernels/slice.ts';
import { installWasmOverrides } from '../../engine/kernels/index.ts';
import { sumKernel } from './sum.ts';
import { transposeKernel } from './transpose.ts';
import { unsortedSegmentSumKernel } from './unsorted-segment-sum.ts';

export { layerNorm, denseRelu, dense } from './ops.ts';

const OVERRIDES: Record<string, KernelFunc> = {
  BatchMatMul: batchMatMulKernel,
  _FusedMatMul: fusedMatMulKernel,
  GatherV2: gatherKernel,
  Sum: sumKernel,
  Slice: sliceKernel,
  SplitV: splitVKernel,
  Identity: identityKernel,
  Transpose: transposeKernel,
  UnsortedSegmentSum: unsortedSegmentSumKernel,
};

const ours = new Set<KernelFunc>(Object.values(OVERRIDES));

/** Installs the wasm training kernels; returns the names it (re)registered. */
export const registerTrainingKernels = (): string[] => installWasmOverrides(OVERRIDES);

/** Puts the backend's own kernels back (profiling, and tests comparing both). */
export function unregisterTrainingKernels(): void {
  for (const name of Object.keys(OVERRIDES)) {
    const current = tf.getKernel(name, 'wasm');
    if (!current || !ours.has(current.kernelFunc)) continue;
    tf.unregisterKernel(name, 'wasm');
    const original = captureOriginal(name);
    if (original) tf.registerKernel(original);
  }
}

export function trainingKernelsActive(): boolean {
  const k = tf.getKernel('BatchMatMul', 'wasm');
  return !!k && ours.has(k.kernelFunc);
}
