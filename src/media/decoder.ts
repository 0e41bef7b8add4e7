/**
 * Decoding a video file (or a lavfi test source) into RGB24 Frames through an ffmpeg process.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { UserError } from '../errors.js';
import type { Frame, Rational, Source, SourceInfo } from '../frame.js';
import { FrameAssembler } from './frameAssembler.js';
import { locateTools } from './locate.js';
import { probe, probeFrameTiming, probeLavfi, type FrameTiming, type MediaInfo } from './probe.js';
import { StderrTail, exitOf, lastStderrLine, localFile } from './run.js';

export interface Size {
  width: number;
  height: number;
}

export interface DecodeOptions {
  /** Scale every frame to exactly this size (any positive integers; RGB has no parity rule). */
  size?: Size;
  /** When no `size` is given: shrink (never enlarge) to fit this width, even dimensions, aspect kept. */
  maxWidth?: number;
  /** Seconds into the file to start at (accurate: frames before it are decoded and dropped). */
  start?: number;
  /** Seconds to decode from `start`. */
  duration?: number;
  /** Stop after this many frames. */
  maxFrames?: number;
  /**
   * Frames per second to come out at (`video --fps`): the input resampled by its timestamps
   * (ffmpeg's fps filter: frames repeated or dropped), as a variable-rate input is.
   */
  rate?: Rational;
  /**
   * Called for each warning (damaged tail, decoder errors). Without it, warnings go to
   * process.emitWarning. They are also kept in `decoder.warnings`.
   */
  onWarning?: (message: string) => void;
}

export interface LavfiOptions extends Omit<DecodeOptions, 'start' | 'duration'> {
  /** lavfi sources are endless: give a duration or `maxFrames`. */
  durationSeconds?: number;
}

/**
 * A Source reading frames from ffmpeg's raw rgb24 output, at one constant rate taken from the
 * file's packet timestamps (`timing`), not from its header alone. Steady input: every decoded
 * frame comes out once, in order. Variable-rate input: ffmpeg's fps filter resamples it by the
 * timestamps (frames repeated or dropped), so that frame n is what plays at n/rate and the
 * picture keeps time with the sound. `ptsSeconds = index · den/num + start`.
 *
 * Iterate once. Breaking out of the loop, or close(), kills ffmpeg.
 */
export class FrameDecoder implements Source {
  readonly info: SourceInfo;
  /** What ffprobe said about the input (before scaling / trimming). */
  readonly media: MediaInfo;
  /** The frame timing read from the packets (undefined: none usable, or a lavfi source). */
  readonly timing: FrameTiming | undefined;
  readonly warnings: string[] = [];
  private readonly label: string;
  private readonly inputArgs: readonly string[];
  private readonly outputArgs: readonly string[];
  private readonly start: number;
  private readonly onWarning: ((message: string) => void) | undefined;
  private child: ChildProcess | undefined;
  private exited: Promise<unknown> | undefined;
  private started = false;
  private closed = false;
  private decoded = 0;
  private path = '';
  private opts: DecodeOptions = {};

