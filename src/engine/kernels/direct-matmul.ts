// XNNPACK's matMul called straight into the wasm backend, on operand and result tensors that
// live as long as their owner: no kernel wrapper and no output allocated per call.
//
// Why: a decode step makes ~22 small products. Through the kernel function each one paid
// about 10 us of bookkeeping (an output malloc'd and registered, then freed; shapes copied to
// the stack) on top of 6-30 us of arithmetic. The arithmetic is the same call either way.
import type { TensorInfo } from '@tensorflow/tfjs-core';
import { AntiphonError } from '../../errors.ts';
import type { Wasm } from './wasm-heap.ts';

type FusedMatMul = (
  aId: number, aShape: number, aRank: number, bId: number, bShape: number, bRank: number,
  transposeA: number, transposeB: number, activation: number, biasId: number, preluId: number, alpha: number, outId: number,
) => void;

interface Module {
  __FusedMatMul?: FusedMatMul;
  _malloc(bytes: number): number;
  _free(ptr: number): void;
  HEAP32: Int32Array;
}

/** The backend's activation codes (tfjs-backend-wasm's FusableActivation). */
const LINEAR = 0;
const RELU = 1;

export class DirectMatMul {
  private readonly fn: FusedMatMul;
  private readonly shapes = new Map<string, number>();

  constructor(private readonly backend: Wasm) {
    const f = (backend.wasm as unknown as Module).__FusedMatMul;
    if (typeof f !== 'function') throw new AntiphonError('E_INTERNAL', 'this version of @tensorflow/tfjs-backend-wasm has no _FusedMatMul export');
    this.fn = f;
  }

  /** out (1, M, N) = a (1, M, K) @ w (K, N) [+ bias (N)] [relu]; every tensor the caller's. */
  run(a: TensorInfo, w: TensorInfo, bias: TensorInfo | null, out: TensorInfo, relu = false): void {
    const [, M, K] = a.shape;
    const N = w.shape[w.shape.length - 1];
    this.fn(
      this.id(a), this.shape(1, M, K), 3, this.id(w), this.shape(1, K, N), 3,
      0, 0, relu ? RELU : LINEAR, bias ? this.id(bias) : 0, 0, 0, this.id(out),
    );
  }

  /** Frees the shapes it keeps in the heap. */
  dispose(): void {
    const m = this.backend.wasm as unknown as Module;
    for (const p of this.shapes.values()) m._free(p);
    this.shapes.clear();
  }

  private id(t: TensorInfo): number {
    const data = this.backend.dataIdMap.get(t.dataId);
    if (!data) throw new AntiphonError('E_INTERNAL', 'a matMul operand was freed');
    return data.id;
  }

  /** A heap int32[3] holding the shape, kept for the next call with it. */
  private shape(a: number, b: number, c: number): number {
    const key = `${a},${b},${c}`;
    let p = this.shapes.get(key);
    if (p === undefined) {
      const m = this.backend.wasm as unknown as Module;
      p = m._malloc(12);
      m.HEAP32.set([a, b, c], p >> 2);
      this.shapes.set(key, p);
    }
    return p;
  }
}
