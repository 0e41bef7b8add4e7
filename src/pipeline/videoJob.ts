import { stat } from 'node:fs/promises';
import { dirname, extname, resolve } from 'node:path';
import { createHash } from 'node:crypto';
import { describe as describeObjective, type Objective } from '../dream/objectives.js';
import type { GradientRunner } from '../dream/runner.js';
import { unlessStopped, UserError, WriteError } from '../errors.js';
import { FrameDecoder, evenFit, timingWarning, type Size } from '../media/decoder.js';
import type { AudioSource } from '../media/encoder.js';
import type { MediaInfo } from '../media/probe.js';
import { fitScale, type SizeSpec } from '../media/size.js';
import { TemporalDreamStage, type TemporalSettings } from '../temporal/stage.js';
import { CheckpointStore, workDirFor, type JobProgress } from './checkpoint.js';
import type { Frame, Rational, Sink } from '../frame.js';
import { checkWritableFolder } from '../sinks/writable.js';
import { runLoop, type ChainedFrame } from './runLoop.js';
import { frameGain, SegmentSink } from './segmentSink.js';
import type { ChainStage } from './stageModule.js';
import { DreamingStage } from './stages/dream.js';

export interface VideoJobOptions {
  input: string;
  output: string;
  /** What ffprobe said about `input` when the caller probed it already (the input is probed once). */
  media?: MediaInfo | undefined;
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
  /** The stage chain (stages.ts, stagesOf; default: the temporal dream stage with `temporal`). */
  createStage?: (runner: GradientRunner, objective: Objective, temporal: TemporalSettings) => ChainStage;
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
  /** More sinks every dreamed frame goes to besides the video (sinkRegistry.ts), opened before the first frame. */
  sinks?: ((size: Size, fps: Rational) => Promise<Array<Sink<ChainedFrame>>>) | undefined;
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

/** What the job reads its frames from: a file probed once, or a frame supply (the zoom's still). */
interface JobInput {
  width: number;
  height: number;
  /** The rate of the frames the loop gets (from the packets' timestamps, which a header can contradict). */
  fps: Rational;
  frames: number | undefined;
  decoder?: FrameDecoder | undefined;
  open(size: Size, onWarning?: (message: string) => void): Promise<AsyncIterable<Frame> & { close(): Promise<void> }>;
}

async function openInput(opts: VideoJobOptions): Promise<JobInput> {
  const supply = opts.supply;
  if (supply) return { width: supply.width, height: supply.height, fps: supply.fps, frames: supply.frameCount, open: (size) => supply.open(size) };
  // A variable-rate input is resampled to the packets' rate (docs/architecture.md, "Frame timing").
  const decoder = await FrameDecoder.open(opts.input, { start: opts.start, duration: opts.duration, rate: opts.rate }, opts.media);
  await decoder.close();
  const open = async (size: Size, onWarning?: (message: string) => void) => decoder.withOptions({ size, onWarning });
  return { width: decoder.media.width, height: decoder.media.height, fps: decoder.info.fps, frames: decoder.info.frameCount, decoder, open };
}

/** Everything that decides a job's frames: a resume must match it (checkpoint.ts, job.json). */
async function jobIdentity(runner: GradientRunner, objective: Objective, opts: VideoJobOptions, input: JobInput, size: Size, segmentFrames: number) {
  const inputStat = await stat(opts.input);
  return {
    version: 1,
    input: { path: resolve(opts.input), bytes: inputStat.size, mtimeMs: Math.round(inputStat.mtimeMs) },
    size,
    // Which frames exist and their numbering: a resumed run must decode the same ones.
    fps: `${input.fps.num}/${input.fps.den}`,
    resampled: input.decoder?.timing?.variable ?? false,
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
    ...(opts.supply ? { supply: opts.supply.identity, audio: opts.audio ?? null } : {}),
  };
}

type Identity = Awaited<ReturnType<typeof jobIdentity>>;

/**
 * The work folder of a job: a new one, or with `resume` the unfinished run's (its stage state
 * restored into `stage`). What segments are encoded with: this run's codec and quality, or, when
 * a resume changes only those, the unfinished run's (its segments are made already); the join
 * then re-encodes.
 */
async function openWork(dir: string, identity: Identity, stage: ChainStage, opts: VideoJobOptions) {
  let progress: JobProgress = { nextFrame: 0, gainSum: 0, gainCount: 0, dreamSeconds: 0 };
  let encoding = { codec: identity.codec, crf: identity.crf };
  let reencode: { codec: string; crf: number } | undefined;
  const previous = await CheckpointStore.identityIn(dir);
  if (!opts.resume || previous === undefined) {
    if (previous !== undefined && !opts.resume) opts.onWarning?.(`discarding an unfinished run in ${dir} (use --resume to continue one)`);
    if (opts.resume && previous === undefined) opts.onWarning?.('nothing to resume: starting from the first frame');
    return { store: await CheckpointStore.create(dir, identity), progress, encoding, reencode };
  }
  const prev = previous as Record<string, unknown>;
  const apartFromEncoding = (o: Record<string, unknown>): string => JSON.stringify({ ...o, codec: null, crf: null });
  if (apartFromEncoding(prev) === apartFromEncoding(identity) && (prev.codec !== identity.codec || prev.crf !== identity.crf)) {
    encoding = { codec: String(prev.codec), crf: Number(prev.crf) };
    reencode = { codec: identity.codec, crf: identity.crf };
    opts.onWarning?.(`the unfinished run encodes with ${encoding.codec} (crf ${encoding.crf}): its frames are kept and the join re-encodes them with ${identity.codec} (crf ${identity.crf})`);
  } else if (JSON.stringify(previous) !== JSON.stringify(identity)) {
    throw new UserError(`cannot resume: the unfinished run in ${dir} used other settings or another input; run without --resume to start over`);
  }
  const store = new CheckpointStore(dir);
  const checkpoint = await store.load();
  if (checkpoint) {
    progress = checkpoint.progress;
    if (checkpoint.state) stage.restore(checkpoint.state);
  }
  return { store, progress, encoding, reencode };
}

/**
 * Dream a video file: decode → stage chain → segments committed frame by frame → segments
 * joined with the original audio into the output (atomically). Resumable: with `resume`, a run
 * continues from the last finished frame and produces the same file as an uninterrupted run
 * with the same settings.
 */
export async function runVideoJob(runner: GradientRunner, objective: Objective, opts: VideoJobOptions): Promise<VideoJobResult> {
  const started = performance.now();
  await checkVideoOutput(opts.output);
  const input = await openInput(opts);
  const size = workingSize(input.width, input.height, opts.size);
  await checkVideoOutput(opts.output, size);
  const segmentFrames = opts.segmentFrames ?? DEFAULT_SEGMENT_FRAMES;
  const identity = await jobIdentity(runner, objective, opts, input, size, segmentFrames);
  const dir = workDirFor(opts.output);
  const stage: ChainStage = opts.createStage ? opts.createStage(runner, objective, opts.temporal) : new DreamingStage(new TemporalDreamStage(runner, objective, opts.temporal));
  const work = await openWork(dir, identity, stage, opts);
  const resumedFrom = work.progress.nextFrame;
  // Said once the job is sure to start (a refused output or resume prints its one line alone).
  // A rate the user chose replaces whatever the input's timing would have been corrected to.
  const timingNote = opts.rate || !input.decoder ? undefined : timingWarning(opts.input, input.decoder.media, input.decoder.timing);
  if (timingNote) opts.onWarning?.(timingNote);
  await opts.onPlan?.({ frames: input.frames === undefined ? undefined : Math.max(0, input.frames - resumedFrom), width: size.width, height: size.height, resumedFrom });
  let sink: SegmentSink | undefined;
  // How many frames are kept, read when the stop comes.
  const interrupted = (): Error => new Interrupted(sink?.progress.nextFrame ?? 0, dir);
  sink = new SegmentSink({
    ...work,
    segmentFrames,
    size,
    fps: input.fps,
    stage,
    gain: (i, o) => unlessStopped(frameGain(runner, objective, i, o, opts.temporal.dream.tile), opts.signal, interrupted),
    onFrame: (done) => opts.onFrame?.(done, input.frames),
    output: opts.output,
    join: {
      audioFrom: opts.supply ? opts.audio : { path: opts.input, start: opts.start, duration: opts.duration },
      faststart: opts.faststart,
      finalize: opts.finalize,
      reencode: work.reencode,
    },
  });
  await dreamInto(sink, input, size, stage, { ...opts, interrupted, resumeAt: resumedFrom, dir });
  const done = sink.progress;
  try {
    await sink.close();
  } catch (err) {
    // Every frame is committed: the work folder joins the output on --resume once there is room.
    await sink.abort();
    throw resumable(err, done.nextFrame, dir);
  }
  await work.store.remove();
  return {
    output: opts.output,
    frames: done.nextFrame,
    fps: input.fps,
    width: size.width,
    height: size.height,
    seconds: (performance.now() - started) / 1000,
    secondsPerFrame: done.dreamSeconds / Math.max(1, done.nextFrame),
    dreamGain: done.gainCount > 0 ? done.gainSum / done.gainCount : undefined,
    resumedFrom,
  };
}

/**
 * The frames not yet committed, through the run loop into the segment sink. A failure keeps what
 * a resume needs; before a single frame is committed there is nothing to resume, so no work folder.
 */
async function dreamInto(sink: SegmentSink, input: JobInput, size: Size, stage: ChainStage, o: VideoJobOptions & { interrupted: () => Error; resumeAt: number; dir: string }): Promise<void> {
  let frames: (AsyncIterable<Frame> & { close(): Promise<void> }) | undefined;
  let more: Array<Sink<ChainedFrame>> = [];
  try {
    // Opened inside the try: a file that fails to decode leaves no work folder behind either.
    frames = await input.open(size, o.onWarning);
    more = (await o.sinks?.(size, input.fps)) ?? [];
    await runLoop(frames, stage, [sink, ...more], { signal: o.signal, stopped: o.interrupted, select: (f) => (f.index < o.resumeAt ? undefined : f) });
    for (const s of more) await s.close();
  } catch (err) {
    await Promise.all(more.map((s) => s.abort().catch(() => undefined)));
    const committed = sink.progress.nextFrame;
    await sink.abort();
    throw resumable(err, committed, o.dir);
  } finally {
    await frames?.close();
  }
  if (sink.progress.nextFrame === 0) {
    // Nothing to resume: leave no work folder behind.
    await sink.abort();
    throw new UserError(`${o.input}: no video frames could be decoded`);
  }
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

