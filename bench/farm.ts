/**
 * Render-farm benchmark: the same clip (a 320×180 camera pan across kite.jpg with a keyframe
 * every second) dreamed with the default video preset by one `dreamflow worker` process and by
 * two (each pinned to a core of its own, as on one-core machines), through a real redis-server, plus `dreamflow video` on the
 * same machine with both threads as the single-machine baseline. Wall times, the speed-up of the
 * second worker, and the flicker at the cuts against inside segments (docs/architecture.md definitions).
 *
 * Scaling model for separate machines: with segments of L frames and a dissolve of w, every
 * segment but the first costs L + w frames, so M machines finish about M · L/(L + w) times as
 * fast as one, minus the coordinator's join (seconds, no re-encoding) and the last segment's
 * tail when segments do not divide evenly among machines.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { layer } from '../src/dream/objectives.js';
import { createRunner } from '../src/dream/runner.js';
import { DEFAULT_WARMUP, runFarm } from '../src/farm/coordinator.js';
import { SECRET_ENV } from '../src/farm/auth.js';
import { specFromArgs } from '../src/pipeline/spec.js';
import { flickerAtCuts } from '../src/farm/metrics.js';
import { parseRedisUrl } from '../src/farm/redis.js';
import { measureVideos } from '../src/metrics/videoMetrics.js';
import { packageRoot } from '../src/paths.js';
import { runVideoJob } from '../src/pipeline/videoJob.js';
import { DEFAULT_TEMPORAL } from '../src/temporal/stage.js';
import { makePanClip } from './fixtures/clips.js';
import { startRedis } from './fixtures/redis.js';
import { round, sharedImage, writeResult } from './util.js';

const SIZE = { width: 320, height: 180 };
const FPS = 12;
const SECONDS = Number(process.env.BENCH_FARM_SECONDS ?? 8);
/** Segment length in frames (a keyframe every SEGMENT frames, so cuts fall exactly there). */
const SEGMENT = Number(process.env.BENCH_FARM_SEGMENT ?? 24);
/** The farm's shared secret for this run (coordinator and workers). */
const SECRET = randomBytes(32).toString('hex');

interface StartedWorker {
  child: ChildProcess;
  exited: Promise<void>;
}

/**
 * A worker pinned to one core (taskset): a one-core machine of its own. Its engine sizes its
 * threads by the cores it may use, so two workers do not both run two threads on two cores.
 */
function startWorker(url: string, queue: string, core: number): Promise<StartedWorker> {
  const bin = join(packageRoot(), 'bin', 'dreamflow.js');
  const child = spawn('taskset', ['-c', String(core), process.execPath, bin, 'worker', '--redis', url, '--queue', queue], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, [SECRET_ENV]: SECRET } });
  const exited = new Promise<void>((r) => child.once('close', () => r()));
  return new Promise((resolvePromise, reject) => {
    let log = '';
    child.stderr!.on('data', (d: Buffer) => {
      log += d.toString();
      if (log.includes('waiting for segments')) resolvePromise({ child, exited });
    });
    child.once('close', (code) => reject(new Error(`worker exited with ${code}: ${log}`)));
  });
}

