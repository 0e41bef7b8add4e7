/**
 * The farm's coordinator: cuts the input into keyframe-aligned segments, queues one BullMQ job
 * per segment, collects the finished segments from Redis, and joins them without re-encoding
 * with the original sound.
 *
 * It keeps no state of its own that matters: job ids are derived from the input and the
 * settings, so a coordinator started again (after a crash, Ctrl-C, or on another machine) adds
 * the same jobs — a no-op for those already there — and carries on from the queue's state.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Queue, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { UserError } from '../errors.js';
import { concatSegments } from '../media/concat.js';
import { FrameEncoder } from '../media/encoder.js';
import { probe } from '../media/probe.js';
import { writeAtomic, workDirFor } from '../pipeline/checkpoint.js';
import type { Rational } from '../frame.js';
import type { PipelineSpec } from '../pipeline/spec.js';
import { checkVideoOutput, workingSize } from '../pipeline/videoJob.js';
import type { SizeSpec } from '../media/size.js';
import { frameRange, parseSegmentLength, planSegments, readFrameTable, type SegmentPlan } from './plan.js';
import { crossFade, dissolveWeight, unpackFrames } from './dissolve.js';
import { PROTOCOL_VERSION, SEGMENT_PARTS, doneKey, jobIdOf, resultKey, type SegmentJob, type SegmentPart, type SegmentResult } from './protocol.js';
import { connectRedis, connectionOptions, type RedisTarget } from './redis.js';

/**
 * Frames of each cut's dissolve: the next segment's worker dreams them too (its warm-up) and
 * they are cross-faded with the previous segment's last frames. A warm-up whose frames are
 * simply thrown away does not work: a carried dream keeps the patterns it started with (two
 * runs of the default preset started 10 frames apart still differed by RMS 11 grey levels,
 * residuals 9, after 30 more frames), so the cut would jump from one set of patterns to
 * another. Dissolving over n frames spreads that jump over n+1 equal steps; 8 frames
 * (a third of a second at 24 fps) bring the flicker across cuts to that inside segments
 * (test/farm.test.ts, bench/farm.ts) for 8 / (segment length) extra work.
 */
export const DEFAULT_WARMUP = 8;
export const DEFAULT_SEGMENT = '10s';

export interface FarmOptions {
  input: string;
  output: string;
  redis: RedisTarget;
  queue: string;
  /** Segment length: `10s`, `500ms`, `240f`. */
  segment?: string | undefined;
  warmup?: number | undefined;
  size?: SizeSpec | undefined;
  start?: number | undefined;
  duration?: number | undefined;
  /** The video pipeline spec whose stages every segment goes through (sent with each job). */
  spec: PipelineSpec;
  codec?: string | undefined;
  crf?: number | undefined;
  pollMs?: number;
  signal?: AbortSignal | undefined;
  onProgress?: (progress: FarmProgress) => void;
  onWarning?: (message: string) => void;
  /** Called once the segments are known (before waiting). */
  onPlan?: (plan: { farmId: string; segments: number; frames: number; alreadyDone: number }) => void;
}

export interface FarmProgress {
  framesDone: number;
  framesTotal: number;
  segmentsDone: number;
  segments: number;
  /** Segments being dreamed right now. */
  active: number;
  /** Workers connected to the queue. */
  workers: number;
}

export interface FarmResult {
  output: string;
  farmId: string;
  frames: number;
  segments: number;
  /** Output frame numbers where a segment starts (0 excluded): the cuts between workers. */
  cuts: number[];
  fps: Rational;
  width: number;
  height: number;
  warmup: number;
  segmentFrames: number;
  /** Frames the workers dream: every frame once plus each cut's dissolve (the farm's extra work). */
  dreamedFrames: number;
  /** Wall time of this coordinator run. */
  seconds: number;
  /** Distinct workers that dreamed the segments. */
  workers: string[];
  /** Segments already finished when this run started (a resumed coordinator). */
  resumedSegments: number;
  /** Times a segment was taken back from a worker that stopped renewing its lock. */
  stalled: number;
  /** Longest event-loop stall any worker saw (must stay well under the heartbeat). */
  maxEventLoopStallMs: number;
}

