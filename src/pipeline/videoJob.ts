import { stat, unlink, writeFile, readFile } from 'node:fs/promises';
import { dirname, extname, resolve } from 'node:path';
import { createHash } from 'node:crypto';
import { dreamGain } from '../dream/deepdream.js';
import { fromBytes } from '../dream/image.js';
import { describe as describeObjective, type Objective } from '../dream/objectives.js';
import type { GradientRunner } from '../dream/runner.js';
import { UserError } from '../errors.js';
import { concatSegments } from '../media/concat.js';
import { FrameDecoder, evenFit, type Size } from '../media/decoder.js';
import { FrameEncoder } from '../media/encoder.js';
import type { SizeSpec } from '../media/size.js';
import { TemporalDreamStage, type TemporalSettings, type TemporalState } from '../temporal/stage.js';
import { CheckpointStore, workDirFor, type JobProgress } from './checkpoint.js';
import type { Frame, Rational, Stage } from '../frame.js';

/** A stage whose state can be committed after every frame and restored to resume a job. */
export interface ResumableStage extends Stage {
  snapshot(): TemporalState | undefined;
  restore(state: TemporalState): void;
}

export interface VideoJobOptions {
  input: string;
  output: string;
  /** Working (and output) size; default the input's own, made even. */
  size?: SizeSpec | undefined;
  start?: number | undefined;
  duration?: number | undefined;
  temporal: TemporalSettings;
  codec?: string | undefined;
  crf?: number | undefined;
  /** Continue an interrupted run of the same job. */
  resume?: boolean;
  /** Frames per committed segment (a crash loses at most the frame in progress). */
  segmentFrames?: number;
  onFrame?: (done: number, total: number | undefined) => void;
  onWarning?: (message: string) => void;
  signal?: AbortSignal | undefined;
  /** The per-frame stage (default: a TemporalDreamStage with `temporal`); e.g. the 360° stage. */
  createStage?: (runner: GradientRunner, objective: Objective, temporal: TemporalSettings) => ResumableStage;
  /** Settings of a custom stage that change its output: part of the identity checked on resume. */
  stageIdentity?: unknown;
  /** MP4/MOV: index first (default true). */
  faststart?: boolean | undefined;
  /** Last edit of the finished file before it is renamed into place (e.g. metadata boxes). */
  finalize?: ((tempPath: string) => Promise<void>) | undefined;
}

export interface VideoJobResult {
  output: string;
  frames: number;
  fps: Rational;
  width: number;
  height: number;
  /** Wall time of this invocation. */
  seconds: number;
  /** Dreaming time per frame, over all invocations of a resumed job. */
  secondsPerFrame: number;
  dreamGain: number | undefined;
  resumedFrom: number;
}

const DEFAULT_SEGMENT_FRAMES = 30;

/** An even working size: yuv420p (what every player plays) needs even dimensions. */
export function workingSize(width: number, height: number, size?: SizeSpec): Size {
  if (!size) return evenFit(width, height, width, height);
  if ('width' in size) return { width: size.width - (size.width % 2), height: size.height - (size.height % 2) };
  const scale = size.fit / Math.max(width, height);
  const even = (x: number): number => Math.max(2, 2 * Math.round(x / 2));
  return { width: even(width * scale), height: even(height * scale) };
}

function objectiveIdentity(objective: Objective): string[] {
  // Guide features are large: identify them by hash.
  return objective.terms.map((t) =>
    t.kind === 'guide' ? `guide:${t.layer}:${t.weight}:${createHash('sha256').update(new Uint8Array(t.features.buffer)).digest('hex').slice(0, 16)}` : describeObjective({ terms: [t] })[0]!,
  );
}

/**
 * Dream a video file: decode → temporal dream stage → segments committed frame by frame →
 * segments joined with the original audio into the output (atomically). Resumable: with
 * `resume`, a run continues from the last finished frame and produces the same file as an
 * uninterrupted run with the same settings.
 */
