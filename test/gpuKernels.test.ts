import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deviceTileSide } from '../src/dream/modelCost.js';
import { channel, classScore, guide, layer, neuron, type Objective } from '../src/dream/objectives.js';
import { maxPoolGradientFor, OnnxNetwork, type GraphKind } from '../src/dream/onnxGradient.js';
import { loadOrt } from '../src/engine/onnx/runtime.js';
import { OPSET } from '../src/engine/onnx/proto.js';
import { loadManifest } from '../src/models/manifest.js';
import { layerShapes } from '../src/models/shapes.js';
import { locateWeights } from '../src/models/weights.js';
import { readImage } from '../src/sources/image.js';
import { relativeError } from './helpers/numeric.js';
import { ROOT, SHARED_IMAGES } from './helpers/paths.js';

/**
 * Every op type (at the graphs' opset) of every graph the engine writes for a GPU device must
 * have a kernel on ONNX Runtime's CUDA and WebGPU providers, by their own kernel lists kept in
 * test/fixtures/onnxruntime-gpu-kernels.json (with where each list was read). A node without one
 * would run on the CPU provider with copies both ways, or not at all; docs/architecture.md,
 * "Engines". The WebGPU tests check the same placement on a real adapter.
 */

type Range = [number, number | null];
interface ProviderKernels {
  source: { repo: string; path: string; commit: string | null };
  kernels: Record<string, Range[]>;
  maxOutputs: Record<string, number>;
}
const FIXTURE = JSON.parse(readFileSync(join(ROOT, 'test', 'fixtures', 'onnxruntime-gpu-kernels.json'), 'utf8')) as {
  onnxruntimeNode: string;
  providers: Record<string, ProviderKernels>;
};

/** Pure: why `op` at `opset` with `outputs` outputs has no kernel in `provider`'s list, or null. */
function missingKernel(provider: ProviderKernels, op: string, opset: number, outputs: number): string | null {
  const ranges = provider.kernels[op];
  if (!ranges) return `${op} has no kernel`;
  if (!ranges.some(([from, to]) => opset >= from && (to === null || opset <= to))) return `${op} has no kernel for opset ${opset}`;
  const most = provider.maxOutputs[op];
  if (most !== undefined && outputs > most) return `${op} with ${outputs} outputs is not supported (at most ${most})`;
  return null;
}

/** Tile shape classes: small, odd in both dimensions, square, a whole 640x360 frame. */
const SHAPES: Array<[number, number]> = [
  [64, 48],
  [67, 45],
  [224, 224],
  [640, 360],
];

const MODELS = {
  bvlc_googlenet: { deep: 'inception_4c/output', logits: 'loss3/classifier' },
  squeezenet: { deep: 'fire7/concat', logits: 'pool10' },
} as const;

