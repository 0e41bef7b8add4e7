import * as tf from '@tensorflow/tfjs-core';
import { checkChannel, type TermKind } from './term.js';

/** Mean activation of one channel of a layer. */
export interface ChannelTerm {
  kind: 'channel';
  layer: string;
  channel: number;
  weight: number;
}

export function channel(name: string, index: number, weight = 1): { terms: [ChannelTerm] } {
  return { terms: [{ kind: 'channel', layer: name, channel: index, weight }] };
}

export const channelTerm: TermKind<ChannelTerm> = {
  describe: (t) => `${t.layer}#${t.channel}`,
  wholeImage: false,
  tfjs(t, act) {
    checkChannel(t, act.shape[act.shape.length - 1]!);
    return tf.mean(tf.slice(act, [0, 0, 0, t.channel], [-1, -1, -1, 1]));
  },
  onnx(g, t, act, seed) {
    const [, c, h, w] = act.shape as [number, number, number, number];
    checkChannel(t, c);
    seed(() => {
      const mask = new Float32Array(c * h * w);
      mask.fill(t.weight / (h * w), t.channel * h * w, (t.channel + 1) * h * w);
      return g.constant(mask, act.shape, 'seed');
    });
    const slice = g.op('Slice', [act.name, g.ints([t.channel]), g.ints([t.channel + 1]), g.ints([1])]);
    return g.op('ReduceMean', [slice], { keepdims: 0 });
  },
};
