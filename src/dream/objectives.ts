import * as tf from '@tensorflow/tfjs-core';
import { UserError } from '../errors.js';

/**
 * Objectives are plain data (so they cross into worker threads) built from small composable
 * pieces, after Lucid's optvis: `layer('inception_4c/output')`, `channel(l, 139)`,
 * `sum(layer(a), scale(layer(b), 0.5))`, `guide(l, features)`.
 */
export type ObjectiveTerm =
  /** Mean squared activation of a whole layer: the classic DeepDream objective. */
  | { kind: 'layer'; layer: string; weight: number }
  /** Mean activation of one channel of a layer. */
  | { kind: 'channel'; layer: string; channel: number; weight: number }
  /**
   * Guided dreaming: for each position, the best dot product with any of the guide image's
   * feature vectors at that layer (`features` is positions × channels, row-major).
   */
  | { kind: 'guide'; layer: string; weight: number; features: Float32Array; channels: number }
  /**
   * One class of the classifier: `layer` is its logits layer (score `logit`) or its softmax
   * (score `probability`). The whole image is one input, so the network runs to the end.
   */
  | { kind: 'class'; layer: string; index: number; score: ClassScore; weight: number }
  /**
   * One neuron: a channel at one position of the layer's grid, given as fractions of the image
   * (0.5, 0.5 = the centre) so that it names the same place at every octave size.
   */
  | { kind: 'neuron'; layer: string; channel: number; x: number; y: number; weight: number };

export type ClassScore = 'logit' | 'probability';

export interface Objective {
  terms: ObjectiveTerm[];
}

export function layer(name: string, weight = 1): Objective {
  return { terms: [{ kind: 'layer', layer: name, weight }] };
}

export function channel(name: string, index: number, weight = 1): Objective {
  return { terms: [{ kind: 'channel', layer: name, channel: index, weight }] };
}

export function guide(name: string, features: Float32Array, channels: number, weight = 1): Objective {
  return { terms: [{ kind: 'guide', layer: name, weight, features, channels }] };
}

export function classScore(layerName: string, index: number, score: ClassScore = 'logit', weight = 1): Objective {
  return { terms: [{ kind: 'class', layer: layerName, index, score, weight }] };
}

/** A neuron at (x, y), fractions of the image's width and height (default: the centre). */
export function neuron(name: string, index: number, x = 0.5, y = 0.5, weight = 1): Objective {
  return { terms: [{ kind: 'neuron', layer: name, channel: index, x, y, weight }] };
}

/**
 * Class and neuron terms are about the image as a whole (a classifier's verdict, one place in it):
 * they are evaluated on the whole image, never on tiles whose scores would be summed.
 */
export function needsWholeImage(objective: Objective): boolean {
  return objective.terms.some((t) => t.kind === 'class' || t.kind === 'neuron');
}

export function sum(...objectives: Objective[]): Objective {
  return { terms: objectives.flatMap((o) => o.terms) };
}

export function scale(objective: Objective, factor: number): Objective {
  return { terms: objective.terms.map((t) => ({ ...t, weight: t.weight * factor })) };
}

/** The layers an objective reads: the network is evaluated only up to these. */
export function layersOf(objective: Objective): string[] {
  return [...new Set(objective.terms.map((t) => t.layer))];
}

/** A short human description, e.g. `inception_4c/output:1,inception_3b/output#12:0.5`. */
export function describe(objective: Objective): string[] {
  return objective.terms.map((t) => {
    const what =
      t.kind === 'channel'
        ? `${t.layer}#${t.channel}`
        : t.kind === 'guide'
          ? `guide@${t.layer}`
          : t.kind === 'class'
            ? `class#${t.index}${t.score === 'probability' ? '(p)' : ''}`
            : t.kind === 'neuron'
              ? `${t.layer}#${t.channel}@${t.x.toFixed(3)},${t.y.toFixed(3)}`
              : t.layer;
    return t.weight === 1 ? what : `${what}:${t.weight}`;
  });
}

/**
 * Parse `--layer a:1,b:0.5` (weights optional). With `channel`, the objective is that channel of
 * the (single) layer.
 */
export function parseLayerSpec(spec: string, channelIndex?: number): Objective {
  const parts = spec
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p.length > 0);
  if (parts.length === 0) throw new UserError('--layer is empty: name at least one layer, e.g. inception_4c/output');
  const objectives = parts.map((part) => {
    const m = /^(.+?)(?::(-?[\d.eE+-]+))?$/.exec(part)!;
    const name = m[1]!;
    const weight = m[2] === undefined ? 1 : Number(m[2]);
    if (!Number.isFinite(weight)) throw new UserError(`--layer: weight "${m[2]}" of ${name} is not a number`);
    return channelIndex === undefined ? layer(name, weight) : channel(name, channelIndex, weight);
  });
  if (channelIndex !== undefined && objectives.length > 1) {
    throw new UserError('--channel applies to one layer; give a single --layer with it');
  }
  return sum(...objectives);
}

/** The objective's value from the activations of its layers (in `layersOf` order). */
export function evaluate(objective: Objective, activations: ReadonlyMap<string, tf.Tensor>): tf.Scalar {
  return tf.tidy(() => {
    let total: tf.Scalar = tf.scalar(0);
    for (const t of objective.terms) {
      const act = activations.get(t.layer);
      if (!act) throw new Error(`objective needs layer ${t.layer}, which was not computed`);
      let value: tf.Scalar;
      if (t.kind === 'layer') {
        value = tf.mean(tf.square(act));
      } else if (t.kind === 'channel') {
        const c = act.shape[act.shape.length - 1]!;
        if (t.channel < 0 || t.channel >= c) throw new UserError(`channel ${t.channel} is out of range for ${t.layer} (0-${c - 1})`);
        value = tf.mean(tf.slice(act, [0, 0, 0, t.channel], [-1, -1, -1, 1]));
      } else if (t.kind === 'class') {
        const n = act.size;
        if (t.index < 0 || t.index >= n) throw new UserError(`class ${t.index} is out of range (0-${n - 1})`);
        value = tf.reshape(tf.slice(tf.reshape(act, [-1]), [t.index], [1]), []) as tf.Scalar;
      } else if (t.kind === 'neuron') {
        const [, h, w, c] = act.shape as [number, number, number, number];
        if (t.channel < 0 || t.channel >= c) throw new UserError(`channel ${t.channel} is out of range for ${t.layer} (0-${c - 1})`);
        const row = Math.min(h - 1, Math.max(0, Math.floor(t.y * h)));
        const col = Math.min(w - 1, Math.max(0, Math.floor(t.x * w)));
        value = tf.reshape(tf.slice(act, [0, row, col, t.channel], [1, 1, 1, 1]), []) as tf.Scalar;
      } else {
        const c = t.channels;
        const x = tf.reshape(act, [-1, c]);
        const g = tf.tensor2d(t.features, [t.features.length / c, c]);
        value = tf.mean(tf.max(tf.matMul(x, g, false, true), 1));
      }
      total = tf.add(total, tf.mul(value, t.weight));
    }
    return total;
  });
}
