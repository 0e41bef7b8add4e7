/**
 * A farm worker: takes segment jobs from the BullMQ queue, dreams them with the same temporal
 * stage as `dreamflow video` (warm-up frames first, thrown away), encodes them exactly as the
 * video job encodes its segments, and stores the file in Redis for the coordinator.
 *
 * Dreaming runs in worker threads (the gradient pool), so this thread stays free to renew the
 * job's lock; a worker that dies stops renewing, and after `heartbeat` seconds another worker's
 * stalled-job check puts the segment back in the queue.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { UnrecoverableError, WaitingError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { createRunner, type GradientRunner, type RunnerOptions } from '../dream/runner.js';
import { UserError } from '../errors.js';
import { FrameDecoder } from '../media/decoder.js';
import { loadOpenCv } from '../flow/cv.js';
import { FrameEncoder } from '../media/encoder.js';
import { loadManifest } from '../models/manifest.js';
import type { Frame } from '../frame.js';
import { objectiveOf } from '../pipeline/dream.js';
import { throughStage } from '../pipeline/videoJob.js';
import { validateSpec } from '../pipeline/spec.js';
import { createStage, stagePlan, type StagePlan } from '../pipeline/stages.js';
import { packFrames } from './dissolve.js';
import { PROTOCOL_VERSION, RESULT_TTL_SECONDS, doneKey, resultKey, type SegmentJob, type SegmentPart, type SegmentResult } from './protocol.js';
import { connectRedis, connectionOptions, type RedisTarget } from './redis.js';


export interface FarmWorkerOptions {
  redis: RedisTarget;
  queue: string;
  /** Segments worked on at once (they share the gradient threads). */
  concurrency: number;
  /** Lock duration: how long a silent worker keeps its segment before others may take it. */
  heartbeatSeconds: number;
  /** This machine's engine: backend, device, workers, weights (the model comes with each job). */
  machine: RunnerOptions;
  log(message: string): void;
  name?: string;
}

/** Raised inside a job when the worker is asked to stop: the segment goes back to the queue. */
class Stopping extends Error {}

export class FarmWorker {
  readonly name: string;
  private readonly runners = new Map<string, Promise<GradientRunner>>();
  private readonly stopController = new AbortController();
  private worker: Worker<SegmentJob, SegmentResult> | undefined;
  private store: Redis | undefined;
  private finished: Promise<void> | undefined;
  private stopped: Promise<void> | undefined;
  segmentsDone = 0;

  constructor(private readonly opts: FarmWorkerOptions) {
    this.name = opts.name ?? `${hostname()}:${process.pid}`;
  }

  /**
   * Connect (one-line error if Redis is unreachable), load the model and OpenCV, then start
   * taking jobs. Loading blocks this thread for about a second: done before a job is held, it
   * cannot delay a lock renewal.
   */
  async start(preload?: RunnerOptions): Promise<void> {
    this.store = await connectRedis(this.opts.redis);
    if (preload) await Promise.all([this.runnerFor(preload), loadOpenCv()]);
    const lockMs = Math.round(this.opts.heartbeatSeconds * 1000);
    const worker = new Worker<SegmentJob, SegmentResult>(this.opts.queue, (job, token) => this.process(job, token), {
      connection: connectionOptions(this.opts.redis),
      concurrency: this.opts.concurrency,
      name: this.name,
      lockDuration: lockMs,
      stalledInterval: lockMs,
      // A segment whose worker died is retried elsewhere, not failed (dying machines are the point).
      maxStalledCount: 10,
    });
    worker.on('error', (err) => this.opts.log(`queue connection: ${err.message}`));
    worker.on('failed', (job, err) => {
      if (job && !(err instanceof WaitingError) && err.name !== 'WaitingError') this.opts.log(`segment ${job.data.segment + 1}/${job.data.segments} failed: ${err.message}`);
    });
    this.worker = worker;
    await worker.waitUntilReady();
    this.finished = new Promise((resolve) => worker.once('closed', () => resolve()));
  }

  /** Resolves when the worker has stopped and let go of its threads and connections. */
  async done(): Promise<void> {
    await this.finished;
    await this.stopped;
  }

  /** Stop: segments in progress go back to the queue for another worker. */
  stop(): Promise<void> {
    this.stopped ??= (async () => {
      this.stopController.abort();
      await this.worker?.close();
      for (const runner of this.runners.values()) await (await runner.catch(() => undefined))?.close();
      this.runners.clear();
      this.store?.disconnect();
    })();
    return this.stopped;
  }

  private runnerFor(options: RunnerOptions): Promise<GradientRunner> {
    // One runner per model and machine setting, whatever alias the job used for the model.
    const key = JSON.stringify({ ...options, model: loadManifest(options.model).name });
    let runner = this.runners.get(key);
    if (!runner) {
      runner = createRunner({ ...options, quiet: true });
      this.runners.set(key, runner);
      runner.catch(() => this.runners.delete(key));
    }
    return runner;
  }

