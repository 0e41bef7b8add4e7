/**
 * `GET /stream.mjpg`: the dreamed frames as multipart/x-mixed-replace JPEG, what OBS's Media
 * Source, VLC, ffmpeg and an `<img>` tag read with no page (docs/architecture.md, "MJPEG").
 *
 * The hub encodes each frame to JPEG once; the same buffer goes to every MJPEG reader. Each
 * reader holds at most one frame waiting (the newest): while its socket has more than
 * `maxBufferedBytes` unsent, a new frame replaces the waiting one (counted as skipped) and is
 * written when the socket drains. A slow reader drops frames; memory never grows with it.
 */
import type { ServerResponse } from 'node:http';

/** The part boundary: a fixed string no JPEG part header can contain by accident. */
export const MJPEG_BOUNDARY = 'dreamflowframe';

export interface MjpegReader {
  id: number;
  /** The remote address's key when it came without a token (viewer admission), else undefined. */
  anonymousFrom: string | undefined;
  sent: number;
  skipped: number;
  bufferedBytes: number;
}

interface Reader extends MjpegReader {
  res: ServerResponse;
  /** The newest frame not yet written because the socket was full. */
  waiting: Buffer | undefined;
  /** Since when (ms) its socket has been full; undefined while it reads. */
  fullSince: number | undefined;
}

/**
 * A reader whose socket has taken nothing for this long is cut off, as the WebSocket heartbeat
 * cuts off a silent viewer: otherwise a vanished peer would hold a viewer place for good (ms).
 */
const STALLED_MS = 30_000;

/** The part header of one JPEG (a pure function: what each frame is preceded by). */
export function mjpegPartHeader(bytes: number): string {
  return `--${MJPEG_BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: ${bytes}\r\n\r\n`;
}

export class MjpegReaders {
  private readonly readers = new Map<number, Reader>();
  private nextId = 1;

  constructor(private readonly maxBufferedBytes: number) {}

  get size(): number {
    return this.readers.size;
  }

  /** Readers without a token from this address key, or all readers without a token. */
  anonymousCount(key?: string): number {
    let n = 0;
    for (const r of this.readers.values()) if (r.anonymousFrom !== undefined && (key === undefined || r.anonymousFrom === key)) n++;
    return n;
  }

  stats(): MjpegReader[] {
    return [...this.readers.values()].map((r) => ({ id: r.id, anonymousFrom: r.anonymousFrom, sent: r.sent, skipped: r.skipped, bufferedBytes: r.res.writableLength }));
  }

  /** Start the multipart answer; frames follow as they are published. */
  add(res: ServerResponse, anonymousFrom: string | undefined, first?: Buffer): void {
    const reader: Reader = { id: this.nextId++, res, anonymousFrom, sent: 0, skipped: 0, bufferedBytes: 0, waiting: undefined, fullSince: undefined };
    res.writeHead(200, {
      'Content-Type': `multipart/x-mixed-replace; boundary=${MJPEG_BOUNDARY}`,
      'Cache-Control': 'no-store, no-cache, must-revalidate',
      Pragma: 'no-cache',
      Connection: 'close',
      'X-Content-Type-Options': 'nosniff',
    });
    // Each part goes out at once instead of waiting for a full segment (latency).
    res.socket?.setNoDelay(true);
    this.readers.set(reader.id, reader);
    const gone = (): void => void this.readers.delete(reader.id);
    res.on('close', gone);
    res.on('error', gone);
    res.on('drain', () => {
      reader.fullSince = undefined;
      const w = reader.waiting;
      reader.waiting = undefined;
      if (w) this.write(reader, w);
    });
    // The last frame at once, so a player shows a picture without waiting for the next dream.
    if (first) this.write(reader, first);
  }

  /** One JPEG to every reader: written, or kept as the one waiting frame of a full socket. */
  publish(jpeg: Buffer, now = Date.now()): void {
    for (const r of this.readers.values()) {
      if (r.res.writableLength > this.maxBufferedBytes) {
        r.fullSince ??= now;
        if (now - r.fullSince > STALLED_MS) {
          this.readers.delete(r.id);
          r.res.destroy();
          continue;
        }
        if (r.waiting) r.skipped++;
        r.waiting = jpeg;
        continue;
      }
      this.write(r, jpeg);
    }
  }

  /** End every answer (server closing). */
  closeAll(): void {
    for (const r of this.readers.values()) r.res.destroy();
    this.readers.clear();
  }

  private write(r: Reader, jpeg: Buffer): void {
    if (r.res.destroyed || r.res.writableEnded) return;
    r.res.write(mjpegPartHeader(jpeg.length));
    r.res.write(jpeg);
    r.res.write('\r\n');
    r.sent++;
  }
}
