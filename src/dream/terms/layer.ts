import * as tf from '@tensorflow/tfjs-core';
import type { TermKind } from './term.js';

/** Mean squared activation of a whole layer: the classic DeepDream objective. */
export interface LayerTerm {
  kind: 'layer';
  layer: string;
  weight: number;
}

export function layer(name: string, weight = 1): { terms: [LayerTerm] } {
  return { terms: [{ kind: 'layer', layer: name, weight }] };
}

export const layerTerm: TermKind<LayerTerm> = {
  describe: (t) => t.layer,
  wholeImage: false,
  tfjs: (_t, act) => tf.mean(tf.square(act)),
  onnx(g, t, act, seed) {
    // mean(a²); d/da = 2a/N
    const size = act.shape.reduce((a, b) => a * b, 1);
    seed(() => g.mul(act.name, g.scalar((2 * t.weight) / size)));
    return g.op('ReduceMean', [g.mul(act.name, act.name)], { keepdims: 0 });
  },
};
