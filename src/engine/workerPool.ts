import { setTimeout as delay } from 'node:timers/promises';
import { Worker } from 'node:worker_threads';

/** How long close() lets running tasks and the engines' release take before ending the workers. */
const CLOSE_WAIT_MS = 30_000;

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

  /**
   * Stop the workers. A worker ended while a native call is running on its behalf (an ONNX
   * Runtime session.run) takes the whole process down when that call returns into the dead
   * thread (`terminate called after throwing an instance of 'Napi::Error'`): a Ctrl-C that
   * stops a dream mid-tile did that. So the tasks already running finish first (bounded), each
   * worker releases its engine on its own thread (a `close` message), and only then is it ended.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const p of this.queue) p.pending.reject(new Error('worker pool closed'));
    this.queue.length = 0;
    const busy = (): boolean => [...this.inFlight.values()].some((m) => m.size > 0);
    const until = Date.now() + CLOSE_WAIT_MS;
    while (busy() && Date.now() < until) await delay(10);
    // An unref'd timer: the bound must not itself keep the process alive once the workers answer.
    if (!busy()) await Promise.race([this.broadcast({ op: 'close' }).catch(() => undefined), delay(CLOSE_WAIT_MS, undefined, { ref: false })]);
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
