/**
 * What the coordinator and the workers agree on: the queue, the job's data, its result, and
 * where a finished segment is stored in Redis (so workers need no shared output folder).
 */
import type { Rational } from '../frame.js';
import type { PipelineSpec } from '../pipeline/spec.js';
import type { SegmentPlan } from './plan.js';

export const DEFAULT_QUEUE = 'dreamflow';

/** Bumped when SegmentJob changes meaning, so an old worker refuses a job it would misread. */
export const PROTOCOL_VERSION = 2;

/** Finished segments wait this long for their coordinator (a coordinator can be restarted). */
export const RESULT_TTL_SECONDS = 7 * 24 * 3600;

/** A segment's frames as planned (first, end, warm-up, dissolve tail, seek) plus what dreams them. */
export interface SegmentJob extends Omit<SegmentPlan, 'index'> {
  version: number;
  farmId: string;
  segment: number;
  segments: number;
  /** Absolute path of the input: every worker must see the same file (shared storage). */
  input: string;
  /**
   * The farm's pipeline spec (validated by the coordinator): its stages are what every segment's
   * frames go through, read by the same spec code on every machine. Paths in it (the guide
   * image) are absolute.
   */
  spec: PipelineSpec;
  width: number;
  height: number;
  fps: Rational;
  codec: string | undefined;
  crf: number | undefined;
  /** File frame number of the job's frame 0 (--start): frame indices (and jitter seeds) count from it. */
  indexBase: number;
}

export interface SegmentResult {
  /** Worker name (host:pid) that dreamed the segment. */
  worker: string;
  frames: number;
  warmupFrames: number;
  /** Wall time spent on the segment (decode, dream, encode, store). */
  seconds: number;
  bytes: number;
  /** Longest the worker's event loop was blocked during the job (lock renewals wait that long). */
  maxEventLoopStallMs: number;
}

/** BullMQ job id: deterministic, so a restarted coordinator re-adds the same jobs (a no-op). */
export function jobIdOf(farmId: string, segment: number): string {
  return `${farmId}-${segment}`;
}

/**
 * A finished segment in Redis: a hash with `body` (the encoded frames [first, tailFrom), absent
 * when empty), `head` and `tail` (the dissolve's frames as deflated raw RGB24, absent when none).
 */
export type SegmentPart = 'body' | 'head' | 'tail';
export const SEGMENT_PARTS: readonly SegmentPart[] = ['body', 'head', 'tail'];

export function resultKey(queue: string, farmId: string, segment: number): string {
  return `dreamflow:${queue}:${farmId}:segment:${segment}`;
}

/** Set of the segment numbers whose result is stored. */
export function doneKey(queue: string, farmId: string): string {
  return `dreamflow:${queue}:${farmId}:done`;
}
