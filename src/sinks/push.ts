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
import type { Frame, Sink } from '../frame.js';
import { redactUrl } from '../media/redact.js';
import { PacedWriter, fpsRational } from './paced.js';

export type PushTarget = { kind: 'rtmp' | 'rtsp' | 'mpegts'; url: string; label: string } | { kind: 'hls'; playlist: string; label: string };

/** Understand `--push`. The HLS folder must exist. Pure apart from that check. */
export function parsePushTarget(text: string): PushTarget {
  const t = text.trim();
  if (/^rtmps?:\/\//i.test(t)) return { kind: 'rtmp', url: t, label: redactUrl(t) };
  if (/^rtsps?:\/\//i.test(t)) return { kind: 'rtsp', url: t, label: redactUrl(t) };
  if (/^(srt|udp|tcp|rtp):\/\//i.test(t)) return { kind: 'mpegts', url: t, label: redactUrl(t) };
  if (/\.m3u8$/i.test(t)) {
    const folder = dirname(t);
    if (!existsSync(folder) || !statSync(folder).isDirectory()) throw new UserError(`--push ${t}: folder ${folder} does not exist`);
    return { kind: 'hls', playlist: t, label: t };
  }
  throw new UserError(`--push ${t}: give an rtmp://, rtsp://, srt:// or udp:// URL, or an HLS playlist path ending in .m3u8`);
}

/** ffmpeg output arguments for a push target (after the rawvideo input). Pure. */
export function pushOutputArgs(target: PushTarget, fps: number): string[] {
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

  private constructor(ffmpeg: string, args: string[], readonly label: string) {
    // Its own process group, like the recording's encoder: a terminal's Ctrl-C reaches only
    // dreamflow, which ends the push cleanly (close); dreamflow dying ends its stdin.
    this.child = spawn(ffmpeg, args, { stdio: ['pipe', 'ignore', 'pipe'], detached: true, windowsHide: true });
    this.exit = exitOf(this.child);
    endWithProcess(this.child, this.exit);
    this.stderr.attach(this.child);
    this.child.stdin?.on('error', () => undefined); // reported through the exit status
  }

  static async open(target: PushTarget, size: { width: number; height: number }, fps: number): Promise<StreamPush> {
    const tools = await locateTools();
    const rate = fpsRational(fps);
    const args = ['-hide_banner', '-loglevel', 'error', '-y', '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-s', `${size.width}x${size.height}`, '-framerate', `${rate.num}/${rate.den}`, '-i', 'pipe:0', ...pushOutputArgs(target, fps)];
    return new StreamPush(tools.ffmpeg.path, args, target.label);
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
export async function openPush(target: PushTarget, size: { width: number; height: number }, fps: number, onError: (err: Error) => void): Promise<PacedWriter> {
  const push = await StreamPush.open(target, size, fps);
  return new PacedWriter(push, fps, `push to ${target.label}`, onError);
}
