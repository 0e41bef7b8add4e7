/**
 * Waiting on Redis without waiting forever: every coordinator round trip is raced against a
 * deadline and the abort signal (docs/architecture.md, "The farm's trust boundary").
 */
import { UserError } from '../errors.js';

/** `work`, unless Redis (or the user) does not let it finish: then one clear line. */
export async function withDeadline<T>(work: Promise<T>, ms: number, signal: AbortSignal | undefined, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const stop = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new UserError(message)), ms);
    onAbort = () => reject(new UserError('interrupted while waiting for Redis; run the same command again to go on', 130));
    if (signal?.aborted) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });
  });
  work.catch(() => undefined);
  try {
    return await Promise.race([work, stop]);
  } finally {
    clearTimeout(timer);
    if (onAbort) signal?.removeEventListener('abort', onAbort);
  }
}

/** The coordinator stopped by a signal: the workers go on, a rerun collects. */
export function interrupted(collected: number, segments: number): UserError {
  return new UserError(`interrupted with ${collected} of ${segments} segments collected; the workers go on with the rest: run the same command again to collect them and finish`, 130);
}

/** Resolves after `ms`, or at once when `signal` aborts. */
export function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
