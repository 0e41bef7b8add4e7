/**
 * Raw rgb24 frames arrive from ffmpeg's pipe in chunks of any size, a frame split across chunks
 * or several in one: this cuts the byte stream back into whole frames.
 */
export class FrameAssembler {
  private buf: Uint8Array;
  private fill = 0;

  constructor(readonly frameBytes: number) {
    this.buf = new Uint8Array(frameBytes);
  }

  /** The frames this chunk completes, in order; each is a fresh buffer the caller may keep. */
  push(chunk: Uint8Array): Uint8Array[] {
    const frames: Uint8Array[] = [];
    let off = 0;
    while (off < chunk.length) {
      const n = Math.min(this.frameBytes - this.fill, chunk.length - off);
      this.buf.set(chunk.subarray(off, off + n), this.fill);
      this.fill += n;
      off += n;
      if (this.fill === this.frameBytes) {
        frames.push(this.buf);
        this.buf = new Uint8Array(this.frameBytes);
        this.fill = 0;
      }
    }
    return frames;
  }

  /** Bytes of a frame begun but not finished (a truncated stream ends with some). */
  get pending(): number {
    return this.fill;
  }
}
