/**
 * The farm's coordinator: cuts the input into keyframe-aligned segments, queues one BullMQ job
 * per segment, collects the finished segments from Redis, and joins them without re-encoding
 * with the original sound. The run composes one module per concern: the layout (layout.ts), the
 * segment store (segmentStore.ts), the queue (segmentQueue.ts), the stall watch (stallWatch.ts)
 * and the joiner (joiner.ts); docs/architecture.md, "The farm".
 *
 * It keeps no state of its own that matters: job ids are derived from the input and the
 * settings, so a coordinator started again (after a crash, Ctrl-C, or on another machine) adds
 * the same jobs — a no-op for those already there — and carries on from the queue's state.
 */
import { UserError } from '../errors.js';
import type { Rational } from '../frame.js';
import type { PipelineSpec } from '../pipeline/spec.js';
import { checkVideoOutput } from '../pipeline/videoJob.js';
import type { FarmSecret } from './auth.js';
import { interrupted, sleep, withDeadline } from './deadline.js';
import { Joiner } from './joiner.js';
import { layOutFarm, type FarmLayout } from './layout.js';
import type { SegmentResult } from './protocol.js';
import { connectRedis, type RedisTarget } from './redis.js';
import { SegmentQueue } from './segmentQueue.js';
import { SegmentStore } from './segmentStore.js';
import { farmVideoOf } from './settings.js';
import { cutPieces } from './source.js';
import { StallWatch } from './stallWatch.js';

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
  redis: RedisTarget;
  queue: string;
  /** Segment length: `10s`, `500ms`, `240f`. */
  segment?: string | undefined;
  warmup?: number | undefined;
  /**
   * The video pipeline spec: its source (input, size, start, duration), its stages (sent with
   * each job, which carries the spec once) and its video sink (output, codec, crf).
   */
  spec: PipelineSpec;
  /** The farm's shared secret (null: `--insecure`): jobs are signed with it, results checked. */
  secret: FarmSecret;
  /** Segments kept on the queue (their pieces in Redis) ahead of the collected ones; at least twice the workers. */
  ahead?: number | undefined;
  /** Seconds Redis may go without answering before the coordinator gives up with one line. */
  redisTimeoutSeconds?: number | undefined;
  /**
   * Seconds without progress and without an active segment after which segments whose jobs
   * completed without a result are queued again (at most 3 times each, then one line).
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

export const DEFAULT_STALL_SECONDS = 60;
export const DEFAULT_REDIS_TIMEOUT_SECONDS = 60;
/** Segments kept queued ahead of the collected ones (at least; twice the connected workers when more). */
export const DEFAULT_AHEAD = 16;
const QUEUE_NAME = /^[A-Za-z0-9_.-]{1,64}$/;

export function checkQueueName(name: string): string {
  if (!QUEUE_NAME.test(name)) throw new UserError(`--queue must be 1-64 letters, digits, "_", "." or "-" (got "${name}")`);
  return name;
}

/** What one poll works with: the run's parts, composed by runFarm. */
interface FarmRun {
  opts: FarmOptions;
  layout: FarmLayout;
  segments: SegmentStore;
  queue: SegmentQueue;
  joiner: Joiner;
  stall: StallWatch;
  /** Segments collected. */
  have: Set<number>;
}

/**
 * Lay the job out, cut and queue its segments, collect them as workers store them, and join
 * them: a store for the collected segments, a queue for the jobs, a joiner for the output.
 */
