import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_DREAM, dream } from '../src/dream/deepdream.js';
import { tileGradient } from '../src/dream/gradient.js';
import { createImage, type RgbImage } from '../src/dream/image.js';
import { seededRandom } from '../src/dream/random.js';
import { channel, classScore, guide, layer, neuron, sum, type Objective } from '../src/dream/objectives.js';
import { OnnxNetwork } from '../src/dream/onnxGradient.js';
import { TERM_KINDS } from '../src/dream/terms/index.js';
import { createRunner } from '../src/dream/runner.js';
import { initBackend } from '../src/engine/backend.js';
import { loadOrt } from '../src/engine/onnx/runtime.js';
import { UserError } from '../src/errors.js';
import { loadManifest } from '../src/models/manifest.js';
import { Network } from '../src/models/network.js';
import { layerShapes } from '../src/models/shapes.js';
import { locateWeights } from '../src/models/weights.js';
import { readImage } from '../src/sources/image.js';
import { relativeError } from './helpers/numeric.js';
import { SHARED_IMAGES } from './helpers/paths.js';


/** Per model: a deep and a shallower layer, the logits layer, and where its neurons are probed. */
const MODELS = {
  bvlc_googlenet: { deep: 'inception_4c/output', shallow: 'inception_3b/output', logits: 'loss3/classifier' },
  squeezenet: { deep: 'fire7/concat', shallow: 'fire5/concat', logits: 'pool10' },
} as const;

/** Two tile sizes, one of them odd in both dimensions (strided layers drop trailing pixels). */
const SIZES: Array<[number, number]> = [
  [80, 64],
  [67, 45],
];

/**
 * The photo with a faint fixed grain (±1 grey level). Max pooling has no gradient where two
 * inputs tie, and flat or clipped areas make exact ties: there the cpu backend's and ONNX
 * Runtime's last-bit differences pick different winners (so does tfjs on wasm against cpu).
 * The grain makes every window's maximum clear, so what is compared is the arithmetic.
 */
function withGrain(image: RgbImage): RgbImage {
  const random = seededRandom(11);
  return createImage(image.width, image.height, image.data.map((v) => v + (random() * 2 - 1)));
}

describe.each(Object.entries(MODELS))('ONNX Runtime gradient of %s', (model, layers) => {
  let onnx: OnnxNetwork;
  let reference: Network;
  let guideFeatures: { features: Float32Array; channels: number };

  beforeAll(async () => {
    const manifest = loadManifest(model);
    const dir = await locateWeights(manifest, { download: false });
    onnx = await OnnxNetwork.load(loadOrt()!, manifest, dir, { device: 'cpu', threads: 2 });
    // The reference: tfjs's own autodiff through plain ops on the pure-JavaScript cpu backend.
    await initBackend('cpu');
    reference = await Network.load(manifest, dir, 'autodiff');
    const eagle = await readImage(join(SHARED_IMAGES, 'eagle.jpg'), { width: 72, height: 56 });
    guideFeatures = await onnx.features(eagle, layers.deep);
  });
  afterAll(async () => {
    reference.dispose();
    await onnx.close();
    await initBackend('wasm');
  });

  /** A channel of the deep layer that fires at (x, y) of this picture (a dead one has no gradient). */
  async function liveChannel(image: RgbImage, x: number, y: number): Promise<number> {
    const f = await onnx.features(image, layers.deep);
    const [h, w] = layerShapes(loadManifest(model), [layers.deep], image.width, image.height).get(layers.deep)!;
    const at = (Math.min(h - 1, Math.floor(y * h)) * w + Math.min(w - 1, Math.floor(x * w))) * f.channels;
    const row = f.features.subarray(at, at + f.channels);
    return row.indexOf(Math.max(...row));
  }

  it.each(SIZES)('matches tfjs autodiff for every objective kind at %ix%i', async (width, height) => {
    const image = withGrain(await readImage(join(SHARED_IMAGES, 'dog.jpg'), { width, height }));
    const objectives: Record<string, Objective> = {
      'layers with weights (one negative)': sum(layer(layers.deep), layer(layers.shallow, -0.5)),
      channel: channel(layers.deep, 11),
      neuron: neuron(layers.deep, await liveChannel(image, 0.3, 0.6), 0.3, 0.6, 2),
      guide: guide(layers.deep, guideFeatures.features, guideFeatures.channels),
      'class logit': classScore(layers.logits, 281),
      'class probability': classScore('prob', 281, 'probability'),
    };
    // Every registered kind of term is compared here: a new objective module must add its case.
    expect(new Set(Object.values(objectives).flatMap((o) => o.terms.map((t) => t.kind)))).toEqual(new Set(Object.keys(TERM_KINDS)));
    for (const [kind, objective] of Object.entries(objectives)) {
      const job = { image, weight: 0.75 };
      const expected = tileGradient(reference, job, objective);
      const got = await onnx.gradient(job, objective, kind);
      expect(got.grad.length, kind).toBe(width * height * 3);
      expect(Math.abs(got.value - expected.value) / Math.abs(expected.value), kind).toBeLessThan(1e-4);
      expect(relativeError(got.grad, expected.grad), kind).toBeLessThan(1e-4);
      // The forward-only graph gives the same value.
      expect(Math.abs((await onnx.value(job, objective, kind)) - expected.value) / Math.abs(expected.value), kind).toBeLessThan(1e-4);
    }
  });

  it('refuses an out-of-range channel or class with a UserError', async () => {
    const image = await readImage(join(SHARED_IMAGES, 'dog.jpg'), { width: 64, height: 64 });
    await expect(onnx.gradient({ image, weight: 1 }, channel(layers.deep, 100000), 'bad-channel')).rejects.toThrow(UserError);
    await expect(onnx.gradient({ image, weight: 1 }, classScore(layers.logits, 1000), 'bad-class')).rejects.toThrow(/class 1000 is out of range/);
  });
});

