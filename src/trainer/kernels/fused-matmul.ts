// _FusedMatMul (tf.fused.matMul) for wasm. The op hands it rank-3 operands, so a dense
// layer on [batch, time, d] arrives batched and misses the fast path. With one shared
// right-hand matrix, a rank-1 bias and a clamp activation, it folds into one 2-D call.
// Otherwise it is our BatchMatMul, then the bias and the activation as separate kernels:
// the backend's own slow path indexes a rank-1 bias by i*n+j and is wrong past row 0.
import { util, type KernelFunc, type TensorInfo } from '@tensorflow/tfjs-core';
import { asRowMajor, batchMatMulWasm, planMatMul } from './batch-matmul.ts';
import { fastFusedMatMul } from './fast-matmul.ts';
import { callOriginal } from '../../engine/kernels/original.ts';
import { free, type Wasm } from '../../engine/kernels/wasm-heap.ts';

const FOLDABLE_ACTIVATIONS = new Set(['linear', 'relu', 'relu6']);

export const fusedMatMulKernel: KernelFunc = ({ inputs, backend: anyBackend, attrs }) => {
  const backend = anyBackend as Wasm;
  const { a, b, bias, preluActivationWeights } = inputs as Record<string, TensorInfo | undefined> & {
    a: TensorInfo;
    b: TensorInfo;
  };
  const at = attrs as unknown as {
    transposeA: boolean;
    transposeB: boolean;
    activation?: string;
    leakyreluAlpha?: number;
  };
  const activation = at.activation ?? 'linear';
  const plan = a.dtype === 'float32' && b.dtype === 'float32' ? planMatMul(a, b, !!at.transposeA, !!at.transposeB) : null;
  const foldable =
    plan !== null &&
    util.sizeFromShape(plan.batchB) === 1 &&
    preluActivationWeights == null &&
    FOLDABLE_ACTIVATIONS.has(activation) &&
    (bias == null || (bias.shape.length === 1 && bias.shape[0] === plan.n));
  if (plan === null) {
    return callOriginal('_FusedMatMul', backend, inputs as Record<string, TensorInfo>, attrs as Record<string, unknown>);
  }
  if (!foldable) {
    const product = batchMatMulWasm(backend, a, b, !!at.transposeA, !!at.transposeB);
    const biased = bias == null ? product : callOriginal('Add', backend, { a: product, b: bias }, {});
    if (biased !== product) free(backend, product);
    const out = activate(backend, biased, activation, preluActivationWeights, at.leakyreluAlpha);
    if (out !== biased) free(backend, biased);
    return out;
  }
  const { m, k, n } = plan;
  const nA = util.sizeFromShape(plan.batchA);
  const aMK = asRowMajor(backend, a, nA, m, k, !!at.transposeA);
  const bKN = asRowMajor(backend, b, 1, k, n, !!at.transposeB);
  try {
    const out = fastFusedMatMul(backend, aMK.t, bKN.t, nA * m, k, n, bias, activation);
    return { dataId: out.dataId, shape: plan.outShape, dtype: 'float32' };
  } finally {
    if (aMK.owned) free(backend, aMK.t);
    if (bKN.owned) free(backend, bKN.t);
  }
};

function activate(
  backend: Wasm,
  x: TensorInfo,
  activation: string,
  preluWeights: TensorInfo | undefined,
  alpha: number | undefined,
): TensorInfo {
  switch (activation) {
    case 'linear':
      return x;
    case 'relu':
      return callOriginal('Relu', backend, { x }, {});
    case 'relu6':
      return callOriginal('Relu6', backend, { x }, {});
    case 'elu':
      return callOriginal('Elu', backend, { x }, {});
    case 'sigmoid':
      return callOriginal('Sigmoid', backend, { x }, {});
    case 'leakyrelu':
      return callOriginal('LeakyRelu', backend, { x }, { alpha: alpha ?? 0.2 });
    case 'prelu':
      return callOriginal('Prelu', backend, { x, alpha: preluWeights }, {});
    default:
      throw new Error(`_FusedMatMul: activation ${activation} is not supported on wasm`);
  }
}
