import * as tf from '@tensorflow/tfjs-core';

/** A convolution layer's parameters, weights already in tfjs layout. */
export interface ConvParams {
  /** [kh, kw, in, out] */
  filter: tf.Tensor4D;
  bias: tf.Tensor1D;
  stride: number;
  /** Symmetric zero padding in pixels (Caffe's `pad`). */
  pad: number;
  relu: boolean;
  /**
   * The kernel rotated 180° with in/out swapped, [kh, kw, out, in]: the filter of the forward
   * convolution that computes the input gradient. Built once per layer, on first use.
   */
  backFilter?: tf.Tensor4D;
}

/**
 * How gradients flow through convolutions:
 * - `custom`: the input gradient is itself a forward convolution (rotated kernel, channels
 *   swapped). On wasm, forward conv runs at ~40 GFLOP/s while tfjs's Conv2DBackpropInput runs at
 *   ~2-4, so this is the fast path. Filter gradients are never computed (DeepDream never needs them).
 * - `autodiff`: plain conv2d + add + relu, differentiated by tfjs itself; the reference.
 */
export type GradientMode = 'custom' | 'autodiff';

export function rotatedFilter(filter: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => tf.reverse(tf.transpose(filter, [0, 1, 3, 2]), [0, 1]) as tf.Tensor4D);
}

/** Insert (stride − 1) zeros between neighbouring pixels: the transpose of a strided sampling. */
function dilate(x: tf.Tensor4D, stride: number): tf.Tensor4D {
  const [n, h, w, c] = x.shape;
  // Along width: [n,h,w,1,c] padded to [n,h,w,s,c], flattened to [n,h,w*s,c], cut the tail zeros.
  const w2 = (w - 1) * stride + 1;
  let y: tf.Tensor = tf.pad(tf.reshape(x, [n, h, w, 1, c]), [[0, 0], [0, 0], [0, 0], [0, stride - 1], [0, 0]]);
  y = tf.slice(tf.reshape(y, [n, h, w * stride, c]), [0, 0, 0, 0], [n, h, w2, c]);
  y = tf.pad(tf.reshape(y, [n, h, 1, w2, c]), [[0, 0], [0, 0], [0, stride - 1], [0, 0], [0, 0]]);
  return tf.slice(tf.reshape(y, [n, h * stride, w2, c]), [0, 0, 0, 0], [n, (h - 1) * stride + 1, w2, c]) as tf.Tensor4D;
}

/**
 * dL/dx of y = conv(x, W, stride, pad) for an input of size (inH, inW): a stride-1 forward
 * convolution of the (dilated) output gradient with the rotated kernel, padded so the result has
 * exactly the input's size. Derivation: dx[i] = Σ_k dy'[i + p − k]·W[k] with dy' the dilated dy,
 * i.e. a correlation with the flipped kernel after padding dy' by (k−1−p) in front.
 */
export function convInputGradient(
  dy: tf.Tensor4D,
  backFilter: tf.Tensor4D,
  stride: number,
  pad: number,
  inH: number,
  inW: number,
): tf.Tensor4D {
  return tf.tidy(() => {
    const [kh, kw] = backFilter.shape;
    let g = stride > 1 ? dilate(dy, stride) : dy;
    const before = (k: number) => k - 1 - pad;
    const after = (k: number, inSize: number, len: number) => inSize + k - 1 - before(k) - len;
    let top = before(kh);
    let left = before(kw);
    let bottom = after(kh, inH, g.shape[1]);
    let right = after(kw, inW, g.shape[2]);
    // Negative padding means the forward pass ignored trailing input rows: crop instead.
    if (top < 0 || left < 0) {
      g = tf.slice(g, [0, Math.max(0, -top), Math.max(0, -left), 0]);
      top = Math.max(0, top);
      left = Math.max(0, left);
    }
    if (bottom < 0 || right < 0) {
      g = tf.slice(g, [0, 0, 0, 0], [-1, g.shape[1] + Math.min(0, bottom), g.shape[2] + Math.min(0, right), -1]);
      bottom = Math.max(0, bottom);
      right = Math.max(0, right);
    }
    const padding: [[number, number], [number, number], [number, number], [number, number]] = [
      [0, 0],
      [top, bottom],
      [left, right],
      [0, 0],
    ];
    const samePad = top === 0 && bottom === 0 && left === 0 && right === 0;
    return tf.conv2d(g, backFilter, 1, samePad ? 'valid' : padding);
  });
}

function forwardPad(p: ConvParams): number | 'valid' {
  return p.pad === 0 ? 'valid' : p.pad;
}

/** Convolution + bias (+ ReLU) whose input gradient is the fast forward-convolution form. */
export function convCustom(x: tf.Tensor4D, p: ConvParams): tf.Tensor4D {
  const [, inH, inW] = x.shape;
  const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const input = args[0] as tf.Tensor;
    const save = args[1] as tf.GradSaveFunc;
    const y = tf.fused.conv2d({
      x: input as tf.Tensor4D,
      filter: p.filter,
      strides: p.stride,
      pad: forwardPad(p),
      bias: p.bias,
      activation: p.relu ? 'relu' : 'linear',
    });
    save([y]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        p.backFilter ??= tf.keep(rotatedFilter(p.filter));
        // ReLU's gradient: pass dy only where the output is positive.
        const g = p.relu ? tf.mul(dy, tf.step(saved[0]!)) : dy;
        return convInputGradient(g as tf.Tensor4D, p.backFilter, p.stride, p.pad, inH, inW);
      },
    };
  });
  return op(x) as tf.Tensor4D;
}

/** The reference: plain ops that tfjs differentiates itself. */
export function convAutodiff(x: tf.Tensor4D, p: ConvParams): tf.Tensor4D {
  const y = tf.add(tf.conv2d(x, p.filter, p.stride, forwardPad(p)), p.bias) as tf.Tensor4D;
  return p.relu ? tf.relu(y) : y;
}

export function conv(x: tf.Tensor4D, p: ConvParams, mode: GradientMode): tf.Tensor4D {
  return mode === 'custom' ? convCustom(x, p) : convAutodiff(x, p);
}
