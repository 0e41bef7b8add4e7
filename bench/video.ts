/**
 * Video benchmark: a 640×360 camera pan across a real photo (kite.jpg, so the motion is known),
 * dreamed with the default video preset with optical flow and with --no-flow (every frame from
 * scratch), in the same run: seconds per frame, CPU utilisation (both cores?), flicker ratio and
 * dream gain of each (docs/architecture.md definitions).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dreamGain } from '../src/dream/deepdream.js';
import { fromBytes } from '../src/dream/image.js';
import { layer } from '../src/dream/objectives.js';
import { createRunner } from '../src/dream/runner.js';
import type { BackendRequest } from '../src/engine/backend.js';
import { measureVideos } from '../src/metrics/videoMetrics.js';
import { runVideoJob } from '../src/pipeline/videoJob.js';
import { DEFAULT_TEMPORAL } from '../src/temporal/stage.js';
import { makePanClip } from './fixtures/clips.js';
import { cpuMeter, round, sharedImage, writeResult } from './util.js';

const SIZE = { width: 640, height: 360 };
const FPS = Number(process.env.BENCH_VIDEO_FPS ?? 12);
const SECONDS = Number(process.env.BENCH_VIDEO_SECONDS ?? 2);

interface VideoCase {
  backend: BackendRequest;
  flow: boolean;
}

/**
 * The default engine with and without flow, and the previous default engine (tfjs on wasm) with
 * flow, each on the same clip in the same run. Dream gain is measured by one instrument (the onnx
 * runner) for every output, so the figures compare the outputs and not the engines measuring them.
 */
const CASES: VideoCase[] = [
  { backend: 'onnx', flow: true },
  { backend: 'wasm', flow: true },
  { backend: 'onnx', flow: false },
];

export async function benchVideo(): Promise<Record<string, unknown>> {
  const dir = await mkdtemp(join(tmpdir(), 'dreamflow-bench-video-'));
  const kite = sharedImage('kite.jpg');
  const clip = await makePanClip({ image: kite, ...SIZE, fps: FPS, seconds: SECONDS, dx: 2, dy: 0, sourceWidth: 1280, audio: true, dir, name: 'pan.mp4' });
  const meter = await createRunner({ backend: 'onnx', quiet: true });
  const objective = layer(meter.manifest.defaultLayer);
  const cases: Array<Record<string, unknown>> = [];
  try {
    for (const c of CASES) {
      const runner = c.backend === 'onnx' ? meter : await createRunner({ backend: c.backend, quiet: true });
      const output = join(dir, `${c.backend}-${c.flow ? 'flow' : 'noflow'}.mp4`);
      const cpu = cpuMeter();
      const t = performance.now();
      const result = await runVideoJob(runner, objective, { input: clip, output, temporal: { ...DEFAULT_TEMPORAL, flow: c.flow } });
      const wall = (performance.now() - t) / 1000;
      const utilisation = cpu();
      if (runner !== meter) await runner.close();
      const metrics = await measureVideos(clip, output, {
        gainOf: (a, b) => dreamGain(meter, fromBytes(a.width, a.height, a.data), fromBytes(b.width, b.height, b.data), objective),
      });
      cases.push({
        backend: runner.backend,
        workers: runner.parallelism,
        flow: c.flow,
        frames: result.frames,
        secondsPerFrame: round(result.secondsPerFrame),
        wallSeconds: round(wall, 1),
        cpuUtilisation: round(utilisation, 2),
        flickerRatio: round(metrics.flickerRatio),
        ewarpInput: round(metrics.ewarpInput, 6),
        ewarpOutput: round(metrics.ewarpOutput, 6),
        dreamGain: round(metrics.dreamGain ?? NaN),
      });
      process.stderr.write(`bench video: ${JSON.stringify(cases.at(-1))}\n`);
    }
  } finally {
    await meter.close();
    await rm(dir, { recursive: true, force: true });
  }
  const [onnx, wasm, noFlow] = cases as Array<{ flickerRatio: number; secondsPerFrame: number; dreamGain: number }>;
  const result = {
    task: `dreamflow video, default preset (${meter.manifest.name} ${meter.manifest.defaultLayer}, ${DEFAULT_TEMPORAL.dream.octaves} octaves, ${DEFAULT_TEMPORAL.dream.iterations} steps on fresh frames, ${DEFAULT_TEMPORAL.frameIterations} on carried ones, blend ${DEFAULT_TEMPORAL.blend}), ${SIZE.width}x${SIZE.height} pan across kite.jpg at 2 px/frame, ${FPS} fps, ${SECONDS} s`,
    cases,
    ratios: {
      speedOnnxOverWasm: round(wasm!.secondsPerFrame / onnx!.secondsPerFrame, 2),
      flickerOnnxOverWasm: round(onnx!.flickerRatio / wasm!.flickerRatio, 3),
      gainOnnxOverWasm: round(onnx!.dreamGain / wasm!.dreamGain, 3),
      flickerFlowOverNoFlow: round(onnx!.flickerRatio / noFlow!.flickerRatio),
      speedFlowOverNoFlow: round(noFlow!.secondsPerFrame / onnx!.secondsPerFrame, 2),
    },
  };
  writeResult('video', result);
  return result;
}
