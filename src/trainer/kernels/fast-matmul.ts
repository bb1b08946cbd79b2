// The one door to XNNPACK's fully-connected path in tfjs-backend-wasm 4.22. That path
// is taken only for an unbatched product with no transpose flag, and it caches the
// packed right-hand operand by tensor id, ignoring the shape. Two views of one buffer
// with different shapes (tf.reshape shares buffers) would therefore share a stale
// packing; `rightHand` copies the operand whenever its buffer was packed as another shape.
import type { DataId, TensorInfo } from '@tensorflow/tfjs-core';
import { callOriginal } from '../../engine/kernels/original.ts';
import { copyRange, view, type Wasm } from '../../engine/kernels/wasm-heap.ts';

const packedAs = new WeakMap<DataId, string>();

/** The right-hand operand to hand to XNNPACK as [k, n], and whether it is a copy to free. */
function rightHand(backend: Wasm, b: TensorInfo, k: number, n: number): { t: TensorInfo; owned: boolean } {
  const key = `${k}x${n}`;
  const seen = packedAs.get(b.dataId);
  if (seen === undefined || seen === key) {
    packedAs.set(b.dataId, key);
    return { t: view(b, [k, n]), owned: false };
  }
  return { t: copyRange(backend, b, 0, [k, n]), owned: true };
}

/** [m,k] x [k,n] on the fast path. `a` and `b` are contiguous buffers read from offset 0. */
export function fastMatMul(backend: Wasm, a: TensorInfo, b: TensorInfo, m: number, k: number, n: number): TensorInfo {
  const rhs = rightHand(backend, b, k, n);
  try {
    return callOriginal('BatchMatMul', backend, { a: view(a, [m, k]), b: rhs.t }, { transposeA: false, transposeB: false });
  } finally {
    if (rhs.owned) backend.disposeData(rhs.t.dataId);
  }
}

/** As fastMatMul with the bias and activation fused in; `attrs` are _FusedMatMul's. */
export function fastFusedMatMul(
  backend: Wasm,
  a: TensorInfo,
  b: TensorInfo,
  m: number,
  k: number,
  n: number,
  bias: TensorInfo | undefined,
  activation: string,
): TensorInfo {
  const rhs = rightHand(backend, b, k, n);
  try {
    return callOriginal(
      '_FusedMatMul',
      backend,
      // _FusedMatMul reads its operands as rank 3.
      { a: view(a, [1, m, k]), b: view(rhs.t, [1, k, n]), bias },
      { transposeA: false, transposeB: false, activation, leakyreluAlpha: 0 },
    );
  } finally {
    if (rhs.owned) backend.disposeData(rhs.t.dataId);
  }
}
