/**
 * Encoding RGB24 Frames to a video file through an ffmpeg process, atomically: ffmpeg writes a
 * hidden temp file next to the output, which is renamed over the real name only when ffmpeg
 * finished cleanly. An interrupted or failed job never leaves a half-written file under the
 * name the user asked for.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { unlinkSync } from 'node:fs';
import { rename, stat, unlink } from 'node:fs/promises';
import { dirname, extname } from 'node:path';
import type { Writable } from 'node:stream';
import { besideOutput } from '../paths.js';
import { UserError } from '../errors.js';
import type { Frame, Rational, Sink } from '../frame.js';
import { locateTools } from './locate.js';
import { probeAudio } from './probe.js';
import { StderrTail, endWithProcess, exitOf, lastStderrLine, localFile } from './run.js';

export interface AudioSource {
  /** File whose first audio stream is muxed in (usually the input video). */
  path: string;
  /** Seconds into that file where the video's first frame was taken (decoder `start`). */
  start?: number;
  /** Seconds of audio to take (decoder `duration`); without it the audio runs to its end. */
  duration?: number;
}

export interface EncodeOptions {
  /**
   * Frame size. With a 4:2:0 pixel format (the default yuv420p) both must be EVEN: pass even
   * sizes (see evenFit in decoder.ts) or pad/scale before encoding; odd sizes are rejected.
   */
  width: number;
  height: number;
  /** Exact frame rate of the frames written, e.g. {num: 30000, den: 1001}. */
  fps: Rational;
  /** Video encoder, default libx264. */
  codec?: string;
  /** Constant rate factor (libx264/libx265/libvpx-vp9), default 18 (visually lossless). */
  crf?: number;
  /** x264/x265 preset, default medium. */
  preset?: string;
  /** Output pixel format, default yuv420p (plays everywhere). */
  pixFmt?: string;
  /** Mux this file's audio, aligned to the frames (start/duration as given to the decoder). */
  audioFrom?: AudioSource;
  /** 'auto' (default): copy when the container can hold the codec, else re-encode (aac/opus). */
  audioCodec?: 'auto' | 'copy' | 'aac' | 'libopus';
  /** MP4/MOV: put the index first so playback can start while downloading. Default true. */
  faststart?: boolean;
  /** Container when the output path's extension is not enough (passed as `-f`). */
  format?: string;
  /** Extra output arguments, appended before the output path (advanced use). */
  extraArgs?: readonly string[];
  /**
   * Sound written with `writeAudio` as s16le PCM at this rate and channel count, through a second
   * pipe (live recordings, media/liveAudio.ts); encoded to AAC. Not together with audioFrom.
   */
  pcmAudio?: { sampleRate: number; channels: number };
}

const MOV_LIKE = new Set(['.mp4', '.m4v', '.mov']);
/** Audio codecs each container family accepts without re-encoding (deliberately short). */
const COPYABLE: Record<string, ReadonlySet<string>> = {
  mp4: new Set(['aac', 'mp3', 'alac', 'ac3', 'eac3', 'opus']),
  mkv: new Set(['aac', 'mp3', 'opus', 'vorbis', 'flac', 'ac3', 'eac3', 'pcm_s16le', 'alac']),
  webm: new Set(['opus', 'vorbis']),
};

let tempCounter = 0;

/**
 * A Sink that pipes frames into ffmpeg. `close()` finishes the file and renames it into place;
 * `abort()` kills ffmpeg and removes the temp file. Exactly the frames written come out (no
 * frame-rate conversion, no `-shortest`, which drops frames with the bundled ffmpeg 4.x).
 */
