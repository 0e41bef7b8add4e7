/**
 * 360° benchmark: seconds per frame and peak resident memory for a 3840×1920 equirectangular
 * frame dreamed with tiling through the vr stage (wrap-around), then a carried second frame with
 * the camera turning. Modest settings (3 octaves, 2 steps) so it finishes in a few minutes on two
 * cores; pass `cubemap: true` to time the cube-face dream of the first frame as well.
 */
import sharp from 'sharp';
import { DEFAULT_DREAM } from '../src/dream/deepdream.js';
import { createImage, roll, toBytes, type RgbImage } from '../src/dream/image.js';
import { layer } from '../src/dream/objectives.js';
import { createRunner } from '../src/dream/runner.js';
import type { BackendRequest } from '../src/engine/backend.js';
import type { Frame } from '../src/frame.js';
import { DEFAULT_TEMPORAL, type TemporalSettings } from '../src/temporal/stage.js';
import { VrStage, type Projection } from '../src/vr/stage.js';
import { round, sharedImage, writeResult } from './util.js';

const LAYER = 'inception_4c/output';

/** A 2:1 panorama from a real photo (shared images beside the repository, else a synthetic one). */
async function panorama(width: number): Promise<RgbImage> {
  const height = width / 2;
  const photo = sharedImage('horses.jpg');
  try {
    const data = await sharp(photo).removeAlpha().resize(width, height, { fit: 'cover' }).raw().toBuffer();
    return createImage(width, height, Float32Array.from(data));
  } catch {
    const data = new Float32Array(width * height * 3);
    for (let i = 0; i < data.length; i++) data[i] = 128 + 100 * Math.sin((i % (width * 3)) / 97) * Math.cos(i / (width * 3 * 13));
    return createImage(width, height, data);
  }
}

function frame(img: RgbImage, index: number): Frame {
  return { index, ptsSeconds: index / 30, width: img.width, height: img.height, data: toBytes(img) };
}

/** Peak RSS of this process (worker threads included) since it started, in MB. */
function peakRssMB(): number {
  return process.resourceUsage().maxRSS / 1024;
}

/** One backend's frame times for the equirect (and optionally cubemap) stage, with its peak RSS. */
async function timeBackend(backend: BackendRequest, pano: RgbImage, temporal: TemporalSettings, cubemap: boolean): Promise<Record<string, unknown>> {
  const runner = await createRunner({ backend, quiet: true });
  const objective = layer(LAYER);
  const { width, height } = pano;
  const cases: Array<Record<string, unknown>> = [];
  let sampled = process.memoryUsage.rss() / 2 ** 20;
  const sampler = setInterval(() => (sampled = Math.max(sampled, process.memoryUsage.rss() / 2 ** 20)), 200);
  try {
    const time = async (projection: Projection, frames: Frame[]): Promise<number[]> => {
      const stage = new VrStage(runner, objective, temporal, { projection, stereo: 'mono', eyeIterations: 0 });
      const seconds: number[] = [];
      for (const f of frames) {
        const t = performance.now();
        await stage.process(f);
        seconds.push((performance.now() - t) / 1000);
        process.stderr.write(`vr: ${runner.backend} ${projection} ${width}x${height} frame ${f.index}: ${seconds[seconds.length - 1]!.toFixed(1)} s, peak RSS ${peakRssMB().toFixed(0)} MB\n`);
      }
      return seconds;
    };
    // The camera turns 8 px per frame: the second frame is carried across the 0°/360° seam.
    const [fresh, carried] = await time('equirect', [frame(pano, 0), frame(roll(pano, 8, 0), 1)]);
    cases.push({ projection: 'equirect', frame: 'first (full dream)', secondsPerFrame: round(fresh!, 1) });
    cases.push({ projection: 'equirect', frame: 'carried (flow + frameIterations)', secondsPerFrame: round(carried!, 1) });
    if (cubemap) {
      const [cube] = await time('cubemap', [frame(pano, 0)]);
      cases.push({ projection: 'cubemap', frame: 'first (full dream)', secondsPerFrame: round(cube!, 1) });
    }
  } finally {
    clearInterval(sampler);
    await runner.close();
  }
  return { backend: runner.backend, workers: runner.parallelism, cases, peakRssMB: round(sampled, 0) };
}

export async function benchVr(opts: { width?: number; write?: boolean; cubemap?: boolean; backends?: BackendRequest[] } = {}): Promise<Record<string, unknown>> {
  const width = opts.width ?? 3840;
  const height = width / 2;
  const dreamSettings = { ...DEFAULT_DREAM, octaves: 3, iterations: 2, tile: 512, seed: 0 };
  const temporal: TemporalSettings = { ...DEFAULT_TEMPORAL, dream: dreamSettings, frameIterations: 1 };
  const pano = await panorama(width);
  const backends: BackendRequest[] = opts.backends ?? ['onnx', 'wasm'];
  const runs: Array<Record<string, unknown>> = [];
  for (const backend of backends) runs.push(await timeBackend(backend, pano, temporal, opts.cubemap === true));
  const seconds = (i: number, c: number): number => ((runs[i]!.cases as Array<{ secondsPerFrame: number }>)[c]!).secondsPerFrame;
  const peak = Math.max(...runs.map((r) => r.peakRssMB as number));
  const summary = {
    task: `one ${width}x${height} equirectangular frame through the vr stage, ${LAYER}, tiled; each backend in turn, same run`,
    settings: {
      octaves: dreamSettings.octaves,
      octaveScale: dreamSettings.octaveScale,
      iterations: dreamSettings.iterations,
      frameIterations: temporal.frameIterations,
      tile: dreamSettings.tile,
      jitter: 'full-width roll (wrapX)',
      flowMaxWidth: temporal.flowMaxWidth,
    },
    runs,
    ...(runs.length === 2
      ? { ratios: { firstFrame: round(seconds(1, 0) / seconds(0, 0), 2), carriedFrame: round(seconds(1, 1) / seconds(0, 1), 2) } }
      : {}),
    peakRssMB: round(peak, 0),
    peakRssUnder4GB: peak < 4096,
  };
  if (opts.write !== false) writeResult('vr', summary);
  return summary;
}
