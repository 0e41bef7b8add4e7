/**
 * What the coordinator and the workers agree on: the queue, the job's data, its result, and
 * where a finished segment is stored in Redis (so workers need no shared output folder).
 */
import type { Rational } from '../frame.js';
import type { PipelineSpec } from '../pipeline/spec.js';
import type { SegmentPlan } from './plan.js';

export const DEFAULT_QUEUE = 'dreamflow';

/** Bumped when SegmentJob changes meaning, so an old worker refuses a job it would misread. */
export const PROTOCOL_VERSION = 4;

/** Finished segments and shipped sources wait this long for their coordinator (a coordinator can be restarted). */
export const RESULT_TTL_SECONDS = 7 * 24 * 3600;

/** Bytes a worker fetches from Redis: the key, its exact length and its SHA-256 (both signed with the job). */
export interface ShippedFile {
  key: string;
  bytes: number;
  sha256: string;
}

/** A stream-copied piece of the input: whole GOPs from one keyframe, `frames` frames long. */
export interface SourcePiece extends ShippedFile {
  frames: number;
  /** Container of the piece (`mov` or `mkv`): the worker names its temp file after it. */
  format: 'mov' | 'mkv';
}

/**
 * A segment's frames as planned (first, end, warm-up, dissolve tail) plus what dreams them.
 * It names no path on the worker's machine: the input arrives as pieces stored in Redis, and so
 * does the guide image (docs/architecture.md, "The farm's trust boundary").
 */
export interface SegmentJob extends Omit<SegmentPlan, 'index' | 'seekSeconds'> {
  version: number;
  farmId: string;
  segment: number;
  segments: number;
  /** Pieces covering frames [decodeFrom, end) in order: the worker decodes them one after another. */
  pieces: SourcePiece[];
  /** The guide image's bytes when the dream stage has a guide; the spec's `guide` is then only its file name. */
  guide?: ShippedFile & { name: string };
  /**
   * The farm's pipeline spec (validated by the coordinator), carried once: its stages are what
   * every segment's frames go through, its source's `size` and its video sink's codec and crf
   * are read from it by the worker as by the coordinator (settings.ts).
   */
  spec: PipelineSpec;
  /** The input's frame rate (from its packets' timestamps; the spec names none on a farm). */
  fps: Rational;
  /** File frame number of the job's frame 0 (--start): frame indices (and jitter seeds) count from it. */
  indexBase: number;
}

/**
 * What a BullMQ job carries: the job as JSON text and its HMAC under the farm's shared secret
 * (null on an `--insecure` farm). The worker checks the MAC over the exact text before parsing.
 */
export interface SignedJob {
  payload: string;
  mac: string | null;
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

/** The segment number in a job id made by jobIdOf. Pure. */
export function segmentOfJobId(id: string): number {
  return Number(id.slice(id.lastIndexOf('-') + 1));
}

/**
 * A finished segment in Redis: a hash with `body` (the encoded frames [first, tailFrom), absent
 * when empty), `head` and `tail` (the dissolve's frames as deflated raw RGB24, absent when none)
 * and `mac`, the worker's HMAC over the parts (see auth.ts).
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

/** One stream-copied piece of the input, shared by the segments whose frames it holds. */
export function pieceKey(queue: string, farmId: string, piece: number): string {
  return `dreamflow:${queue}:${farmId}:piece:${piece}`;
}

export function guideKey(queue: string, farmId: string): string {
  return `dreamflow:${queue}:${farmId}:guide`;
}
