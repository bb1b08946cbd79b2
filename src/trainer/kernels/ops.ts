// Ops the model can adopt for speed on any backend. They are plain tfjs ops, so they
// also run on cpu and webgl; on wasm they lean on the kernel overrides.
import * as tf from '@tensorflow/tfjs-core';

/** Rows of `x` flattened to 2-D, so a dense layer is one matMul whatever the rank. */
function rows2d(x: tf.Tensor): tf.Tensor2D {
  const d = x.shape[x.shape.length - 1];
  return tf.reshape(x, [-1, d]);
}

/** x·W + b over the last axis of x. */
export function dense(x: tf.Tensor, w: tf.Tensor2D, b?: tf.Tensor1D): tf.Tensor {
  return tf.tidy(() => {
    const y = tf.fused.matMul({ a: rows2d(x), b: w, bias: b });
    return tf.reshape(y, [...x.shape.slice(0, -1), w.shape[1]]);
  });
}

/** relu(x·W + b), with the bias and clamp fused into the matMul. */
export function denseRelu(x: tf.Tensor, w: tf.Tensor2D, b?: tf.Tensor1D): tf.Tensor {
  return tf.tidy(() => {
    const y = tf.fused.matMul({ a: rows2d(x), b: w, bias: b, activation: 'relu' });
    return tf.reshape(y, [...x.shape.slice(0, -1), w.shape[1]]);
  });
}

/**
 * Layer norm over the last axis with a hand-written gradient. Autodiff through
 * moments() records a dozen small kernels and keeps their outputs; this keeps the
 * normalised input and the reciprocal deviation, and the backward pass is five ops.
 */
export function layerNorm(x: tf.Tensor, gamma: tf.Tensor1D, beta: tf.Tensor1D, epsilon = 1e-5): tf.Tensor {
  const d = x.shape[x.shape.length - 1];
  const f = tf.customGrad((...args: unknown[]) => {
    const [xi, g, bt] = args as [tf.Tensor2D, tf.Tensor1D, tf.Tensor1D];
    const save = args[3] as (ts: tf.Tensor[]) => void;
    const mean = tf.mean(xi, -1, true);
    const centred = tf.sub(xi, mean);
    const variance = tf.mean(tf.square(centred), -1, true);
    const rstd = tf.rsqrt(tf.add(variance, epsilon));
    const xhat = tf.mul(centred, rstd);
    save([xhat, rstd, g]);
    const value = tf.add(tf.mul(xhat, g), bt);
    const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [xh, rs, gm] = saved;
      const dxhat = tf.mul(dy, gm);
      const meanD = tf.mean(dxhat, -1, true);
      const meanDX = tf.mean(tf.mul(dxhat, xh), -1, true);
      const dx = tf.mul(rs, tf.sub(tf.sub(dxhat, meanD), tf.mul(xh, meanDX)));
      const dGamma = tf.sum(tf.mul(dy, xh), 0);
      const dBeta = tf.sum(dy, 0);
      return [dx, dGamma, dBeta];
    };
    return { value, gradFunc };
  });
  return tf.tidy(() => {
    const y = f(rows2d(x), gamma, beta) as tf.Tensor;
    return tf.reshape(y, x.shape);
  });
}
