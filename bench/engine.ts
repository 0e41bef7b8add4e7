import * as tf from '@tensorflow/tfjs-core';
import { initBackend, type BackendName } from '../src/engine/backend.js';
import type { GradientMode } from '../src/engine/conv.js';
import { tileGradient } from '../src/dream/gradient.js';
import { layer } from '../src/dream/objectives.js';
import { loadManifest, type ModelManifest } from '../src/models/manifest.js';
import { Network } from '../src/models/network.js';
import { locateWeights } from '../src/models/weights.js';
import { createImage } from '../src/dream/image.js';
import { round, timeIt, writeResult } from './util.js';

const LAYER = 'inception_4c/output';

/** Forward FLOPs (2·MACs) of every convolution the objective layer depends on, at w×h. */
export function convFlops(manifest: ModelManifest, target: string, width: number, height: number): number {
  const byName = new Map(manifest.layers.map((l) => [l.name, l]));
  const sizes = new Map<string, [number, number, number]>([['data', [height, width, 3]]]);
  const needed = new Set<string>();
  const visit = (name: string): void => {
    if (name === 'data' || needed.has(name)) return;
    needed.add(name);
    const l = byName.get(name)!;
    for (const i of 'inputs' in l ? l.inputs : [l.input]) visit(i);
  };
  visit(target);
  let flops = 0;
  for (const l of manifest.layers) {
    if (!needed.has(l.name)) continue;
    const inputs = 'inputs' in l ? l.inputs : [l.input];
    const [h, w, c] = sizes.get(inputs[0]!)!;
    if (l.type === 'conv') {
      const ho = Math.floor((h + 2 * l.pad - l.kernel) / l.stride) + 1;
      const wo = Math.floor((w + 2 * l.pad - l.kernel) / l.stride) + 1;
      flops += 2 * ho * wo * l.kernel * l.kernel * c * l.filters;
      sizes.set(l.name, [ho, wo, l.filters]);
    } else if (l.type === 'maxpool') {
      const ho = l.padding === 'same' ? Math.ceil(h / l.stride) : Math.floor((h - l.kernel) / l.stride) + 1;
      const wo = l.padding === 'same' ? Math.ceil(w / l.stride) : Math.floor((w - l.kernel) / l.stride) + 1;
      sizes.set(l.name, [ho, wo, c]);
    } else if (l.type === 'concat') {
      sizes.set(l.name, [h, w, inputs.reduce((s, i) => s + sizes.get(i)![2], 0)]);
    } else {
      sizes.set(l.name, [h, w, c]);
    }
  }
  return flops;
}

async function forwardConvGflops(): Promise<number> {
  // A representative mid-network convolution (3x3, 192→192 at 56x56) run forward only.
  const x = tf.randomNormal([1, 56, 56, 192]) as tf.Tensor4D;
  const w = tf.randomNormal([3, 3, 192, 192]) as tf.Tensor4D;
  const seconds = await timeIt(() => {
    const y = tf.conv2d(x, w, 1, 'same');
    y.dataSync();
    y.dispose();
  }, 5, 2);
  tf.dispose([x, w]);
  return (2 * 56 * 56 * 9 * 192 * 192) / seconds / 1e9;
}

interface Case {
  backend: BackendName;
  mode: GradientMode;
  width: number;
  height: number;
}

export async function benchEngine(opts: { quick?: boolean } = {}): Promise<Record<string, unknown>> {
  const manifest = loadManifest('bvlc_googlenet');
  const dir = await locateWeights(manifest, { download: false });
  const cases: Case[] = [
    { backend: 'wasm', mode: 'custom', width: 224, height: 224 },
    { backend: 'wasm', mode: 'autodiff', width: 224, height: 224 },
    { backend: 'wasm', mode: 'custom', width: 640, height: 360 },
    { backend: 'wasm', mode: 'autodiff', width: 640, height: 360 },
    { backend: 'cpu', mode: 'custom', width: 224, height: 224 },
    { backend: 'cpu', mode: 'autodiff', width: 224, height: 224 },
  ];
  const results: Array<Record<string, unknown>> = [];
  const reference: Record<string, number> = {};
  for (const backend of ['wasm', 'cpu'] as const) {
    await initBackend(backend);
    reference[backend] = round(await forwardConvGflops(), 1);
    const nets = new Map<GradientMode, Network>();
    for (const c of cases.filter((c) => c.backend === backend)) {
      if (!nets.has(c.mode)) nets.set(c.mode, await Network.load(manifest, dir, c.mode));
      const net = nets.get(c.mode)!;
      const image = createImage(c.width, c.height, new Float32Array(c.width * c.height * 3).map((_, i) => (i * 37) % 255));
      const runs = backend === 'cpu' || opts.quick ? 1 : 3;
      const seconds = await timeIt(() => tileGradient(net, { image, weight: 1 }, layer(LAYER)), runs, 1);
      // Forward and input-gradient passes cost about the same FLOPs each.
      const flops = 2 * convFlops(manifest, LAYER, c.width, c.height);
      results.push({ ...c, seconds: round(seconds), gflops: round(flops / seconds / 1e9, 2) });
      process.stderr.write(`engine: ${backend} ${c.mode} ${c.width}x${c.height}: ${seconds.toFixed(3)} s\n`);
    }
    for (const n of nets.values()) n.dispose();
  }
  const find = (b: string, m: string, w: number): number => results.find((r) => r.backend === b && r.mode === m && r.width === w)!.seconds as number;
  const summary = {
    task: `GoogLeNet forward + input gradient up to ${LAYER}, one image, one thread`,
    forwardConvGflops: reference,
    cases: results,
    ratios: {
      wasmCustomVsAutodiff224: round(find('wasm', 'autodiff', 224) / find('wasm', 'custom', 224), 2),
      wasmCustomVsAutodiff640x360: round(find('wasm', 'autodiff', 640) / find('wasm', 'custom', 640), 2),
      cpuCustomVsAutodiff224: round(find('cpu', 'autodiff', 224) / find('cpu', 'custom', 224), 2),
      wasmCustomVsCpuAutodiff224: round(find('cpu', 'autodiff', 224) / find('wasm', 'custom', 224), 2),
    },
  };
  writeResult('engine', summary);
  return summary;
}