  private constructor(
    label: string,
    inputArgs: string[],
    media: MediaInfo,
    opts: DecodeOptions,
    durationSeconds: number | undefined,
    timing?: FrameTiming,
  ) {
    this.label = label;
    this.media = media;
    this.timing = timing;
    this.onWarning = opts.onWarning;
    this.start = opts.start ?? 0;
    const size = outputSize(media, opts);
    const fps = opts.rate ?? timing?.fps ?? media.fps;
    const resample = opts.rate !== undefined || timing?.variable === true;
    let frameCount: number | undefined;
    if (durationSeconds !== undefined) frameCount = Math.round((durationSeconds * fps.num) / fps.den);
    if (opts.maxFrames !== undefined) frameCount = Math.min(frameCount ?? opts.maxFrames, opts.maxFrames);

    const outputArgs: string[] = [];
    const filters: string[] = [];
    if (resample) {
      // fps= picks, for each slot n/rate, the frame showing then; it stops at the last frame's
      // start, so tpad holds that frame for its own duration and -frames:v ends on the last slot.
      const lastDuration = timing?.lastDuration ?? media.fps.den / media.fps.num;
      filters.push(`fps=fps=${fps.num}/${fps.den}`, `tpad=stop_mode=clone:stop_duration=${lastDuration.toFixed(6)}`);
    }
    if (opts.duration !== undefined) outputArgs.push('-t', String(opts.duration));
    const frameLimit = resample ? frameCount : opts.maxFrames;
    if (frameLimit !== undefined) outputArgs.push('-frames:v', String(frameLimit));
    if (size.width !== media.width || size.height !== media.height) {
      // Area averaging when shrinking avoids aliasing in the small frames used for flow/metrics.
      const shrinking = size.width <= media.width && size.height <= media.height;
      filters.push(`scale=${size.width}:${size.height}:flags=${shrinking ? 'area' : 'bicubic'}`);
    }
    if (filters.length > 0) outputArgs.push('-vf', filters.join(','));
    this.inputArgs = inputArgs;
    this.outputArgs = outputArgs;

    const info: SourceInfo = { width: size.width, height: size.height, fps, hasAudio: media.hasAudio };
    if (durationSeconds !== undefined) info.durationSeconds = durationSeconds;
    if (frameCount !== undefined) info.frameCount = frameCount;
    this.info = info;
  }

  /** Probe `path` (unless `probed` is what ffprobe said already) and prepare to decode it. Bad inputs throw a UserError naming the file. */
  static async open(path: string, opts: DecodeOptions = {}, probed?: MediaInfo): Promise<FrameDecoder> {
    validateOptions(opts);
    // A job that probed the input already hands its answer in: the input is probed once.
    const media = probed ?? (await probe(path));
    const timing = await probeFrameTiming(path, media);
    return FrameDecoder.probed(path, media, timing, opts);
  }

  /** The same input decoded with other options (a working size found from the probe): no second probe. */
  withOptions(opts: Omit<DecodeOptions, 'start' | 'duration' | 'rate'>): FrameDecoder {
    validateOptions(opts);
    return FrameDecoder.probed(this.path, this.media, this.timing, { ...this.opts, ...opts });
  }

  private static probed(path: string, media: MediaInfo, timing: FrameTiming | undefined, opts: DecodeOptions): FrameDecoder {
    const start = opts.start ?? 0;
    // Accurate input seeking: -ss before -i seeks to a keyframe and decodes/drops up to `start`.
    const inputArgs = start > 0 ? ['-ss', String(start), '-i', localFile(path)] : ['-i', localFile(path)];
    // The video's own length: a container's duration also covers a longer audio track.
    let remaining = Math.max(0, (timing?.seconds ?? media.durationSeconds) - start);
    if (opts.duration !== undefined) remaining = Math.min(remaining, opts.duration);
    // A whole steady file: count its packets (or, without timing, trust nb_frames) rather than
    // duration · fps.
    const useCount = start === 0 && opts.duration === undefined && !timing?.variable && opts.rate === undefined;
    const decoder = new FrameDecoder(path, inputArgs, media, opts, remaining, timing);
    decoder.path = path;
    decoder.opts = opts;
    if (useCount) decoder.info.frameCount = Math.min(timing?.frames ?? media.frameCount, opts.maxFrames ?? Infinity);
    return decoder;
  }

  /**
   * Decode a lavfi source spec, e.g. `FrameDecoder.lavfi('testsrc2=size=96x64:rate=10',
   * {durationSeconds: 1})`. For tests and synthetic inputs.
   */
  static async lavfi(spec: string, opts: LavfiOptions = {}): Promise<FrameDecoder> {
    validateOptions(opts);
    if (opts.durationSeconds === undefined && opts.maxFrames === undefined) {
      throw new UserError(`lavfi source "${spec}" is endless: give durationSeconds or maxFrames`);
    }
    const media = await probeLavfi(spec);
    const decodeOpts: DecodeOptions = { ...opts };
    if (opts.durationSeconds !== undefined) decodeOpts.duration = opts.durationSeconds;
    return new FrameDecoder(`lavfi:${spec}`, ['-f', 'lavfi', '-i', spec], media, decodeOpts, opts.durationSeconds);
  }

