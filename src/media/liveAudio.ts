/**
 * The live input's sound, for recordings and pushes (docs/architecture.md, "Live sound"). An
 * ffmpeg beside the picture's decoder reads the same input at the same real-time pace and
 * writes 48 kHz stereo s16le PCM; dreamflow keeps a bounded queue of it. Each output frame takes
 * exactly its share of samples, delayed by the dream latency (the age of the frame it goes
 * out with), so picture and sound stay in sync however long dreaming takes.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { locateTools } from './locate.js';
import { endWithProcess, exitOf } from './run.js';

export const PCM_RATE = 48_000;
export const PCM_CHANNELS = 2;
/** Bytes per sample frame (all channels, s16le). */
const FRAME_BYTES = 2 * PCM_CHANNELS;
const BYTES_PER_SECOND = PCM_RATE * FRAME_BYTES;
/** Sound kept at most (s): beyond it the oldest goes, so a stalled output never grows memory. */
const MAX_QUEUED_SECONDS = 10;
/** How far the queue may stray from the wanted delay before it is corrected (s). */
const TOLERANCE_SECONDS = 0.08;

/** PCM bytes of sound between output frames n and n+1 at `fps` (whole sample frames, no drift). Pure. */
export function pcmBytesForFrame(n: number, fps: number): number {
  const at = (k: number): number => Math.round((k * PCM_RATE) / fps);
  return (at(n + 1) - at(n)) * FRAME_BYTES;
}

/** What the outputs ask of the sound: its next piece, and the delay it is held back by. */
export interface PcmFeed {
  /** `bytes` of PCM played `delaySeconds` after it was captured (silence where there is none). */
  take(bytes: number, delaySeconds: number): Buffer;
}

export class LiveAudioCapture implements PcmFeed {
  private readonly chunks: Buffer[] = [];
  private queued = 0;
  private readonly child: ChildProcess;
  private readonly exit: Promise<unknown>;
  private closed = false;
  /** Who else hears the sound as it arrives (live --react's loudness, pipeline/liveModulation.ts). */
  private readonly listeners: Array<(pcm: Buffer) => void> = [];
  /** Stats: bytes of sound received, dropped (queue over the delay), and silence inserted. */
  readonly stats = { receivedSeconds: 0, droppedSeconds: 0, silenceSeconds: 0, delayMs: 0 };

  /** `queue: false`: nothing takes the sound (no output carries it), only listeners hear it. */
  private constructor(
    ffmpeg: string,
    inputArgs: readonly string[],
    private readonly queue: boolean,
  ) {
    const args = ['-hide_banner', '-nostdin', '-loglevel', 'error', ...inputArgs, '-map', '0:a:0', '-vn', '-sn', '-dn', '-ac', String(PCM_CHANNELS), '-ar', String(PCM_RATE), '-f', 's16le', 'pipe:1'];
    // Its own process group like the picture's decoder: Ctrl-C reaches only dreamflow.
    this.child = spawn(ffmpeg, args, { stdio: ['ignore', 'pipe', 'ignore'], detached: true, windowsHide: true });
    this.exit = exitOf(this.child);
    endWithProcess(this.child, this.exit);
    this.child.stdout!.on('data', (d: Buffer) => this.push(d));
  }

  /** Start reading the sound of an input given as ffmpeg input arguments (`-re … -i FILE`). */
  static async open(inputArgs: readonly string[], opts: { queue?: boolean } = {}): Promise<LiveAudioCapture> {
    const tools = await locateTools();
    return new LiveAudioCapture(tools.ffmpeg.path, inputArgs, opts.queue ?? true);
  }

  /** Hear each piece of sound as it arrives (interleaved s16le at PCM_RATE, PCM_CHANNELS). */
  listen(listener: (pcm: Buffer) => void): void {
    this.listeners.push(listener);
  }

  /** Seconds of sound waiting. */
  get queuedSeconds(): number {
    return this.queued / BYTES_PER_SECOND;
  }

  take(bytes: number, delaySeconds: number): Buffer {
    this.stats.delayMs = Math.round(delaySeconds * 1000);
    const want = Math.round(delaySeconds * PCM_RATE) * FRAME_BYTES;
    const tolerance = Math.round(TOLERANCE_SECONDS * PCM_RATE) * FRAME_BYTES;
    // More waiting than the delay: what is older than the picture going out now is dropped.
    if (this.queued > want + tolerance) this.drop(this.queued - want);
    // Less: silence now, and the queue grows by this frame's share (the start, a hiccup).
    if (this.queued < want - tolerance) {
      this.stats.silenceSeconds += bytes / BYTES_PER_SECOND;
      return Buffer.alloc(bytes);
    }
    const out = Buffer.alloc(bytes);
    let filled = 0;
    while (filled < bytes && this.chunks.length > 0) {
      const head = this.chunks[0]!;
      const n = Math.min(head.length, bytes - filled);
      head.copy(out, filled, 0, n);
      filled += n;
      if (n === head.length) this.chunks.shift();
      else this.chunks[0] = head.subarray(n);
      this.queued -= n;
    }
    if (filled < bytes) this.stats.silenceSeconds += (bytes - filled) / BYTES_PER_SECOND;
    return out;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    await this.exit;
    this.chunks.length = 0;
    this.queued = 0;
  }

  private push(d: Buffer): void {
    if (this.closed) return;
    for (const l of this.listeners) l(d);
    this.stats.receivedSeconds += d.length / BYTES_PER_SECOND;
    if (!this.queue) return;
    this.chunks.push(d);
    this.queued += d.length;
    const max = MAX_QUEUED_SECONDS * BYTES_PER_SECOND;
    if (this.queued > max) this.drop(this.queued - max);
  }

  private drop(bytes: number): void {
    let left = bytes - (bytes % FRAME_BYTES);
    this.stats.droppedSeconds += left / BYTES_PER_SECOND;
    while (left > 0 && this.chunks.length > 0) {
      const head = this.chunks[0]!;
      if (head.length <= left) {
        this.chunks.shift();
        left -= head.length;
        this.queued -= head.length;
      } else {
        this.chunks[0] = head.subarray(left);
        this.queued -= left;
        left = 0;
      }
    }
  }
}
