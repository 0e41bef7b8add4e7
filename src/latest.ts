/**
 * "Keep only the newest": the flow control of every live path (docs/architecture.md). Live
 * sources drop stale frames here, the dream loop takes the newest, and outputs that fall behind
 * skip frames instead of queueing them. Memory: one value each.
 */

/**
 * Holds the newest value for one consumer: `put` replaces (and counts) a value nobody took,
 * `next` waits for the next one. Memory: one value, whatever the rates.
 */
export class Latest<T> {
  private value: T | undefined;
  private waiter: ((v: IteratorResult<T>) => void) | undefined;
  private failWaiter: ((err: Error) => void) | undefined;
  private ended = false;
  private error: Error | undefined;
  replaced = 0;

  put(value: T): void {
    if (this.ended) return;
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = this.failWaiter = undefined;
      w({ value, done: false });
      return;
    }
    if (this.value !== undefined) this.replaced++;
    this.value = value;
  }

  /** No more values; a waiting consumer gets done (or the error). */
  end(error?: Error): void {
    if (this.ended) return;
    this.ended = true;
    this.error = error;
    const w = this.waiter;
    const f = this.failWaiter;
    this.waiter = this.failWaiter = undefined;
    if (error && f) f(error);
    else if (w) w({ value: undefined, done: true });
  }

  next(): Promise<IteratorResult<T>> {
    if (this.value !== undefined) {
      const value = this.value;
      this.value = undefined;
      return Promise.resolve({ value, done: false });
    }
    if (this.ended) return this.error ? Promise.reject(this.error) : Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => {
      this.waiter = resolve;
      this.failWaiter = reject;
    });
  }

  /** The newest value, waiting for one; undefined once ended (an error ending rejects). */
  async take(): Promise<T | undefined> {
    const r = await this.next();
    return r.done ? undefined : r.value;
  }

  /** End without error, dropping a value nobody took. */
  close(): void {
    this.value = undefined;
    this.end();
  }

  /** Values replaced before anyone took them. */
  get dropped(): number {
    return this.replaced;
  }
}

/**
 * Runs `work` on the newest value, one at a time: values that arrive while it is busy replace
 * each other (counted in `skipped`). For the per-frame outputs (JPEG broadcast, encoders), so a
 * slow output skips frames instead of slowing the dream loop or queueing them.
 */
export class LatestWorker<T> {
  private pending: T | undefined;
  private busy = false;
  private idle: Promise<void> = Promise.resolve();
  private release: () => void = () => undefined;
  skipped = 0;

  constructor(
    private readonly work: (value: T) => Promise<void>,
    private readonly onError: (err: unknown) => void,
  ) {}

  offer(value: T): void {
    if (this.pending !== undefined) this.skipped++;
    this.pending = value;
    if (!this.busy) void this.drain();
  }

  /** Resolves when nothing is pending or running. */
  settled(): Promise<void> {
    return this.busy ? this.idle : Promise.resolve();
  }

  private async drain(): Promise<void> {
    this.busy = true;
    this.idle = new Promise((r) => (this.release = r));
    try {
      while (this.pending !== undefined) {
        const v = this.pending;
        this.pending = undefined;
        try {
          await this.work(v);
        } catch (err) {
          this.onError(err);
        }
      }
    } finally {
      this.busy = false;
      this.release();
    }
  }
}
