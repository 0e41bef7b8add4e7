import * as tf from '@tensorflow/tfjs-core';
import { UserError } from '../errors.js';
import { channel } from './terms/channel.js';
import { termKindOf, type ObjectiveTerm } from './terms/index.js';
import { layer } from './terms/layer.js';

export { channel } from './terms/channel.js';
export { classScore, type ClassScore } from './terms/classScore.js';
export { guide } from './terms/guide.js';
export { layer } from './terms/layer.js';
export { neuron } from './terms/neuron.js';
export type { ObjectiveTerm } from './terms/index.js';

/**
 * Objectives are plain data (so they cross into worker threads) built from small composable
 * pieces, after Lucid's optvis: `layer('inception_4c/output')`, `channel(l, 139)`,
 * `sum(layer(a), scale(layer(b), 0.5))`, `guide(l, features)`. Each kind of term is one module of
 * terms/ (its value for both engines and its seed gradient side by side), listed in `TERM_KINDS`.
 */
export interface Objective {
  terms: ObjectiveTerm[];
}

/**
 * Class and neuron terms are about the image as a whole (a classifier's verdict, one place in it):
 * they are evaluated on the whole image, never on tiles whose scores would be summed.
 */
export function needsWholeImage(objective: Objective): boolean {
  return objective.terms.some((t) => termKindOf(t).wholeImage);
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
    const what = termKindOf(t).describe(t);
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
      const value = termKindOf(t).tfjs(t, act);
      total = tf.add(total, tf.mul(value, t.weight));
    }
    return total;
  });
}
