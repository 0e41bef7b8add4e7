/**
 * The farm's layout of one job, decided before anything is queued: the input's frames and rate,
 * the working size, the segments and the pieces they are decoded from, the guide image, and the
 * farm id that names it all in Redis (docs/architecture.md, "The farm").
 */
import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { extname, resolve } from 'node:path';
import { UserError } from '../errors.js';
import type { Rational } from '../frame.js';
import { formatRate, type Size } from '../media/decoder.js';
import { probe, probeFrameTiming } from '../media/probe.js';
import type { PipelineSpec } from '../pipeline/spec.js';
import { workingSize } from '../pipeline/videoJob.js';
import { sha256 } from './auth.js';
import { frameRange, parseSegmentLength, planPieces, planSegments, readFrameTable, type SegmentPlan } from './plan.js';
import { PROTOCOL_VERSION } from './protocol.js';
import type { FarmVideo } from './settings.js';
import { MAX_GUIDE_BYTES } from './source.js';

/** The guide image as the coordinator read it: workers get its bytes under `name`, never its path. */
export interface FarmGuide {
  path: string;
  name: string;
  bytes: number;
  sha256: string;
}

export interface FarmLayout {
  /** Absolute paths of the input and the output. */
  input: string;
  output: string;
  farmId: string;
  size: Size;
  frameBytes: number;
  fps: Rational;
  segmentFrames: number;
  warmup: number;
  /** The input's frames dreamed: [first, end) in its own frame numbers. */
  range: { first: number; end: number };
  plan: SegmentPlan[];
  pieces: ReturnType<typeof planPieces>;
  guide: FarmGuide | undefined;
}

/** Probe the input once and plan the farm's segments and pieces; warnings go to `onWarning`. */
export async function layOutFarm(video: FarmVideo, spec: PipelineSpec, opts: { segment: string; warmup: number; onWarning?: ((message: string) => void) | undefined }): Promise<FarmLayout> {
  const input = resolve(video.input);
  const output = resolve(video.output);
  const media = await probe(input);
  const size = workingSize(media.width, media.height, video.size);
  const timing = await probeFrameTiming(input, media);
  // Segments are planned on packets, one frame each; a variable-rate input would be resampled by
  // every worker's decoder on its own pieces, and the segments would not meet.
  if (timing?.variable) {
    throw new UserError(`${video.input} has a variable frame rate; the farm needs a constant one: dream it with "dreamflow video", or make it constant first (ffmpeg -i IN -vf fps=${formatRate(timing.fps)} OUT.mp4)`);
  }
  const fps = timing?.fps ?? media.fps;
  const segmentFrames = parseSegmentLength(opts.segment, fps.num / fps.den);
  const warmup = opts.warmup;

  const table = await readFrameTable(input);
  if (table.times.length !== media.frameCount) {
    opts.onWarning?.(`${video.input}: the container states ${media.frameCount} frames, its packets ${table.times.length}; dreaming the ${table.times.length} there are`);
  }
  const range = frameRange(table.times, video.start, video.duration);
  if (range.end <= range.first) throw new UserError(`${video.input}: no frames to dream (is --start past the end?)`);
  const plan = planSegments(table, range, { segmentFrames, warmup });
  if (plan.length === 1 && range.end - range.first > 2 * segmentFrames) {
    opts.onWarning?.(`${video.input} has too few keyframes to split (one segment, one worker); re-encode it with a shorter keyframe interval (ffmpeg -g)`);
  }
  const pieces = planPieces(table, plan);
  const guide = await readGuide(spec);

  const inputStat = await stat(input);
  const farmId = createHash('sha256')
    .update(
      JSON.stringify({
        version: PROTOCOL_VERSION,
        input: { path: input, bytes: inputStat.size, mtimeMs: Math.round(inputStat.mtimeMs) },
        output,
        stages: spec.stages,
        guide: guide?.sha256 ?? null,
        size,
        codec: video.codec,
        crf: video.crf ?? null,
        segments: plan.map((s) => [s.first, s.end, s.warmupFrom]),
      }),
    )
    .digest('hex')
    .slice(0, 16);
  return { input, output, farmId, size, frameBytes: size.width * size.height * 3, fps, segmentFrames, warmup, range, plan, pieces, guide };
}

/** The guide image the dream stage names, read here: workers get its bytes, never its path. */
async function readGuide(spec: PipelineSpec): Promise<FarmGuide | undefined> {
  const dream = spec.stages.find((s) => s.kind === 'dream');
  if (!dream || typeof dream.guide !== 'string') return undefined;
  const path = resolve(dream.guide);
  const data = await readFile(path);
  if (data.length > MAX_GUIDE_BYTES) throw new UserError(`--guide ${dream.guide} is ${(data.length / 2 ** 20).toFixed(0)} MB; the farm ships at most ${MAX_GUIDE_BYTES / 2 ** 20} MB`);
  return { path, name: `guide${extname(path).toLowerCase().replace(/[^.a-z0-9]/g, '')}`, bytes: data.length, sha256: sha256(data) };
}
