/**
 * The file loop's sink (docs/architecture.md, "The data flow of one frame", 5): each dreamed frame
 * committed to the work folder with the stages' snapshot (checkpoint.ts), every `segmentFrames`
 * frames encoded into a segment, and at the end the segments joined with the input's sound into
 * the output, atomically. Resumable: it starts from the progress a checkpoint kept.
 */
import { existsSync } from 'node:fs';
import { readdir, readFile, rm, unlink } from 'node:fs/promises';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { dreamGain } from '../dream/deepdream.js';
import { fromBytes } from '../dream/image.js';
import type { Objective } from '../dream/objectives.js';
import type { GradientRunner } from '../dream/runner.js';
import type { Frame, Rational, Sink } from '../frame.js';
import { concatSegments, type ConcatOptions } from '../media/concat.js';
import type { Size } from '../media/decoder.js';
import { FrameEncoder } from '../media/encoder.js';
import { hiddenStem } from '../paths.js';
import { writeWhole, type CheckpointStore, type JobProgress } from './checkpoint.js';
import type { ChainedFrame } from './runLoop.js';
import type { ChainStage } from './stageModule.js';

export interface SegmentSinkOptions {
  store: CheckpointStore;
  /** What is on disk already (a resumed job's checkpoint). */
  progress: JobProgress;
  segmentFrames: number;
  size: Size;
  fps: Rational;
  /** What segments are encoded with (a resume that changes only these keeps the unfinished run's). */
  encoding: { codec: string; crf: number };
  /** The chain whose snapshot each commit keeps. */
  stage: ChainStage;
  /** The dream gain of a frame (docs/architecture.md), raced against the job's stop. */
  gain: (input: Frame, output: Frame) => Promise<number | undefined>;
  onFrame?: ((done: number) => void) | undefined;
  /** The finished file, and how the segments are joined into it (its sound, index, last edit). */
  output: string;
  join: ConcatOptions;
}

export class SegmentSink implements Sink<ChainedFrame> {
  /** What is on disk: a commit that fails (a full disk) leaves it as it was. */
  progress: JobProgress;
  private t0 = performance.now();

  constructor(private readonly o: SegmentSinkOptions) {
    this.progress = o.progress;
  }

  /** Segments are MP4 pieces, except for VP8, which MP4 cannot hold (Matroska takes it). */
  segmentFile(segment: number): string {
    const path = this.o.store.segmentPath(segment);
    return this.o.encoding.codec === 'libvpx' ? path.replace(/\.mp4$/, '.mkv') : path;
  }

  async write(frame: ChainedFrame): Promise<void> {
    const { store, segmentFrames } = this.o;
    const progress = this.progress;
    const gain = await this.o.gain(frame.input, frame);
    await writeWhole(store.framePath(frame.input.index), frame.data);
    const next: JobProgress = {
      nextFrame: frame.input.index + 1,
      gainSum: progress.gainSum + (gain ?? 0),
      gainCount: progress.gainCount + (gain === undefined ? 0 : 1),
      dreamSeconds: progress.dreamSeconds + (performance.now() - this.t0) / 1000,
    };
    await store.commit(next, this.o.stage.snapshot());
    this.progress = next;
    if (next.nextFrame % segmentFrames === 0) await this.encodeSegment(next.nextFrame / segmentFrames - 1, segmentFrames);
    this.o.onFrame?.(next.nextFrame);
    this.t0 = performance.now();
  }

  private async encodeSegment(segment: number, frames: number): Promise<void> {
    const { store, size, segmentFrames } = this.o;
    const first = segment * segmentFrames;
    const encoder = await FrameEncoder.open(this.segmentFile(segment), { ...size, fps: this.o.fps, ...this.o.encoding, faststart: false });
    try {
      for (let i = first; i < first + frames; i++) {
        const data = new Uint8Array(await readFile(store.framePath(i)));
        await encoder.write({ index: i, ptsSeconds: 0, width: size.width, height: size.height, data });
      }
      await encoder.close();
    } catch (err) {
      await encoder.abort();
      throw err;
    }
    for (let i = first; i < first + frames; i++) await unlink(store.framePath(i)).catch(() => undefined);
  }

  /** Encode what is left and join every segment into the output with the sound (atomically). */
  async close(): Promise<void> {
    const { segmentFrames } = this.o;
    const done = this.progress.nextFrame;
    const segments = Math.ceil(done / segmentFrames);
    for (let s = 0; s < segments; s++) {
      if (!existsSync(this.segmentFile(s))) await this.encodeSegment(s, Math.min(segmentFrames, done - s * segmentFrames));
    }
    await concatSegments(
      Array.from({ length: segments }, (_, s) => this.segmentFile(s)),
      this.o.output,
      this.o.join,
    );
  }

  /**
   * After a failure: before a single frame is committed there is nothing to resume, so no work
   * folder; after, what a resume needs stays, and the frame being committed when it failed (not
   * part of the job yet) and this process's temp files go.
   */
  async abort(): Promise<void> {
    const { store } = this.o;
    const committed = this.progress.nextFrame;
    if (committed === 0) return store.remove().catch(() => undefined);
    await rm(store.framePath(committed), { force: true }).catch(() => undefined);
    await removeTemps(this.o.output, store.dir);
  }
}

/** Dream gain of one frame (docs/architecture.md): a measurement at the working resolution, not part of the stage. */
export function frameGain(runner: GradientRunner, objective: Objective, input: Frame, output: Frame, tile: number): Promise<number | undefined> {
  return dreamGain(runner, fromBytes(input.width, input.height, input.data), fromBytes(output.width, output.height, output.data), objective, tile);
}

/**
 * Remove this process's temp files of a failed job: the encoder's and the join's partial outputs
 * beside the output (`.NAME.partial-PID…`, also the join's list) and half-written commits in the
 * work folder (`*.tmp-PID`). What a resume needs (job.json, state.bin, frames, segments) stays.
 */
async function removeTemps(output: string, dir: string): Promise<void> {
  const pid = String(process.pid);
  const stem = hiddenStem(basename(output, extname(output)));
  // The pid must end where the name's next part begins: `.x.partial-12` is not `.x.partial-123`.
  const partial = new RegExp(`^\\.${escapeRegExp(stem)}\\.partial-${pid}(?:[-.]|$)`);
  await removeMatching(dirname(resolve(output)), (name) => partial.test(name));
  await removeMatching(dir, (name) => name.endsWith(`.tmp-${pid}`) || new RegExp(`\\.partial-${pid}(?:[-.]|$)`).test(name));
}

async function removeMatching(folder: string, match: (name: string) => boolean): Promise<void> {
  const names = await readdir(folder).catch(() => [] as string[]);
  await Promise.all(names.filter(match).map((name) => rm(join(folder, name), { force: true }).catch(() => undefined)));
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