export class FrameEncoder implements Sink {
  readonly outPath: string;
  /** Where ffmpeg writes until close(): `.NAME.partial-<pid>[-n].EXT` in the same folder. */
  readonly tempPath: string;
  private readonly child: ChildProcess;
  private readonly exit: Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }>;
  private readonly stderr: StderrTail;
  private readonly width: number;
  private readonly height: number;
  private written = 0;
  private state: 'open' | 'closing' | 'closed' | 'aborted' = 'open';
  private stdinError: Error | undefined;

  private constructor(outPath: string, tempPath: string, ffmpeg: string, args: string[], width: number, height: number, pcmPipe = false) {
    this.outPath = outPath;
    this.tempPath = tempPath;
    this.width = width;
    this.height = height;
    // Its own process group: a terminal's Ctrl-C goes to the whole foreground group, and an
    // ffmpeg that got it would stop with exit 255 (and no file) while dreamflow is still
    // finishing; dreamflow ends its input instead. If dreamflow dies, ffmpeg reads EOF and ends.
    this.child = spawn(ffmpeg, args, { stdio: pcmPipe ? ['pipe', 'ignore', 'pipe', 'pipe'] : ['pipe', 'ignore', 'pipe'], detached: true, windowsHide: true });
    this.exit = exitOf(this.child);
    this.audioPipe()?.on('error', () => undefined); // reported through the exit status
    // dreamflow leaving without closing it (a second Ctrl-C exits at once): no half file left.
    endWithProcess(this.child, this.exit, () => removeQuietlySync(this.tempPath));
    this.stderr = new StderrTail();
    this.stderr.attach(this.child);
    // EPIPE if ffmpeg dies; reported by write()/close() with ffmpeg's own message instead.
    this.child.stdin?.on('error', (err) => {
      this.stdinError = err;
    });
  }

  /** Validate the output location, then start ffmpeg. */
  static async open(outPath: string, opts: EncodeOptions): Promise<FrameEncoder> {
    validate(outPath, opts);
    const folder = dirname(outPath);
    try {
      const s = await stat(folder);
      if (!s.isDirectory()) throw new UserError(`cannot write ${outPath}: ${folder} is not a folder`);
    } catch (err) {
      if (err instanceof UserError) throw err;
      throw new UserError(`cannot write ${outPath}: folder ${folder} does not exist`);
    }
    try {
      if ((await stat(outPath)).isDirectory()) throw new UserError(`cannot write ${outPath}: it is a folder`);
    } catch (err) {
      if (err instanceof UserError) throw err;
    }

    const ext = extname(outPath);
    const n = tempCounter++;
    // The real extension stays last so ffmpeg picks the muxer from it; the folder is the
    // output's resolved one (docs/architecture.md, "Outputs").
    const tempPath = besideOutput(outPath, `.partial-${process.pid}${n ? `-${n}` : ''}${ext}`, true);

    const tools = await locateTools();
    const { width, height, fps } = opts;
    const args = ['-hide_banner', '-loglevel', 'error', '-y'];
    args.push('-f', 'rawvideo', '-pix_fmt', 'rgb24', '-s', `${width}x${height}`, '-framerate', `${fps.num}/${fps.den}`, '-i', 'pipe:0');

    const audio = opts.audioFrom ? await audioPlan(opts.audioFrom, ext, opts) : undefined;
    if (audio) args.push(...audio.inputArgs);
    const pcm = opts.pcmAudio && !audio ? opts.pcmAudio : undefined;
    if (pcm) args.push('-f', 's16le', '-ar', String(pcm.sampleRate), '-ac', String(pcm.channels), '-i', 'pipe:3');
    args.push('-map', '0:v:0');
    if (audio) args.push('-map', '1:a:0?', ...audio.codecArgs);
    if (pcm) args.push('-map', '1:a:0', '-c:a', 'aac', '-b:a', '128k');

    args.push(...videoCodecArgs(opts.codec ?? 'libx264', opts));
    // Timestamps are exact (n · den/num); passthrough guarantees no frame is dropped or repeated.
    args.push(...tools.passthroughArgs);
    if (MOV_LIKE.has(ext.toLowerCase()) && opts.faststart !== false) args.push('-movflags', '+faststart');
    if (opts.format) args.push('-f', opts.format);
    if (opts.extraArgs) args.push(...opts.extraArgs);
    args.push(tempPath);
    return new FrameEncoder(outPath, tempPath, tools.ffmpeg.path, args, width, height, pcm !== undefined);
  }

  /** The PCM pipe (fd 3) when opened with pcmAudio. */
  private audioPipe(): Writable | undefined {
    // spawn's fourth stdio entry was 'pipe': ffmpeg's fd 3, written by us.
    return (this.child.stdio[3] as Writable | null | undefined) ?? undefined;
  }

  /**
   * Queue sound (s16le PCM) for the pcmAudio pipe. Not awaited: callers write each frame's sound
   * just before the frame, so ffmpeg, which reads both pipes in timestamp order, never waits
   * for sound that is held behind a picture (the two stay within one frame of each other).
   */
  writeAudio(pcm: Uint8Array): void {
    const pipe = this.audioPipe();
    if (this.state !== 'open' || !pipe || pipe.destroyed) return;
    pipe.write(pcm);
  }

  get framesWritten(): number {
    return this.written;
  }

  /**
   * Send one frame. Resolves once ffmpeg's pipe has taken the bytes, so a slow encoder slows the
   * caller (no unbounded buffering) and the caller may reuse `frame.data` afterwards.
   */
  async write(frame: Frame): Promise<void> {
    if (this.state !== 'open') throw new Error(`FrameEncoder for ${this.outPath} is ${this.state}`);
    if (frame.width !== this.width || frame.height !== this.height) {
      throw new Error(`frame ${frame.index} is ${frame.width}x${frame.height}, the encoder expects ${this.width}x${this.height}`);
    }
    if (frame.data.length !== this.width * this.height * 3) {
      throw new Error(`frame ${frame.index} has ${frame.data.length} bytes, expected ${this.width * this.height * 3} (RGB24)`);
    }
    const stdin = this.child.stdin;
    if (!stdin || stdin.destroyed || this.stdinError) await this.fail();
    const flushed = new Promise<Error | null | undefined>((resolve) => stdin!.write(frame.data, resolve));
    // Race against the process dying, which otherwise could leave the write pending forever.
    const outcome = await Promise.race([flushed, this.exit.then(() => 'exited' as const)]);
    if (outcome === 'exited' || outcome) await this.fail();
    this.written++;
  }

  /** Finish the file: end input, wait for ffmpeg, rename into place if it succeeded. */
  async close(): Promise<void> {
    if (this.state === 'closed') return;
    if (this.state !== 'open') throw new Error(`FrameEncoder for ${this.outPath} is ${this.state}`);
    this.state = 'closing';
    if (this.written === 0) {
      await this.abort();
      throw new UserError(`no frames were written to ${this.outPath}; nothing saved`);
    }
    this.child.stdin?.end();
    this.audioPipe()?.end();
    const { code, signal, error } = await this.exit;
    if (code !== 0 || error) {
      await removeQuietly(this.tempPath);
      this.state = 'aborted';
      throw new UserError(`encoding ${this.outPath} failed: ${this.reason(code, signal, error)}`);
    }
    try {
      await rename(this.tempPath, this.outPath);
    } catch (err) {
      await removeQuietly(this.tempPath);
      this.state = 'aborted';
      throw new UserError(`cannot write ${this.outPath}: ${(err as Error).message}`);
    }
    this.state = 'closed';
  }

  /** Kill ffmpeg and delete the temp file; the output name is never touched. */
  async abort(): Promise<void> {
    if (this.state === 'closed' || this.state === 'aborted') return;
    this.state = 'aborted';
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    await this.exit;
    await removeQuietly(this.tempPath);
  }

  /** ffmpeg died while we were feeding it: clean up and report its last words. */
  private async fail(): Promise<never> {
    const wasAborted = this.state === 'aborted';
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    const { code, signal, error } = await this.exit;
    await removeQuietly(this.tempPath);
    this.state = 'aborted';
    if (wasAborted) throw new Error(`FrameEncoder for ${this.outPath} was aborted`);
    throw new UserError(`encoding ${this.outPath} failed: ${this.reason(code, signal, error ?? this.stdinError)}`);
  }

  private reason(code: number | null, signal: NodeJS.Signals | null, error: Error | undefined): string {
    return (
      lastStderrLine(this.stderr.text()) ||
      error?.message ||
      (signal ? `ffmpeg killed by ${signal}` : `ffmpeg exit code ${String(code)}`)
    );
  }
}

