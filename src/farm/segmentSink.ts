/**
 * A farm worker's segment sink: the dreamed frames of one segment job split into its result's
 * parts: the warm-up frames before `first` (the head of the dissolve into this segment), the
 * body [first, tailFrom) encoded exactly as the video job encodes its segments, and the tail
 * [tailFrom, end) (the next cut's first half). docs/architecture.md, "The farm".
 */
import { readFile } from 'node:fs/promises';
import type { Frame, Rational, Sink } from '../frame.js';
import type { Size } from '../media/decoder.js';
import { FrameEncoder } from '../media/encoder.js';
import { packFrames } from './dissolve.js';
import type { SegmentJob, SegmentPart } from './protocol.js';

export class SegmentPartsSink implements Sink {
  private readonly head: Uint8Array[] = [];
  private readonly tail: Uint8Array[] = [];

  private constructor(
    private readonly d: SegmentJob,
    private readonly bodyPath: string,
    private readonly encoder: FrameEncoder | undefined,
    private readonly onSegmentFrame: (at: number) => Promise<void>,
  ) {}

  /**
   * The body may be empty (a segment no longer than the dissolves): then no file is made.
   * `onSegmentFrame` is told each frame of [first, end) once taken (the job's progress).
   */
  static async open(
    d: SegmentJob,
    bodyPath: string,
    encoding: Size & { fps: Rational; codec: string; crf: number | undefined },
    onSegmentFrame: (at: number) => Promise<void>,
  ): Promise<SegmentPartsSink> {
    const encoder = d.tailFrom > d.first ? await FrameEncoder.open(bodyPath, { ...encoding, faststart: false }) : undefined;
    return new SegmentPartsSink(d, bodyPath, encoder, onSegmentFrame);
  }

  /** A dreamed frame, numbered as a single-machine run numbers it (from the job's `indexBase`). */
  async write(frame: Frame): Promise<void> {
    const at = frame.index + this.d.indexBase;
    if (at < this.d.first) this.head.push(frame.data);
    else if (at >= this.d.tailFrom) this.tail.push(frame.data);
    else await this.encoder!.write(frame);
    if (at >= this.d.first) await this.onSegmentFrame(at);
  }

  async close(): Promise<void> {
    await this.encoder?.close();
  }

  async abort(): Promise<void> {
    await this.encoder?.abort();
  }

  /** The result's parts, once closed: the encoded body, and the dissolve's frames deflated. */
  async parts(): Promise<Partial<Record<SegmentPart, Buffer>>> {
    const parts: Partial<Record<SegmentPart, Buffer>> = {};
    if (this.encoder) parts.body = await readFile(this.bodyPath);
    if (this.head.length > 0) parts.head = await packFrames(this.head);
    if (this.tail.length > 0) parts.tail = await packFrames(this.tail);
    return parts;
  }
}
