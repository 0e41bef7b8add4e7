/**
 * The one run loop (docs/architecture.md, "The data flow of one frame"): frames from a source,
 * in order and none dropped, through the stage chain into every sink. The clock is the source's:
 * a file yields every frame (resumable: `select` skips the committed ones), a live source only
 * the newest. Backpressure: the next frame is read only when the sinks have taken this one.
 */
import type { Frame, Sink, Stage } from '../frame.js';

/** A frame out of the stage chain with the frame that went in (measures compare the two). */
export interface ChainedFrame extends Frame {
  input: Frame;
}

export interface LoopOptions {
  /** Renumber a read frame (its ordinal counts from 0) or skip it (undefined): resumed frames, a farm segment's warm-up. */
  select?: ((frame: Frame, ordinal: number) => Frame | undefined) | undefined;
  /** Rejects to stop between or during frames. */
  abort?: Promise<never> | undefined;
}

/**
 * Every frame of `frames` through `stage` (yielded with the frame that went in and its ordinal);
 * the file loop's core, shared by whole-file jobs and farm segments.
 */
export async function* throughStage(frames: AsyncIterable<Frame>, stage: Stage, opts: LoopOptions = {}): AsyncGenerator<{ frame: Frame; dreamed: Frame; ordinal: number }> {
  const abort = opts.abort ?? new Promise<never>(() => undefined);
  let ordinal = 0;
  for await (const decoded of race(frames, abort)) {
    const n = ordinal++;
    const frame = opts.select ? opts.select(decoded, n) : decoded;
    if (!frame) continue;
    const dreamed = await Promise.race([stage.process(frame), abort]);
    yield { frame, dreamed, ordinal: n };
  }
}

/** Source → stage chain → sinks. Returns the number of frames written. Closing the source and the sinks is the caller's. */
export async function runLoop(frames: AsyncIterable<Frame>, stage: Stage, sinks: readonly Sink<ChainedFrame>[], opts: LoopOptions = {}): Promise<number> {
  let written = 0;
  for await (const { frame, dreamed } of throughStage(frames, stage, opts)) {
    const out: ChainedFrame = { ...dreamed, input: frame };
    for (const sink of sinks) await sink.write(out);
    written++;
  }
  return written;
}

/** Iterate a source, stopping with the abort promise's rejection. */
async function* race<T>(source: AsyncIterable<T>, abort: Promise<never>): AsyncGenerator<T> {
  const it = source[Symbol.asyncIterator]();
  while (true) {
    const next = await Promise.race([it.next(), abort]);
    if (next.done) return;
    yield next.value;
  }
}
