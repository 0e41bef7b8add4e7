import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { initBackend } from '../src/engine/backend.js';
import { convAutodiff, convCustom, type ConvParams } from '../src/engine/conv.js';
import { UserError } from '../src/errors.js';
import { tileGradient } from '../src/dream/gradient.js';
import { layer } from '../src/dream/objectives.js';
import { loadLabels, loadManifest } from '../src/models/manifest.js';
import { Network } from '../src/models/network.js';
import { locateWeights } from '../src/models/weights.js';
import { readImage } from '../src/sources/image.js';
import { relativeError } from './helpers/numeric.js';
import { SHARED_IMAGES } from './helpers/paths.js';
import { createRequire } from 'node:module';
import { join } from 'node:path';


function randomConv(k: number, inC: number, outC: number, stride: number, pad: number, relu: boolean): ConvParams {
  return {
    filter: tf.randomNormal([k, k, inC, outC], 0, 0.2, 'float32', 7) as tf.Tensor4D,
    bias: tf.randomNormal([outC], 0, 0.1, 'float32', 8) as tf.Tensor1D,
    stride,
    pad,
    relu,
  };
}

function inputGradient(f: (x: tf.Tensor4D) => tf.Tensor4D, x: tf.Tensor4D): Float32Array {
  return tf.tidy(() => tf.grad((t: tf.Tensor) => tf.sum(tf.square(f(t as tf.Tensor4D))))(x).dataSync() as Float32Array);
}

describe('custom convolution input gradient', () => {
  // Strides and paddings of GoogLeNet (7x7/2 pad 3, 1x1, 3x3 pad 1, 5x5 pad 2) and SqueezeNet
  // (3x3/2 pad 0), on odd and even sizes where strided convolutions drop trailing rows.
  const cases: Array<[number, number, number, number, number]> = [
    [7, 2, 3, 23, 18],
    [7, 2, 3, 24, 20],
    [3, 2, 0, 21, 16],
    [3, 2, 0, 22, 17],
    [1, 1, 0, 9, 11],
    [3, 1, 1, 12, 9],
    [5, 1, 2, 10, 13],
  ];
  it.each(cases)('kernel %i stride %i pad %i on %ix%i matches tfjs autodiff on the cpu backend', async (k, stride, pad, h, w) => {
    await initBackend('cpu');
    const p = randomConv(k, 5, 6, stride, pad, true);
    const x = tf.randomUniform([1, h, w, 5], -1, 1, 'float32', 3) as tf.Tensor4D;
    const reference = inputGradient((t) => convAutodiff(t, p), x);
    await initBackend('wasm');
    const fast = inputGradient((t) => convCustom(t, p), x);
    expect(fast.length).toBe(reference.length);
    expect(relativeError(fast, reference)).toBeLessThan(1e-4);
    tf.dispose([p.filter, p.bias, p.backFilter!, x]);
  });
});

describe('GoogLeNet', () => {
  it('gives the same image gradient with the custom gradient on wasm as with autodiff on cpu', async () => {
    const manifest = loadManifest('bvlc_googlenet');
    const dir = await locateWeights(manifest, { download: false });
    const image = await readImage(join(SHARED_IMAGES, 'dog.jpg'), { width: 96, height: 80 });
    const objective = layer('inception_4c/output');

    await initBackend('wasm');
    const wasmNet = await Network.load(manifest, dir, 'custom');
    const fast = tileGradient(wasmNet, { image, weight: 1 }, objective);
    wasmNet.dispose();

    await initBackend('cpu');
    const cpuNet = await Network.load(manifest, dir, 'autodiff');
    const reference = tileGradient(cpuNet, { image, weight: 1 }, objective);
    cpuNet.dispose();
    await initBackend('wasm');

    expect(Math.abs(fast.value - reference.value) / reference.value).toBeLessThan(1e-4);
    expect(relativeError(fast.grad, reference.grad)).toBeLessThan(1e-4);
  });

  it('classifies the eagle photo as "bald eagle" (top-1)', async () => {
    await initBackend('wasm');
    const manifest = loadManifest('bvlc_googlenet');
    const net = await Network.load(manifest, await locateWeights(manifest, { download: false }));
    const image = await readImage(join(SHARED_IMAGES, 'eagle.jpg'), { width: 224, height: 224 });
    const probs = net.classify(tf.tensor4d(image.data, [1, 224, 224, 3]));
    net.dispose();
    const top = probs.indexOf(Math.max(...probs));
    expect(loadLabels(manifest)[top]).toMatch(/^bald eagle/);
    expect(probs[top]).toBeGreaterThan(0.3);
  });
});

describe('backend choice', () => {
  const installed = (pkg: string): boolean => {
    try {
      createRequire(import.meta.url).resolve(pkg);
      return true;
    } catch {
      return false;
    }
  };

  it('uses tfjs-node(-gpu) when installed, and otherwise explains how to get it', async () => {
    if (installed('@tensorflow/tfjs-node-gpu') || installed('@tensorflow/tfjs-node')) {
      expect(await initBackend('tensorflow')).toBe('tensorflow');
      await initBackend('wasm');
      return;
    }
    await expect(initBackend('tensorflow')).rejects.toThrow(UserError);
    await expect(initBackend('tensorflow')).rejects.toThrow(/tfjs-node/);
  });

  it('auto picks ONNX Runtime when it loads (it is installed from npm alone)', async () => {
    expect(installed('onnxruntime-node')).toBe(true);
    expect(await initBackend('auto')).toBe('onnx');
    expect(await initBackend('wasm')).toBe('wasm');
  });
});