export interface AudioPlan {
  inputArgs: string[];
  codecArgs: string[];
}

/** ffmpeg's output arguments of a video encoder: codec, pixel format, x26x preset, constant quality. */
export function videoCodecArgs(codec: string, opts: Pick<EncodeOptions, 'crf' | 'preset' | 'pixFmt'> = {}): string[] {
  const args = ['-c:v', codec, '-pix_fmt', opts.pixFmt ?? 'yuv420p'];
  if (codec === 'libx264' || codec === 'libx265') args.push('-preset', opts.preset ?? 'medium');
  if (opts.crf !== undefined || /^(libx264|libx265|libvpx-vp9)$/.test(codec)) {
    args.push('-crf', String(opts.crf ?? 18));
    // VP9 and AV1 are constant quality only with no bitrate target.
    if (/^(libvpx|libvpx-vp9|libaom-av1)$/.test(codec)) args.push('-b:v', '0');
  }
  return args;
}

/**
 * Video encoders a container can hold, where it is choosy: WebM takes only VP8, VP9 and AV1. The
 * others (MP4, MOV, MKV, AVI) default to H.264.
 */
const CONTAINER_CODECS: Record<string, { default: string; accepts: RegExp; suggest: string }> = {
  '.webm': { default: 'libvpx-vp9', accepts: /^(libvpx|libvpx-vp9|libaom-av1|libsvtav1|librav1e)$/, suggest: '--codec libvpx-vp9 (or libaom-av1)' },
};

