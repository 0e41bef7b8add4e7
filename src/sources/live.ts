/**
 * Live sources: a camera, a network stream, a file played in real time or a synthetic lavfi
 * pattern, decoded by ffmpeg to RGB24 at the working size and rate.
 *
 * Unlike FrameDecoder (files: every frame, backpressure all the way to ffmpeg), a live source
 * reads ffmpeg's output as fast as it comes and keeps only the newest frame: a camera does not
 * wait for a slow consumer, so buffering its frames would only add latency. The frame and source
 * contracts (LiveFrame, LiveSource) are at the bottom, in frame.ts.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { notUtf8Hint, UserError } from '../errors.js';
import { FrameAssembler } from '../media/frameAssembler.js';
import { locateTools } from '../media/locate.js';
import { StderrTail, endWithProcess, exitOf, lastStderrLine, localFile } from '../media/run.js';
import type { LiveFrame, LiveSource, LiveSourceInfo, LiveSourceStats } from '../frame.js';
import { Latest } from '../latest.js';
import { redactUrl } from '../media/redact.js';

export type LiveInput =
  | { kind: 'lavfi'; graph: string; label: string }
  | { kind: 'device'; format: 'v4l2' | 'avfoundation' | 'dshow'; device: string; label: string }
  | { kind: 'url'; url: string; label: string }
  | { kind: 'file'; path: string; label: string }
  | { kind: 'browser'; label: string };

const URL_SCHEMES = /^(rtsps?|rtmps?|https?|udp|srt|tcp|rtp):\/\//i;

/**
 * Understand `--input`: `lavfi:GRAPH`, `/dev/videoN`, `camera:N` (or `camera:NAME`), `browser`
 * (only viewers' shared cameras), a stream URL, or a video file. Pure apart from checking that
 * a file or device exists.
 */
export function parseLiveInput(text: string, platform: NodeJS.Platform = process.platform): LiveInput {
  const input = text.trim();
  if (input === '') throw new UserError('--input is empty');
  if (input === 'browser' || input === 'browser:') return { kind: 'browser', label: 'browser camera' };
  if (input.startsWith('lavfi:')) {
    const graph = input.slice('lavfi:'.length);
    if (graph === '') throw new UserError('--input lavfi: needs a filter graph, e.g. lavfi:testsrc2');
    return { kind: 'lavfi', graph, label: input };
  }
  if (URL_SCHEMES.test(input)) return { kind: 'url', url: input, label: redactUrl(input) };
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(input)) {
    throw new UserError(`--input ${redactUrl(input)}: unsupported URL scheme (use rtsp, rtmp, http(s), udp, srt, tcp or rtp)`);
  }
  if (input.startsWith('camera:')) return cameraInput(input.slice('camera:'.length), platform);
  if (input.startsWith('/dev/')) {
    if (platform !== 'linux') throw new UserError(`--input ${input}: device paths are for Linux; use camera:0`);
    return linuxCamera(input);
  }
  if (!existsSync(input)) throw new UserError(`--input ${input}: no such file, device or URL${notUtf8Hint(input)}`);
  if (statSync(input).isDirectory()) throw new UserError(`--input ${input} is a folder, not a video`);
  return { kind: 'file', path: input, label: input };
}

function cameraInput(name: string, platform: NodeJS.Platform): LiveInput {
  if (name === '') throw new UserError('--input camera: needs a camera number or name, e.g. camera:0');
  const label = `camera:${name}`;
  if (platform === 'linux') return linuxCamera(/^\d+$/.test(name) ? `/dev/video${name}` : name);
  if (platform === 'darwin') {
    // avfoundation takes "VIDEO:AUDIO"; no audio is wanted.
    return { kind: 'device', format: 'avfoundation', device: `${name}:none`, label };
  }
  if (platform === 'win32') {
    if (/^\d+$/.test(name)) {
      throw new UserError(
        'on Windows give the camera by name, e.g. camera:"Integrated Camera" (list them: ffmpeg -list_devices true -f dshow -i dummy)',
      );
    }
    return { kind: 'device', format: 'dshow', device: `video=${name}`, label };
  }
  throw new UserError(`cameras are not supported on ${platform}; give a stream URL instead`);
}

function linuxCamera(path: string): LiveInput {
  if (!existsSync(path)) {
    const known = listLinuxCameras();
    throw new UserError(`unknown device ${path}: no such camera (${known.length ? `cameras here: ${known.join(', ')}` : 'no cameras found'})`);
  }
  return { kind: 'device', format: 'v4l2', device: path, label: path };
}

function listLinuxCameras(): string[] {
  try {
    return readdirSync('/dev')
      .filter((n) => /^video\d+$/.test(n))
      .map((n) => `/dev/${n}`)
      .sort();
  } catch {
    return [];
  }
}