export async function runVideoJob(runner: GradientRunner, objective: Objective, opts: VideoJobOptions): Promise<VideoJobResult> {
  const started = performance.now();
  await checkVideoOutput(opts.output);
  const decoderProbe = await FrameDecoder.open(opts.input, { start: opts.start, duration: opts.duration });
  const media = decoderProbe.media;
  await decoderProbe.close();
  const size = workingSize(media.width, media.height, opts.size);
  const segmentFrames = opts.segmentFrames ?? DEFAULT_SEGMENT_FRAMES;
  const inputStat = await stat(opts.input);
  const identity = {
    version: 1,
    input: { path: resolve(opts.input), bytes: inputStat.size, mtimeMs: Math.round(inputStat.mtimeMs) },
    size,
    start: opts.start ?? 0,
    duration: opts.duration ?? null,
    temporal: opts.temporal,
    objective: objectiveIdentity(objective),
    model: runner.manifest.name,
    backend: runner.backend,
    parallelism: runner.parallelism,
    codec: opts.codec ?? 'libx264',
    crf: opts.crf ?? 18,
    segmentFrames,
    ...(opts.stageIdentity === undefined ? {} : { stage: opts.stageIdentity }),
  };
  const dir = workDirFor(opts.output);
  let store: CheckpointStore;
  let progress: JobProgress = { nextFrame: 0, gainSum: 0, gainCount: 0, dreamSeconds: 0 };
  const stage: ResumableStage = opts.createStage ? opts.createStage(runner, objective, opts.temporal) : new TemporalDreamStage(runner, objective, opts.temporal);
  const previous = await CheckpointStore.identityIn(dir);
  if (opts.resume && previous !== undefined) {
    if (JSON.stringify(previous) !== JSON.stringify(identity)) {
      throw new UserError(
        `cannot resume: the unfinished run in ${dir} used other settings or another input; run without --resume to start over`,
      );
    }
    store = new CheckpointStore(dir);
    const checkpoint = await store.load();
    if (checkpoint) {
      progress = checkpoint.progress;
      if (checkpoint.state) stage.restore(checkpoint.state);
    }
  } else {
    if (previous !== undefined && !opts.resume) opts.onWarning?.(`discarding an unfinished run in ${dir} (use --resume to continue one)`);
    if (opts.resume && previous === undefined) opts.onWarning?.('nothing to resume: starting from the first frame');
    store = await CheckpointStore.create(dir, identity);
  }
  const resumedFrom = progress.nextFrame;

  const encodeSegment = async (segment: number, frames: number): Promise<void> => {
    const first = segment * segmentFrames;
    const encoder = await FrameEncoder.open(store.segmentPath(segment), {
      width: size.width,
      height: size.height,
      fps: media.fps,
      codec: opts.codec,
      crf: opts.crf,
      faststart: false,
    });
    try {
      for (let i = first; i < first + frames; i++) {
        const data = new Uint8Array(await readFile(store.framePath(i)));
        await encoder.write({ index: i, ptsSeconds: 0, width: size.width, height: size.height, data });
      }
      await encoder.close();
    } catch (err) {
      await encoder.abort();
      throw err;
    }
    for (let i = first; i < first + frames; i++) await unlink(store.framePath(i)).catch(() => undefined);
  };

  const decoder = await FrameDecoder.open(opts.input, { size, start: opts.start, duration: opts.duration, onWarning: opts.onWarning });
  const total = decoder.info.frameCount;
  const aborted = new Promise<never>((_, reject) => {
    const onAbort = (): void => reject(new Interrupted(progress.nextFrame, dir));
    if (opts.signal?.aborted) onAbort();
    opts.signal?.addEventListener('abort', onAbort, { once: true });
  });
  aborted.catch(() => undefined);
  try {
    let t0 = performance.now();
    const resumeAt = progress.nextFrame;
    for await (const { frame, dreamed } of throughStage(decoder, stage, { abort: aborted, select: (f) => (f.index < resumeAt ? undefined : f) })) {
      const gain = await Promise.race([frameGain(runner, objective, frame, dreamed, opts.temporal.dream.tile), aborted]);
      await writeFile(store.framePath(frame.index), dreamed.data);
      progress = {
        nextFrame: frame.index + 1,
        gainSum: progress.gainSum + (gain ?? 0),
        gainCount: progress.gainCount + (gain === undefined ? 0 : 1),
        dreamSeconds: progress.dreamSeconds + (performance.now() - t0) / 1000,
      };
      await store.commit(progress, stage.snapshot());
      if (progress.nextFrame % segmentFrames === 0) await encodeSegment(progress.nextFrame / segmentFrames - 1, segmentFrames);
      opts.onFrame?.(progress.nextFrame, total);
      t0 = performance.now();
    }
  } catch (err) {
    // Failed before a single frame was committed: there is nothing to resume, so no work folder.
    if (progress.nextFrame === 0) await store.remove().catch(() => undefined);
    throw err;
  } finally {
    await decoder.close();
  }
  if (progress.nextFrame === 0) {
    // Nothing to resume: leave no work folder behind.
    await store.remove();
    throw new UserError(`${opts.input}: no video frames could be decoded`);
  }

  const segments = Math.ceil(progress.nextFrame / segmentFrames);
  for (let s = 0; s < segments; s++) {
    if (!store.hasSegment(s)) await encodeSegment(s, Math.min(segmentFrames, progress.nextFrame - s * segmentFrames));
  }
  await concatSegments(
    Array.from({ length: segments }, (_, s) => store.segmentPath(s)),
    opts.output,
    { audioFrom: { path: opts.input, start: opts.start, duration: opts.duration }, faststart: opts.faststart, finalize: opts.finalize },
  );
  await store.remove();
  return {
    output: opts.output,
    frames: progress.nextFrame,
    fps: media.fps,
    width: size.width,
    height: size.height,
    seconds: (performance.now() - started) / 1000,
    secondsPerFrame: progress.dreamSeconds / Math.max(1, progress.nextFrame),
    dreamGain: progress.gainCount > 0 ? progress.gainSum / progress.gainCount : undefined,
    resumedFrom,
  };
}