/**
 * The video encoder for `output`: `codec` as given, else the container's default (libvpx-vp9
 * for .webm, libx264 otherwise). A codec the container cannot hold is refused at once, before
 * any dreaming, with the flag to use: finding out at the join would waste the whole run.
 */
export function videoCodecFor(output: string, codec?: string): string {
  const rule = CONTAINER_CODECS[extname(output).toLowerCase()];
  if (codec === undefined) return rule?.default ?? 'libx264';
  if (rule && !rule.accepts.test(codec)) {
    throw new UserError(`${output}: ${extname(output).toLowerCase()} cannot hold ${codec} video: use ${rule.suggest}, or another container (.mp4, .mkv)`);
  }
  return codec;
}

/** Input seeking on the audio file mirrors the decoder's start/duration, keeping them in sync. */
export async function audioPlan(src: AudioSource, ext: string, opts: Pick<EncodeOptions, 'audioCodec' | 'format'>): Promise<AudioPlan | undefined> {
  // The sound may come from a file without video (zoom --audio).
  const info = { audio: await probeAudio(src.path) };
  if (!info.audio) return undefined;
  const inputArgs: string[] = [];
  if (src.start !== undefined && src.start > 0) inputArgs.push('-ss', String(src.start));
  if (src.duration !== undefined) inputArgs.push('-t', String(src.duration));
  inputArgs.push('-i', localFile(src.path));

  const family = containerFamily(ext, opts.format);
  let choice = opts.audioCodec ?? 'auto';
  if (choice === 'auto') {
    const copyable = family ? COPYABLE[family]?.has(info.audio.codec) : false;
    choice = copyable ? 'copy' : family === 'webm' ? 'libopus' : 'aac';
  }
  const codecArgs = choice === 'copy' ? ['-c:a', 'copy'] : ['-c:a', choice, '-b:a', choice === 'aac' ? '192k' : '128k'];
  return { inputArgs, codecArgs };
}

function containerFamily(ext: string, format: string | undefined): keyof typeof COPYABLE | undefined {
  const key = (format ?? ext.replace(/^\./, '')).toLowerCase();
  if (['mp4', 'm4v', 'mov'].includes(key)) return 'mp4';
  if (['mkv', 'matroska'].includes(key)) return 'mkv';
  if (key === 'webm') return 'webm';
  return undefined;
}

function validate(outPath: string, opts: EncodeOptions): void {
  const { width, height, fps } = opts;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) {
    throw new UserError(`output size must be positive integers, got ${width}x${height}`);
  }
  const pixFmt = opts.pixFmt ?? 'yuv420p';
  // Chroma subsampled formats halve the width (4:2:x) and the height too (4:2:0); x264 refuses
  // odd sizes outright rather than padding.
  const evenWidth = /^(yuvj?42[02]|yuvj?411|nv12|nv21|p010)/.test(pixFmt);
  const evenHeight = /^(yuvj?420|nv12|nv21|p010)/.test(pixFmt);
  if ((evenWidth && width % 2 !== 0) || (evenHeight && height % 2 !== 0)) {
    throw new UserError(`${pixFmt} needs even frame sizes, got ${width}x${height}: resize or pad to an even size`);
  }
  if (!(Number.isInteger(fps.num) && Number.isInteger(fps.den) && fps.num > 0 && fps.den > 0)) {
    throw new UserError(`frame rate must be a positive rational, got ${fps.num}/${fps.den}`);
  }
  if (!extname(outPath) && !opts.format) {
    throw new UserError(`output ${outPath} has no extension: add one (e.g. .mp4) so the container is known`);
  }
}

function removeQuietlySync(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // Never created, or already renamed into place.
  }
}

async function removeQuietly(path: string): Promise<void> {
  try {
    await unlink(path);
  } catch {
    // Already gone (ffmpeg never created it): nothing to clean.
  }
}
