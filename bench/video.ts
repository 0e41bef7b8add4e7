/**
 * Video benchmark: a 640×360 camera pan across a real photo (kite.jpg, so the motion is known),
 * dreamed with the default video preset with optical flow and with --no-flow (every frame from
 * scratch), in the same run: seconds per frame, CPU utilisation (both cores?), flicker ratio and
 * dream gain of each (DESIGN.md definitions).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dreamGain } from '../src/dream/deepdream.js';
import { fromBytes } from '../src/dream/image.js';
import { layer } from '../src/dream/objectives.js';
import { createRunner } from '../src/dream/runner.js';
import { measureVideos } from '../src/metrics/videoMetrics.js';
import { runVideoJob } from '../src/pipeline/videoJob.js';
import { DEFAULT_TEMPORAL } from '../src/temporal/stage.js';
import { makePanClip } from '../test/helpers/clips.js';
import { cpuMeter, round, sharedImage, writeResult } from './util.js';

const SIZE = { width: 640, height: 360 };
const FPS = Number(process.env.BENCH_VIDEO_FPS ?? 12);
const SECONDS = Number(process.env.BENCH_VIDEO_SECONDS ?? 2);

export async function benchVideo(): Promise<Record<string, unknown>> {
  const dir = await mkdtemp(join(tmpdir(), 'dreamflow-bench-video-'));
  const kite = sharedImage('kite.jpg');
  const clip = await makePanClip({ image: kite, ...SIZE, fps: FPS, seconds: SECONDS, dx: 2, dy: 0, sourceWidth: 1280, audio: true, dir, name: 'pan.mp4' });
  const runner = await createRunner({ quiet: true });
  const objective = layer(runner.manifest.defaultLayer);
  const cases: Array<Record<string, unknown>> = [];
  try {
    for (const flow of [true, false]) {
      const output = join(dir, flow ? 'flow.mp4' : 'noflow.mp4');
      const cpu = cpuMeter();
      const t = performance.now();
      const result = await runVideoJob(runner, objective, { input: clip, output, temporal: { ...DEFAULT_TEMPORAL, flow } });
      const wall = (performance.now() - t) / 1000;
      const utilisation = cpu();
      const metrics = await measureVideos(clip, output, {
        gainOf: (a, b) => dreamGain(runner, fromBytes(a.width, a.height, a.data), fromBytes(b.width, b.height, b.data), objective),
      });
      cases.push({
        flow,
        frames: result.frames,
        secondsPerFrame: round(result.secondsPerFrame),
        wallSeconds: round(wall, 1),
        cpuUtilisation: round(utilisation, 2),
        flickerRatio: round(metrics.flickerRatio),
        ewarpInput: round(metrics.ewarpInput, 6),
        ewarpOutput: round(metrics.ewarpOutput, 6),
        dreamGain: round(metrics.dreamGain ?? NaN),
      });
      process.stderr.write(`bench video: flow=${flow} ${JSON.stringify(cases.at(-1))}\n`);
    }
  } finally {
    await runner.close();
    await rm(dir, { recursive: true, force: true });
  }
  const [withFlow, noFlow] = cases as Array<{ flickerRatio: number; secondsPerFrame: number; dreamGain: number }>;
  const result = {
    task: `dreamflow video, default preset (${runner.manifest.name} ${runner.manifest.defaultLayer}, ${DEFAULT_TEMPORAL.dream.octaves} octaves, ${DEFAULT_TEMPORAL.dream.iterations} steps on fresh frames, ${DEFAULT_TEMPORAL.frameIterations} on carried ones, blend ${DEFAULT_TEMPORAL.blend}), ${SIZE.width}x${SIZE.height} pan across kite.jpg at 2 px/frame, ${FPS} fps, ${SECONDS} s`,
    backend: runner.backend,
    workers: runner.parallelism,
    cases,
    ratios: {
      flickerFlowOverNoFlow: round(withFlow!.flickerRatio / noFlow!.flickerRatio),
      speedFlowOverNoFlow: round(noFlow!.secondsPerFrame / withFlow!.secondsPerFrame, 2),
    },
  };
  writeResult('video', result);
  return result;
}
