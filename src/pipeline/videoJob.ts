import { existsSync } from 'node:fs';
import { readdir, rm, stat, unlink, readFile } from 'node:fs/promises';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { createHash } from 'node:crypto';
import { dreamGain } from '../dream/deepdream.js';
import { fromBytes } from '../dream/image.js';
import { describe as describeObjective, type Objective } from '../dream/objectives.js';
import type { GradientRunner } from '../dream/runner.js';
import { UserError, WriteError } from '../errors.js';
import { concatSegments } from '../media/concat.js';
import { FrameDecoder, evenFit, timingWarning, type Size } from '../media/decoder.js';
import { FrameEncoder, type AudioSource } from '../media/encoder.js';
import { fitScale, type SizeSpec } from '../media/size.js';
import { TemporalDreamStage, type TemporalSettings, type TemporalState } from '../temporal/stage.js';
import { CheckpointStore, workDirFor, writeWhole, type JobProgress } from './checkpoint.js';
import type { Frame, Rational, Stage } from '../frame.js';
import { checkWritableFolder } from '../sinks/writable.js';
import { hiddenStem } from '../paths.js';

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
  /** Output frame rate (`--fps`): the input resampled by its timestamps; default the input's own. */
  rate?: Rational | undefined;
  temporal: TemporalSettings;
  codec?: string | undefined;
  crf?: number | undefined;
  /** Continue an interrupted run of the same job. */
  resume?: boolean;
  /** Frames per committed segment (a crash loses at most the frame in progress). */
  segmentFrames?: number;
  onFrame?: (done: number, total: number | undefined) => void;
  /** Before the first frame: the frames left to dream and the working size (for an estimate up front). */
  onPlan?: (plan: { frames: number | undefined; width: number; height: number; resumedFrom: number }) => Promise<void> | void;
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
  /** Frames made here instead of decoded from `input` (the zoom's still); their sound is `audio`. */
  supply?: FrameSupply | undefined;
  /** The soundtrack of supplied frames (absent: none). */
  audio?: AudioSource | undefined;
}

