import type * as tf from '@tensorflow/tfjs-core';
import type { GraphBuilder } from '../../engine/onnx/graph.js';
import type { GraphValue } from '../../models/onnxNetwork.js';
import { UserError } from '../../errors.js';

/**
 * One kind of objective term, defined once for both engines: its value on tfjs (whose gradient
 * tfjs takes by autodiff) beside the same value written into an ONNX graph together with its seed
 * gradient d value / d activation. A new kind is a module like layer.ts plus one line in
 * `TERM_KINDS` (terms/index.ts); docs/architecture.md, "Where to add things".
 */
export interface TermKind<T extends { kind: string; layer: string; weight: number }> {
  /** A short name for `describe` (the weight is added after it). */
  describe(t: T): string;
  /** Evaluated on the whole image, never on tiles whose values would be summed. */
  wholeImage: boolean;
  /** The unweighted value from the layer's activation on tfjs, NHWC ([1, H, W, C] or [1, N]). */
  tfjs(t: T, act: tf.Tensor): tf.Scalar;
  /**
   * The unweighted value written into the graph from the layer's activation (NCHW or [1, N]).
   * `seed` is called with a writer of the term's *weighted* d value / d activation, at the point
   * where its nodes belong in the graph; it writes it only when a gradient is asked for.
   */
  onnx(g: GraphBuilder, t: T, act: GraphValue, seed: (grad: () => string) => void): string;
}

/** Refuses a channel outside the layer's `channels`, naming the range. */
export function checkChannel(t: { layer: string; channel: number }, channels: number): void {
  if (!Number.isInteger(t.channel) || t.channel < 0 || t.channel >= channels) {
    throw new UserError(`channel ${t.channel} is out of range for ${t.layer} (0-${channels - 1})`);
  }
}

/** Refuses a class index outside the `size` scores of the layer, naming the range. */
export function checkClass(index: number, size: number): void {
  if (!Number.isInteger(index) || index < 0 || index >= size) throw new UserError(`class ${index} is out of range (0-${size - 1})`);
}

/** The grid cell at fractions (x, y) of a layer's h × w grid, clamped inside it. */
export function cellAt(x: number, y: number, h: number, w: number): { row: number; col: number } {
  return { row: Math.min(h - 1, Math.max(0, Math.floor(y * h))), col: Math.min(w - 1, Math.max(0, Math.floor(x * w))) };
}

/** A one-hot constant of the activation's shape with `scale` at flat index `at`. */
export function oneHot(g: GraphBuilder, shape: readonly number[], at: number, scale: number): string {
  const mask = new Float32Array(shape.reduce((a, b) => a * b, 1));
  mask[at] = scale;
  return g.constant(mask, shape, 'seed');
}
