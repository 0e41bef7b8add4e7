import { DEFAULT_DREAM, dream } from '../src/dream/deepdream.js';
import { createImage } from '../src/dream/image.js';
import { layer } from '../src/dream/objectives.js';
import { createRunner, type RunnerOptions } from '../src/dream/runner.js';
import { loadEngine, type EngineOptions, type TileEngine } from '../src/dream/tileEngine.js';
import { loadManifest, type ModelManifest } from '../src/models/manifest.js';
import { layerShapes, neededLayers } from '../src/models/shapes.js';
import { locateWeights } from '../src/models/weights.js';
import { readImage } from '../src/sources/image.js';
import { round, sharedImage, writeResult } from './util.js';

const LAYER = 'inception_4c/output';

/** Forward FLOPs (2·MACs) of every convolution the objective layer depends on, at w×h. */
export function convFlops(manifest: ModelManifest, target: string, width: number, height: number): number {
  const shapes = layerShapes(manifest, [target], width, height);
  let flops = 0;
  for (const l of neededLayers(manifest, [target])) {
    if (l.type !== 'conv') continue;
    const [ho, wo] = shapes.get(l.name)!;
    flops += 2 * ho * wo * l.kernel * l.kernel * shapes.get(l.input)![2] * l.filters;
  }
  return flops;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

interface EngineCase {
  label: string;
  options: Omit<EngineOptions, 'model' | 'dir'>;
}

/** Engines compared tile by tile, in this thread, interleaved round by round. */
const ENGINES: EngineCase[] = [
  { label: 'onnx, 1 thread', options: { backend: 'onnx', gradientMode: 'custom', device: 'cpu', threads: 1 } },
  { label: 'onnx, 2 threads', options: { backend: 'onnx', gradientMode: 'custom', device: 'cpu', threads: 2 } },
  { label: 'wasm custom gradient', options: { backend: 'wasm', gradientMode: 'custom', device: 'cpu', threads: 1 } },
  { label: 'wasm autodiff', options: { backend: 'wasm', gradientMode: 'autodiff', device: 'cpu', threads: 1 } },
];

/** Whole-machine layouts for a full dream (runner level: workers, threads, tiles). */
const LAYOUTS: Array<{ label: string; options: RunnerOptions }> = [
  { label: 'onnx: 1 worker x 2 intra-op threads (default)', options: { backend: 'onnx', workers: 1, threads: 2 } },
  { label: 'onnx: 2 workers x 1 thread', options: { backend: 'onnx', workers: 2, threads: 1 } },
  { label: 'wasm: 2 workers (previous default)', options: { backend: 'wasm', workers: 2 } },
];

export async function benchEngine(opts: { quick?: boolean } = {}): Promise<Record<string, unknown>> {
  const manifest = loadManifest('bvlc_googlenet');
  const dir = await locateWeights(manifest, { download: false });
  const objective = layer(LAYER);
  const sizes: Array<[number, number]> = [
    [224, 224],
    [640, 360],
  ];
  const rounds = opts.quick ? 3 : 9;
  // tfjs backends are process-wide: the wasm engines are loaded last and stay active together.
  const engines: Array<{ c: EngineCase; engine: TileEngine }> = [];
  for (const c of ENGINES) engines.push({ c, engine: await loadEngine({ ...c.options, model: manifest.name, dir }) });
  const times = new Map<string, number[]>();
  for (const [w, h] of sizes) {
    const image = createImage(w, h, new Float32Array(w * h * 3).map((_, i) => (i * 37) % 255));
    // Warm-up: builds the onnx sessions and tfjs kernels for this size.
    for (const { engine } of engines) await engine.gradient({ image, weight: 1 }, objective, 'bench');
    for (let r = 0; r < rounds; r++) {
      for (const { c, engine } of engines) {
        const t = performance.now();
        await engine.gradient({ image, weight: 1 }, objective, 'bench');
        const key = `${c.label}@${w}x${h}`;
        times.set(key, [...(times.get(key) ?? []), (performance.now() - t) / 1000]);
      }
    }
    process.stderr.write(`engine: ${w}x${h} done\n`);
  }
  for (const { engine } of engines) await engine.close();
  const cases = [...times].map(([key, ts]) => {
    const [label, size] = key.split('@') as [string, string];
    const [w, h] = size.split('x').map(Number) as [number, number];
    const seconds = median(ts);
    // Forward and input-gradient passes cost about the same FLOPs each.
    return { engine: label, width: w, height: h, seconds: round(seconds), gflops: round((2 * convFlops(manifest, LAYER, w, h)) / seconds / 1e9, 1) };
  });
  const find = (label: string, w: number): number => cases.find((c) => c.engine === label && c.width === w)!.seconds;

  // Full dreams of a real photo at 640x360 (4 octaves, 2 steps each) through each runner layout.
  const photo = await readImage(sharedImage('dog.jpg'), { width: 640, height: 360 });
  const layouts: Array<Record<string, unknown>> = [];
  for (const l of LAYOUTS) {
    const runner = await createRunner({ ...l.options, quiet: true });
    const settings = { ...DEFAULT_DREAM, iterations: 2 };
    await dream(runner, photo, objective, settings);
    const ts: number[] = [];
    for (let r = 0; r < (opts.quick ? 1 : 3); r++) {
      const t = performance.now();
      await dream(runner, photo, objective, settings);
      ts.push((performance.now() - t) / 1000);
    }
    await runner.close();
    layouts.push({ layout: l.label, secondsPerDream: round(median(ts)) });
    process.stderr.write(`engine: layout ${l.label}: ${median(ts).toFixed(2)} s\n`);
  }

  const summary = {
    task: `GoogLeNet forward + input gradient up to ${LAYER}, one tile; medians of ${rounds} interleaved rounds`,
    cases,
    ratios: {
      onnx2VsWasm640x360: round(find('wasm custom gradient', 640) / find('onnx, 2 threads', 640), 2),
      onnx1VsWasm640x360: round(find('wasm custom gradient', 640) / find('onnx, 1 thread', 640), 2),
      onnx2VsWasm224: round(find('wasm custom gradient', 224) / find('onnx, 2 threads', 224), 2),
      onnx1VsWasm224: round(find('wasm custom gradient', 224) / find('onnx, 1 thread', 224), 2),
      wasmCustomVsAutodiff640x360: round(find('wasm autodiff', 640) / find('wasm custom gradient', 640), 2),
    },
    layoutTask: 'dreamflow image at 640x360 (dog.jpg): 4 octaves x 2 steps, whole machine',
    layouts,
  };
  writeResult('engine', summary);
  return summary;
}
