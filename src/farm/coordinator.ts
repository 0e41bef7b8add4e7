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
import { extname, join, resolve } from 'node:path';
import { Queue, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { UserError } from '../errors.js';
import { concatSegments } from '../media/concat.js';
import { FrameEncoder } from '../media/encoder.js';
import { probe, probeFrameTiming } from '../media/probe.js';
import { formatRate } from '../media/decoder.js';
import { writeAtomic, workDirFor } from '../pipeline/checkpoint.js';
import type { Rational } from '../frame.js';
import type { PipelineSpec } from '../pipeline/spec.js';
import { checkVideoOutput, workingSize } from '../pipeline/videoJob.js';
import type { SizeSpec } from '../media/size.js';
import { checkResultMac, sha256, signJob, type FarmSecret } from './auth.js';
import { frameRange, parseSegmentLength, planPieces, planSegments, readFrameTable, type SegmentPlan } from './plan.js';
import { crossFade, dissolveWeight, unpackFrames } from './dissolve.js';
import {
  PROTOCOL_VERSION,
  SEGMENT_PARTS,
  doneKey,
  guideKey,
  jobIdOf,
  pieceKey,
  resultKey,
  segmentOfJobId,
  type SegmentPart,
  type SegmentResult,
  type SignedJob,
  type SourcePiece,
} from './protocol.js';
import { MAX_GUIDE_BYTES, cutPieces, shipFile } from './source.js';
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
  /** The farm's shared secret (null: `--insecure`): jobs are signed with it, results checked. */
  secret: FarmSecret;
  /** Segments kept on the queue (their pieces in Redis) ahead of the collected ones; at least twice the workers. */
  ahead?: number | undefined;
  /** Seconds Redis may go without answering before the coordinator gives up with one line. */
  redisTimeoutSeconds?: number | undefined;
  /**
   * Seconds without progress and without an active segment after which segments whose jobs
   * completed without a result are queued again (at most STALL_REQUEUES times each, then one line).
   */
  stallSeconds?: number | undefined;
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
export const DEFAULT_STALL_SECONDS = 60;
/** Times one segment's job may complete without a result reaching the coordinator before it stops. */
const STALL_REQUEUES = 3;
export const DEFAULT_REDIS_TIMEOUT_SECONDS = 60;
/** Segments kept queued ahead of the collected ones (at least; twice the connected workers when more). */
export const DEFAULT_AHEAD = 16;
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
  const timing = await probeFrameTiming(input, media);
  // Segments are planned on packets, one frame each; a variable-rate input would be resampled by
  // every worker's decoder on its own pieces, and the segments would not meet.
  if (timing?.variable) {
    throw new UserError(`${opts.input} has a variable frame rate; the farm needs a constant one: dream it with "dreamflow video", or make it constant first (ffmpeg -i IN -vf fps=${formatRate(timing.fps)} OUT.mp4)`);
  }
  const fps = timing?.fps ?? media.fps;
  const segmentFrames = parseSegmentLength(opts.segment ?? DEFAULT_SEGMENT, fps.num / fps.den);
  const warmup = opts.warmup ?? DEFAULT_WARMUP;
  const frameBytes = size.width * size.height * 3;

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
  const pieces = planPieces(table, plan);
  const guide = await readGuide(opts.spec);

  const inputStat = await stat(input);
  const farmId = createHash('sha256')
    .update(
      JSON.stringify({
        version: PROTOCOL_VERSION,
        input: { path: input, bytes: inputStat.size, mtimeMs: Math.round(inputStat.mtimeMs) },
        output,
        stages: opts.spec.stages,
        guide: guide?.sha256 ?? null,
        size,
        codec: opts.codec ?? null,
        crf: opts.crf ?? null,
        segments: plan.map((s) => [s.first, s.end, s.warmupFrom]),
      }),
    )
    .digest('hex')
    .slice(0, 16);

  const deadlineMs = (opts.redisTimeoutSeconds ?? DEFAULT_REDIS_TIMEOUT_SECONDS) * 1000;
  // Every Redis round trip is bounded and interruptible: a Redis that went away must not make
  // the coordinator wait forever, nor ignore Ctrl-C / SIGTERM while it waits.
  const bounded = <T>(work: Promise<T>, what: string): Promise<T> => withDeadline(work, deadlineMs, opts.signal, `Redis at ${opts.redis.display} did not answer for ${deadlineMs / 1000} s (${what}); the segments collected so far are kept: run the same command again once Redis is back`);

  const store = await connectRedis(opts.redis);
  const queue = new Queue<SignedJob, SegmentResult>(queueName, { connection: connectionOptions(opts.redis) });
  queue.on('error', () => undefined);
  let have = new Set<number>();
  try {
    const dir = await workDir(output, farmId);
    const name = (n: number): string => String(n).padStart(5, '0');
    const partPath = (s: SegmentPlan, part: SegmentPart): string => join(dir, `seg-${name(s.index)}.${part === 'body' ? 'mp4' : `${part}.rgbz`}`);
    // Written last when a segment is collected: its parts are all there and were checked.
    const collectedPath = (s: SegmentPlan): string => join(dir, `seg-${name(s.index)}.collected`);
    const cutPath = (s: SegmentPlan): string => join(dir, `cut-${name(s.index)}.mp4`);
    const hasBody = (s: SegmentPlan): boolean => s.tailFrom > s.first;
    const hasCut = (s: SegmentPlan): boolean => s.first > s.warmupFrom;
    have = new Set(plan.filter((s) => existsSync(collectedPath(s))).map((s) => s.index));

    const needed = new Set(pieces.uses.flat());
    const cut = await cutPieces(input, pieces.edges, pieces.splitTimes, needed, dir);
    const pieceOf = (i: number): SourcePiece => {
      const p = cut.get(i)!;
      return { key: pieceKey(queueName, farmId, i), bytes: p.bytes, sha256: p.sha256, frames: p.frames, format: p.format };
    };
    /** Store what the segments not yet collected need (again, after Redis lost it). */
    const ship = async (segments: readonly SegmentPlan[]): Promise<void> => {
      for (const i of new Set(segments.flatMap((s) => pieces.uses[s.index]!))) {
        if (opts.signal?.aborted) throw interrupted(have.size, plan.length);
        const p = pieceOf(i);
        await bounded(shipFile(store, p.key, cut.get(i)!.path, p), 'storing the input\'s pieces');
      }
      if (guide) await bounded(shipFile(store, guideKey(queueName, farmId), guide.path, guide), 'storing the guide image');
    };
    const jobSpec: PipelineSpec = guide ? { ...opts.spec, stages: opts.spec.stages.map((st) => (st.kind === 'dream' ? { ...st, guide: guide.name } : st)) } : opts.spec;
    const jobOf = (s: SegmentPlan): SignedJob =>
      signJob(opts.secret, {
        version: PROTOCOL_VERSION,
        farmId,
        segment: s.index,
        segments: plan.length,
        pieces: pieces.uses[s.index]!.map(pieceOf),
        ...(guide ? { guide: { key: guideKey(queueName, farmId), bytes: guide.bytes, sha256: guide.sha256, name: guide.name } } : {}),
        spec: jobSpec,
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
        indexBase: range.first,
      });
    const jobOptions = (s: SegmentPlan) => ({
      jobId: jobIdOf(farmId, s.index),
      attempts: JOB_ATTEMPTS,
      backoff: { type: 'fixed', delay: 3000 },
      removeOnComplete: false,
      removeOnFail: false,
    });
    // Segments on the queue (and their pieces in Redis) and not yet collected. At most `window`
    // of them at a time, so Redis holds a few segments' worth of video, not the whole file.
    const queued = new Set<number>();
    const requeue = async (s: SegmentPlan): Promise<void> => {
      await (await queue.getJob(jobIdOf(farmId, s.index)))?.remove().catch(() => undefined);
      await store.srem(doneKey(queueName, farmId), String(s.index));
      await ship([s]);
      await queue.add(`segment-${s.index}`, jobOf(s), jobOptions(s));
      queued.add(s.index);
    };
    const refuse = async (s: SegmentPlan, reason: string): Promise<void> => {
      for (const part of SEGMENT_PARTS) await rm(partPath(s, part), { force: true });
      await store.del(resultKey(queueName, farmId, s.index));
      opts.onWarning?.(`segment ${s.index + 1}/${plan.length}: refused a stored result that ${reason} (not made by a worker holding this farm's secret, or damaged); queued it again`);
      await requeue(s);
    };
    /**
     * Check a stored result before anything of it is used: sizes first (read without the
     * bytes), then the MAC, then the frames inside (inflated under a cap, the body probed).
     * Returns why it is refused, or undefined once its parts are on disk.
     */
    const collect = async (s: SegmentPlan): Promise<string | undefined> => {
      const key = resultKey(queueName, farmId, s.index);
      const frames: Record<SegmentPart, number> = { body: s.tailFrom - s.first, head: s.first - s.warmupFrom, tail: s.end - s.tailFrom };
      for (const part of SEGMENT_PARTS) {
        const length = await store.hstrlen(key, part);
        const cap = partCap(frames[part], frameBytes);
        if (frames[part] === 0 ? length !== 0 : length === 0) return `has ${length === 0 ? 'no' : 'an unexpected'} ${part}`;
        if (length > cap) return `has a ${length}-byte ${part}, over the ${cap} bytes ${frames[part]} frames can take`;
      }
      const [body, head, tail, mac] = await store.hmgetBuffer(key, 'body', 'head', 'tail', 'mac');
      const parts: Partial<Record<SegmentPart, Buffer>> = {};
      if (body) parts.body = body;
      if (head) parts.head = head;
      if (tail) parts.tail = tail;
      if (!checkResultMac(opts.secret, farmId, s.index, parts, mac ?? undefined)) return 'carries no valid signature';
      for (const part of ['head', 'tail'] as const) {
        const data = parts[part];
        if (!data) continue;
        const count = await unpackFrames(data, frameBytes, frames[part]).then((f) => f.length, () => -1);
        if (count !== frames[part]) return `has a ${part} that does not hold ${frames[part]} frames of ${size.width}x${size.height}`;
      }
      for (const part of SEGMENT_PARTS) {
        const data = parts[part];
        if (data) await writeAtomic(partPath(s, part), data);
      }
      if (hasBody(s)) {
        const count = await probe(partPath(s, 'body')).then((m) => (m.width === size.width && m.height === size.height ? m.frameCount : -1), () => -1);
        if (count !== frames.body) return `has a body that is not ${frames.body} encoded frames of ${size.width}x${size.height}`;
      }
      await writeAtomic(collectedPath(s), '');
      return undefined;
    };

    /** Frames [s.warmupFrom, s.first): the previous segment's tail fading into this one's head, encoded as the bodies are. */
    const encodeDissolve = async (previous: SegmentPlan, s: SegmentPlan): Promise<void> => {
      const n = s.first - s.warmupFrom;
      const tail = await unpackFrames(await readFile(partPath(previous, 'tail')), frameBytes, n);
      const head = await unpackFrames(await readFile(partPath(s, 'head')), frameBytes, n);
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
    const stored = new Set((await bounded(store.smembers(doneKey(queueName, farmId)), 'reading the finished segments')).map(Number));
    const window = async (): Promise<number> => Math.max(opts.ahead ?? DEFAULT_AHEAD, 2 * (await queue.getWorkersCount()));
    /** Queue more segments, in order, up to the window. */
    const topUp = async (): Promise<void> => {
      const room = (await window()) - queued.size;
      const next = plan.filter((s) => !have.has(s.index) && !queued.has(s.index)).slice(0, Math.max(0, room));
      if (next.length === 0) return;
      await ship(next);
      await queue.addBulk(next.map((s) => ({ name: `segment-${s.index}`, data: jobOf(s), opts: jobOptions(s) })));
      for (const s of next) queued.add(s.index);
    };
    /** A collected segment's pieces that no segment still to collect needs leave Redis. */
    const dropPieces = async (s: SegmentPlan): Promise<void> => {
      for (const i of pieces.uses[s.index]!) {
        if (pieces.uses.every((u, n) => have.has(n) || !u.includes(i))) await store.del(pieceKey(queueName, farmId, i));
      }
    };
    for (const s of plan) {
      if (have.has(s.index)) continue;
      const job = await bounded(queue.getJob(jobIdOf(farmId, s.index)), 'reading the queue');
      if (!job) continue;
      // Already on the queue (a restarted coordinator): keep it, with its pieces stored again if gone.
      queued.add(s.index);
      await ship([s]);
      const state = await job.getState();
      if (state === 'failed') await job.retry('failed');
      else if (state === 'completed' && !(stored.has(s.index) && (await store.exists(resultKey(queueName, farmId, s.index))))) await requeue(s);
    }
    await bounded(topUp(), 'queueing the segments');
    const alreadyDone = have.size + plan.filter((s) => !have.has(s.index) && stored.has(s.index)).length;
    opts.onPlan?.({ farmId, segments: plan.length, frames: range.end - range.first, alreadyDone });

    const totalFrames = range.end - range.first;
    const prefix = `${farmId}-`;
    // The stall watch: when nothing was collected and no segment was active for stallMs, a job
    // that completed without its result arriving (a job replayed under another id, a rogue
    // client answering the queue) is queued again; one that keeps doing so stops the run.
    const stallMs = (opts.stallSeconds ?? DEFAULT_STALL_SECONDS) * 1000;
    let progressAt = performance.now();
    let progressMark = '';
    const emptyCompletions = new Map<number, number>();
    const watchStall = async (done: Set<number>, active: number, framesDone: number): Promise<void> => {
      const mark = `${have.size}/${framesDone}`;
      if (active > 0 || mark !== progressMark) {
        progressMark = mark;
        progressAt = performance.now();
        return;
      }
      if (performance.now() - progressAt < stallMs) return;
      progressAt = performance.now();
      const completed = new Set((await queue.getJobs(['completed'])).filter((j) => j.id?.startsWith(prefix)).map((j) => segmentOfJobId(j.id!)));
      // Read again after the job states: a segment that finished since this poll began is not empty.
      const doneNow = new Set((await store.smembers(doneKey(queueName, farmId))).map(Number));
      const empty = plan.filter((s) => queued.has(s.index) && !have.has(s.index) && !done.has(s.index) && !doneNow.has(s.index) && completed.has(s.index));
      for (const s of empty) {
        const times = (emptyCompletions.get(s.index) ?? 0) + 1;
        emptyCompletions.set(s.index, times);
        if (times > STALL_REQUEUES) {
          await abandon(queue, store, queueName, farmId, plan, have);
          throw new UserError(
            `segment ${s.index + 1}/${plan.length}: its job completed ${times} times without a result reaching the coordinator (a job replayed under another id, or a client that is not a dreamflow worker, answers queue ${queueName}); stopped with ${have.size} of ${plan.length} segments collected`,
          );
        }
      }
      if (empty.length > 0) {
        opts.onWarning?.(`no progress for ${stallMs / 1000} s: ${empty.length} segment job(s) completed without a result (${empty.map((s) => s.index + 1).join(', ')} of ${plan.length}); queued them again`);
        for (const s of empty) await requeue(s);
      }
    };
    /** One look at the queue: collect what finished, notice a Redis that lost the farm, report. */
    const poll = async (): Promise<void> => {
      const done = new Set((await store.smembers(doneKey(queueName, farmId))).map(Number));
      for (const n of done) {
        const s = plan[n];
        if (!s || have.has(n)) continue;
        const refused = await collect(s);
        if (refused) {
          await refuse(s, refused);
          continue;
        }
        have.add(n);
        queued.delete(n);
        await store.del(resultKey(queueName, farmId, n));
        await dropPieces(s);
      }
      await topUp();
      // Dissolves whose two halves are both here are made while the workers go on.
      for (const s of plan) {
        if (s.index > 0 && hasCut(s) && have.has(s.index) && have.has(s.index - 1) && !existsSync(cutPath(s))) {
          await encodeDissolve(plan[s.index - 1]!, s);
        }
      }
      // Only this coordinator removes this farm's jobs: one missing without a stored result
      // means Redis lost its data (restarted without persistence, flushed, failed over).
      const waiting = plan.filter((s) => queued.has(s.index) && !have.has(s.index) && !done.has(s.index));
      const exists = waiting.length === 0 ? [] : ((await waiting.reduce((p, s) => p.exists(queue.toKey(jobIdOf(farmId, s.index))), store.pipeline()).exec()) ?? []);
      const lost = waiting.filter((_, i) => exists[i]?.[1] === 0);
      if (lost.length > 0) {
        opts.onWarning?.(`Redis at ${opts.redis.display} lost ${lost.length} of this farm's segment job(s) (restarted empty or flushed?); queued them again`);
        for (const s of lost) await requeue(s);
      }
      // A segment collected already keeps its result, whatever a later run of its job did.
      const failed = (await queue.getJobs(['failed'])).filter((j) => j.id?.startsWith(prefix) && !have.has(segmentOfJobId(j.id)));
      if (failed.length > 0) {
        const j = failed[0]!;
        await abandon(queue, store, queueName, farmId, plan, have);
        throw new UserError(`segment ${segmentOfJobId(j.id!) + 1}/${plan.length} failed${j.processedBy ? ` on ${j.processedBy}` : ''}: ${j.failedReason}`);
      }
      const active = (await queue.getJobs(['active'])).filter((j) => j.id?.startsWith(prefix));
      const framesDone =
        plan.filter((s) => have.has(s.index)).reduce((sum, s) => sum + s.end - s.first, 0) +
        active.reduce((sum, j) => sum + (typeof j.progress === 'number' && !have.has(segmentOfJobId(j.id!)) ? j.progress : 0), 0);
      await watchStall(done, active.length, framesDone);
      opts.onProgress?.({
        framesDone: Math.min(totalFrames, framesDone),
        framesTotal: totalFrames,
        segmentsDone: have.size,
        segments: plan.length,
        active: active.length,
        workers: await queue.getWorkersCount(),
      });
    };
    while (have.size < plan.length) {
      if (opts.signal?.aborted) throw interrupted(have.size, plan.length);
      await bounded(poll(), 'waiting for the segments');
      if (have.size < plan.length) await sleep(opts.pollMs ?? 500, opts.signal);
    }

    for (const s of plan) {
      if (s.index > 0 && hasCut(s) && !existsSync(cutPath(s))) await encodeDissolve(plan[s.index - 1]!, s);
    }

    // Who did what, before the jobs are removed.
    const jobs = (await Promise.all(plan.map((s) => queue.getJob(jobIdOf(farmId, s.index))))).filter((j): j is Job<SignedJob, SegmentResult> => j !== undefined);
    const results = jobs.map((j) => j.returnvalue).filter((r): r is SegmentResult => Boolean(r));

    const joined: string[] = [];
    for (const s of plan) {
      if (s.index > 0 && hasCut(s)) joined.push(cutPath(s));
      if (hasBody(s)) joined.push(partPath(s, 'body'));
    }
    await concatSegments(joined, output, { audioFrom: { path: input, start: opts.start, duration: opts.duration } });
    const joinedFrames = (await probe(output)).frameCount;
    if (joinedFrames !== totalFrames) {
      // Never leave a video with a missing or doubled frame under the asked name.
      await rm(output, { force: true });
      throw new Error(`the joined video had ${joinedFrames} frames instead of ${totalFrames}; the segments are kept in ${dir}`);
    }

    // A coordinator killed between collecting a segment and deleting its stored copy, or a worker
    // that finished a segment again after its lock expired, leaves a result nobody will read.
    for (const s of plan) {
      await queue.remove(jobIdOf(farmId, s.index)).catch(() => undefined);
      await store.del(resultKey(queueName, farmId, s.index));
    }
    for (const i of needed) await store.del(pieceKey(queueName, farmId, i));
    await store.del(doneKey(queueName, farmId), guideKey(queueName, farmId));
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
    // Bounded too: closing waits for Redis, which may be the thing that went away.
    await Promise.race([queue.close().catch(() => undefined), sleep(2000, undefined)]);
    await queue.disconnect().catch(() => undefined);
    store.disconnect();
  }
}

function interrupted(collected: number, segments: number): UserError {
  return new UserError(`interrupted with ${collected} of ${segments} segments collected; the workers go on with the rest: run the same command again to collect them and finish`, 130);
}

/** Largest stored part that `frames` frames can honestly take: their raw size (an encoding or deflate of them is smaller) plus headers. Pure. */
export function partCap(frames: number, frameBytes: number): number {
  return frames === 0 ? 0 : frames * frameBytes + 64 * 1024;
}

/** The guide image the dream stage names, read here: workers get its bytes, never its path. */
async function readGuide(spec: PipelineSpec): Promise<{ path: string; name: string; bytes: number; sha256: string } | undefined> {
  const dream = spec.stages.find((s) => s.kind === 'dream');
  if (!dream || typeof dream.guide !== 'string') return undefined;
  const path = resolve(dream.guide);
  const data = await readFile(path);
  if (data.length > MAX_GUIDE_BYTES) throw new UserError(`--guide ${dream.guide} is ${(data.length / 2 ** 20).toFixed(0)} MB; the farm ships at most ${MAX_GUIDE_BYTES / 2 ** 20} MB`);
  return { path, name: `guide${extname(path).toLowerCase().replace(/[^.a-z0-9]/g, '')}`, bytes: data.length, sha256: sha256(data) };
}

/** `work`, unless Redis (or the user) does not let it finish: then one clear line. */
async function withDeadline<T>(work: Promise<T>, ms: number, signal: AbortSignal | undefined, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const stop = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new UserError(message)), ms);
    onAbort = () => reject(new UserError('interrupted while waiting for Redis; run the same command again to go on', 130));
    if (signal?.aborted) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });
  });
  work.catch(() => undefined);
  try {
    return await Promise.race([work, stop]);
  } finally {
    clearTimeout(timer);
    if (onAbort) signal?.removeEventListener('abort', onAbort);
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
async function abandon(queue: Queue<SignedJob, SegmentResult>, store: Redis, queueName: string, farmId: string, plan: SegmentPlan[], have: Set<number>): Promise<void> {
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