export interface LiveDecodeOptions {
  width: number;
  height: number;
  fps: number;
  /** Files: start again at the end instead of ending. */
  loop?: boolean;
}

/**
 * ffmpeg arguments for a live input: everything before `-i` and the `-i` itself. Pure.
 * Files and lavfi graphs are read at their native rate (`-re`) so they behave like a camera.
 */
export function liveInputArgs(input: Exclude<LiveInput, { kind: 'browser' }>, opts: LiveDecodeOptions): string[] {
  switch (input.kind) {
    case 'lavfi': {
      // A bare source name gets the working size and rate, so ffmpeg does not render and then
      // throw away a larger, faster picture.
      const graph = /^[a-z0-9_]+$/i.test(input.graph) ? `${input.graph}=size=${opts.width}x${opts.height}:rate=${opts.fps}` : input.graph;
      return ['-re', '-f', 'lavfi', '-i', graph];
    }
    case 'file':
      return ['-re', ...(opts.loop ? ['-stream_loop', '-1'] : []), '-i', localFile(input.path)];
    case 'device':
      // Do not buffer: the newest picture is the only one we want.
      return ['-fflags', 'nobuffer', '-f', input.format, ...(input.format === 'avfoundation' ? ['-framerate', '30'] : []), '-i', input.device];
    case 'url': {
      // No `-fflags nobuffer` here: it discards what ffmpeg read while probing the stream, which
      // for a short or slow stream is everything. The probed backlog costs no latency anyway:
      // it is decoded at once and the stale frames are dropped by the reader.
      const args = ['-flags', 'low_delay', '-analyzeduration', '1000000'];
      // UDP-based RTSP loses packets (grey smears) on busy networks; TCP interleaving does not.
      if (/^rtsps?:/i.test(input.url)) args.push('-rtsp_transport', 'tcp');
      return [...args, '-i', input.url];
    }
  }
}

/** The rest: first video stream, to the working rate and size (cover-cropped, aspect kept). */
export function liveOutputArgs(opts: LiveDecodeOptions, passthrough: readonly string[]): string[] {
  const { width, height, fps } = opts;
  const vf = `fps=${fps},scale=${width}:${height}:force_original_aspect_ratio=increase:flags=area,crop=${width}:${height}`;
  return ['-map', '0:v:0', '-an', '-sn', '-dn', '-vf', vf, ...passthrough, '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1'];
}


export interface FfmpegLiveOptions extends LiveDecodeOptions {
  /** Reconnect back-off for URLs: first delay and cap, in ms. */
  backoffMs?: { initial: number; max: number };
  /** URL sources: a stream that sends nothing for this long is restarted (ms). */
  stallMs?: number;
  onWarning?: (message: string) => void;
}

/**
 * ffmpeg decoding a live input. URL streams that die after they have delivered frames are
 * reconnected with exponential back-off; a URL that cannot be opened at the start, a camera
 * that fails, or lavfi errors end the iteration with a one-line UserError.
 */
export class FfmpegLiveSource implements LiveSource {
  readonly info: LiveSourceInfo;
  readonly stats: LiveSourceStats = { frames: 0, dropped: 0, reconnects: 0 };
  private readonly queue = new Latest<LiveFrame>();
  private readonly input: Exclude<LiveInput, { kind: 'browser' }>;
  private readonly opts: FfmpegLiveOptions;
  private child: ChildProcess | undefined;
  private exited: Promise<unknown> = Promise.resolve();
  private closed = false;
  private started = false;
  private readonly startedAt = Date.now();
  private retryTimer: NodeJS.Timeout | undefined;
  private stallTimer: NodeJS.Timeout | undefined;
  private lastFrameAt = 0;

  constructor(input: Exclude<LiveInput, { kind: 'browser' }>, opts: FfmpegLiveOptions) {
    this.input = input;
    this.opts = opts;
    this.info = { width: opts.width, height: opts.height, fps: opts.fps, label: input.label, kind: input.kind };
  }

  [Symbol.asyncIterator](): AsyncIterator<LiveFrame> {
    if (!this.started) {
      this.started = true;
      void this.spawnOnce(0);
    }
    return {
      next: () => {
        const r = this.queue.next();
        this.stats.dropped = this.queue.replaced;
        return r;
      },
      return: async () => {
        await this.close();
        return { value: undefined, done: true };
      },
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retryTimer);
    clearInterval(this.stallTimer);
    const child = this.child;
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await this.exited;
    this.queue.end();
  }