/** Dream gain of one frame (docs/architecture.md): a measurement at the working resolution, not part of the stage. */
function frameGain(runner: GradientRunner, objective: Objective, input: Frame, output: Frame, tile: number): Promise<number | undefined> {
  return dreamGain(runner, fromBytes(input.width, input.height, input.data), fromBytes(output.width, output.height, output.data), objective, tile);
}

const VIDEO_EXTENSIONS = ['.mp4', '.m4v', '.mov', '.mkv', '.webm', '.avi'];

/** Before any work: a known container and an existing folder (failing after hours is worst). */
export async function checkVideoOutput(output: string): Promise<void> {
  if (!VIDEO_EXTENSIONS.includes(extname(output).toLowerCase())) {
    throw new UserError(`cannot tell the video format of ${output}: use one of ${VIDEO_EXTENSIONS.join(' ')}`);
  }
  const folder = dirname(resolve(output));
  const info = await stat(folder).catch(() => undefined);
  if (!info?.isDirectory()) throw new UserError(`output folder does not exist: ${folder}`);
}

/** Raised when the job is interrupted (Ctrl-C / SIGTERM): the work folder stays for --resume. */
export class Interrupted extends UserError {
  constructor(nextFrame: number, dir: string) {
    super(`interrupted after ${nextFrame} finished frame(s); run the same command with --resume to continue (progress kept in ${dir})`, 130);
  }
}

/**
 * The file loop's core, shared by whole-file jobs and farm segments: every frame of `frames`, in
 * order and none dropped, through `stage` (backpressure: the next frame is decoded only when the
 * stage has taken this one). `select` renumbers a decoded frame (its ordinal counts from 0) or
 * skips it (undefined): resumed frames, a farm segment's frames before its warm-up. `abort`
 * rejects to stop between or during frames.
 */
export async function* throughStage(
  frames: AsyncIterable<Frame>,
  stage: Stage,
  opts: { select?: (frame: Frame, ordinal: number) => Frame | undefined; abort?: Promise<never> } = {},
): AsyncGenerator<{ frame: Frame; dreamed: Frame; ordinal: number }> {
  const abort = opts.abort ?? new Promise<never>(() => undefined);
  let ordinal = 0;
  for await (const decoded of race(frames, abort)) {
    const n = ordinal++;
    const frame = opts.select ? opts.select(decoded, n) : decoded;
    if (!frame) continue;
    const dreamed = await Promise.race([stage.process(frame), abort]);
    yield { frame, dreamed, ordinal: n };
  }
}

/** Iterate a source, stopping with the abort promise's rejection. */
async function* race<T>(source: AsyncIterable<T>, abort: Promise<never>): AsyncGenerator<T> {
  const it = source[Symbol.asyncIterator]();
  while (true) {
    const next = await Promise.race([it.next(), abort]);
    if (next.done) return;
    yield next.value;
  }
}
