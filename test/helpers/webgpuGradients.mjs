// Run by test/webgpu.test.ts in a child process whose environment points the Vulkan loader at a
// software adapter (SwiftShader): the loader's library path must be set before the process
// starts. Computes each objective kind's gradient and value on the WebGPU provider and on the CPU
// provider from the same built modules (dist/), profiles where the WebGPU graph's nodes ran, and
// prints one JSON line. Usage: node webgpuGradients.mjs IMAGE_DIR
import { join, resolve } from 'node:path';
import { DEFAULT_DREAM, dream } from '../../dist/src/dream/deepdream.js';
import { OnnxNetwork } from '../../dist/src/dream/onnxGradient.js';
import { createRunner } from '../../dist/src/dream/runner.js';
import { channel, classScore, guide, layer, neuron, sum } from '../../dist/src/dream/objectives.js';
import { createImage } from '../../dist/src/dream/image.js';
import { seededRandom } from '../../dist/src/dream/random.js';
import { loadOrt } from '../../dist/src/engine/onnx/runtime.js';
import { nodePlacement } from '../../dist/src/engine/onnx/placement.js';
import { loadManifest } from '../../dist/src/models/manifest.js';
import { locateWeights } from '../../dist/src/models/weights.js';
import { readImage } from '../../dist/src/sources/image.js';

const images = resolve(process.argv[2]);
const ort = loadOrt();

/** ‖a − b‖ / ‖b‖ (as test/helpers/numeric.ts). */
function relativeError(a, b) {
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i] - b[i]) ** 2;
    den += b[i] ** 2;
  }
  return Math.sqrt(num / den);
}

/** A faint fixed grain, so every pooling window has one clear maximum (test/onnx.test.ts says why). */
function withGrain(image) {
  const random = seededRandom(11);
  return createImage(image.width, image.height, image.data.map((v) => v + (random() * 2 - 1)));
}

// SqueezeNet takes every objective kind (it is fast on a software adapter); GoogLeNet the class
// probability, whose gradient goes back through every layer type it has (softmax, fully
// connected, average and max pooling, inception concats, LRN). One size is odd in both dimensions.
const PLAN = [
  { model: 'squeezenet', size: [67, 45], deep: 'fire7/concat', shallow: 'fire5/concat', logits: 'pool10', kinds: ['layers with weights', 'channel', 'neuron', 'guide', 'class logit', 'class probability'] },
  { model: 'bvlc_googlenet', size: [64, 48], deep: 'inception_4c/output', shallow: 'inception_3b/output', logits: 'loss3/classifier', kinds: ['class probability'] },
];

const results = [];
const placements = [];
for (const p of PLAN) {
  const manifest = loadManifest(p.model);
  const dir = await locateWeights(manifest, { download: false });
  const cpu = await OnnxNetwork.load(ort, manifest, dir, { device: 'cpu', threads: 1 });
  const gpu = await OnnxNetwork.load(ort, manifest, dir, { device: 'webgpu', threads: 1 });
  const [width, height] = p.size;
  const image = withGrain(await readImage(join(images, 'dog.jpg'), { width, height }));
  const eagle = await cpu.features(await readImage(join(images, 'eagle.jpg'), { width: 72, height: 56 }), p.deep);
  const probe = await cpu.features(image, p.deep);
  const objectives = {
    'layers with weights': () => sum(layer(p.deep), layer(p.shallow, -0.5)),
    channel: () => channel(p.deep, 11),
    neuron: () => {
      // A channel that fires at the probed position (a dead one has no gradient).
      const h = probe.features.length / probe.channels;
      const at = Math.floor(h / 2) * probe.channels;
      const row = probe.features.subarray(at, at + probe.channels);
      return neuron(p.deep, row.indexOf(Math.max(...row)), 0.5, 0.5, 2);
    },
    guide: () => guide(p.deep, eagle.features, eagle.channels),
    'class logit': () => classScore(p.logits, 281),
    'class probability': () => classScore('prob', 281, 'probability'),
  };
  for (const kind of p.kinds) {
    const objective = objectives[kind]();
    const job = { image, weight: 0.75 };
    const expected = await cpu.gradient(job, objective, kind);
    const started = performance.now();
    const got = await gpu.gradient(job, objective, kind);
    const seconds = (performance.now() - started) / 1000;
    const value = await gpu.value(job, objective, kind);
    results.push({
      model: p.model,
      kind,
      width,
      height,
      seconds,
      gradError: relativeError(got.grad, expected.grad),
      valueError: Math.abs(got.value - expected.value) / Math.abs(expected.value),
      forwardValueError: Math.abs(value - expected.value) / Math.abs(expected.value),
      gradNorm: Math.hypot(...expected.grad.subarray(0, 4096)),
    });
  }
  // Where the gradient graph's nodes ran: ONNX Runtime's own profile of one run.
  const graph = gpu.graph('gradient', width, height, objectives['class probability']());
  placements.push({ model: p.model, ...(await nodePlacement(ort, 'webgpu', graph.bytes(), { image: { data: image.data, dims: [1, height, width, 3] } })) });
  await cpu.close();
  await gpu.close();
}
// A dream through the runner as the CLI makes it: the GPU takes each octave whole (deviceTile),
// so a 2-octave, 3-step dream builds one gradient session per octave size and no more.
const runner = await createRunner({ model: 'squeezenet', device: 'webgpu', workers: 0, quiet: true });
const photo = await readImage(join(images, 'horses.jpg'), { width: 96, height: 64 });
await dream(runner, photo, layer('fire7/concat'), { ...DEFAULT_DREAM, octaves: 2, iterations: 3, seed: 1 });
const sessions = { ...(await runner.held()), deviceTile: runner.deviceTile, octaves: 2, iterations: 3 };
await runner.close();
process.stdout.write(`${JSON.stringify({ results, placements, sessions })}\n`);
