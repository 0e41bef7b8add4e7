/**
 * A farm worker: takes segment jobs from the BullMQ queue, checks their signature, fetches the
 * segment's pieces of the input (and the guide image) from Redis, dreams them with the same
 * stages as `dreamflow video` (warm-up frames first) into a segment sink that encodes them
 * exactly as the video job encodes its segments (segmentSink.ts), and stores the signed result
 * in Redis for the coordinator. It reads no path a job names (docs/architecture.md, "The farm"
 * and "The farm's trust boundary").
 *
 * Dreaming runs in worker threads (the gradient pool), so this thread stays free to renew the
 * job's lock; a worker that dies stops renewing, and after `heartbeat` seconds another worker's
 * stalled-job check puts the segment back in the queue.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { UnrecoverableError, WaitingError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { createRunner, type GradientRunner, type RunnerOptions } from '../dream/runner.js';
import { UserError } from '../errors.js';
import type { Size } from '../media/decoder.js';
import { probe, type MediaInfo } from '../media/probe.js';
import { loadOpenCv } from '../flow/cv.js';
import { loadManifest } from '../models/manifest.js';
import type { Frame, Stage } from '../frame.js';
import { objectiveOf } from '../pipeline/dream.js';
import { checkDreamMemory } from '../pipeline/footprint.js';
import { runLoop } from '../pipeline/runLoop.js';
import { workingSize } from '../pipeline/videoJob.js';
import { validateSpec, type PipelineSpec } from '../pipeline/spec.js';
import { stagePlan, stagesOf, type StagePlan } from '../pipeline/stages.js';
import { RefusedJob, openJob, resultMac, type FarmSecret } from './auth.js';
import { PieceDecoder } from './pieces.js';
import { PROTOCOL_VERSION, RESULT_TTL_SECONDS, doneKey, jobIdOf, resultKey, type SegmentJob, type SegmentPart, type SegmentResult, type SignedJob } from './protocol.js';
import { SegmentPartsSink } from './segmentSink.js';
import { farmVideoOf, type FarmVideo } from './settings.js';
import { MAX_GUIDE_BYTES, MAX_PIECE_BYTES, fetchShipped } from './source.js';
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
  /** The farm's shared secret (null: `--insecure`): jobs without its signature are refused. */
  secret: FarmSecret;
  log(message: string): void;
  name?: string;
}

/** Raised inside a job when the worker is asked to stop: the segment goes back to the queue. */
class Stopping extends Error {}

/** Temp folders are named after their process, so a worker can clear those of dead ones. */
const TEMP_PREFIX = 'dreamflow-segment-';