  /** Whether the ffmpeg process is alive (started and not yet exited). */
  get running(): boolean {
    const c = this.child;
    return c !== undefined && c.exitCode === null && c.signalCode === null;
  }

  /** Frames produced so far. */
  get framesDecoded(): number {
    return this.decoded;
  }

  [Symbol.asyncIterator](): AsyncIterator<Frame> {
    if (this.started) throw new Error(`FrameDecoder for ${this.label} can be iterated only once`);
    this.started = true;
    return this.frames();
  }

  /** Stop decoding: kill ffmpeg and wait for it to go. Safe to call twice or before iterating. */
  async close(): Promise<void> {
    this.closed = true;
    const child = this.child;
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    // 'close' waits for stdout to end, which a paused pipe with unread frames never does when
    // the consumer stopped mid-iteration (Ctrl-C): drop what is buffered.
    child?.stdout?.destroy();
    await this.exited;
  }

  private async *frames(): AsyncGenerator<Frame, void, undefined> {
    if (this.closed) return;
    const tools = await locateTools();
    const args = [
      '-hide_banner',
      '-nostdin',
      '-loglevel',
      'error',
      ...this.inputArgs,
      '-map',
      '0:v:0',
      '-an',
      '-sn',
      '-dn',
      ...this.outputArgs,
      ...tools.passthroughArgs,
      '-f',
      'rawvideo',
      '-pix_fmt',
      'rgb24',
      'pipe:1',
    ];
    // Its own process group: a terminal's Ctrl-C would otherwise end ffmpeg first, and a video
    // job would read that as the end of the input (a short output) instead of an interruption.
    // Orphaned, it dies of EPIPE on its next write.
    const child = spawn(tools.ffmpeg.path, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true, windowsHide: true });
    this.child = child;
    const exit = exitOf(child);
    this.exited = exit;
    const stderr = new StderrTail();
    stderr.attach(child);

    const { width, height } = this.info;
    const { num, den } = this.info.fps;
    const frameBytes = width * height * 3;
    const frames = new FrameAssembler(frameBytes);
    try {
      // The stream's async iterator only reads when we ask for the next chunk, so while the
      // consumer is busy with a frame the pipe fills and ffmpeg blocks: memory stays bounded
      // (stream highWaterMark + the OS pipe) however slow the consumer is.
      for await (const chunk of child.stdout as AsyncIterable<Buffer>) {
        for (const data of frames.push(chunk)) {
          const index = this.decoded++;
          yield { index, ptsSeconds: (index * den) / num + this.start, width, height, data };
        }
      }
      const { code, signal, error } = await exit;
      if (this.closed) return;
      if (error && child.pid === undefined) {
        throw new Error(`could not start ffmpeg (${tools.ffmpeg.path}): ${error.message}`);
      }
      const last = lastStderrLine(stderr.text()) || (signal ? `killed by ${signal}` : `exit code ${String(code)}`);
      if (code !== 0) {
        if (this.decoded === 0) throw new UserError(`${this.label}: could not decode video (${last})`);
        this.warn(`${this.label}: decoding stopped early after ${this.decoded} frames (${last})`);
      } else {
        // The raw pipe's muxer complains when guessed timestamps collide (B-frames in an AVI,
        // whose packets carry none); frames go out in order regardless and nothing reads those
        // timestamps, so that says nothing about the input.
        const errors = stderr.lines().filter((l) => !OUTPUT_TIMESTAMP_COMPLAINT.test(l));
        if (errors.length > 0) {
          this.warn(`${this.label}: the decoder reported ${errors.length} error line(s), the file may be damaged (${last})`);
        }
      }
      if (frames.pending > 0) this.warn(`${this.label}: dropped an incomplete last frame (${frames.pending} of ${frameBytes} bytes)`);
      if (this.decoded === 0) {
        const hint = this.start > 0 ? ` (is start ${this.start}s past the end?)` : '';
        throw new UserError(`${this.label}: no video frames could be decoded${hint}`);
      }
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exit;
    }
  }

  private warn(message: string): void {
    this.warnings.push(message);
    if (this.onWarning) this.onWarning(message);
    else process.emitWarning(message, { code: 'DREAMFLOW_DECODE' });
  }
}