export async function benchFarm(): Promise<Record<string, unknown>> {
  const dir = await mkdtemp(join(tmpdir(), 'dreamflow-bench-farm-'));
  const kite = sharedImage('kite.jpg');
  const clip = await makePanClip({ image: kite, ...SIZE, fps: FPS, seconds: SECONDS, dx: 2, dy: 0, sourceWidth: 640, audio: true, keyframeInterval: SEGMENT, dir, name: 'pan.mp4' });
  const redis = await startRedis();
  const cases: Array<Record<string, unknown>> = [];
  let single: Record<string, unknown> = {};
  try {
    // Single machine, both cores: what the farm has to beat per machine.
    const runner = await createRunner({ quiet: true, workers: 2 });
    try {
      const t = performance.now();
      const r = await runVideoJob(runner, layer(runner.manifest.defaultLayer), { input: clip, output: join(dir, 'single.mp4'), temporal: DEFAULT_TEMPORAL });
      single = { case: 'dreamflow video, 1 process, 2 threads', frames: r.frames, wallSeconds: round((performance.now() - t) / 1000, 1), secondsPerFrame: round(r.secondsPerFrame) };
    } finally {
      await runner.close();
    }
    // The same frame pairs of one uninterrupted run: how much of the flicker at a cut is the cut's.
    const singleFlicker = await measureVideos(clip, join(dir, 'single.mp4'));
    process.stderr.write(`bench farm: ${JSON.stringify(single)}\n`);

    for (const count of [1, 2]) {
      const queue = `bench${count}`;
      const t0 = performance.now();
      const workers = await Promise.all(Array.from({ length: count }, (_, i) => startWorker(redis.url, queue, i % availableParallelism())));
      const startupSeconds = (performance.now() - t0) / 1000;
      try {
        const output = join(dir, `farm-${count}.mp4`);
        const t = performance.now();
        const result = await runFarm({ redis: parseRedisUrl(redis.url), queue, segment: `${SEGMENT}f`, warmup: DEFAULT_WARMUP, secret: Buffer.from(SECRET), spec: specFromArgs('video', [clip, '-o', output]).spec });
        const wall = (performance.now() - t) / 1000;
        const m = await measureVideos(clip, output);
        const cuts = flickerAtCuts(m.perFrame, result.cuts, result.warmup);
        const hardCuts = flickerAtCuts(m.perFrame, result.cuts, 0);
        const singleAtCuts = flickerAtCuts(singleFlicker.perFrame, result.cuts, 0);
        cases.push({
          case: `dreamflow farm, ${count} worker process${count > 1 ? 'es' : ''}, one core each`,
          workers: count,
          frames: result.frames,
          segments: result.segments,
          dreamedFrames: result.dreamedFrames,
          wallSeconds: round(wall, 1),
          workerStartupSeconds: round(startupSeconds, 1),
          flickerRatio: round(m.flickerRatio),
          flickerAtCutDissolves: round(cuts.atCuts),
          flickerAtCutPairs: round(hardCuts.atCuts),
          flickerInsideSegments: round(cuts.inside),
          singleMachineFlickerAtCutPairs: round(singleAtCuts.atCuts),
          singleMachineFlickerInside: round(singleAtCuts.inside),
          maxEventLoopStallMs: result.maxEventLoopStallMs,
        });
        process.stderr.write(`bench farm: ${JSON.stringify(cases.at(-1))}\n`);
      } finally {
        for (const w of workers) {
          w.child.kill('SIGTERM');
          await w.exited;
        }
      }
    }
  } finally {
    await redis.stop();
    await rm(dir, { recursive: true, force: true });
  }
  const [one, two] = cases as Array<{ wallSeconds: number; frames: number; segments: number }>;
  const speedup = one!.wallSeconds / two!.wallSeconds;
  const perMachine = SEGMENT / (SEGMENT + DEFAULT_WARMUP);
  const result = {
    task: `default video preset (${DEFAULT_TEMPORAL.dream.octaves} octaves, blend ${DEFAULT_TEMPORAL.blend}), ${SIZE.width}x${SIZE.height} pan across kite.jpg, ${FPS} fps, ${SECONDS} s, segments of ${SEGMENT} frames, dissolve ${DEFAULT_WARMUP} frames`,
    singleMachine: single,
    cases,
    speedupTwoWorkersOverOne: round(speedup, 2),
    parallelEfficiency: round(speedup / 2, 2),
    model: {
      statement: 'M machines finish about M·L/(L+w) times as fast as one machine (L frames per segment, w dissolve frames), minus the join',
      perAddedMachine: round(perMachine, 3),
      atDefaults: { segmentFrames: 240, warmup: DEFAULT_WARMUP, perAddedMachine: round(240 / (240 + DEFAULT_WARMUP), 3), note: '10 s segments at 24 fps' },
    },
    note: 'On this 2-core machine the two workers share the cores the single-machine baseline uses with 2 threads; separate machines each bring their own.',
  };
  writeResult('farm', result);
  return result;
}
