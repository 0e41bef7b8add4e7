/**
 * The one run loop (docs/architecture.md, "The data flow of one frame"): frames from a source,
 * in order and none dropped, through the stage chain into every sink. The clock is the source's:
 * a file yields every frame (resumable: `select` skips the committed ones), a live source only
 * the newest. Backpressure: the next frame is read only when the sinks have taken this one.
 */
import { unlessStopped } from '../errors.js';
import type { Frame, Sink, Stage } from '../frame.js';

/** A frame out of the stage chain with the frame that went in (measures compare the two). */
export type ChainedFrame<In extends Frame = Frame, Out extends Frame = Frame> = Out & { input: In };

export interface LoopOptions<In extends Frame = Frame> {
  /** Renumber a read frame (its ordinal counts from 0) or skip it (undefined): resumed frames, a farm segment's warm-up. */
  select?: ((frame: In, ordinal: number) => In | undefined) | undefined;
  /** Stops the loop between or during frames... */
  signal?: AbortSignal | undefined;
  /** ...with this error (read when the abort comes; default a Stopped error). */
  stopped?: (() => Error) | undefined;
}

/**
 * Every frame of `frames` through `stage` (yielded with the frame that went in and its ordinal);
 * the core of runLoop.
 */
async function* throughStage<In extends Frame, Out extends Frame>(
  frames: AsyncIterable<In>,
  stage: Stage<In, Out>,
  opts: LoopOptions<In> = {},
): AsyncGenerator<{ frame: In; dreamed: Out; ordinal: number }> {
  const stop = { signal: opts.signal, error: opts.stopped };
  let ordinal = 0;
  for await (const decoded of untilStopped(frames, stop)) {
    const n = ordinal++;
    const frame = opts.select ? opts.select(decoded, n) : decoded;
    if (!frame) continue;
    const dreamed = await unlessStopped(stage.process(frame), stop.signal, stop.error);
    yield { frame, dreamed, ordinal: n };
  }
}

/** Source → stage chain → sinks. Returns the number of frames written. Closing the source and the sinks is the caller's. */
export async function runLoop<In extends Frame, Out extends Frame>(
  frames: AsyncIterable<In>,
  stage: Stage<In, Out>,
  sinks: readonly Sink<ChainedFrame<In, Out>>[],
  opts: LoopOptions<In> = {},
): Promise<number> {
  let written = 0;
  for await (const { frame, dreamed } of throughStage(frames, stage, opts)) {
    const out: ChainedFrame<In, Out> = { ...dreamed, input: frame };
    for (const sink of sinks) await sink.write(out);
    written++;
  }
  return written;
}

/** Iterate a source, stopping when the signal aborts. */
async function* untilStopped<T>(source: AsyncIterable<T>, stop: { signal: AbortSignal | undefined; error: (() => Error) | undefined }): AsyncGenerator<T> {
  const it = source[Symbol.asyncIterator]();
  while (true) {
    const next = await unlessStopped(it.next(), stop.signal, stop.error);
    if (next.done) return;
    yield next.value;
  }
}
