/**
 * The viewer page's own camera: browsers send JPEG pictures over the WebSocket, this decodes
 * them to RGB24 at the working size and offers the newest one like any live source.
 */
import sharp from 'sharp';
import { Latest } from '../latest.js';
import type { CameraPicture, CameraRejection, LiveFrame, LiveSource, LiveSourceInfo, LiveSourceStats } from '../frame.js';

/**
 * Decodes at most one picture at a time per client (a browser that sends faster than we decode
 * is told `busy` for the extras, never queued), and keeps only the newest decoded frame.
 */
export class BrowserCameraSource implements LiveSource {
  readonly info: LiveSourceInfo;
  readonly stats: LiveSourceStats = { frames: 0, dropped: 0, reconnects: 0 };
  private readonly queue = new Latest<LiveFrame>();
  private readonly decoding = new Set<number>();
  private readonly startedAt = Date.now();
  private closed = false;
  /** Wall clock of the last decoded picture (0 = never). */
  lastFrameAt = 0;

  constructor(width: number, height: number, fps: number) {
    this.info = { width, height, fps, label: 'browser camera', kind: 'browser' };
  }

  /** Decode one picture; resolves with null when it was taken, or why it was not. */
  async push(picture: CameraPicture): Promise<CameraRejection | null> {
    if (this.closed) return 'closed';
    const { jpeg, clientId } = picture;
    if (jpeg.length < 4 || jpeg[0] !== 0xff || jpeg[1] !== 0xd8) return 'not-jpeg';
    if (this.decoding.has(clientId)) return 'busy';
    this.decoding.add(clientId);
    try {
      const { width, height } = this.info;
      // Cover-crop like the ffmpeg sources, so every source fills the same working frame.
      // limitInputPixels stops a small file claiming a huge size from exhausting memory.
      const data = await sharp(jpeg, { limitInputPixels: 4096 * 4096, failOn: 'error' })
        .resize(width, height, { fit: 'cover' })
        .removeAlpha()
        .toColourspace('srgb')
        .raw()
        .toBuffer();
      if (this.closed) return 'closed';
      if (data.length !== width * height * 3) return 'undecodable';
      const capturedAt = Date.now();
      this.lastFrameAt = capturedAt;
      const index = this.stats.frames++;
      this.queue.put({
        index,
        ptsSeconds: (capturedAt - this.startedAt) / 1000,
        width,
        height,
        data: new Uint8Array(data.buffer, data.byteOffset, data.length),
        capturedAt,
        origin: 'browser',
        clientId,
        clientSeq: picture.clientSeq,
      });
      this.stats.dropped = this.queue.replaced;
      return null;
    } catch {
      return 'undecodable';
    } finally {
      this.decoding.delete(clientId);
    }
  }

  [Symbol.asyncIterator](): AsyncIterator<LiveFrame> {
    return {
      next: () => this.queue.next(),
      return: async () => {
        await this.close();
        return { value: undefined, done: true };
      },
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    this.queue.end();
  }
}