/** A source of frames for the file loop that is not a decoded file (sources/zoom.ts). */
export interface FrameSupply {
  width: number;
  height: number;
  fps: Rational;
  frameCount: number;
  /** What makes its frames: part of the identity checked on resume. */
  identity: unknown;
  open(size: Size): Promise<AsyncIterable<Frame> & { close(): Promise<void> }>;
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

/** What every rendered file reports (video, vr, zoom): its frames, rate, timing, gain and engine. */
export function renderFacts(result: VideoJobResult, runner: GradientRunner, objective: Objective) {
  return {
    output: result.output,
    frames: result.frames,
    fps: Number((result.fps.num / result.fps.den).toFixed(3)),
    frameRate: `${result.fps.num}/${result.fps.den}`,
    seconds: Number(result.seconds.toFixed(2)),
    secondsPerFrame: Number(result.secondsPerFrame.toFixed(3)),
    dreamGain: result.dreamGain === undefined ? null : Number(result.dreamGain.toFixed(3)),
    width: result.width,
    height: result.height,
    backend: runner.backend,
    model: runner.manifest.name,
    layers: describeObjective(objective),
    resumedFrom: result.resumedFrom,
  };
}

const DEFAULT_SEGMENT_FRAMES = 30;

/** An even working size: yuv420p (what every player plays) needs even dimensions. */
export function workingSize(width: number, height: number, size?: SizeSpec): Size {
  if (!size) return evenFit(width, height, width, height);
  if ('width' in size) return { width: size.width - (size.width % 2), height: size.height - (size.height % 2) };
  const scale = fitScale(size, width, height);
  const even = (x: number): number => Math.max(2, 2 * Math.round(x / 2));
  return { width: even(width * scale), height: even(height * scale) };
}

/** A frame rate given as a number (`--fps 12`, `--fps 29.97`) as the fraction encoders take: the NTSC rates as x000/1001. */
export function rateOf(fps: number): Rational {
  for (const base of [24, 30, 48, 60, 120]) if (Math.abs(fps - (base * 1000) / 1001) < 0.006) return { num: base * 1000, den: 1001 };
  if (Number.isInteger(fps)) return { num: fps, den: 1 };
  const den = 1000;
  const num = Math.round(fps * den);
  const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));
  const g = gcd(num, den);
  return { num: num / g, den: den / g };
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
  const supply = opts.supply;
  const decoderProbe = supply ? undefined : await FrameDecoder.open(opts.input, { start: opts.start, duration: opts.duration, rate: opts.rate });
  const media = decoderProbe?.media ?? { width: supply!.width, height: supply!.height };
  // The rate of the frames the decoder yields: from the packets' timestamps, which a header can
  // contradict; a variable-rate input is resampled to it (docs/architecture.md, "Frame timing").
  const fps = decoderProbe?.info.fps ?? supply!.fps;
  const timing = decoderProbe?.timing;
  await decoderProbe?.close();
  const size = workingSize(media.width, media.height, opts.size);
  await checkVideoOutput(opts.output, size);
  const segmentFrames = opts.segmentFrames ?? DEFAULT_SEGMENT_FRAMES;
  const inputStat = await stat(opts.input);
  const identity = {
    version: 1,
    input: { path: resolve(opts.input), bytes: inputStat.size, mtimeMs: Math.round(inputStat.mtimeMs) },
    size,
    // Which frames exist and their numbering: a resumed run must decode the same ones.
    fps: `${fps.num}/${fps.den}`,
    resampled: timing?.variable ?? false,
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
    ...(supply ? { supply: supply.identity, audio: opts.audio ?? null } : {}),
  };
  const dir = workDirFor(opts.output);
  let store: CheckpointStore;
  let progress: JobProgress = { nextFrame: 0, gainSum: 0, gainCount: 0, dreamSeconds: 0 };
  const stage: ResumableStage = opts.createStage ? opts.createStage(runner, objective, opts.temporal) : new TemporalDreamStage(runner, objective, opts.temporal);
  const previous = await CheckpointStore.identityIn(dir);
  // What segments are encoded with: this run's codec and quality, or, when a resume changes only
  // those, the unfinished run's (its segments are made already); the join then re-encodes.
  let segmentCodec = { codec: identity.codec, crf: identity.crf };
  let reencode: { codec: string; crf: number } | undefined;
  if (opts.resume && previous !== undefined) {
    const prev = previous as Record<string, unknown>;
    const apartFromEncoding = (o: Record<string, unknown>): string => JSON.stringify({ ...o, codec: null, crf: null });
    if (apartFromEncoding(prev) === apartFromEncoding(identity) && (prev.codec !== identity.codec || prev.crf !== identity.crf)) {
      segmentCodec = { codec: String(prev.codec), crf: Number(prev.crf) };
      reencode = { codec: identity.codec, crf: identity.crf };
      opts.onWarning?.(`the unfinished run encodes with ${segmentCodec.codec} (crf ${segmentCodec.crf}): its frames are kept and the join re-encodes them with ${identity.codec} (crf ${identity.crf})`);
    } else if (JSON.stringify(previous) !== JSON.stringify(identity)) {
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
  // Said once the job is sure to start (a refused output or resume prints its one line alone).
  // A rate the user chose replaces whatever the input's timing would have been corrected to.
  const timingNote = opts.rate || !decoderProbe ? undefined : timingWarning(opts.input, decoderProbe.media, timing);
  if (timingNote) opts.onWarning?.(timingNote);
  const planned = decoderProbe ? decoderProbe.info.frameCount : supply!.frameCount;
  await opts.onPlan?.({ frames: planned === undefined ? undefined : Math.max(0, planned - resumedFrom), width: size.width, height: size.height, resumedFrom });

  // Segments are MP4 pieces, except for VP8, which MP4 cannot hold (Matroska takes it).
  const segmentFile = (segment: number): string => (segmentCodec.codec === 'libvpx' ? store.segmentPath(segment).replace(/\.mp4$/, '.mkv') : store.segmentPath(segment));
  const encodeSegment = async (segment: number, frames: number): Promise<void> => {
    const first = segment * segmentFrames;
    const encoder = await FrameEncoder.open(segmentFile(segment), {
      width: size.width,
      height: size.height,
      fps,
      codec: segmentCodec.codec,
      crf: segmentCodec.crf,
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

  const aborted = new Promise<never>((_, reject) => {
    const onAbort = (): void => reject(new Interrupted(progress.nextFrame, dir));
    if (opts.signal?.aborted) onAbort();
    opts.signal?.addEventListener('abort', onAbort, { once: true });
  });
  aborted.catch(() => undefined);
  let decoder: (AsyncIterable<Frame> & { close(): Promise<void> }) | undefined;
  try {
    // Opened inside the try: a file that fails to decode leaves no work folder behind either.
    const decoded = supply ? undefined : await FrameDecoder.open(opts.input, { size, start: opts.start, duration: opts.duration, rate: opts.rate, onWarning: opts.onWarning });
    decoder = decoded ?? (await supply!.open(size));
    const total = decoded ? decoded.info.frameCount : supply!.frameCount;
    let t0 = performance.now();
    const resumeAt = progress.nextFrame;
    for await (const { frame, dreamed } of throughStage(decoder, stage, { abort: aborted, select: (f) => (f.index < resumeAt ? undefined : f) })) {
      const gain = await Promise.race([frameGain(runner, objective, frame, dreamed, opts.temporal.dream.tile), aborted]);
      await writeWhole(store.framePath(frame.index), dreamed.data);
      const next: JobProgress = {
        nextFrame: frame.index + 1,
        gainSum: progress.gainSum + (gain ?? 0),
        gainCount: progress.gainCount + (gain === undefined ? 0 : 1),
        dreamSeconds: progress.dreamSeconds + (performance.now() - t0) / 1000,
      };
      // `progress` is what is on disk: a commit that fails (a full disk) leaves it as it was.
      await store.commit(next, stage.snapshot());
      progress = next;
      if (progress.nextFrame % segmentFrames === 0) await encodeSegment(progress.nextFrame / segmentFrames - 1, segmentFrames);
      opts.onFrame?.(progress.nextFrame, total);
      t0 = performance.now();
    }
  } catch (err) {
    // Failed before a single frame was committed: there is nothing to resume, so no work folder.
    if (progress.nextFrame === 0) await store.remove().catch(() => undefined);
    else {
      // The frame being committed when it failed is not part of the job yet.
      await rm(store.framePath(progress.nextFrame), { force: true }).catch(() => undefined);
      await removeTemps(opts.output, dir);
    }
    throw resumable(err, progress.nextFrame, dir);
  } finally {
    await decoder?.close();
  }
  if (progress.nextFrame === 0) {
    // Nothing to resume: leave no work folder behind.
    await store.remove();
    throw new UserError(`${opts.input}: no video frames could be decoded`);
  }

  const segments = Math.ceil(progress.nextFrame / segmentFrames);
  try {
    for (let s = 0; s < segments; s++) {
      if (!existsSync(segmentFile(s))) await encodeSegment(s, Math.min(segmentFrames, progress.nextFrame - s * segmentFrames));
    }
    await concatSegments(
      Array.from({ length: segments }, (_, s) => segmentFile(s)),
      opts.output,
      { audioFrom: supply ? opts.audio : { path: opts.input, start: opts.start, duration: opts.duration }, faststart: opts.faststart, finalize: opts.finalize, reencode },
    );
  } catch (err) {
    // Every frame is committed: the work folder joins the output on --resume once there is room.
    await removeTemps(opts.output, dir);
    throw resumable(err, progress.nextFrame, dir);
  }
  await store.remove();
  return {
    output: opts.output,
    frames: progress.nextFrame,
    fps,
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

/**
 * Remove this process's temp files of a failed job: the encoder's and the join's partial outputs
 * beside the output (`.NAME.partial-PID…`, also the join's list) and half-written commits in the
 * work folder (`*.tmp-PID`). What a resume needs (job.json, state.bin, frames, segments) stays.
 */
async function removeTemps(output: string, dir: string): Promise<void> {
  const pid = String(process.pid);
  const stem = hiddenStem(basename(output, extname(output)));
  // The pid must end where the name's next part begins: `.x.partial-12` is not `.x.partial-123`.
  const partial = new RegExp(`^\\.${escapeRegExp(stem)}\\.partial-${pid}(?:[-.]|$)`);
  await removeMatching(dirname(resolve(output)), (name) => partial.test(name));
  await removeMatching(dir, (name) => name.endsWith(`.tmp-${pid}`) || new RegExp(`\\.partial-${pid}(?:[-.]|$)`).test(name));
}

async function removeMatching(folder: string, match: (name: string) => boolean): Promise<void> {
  const names = await readdir(folder).catch(() => [] as string[]);
  await Promise.all(names.filter(match).map((name) => rm(join(folder, name), { force: true }).catch(() => undefined)));
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Words of a full or read-only disk in ffmpeg's messages (its own errno texts). */
const DISK_TROUBLE = /no space left on device|disk quota exceeded|read-only file system/i;

/**
 * A job that failed for lack of space (or a read-only disk) after committing frames keeps them:
 * the message says where and that --resume continues once there is room.
 */
function resumable(err: unknown, committed: number, dir: string): unknown {
  if (committed === 0 || err instanceof Interrupted) return err;
  const disk = err instanceof WriteError || (err instanceof UserError && DISK_TROUBLE.test(err.message));
  if (!disk) return err;
  const problem = err instanceof WriteError ? err.problem : (DISK_TROUBLE.exec((err as UserError).message)?.[0].toLowerCase() ?? 'no space left on device');
  const remedy = /space|quota/.test(problem) ? 'free some space' : 'make the folder writable';
  const message = `${(err as UserError).message}; ${committed} finished frame(s) are kept in ${dir}: ${remedy} and run the same command with --resume`;
  return new WriteError(message, problem);
}

const VIDEO_EXTENSIONS = ['.mp4', '.m4v', '.mov', '.mkv', '.webm', '.avi'];

/**
 * Before any work: a known container and an existing folder that files can be written in (not
 * read-only, not full); failing after hours is worst. With the working `size`, the folder must
 * also have room for the first frame and its commit (bytesToStart).
 */
export async function checkVideoOutput(output: string, size?: Size): Promise<void> {
  if (!VIDEO_EXTENSIONS.includes(extname(output).toLowerCase())) {
    throw new UserError(`cannot tell the video format of ${output}: use one of ${VIDEO_EXTENSIONS.join(' ')}`);
  }
  checkWritableFolder(dirname(resolve(output)), output, size ? bytesToStart(size) : 0);
}

/**
 * Bytes the work folder needs for a job's first frame: the dreamed frame (RGB24) and the commit
 * beside it (state.bin: the input frame and the float dream, 3 + 12 bytes a pixel), plus room
 * for job.json. Less free space than this fails before anything could be kept.
 */
export function bytesToStart(size: Size): number {
  return size.width * size.height * (3 + 15) + 64 * 1024;
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
