/**
 * Pushing the dreamed stream out through ffmpeg: RTMP (`rtmp://…`, e.g. to a streaming service),
 * an HLS folder (a path ending in `.m3u8`: playlist and rolling segments written there), or any
 * other ffmpeg URL (srt://, udp:// as MPEG-TS; rtsp:// to an RTSP server).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { UserError } from '../errors.js';
import { locateTools } from '../media/locate.js';
import { StderrTail, endWithProcess, exitOf, lastStderrLine } from '../media/run.js';
import type { Frame, LiveFrame, Sink } from '../frame.js';
import { redactUrl } from '../media/redact.js';
import type { Writable } from 'node:stream';
import { PCM_CHANNELS, PCM_RATE, type PcmFeed } from '../media/liveAudio.js';
import { WithSound } from './liveSound.js';
import { PacedWriter, fpsRational } from './paced.js';
import { parseV4l2Target, v4l2OutputArgs, v4l2Problem } from './v4l2.js';

export type PushTarget =
  | { kind: 'rtmp' | 'rtsp' | 'mpegts'; url: string; label: string }
  | { kind: 'hls'; playlist: string; label: string }
  | { kind: 'v4l2'; device: string; label: string };

/** Understand `--push`. The HLS folder must exist. Pure apart from that check. */
export function parsePushTarget(text: string): PushTarget {
  const t = text.trim();
  const device = parseV4l2Target(t);
  if (device !== undefined) {
    // The virtual camera (sinks/v4l2.ts): only a v4l2loopback device will do.
    const problem = v4l2Problem(device);
    if (problem) throw new UserError(`--push ${t}: ${problem}`);
    return { kind: 'v4l2', device, label: `virtual camera ${device}` };
  }
  // A URL without a host cannot be reached (udp:// may listen on all addresses): say so before any work.
  if (/^(rtmps?|rtsps?|srt|tcp):\/\//i.test(t) && hostOf(t) === '') throw new UserError(`--push ${redactUrl(t)}: the URL names no host`);
  if (/^rtmps?:\/\//i.test(t)) return { kind: 'rtmp', url: t, label: redactUrl(t) };
  if (/^rtsps?:\/\//i.test(t)) return { kind: 'rtsp', url: t, label: redactUrl(t) };
  if (/^(srt|udp|tcp|rtp):\/\//i.test(t)) return { kind: 'mpegts', url: t, label: redactUrl(t) };
  if (/\.m3u8$/i.test(t)) {
    const folder = dirname(t);
    if (!existsSync(folder) || !statSync(folder).isDirectory()) throw new UserError(`--push ${t}: folder ${folder} does not exist`);
    return { kind: 'hls', playlist: t, label: t };
  }
  throw new UserError(`--push ${t}: give an rtmp://, rtsp://, srt:// or udp:// URL, an HLS playlist path ending in .m3u8, or a virtual camera v4l2:/dev/videoN`);
}

/** ffmpeg output arguments for a push target (after the rawvideo input). Pure. */
export function pushOutputArgs(target: PushTarget, fps: number): string[] {
  if (target.kind === 'v4l2') return v4l2OutputArgs(target.device);
  const gop = String(Math.max(1, Math.round(fps * 2)));
  // Low-latency H.264 with a keyframe every 2 s, so players can join quickly.
  const video = ['-c:v', 'libx264', '-preset', 'veryfast', '-tune', 'zerolatency', '-pix_fmt', 'yuv420p', '-crf', '23', '-g', gop, '-keyint_min', gop, '-sc_threshold', '0'];
  switch (target.kind) {
    case 'rtmp':
      return [...video, '-f', 'flv', target.url];
    case 'rtsp':
      return [...video, '-f', 'rtsp', '-rtsp_transport', 'tcp', target.url];
    case 'mpegts':
      return [...video, '-f', 'mpegts', target.url];
    case 'hls': {
      const stem = basename(target.playlist, '.m3u8');
      return [
        ...video,
        '-f', 'hls',
        '-hls_time', '2',
        '-hls_list_size', '6',
        '-hls_flags', 'delete_segments+independent_segments',
        '-hls_segment_filename', join(dirname(target.playlist), `${stem}_%05d.ts`),
        target.playlist,
      ];
    }
  }
}

/** A Sink feeding RGB24 frames to an ffmpeg that streams them out. */
export class StreamPush implements Sink {
  private readonly child: ChildProcess;
  private readonly exit: Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }>;
  private readonly stderr = new StderrTail(16 * 1024);
  private done = false;

  private constructor(ffmpeg: string, args: string[], readonly label: string, private readonly withSound = false) {
    // Its own process group, like the recording's encoder: a terminal's Ctrl-C reaches only
    // dreamflow, which ends the push cleanly (close); dreamflow dying ends its stdin.
    this.child = spawn(ffmpeg, args, { stdio: withSound ? ['pipe', 'ignore', 'pipe', 'pipe'] : ['pipe', 'ignore', 'pipe'], detached: true, windowsHide: true });
    this.exit = exitOf(this.child);
    endWithProcess(this.child, this.exit);
    this.soundPipe()?.on('error', () => undefined);
    this.stderr.attach(this.child);
    this.child.stdin?.on('error', () => undefined); // reported through the exit status
  }

  /** With `withSound`, s16le PCM (media/liveAudio.ts) comes through fd 3 and goes out as AAC (not to a v4l2 camera). */
  static async open(target: PushTarget, size: { width: number; height: number }, fps: number, withSound = false): Promise<StreamPush> {
    const tools = await locateTools();
    const rate = fpsRational(fps);
    const sound = withSound && target.kind !== 'v4l2';
    const args = ['-hide_banner', '-loglevel', 'error', '-y', '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-s', `${size.width}x${size.height}`, '-framerate', `${rate.num}/${rate.den}`, '-i', 'pipe:0'];
    if (sound) args.push('-f', 's16le', '-ar', String(PCM_RATE), '-ac', String(PCM_CHANNELS), '-i', 'pipe:3', '-map', '0:v:0', '-map', '1:a:0', '-c:a', 'aac', '-b:a', '128k');
    args.push(...pushOutputArgs(target, fps));
    return new StreamPush(tools.ffmpeg.path, args, target.label, sound);
  }

  /** Whether this push carries sound (then each frame's sound comes first, writeAudio). */
  get carriesSound(): boolean {
    return this.withSound;
  }

  private soundPipe(): Writable | undefined {
    return (this.child.stdio[3] as Writable | null | undefined) ?? undefined;
  }

  /** Queue one frame's sound; written just before the frame (see FrameEncoder.writeAudio). */
  writeAudio(pcm: Uint8Array): void {
    const pipe = this.soundPipe();
    if (this.done || !pipe || pipe.destroyed) return;
    pipe.write(pcm);
  }

  async write(frame: Frame): Promise<void> {
    const stdin = this.child.stdin;
    if (this.done || !stdin || stdin.destroyed) throw new Error(await this.reason());
    const flushed = new Promise<Error | null | undefined>((resolve) => stdin.write(frame.data, resolve));
    const outcome = await Promise.race([flushed, this.exit.then(() => 'exited' as const)]);
    if (outcome === 'exited' || outcome) throw new Error(await this.reason());
  }

  async close(): Promise<void> {
    if (this.done) return;
    this.done = true;
    this.child.stdin?.end();
    this.soundPipe()?.end();
    // A network target that hangs must not hold up shutdown.
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    const { code, signal } = await this.exit;
    clearTimeout(timer);
    if (code !== 0 && signal !== 'SIGKILL') throw new UserError(`push to ${this.label} failed: ${await this.reason()}`);
  }

  async abort(): Promise<void> {
    this.done = true;
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    await this.exit;
  }

  private async reason(): Promise<string> {
    const exited = this.child.exitCode !== null || this.child.signalCode !== null;
    const last = lastStderrLine(this.stderr.text());
    return last || (exited ? `ffmpeg exited (${String(this.child.exitCode ?? this.child.signalCode)})` : 'ffmpeg is not accepting frames');
  }
}

/** Push paced at `fps`, fed with the newest dreamed frame. */
export async function openPush(target: PushTarget, size: { width: number; height: number }, fps: number, onError: (err: Error) => void, sound?: PcmFeed): Promise<PacedWriter<LiveFrame>> {
  const push = await StreamPush.open(target, size, fps, sound !== undefined);
  return new PacedWriter<LiveFrame>(sound && push.carriesSound ? new WithSound(push, sound, fps) : push, fps, `push to ${target.label}`, onError);
}

/** The host of a push URL ('' when it names none, or does not parse). Pure. */
function hostOf(url: string): string {
  try {
    return new URL(url).hostname;
  } catch {
    return '';
  }
}