  private async process(job: Job<SegmentJob, SegmentResult>, token: string | undefined): Promise<SegmentResult> {
    const d = job.data;
    if (d.version !== PROTOCOL_VERSION) throw new UnrecoverableError(`job format ${d.version} is not this worker's (${PROTOCOL_VERSION}); update dreamflow`);
    let plan: StagePlan;
    try {
      plan = stagePlan(validateSpec(d.spec, 'job'));
    } catch (err) {
      // A spec that does not validate here will not validate anywhere: no retries.
      if (err instanceof UserError) throw new UnrecoverableError(err.message);
      throw err;
    }
    const label = `segment ${d.segment + 1}/${d.segments} (frames ${d.first}-${d.end - 1}, ${d.first - d.warmupFrom} warm-up)`;
    this.opts.log(`${label}: started`);
    const started = performance.now();
    const stall = monitorEventLoopDelay({ resolution: 10 });
    stall.enable();
    const dir = await mkdtemp(join(tmpdir(), 'dreamflow-segment-'));
    let decoder: FrameDecoder | undefined;
    let encoder: FrameEncoder | undefined;
    // Each segment makes its own objective: its guide features and graphs go with the segment.
    let release: (() => Promise<void>) | undefined;
    try {
      const runner = await this.runnerFor({ ...this.opts.machine, model: plan.dream.model });
      const objective = await objectiveOf(plan.dream, runner);
      release = () => runner.release(objective);
      const stage = createStage(plan, runner, objective);
      const size = { width: d.width, height: d.height };
      // The body may be empty (a segment no longer than the dissolves): then no file is made.
      if (d.tailFrom > d.first) encoder = await FrameEncoder.open(join(dir, 'segment.mp4'), { ...size, fps: d.fps, codec: d.codec, crf: d.crf, faststart: false });
      const expected = d.end - d.decodeFrom;
      decoder = await FrameDecoder.open(d.input, {
        size,
        ...(d.seekSeconds === undefined ? {} : { start: d.seekSeconds }),
        maxFrames: expected,
        onWarning: (m) => this.opts.log(`${label}: ${m}`),
      });
      const frameSeconds = d.fps.den / d.fps.num;
      const head: Uint8Array[] = [];
      const tail: Uint8Array[] = [];
      let decoded = 0;
      const stopped = new Promise<never>((_, reject) => this.stopController.signal.addEventListener('abort', () => reject(new Stopping()), { once: true }));
      stopped.catch(() => undefined);
      if (this.stopController.signal.aborted) throw new Stopping();
      // Frame numbers as a single-machine run gives them: the per-frame jitter seed depends on it.
      const select = (frame: Frame, ordinal: number): Frame | undefined => {
        const at = d.decodeFrom + ordinal;
        if (at < d.warmupFrom) return undefined;
        const index = at - d.indexBase;
        return { ...frame, index, ptsSeconds: index * frameSeconds };
      };
      for await (const { dreamed, ordinal } of throughStage(decoder, stage, { select, abort: stopped })) {
        decoded = ordinal + 1;
        const at = d.decodeFrom + ordinal;
        if (at < d.first) head.push(dreamed.data);
        else if (at >= d.tailFrom) tail.push(dreamed.data);
        else await encoder!.write(dreamed);
        if (at >= d.first) await job.updateProgress(at + 1 - d.first);
      }
      if (decoded !== expected) throw new Error(`decoded ${decoded} of the ${expected} frames from frame ${d.decodeFrom} of ${d.input}`);
      const parts: Partial<Record<SegmentPart, Buffer>> = {};
      if (encoder) {
        await encoder.close();
        parts.body = await readFile(join(dir, 'segment.mp4'));
      }
      if (head.length > 0) parts.head = await packFrames(head);
      if (tail.length > 0) parts.tail = await packFrames(tail);
      const store = this.store!;
      const key = resultKey(this.opts.queue, d.farmId, d.segment);
      await store.multi().del(key).hset(key, parts).expire(key, RESULT_TTL_SECONDS).exec();
      await store.multi().sadd(doneKey(this.opts.queue, d.farmId), String(d.segment)).expire(doneKey(this.opts.queue, d.farmId), RESULT_TTL_SECONDS).exec();
      const bytes = Object.values(parts).reduce((sum, b) => sum + b.length, 0);
      const seconds = (performance.now() - started) / 1000;
      const result: SegmentResult = {
        worker: this.name,
        frames: d.end - d.first,
        warmupFrames: d.first - d.warmupFrom,
        seconds,
        bytes,
        maxEventLoopStallMs: Math.round(stall.max / 1e6),
      };
      this.segmentsDone++;
      this.opts.log(`${label}: done in ${seconds.toFixed(1)} s (event loop stalled at most ${result.maxEventLoopStallMs} ms)`);
      return result;
    } catch (err) {
      if (err instanceof Stopping || this.stopController.signal.aborted) {
        // Hand the segment back now rather than after the lock expires.
        if (token) await job.moveToWait(token).catch(() => undefined);
        this.opts.log(`${label}: handed back to the queue`);
        throw new WaitingError();
      }
      throw err;
    } finally {
      stall.disable();
      await release?.().catch(() => undefined);
      await decoder?.close();
      await encoder?.abort();
      await rm(dir, { recursive: true, force: true });
    }
  }
}