const JOB_ATTEMPTS = 3;
const QUEUE_NAME = /^[A-Za-z0-9_.-]{1,64}$/;

export function checkQueueName(name: string): string {
  if (!QUEUE_NAME.test(name)) throw new UserError(`--queue must be 1-64 letters, digits, "_", "." or "-" (got "${name}")`);
  return name;
}

export async function runFarm(opts: FarmOptions): Promise<FarmResult> {
  const started = performance.now();
  const queueName = checkQueueName(opts.queue);
  await checkVideoOutput(opts.output);
  const input = resolve(opts.input);
  const output = resolve(opts.output);
  const media = await probe(input);
  const size = workingSize(media.width, media.height, opts.size);
  const fps = media.fps;
  const segmentFrames = parseSegmentLength(opts.segment ?? DEFAULT_SEGMENT, fps.num / fps.den);
  const warmup = opts.warmup ?? DEFAULT_WARMUP;

  const table = await readFrameTable(input);
  if (table.times.length !== media.frameCount) {
    opts.onWarning?.(`${opts.input}: the container states ${media.frameCount} frames, its packets ${table.times.length}; dreaming the ${table.times.length} there are`);
  }
  const range = frameRange(table.times, opts.start, opts.duration);
  if (range.end <= range.first) throw new UserError(`${opts.input}: no frames to dream (is --start past the end?)`);
  const plan = planSegments(table, range, { segmentFrames, warmup });
  if (plan.length === 1 && range.end - range.first > 2 * segmentFrames) {
    opts.onWarning?.(`${opts.input} has too few keyframes to split (one segment, one worker); re-encode it with a shorter keyframe interval (ffmpeg -g)`);
  }

  const inputStat = await stat(input);
  const farmId = createHash('sha256')
    .update(
      JSON.stringify({
        version: PROTOCOL_VERSION,
        input: { path: input, bytes: inputStat.size, mtimeMs: Math.round(inputStat.mtimeMs) },
        output,
        stages: opts.spec.stages,
        size,
        codec: opts.codec ?? null,
        crf: opts.crf ?? null,
        segments: plan.map((s) => [s.first, s.end, s.warmupFrom]),
      }),
    )
    .digest('hex')
    .slice(0, 16);

  const store = await connectRedis(opts.redis);
  const queue = new Queue<SegmentJob, SegmentResult>(queueName, { connection: connectionOptions(opts.redis) });
  queue.on('error', () => undefined);
  try {
    const dir = await workDir(output, farmId);
    const name = (n: number): string => String(n).padStart(5, '0');
    const partPath = (s: SegmentPlan, part: SegmentPart): string => join(dir, `seg-${name(s.index)}.${part === 'body' ? 'mp4' : `${part}.rgbz`}`);
    // Written last when a segment is collected: its parts are all there.
    const collectedPath = (s: SegmentPlan): string => join(dir, `seg-${name(s.index)}.collected`);
    const cutPath = (s: SegmentPlan): string => join(dir, `cut-${name(s.index)}.mp4`);
    const hasBody = (s: SegmentPlan): boolean => s.tailFrom > s.first;
    const hasCut = (s: SegmentPlan): boolean => s.first > s.warmupFrom;
    const have = new Set(plan.filter((s) => existsSync(collectedPath(s))).map((s) => s.index));
    const stored = new Set((await store.smembers(doneKey(queueName, farmId))).map(Number));
    const jobOf = (s: SegmentPlan): SegmentJob => ({
      version: PROTOCOL_VERSION,
      farmId,
      segment: s.index,
      segments: plan.length,
      input,
      spec: opts.spec,
      width: size.width,
      height: size.height,
      fps,
      codec: opts.codec,
      crf: opts.crf,
      first: s.first,
      end: s.end,
      warmupFrom: s.warmupFrom,
      tailFrom: s.tailFrom,
      decodeFrom: s.decodeFrom,
      seekSeconds: s.seekSeconds,
      indexBase: range.first,
    });
    const jobOptions = (s: SegmentPlan) => ({
      jobId: jobIdOf(farmId, s.index),
      attempts: JOB_ATTEMPTS,
      backoff: { type: 'fixed', delay: 3000 },
      removeOnComplete: false,
      removeOnFail: false,
    });
    const requeue = async (s: SegmentPlan): Promise<void> => {
      await (await queue.getJob(jobIdOf(farmId, s.index)))?.remove().catch(() => undefined);
      await store.srem(doneKey(queueName, farmId), String(s.index));
      await queue.add(`segment-${s.index}`, jobOf(s), jobOptions(s));
    };

    /** Frames [s.warmupFrom, s.first): the previous segment's tail fading into this one's head, encoded as the bodies are. */
    const encodeDissolve = async (previous: SegmentPlan, s: SegmentPlan): Promise<void> => {
      const frameBytes = size.width * size.height * 3;
      const tail = await unpackFrames(await readFile(partPath(previous, 'tail')), frameBytes);
      const head = await unpackFrames(await readFile(partPath(s, 'head')), frameBytes);
      const n = s.first - s.warmupFrom;
      if (tail.length !== n || head.length !== n) throw new Error(`cut ${s.index}: ${tail.length} tail and ${head.length} head frames for a ${n}-frame dissolve`);
      const encoder = await FrameEncoder.open(cutPath(s), { ...size, fps, codec: opts.codec, crf: opts.crf, faststart: false });
      try {
        for (let j = 0; j < n; j++) {
          const data = crossFade(tail[j]!, head[j]!, dissolveWeight(j, n));
          await encoder.write({ index: s.warmupFrom + j - range.first, ptsSeconds: 0, ...size, data });
        }
        await encoder.close();
      } catch (err) {
        await encoder.abort();
        throw err;
      }
    };

    // Reconcile with what the queue already knows (a restarted coordinator).
    const fresh: SegmentPlan[] = [];
    for (const s of plan) {
      if (have.has(s.index)) continue;
      const job = await queue.getJob(jobIdOf(farmId, s.index));
      if (!job) {
        fresh.push(s);
        continue;
      }
      const state = await job.getState();
      if (state === 'failed') await job.retry('failed');
      else if (state === 'completed' && !(stored.has(s.index) && (await store.exists(resultKey(queueName, farmId, s.index))))) await requeue(s);
    }
    if (fresh.length > 0) await queue.addBulk(fresh.map((s) => ({ name: `segment-${s.index}`, data: jobOf(s), opts: jobOptions(s) })));
    const alreadyDone = have.size + plan.filter((s) => !have.has(s.index) && stored.has(s.index)).length;
    opts.onPlan?.({ farmId, segments: plan.length, frames: range.end - range.first, alreadyDone });

    const totalFrames = range.end - range.first;
    const prefix = `${farmId}-`;
    while (have.size < plan.length) {
      if (opts.signal?.aborted) {
        throw new UserError(
          `interrupted with ${have.size} of ${plan.length} segments collected; the workers go on with the rest: run the same command again to collect them and finish`,
          130,
        );
      }
      for (const n of (await store.smembers(doneKey(queueName, farmId))).map(Number)) {
        const s = plan[n];
        if (!s || have.has(n)) continue;
        const key = resultKey(queueName, farmId, n);
        const parts = await store.hgetallBuffer(key);
        if (!parts['tail'] && !parts['body']) {
          await requeue(s);
          continue;
        }
        for (const part of SEGMENT_PARTS) {
          const data = parts[part];
          if (data) await writeAtomic(partPath(s, part), data);
        }
        if (hasBody(s)) {
          const frames = parts['body'] ? (await probe(partPath(s, 'body'))).frameCount : 0;
          if (frames !== s.tailFrom - s.first) throw new Error(`segment ${n + 1} came back with ${frames} encoded frames instead of ${s.tailFrom - s.first}`);
        }
        await writeAtomic(collectedPath(s), '');
        have.add(n);
        await store.del(key);
      }
      // Dissolves whose two halves are both here are made while the workers go on.
      for (const s of plan) {
        if (s.index > 0 && hasCut(s) && have.has(s.index) && have.has(s.index - 1) && !existsSync(cutPath(s))) {
          await encodeDissolve(plan[s.index - 1]!, s);
        }
      }
      const failed = (await queue.getJobs(['failed'])).filter((j) => j.id?.startsWith(prefix));
      if (failed.length > 0) {
        const j = failed[0]!;
        await abandon(queue, store, queueName, farmId, plan, have);
        throw new UserError(`segment ${j.data.segment + 1}/${plan.length} failed${j.processedBy ? ` on ${j.processedBy}` : ''}: ${j.failedReason}`);
      }
      const active = (await queue.getJobs(['active'])).filter((j) => j.id?.startsWith(prefix));
      const framesDone =
        plan.filter((s) => have.has(s.index)).reduce((sum, s) => sum + s.end - s.first, 0) +
        active.reduce((sum, j) => sum + (typeof j.progress === 'number' && !have.has(j.data.segment) ? j.progress : 0), 0);
      opts.onProgress?.({
        framesDone: Math.min(totalFrames, framesDone),
        framesTotal: totalFrames,
        segmentsDone: have.size,
        segments: plan.length,
        active: active.length,
        workers: await queue.getWorkersCount(),
      });
      if (have.size < plan.length) await sleep(opts.pollMs ?? 500, opts.signal);
    }

    for (const s of plan) {
      if (s.index > 0 && hasCut(s) && !existsSync(cutPath(s))) await encodeDissolve(plan[s.index - 1]!, s);
    }

    // Who did what, before the jobs are removed.
    const jobs = (await Promise.all(plan.map((s) => queue.getJob(jobIdOf(farmId, s.index))))).filter((j): j is Job<SegmentJob, SegmentResult> => j !== undefined);
    const results = jobs.map((j) => j.returnvalue).filter((r): r is SegmentResult => Boolean(r));

    const pieces: string[] = [];
    for (const s of plan) {
      if (s.index > 0 && hasCut(s)) pieces.push(cutPath(s));
      if (hasBody(s)) pieces.push(partPath(s, 'body'));
    }
    await concatSegments(
      pieces,
      output,
      { audioFrom: { path: input, start: opts.start, duration: opts.duration } },
    );
    const joined = (await probe(output)).frameCount;
    if (joined !== totalFrames) {
      // Never leave a video with a missing or doubled frame under the asked name.
      await rm(output, { force: true });
      throw new Error(`the joined video had ${joined} frames instead of ${totalFrames}; the segments are kept in ${dir}`);
    }

    for (const s of plan) await queue.remove(jobIdOf(farmId, s.index)).catch(() => undefined);
    await store.del(doneKey(queueName, farmId));
    await rm(dir, { recursive: true, force: true });
    return {
      output: opts.output,
      farmId,
      frames: totalFrames,
      segments: plan.length,
      cuts: plan.slice(1).map((s) => s.first - range.first),
      fps,
      width: size.width,
      height: size.height,
      warmup,
      segmentFrames,
      dreamedFrames: plan.reduce((sum, s) => sum + s.end - s.warmupFrom, 0),
      seconds: (performance.now() - started) / 1000,
      workers: [...new Set(results.map((r) => r.worker))].sort(),
      resumedSegments: alreadyDone,
      stalled: jobs.reduce((sum, j) => sum + (j.stalledCounter ?? 0), 0),
      maxEventLoopStallMs: results.reduce((m, r) => Math.max(m, r.maxEventLoopStallMs), 0),
    };
  } finally {
    await queue.close();
    store.disconnect();
  }
}

/** The coordinator's folder next to the output; another farm's leftovers there are cleared. */
async function workDir(output: string, farmId: string): Promise<string> {
  const dir = `${workDirFor(output)}-farm`;
  const marker = join(dir, 'farm.json');
  let previous: string | undefined;
  try {
    previous = (JSON.parse(await readFile(marker, 'utf8')) as { farmId?: string }).farmId;
  } catch {
    previous = undefined;
  }
  if (previous !== farmId) {
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true });
    await writeAtomic(marker, JSON.stringify({ farmId }));
  }
  return dir;
}

/** A segment failed for good: take this farm's remaining work off the queue so workers stop on it. */
async function abandon(queue: Queue<SegmentJob, SegmentResult>, store: Redis, queueName: string, farmId: string, plan: SegmentPlan[], have: Set<number>): Promise<void> {
  for (const s of plan) {
    if (have.has(s.index)) continue;
    await queue.remove(jobIdOf(farmId, s.index)).catch(() => undefined);
    await store.del(resultKey(queueName, farmId, s.index));
  }
  await store.del(doneKey(queueName, farmId));
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
