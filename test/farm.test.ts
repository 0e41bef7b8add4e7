/**
 * The render farm with real parts: a redis-server, `dreamflow worker` processes, a `dreamflow
 * farm` coordinator, ffmpeg and the real weights, on a small camera pan with keyframes every
 * 8 frames.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { flickerAtCuts } from '../src/farm/metrics.js';
import { frameRange, frameTableFromCsv, planSegments, parseSegmentLength } from '../src/farm/plan.js';
import { parseRedisUrl } from '../src/farm/redis.js';
import { crossFade, dissolveWeight } from '../src/farm/dissolve.js';
import { probe } from '../src/media/probe.js';
import { measureVideos } from '../src/metrics/videoMetrics.js';
import { lastJson, runCli } from './helpers/cli.js';
import { frameHashes, makePanClip } from '../bench/fixtures/clips.js';
import { preloadOpenCv, waitFor } from './helpers/live.js';
import { BIN, tempDir } from './helpers/paths.js';
import { freePort, startRedis, type TestRedis } from '../bench/fixtures/redis.js';

/** The default dissolve; the preset's look (2 octaves, 6 steps fresh, 2 carried, blend 0.9) at test size. */
const WARMUP = 8;
const DREAM = ['--octaves', '2', '--iterations', '6', '--seed', '1'];
const CHEAP = ['--octaves', '1', '--iterations', '2', '--layer', 'inception_3b/output', '--seed', '5'];

interface FarmJson {
  output: string;
  frames: number;
  segments: number;
  cuts: number[];
  warmup: number;
  dreamedFrames: number;
  workers: number;
  workerNames: string[];
  stalled: number;
  resumedSegments: number;
  maxEventLoopStallMs: number;
}

interface WorkerProcess {
  child: ChildProcess;
  name: string;
  log: string;
  exited: Promise<void>;
}