describe('the GPU providers have a kernel for every op of every graph the engine writes', () => {
  it('reads the fixture of the onnxruntime-node version in package.json', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    expect(pkg.dependencies['onnxruntime-node']).toBe(FIXTURE.onnxruntimeNode);
    expect(Object.keys(FIXTURE.providers).sort()).toEqual(['CUDAExecutionProvider', 'WebGpuExecutionProvider']);
  });

  it('flags an op without a kernel, an opset outside the ranges and a refused output', () => {
    const webgpu = FIXTURE.providers['WebGpuExecutionProvider']!;
    expect(missingKernel(webgpu, 'Sum', OPSET, 1)).toMatch(/Sum has no kernel/);
    expect(missingKernel(webgpu, 'MaxPool', OPSET, 2)).toMatch(/2 outputs/);
    expect(missingKernel(webgpu, 'Conv', 10, 1)).toBeNull();
    expect(missingKernel({ ...webgpu, kernels: { Conv: [[1, 10]] } }, 'Conv', OPSET, 1)).toMatch(/opset 18/);
    expect(missingKernel(webgpu, 'Conv', OPSET, 1)).toBeNull();
  });

  describe.each(Object.entries(MODELS))('%s', (model, layers) => {
    let net: OnnxNetwork;
    beforeAll(async () => {
      const manifest = loadManifest(model);
      // The graphs the engine writes for a GPU device; writing them needs no GPU.
      net = await OnnxNetwork.load(loadOrt()!, manifest, await locateWeights(manifest, { download: false }), {
        device: 'cpu',
        threads: 1,
        maxPoolGradient: maxPoolGradientFor('webgpu'),
      });
    });
    afterAll(() => net.close());

    it('every objective kind, every layer and every tile shape class', () => {
      const manifest = loadManifest(model);
      const graphs: Array<{ name: string; kind: GraphKind; width: number; height: number; objective?: Objective; layer?: string }> = [];
      for (const [width, height] of SHAPES) {
        const channels = layerShapes(manifest, [layers.deep], width, height).get(layers.deep)![2];
        const objectives: Record<string, Objective> = {
          layer: layer(layers.deep),
          channel: channel(layers.deep, 3),
          neuron: neuron(layers.deep, 3, 0.3, 0.6),
          guide: guide(layers.deep, new Float32Array(4 * channels), channels),
          'class logit': classScore(layers.logits, 281),
          'class probability': classScore('prob', 281, 'probability'),
        };
        for (const [name, objective] of Object.entries(objectives)) {
          for (const kind of ['gradient', 'value'] as const) graphs.push({ name: `${kind} ${name}`, kind, width, height, objective });
        }
        graphs.push({ name: 'features', kind: 'features', width, height, layer: layers.deep });
      }
      // Every layer as the objective (the backward pass of each layer type, from every depth).
      for (const l of manifest.layers) {
        if (l.type === 'softmax' || l.type === 'fc') continue; // vectors: the class objectives above
        graphs.push({ name: `gradient layer ${l.name}`, kind: 'gradient', width: 67, height: 45, objective: layer(l.name) });
      }
      const seen = new Set<string>();
      const problems: string[] = [];
      for (const g of graphs) {
        const { opTypes, opOutputs } = net.graph(g.kind, g.width, g.height, g.objective, g.layer);
        for (const op of opTypes.keys()) {
          seen.add(op);
          for (const [provider, kernels] of Object.entries(FIXTURE.providers)) {
            const why = missingKernel(kernels, op, OPSET, opOutputs.get(op) ?? 1);
            if (why) problems.push(`${provider}: ${why} (${model} ${g.name} ${g.width}x${g.height})`);
          }
        }
      }
      expect([...new Set(problems)]).toEqual([]);
      // The enumeration reached the ops of every layer type's backward pass.
      for (const op of ['Conv', 'ConvTranspose', 'MaxPool', 'Concat', 'Split', 'GlobalAveragePool', 'Softmax', 'Equal', 'Slice']) expect(seen).toContain(op);
      if (model === 'bvlc_googlenet') for (const op of ['Pow', 'Gemm', 'MatMul']) expect(seen).toContain(op);
      expect(seen).not.toContain('Sum');
      expect(seen).not.toContain('ScatterElements');
    });
  });
});

describe("the GPU graphs' max-pool gradient (equality masks) on the CPU provider", () => {
  it.each(Object.entries(MODELS))('equals the Indices scatter of %s, ties included', async (model, layers) => {
    const manifest = loadManifest(model);
    const dir = await locateWeights(manifest, { download: false });
    const load = (maxPoolGradient: 'indices' | 'masks') => OnnxNetwork.load(loadOrt()!, manifest, dir, { device: 'cpu', threads: 2, maxPoolGradient });
    const [indices, masks] = [await load('indices'), await load('masks')];
    try {
      // No grain: the kite's flat sky makes exact ties inside pooling windows, where both must
      // route the gradient to the same (first, row-major) pixel.
      const image = await readImage(join(SHARED_IMAGES, 'kite.jpg'), { width: 67, height: 45 });
      for (const [key, objective] of [layer(layers.deep), classScore('prob', 281, 'probability')].entries()) {
        const a = await indices.gradient({ image, weight: 1 }, objective, String(key));
        const b = await masks.gradient({ image, weight: 1 }, objective, String(key));
        expect(relativeError(b.grad, a.grad)).toBeLessThan(1e-5);
        expect(b.value).toBeCloseTo(a.value, 4);
      }
    } finally {
      await indices.close();
      await masks.close();
    }
  });
});

describe('GPU-shaped defaults', () => {
  it('a GPU takes tiles as large as half its memory holds at the measured bytes per pixel', () => {
    const GiB = 1024 ** 3;
    expect(deviceTileSide('bvlc_googlenet', 4 * GiB)).toBe(1238);
    expect(deviceTileSide('bvlc_googlenet', 16 * GiB)).toBeGreaterThanOrEqual(1920); // a 1080p frame whole
    expect(deviceTileSide('squeezenet', 4 * GiB)).toBeGreaterThan(deviceTileSide('bvlc_googlenet', 4 * GiB));
    // Never below the CPU default, never above --tile's ceiling.
    expect(deviceTileSide('bvlc_googlenet', 0.1 * GiB)).toBe(512);
    expect(deviceTileSide('bvlc_googlenet', 80 * GiB)).toBe(4096);
  });
});
