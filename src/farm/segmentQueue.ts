/**
 * The coordinator's queue: one signed BullMQ job per segment, at most a window of them queued
 * ahead of the collected ones with their pieces of the input stored in Redis, queued again when
 * Redis lost them or a result was refused, and taken off when the farm ends or fails
 * (docs/architecture.md, "The farm").
 */
import { Queue, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { PipelineSpec } from '../pipeline/spec.js';
import { signJob, type FarmSecret } from './auth.js';
import { interrupted, sleep } from './deadline.js';
import type { FarmLayout } from './layout.js';
import type { SegmentPlan } from './plan.js';
import { PROTOCOL_VERSION, doneKey, guideKey, jobIdOf, pieceKey, resultKey, segmentOfJobId, type SegmentResult, type SignedJob, type SourcePiece } from './protocol.js';
import { connectionOptions, type RedisTarget } from './redis.js';
import { shipFile } from './source.js';

const JOB_ATTEMPTS = 3;

export interface SegmentQueueOptions {
  redis: RedisTarget;
  queue: string;
  secret: FarmSecret;
  /** The spec each job carries (its guide named by the shipped image's name). */
  spec: PipelineSpec;
  /** The input's pieces as cut, by piece number. */
  pieces: ReadonlyMap<number, SourcePiece & { path: string }>;
  /** Segments collected (shared with the run that collects them). */
  have: Set<number>;
  /** Segments kept queued ahead of the collected ones (at least; twice the connected workers when more). */
  ahead: number;
  /** Bounds one Redis round trip (`withDeadline`). */
  bounded: <T>(work: Promise<T>, what: string) => Promise<T>;
  signal: AbortSignal | undefined;
}

export class SegmentQueue {
  readonly queue: Queue<SignedJob, SegmentResult>;
  /** Segments on the queue (their pieces in Redis) and not yet collected. */
  readonly queued = new Set<number>();
  /** Job ids of this farm start with it. */
  readonly prefix: string;

  constructor(
    private readonly store: Redis,
    private readonly layout: FarmLayout,
    private readonly opts: SegmentQueueOptions,
  ) {
    this.queue = new Queue<SignedJob, SegmentResult>(opts.queue, { connection: connectionOptions(opts.redis) });
    this.queue.on('error', () => undefined);
    this.prefix = `${layout.farmId}-`;
  }

  /** The farm's segments, in order. */
  get plan(): readonly SegmentPlan[] {
    return this.layout.plan;
  }

  /** Segments collected (the set shared with the run that collects them). */
  get have(): ReadonlySet<number> {
    return this.opts.have;
  }

  /** The BullMQ queue's name. */
  get name(): string {
    return this.opts.queue;
  }

  private pieceOf(i: number): SourcePiece {
    const p = this.opts.pieces.get(i)!;
    return { key: pieceKey(this.opts.queue, this.layout.farmId, i), bytes: p.bytes, sha256: p.sha256, frames: p.frames, format: p.format };
  }

  /** Store what the segments not yet collected need (again, after Redis lost it). */
  async ship(segments: readonly SegmentPlan[]): Promise<void> {
    const { pieces, plan, guide, farmId } = this.layout;
    for (const i of new Set(segments.flatMap((s) => pieces.uses[s.index]!))) {
      if (this.opts.signal?.aborted) throw interrupted(this.opts.have.size, plan.length);
      const p = this.pieceOf(i);
      await this.opts.bounded(shipFile(this.store, p.key, this.opts.pieces.get(i)!.path, p), 'storing the input\'s pieces');
    }
    if (guide) await this.opts.bounded(shipFile(this.store, guideKey(this.opts.queue, farmId), guide.path, guide), 'storing the guide image');
  }

  /** The signed job of a segment: the spec once, the segment's frames, its pieces and the guide's bytes. */
  private jobOf(s: SegmentPlan): SignedJob {
    const { farmId, plan, pieces, guide, fps, range } = this.layout;
    return signJob(this.opts.secret, {
      version: PROTOCOL_VERSION,
      farmId,
      segment: s.index,
      segments: plan.length,
      pieces: pieces.uses[s.index]!.map((i) => this.pieceOf(i)),
      ...(guide ? { guide: { key: guideKey(this.opts.queue, farmId), bytes: guide.bytes, sha256: guide.sha256, name: guide.name } } : {}),
      spec: this.opts.spec,
      fps,
      first: s.first,
      end: s.end,
      warmupFrom: s.warmupFrom,
      tailFrom: s.tailFrom,
      decodeFrom: s.decodeFrom,
      indexBase: range.first,
    });
  }

  private jobOptions(s: SegmentPlan) {
    return { jobId: jobIdOf(this.layout.farmId, s.index), attempts: JOB_ATTEMPTS, backoff: { type: 'fixed', delay: 3000 }, removeOnComplete: false, removeOnFail: false };
  }

  /** Take a segment's job off and queue it afresh, its pieces stored again. */
  async requeue(s: SegmentPlan): Promise<void> {
    await (await this.queue.getJob(jobIdOf(this.layout.farmId, s.index)))?.remove().catch(() => undefined);
    await this.store.srem(doneKey(this.opts.queue, this.layout.farmId), String(s.index));
    await this.ship([s]);
    await this.queue.add(`segment-${s.index}`, this.jobOf(s), this.jobOptions(s));
    this.queued.add(s.index);
  }

  /** Queue more segments, in order, up to the window, so Redis holds a few segments' worth of video, not the whole file. */
  async topUp(): Promise<void> {
    const window = Math.max(this.opts.ahead, 2 * (await this.queue.getWorkersCount()));
    const room = window - this.queued.size;
    const next = this.layout.plan.filter((s) => !this.opts.have.has(s.index) && !this.queued.has(s.index)).slice(0, Math.max(0, room));
    if (next.length === 0) return;
    await this.ship(next);
    await this.queue.addBulk(next.map((s) => ({ name: `segment-${s.index}`, data: this.jobOf(s), opts: this.jobOptions(s) })));
    for (const s of next) this.queued.add(s.index);
  }

  /**
   * Reconcile with what the queue already knows (a restarted coordinator): jobs already there
   * are kept, with their pieces stored again if gone. Returns the segments with a stored result.
   */
  async reconcile(): Promise<Set<number>> {
    const { farmId, plan } = this.layout;
    const stored = new Set((await this.opts.bounded(this.store.smembers(doneKey(this.opts.queue, farmId)), 'reading the finished segments')).map(Number));
    for (const s of plan) {
      if (this.opts.have.has(s.index)) continue;
      const job = await this.opts.bounded(this.queue.getJob(jobIdOf(farmId, s.index)), 'reading the queue');
      if (!job) continue;
      this.queued.add(s.index);
      await this.ship([s]);
      const state = await job.getState();
      if (state === 'failed') await job.retry('failed');
      else if (state === 'completed' && !(stored.has(s.index) && (await this.store.exists(resultKey(this.opts.queue, farmId, s.index))))) await this.requeue(s);
    }
    await this.opts.bounded(this.topUp(), 'queueing the segments');
    return stored;
  }

  /** The segments whose result a worker stored. */
  async done(): Promise<Set<number>> {
    return new Set((await this.store.smembers(doneKey(this.opts.queue, this.layout.farmId))).map(Number));
  }

  /** A segment collected: its stored result and the pieces no segment still to collect needs leave Redis. */
  async collected(s: SegmentPlan): Promise<void> {
    const { farmId, pieces } = this.layout;
    const have = this.opts.have;
    have.add(s.index);
    this.queued.delete(s.index);
    await this.store.del(resultKey(this.opts.queue, farmId, s.index));
    for (const i of pieces.uses[s.index]!) {
      if (pieces.uses.every((u, n) => have.has(n) || !u.includes(i))) await this.store.del(pieceKey(this.opts.queue, farmId, i));
    }
  }

  /**
   * Only this coordinator removes this farm's jobs: one missing without a stored result means
   * Redis lost its data (restarted without persistence, flushed, failed over). Returns those of
   * the waiting segments.
   */
  async lost(done: ReadonlySet<number>): Promise<SegmentPlan[]> {
    const waiting = this.layout.plan.filter((s) => this.queued.has(s.index) && !this.opts.have.has(s.index) && !done.has(s.index));
    const exists = waiting.length === 0 ? [] : ((await waiting.reduce((p, s) => p.exists(this.queue.toKey(jobIdOf(this.layout.farmId, s.index))), this.store.pipeline()).exec()) ?? []);
    return waiting.filter((_, i) => exists[i]?.[1] === 0);
  }

  /** This farm's jobs in `state`. */
  async jobs(state: 'failed' | 'active' | 'completed'): Promise<Array<Job<SignedJob, SegmentResult>>> {
    return (await this.queue.getJobs([state])).filter((j) => j.id?.startsWith(this.prefix));
  }

  /** A segment failed for good: take this farm's remaining work off the queue so workers stop on it. */
  async abandon(): Promise<void> {
    const { farmId, plan } = this.layout;
    for (const s of plan) {
      if (this.opts.have.has(s.index)) continue;
      await this.queue.remove(jobIdOf(farmId, s.index)).catch(() => undefined);
      await this.store.del(resultKey(this.opts.queue, farmId, s.index));
    }
    await this.store.del(doneKey(this.opts.queue, farmId));
  }

  /** Every segment's job as it ended (who did what), before they are removed. */
  async finishedJobs(): Promise<Array<Job<SignedJob, SegmentResult>>> {
    const jobs = await Promise.all(this.layout.plan.map((s) => this.queue.getJob(jobIdOf(this.layout.farmId, s.index))));
    return jobs.filter((j): j is Job<SignedJob, SegmentResult> => j !== undefined);
  }

  /**
   * The farm is joined: its jobs, results, pieces and guide leave Redis. A coordinator killed
   * between collecting a segment and deleting its stored copy, or a worker that finished a
   * segment again after its lock expired, leaves a result nobody would read.
   */
  async clear(): Promise<void> {
    const { farmId, plan, pieces } = this.layout;
    for (const s of plan) {
      await this.queue.remove(jobIdOf(farmId, s.index)).catch(() => undefined);
      await this.store.del(resultKey(this.opts.queue, farmId, s.index));
    }
    for (const i of new Set(pieces.uses.flat())) await this.store.del(pieceKey(this.opts.queue, farmId, i));
    await this.store.del(doneKey(this.opts.queue, farmId), guideKey(this.opts.queue, farmId));
  }

  /** Bounded too: closing waits for Redis, which may be the thing that went away. */
  async close(): Promise<void> {
    await Promise.race([this.queue.close().catch(() => undefined), sleep(2000, undefined)]);
    await this.queue.disconnect().catch(() => undefined);
  }

  /** Segment number of a job of this farm. */
  static segmentOf(job: Job<SignedJob, SegmentResult>): number {
    return segmentOfJobId(job.id!);
  }
}