  private async spawnOnce(attempt: number): Promise<void> {
    if (this.closed) return;
    let tools;
    try {
      tools = await locateTools();
    } catch (err) {
      this.queue.end(err as Error);
      return;
    }
    if (this.closed) return;
    const args = ['-hide_banner', '-nostdin', '-loglevel', 'error', ...liveInputArgs(this.input, this.opts), ...liveOutputArgs(this.opts, tools.passthroughArgs)];
    // Its own process group: a terminal's Ctrl-C must not end the input before dreamflow has
    // stopped (an input that ends looks like a failed source, and the job would not finish its
    // recording cleanly); close() kills it. Orphaned, it dies of EPIPE at its next frame.
    const child = spawn(tools.ffmpeg.path, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true, windowsHide: true });
    this.child = child;
    const exit = exitOf(child);
    this.exited = exit;
    endWithProcess(child, exit);
    const stderr = new StderrTail(16 * 1024);
    stderr.attach(child);

    const { width, height } = this.opts;
    const frameBytes = width * height * 3;
    const frames = new FrameAssembler(frameBytes);
    let framesThisRun = 0;
    // Flowing mode: read everything ffmpeg writes at once, never letting the pipe back up
    // (a backed-up pipe is latency: the camera's frames would wait in it).
    child.stdout!.on('data', (chunk: Buffer) => {
      for (const data of frames.push(chunk)) {
        const capturedAt = Date.now();
        this.lastFrameAt = capturedAt;
        framesThisRun++;
        const index = this.stats.frames++;
        this.queue.put({ index, ptsSeconds: (capturedAt - this.startedAt) / 1000, width, height, data, capturedAt, origin: 'source' });
        this.stats.dropped = this.queue.replaced;
      }
    });
    if (this.input.kind === 'url') this.watchStall(child);

    const { code, signal, error } = await exit;
    clearInterval(this.stallTimer);
    if (this.closed) return;
    const why = lastStderrLine(stderr.text()) || (error ? error.message : signal ? `killed by ${signal}` : `exit code ${String(code)}`);
    const label = this.input.label;
    if (error && child.pid === undefined) {
      this.queue.end(new Error(`could not start ffmpeg (${tools.ffmpeg.path}): ${error.message}`));
      return;
    }
    switch (this.input.kind) {
      case 'url': {
        if (this.stats.frames === 0 && attempt === 0) {
          this.queue.end(new UserError(`cannot open ${label}: ${why}`));
          return;
        }
        // A stream that ran for a while starts over with a short delay; one that keeps failing
        // waits longer each time, up to the cap.
        const next = framesThisRun > 0 ? 0 : attempt + 1;
        const { initial, max } = this.opts.backoffMs ?? { initial: 500, max: 10_000 };
        const delay = Math.min(max, initial * 2 ** next);
        this.stats.reconnects++;
        this.warn(`${label}: stream ${framesThisRun > 0 ? 'ended' : 'unavailable'} (${why}); reconnecting in ${(delay / 1000).toFixed(1)} s`);
        this.retryTimer = setTimeout(() => void this.spawnOnce(Math.max(1, next)), delay);
        return;
      }
      case 'file':
        if (code === 0 && !this.opts.loop) {
          this.queue.end();
          return;
        }
        this.queue.end(new UserError(`${label}: ${this.stats.frames === 0 ? 'could not decode video' : 'decoding stopped'} (${why})`));
        return;
      case 'device':
        this.queue.end(new UserError(`${this.stats.frames === 0 ? 'cannot open camera' : 'camera stopped:'} ${label} (${why})`));
        return;
      case 'lavfi':
        this.queue.end(new UserError(`${label}: ${why}`));
        return;
    }
  }

  /** Network streams can hang without ffmpeg exiting: kill it so the reconnect logic runs. */
  private watchStall(child: ChildProcess): void {
    const stallMs = this.opts.stallMs ?? 10_000;
    const spawnedAt = Date.now();
    clearInterval(this.stallTimer);
    this.stallTimer = setInterval(() => {
      const last = Math.max(this.lastFrameAt, spawnedAt);
      if (Date.now() - last > stallMs && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }, Math.min(1000, stallMs));
    this.stallTimer.unref();
  }

  private warn(message: string): void {
    if (this.opts.onWarning) this.opts.onWarning(message);
    else process.emitWarning(message, { code: 'DREAMFLOW_LIVE' });
  }
}

/** Open an ffmpeg-backed live source (everything but `browser`, which the server feeds). */
export function openLiveSource(input: LiveInput, opts: FfmpegLiveOptions): FfmpegLiveSource {
  if (input.kind === 'browser') throw new Error('the browser camera source is fed by the server, not ffmpeg');
  return new FfmpegLiveSource(input, opts);
}