export class FarmWorker {
  readonly name: string;
  private readonly runners = new Map<string, Promise<GradientRunner>>();
  private readonly stopController = new AbortController();
  private worker: Worker<SignedJob, SegmentResult> | undefined;
  /** Jobs refused (forged or foreign): removed from Redis once BullMQ has marked them failed. */
  private readonly refused = new Set<string>();
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
    await removeDeadTempFolders();
    if (preload) await Promise.all([this.runnerFor(preload), loadOpenCv()]);
    const lockMs = Math.round(this.opts.heartbeatSeconds * 1000);
    const worker = new Worker<SignedJob, SegmentResult>(this.opts.queue, (job, token) => this.process(job, token), {
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
      if (!job || err instanceof WaitingError || err.name === 'WaitingError') return;
      if (job.id !== undefined && this.refused.delete(job.id)) {
        // A forged job leaves nothing behind: not even a failure reason an attacker could read.
        void job.remove().catch(() => undefined);
        return;
      }
      this.opts.log(`job ${job.id ?? '?'} failed: ${err.message}`);
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

  /** The job's content if it is signed with this farm's secret and names nothing on this machine. */
  private open(job: Job<SignedJob, SegmentResult>): { d: SegmentJob; plan: StagePlan; video: FarmVideo } {
    try {
      const d = openJob(this.opts.secret, job.data);
      if (d.version !== PROTOCOL_VERSION) throw new RefusedJob(`its format ${d.version} is not this worker's (${PROTOCOL_VERSION}); update dreamflow`);
      if (!Array.isArray(d.pieces) || d.pieces.some((p) => p.format !== 'mov' && p.format !== 'mkv')) throw new RefusedJob('its input pieces are malformed');
      const dream = d.spec?.stages?.find((st) => st.kind === 'dream');
      // The guide is the one path a spec can name: a job brings its bytes instead.
      if ((dream?.guide ?? undefined) !== d.guide?.name) throw new RefusedJob('it names a guide image path instead of shipping the image');
      if (d.guide && !/^guide(\.[a-z0-9]{1,5})?$/.test(d.guide.name)) throw new RefusedJob('its guide image name is malformed');
      // The segment is inside the signature, the job id is not: a signed job copied under
      // another segment's id (a replay) would dream one segment twice and never the other.
      if (job.id !== jobIdOf(String(d.farmId), Number(d.segment))) throw new RefusedJob(`its signed segment (${String(d.farmId)} #${String(d.segment)}) does not match its job id (a replayed job)`);
      const spec = validateSpec(d.spec, 'job');
      // Size, codec and crf come from the spec, read as the coordinator reads them (settings.ts).
      return { d, plan: stagePlan(spec), video: farmVideoOf(spec) };
    } catch (err) {
      if (!(err instanceof RefusedJob || err instanceof UserError)) throw err;
      if (job.id !== undefined) this.refused.add(job.id);
      this.opts.log(`refused job ${job.id ?? '?'}: ${err.message}`);
      // Not retried: a job refused here is refused everywhere.
      throw new UnrecoverableError(`refused: ${err instanceof RefusedJob ? err.message : 'invalid spec'}`);
    }
  }

  /** Whether the coordinator has taken this segment's result already (it is done, and its stored copy gone). */
  private async collected(d: SegmentJob): Promise<boolean> {
    const store = this.store!;
    return (await store.sismember(doneKey(this.opts.queue, d.farmId), String(d.segment))) === 1 && (await store.exists(resultKey(this.opts.queue, d.farmId, d.segment))) === 0;
  }

  private async process(job: Job<SignedJob, SegmentResult>, token: string | undefined): Promise<SegmentResult> {
    const { d, plan: checked, video } = this.open(job);
    const label = `segment ${d.segment + 1}/${d.segments} (frames ${d.first}-${d.end - 1}, ${d.first - d.warmupFrom} warm-up)`;
    // The same job again once its segment was collected (run twice, or added again): nothing to
    // do, and its pieces may be gone from Redis already.
    if (await this.collected(d)) {
      this.opts.log(`${label}: already collected; this second result is dropped`);
      return { worker: this.name, frames: 0, warmupFrames: 0, seconds: 0, bytes: 0, maxEventLoopStallMs: 0 };
    }
    this.opts.log(`${label}: started`);
    const started = performance.now();
    const stall = monitorEventLoopDelay({ resolution: 10 });
    stall.enable();
    const spent = (): { seconds: number; maxEventLoopStallMs: number } => ({ seconds: (performance.now() - started) / 1000, maxEventLoopStallMs: Math.round(stall.max / 1e6) });
    const dir = await mkdtemp(join(tmpdir(), `${TEMP_PREFIX}${process.pid}-`));
    const pieces = new PieceDecoder();
    let sink: SegmentPartsSink | undefined;
    // Each segment makes its own objective: its guide features and graphs go with the segment.
    let release: (() => Promise<void>) | undefined;
    try {
      const { paths, plan, size, media } = await this.fetchInput(d, checked, video, dir);
      const runner = await this.runnerFor({ ...this.opts.machine, model: plan.dream.model });
      const objective = await objectiveOf(plan.dream, runner);
      release = () => runner.release(objective);
      const stage = stagesOf(plan, { runner, objective });
      const progress = (at: number): Promise<void> => job.updateProgress(at + 1 - d.first);
      sink = await SegmentPartsSink.open(d, join(dir, 'segment.mp4'), { ...size, fps: d.fps, codec: video.codec, crf: video.crf }, progress);
      const source = pieces.frames(paths, { size, maxFrames: d.end - d.decodeFrom, onWarning: (m) => this.opts.log(`${label}: ${m}`), firstMedia: media });
      await this.dream(d, source, stage, sink);
      await sink.close();
      return await this.storeResult(d, await sink.parts(), label, spent);
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
      await pieces.close();
      await sink?.abort();
      await rm(dir, { recursive: true, force: true });
    }
  }

  /**
   * The job's pieces (and guide image) fetched into `dir` and checked against their signed
   * hashes, the stage plan with the shipped guide, and the working size: the pieces' own size
   * under the spec's `size`, as the coordinator reads it from the whole input; and the first
   * piece's probe, which its decoder reuses.
   */
  private async fetchInput(d: SegmentJob, checked: StagePlan, video: FarmVideo, dir: string): Promise<{ paths: string[]; plan: StagePlan; size: Size; media: MediaInfo }> {
    const store = this.store!;
    const paths: string[] = [];
    for (const [i, piece] of d.pieces.entries()) {
      const path = join(dir, `piece-${i}.${piece.format}`);
      await fetchShipped(store, piece, MAX_PIECE_BYTES, path);
      paths.push(path);
    }
    let plan = checked;
    if (d.guide) {
      const path = join(dir, d.guide.name);
      await fetchShipped(store, d.guide, MAX_GUIDE_BYTES, path);
      plan = stagePlan(withGuide(d.spec, path));
    }
    if (paths.length === 0) throw new Error('the job ships no pieces of the input');
    const media = await probe(paths[0]!);
    const size = workingSize(media.width, media.height, video.size);
    // This machine's memory for this job's frames (with this machine's engine), before loading
    // anything: a plain error, so the segment is tried on another worker (a larger machine).
    try {
      checkDreamMemory({ ...plan.dream, backend: this.opts.machine.backend ?? 'auto', workers: this.opts.machine.workers }, size, 'video');
    } catch (err) {
      if (err instanceof UserError) throw new Error(err.message);
      throw err;
    }
    return { paths, plan, size, media };
  }

  /**
   * The one run loop (pipeline/runLoop.ts): the piece source through the stage chain into the
   * segment sink (which reports the job's progress), frames [warmupFrom, end) of it.
   */
  private async dream(d: SegmentJob, source: AsyncIterable<Frame>, stage: Stage, sink: SegmentPartsSink): Promise<void> {
    const expected = d.end - d.decodeFrom;
    const frameSeconds = d.fps.den / d.fps.num;
    let decoded = 0;
    if (this.stopController.signal.aborted) throw new Stopping();
    // Frame numbers as a single-machine run gives them: the per-frame jitter seed depends on it.
    const select = (frame: Frame, ordinal: number): Frame | undefined => {
      decoded = ordinal + 1;
      const at = d.decodeFrom + ordinal;
      if (at < d.warmupFrom) return undefined;
      const index = at - d.indexBase;
      return { ...frame, index, ptsSeconds: index * frameSeconds };
    };
    await runLoop(source, stage, [sink], { select, signal: this.stopController.signal, stopped: () => new Stopping() });
    if (decoded !== expected) throw new Error(`decoded ${decoded} of the ${expected} frames from frame ${d.decodeFrom} of the shipped pieces`);
  }

  /** Sign and store the result's parts for the coordinator, unless it collected the segment already. */
  private async storeResult(d: SegmentJob, parts: Partial<Record<SegmentPart, Buffer>>, label: string, spent: () => { seconds: number; maxEventLoopStallMs: number }): Promise<SegmentResult> {
    const store = this.store!;
    const key = resultKey(this.opts.queue, d.farmId, d.segment);
    // Collected while this worker dreamed it too (a lock that expired under a slow worker): the
    // first result stands; a second copy would only wait in Redis for nobody.
    if (await this.collected(d)) {
      this.opts.log(`${label}: already collected; this second result is dropped`);
      return { worker: this.name, frames: 0, warmupFrames: 0, ...spent(), bytes: 0 };
    }
    const fields: Record<string, Buffer | string> = { ...parts };
    if (this.opts.secret) fields['mac'] = resultMac(this.opts.secret, d.farmId, d.segment, parts);
    await store.multi().del(key).hset(key, fields).expire(key, RESULT_TTL_SECONDS).exec();
    await store.multi().sadd(doneKey(this.opts.queue, d.farmId), String(d.segment)).expire(doneKey(this.opts.queue, d.farmId), RESULT_TTL_SECONDS).exec();
    const bytes = Object.values(parts).reduce((sum, b) => sum + b.length, 0);
    const { seconds, maxEventLoopStallMs } = spent();
    const result: SegmentResult = { worker: this.name, frames: d.end - d.first, warmupFrames: d.first - d.warmupFrom, seconds, bytes, maxEventLoopStallMs };
    this.segmentsDone++;
    this.opts.log(`${label}: done in ${seconds.toFixed(1)} s (event loop stalled at most ${result.maxEventLoopStallMs} ms)`);
    return result;
  }
}

/** The spec with the dream stage's guide at `path` (the shipped copy in this worker's temp folder). */
function withGuide(spec: PipelineSpec, path: string): PipelineSpec {
  return validateSpec({ ...spec, stages: spec.stages.map((st) => (st.kind === 'dream' ? { ...st, guide: path } : st)) }, 'job');
}

/** Temp folders of worker processes on this machine that are gone (SIGKILLed mid-segment). */
async function removeDeadTempFolders(): Promise<void> {
  const pattern = new RegExp(`^${TEMP_PREFIX}(\\d+)-`);
  for (const name of await readdir(tmpdir()).catch(() => [] as string[])) {
    const pid = Number(pattern.exec(name)?.[1]);
    if (!pid || pid === process.pid || isAlive(pid)) continue;
    await rm(join(tmpdir(), name), { recursive: true, force: true }).catch(() => undefined);
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
