import * as tf from '@tensorflow/tfjs-core';
import { cellAt, checkChannel, oneHot, type TermKind } from './term.js';

/**
 * One neuron: a channel at one position of the layer's grid, given as fractions of the image
 * (0.5, 0.5 = the centre) so that it names the same place at every octave size.
 */
export interface NeuronTerm {
  kind: 'neuron';
  layer: string;
  channel: number;
  x: number;
  y: number;
  weight: number;
}

/** A neuron at (x, y), fractions of the image's width and height (default: the centre). */
export function neuron(name: string, index: number, x = 0.5, y = 0.5, weight = 1): { terms: [NeuronTerm] } {
  return { terms: [{ kind: 'neuron', layer: name, channel: index, x, y, weight }] };
}

export const neuronTerm: TermKind<NeuronTerm> = {
  describe: (t) => `${t.layer}#${t.channel}@${t.x.toFixed(3)},${t.y.toFixed(3)}`,
  // One place in the picture: tiles would each see another one.
  wholeImage: true,
  tfjs(t, act) {
    const [, h, w, c] = act.shape as [number, number, number, number];
    checkChannel(t, c);
    const { row, col } = cellAt(t.x, t.y, h, w);
    return tf.reshape(tf.slice(act, [0, row, col, t.channel], [1, 1, 1, 1]), []) as tf.Scalar;
  },
  onnx(g, t, act, seed) {
    const [, c, h, w] = act.shape as [number, number, number, number];
    checkChannel(t, c);
    const { row, col } = cellAt(t.x, t.y, h, w);
    const at = (t.channel * h + row) * w + col;
    seed(() => oneHot(g, act.shape, at, t.weight));
    return g.reshape(g.op('Gather', [g.reshape(act.name, [-1]), g.ints([at])], { axis: 0 }), []);
  },
};