describe('dreamflow farm and worker', () => {
  let dir: string;
  let clip: string;
  let redis: TestRedis;
  let queue: Queue;
  let client: Redis;
  const QUEUE = 'farmtest';
  const workers: WorkerProcess[] = [];

  /** A real worker process with one gradient thread and a 2 s heartbeat; resolves once it waits for jobs. */
  async function startWorker(): Promise<WorkerProcess> {
    const child = spawn(process.execPath, [BIN, 'worker', '--redis', redis.url, '--queue', QUEUE, '--workers', '1', '--heartbeat', '2'], { stdio: ['ignore', 'ignore', 'pipe'] });
    const w: WorkerProcess = { child, name: `${hostname()}:${child.pid}`, log: '', exited: new Promise((r) => child.once('close', () => r())) };
    child.stderr!.on('data', (d: Buffer) => (w.log += d.toString()));
    workers.push(w);
    await waitFor(() => w.log.includes('waiting for segments'), 60_000, `worker ${w.name} to start (${w.log})`);
    return w;
  }

  beforeAll(async () => {
    preloadOpenCv();
    dir = tempDir();
    redis = await startRedis();
    queue = new Queue(QUEUE, { connection: { host: '127.0.0.1', port: redis.port } });
    client = new Redis({ host: '127.0.0.1', port: redis.port });
    // 48 frames, keyframes every 8: three segments of 16 at --segment 16f.
    clip = await makePanClip({ width: 96, height: 64, fps: 12, seconds: 4, dx: 2, dy: 1, sourceWidth: 224, audio: true, keyframeInterval: 8, dir, name: 'pan.mp4' });
  });

  afterAll(async () => {
    for (const w of workers) {
      if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGTERM');
      await w.exited;
    }
    await queue?.close();
    client?.disconnect();
    await redis?.stop();
  });

  it('farms a clip to two workers, one SIGKILLed mid-segment: every frame once, the sound, no jump at the cuts', async () => {
    const [a, b] = await Promise.all([startWorker(), startWorker()]);
    const out = join(dir, 'farmed.mp4');
    const farm = runCli(['farm', clip, '-o', out, '--redis', redis.url, '--queue', QUEUE, '--segment', '16f', ...DREAM, '--json']);

    // Kill whichever worker is first seen with progress inside a segment.
    let victim: WorkerProcess | undefined;
    await waitFor(async () => {
      const active = await queue.getJobs(['active']);
      const busy = active.find((j) => typeof j.progress === 'number' && j.progress >= 2);
      victim = busy && [a!, b!].find((w) => w.name === busy.processedBy);
      return victim !== undefined;
    }, 90_000, 'a worker to report progress on a segment');
    victim!.child.kill('SIGKILL');
    await victim!.exited;
    const survivor = victim === a ? b! : a!;

    const r = await farm;
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const result = lastJson<FarmJson>(r.stdout);
    // The killed worker's segment was taken back after its lock ran out and dreamed by the other.
    expect(result.stalled).toBeGreaterThanOrEqual(1);
    expect(result.workerNames).toContain(survivor.name);
    expect(survivor.log).toMatch(/done in/);
    expect(result.segments).toBe(3);
    expect(result.cuts).toEqual([16, 32]);
    expect(result.warmup).toBe(WARMUP);
    // Each cut costs its dissolve's frames once more, nothing else.
    expect(result.dreamedFrames).toBe(48 + 2 * WARMUP);
    // The dreaming thread pool kept the worker's event loop free: far below the 2 s heartbeat.
    expect(result.maxEventLoopStallMs).toBeLessThan(1000);

    const [inInfo, outInfo] = [await probe(clip), await probe(out)];
    expect(result.frames).toBe(inInfo.frameCount);
    expect(outInfo.frameCount).toBe(inInfo.frameCount);
    expect(outInfo.fps).toEqual(inInfo.fps);
    expect(outInfo.hasAudio).toBe(true);
    expect(Math.abs(outInfo.audio!.durationSeconds! - inInfo.audio!.durationSeconds!)).toBeLessThan(0.1);

    // Flicker where two workers' dreams meet (the dissolve before each cut and the cut itself)
    // is no worse than 1.2x the flicker inside segments.
    const m = await measureVideos(clip, out);
    expect(m.perFrame.output).toHaveLength(47);
    const zone = flickerAtCuts(m.perFrame, result.cuts, WARMUP);
    const pairs = flickerAtCuts(m.perFrame, result.cuts, 0);
    expect(zone.atCuts).toBeLessThanOrEqual(1.2 * zone.inside);
    expect(pairs.atCuts).toBeLessThanOrEqual(1.2 * zone.inside);
    // …and the output is really dreamed: far less steady than the input (a pass-through gives 1).
    expect(m.flickerRatio).toBeGreaterThan(1.5);

    // Nothing left behind: no keys, no jobs, no work folder, no temp file.
    expect(await client.keys('dreamflow:*')).toEqual([]);
    const counts = await queue.getJobCounts('active', 'waiting', 'delayed', 'completed', 'failed');
    expect(Object.values(counts).reduce((s, n) => s + n, 0)).toBe(0);
    expect(readdirSync(dir).filter((f) => f.startsWith('.'))).toEqual([]);
  });

  it('a coordinator killed mid-run resumes from the queue, and the result is frame for frame the single-machine one', async () => {
    // Without flow each frame's dream depends only on its own index: the farm must give exactly
    // what `dreamflow video` gives (lossless coding makes the decoded frames comparable), so no
    // frame is missing, doubled or out of place.
    const live = workers.filter((w) => w.child.exitCode === null && w.child.signalCode === null);
    while (live.length < 2) live.push(await startWorker());
    const single = join(dir, 'single.mp4');
    const video = await runCli(['video', clip, '-o', single, '--no-flow', ...CHEAP, '--crf', '0', '--workers', '1', '--quiet']);
    expect(video.code).toBe(0);

    const out = join(dir, 'resumed.mp4');
    const args = ['farm', clip, '-o', out, '--redis', redis.url, '--queue', QUEUE, '--segment', '8f', '--no-flow', ...CHEAP, '--crf', '0', '--json'];
    const first = spawn(process.execPath, [BIN, ...args], { stdio: 'ignore' });
    const work = join(dir, '.resumed.mp4.dreamflow-farm');
    await waitFor(() => existsSync(work) && readdirSync(work).some((f) => f.endsWith('.collected')), 90_000, 'a collected segment');
    first.kill('SIGKILL');
    await new Promise((r) => first.once('close', r));
    expect(existsSync(out)).toBe(false);

    const r = await runCli(args);
    expect(r.code).toBe(0);
    const result = lastJson<FarmJson>(r.stdout);
    expect(result.segments).toBe(6);
    expect(result.warmup).toBe(0);
    expect(result.resumedSegments).toBeGreaterThanOrEqual(1);
    const farmed = await frameHashes(out);
    expect(farmed).toHaveLength(48);
    expect(farmed).toEqual(await frameHashes(single));
    expect((await probe(out)).hasAudio).toBe(true);
    expect(await client.keys('dreamflow:*')).toEqual([]);
  });

  describe('refuses bad input with one clear line and no output', () => {
    it('an unreachable Redis (coordinator and worker)', async () => {
      const url = `redis://127.0.0.1:${await freePort()}`;
      const out = join(dir, 'nothing.mp4');
      const farm = await runCli(['farm', clip, '-o', out, '--redis', url, ...CHEAP]);
      expect(farm.code).toBe(2);
      expect(farm.stderr).toMatch(/cannot reach Redis at redis:\/\/127\.0\.0\.1:\d+/);
      expect(farm.stderr.trim().split('\n')).toHaveLength(1);
      expect(existsSync(out)).toBe(false);
      expect(existsSync(join(dir, '.nothing.mp4.dreamflow-farm'))).toBe(false);

      const worker = await runCli(['worker', '--redis', url]);
      expect(worker.code).toBe(2);
      expect(worker.stderr).toMatch(/cannot reach Redis/);
      expect(worker.stderr.trim().split('\n')).toHaveLength(1);
    });

    it.each([
      ['a misspelt layer', ['--layer', 'inception_4z'], /layer/],
      ['a URL that is not Redis', ['--redis', 'http://localhost:6379'], /--redis must start with redis:\/\//],
      ['a bad segment length', ['--segment', 'ten'], /--segment must be a length/],
      ['a machine flag that belongs to the workers', ['--backend', 'wasm'], /farm: --backend belongs to each worker's command line/],
    ])('%s, before anything is queued', async (_, extra, message) => {
      const out = join(dir, 'bad.mp4');
      const r = await runCli(['farm', clip, '-o', out, '--redis', redis.url, '--queue', QUEUE, ...CHEAP, ...extra]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(existsSync(out)).toBe(false);
      expect(await queue.getJobCounts('waiting', 'active')).toEqual({ waiting: 0, active: 0 });
    });
  });
});

describe('farm planning (pure)', () => {
  // 30 frames at 10 fps in decoding order with B-frames, keyframes at 0, 8, 16, 24; one discarded packet.
  const csv = ['format,0.050000', 'packet,-0.050000,KD_']
    .concat(Array.from({ length: 30 }, (_, i) => `packet,${(0.05 + (i ^ 1) * 0.1).toFixed(6)},${(i ^ 1) % 8 === 0 ? 'K' : '_'}__`))
    .join('\n');
  const table = frameTableFromCsv(csv, 'test');

  it('reads frame times in display order relative to the start, and the keyframes', () => {
    expect(table.times).toHaveLength(30);
    expect(table.times[0]).toBeCloseTo(0, 6);
    expect(table.times[29]).toBeCloseTo(2.9, 6);
    expect(table.keyframes).toEqual([0, 8, 16, 24]);
  });

  it('cuts at keyframes, covers every frame once, and keeps each dissolve inside the previous segment', () => {
    const plan = planSegments(table, { first: 0, end: 30 }, { segmentFrames: 7, warmup: 5 });
    expect(plan.map((s) => [s.first, s.end])).toEqual([[0, 8], [8, 16], [16, 24], [24, 30]]);
    expect(plan.map((s) => s.warmupFrom)).toEqual([0, 3, 11, 19]);
    expect(plan.map((s) => s.tailFrom)).toEqual([3, 11, 19, 30]);
    // Decoding starts at the keyframe before the warm-up, seeking half a frame before it.
    expect(plan.map((s) => s.decodeFrom)).toEqual([0, 0, 8, 16]);
    expect(plan[2]!.seekSeconds).toBeCloseTo(0.75, 6);
    expect(plan[1]!.seekSeconds).toBeUndefined();
    // A warm-up longer than a segment stops at that segment's start.
    const long = planSegments(table, { first: 0, end: 30 }, { segmentFrames: 8, warmup: 20 });
    expect(long[1]!.warmupFrom).toBe(0);
    expect(long[2]!.warmupFrom).toBe(8);
  });

  it('honours --start/--duration and parses lengths', () => {
    expect(frameRange(table.times, 1, 1)).toEqual({ first: 10, end: 20 });
    expect(parseSegmentLength('10s', 24)).toBe(240);
    expect(parseSegmentLength('500ms', 30)).toBe(15);
    expect(parseSegmentLength('16f', 12)).toBe(16);
    expect(() => parseSegmentLength('0f', 12)).toThrow(/at least one frame/);
  });

  it('dissolves in equal steps and parses Redis URLs', () => {
    expect([0, 1, 2].map((j) => dissolveWeight(j, 3))).toEqual([0.25, 0.5, 0.75]);
    expect(Array.from(crossFade(new Uint8Array([0, 100, 255]), new Uint8Array([200, 100, 55]), 0.25))).toEqual([50, 100, 205]);
    expect(parseRedisUrl('redis://user:p%40ss@cache.local:6380/2')).toMatchObject({ host: 'cache.local', port: 6380, db: 2, username: 'user', password: 'p@ss', tls: false });
    expect(parseRedisUrl('rediss://[::1]').host).toBe('::1');
    expect(parseRedisUrl('redis://h').display).toBe('redis://h');
  });

  it('measures flicker at cuts separately from inside segments', () => {
    const perFrame = { input: [1, 1, 1, 1, 1, 1], output: [2, 2, 5, 2, 2, 2] };
    expect(flickerAtCuts(perFrame, [3])).toEqual({ atCuts: 5, inside: 2 });
    expect(flickerAtCuts(perFrame, [3], 1)).toEqual({ atCuts: 3.5, inside: 2 });
  });
});
