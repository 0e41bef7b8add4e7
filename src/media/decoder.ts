/**
 * Decoding a video file (or a lavfi test source) into RGB24 Frames through an ffmpeg process.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { UserError } from '../errors.js';
import type { Frame, Rational, Source, SourceInfo } from '../frame.js';
import { FrameAssembler } from './frameAssembler.js';
import { locateTools } from './locate.js';
import { probe, probeLavfi, type MediaInfo } from './probe.js';
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
 * A Source reading frames from ffmpeg's raw rgb24 output. Every decoded frame comes out once,
 * in order (passthrough frame-rate mode: no duplicates or drops for variable-rate files).
 * `ptsSeconds = index · den/num + start`, i.e. a constant-rate clock at the stream's rate.
 *
 * Iterate once. Breaking out of the loop, or close(), kills ffmpeg.
 */
export class FrameDecoder implements Source {
  readonly info: SourceInfo;
  /** What ffprobe said about the input (before scaling / trimming). */
  readonly media: MediaInfo;
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

  private constructor(label: string, inputArgs: string[], media: MediaInfo, opts: DecodeOptions, durationSeconds: number | undefined) {
    this.label = label;
    this.media = media;
    this.onWarning = opts.onWarning;
    this.start = opts.start ?? 0;
    const size = outputSize(media, opts);
    const outputArgs: string[] = [];
    if (opts.duration !== undefined) outputArgs.push('-t', String(opts.duration));
    if (opts.maxFrames !== undefined) outputArgs.push('-frames:v', String(opts.maxFrames));
    if (size.width !== media.width || size.height !== media.height) {
      // Area averaging when shrinking avoids aliasing in the small frames used for flow/metrics.
      const shrinking = size.width <= media.width && size.height <= media.height;
      outputArgs.push('-vf', `scale=${size.width}:${size.height}:flags=${shrinking ? 'area' : 'bicubic'}`);
    }
    this.inputArgs = inputArgs;
    this.outputArgs = outputArgs;

    const fps = media.fps;
    let frameCount: number | undefined;
    if (durationSeconds !== undefined) frameCount = Math.round((durationSeconds * fps.num) / fps.den);
    if (opts.maxFrames !== undefined) frameCount = Math.min(frameCount ?? opts.maxFrames, opts.maxFrames);
    const info: SourceInfo = { width: size.width, height: size.height, fps, hasAudio: media.hasAudio };
    if (durationSeconds !== undefined) info.durationSeconds = durationSeconds;
    if (frameCount !== undefined) info.frameCount = frameCount;
    this.info = info;
  }

  /** Probe `path` and prepare to decode it. Bad inputs throw a UserError naming the file. */
  static async open(path: string, opts: DecodeOptions = {}): Promise<FrameDecoder> {
    validateOptions(opts);
    const media = await probe(path);
    const start = opts.start ?? 0;
    // Accurate input seeking: -ss before -i seeks to a keyframe and decodes/drops up to `start`.
    const inputArgs = start > 0 ? ['-ss', String(start), '-i', localFile(path)] : ['-i', localFile(path)];
    let remaining = Math.max(0, media.durationSeconds - start);
    if (opts.duration !== undefined) remaining = Math.min(remaining, opts.duration);
    // A whole file: trust nb_frames rather than duration · fps.
    const useCount = start === 0 && opts.duration === undefined;
    const decoder = new FrameDecoder(path, inputArgs, media, opts, remaining);
    if (useCount) decoder.info.frameCount = Math.min(media.frameCount, opts.maxFrames ?? Infinity);
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
    const child = spawn(tools.ffmpeg.path, args, { stdio: ['ignore', 'pipe', 'pipe'] });
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
        const errors = stderr.lines();
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

/** Seconds per frame of a rate. */
export function frameDuration(fps: Rational): number {
  return fps.den / fps.num;
}

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
}
