import * as tf from '@tensorflow/tfjs-core';
import type { TermKind } from './term.js';

/**
 * Guided dreaming: for each position, the best dot product with any of the guide image's
 * feature vectors at that layer (`features` is positions × channels, row-major).
 */
export interface GuideTerm {
  kind: 'guide';
  layer: string;
  weight: number;
  features: Float32Array;
  channels: number;
}

export function guide(name: string, features: Float32Array, channels: number, weight = 1): { terms: [GuideTerm] } {
  return { terms: [{ kind: 'guide', layer: name, weight, features, channels }] };
}

export const guideTerm: TermKind<GuideTerm> = {
  describe: (t) => `guide@${t.layer}`,
  wholeImage: false,
  tfjs(t, act) {
    const c = t.channels;
    const x = tf.reshape(act, [-1, c]);
    const g = tf.tensor2d(t.features, [t.features.length / c, c]);
    return tf.mean(tf.max(tf.matMul(x, g, false, true), 1));
  },
  onnx(g, t, act, seed) {
    // Its gradient is, at each position, the best-matching guide vector, averaged over positions.
    const [, c, h, w] = act.shape as [number, number, number, number];
    const positions = h * w;
    const m = t.features.length / t.channels;
    const x = g.op('Transpose', [g.reshape(act.name, [c, positions])], { perm: [1, 0] });
    const guideRows = g.constant(t.features, [m, c], 'guide');
    const scores = g.op('MatMul', [x, g.op('Transpose', [guideRows], { perm: [1, 0] })]);
    seed(() => {
      const best = g.op('ArgMax', [scores], { axis: 1, keepdims: 0 });
      const chosen = g.mul(g.op('Gather', [guideRows, best], { axis: 0 }), g.scalar(t.weight / positions));
      return g.reshape(g.op('Transpose', [chosen], { perm: [1, 0] }), act.shape);
    });
    return g.op('ReduceMean', [g.op('ReduceMax', [scores, g.ints([1])], { keepdims: 0 })], { keepdims: 0 });
  },
};
