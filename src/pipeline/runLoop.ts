/**
 * The one run loop (docs/architecture.md, "The data flow of one frame"): frames from a source,
 * in order and none dropped, through the stage chain into every sink. The clock is the source's:
 * a file yields every frame (resumable: `select` skips the committed ones), a live source only
 * the newest. Backpressure: the next frame is read only when the sinks have taken this one.
 */
import type { Frame, Sink, Stage } from '../frame.js';

/** A frame out of the stage chain with the frame that went in (measures compare the two). */
export type ChainedFrame<In extends Frame = Frame, Out extends Frame = Frame> = Out & { input: In };

export interface LoopOptions<In extends Frame = Frame> {
  /** Renumber a read frame (its ordinal counts from 0) or skip it (undefined): resumed frames, a farm segment's warm-up. */
  select?: ((frame: In, ordinal: number) => In | undefined) | undefined;
  /** Rejects to stop between or during frames. */
  abort?: Promise<never> | undefined;
}

/**
 * Every frame of `frames` through `stage` (yielded with the frame that went in and its ordinal);
 * the file loop's core, shared by whole-file jobs and farm segments.
 */
export async function* throughStage<In extends Frame, Out extends Frame>(
  frames: AsyncIterable<In>,
  stage: Stage<In, Out>,
  opts: LoopOptions<In> = {},
): AsyncGenerator<{ frame: In; dreamed: Out; ordinal: number }> {
  const abort = opts.abort;
  let ordinal = 0;
  for await (const decoded of race(frames, abort)) {
    const n = ordinal++;
    const frame = opts.select ? opts.select(decoded, n) : decoded;
    if (!frame) continue;
    const dreamed = await untilStopped(stage.process(frame), abort);
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

/** Iterate a source, stopping with the abort promise's rejection. */
async function* race<T>(source: AsyncIterable<T>, abort: Promise<never> | undefined): AsyncGenerator<T> {
  const it = source[Symbol.asyncIterator]();
  while (true) {
    const next = await untilStopped(it.next(), abort);
    if (next.done) return;
    yield next.value;
  }
}

/** The callbacks waiting on each stop promise, so a settled wait leaves nothing behind on it. */
const waiting = new WeakMap<Promise<never>, { waiters: Set<(err: unknown) => void>; error?: { reason: unknown } }>();

/**
 * `work`, or the rejection of `stop` if that comes first. Not `Promise.race([work, stop])`: every
 * race adds a reaction to `stop` that holds the race's result until `stop` settles, so a job-long
 * stop promise would keep every frame of the job reachable (memory growing per frame, a crash on
 * a long 1080p video). Here `stop` gets one reaction, and each wait is dropped once it settles.
 */
export function untilStopped<T>(work: Promise<T>, stop: Promise<never> | undefined): Promise<T> {
  if (!stop) return work;
  let entry = waiting.get(stop);
  if (!entry) {
    const created: { waiters: Set<(err: unknown) => void>; error?: { reason: unknown } } = { waiters: new Set() };
    stop.catch((reason: unknown) => {
      created.error = { reason };
      for (const w of created.waiters) w(reason);
      created.waiters.clear();
    });
    waiting.set(stop, created);
    entry = created;
  }
  if (entry.error) return Promise.reject(entry.error.reason);
  const { waiters } = entry;
  return new Promise<T>((resolve, reject) => {
    waiters.add(reject);
    work.then(
      (value) => {
        waiters.delete(reject);
        resolve(value);
      },
      (err: unknown) => {
        waiters.delete(reject);
        reject(err);
      },
    );
  });
}