/**
 * The largest size within maxWidth × maxHeight with the same aspect ratio and even dimensions
 * (yuv420p encoders need even sizes). Never enlarges beyond the source, never below 2×2.
 */
export function evenFit(width: number, height: number, maxWidth: number, maxHeight = Infinity): Size {
  const scale = Math.min(1, maxWidth / width, maxHeight / height);
  const evenWithin = (x: number, cap: number): number => Math.max(2, Math.min(2 * Math.round(x / 2), 2 * Math.floor(cap / 2)));
  return {
    width: evenWithin(width * scale, Math.min(maxWidth, width)),
    height: evenWithin(height * scale, Math.min(maxHeight, height)),
  };
}

/**
 * One line for the user when the frame timing differs from what the header says (the rate
 * comes from the timestamps) or the input is variable-rate (frames resampled); else undefined.
 * Pure.
 */
export function timingWarning(label: string, media: MediaInfo, timing: FrameTiming | undefined): string | undefined {
  if (!timing) return undefined;
  const rate = formatRate(timing.fps);
  if (timing.variable) {
    const out = Math.round((timing.seconds * timing.fps.num) / timing.fps.den);
    return (
      `${label}: variable frame rate (frames ${formatSeconds(timing.minStep)} to ${formatSeconds(timing.maxStep)} s apart): ` +
      `made constant at ${rate} fps by the timestamps, ${timing.frames} frames become ${out} ` +
      `(repeated where further apart than 1/${rate} s, dropped where closer)`
    );
  }
  if (timing.fps.num === media.fps.num && timing.fps.den === media.fps.den) return undefined;
  return (
    `${label}: the header says ${formatRate(media.fps)} fps and ${media.frameCount} frames, but its ${timing.frames} frames are ` +
    `timestamped ${formatSeconds(timing.seconds / timing.frames)} s apart: using ${rate} fps (${timing.seconds.toFixed(2)} s)`
  );
}

/** "25" or "30000/1001". */
export function formatRate(fps: Rational): string {
  return fps.den === 1 ? String(fps.num) : `${fps.num}/${fps.den}`;
}

function formatSeconds(s: number): string {
  return String(Number(s.toFixed(4)));
}

const OUTPUT_TIMESTAMP_COMPLAINT = /non monotonically increasing dts to muxer/;


function outputSize(media: MediaInfo, opts: DecodeOptions): Size {
  if (opts.size) return { width: opts.size.width, height: opts.size.height };
  if (opts.maxWidth !== undefined && media.width > opts.maxWidth) return evenFit(media.width, media.height, opts.maxWidth);
  return { width: media.width, height: media.height };
}

function validateOptions(opts: DecodeOptions): void {
  const positiveInt = (n: number): boolean => Number.isInteger(n) && n > 0;
  if (opts.size && !(positiveInt(opts.size.width) && positiveInt(opts.size.height))) {
    throw new UserError(`decode size must be positive integers, got ${opts.size.width}x${opts.size.height}`);
  }
  if (opts.maxWidth !== undefined && !positiveInt(opts.maxWidth)) throw new UserError(`maxWidth must be a positive integer, got ${opts.maxWidth}`);
  if (opts.start !== undefined && !(Number.isFinite(opts.start) && opts.start >= 0)) throw new UserError(`start must be ≥ 0 seconds, got ${opts.start}`);
  if (opts.duration !== undefined && !(Number.isFinite(opts.duration) && opts.duration > 0)) throw new UserError(`duration must be > 0 seconds, got ${opts.duration}`);
  if (opts.maxFrames !== undefined && !positiveInt(opts.maxFrames)) throw new UserError(`maxFrames must be a positive integer, got ${opts.maxFrames}`);
  if (opts.rate !== undefined && !(positiveInt(opts.rate.num) && positiveInt(opts.rate.den))) throw new UserError(`rate must be a positive fraction, got ${opts.rate.num}/${opts.rate.den}`);
}
