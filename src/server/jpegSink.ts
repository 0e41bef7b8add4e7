/**
 * The viewers' output as a Sink (frame.ts; docs/architecture.md, "The live feed"): each dreamed
 * frame is encoded to JPEG once and the same buffer goes to every WebSocket viewer (inside the
 * viewer protocol's frame message) and every MJPEG reader. `write` never blocks the dream loop:
 * while a frame is being encoded, newer ones replace each other (counted in `skipped`) and only
 * the newest is encoded next.
 */
import sharp from 'sharp';
import type { DreamedFrame, Sink } from '../frame.js';
import { LatestWorker } from '../latest.js';
import type { RollingProfile } from '../metrics/profile.js';
import { FLAG_BROWSER, encodeFrameMessage } from './protocol.js';

/** Who takes the encoded frames: the hub's viewer set and MJPEG readers. */
export interface JpegAudience {
  /** Whether anyone watches now (nobody: the frame is not encoded at all). */
  watching(): boolean;
  /** One encoded frame: the JPEG alone (MJPEG) and as the viewer protocol's message (sockets). */
  deliver(jpeg: Buffer, message: Buffer): void;
}

export class JpegSink implements Sink<DreamedFrame> {
  private readonly encoder: LatestWorker<DreamedFrame>;
  private closed = false;

  constructor(
    private readonly quality: number,
    private readonly audience: JpegAudience,
    /** Encode and send times of the frames sent (the live profile's last phases). */
    private readonly profile: RollingProfile,
    warn: (message: string) => void,
  ) {
    this.encoder = new LatestWorker<DreamedFrame>(
      (f) => this.encodeAndSend(f),
      (err) => warn(`could not encode a frame: ${(err as Error).message}`),
    );
  }

  /** Dreamed frames not encoded because the encoder was still busy with the previous one. */
  get skipped(): number {
    return this.encoder.skipped;
  }

  /** Hand a dreamed frame to the viewers (never blocks; a busy encoder skips to the newest). */
  write(frame: DreamedFrame): Promise<void> {
    if (!this.closed && this.audience.watching()) this.encoder.offer(frame);
    return Promise.resolve();
  }

  /** Take no more frames and wait for the one being encoded to go out. */
  close(): Promise<void> {
    this.closed = true;
    return this.encoder.settled();
  }

  abort(): Promise<void> {
    return this.close();
  }

  private async encodeAndSend(f: DreamedFrame): Promise<void> {
    const t0 = performance.now();
    const jpeg = await sharp(Buffer.from(f.data.buffer, f.data.byteOffset, f.data.length), { raw: { width: f.width, height: f.height, channels: 3 } })
      .jpeg({ quality: this.quality })
      .toBuffer();
    const msg = encodeFrameMessage(
      {
        seq: f.seq,
        capturedAt: f.capturedAt,
        sentAt: Date.now(),
        width: f.width,
        height: f.height,
        flags: f.origin === 'browser' ? FLAG_BROWSER : 0,
        level: f.level,
        dreamMs: f.dreamMs,
        clientId: f.clientId ?? 0,
        sourceSeq: f.origin === 'browser' ? (f.clientSeq ?? 0) : f.index,
      },
      jpeg,
    );
    const t1 = performance.now();
    this.audience.deliver(jpeg, msg);
    this.profile.add('encode', t1 - t0);
    this.profile.add('send', performance.now() - t1);
  }
}
