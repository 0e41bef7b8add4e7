/**
 * A farm worker's piece source: the stream-copied pieces of the input a segment job shipped,
 * decoded one after another as one stream of frames (docs/architecture.md, "The farm").
 */
import type { Frame } from '../frame.js';
import { FrameDecoder, type Size } from '../media/decoder.js';
import type { MediaInfo } from '../media/probe.js';

/** Decodes pieces one after another as one stream of frames; close() stops the one in progress. */
export class PieceDecoder {
  private current: FrameDecoder | undefined;
  private closed = false;

  /** `firstMedia`: the first piece as the worker probed it already (it is not probed again). */
  async *frames(paths: readonly string[], opts: { size: Size; maxFrames: number; onWarning: (m: string) => void; firstMedia: MediaInfo }): AsyncGenerator<Frame> {
    let left = opts.maxFrames;
    for (const [i, path] of paths.entries()) {
      if (left <= 0 || this.closed) return;
      const decoder = await FrameDecoder.open(path, { size: opts.size, maxFrames: left, onWarning: opts.onWarning }, i === 0 ? opts.firstMedia : undefined);
      this.current = decoder;
      try {
        for await (const frame of decoder) {
          left--;
          yield frame;
        }
      } finally {
        await decoder.close();
        this.current = undefined;
      }
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.current?.close();
  }
}
