import { Worker } from 'node:worker_threads';

interface Pending {
  resolve: (value: unknown) => void;
  reject: (err: Error) => void;
}

interface Reply {
  id: number;
  ok: boolean;
  result?: unknown;
  error?: string;
  userError?: boolean;
}

/** Raised in the parent for an error a worker reports, keeping whether it was the user's mistake. */
export class WorkerTaskError extends Error {
  readonly userError: boolean;
  constructor(message: string, userError: boolean) {
    super(message);
    this.userError = userError;
  }
}

/**
 * A fixed set of worker threads running one script, each taking one task at a time. tfjs-wasm is
 * single-threaded in Node, so this is how a dream uses every core. Tasks go to whichever worker
 * is free; `broadcast` sends the same message to all (e.g. to load a model) and waits for all.
 */
export class WorkerPool {
  private readonly workers: Worker[] = [];
  private readonly idle: Worker[] = [];
  private readonly queue: Array<{ message: object; transfer: ArrayBuffer[]; pending: Pending }> = [];
  private readonly inFlight = new Map<Worker, Map<number, Pending>>();
  private nextId = 1;
  private closed = false;

  constructor(script: string | URL, size: number, workerData?: unknown) {
    for (let i = 0; i < size; i++) {
      const w = new Worker(script, { workerData });
      w.unref();
      this.inFlight.set(w, new Map());
      w.on('message', (reply: Reply) => this.onReply(w, reply));
      w.on('error', (err) => this.failWorker(w, err));
      w.on('exit', (code) => {
        if (!this.closed) this.failWorker(w, new Error(`worker exited with code ${code}`));
      });
      this.workers.push(w);
      this.idle.push(w);
    }
  }

  get size(): number {
    return this.workers.length;
  }

  run<T>(message: object, transfer: ArrayBuffer[] = []): Promise<T> {
    if (this.closed) return Promise.reject(new Error('worker pool is closed'));
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ message, transfer, pending: { resolve: resolve as (v: unknown) => void, reject } });
      this.pump();
    });
  }

  /** Run the message on every worker (not through the queue), e.g. configuration. */
  broadcast<T>(message: object): Promise<T[]> {
    return Promise.all(
      this.workers.map(
        (w) =>
          new Promise<T>((resolve, reject) => {
            const id = this.nextId++;
            this.inFlight.get(w)!.set(id, { resolve: resolve as (v: unknown) => void, reject });
            w.postMessage({ ...message, id });
          }),
      ),
    );
  }

  private pump(): void {
    while (this.idle.length > 0 && this.queue.length > 0) {
      const w = this.idle.shift()!;
      const task = this.queue.shift()!;
      const id = this.nextId++;
      this.inFlight.get(w)!.set(id, task.pending);
      w.postMessage({ ...task.message, id }, task.transfer);
    }
  }

  private onReply(w: Worker, reply: Reply): void {
    const pending = this.inFlight.get(w)!;
    const p = pending.get(reply.id);
    if (!p) return;
    pending.delete(reply.id);
    if (reply.ok) p.resolve(reply.result);
    else p.reject(new WorkerTaskError(reply.error ?? 'worker task failed', reply.userError ?? false));
    // A worker is free again once it has no queued task of its own (broadcasts included).
    if (pending.size === 0 && !this.idle.includes(w)) {
      this.idle.push(w);
      this.pump();
    }
  }

  private failWorker(w: Worker, err: Error): void {
    const pending = this.inFlight.get(w);
    if (!pending) return;
    for (const p of pending.values()) p.reject(err);
    pending.clear();
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const p of this.queue) p.pending.reject(new Error('worker pool closed'));
    this.queue.length = 0;
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
