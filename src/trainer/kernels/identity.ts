// Identity for wasm. The backend's kernel copies the whole tensor; autodiff runs it about
// 900 times in a training step of the small model (gradients passed through unchanged,
// clones), 3% of the step. Like the cpu backend's and wasm's own Reshape, this one shares
// the input's buffer and counts a reference: no kernel writes into its inputs, and a
// buffer keeps its shape here, so XNNPACK's packing cache (keyed by buffer) stays right.
import type { KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { callOriginal } from '../../engine/kernels/original.ts';
import type { Wasm } from '../../engine/kernels/wasm-heap.ts';

export const identityKernel: KernelFunc = ({ inputs, backend: anyBackend }) => {
  const backend = anyBackend as Wasm;
  const { x } = inputs as { x: TensorInfo };
  if (x.dtype === 'string') return callOriginal('Identity', backend, { x }, {});
  backend.incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
};