describe('the onnx backend as the default engine', () => {
  it('is what auto picks here, and dreams the same frames for the same seed', async () => {
    const runner = await createRunner({ quiet: true });
    try {
      expect(runner.backend).toBe('onnx');
      expect(runner.device).toBe('cpu');
      const photo = await readImage(join(SHARED_IMAGES, 'horses.jpg'), { width: 128, height: 96 });
      const settings = { ...DEFAULT_DREAM, octaves: 2, iterations: 3 };
      const objective = layer('inception_4c/output');
      const a = await dream(runner, photo, objective, { ...settings, seed: 3 });
      const b = await dream(runner, photo, objective, { ...settings, seed: 3 });
      const c = await dream(runner, photo, objective, { ...settings, seed: 4 });
      expect(Buffer.from(b.data.buffer).equals(Buffer.from(a.data.buffer))).toBe(true);
      expect(c.data).not.toEqual(a.data);
    } finally {
      await runner.close();
    }
  });

  it('names what is missing, in one line, for a GPU provider this machine lacks', async () => {
    const ort = loadOrt()!;
    const bundled = new Set(ort.listSupportedBackends().filter((b) => b.bundled).map((b) => b.name));
    for (const device of ['cuda', 'webgpu'] as const) {
      const attempt = createRunner({ device, quiet: true, workers: 0 });
      let runner;
      try {
        runner = await attempt;
      } catch (err) {
        // No adapter or no provider library here: a user error naming the device and the fix.
        expect(err).toBeInstanceOf(UserError);
        expect((err as Error).message).toMatch(new RegExp(`^--device ${device} is not available: `));
        expect((err as Error).message).not.toMatch(/\n/);
        if (device === 'cuda' && !bundled.has('cuda')) expect((err as Error).message).toMatch(/ONNXRUNTIME_NODE_INSTALL=cuda12/);
        continue;
      }
      // A machine with the provider: it must then really dream there.
      expect(runner.device).toBe(device);
      await runner.close();
    }
  });

  it('drops what it holds for an objective once released (a farm worker makes one per segment)', async () => {
    const runner = await createRunner({ backend: 'onnx', workers: 1, quiet: true });
    try {
      const image = await readImage(join(SHARED_IMAGES, 'dog.jpg'), { width: 64, height: 48 });
      const eagle = await readImage(join(SHARED_IMAGES, 'eagle.jpg'), { width: 64, height: 48 });
      const segments = [];
      for (let i = 0; i < 3; i++) {
        const f = await runner.features(eagle, 'inception_4c/output');
        const objective = guide('inception_4c/output', f.features, f.channels, 1 + i);
        await runner.gradients([{ image, weight: 1 }], objective);
        segments.push(objective);
      }
      const before = await runner.held();
      expect(before.objectives).toBe(3);
      for (const o of segments.slice(0, 2)) await runner.release(o);
      const after = await runner.held();
      expect(after.objectives).toBe(1);
      expect(after.graphs).toBeLessThan(before.graphs);
    } finally {
      await runner.close();
    }
  });

  it('refuses a GPU device for the tfjs backends', async () => {
    await expect(createRunner({ backend: 'wasm', device: 'cuda', quiet: true })).rejects.toThrow(/--device cuda is for the onnx backend/);
  });
});
