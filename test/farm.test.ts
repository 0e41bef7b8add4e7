/**
 * The render farm with real parts: a redis-server, `dreamflow worker` processes, a `dreamflow
 * farm` coordinator, ffmpeg and the real weights, on a small camera pan with keyframes every
 * 8 frames. Every worker runs in its own mount namespace with the test's folder hidden under an
 * empty tmpfs: workers share no folder with the coordinator, as on separate machines.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { deflateRawSync } from 'node:zlib';
import { existsSync, readdirSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { flickerAtCuts } from '../src/farm/metrics.js';
import { frameRange, frameTableFromCsv, planPieces, planSegments, parseSegmentLength } from '../src/farm/plan.js';
import { parseRedisUrl } from '../src/farm/redis.js';
import { farmVideoOf } from '../src/farm/settings.js';
import { SECRET_ENV, checkResultMac, loadSecret, openJob, resultMac, signJob } from '../src/farm/auth.js';
import { PROTOCOL_VERSION, type SegmentJob } from '../src/farm/protocol.js';
import { crossFade, dissolveWeight, unpackFrames } from '../src/farm/dissolve.js';
import { specFromArgs } from '../src/pipeline/spec.js';
import { probe } from '../src/media/probe.js';
import { measureVideos } from '../src/metrics/videoMetrics.js';
import { lastJson, runCli } from './helpers/cli.js';
import { frameHashes, makePanClip, makeVfrClip } from '../bench/fixtures/clips.js';
import { preloadOpenCv, waitFor } from './helpers/live.js';
import { BIN, tempDir } from './helpers/paths.js';
import { freePort, startRedis, type TestRedis } from '../bench/fixtures/redis.js';

/** The default dissolve; the preset's look (2 octaves, 6 steps fresh, 2 carried, blend 0.9) at test size. */
const WARMUP = 8;
const DREAM = ['--octaves', '2', '--iterations', '6', '--seed', '1'];
const CHEAP = ['--octaves', '1', '--iterations', '2', '--layer', 'inception_3b/output', '--seed', '5'];
/** The farm's shared secret in these tests (coordinator and workers inherit it). */
const SECRET = 'test-secret-0123456789abcdef';
const HIDE = join(import.meta.dirname, 'helpers', 'hide-folders.mjs');

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
  /** The workers' temp folder (outside `dir`, which they cannot see). */
  let workerTmp: string;
  let clip: string;
  let redis: TestRedis;
  let queue: Queue;
  let client: Redis;
  const QUEUE = 'farmtest';
  let killedPid = 0;
  const workers: WorkerProcess[] = [];

  /**
   * A real worker process with one gradient thread and a 2 s heartbeat, that cannot see `dir`
   * (unshare execs node, so the pid is the worker's); resolves once it waits for jobs.
   */
  async function startWorker(queueName = QUEUE, env: NodeJS.ProcessEnv = {}): Promise<WorkerProcess> {
    const child = spawn('unshare', ['-rm', process.execPath, '--import', pathToFileURL(HIDE).href, BIN, 'worker', '--redis', redis.url, '--queue', queueName, '--workers', '1', '--heartbeat', '2'], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, DREAMFLOW_TEST_HIDE: dir, TMPDIR: workerTmp, ...env },
    });
    const w: WorkerProcess = { child, name: `${hostname()}:${child.pid}`, log: '', exited: new Promise((r) => child.once('close', () => r())) };
    child.stderr!.on('data', (d: Buffer) => (w.log += d.toString()));
    workers.push(w);
    await waitFor(() => w.log.includes('waiting for segments'), 60_000, `worker ${w.name} to start (${w.log})`);
    return w;
  }

  /** At least `n` running workers (started as needed). */
  async function liveWorkers(n: number): Promise<WorkerProcess[]> {
    const live = workers.filter((w) => w.child.exitCode === null && w.child.signalCode === null);
    while (live.length < n) live.push(await startWorker());
    return live;
  }

  beforeAll(async () => {
    preloadOpenCv();
    process.env[SECRET_ENV] = SECRET;
    dir = tempDir();
    workerTmp = tempDir();
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
    killedPid = victim!.child.pid!;
    // Its temp folder stays behind (cleared by the next worker that starts on this machine).
    expect(readdirSync(workerTmp).some((f) => f.startsWith(`dreamflow-segment-${killedPid}-`))).toBe(true);
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
    await liveWorkers(2);
    // A worker starting on this machine cleared the SIGKILLed one's temp folder.
    expect(readdirSync(workerTmp).filter((f) => f.startsWith(`dreamflow-segment-${killedPid}-`))).toEqual([]);
    const single = join(dir, 'single.mp4');
    const video = await runCli(['video', clip, '-o', single, '--no-flow', ...CHEAP, '--crf', '0', '--workers', '1', '--quiet']);
    expect(video.code).toBe(0);

    const out = join(dir, 'resumed.mp4');
    // Two workers and --ahead 2: four segments on the queue at a time, the rest queued as these are collected.
    const args = ['farm', clip, '-o', out, '--redis', redis.url, '--queue', QUEUE, '--segment', '8f', '--ahead', '2', '--no-flow', ...CHEAP, '--crf', '0', '--json'];
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

  it('refuses forged jobs (unsigned, another secret, an old job naming a local file, a signed one naming a guide path, a signed one replayed under another job id) and leaves no trace in Redis', async () => {
    await liveWorkers(1);
    const spec = specFromArgs('video', [clip, '-o', join(dir, 'x.mp4')]).spec;
    const job: SegmentJob = {
      version: PROTOCOL_VERSION,
      farmId: 'forged',
      segment: 0,
      segments: 1,
      pieces: [],
      spec,
      fps: { num: 12, den: 1 },
      first: 0,
      end: 8,
      warmupFrom: 0,
      tailFrom: 8,
      decodeFrom: 0,
      indexBase: 0,
    };
    const withGuide = specFromArgs('video', [clip, '-o', join(dir, 'x.mp4'), '--guide', '/etc/shadow']).spec;
    const forged: Array<[string, unknown, RegExp]> = [
      ['unsigned', signJob(null, job), /signature/],
      ['another secret', signJob(Buffer.from('another-secret-0123456789'), job), /signature/],
      ['old job naming a file', { version: 2, farmId: 'forged', segment: 0, segments: 1, input: clip, spec, width: 96, height: 64, first: 0, end: 8 }, /not a dreamflow job/],
      ['signed, naming a guide path', signJob(Buffer.from(SECRET), { ...job, spec: withGuide }), /names a guide image path/],
      // A validly signed job (segment 0 of farm "forged") copied under another segment's job id.
      ['signed, replayed under another job id', signJob(Buffer.from(SECRET), job), /does not match its job id/],
    ];
    for (const [i, [, data]] of forged.entries()) await queue.add('forged', data, { jobId: `forged-${i}`, attempts: 3 });
    await waitFor(async () => (await Promise.all(forged.map((_, i) => queue.getJob(`forged-${i}`)))).every((j) => j === undefined), 30_000, 'the forged jobs to be refused and removed');
    const logs = workers.map((x) => x.log).join('');
    for (const [i, [, , reason]] of forged.entries()) expect(logs).toMatch(new RegExp(`refused job forged-${i}: .*${reason.source}`));
    expect(await client.keys('dreamflow:*')).toEqual([]);
    expect(await client.keys(`bull:${QUEUE}:forged*`)).toEqual([]);
    expect(logs).not.toMatch(/segment 1\/1 .*started/);
  });

  it('refuses forged and oversized results, and still completes from the real workers', async () => {
    // A queue no worker serves yet: the forgeries are surely there first.
    const FORGERY = 'forgery';
    const out = join(dir, 'forged-results.mp4');
    const bomb = deflateRawSync(Buffer.alloc(512 * 1024 * 1024));
    const child = spawn(process.execPath, [BIN, 'farm', clip, '-o', out, '--redis', redis.url, '--queue', FORGERY, '--segment', '16f', ...CHEAP, '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((res) => child.once('close', (code) => res(code)));
    let farmId = '';
    await waitFor(async () => {
      farmId = (await client.keys(`dreamflow:${FORGERY}:*:piece:*`))[0]?.split(':')[2] ?? '';
      return farmId !== '' && (await client.exists(`bull:${FORGERY}:${farmId}-2`)) === 1;
    }, 60_000, 'the farm to queue its segments');
    // Answer the jobs as an attacker with access to Redis would: no signature, a part over the
    // size that 8 frames can take, and a 0.5 MB part that would inflate to 512 MB.
    const key = (n: number): string => `dreamflow:${FORGERY}:${farmId}:segment:${n}`;
    await client.hset(key(0), { body: randomBytes(2000), tail: randomBytes(2000) });
    await client.hset(key(1), { body: randomBytes(4 * 1024 * 1024), head: randomBytes(100), tail: randomBytes(100), mac: 'f'.repeat(64) });
    await client.hset(key(2), { body: randomBytes(50_000), head: bomb, mac: 'f'.repeat(64) });
    await client.sadd(`dreamflow:${FORGERY}:${farmId}:done`, '0', '1', '2');
    await waitFor(() => (stderr.match(/refused a stored result/g) ?? []).length >= 3, 30_000, `the coordinator to refuse the three forged results (${stderr})`);

    // Real workers then dream every segment.
    const helpers = await Promise.all([startWorker(FORGERY), startWorker(FORGERY)]);
    try {
      expect(await exited).toBe(0);
    } finally {
      for (const w of helpers) w.child.kill('SIGTERM');
      await Promise.all(helpers.map((w) => w.exited));
    }
    const refusals = stderr.split('\n').filter((l) => /refused a stored result/.test(l));
    expect(refusals.map((l) => /segment (\d)\/3/.exec(l)?.[1]).sort()).toEqual(['1', '2', '3']);
    expect(refusals.join('\n')).toMatch(/carries no valid signature/);
    expect(refusals.join('\n')).toMatch(/over the \d+ bytes 8 frames can take/);
    const result = lastJson<FarmJson>(stdout);
    expect(result.workers).toBeGreaterThanOrEqual(1);
    expect((await probe(out)).frameCount).toBe(48);
    expect(existsSync(join(dir, '.forged-results.mp4.dreamflow-farm'))).toBe(false);
    expect(await client.keys('dreamflow:*')).toEqual([]);
  });

  it('jobs that complete without a result (a client answering the queue that is no worker): queued again, then one line', async () => {
    const ROGUE = 'rogue';
    // Anyone who can reach Redis can take jobs and mark them done without storing anything.
    const rogue = new Worker(ROGUE, async () => ({}), { connection: { host: '127.0.0.1', port: redis.port } });
    try {
      const out = join(dir, 'rogue.mp4');
      const r = await runCli(['farm', clip, '-o', out, '--redis', redis.url, '--queue', ROGUE, '--segment', '16f', '--stall-timeout', '1', '--no-flow', ...CHEAP, '--quiet'], { timeoutMs: 60_000 });
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/completed without a result .*queued them again/);
      const last = r.stderr.trim().split('\n').at(-1)!;
      expect(last).toMatch(/^dreamflow: segment \d\/3: its job completed 4 times without a result reaching the coordinator .*stopped with 0 of 3 segments collected$/);
      expect(existsSync(out)).toBe(false);
    } finally {
      await rogue.close();
    }
  });

  it('a segment dreamed again after it was collected: the worker drops the second result', async () => {
    const DUP = 'dup';
    const w = await startWorker(DUP);
    const dupQueue = new Queue(DUP, { connection: { host: '127.0.0.1', port: redis.port } });
    try {
      const out = join(dir, 'dup.mp4');
      const farm = runCli(['farm', clip, '-o', out, '--redis', redis.url, '--queue', DUP, '--segment', '8f', '--no-flow', ...CHEAP, '--quiet']);
      const work = join(dir, '.dup.mp4.dreamflow-farm');
      await waitFor(() => existsSync(join(work, 'seg-00000.collected')), 90_000, 'the first segment to be collected');
      // The same signed job once more (as after a lock that expired), next in line.
      const job = (await dupQueue.getJobs(['completed'])).find((j) => j.id?.endsWith('-0'))!;
      // The job carries the spec once: nothing beside it restates its size, codec or crf.
      const carried = Object.keys(JSON.parse((job.data as { payload: string }).payload) as object);
      expect(carried).toContain('spec');
      expect(carried.filter((k) => ['width', 'height', 'size', 'codec', 'crf'].includes(k))).toEqual([]);
      await job.remove();
      await dupQueue.add(job.name, job.data, { jobId: job.id!, lifo: true });
      const r = await farm;
      expect(r.code, r.stderr).toBe(0);
      expect(w.log).toMatch(/segment 1\/6 .*: already collected; this second result is dropped/);
      expect((await probe(out)).frameCount).toBe(48);
    } finally {
      w.child.kill('SIGTERM');
      await w.exited;
      await dupQueue.close();
    }
  });

  it('a worker without the memory for the frames fails the segment with one line saying so', async () => {
    const SMALL = 'small';
    const [w] = [await startWorker(SMALL, { DREAMFLOW_MEMORY_LIMIT: '100M' })];
    try {
      const out = join(dir, 'small.mp4');
      const r = await runCli(['farm', clip, '-o', out, '--redis', redis.url, '--queue', SMALL, '--no-flow', ...CHEAP, '--quiet']);
      expect(r.code).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(/segment 1\/1 failed on [^ ]+: a 96x64 video frame needs about .* DREAMFLOW_MEMORY_LIMIT=100M/);
      expect(existsSync(out)).toBe(false);
    } finally {
      w!.child.kill('SIGTERM');
      await w!.exited;
    }
  });

  it('a Redis restarted empty mid-run: the coordinator queues the lost segments again and finishes', async () => {
    await liveWorkers(2);
    const out = join(dir, 'redis-lost.mp4');
    const farm = runCli(['farm', clip, '-o', out, '--redis', redis.url, '--queue', QUEUE, '--segment', '8f', '--no-flow', ...CHEAP, '--json']);
    const work = join(dir, '.redis-lost.mp4.dreamflow-farm');
    await waitFor(() => existsSync(work) && readdirSync(work).some((f) => f.endsWith('.collected')), 90_000, 'a collected segment');
    const restarted = Date.now();
    await redis.down();
    await redis.up();
    const r = await farm;
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/lost \d+ of this farm's segment job\(s\) \(restarted empty or flushed\?\); queued them again/);
    expect(Date.now() - restarted).toBeLessThan(150_000);
    expect((await probe(out)).frameCount).toBe(48);
  });

  it('a Redis gone for good: one clear line after --redis-timeout, and SIGTERM stops the coordinator at once', async () => {
    // A queue no worker serves: the coordinator waits on Redis alone.
    const args = (out: string, timeout: string): string[] => ['farm', clip, '-o', join(dir, out), '--redis', redis.url, '--queue', 'unserved', '--redis-timeout', timeout, '--no-flow', ...CHEAP, '--quiet'];
    const unserved = new Queue('unserved', { connection: { host: '127.0.0.1', port: redis.port } });
    const start = (out: string, timeout: string): { child: ChildProcess; result: Promise<{ code: number | null; stderr: string }> } => {
      const child = spawn(process.execPath, [BIN, ...args(out, timeout)], { stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
      return { child, result: new Promise((res) => child.once('close', (code) => res({ code, stderr }))) };
    };
    try {
      const timedOut = start('gone-a.mp4', '4');
      const stopped = start('gone-b.mp4', '600');
      await waitFor(async () => (await unserved.getJobCounts('waiting')).waiting >= 2, 60_000, 'both coordinators to queue their segments');
      await unserved.close();
      await redis.down();
      const t = Date.now();
      await new Promise((res) => setTimeout(res, 1000));
      stopped.child.kill('SIGTERM');
      const s = await stopped.result;
      expect(s.code).toBe(130);
      expect(Date.now() - t).toBeLessThan(6000);
      const g = await timedOut.result;
      expect(g.code).toBe(2);
      expect(g.stderr.trim().split('\n')).toHaveLength(1);
      expect(g.stderr).toMatch(/Redis at redis:\/\/127\.0\.0\.1:\d+ did not answer for 4 s .*run the same command again once Redis is back/);
      expect(Date.now() - t).toBeLessThan(20_000);
    } finally {
      await redis.up();
    }
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

    it('no shared secret (coordinator and worker), unless --insecure is said', async () => {
      const out = join(dir, 'nothing.mp4');
      const env = { [SECRET_ENV]: '' };
      for (const args of [['farm', clip, '-o', out, '--redis', redis.url, '--queue', QUEUE, ...CHEAP], ['worker', '--redis', redis.url, '--queue', QUEUE]]) {
        const r = await runCli(args, { env });
        expect(r.code).toBe(2);
        expect(r.stderr).toMatch(new RegExp(`no shared secret: set ${SECRET_ENV} .* or give --secret-file FILE; --insecure runs without one`));
        expect(r.stderr.trim().split('\n')).toHaveLength(1);
      }
      const short = await runCli(['worker', '--redis', redis.url, '--queue', QUEUE], { env: { [SECRET_ENV]: 'short' } });
      expect(short.code).toBe(2);
      expect(short.stderr).toMatch(/is 5 bytes; use at least 16/);
      expect(existsSync(out)).toBe(false);
      expect(await queue.getJobCounts('waiting', 'active')).toEqual({ waiting: 0, active: 0 });
    });

    it('an output that is the input', async () => {
      const before = await frameHashes(clip);
      const r = await runCli(['farm', clip, '-o', clip, '--redis', redis.url, '--queue', QUEUE, ...CHEAP]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/is the input .*pan\.mp4: write the dream to another file/);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(await frameHashes(clip)).toEqual(before);
      expect(await queue.getJobCounts('waiting', 'active')).toEqual({ waiting: 0, active: 0 });
    });

    it('a variable-rate input (the workers would resample their pieces apart)', async () => {
      const vfr = await makeVfrClip({ width: 96, height: 64, runs: [[10, 0.1], [8, 0.25]], dir, name: 'farm-vfr.mkv' });
      const out = join(dir, 'vfr-out.mp4');
      const r = await runCli(['farm', vfr, '-o', out, '--redis', redis.url, '--queue', QUEUE, ...CHEAP]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/has a variable frame rate; the farm needs a constant one/);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(existsSync(out)).toBe(false);
      expect(await queue.getJobCounts('waiting', 'active')).toEqual({ waiting: 0, active: 0 });
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

describe('a farm over TLS with a password (rediss://:PASSWORD@HOST)', () => {
  let dir: string;
  let redis: TestRedis;
  let ca: NodeJS.ProcessEnv;
  beforeAll(async () => {
    dir = tempDir();
    // A self-signed certificate for 127.0.0.1 that the processes trust through NODE_EXTRA_CA_CERTS.
    const [cert, key] = [join(dir, 'cert.pem'), join(dir, 'key.pem')];
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
    redis = await startRedis({ tls: { cert, key }, password: 'p@ss word' });
    ca = { NODE_EXTRA_CA_CERTS: cert, [SECRET_ENV]: SECRET };
  });
  afterAll(async () => {
    await redis?.stop();
  });

  it('dreams a clip through TLS and the password; a wrong password or an untrusted certificate is one clear line', async () => {
    const clip = await makePanClip({ width: 96, height: 64, fps: 12, seconds: 1, dx: 2, dy: 1, sourceWidth: 160, audio: true, keyframeInterval: 6, dir, name: 'tls.mp4' });
    const worker = spawn(process.execPath, [BIN, 'worker', '--redis', redis.url, '--workers', '1'], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...ca } });
    let log = '';
    worker.stderr!.on('data', (d: Buffer) => (log += d.toString()));
    const exited = new Promise((r) => worker.once('close', r));
    try {
      await waitFor(() => log.includes('waiting for segments on rediss://127.0.0.1:'), 60_000, `the worker to connect over TLS (${log})`);
      const out = join(dir, 'tls-out.mp4');
      const r = await runCli(['farm', clip, '-o', out, '--redis', redis.url, '--no-flow', ...CHEAP, '--json'], { env: ca });
      expect(r.code, r.stderr).toBe(0);
      expect((await probe(out)).frameCount).toBe(12);
      // The password never appears in what dreamflow prints.
      expect(log + r.stdout + r.stderr).not.toMatch(/p@ss|p%40ss/);
    } finally {
      worker.kill('SIGTERM');
      await exited;
    }
    const wrong = await runCli(['worker', '--redis', redis.url.replace('p%40ss%20word', 'wrong')], { env: ca });
    expect(wrong.code).toBe(2);
    expect(wrong.stderr.trim()).toMatch(/^dreamflow: cannot reach Redis at rediss:\/\/127\.0\.0\.1:\d+: WRONGPASS/);
    const untrusted = await runCli(['worker', '--redis', redis.url], { env: { [SECRET_ENV]: SECRET } });
    expect(untrusted.code).toBe(2);
    expect(untrusted.stderr.trim()).toMatch(/^dreamflow: cannot reach Redis at rediss:\/\/127\.0\.0\.1:\d+: self-signed certificate$/);
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
    // Decoding starts at the keyframe before the warm-up…
    expect(plan.map((s) => s.decodeFrom)).toEqual([0, 0, 8, 16]);
    // …which starts a piece of the stream-copied input, cut half a frame before the keyframe.
    const pieces = planPieces(table, plan);
    expect(pieces.edges).toEqual([0, 8, 16, 30]);
    expect(pieces.splitTimes[1]).toBeCloseTo(1.55, 6);
    expect(pieces.uses).toEqual([[0], [0, 1], [1, 2], [2]]);
    // With --duration the rest of the file is never shipped: it ends at the next keyframe.
    const short = planSegments(table, { first: 0, end: 20 }, { segmentFrames: 8, warmup: 4 });
    expect(planPieces(table, short).edges).toEqual([0, 8, 24, 30]);
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

  it('reads size, codec and crf from the spec, as the coordinator and every worker do', () => {
    const read = (args: string[]) => farmVideoOf(specFromArgs('video', ['in.mp4', ...args]).spec);
    expect(read(['-o', 'out.webm', '--size', '480p', '--crf', '30'])).toMatchObject({ input: 'in.mp4', output: 'out.webm', size: { fit: 480, side: 'short' }, codec: 'libvpx-vp9', crf: 30 });
    // A crf left out stays the encoder's own choice for its codec (not the field's default).
    expect(read(['-o', 'out.mp4', '--start', '1', '--duration', '2'])).toMatchObject({ size: undefined, start: 1, duration: 2, codec: 'libx264', crf: undefined });
    expect(() => read(['-o', 'out.webm', '--codec', 'libx264'])).toThrow(/cannot hold libx264/);
  });

  it('signs jobs and results under the shared secret; --insecure is explicit', async () => {
    const secret = Buffer.from('0123456789abcdef0123');
    const job = { version: PROTOCOL_VERSION, farmId: 'f', segment: 1 } as unknown as SegmentJob;
    expect(openJob(secret, signJob(secret, job))).toEqual(job);
    expect(() => openJob(secret, signJob(null, job))).toThrow(/signature/);
    const tampered = signJob(secret, job);
    expect(() => openJob(secret, { ...tampered, payload: tampered.payload.replace('"segment":1', '"segment":2') })).toThrow(/signature/);
    expect(openJob(null, signJob(null, job))).toEqual(job);
    const parts = { body: Buffer.from('body'), tail: Buffer.from('tail') };
    const mac = Buffer.from(resultMac(secret, 'f', 1, parts));
    expect(checkResultMac(secret, 'f', 1, parts, mac)).toBe(true);
    expect(checkResultMac(secret, 'f', 2, parts, mac)).toBe(false);
    expect(checkResultMac(secret, 'f', 1, { body: parts.tail, tail: parts.body }, mac)).toBe(false);
    expect(checkResultMac(secret, 'f', 1, parts, undefined)).toBe(false);
    await expect(loadSecret({ insecure: false, env: {}, command: 'farm' })).rejects.toThrow(/no shared secret/);
    expect(await loadSecret({ insecure: true, env: {}, command: 'farm' })).toBeNull();
    await expect(loadSecret({ insecure: true, env: { [SECRET_ENV]: 'a-long-enough-secret' }, command: 'farm' })).rejects.toThrow(/contradict/);
  });

  it('inflates a stored part only up to the frames it should hold', async () => {
    const bomb = deflateRawSync(Buffer.alloc(64 * 1024 * 1024));
    expect(bomb.length).toBeLessThan(100_000);
    await expect(unpackFrames(bomb, 96 * 64 * 3, 8)).rejects.toThrow(/larger than|maxOutputLength|buffer/i);
    const two = deflateRawSync(Buffer.alloc(2 * 12));
    expect(await unpackFrames(two, 12, 2)).toHaveLength(2);
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
