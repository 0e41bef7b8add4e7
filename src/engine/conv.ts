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
   * The filter of the forward convolution that computes the input gradient, built once per layer
   * on first use: the kernel rotated 180° with in/out swapped, [kh, kw, out, in], for stride 1;
   * the sub-pixel phase filter (see phaseFilter) for larger strides.
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

/**
 * The strided input gradient as ONE stride-1 convolution plus depthToSpace ("sub-pixel" form).
 * With i + pad = s·q + r, the input gradient is dx[s·q + r − pad] = Σ_m dy[q − m]·W[r + s·m]:
 * for each phase r a small stride-1 convolution with every s-th kernel tap. Stacking the s²
 * phases as output channels makes a single forward convolution of dy with a ⌈k/s⌉-sized kernel
 * (s²·in outputs), whose depthToSpace is the gradient. Compared with convolving a zero-dilated
 * dy, this does s² fewer multiply-adds and gives the convolution s² times more output channels,
 * which XNNPACK runs far more efficiently (GoogLeNet's conv1 has only 3 input channels).
 */
export function phaseFilter(filter: tf.Tensor4D, stride: number): tf.Tensor4D {
  const [kh, kw, cin, cout] = filter.shape;
  const mh = Math.ceil(kh / stride);
  const mw = Math.ceil(kw / stride);
  const w = filter.dataSync();
  const outC = stride * stride * cin;
  // Layout [mh, mw, cout, s·s·cin], flipped in (mh, mw) so that it is a correlation.
  const g = new Float32Array(mh * mw * cout * outC);
  for (let my = 0; my < mh; my++) {
    for (let mx = 0; mx < mw; mx++) {
      for (let ry = 0; ry < stride; ry++) {
        for (let rx = 0; rx < stride; rx++) {
          const ty = ry + stride * my;
          const tx = rx + stride * mx;
          if (ty >= kh || tx >= kw) continue;
          for (let c = 0; c < cin; c++) {
            const oc = (ry * stride + rx) * cin + c;
            for (let o = 0; o < cout; o++) {
              g[(((mh - 1 - my) * mw + (mw - 1 - mx)) * cout + o) * outC + oc] = w[((ty * kw + tx) * cin + c) * cout + o]!;
            }
          }
        }
      }
    }
  }
  return tf.tensor4d(g, [mh, mw, cout, outC]);
}

/**
 * dL/dx of y = conv(x, W, stride, pad) for an input of size (inH, inW), as forward convolutions
 * only. Stride 1: a correlation of dy with the rotated kernel, padded by (k−1−pad) so the result
 * has the input's size. Stride s: the sub-pixel form of `phaseFilter`.
 */
export function convInputGradient(
  dy: tf.Tensor4D,
  back: tf.Tensor4D,
  stride: number,
  pad: number,
  inH: number,
  inW: number,
): tf.Tensor4D {
  return tf.tidy(() => {
    const [kh, kw] = back.shape;
    if (stride === 1) {
      const padding: [[number, number], [number, number], [number, number], [number, number]] = [
        [0, 0],
        [kh - 1 - pad, inH - dy.shape[1] + pad],
        [kw - 1 - pad, inW - dy.shape[2] + pad],
        [0, 0],
      ];
      return tf.conv2d(dy, back, 1, padding.every(([a, b]) => a === 0 && b === 0) ? 'valid' : padding);
    }
    // `back` is the phase filter here: [mh, mw, cout, s·s·cin].
    const [, ho, wo] = dy.shape;
    const qh = Math.ceil((inH + pad) / stride);
    const qw = Math.ceil((inW + pad) / stride);
    const padded = tf.pad(dy, [
      [0, 0],
      [kh - 1, Math.max(0, qh - ho)],
      [kw - 1, Math.max(0, qw - wo)],
      [0, 0],
    ]);
    const phases = tf.slice(tf.conv2d(padded as tf.Tensor4D, back, 1, 'valid'), [0, 0, 0, 0], [-1, qh, qw, -1]);
    return tf.slice(tf.depthToSpace(phases as tf.Tensor4D, stride), [0, pad, pad, 0], [-1, inH, inW, -1]) as tf.Tensor4D;
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
        p.backFilter ??= tf.keep(p.stride === 1 ? rotatedFilter(p.filter) : phaseFilter(p.filter, p.stride));
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
