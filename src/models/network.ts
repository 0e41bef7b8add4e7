import * as tf from '@tensorflow/tfjs-core';
import { conv, type ConvParams, type GradientMode } from '../engine/conv.js';
import { inputChannels, readBlobs } from './blobs.js';
import { resolveLayer } from './catalog.js';
import type { LayerSpec, ModelManifest } from './manifest.js';

/**
 * A pretrained classifier built from plain ops (conv, relu, max pool, LRN, concat). It evaluates
 * only the layers that the requested outputs depend on, so dreaming at inception_4c never pays for
 * inception_5b or the classifier.
 */
export class Network {
  readonly manifest: ModelManifest;
  gradientMode: GradientMode;
  private readonly byName: Map<string, LayerSpec>;
  private readonly convs: Map<string, ConvParams>;
  private readonly fcs: Map<string, { weight: tf.Tensor2D; bias: tf.Tensor1D }>;
  private readonly mean: tf.Tensor1D;

  private constructor(
    manifest: ModelManifest,
    convs: Map<string, ConvParams>,
    fcs: Map<string, { weight: tf.Tensor2D; bias: tf.Tensor1D }>,
    gradientMode: GradientMode,
  ) {
    this.manifest = manifest;
    this.convs = convs;
    this.fcs = fcs;
    this.gradientMode = gradientMode;
    this.byName = new Map(manifest.layers.map((l) => [l.name, l]));
    this.mean = tf.tensor1d(manifest.input.mean);
  }

  /** Load every weight blob of the manifest from `dir` (a model folder) onto the active backend. */
  static async load(manifest: ModelManifest, dir: string, gradientMode: GradientMode = 'custom'): Promise<Network> {
    const convs = new Map<string, ConvParams>();
    const fcs = new Map<string, { weight: tf.Tensor2D; bias: tf.Tensor1D }>();
    const blobs = await readBlobs(manifest, dir);
    for (const l of manifest.layers) {
      const blob = blobs.get(l.name);
      if (!blob) continue;
      if (l.type === 'conv') {
        const inC = inputChannels(manifest, l.input);
        // Stored [out][kh][kw][in]; tf.conv2d wants [kh][kw][in][out].
        const filter = tf.tidy(() => tf.transpose(tf.tensor4d(blob.filter, [l.filters, l.kernel, l.kernel, inC]), [1, 2, 3, 0]));
        convs.set(l.name, { filter, bias: tf.tensor1d(blob.bias), stride: l.stride, pad: l.pad, relu: l.relu });
      } else if (l.type === 'fc') {
        const inC = blob.filter.length / l.outputs;
        const weight = tf.tidy(() => tf.transpose(tf.tensor2d(blob.filter, [l.outputs, inC])));
        fcs.set(l.name, { weight, bias: tf.tensor1d(blob.bias) });
      }
    }
    return new Network(manifest, convs, fcs, gradientMode);
  }

  /** Canonical layer name for what a user typed (`inception_4c` → `inception_4c/output`). */
  static resolveName(manifest: ModelManifest, name: string): string {
    return resolveLayer(manifest, name).name;
  }

  layerName(name: string): string {
    return Network.resolveName(this.manifest, name);
  }

  channelsOf(layer: string): number {
    return resolveLayer(this.manifest, layer).channels;
  }

  /**
   * Activations of `outputs` for `rgb`: [1, H, W, 3], RGB, values 0-255 (the network's own
   * channel order and mean are applied here so gradients come back in image space).
   * Call inside tf.tidy; intermediate tensors are left to the caller's scope.
   */
  forward(rgb: tf.Tensor4D, outputs: readonly string[]): tf.Tensor[] {
    const memo = new Map<string, tf.Tensor>();
    const bgr = this.manifest.input.channelOrder === 'BGR' ? tf.reverse(rgb, -1) : rgb;
    // The mean is stored in the network's channel order.
    memo.set('data', tf.sub(bgr, this.mean));
    const evaluate = (name: string): tf.Tensor => {
      const hit = memo.get(name);
      if (hit) return hit;
      const spec = this.byName.get(name);
      if (!spec) throw new Error(`layer ${name} is not in ${this.manifest.name}`);
      const out = this.apply(spec, evaluate);
      memo.set(name, out);
      return out;
    };
    return outputs.map((o) => evaluate(this.layerName(o)));
  }

  private apply(spec: LayerSpec, input: (name: string) => tf.Tensor): tf.Tensor {
    switch (spec.type) {
      case 'conv':
        return conv(input(spec.input) as tf.Tensor4D, this.convs.get(spec.name)!, this.gradientMode);
      case 'maxpool':
        return tf.maxPool(input(spec.input) as tf.Tensor4D, spec.kernel, spec.stride, spec.padding);
      case 'lrn':
        // Caffe's alpha is divided by the window size; tfjs's depthRadius is the half-width.
        return tf.localResponseNormalization(
          input(spec.input) as tf.Tensor4D,
          (spec.size - 1) / 2,
          1,
          spec.alpha / spec.size,
          spec.beta,
        );
      case 'concat':
        return tf.concat(spec.inputs.map((i) => input(i)), 3);
      case 'globalavgpool':
        return tf.mean(input(spec.input), [1, 2]);
      case 'fc': {
        const p = this.fcs.get(spec.name)!;
        return tf.add(tf.matMul(tf.reshape(input(spec.input), [1, -1]), p.weight), p.bias);
      }
      case 'softmax':
        return tf.softmax(input(spec.input));
    }
  }

  /** Class probabilities for an RGB image resized by the caller to the network's input size. */
  classify(rgb: tf.Tensor4D): Float32Array {
    const prob = tf.tidy(() => this.forward(rgb, ['prob'])[0]!);
    const values = prob.dataSync() as Float32Array;
    prob.dispose();
    return values;
  }

  dispose(): void {
    for (const p of this.convs.values()) {
      p.filter.dispose();
      p.bias.dispose();
      p.backFilter?.dispose();
    }
    for (const p of this.fcs.values()) {
      p.weight.dispose();
      p.bias.dispose();
    }
    this.mean.dispose();
  }
}
