import * as tf from '@tensorflow/tfjs-core';
import { checkClass, oneHot, type TermKind } from './term.js';

export type ClassScore = 'logit' | 'probability';

/**
 * One class of the classifier: `layer` is its logits layer (score `logit`) or its softmax
 * (score `probability`). The whole image is one input, so the network runs to the end.
 */
export interface ClassTerm {
  kind: 'class';
  layer: string;
  index: number;
  score: ClassScore;
  weight: number;
}

export function classScore(layerName: string, index: number, score: ClassScore = 'logit', weight = 1): { terms: [ClassTerm] } {
  return { terms: [{ kind: 'class', layer: layerName, index, score, weight }] };
}

export const classTerm: TermKind<ClassTerm> = {
  describe: (t) => `class#${t.index}${t.score === 'probability' ? '(p)' : ''}`,
  // A classifier's verdict is about the picture as a whole.
  wholeImage: true,
  tfjs(t, act) {
    checkClass(t.index, act.size);
    return tf.reshape(tf.slice(tf.reshape(act, [-1]), [t.index], [1]), []) as tf.Scalar;
  },
  onnx(g, t, act, seed) {
    checkClass(t.index, act.shape.reduce((a, b) => a * b, 1));
    seed(() => oneHot(g, act.shape, t.index, t.weight));
    return g.reshape(g.op('Gather', [g.reshape(act.name, [-1]), g.ints([t.index])], { axis: 0 }), []);
  },
};
