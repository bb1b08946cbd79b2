// Transpose for wasm. The backend's kernel is fast for ranks 3 and 4 but walks rank 2
// and rank 5+ element by element (a [1024,768] transpose took 7 ms, the attention
// [B,T,3,H,dh] -> [3,B,H,T,dh] one 47 ms). After merging axes that move together,
// rank 2 runs as a tiled copy and anything keeping its last axis as row copies in JS.
import { util, type KernelFunc, type TensorInfo } from '@tensorflow/tfjs-core';
import { callOriginal } from '../../engine/kernels/original.ts';
import type { Wasm } from '../../engine/kernels/wasm-heap.ts';

/** The same permutation with size-1 axes dropped and axes that stay adjacent merged. */
export function collapse(shape: number[], perm: number[]): { shape: number[]; perm: number[] } {
  const kept = shape.map((_, i) => i).filter((i) => shape[i] !== 1);
  const renumber = new Map(kept.map((a, i) => [a, i]));
  const p = perm.filter((a) => shape[a] !== 1).map((a) => renumber.get(a)!);
  const s = kept.map((a) => shape[a]);
  const groups: number[][] = [];
  for (let j = 0; j < p.length; j++) {
    if (j > 0 && p[j] === p[j - 1] + 1) groups[groups.length - 1].push(p[j]);
    else groups.push([p[j]]);
  }
  const inOrder = [...groups].sort((g, h) => g[0] - h[0]);
  return {
    shape: inOrder.map((g) => g.reduce((n, a) => n * s[a], 1)),
    perm: groups.map((g) => inOrder.indexOf(g)),
  };
}

type Arr = Float32Array | Int32Array | Uint8Array;

function transpose2d(src: Arr, dst: Arr, rows: number, cols: number): void {
  const TILE = 32;
  for (let r0 = 0; r0 < rows; r0 += TILE) {
    const r1 = Math.min(r0 + TILE, rows);
    for (let c0 = 0; c0 < cols; c0 += TILE) {
      const c1 = Math.min(c0 + TILE, cols);
      for (let r = r0; r < r1; r++) {
        for (let c = c0, i = r * cols + c0; c < c1; c++, i++) dst[c * rows + r] = src[i];
      }
    }
  }
}

/** General permutation; when the last axis stays last, whole rows are copied at once. */
function transposeNd(src: Arr, dst: Arr, shape: number[], perm: number[]): void {
  const rank = shape.length;
  const inStrides = new Array<number>(rank);
  for (let i = rank - 1, s = 1; i >= 0; i--) {
    inStrides[i] = s;
    s *= shape[i];
  }
  const outShape = perm.map((a) => shape[a]);
  const step = perm.map((a) => inStrides[a]); // input stride of each output axis
  const rowKept = perm[rank - 1] === rank - 1;
  const inner = rowKept ? shape[rank - 1] : 1;
  const outer = rowKept ? rank - 1 : rank;
  const idx = new Array<number>(outer).fill(0);
  const total = dst.length / inner;
  let from = 0;
  for (let o = 0; o < total; o++) {
    if (rowKept) dst.set(src.subarray(from, from + inner), o * inner);
    else dst[o] = src[from];
    for (let ax = outer - 1; ax >= 0; ax--) {
      from += step[ax];
      if (++idx[ax] < outShape[ax]) break;
      from -= step[ax] * outShape[ax];
      idx[ax] = 0;
    }
  }
}

export const transposeKernel: KernelFunc = ({ inputs, backend: anyBackend, attrs }) => {
  const backend = anyBackend as Wasm;
  const { x } = inputs as { x: TensorInfo };
  const { perm } = attrs as unknown as { perm: number[] };
  const c = collapse(x.shape, perm);
  const handled = (c.shape.length === 2 || c.shape.length >= 5) && ['float32', 'int32', 'bool'].includes(x.dtype);
  if (!handled || util.sizeFromShape(x.shape) === 0) return callOriginal('Transpose', backend, { x }, { perm });
  const out = backend.makeOutput(
    perm.map((a) => x.shape[a]),
    x.dtype,
  );
  const dst = backend.typedArrayFromHeap(out) as Arr;
  const src = backend.typedArrayFromHeap(x) as Arr;
  if (c.shape.length === 2) transpose2d(src, dst, c.shape[0], c.shape[1]);
  else transposeNd(src, dst, c.shape, c.perm);
  return out;
};