export async function runFarm(opts: FarmOptions): Promise<FarmResult> {
  const started = performance.now();
  const video = farmVideoOf(opts.spec);
  const queueName = checkQueueName(opts.queue);
  await checkVideoOutput(video.output);
  const layout = await layOutFarm(video, opts.spec, { segment: opts.segment ?? DEFAULT_SEGMENT, warmup: opts.warmup ?? DEFAULT_WARMUP, onWarning: opts.onWarning });
  const { plan, range, farmId, guide } = layout;
  const deadlineMs = (opts.redisTimeoutSeconds ?? DEFAULT_REDIS_TIMEOUT_SECONDS) * 1000;
  // Every Redis round trip is bounded and interruptible: a Redis that went away must not make
  // the coordinator wait forever, nor ignore Ctrl-C / SIGTERM while it waits.
  const bounded = <T>(work: Promise<T>, what: string): Promise<T> => withDeadline(work, deadlineMs, opts.signal, `Redis at ${opts.redis.display} did not answer for ${deadlineMs / 1000} s (${what}); the segments collected so far are kept: run the same command again once Redis is back`);

  const store = await connectRedis(opts.redis);
  const have = new Set<number>();
  let queue: SegmentQueue | undefined;
  try {
    const segments = await SegmentStore.open(layout.output, store, { queue: queueName, farmId, secret: opts.secret, size: layout.size, frameBytes: layout.frameBytes });
    for (const n of segments.collected(plan)) have.add(n);
    const pieces = await cutPieces(layout.input, layout.pieces.edges, layout.pieces.splitTimes, new Set(layout.pieces.uses.flat()), segments.dir);
    // Workers get the guide's bytes: the spec they carry names it by the shipped file's name.
    const spec: PipelineSpec = guide ? { ...opts.spec, stages: opts.spec.stages.map((st) => (st.kind === 'dream' ? { ...st, guide: guide.name } : st)) } : opts.spec;
    queue = new SegmentQueue(store, layout, { redis: opts.redis, queue: queueName, secret: opts.secret, spec, pieces, have, ahead: opts.ahead ?? DEFAULT_AHEAD, bounded, signal: opts.signal });
    const stored = await queue.reconcile();
    const alreadyDone = have.size + plan.filter((s) => !have.has(s.index) && stored.has(s.index)).length;
    const totalFrames = range.end - range.first;
    opts.onPlan?.({ farmId, segments: plan.length, frames: totalFrames, alreadyDone });
    const stall = new StallWatch(queue, { stallMs: (opts.stallSeconds ?? DEFAULT_STALL_SECONDS) * 1000, onWarning: opts.onWarning });
    const joiner = new Joiner(segments, layout, video);
    const run: FarmRun = { opts, layout, segments, queue, joiner, stall, have };
    while (have.size < plan.length) {
      if (opts.signal?.aborted) throw interrupted(have.size, plan.length);
      await bounded(poll(run), 'waiting for the segments');
      if (have.size < plan.length) await sleep(opts.pollMs ?? 500, opts.signal);
    }
    await joiner.encodeDissolves();
    // Who did what, before the jobs are removed.
    const jobs = await queue.finishedJobs();
    const results = jobs.map((j) => j.returnvalue).filter((r): r is SegmentResult => Boolean(r));
    await joiner.join();
    await queue.clear();
    await segments.remove();
    return {
      output: video.output,
      farmId,
      frames: totalFrames,
      segments: plan.length,
      cuts: plan.slice(1).map((s) => s.first - range.first),
      fps: layout.fps,
      width: layout.size.width,
      height: layout.size.height,
      warmup: layout.warmup,
      segmentFrames: layout.segmentFrames,
      dreamedFrames: plan.reduce((sum, s) => sum + s.end - s.warmupFrom, 0),
      seconds: (performance.now() - started) / 1000,
      workers: [...new Set(results.map((r) => r.worker))].sort(),
      resumedSegments: alreadyDone,
      stalled: jobs.reduce((sum, j) => sum + (j.stalledCounter ?? 0), 0),
      maxEventLoopStallMs: results.reduce((m, r) => Math.max(m, r.maxEventLoopStallMs), 0),
    };
  } finally {
    await queue?.close();
    store.disconnect();
  }
}

/** One look at the queue: collect what finished, notice a Redis that lost the farm, report. */
async function poll(run: FarmRun): Promise<void> {
  const { opts, layout, segments, queue, have } = run;
  const { plan, range } = layout;
  const done = await queue.done();
  for (const n of done) {
    const s = plan[n];
    if (!s || have.has(n)) continue;
    const refused = await segments.collect(s);
    if (refused) {
      await segments.discard(s);
      opts.onWarning?.(`segment ${s.index + 1}/${plan.length}: refused a stored result that ${refused} (not made by a worker holding this farm's secret, or damaged); queued it again`);
      await queue.requeue(s);
      continue;
    }
    await queue.collected(s);
  }
  await queue.topUp();
  // Dissolves whose two halves are both here are made while the workers go on.
  await run.joiner.encodeDissolves(have);
  const lost = await queue.lost(done);
  if (lost.length > 0) {
    opts.onWarning?.(`Redis at ${opts.redis.display} lost ${lost.length} of this farm's segment job(s) (restarted empty or flushed?); queued them again`);
    for (const s of lost) await queue.requeue(s);
  }
  // A segment collected already keeps its result, whatever a later run of its job did.
  const failed = (await queue.jobs('failed')).filter((j) => !have.has(SegmentQueue.segmentOf(j)));
  if (failed.length > 0) {
    const j = failed[0]!;
    await queue.abandon();
    throw new UserError(`segment ${SegmentQueue.segmentOf(j) + 1}/${plan.length} failed${j.processedBy ? ` on ${j.processedBy}` : ''}: ${j.failedReason}`);
  }
  const active = await queue.jobs('active');
  const framesDone =
    plan.filter((s) => have.has(s.index)).reduce((sum, s) => sum + s.end - s.first, 0) +
    active.reduce((sum, j) => sum + (typeof j.progress === 'number' && !have.has(SegmentQueue.segmentOf(j)) ? j.progress : 0), 0);
  await run.stall.check(done, active.length, framesDone);
  const totalFrames = range.end - range.first;
  opts.onProgress?.({
    framesDone: Math.min(totalFrames, framesDone),
    framesTotal: totalFrames,
    segmentsDone: have.size,
    segments: plan.length,
    active: active.length,
    workers: await queue.queue.getWorkersCount(),
  });
}
