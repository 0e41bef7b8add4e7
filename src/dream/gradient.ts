import * as tf from '@tensorflow/tfjs-core';
import type { Network } from '../models/network.js';
import type { RgbImage } from './image.js';
import { evaluate, layersOf, type Objective } from './objectives.js';

/** One piece of work for the network: a tile (or whole image) and its share of the objective. */
export interface TileJob {
  image: RgbImage;
  /** Fraction of the full image's area this tile stands for, so tile objectives add up. */
  weight: number;
}

export interface TileGradient {
  grad: Float32Array;
  value: number;
}

function activations(net: Network, x: tf.Tensor4D, objective: Objective): Map<string, tf.Tensor> {
  const names = layersOf(objective);
  const acts = net.forward(x, names);
  return new Map(names.map((n, i) => [n, acts[i]!]));
}

function input(image: RgbImage): tf.Tensor4D {
  return tf.tensor4d(image.data, [1, image.height, image.width, 3]);
}

/**
 * Read a tensor's values and free it. Typed arrays must not be returned from tf.tidy: tidy walks
 * its result looking for tensors, element by element (measured: 15x slower than the convolution).
 */
function take(t: tf.Tensor): Float32Array {
  const data = t.dataSync() as Float32Array;
  t.dispose();
  return data;
}

/** d objective / d pixels for one tile, by backpropagation through the network. */
export function tileGradient(net: Network, job: TileJob, objective: Objective): TileGradient {
  const { value, grad } = tf.tidy(() => {
    const f = (x: tf.Tensor): tf.Scalar => tf.mul(evaluate(objective, activations(net, x as tf.Tensor4D, objective)), job.weight);
    return tf.valueAndGrad(f)(input(job.image));
  });
  return { grad: take(grad), value: take(value)[0]! };
}

/** The objective's value for one tile (forward pass only). */
export function tileValue(net: Network, job: TileJob, objective: Objective): number {
  return take(tf.tidy(() => evaluate(objective, activations(net, input(job.image), objective))))[0]! * job.weight;
}

/** A layer's feature vectors (positions × channels), e.g. for a guide image. */
export function layerFeatures(net: Network, image: RgbImage, layer: string): { features: Float32Array; channels: number } {
  const act = tf.tidy(() => net.forward(input(image), [layer])[0]!);
  const channels = act.shape[act.shape.length - 1]!;
  return { features: take(act), channels };
}
