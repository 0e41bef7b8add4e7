/**
 * A constant-rate writer for live outputs. Dreamed frames come at whatever rate the adaptive
 * controller manages; a recording or a stream needs a steady one. This writes the newest frame
 * every 1/fps seconds of wall-clock time (repeating it when dreaming is slower, skipping frames
 * when faster), so the output's timeline matches real time and nothing queues up. It is itself a
 * Sink around a Sink (frame.ts): newest-only delivery is a wrapper, not another shape of output.
 */
import type { Frame, Sink } from '../frame.js';

export interface PacedStats {
  /** Frames written to the sink (repeats included). */
  written: number;
  /** Of those, repeats of a frame already written. */
  repeated: number;
  /** Offered frames never written (a newer one came before the next tick). */
  skipped: number;
}

export class PacedWriter<F extends Frame = Frame> implements Sink<F> {
  readonly stats: PacedStats = { written: 0, repeated: 0, skipped: 0 };
  private latest: F | undefined;
  private latestWritten = false;
  private startedAt = 0;
  private stopping = false;
  private failed = false;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private readonly period: number;

  constructor(
    private readonly sink: Sink<F>,
    fps: number,
    private readonly label: string,
    private readonly onError: (err: Error) => void,
  ) {
    this.period = 1000 / fps;
  }

  /** The newest frame to show from now on. Never blocks: resolves at once, the tick writes it. */
  write(frame: F): Promise<void> {
    if (this.stopping || this.failed) return Promise.resolve();
    if (this.latest && !this.latestWritten) this.stats.skipped++;
    this.latest = frame;
    this.latestWritten = false;
    if (!this.loop) {
      this.startedAt = performance.now();
      this.loop = this.run();
    }
    this.wake?.();
    return Promise.resolve();
  }

  /** Stop ticking and finish the output (FrameEncoder: rename into place). */
  async close(): Promise<void> {
    this.stopping = true;
    this.wake?.();
    await this.loop;
    // The last dreamed picture is kept even when the feed ended before its tick: a recording of a
    // file played live ends on the file's last dream, not on the one before.
    if (!this.failed && this.latest && !this.latestWritten) await this.writeLatest();
    if (this.failed) {
      await this.sink.abort();
      return;
    }
    await this.sink.close();
  }

  async abort(): Promise<void> {
    this.stopping = true;
    this.wake?.();
    await this.sink.abort();
    await this.loop;
  }

  private async run(): Promise<void> {
    while (!this.stopping && !this.failed) {
      const due = this.startedAt + this.stats.written * this.period;
      const wait = due - performance.now();
      if (wait > 0) await this.sleep(wait);
      if (this.stopping) break;
      await this.writeLatest();
    }
  }

  /**
   * The newest frame to the sink (counted a repeat when already written). A failing sink is
   * reported once and marked failed: nothing more is written, and close() aborts it.
   */
  private async writeLatest(): Promise<void> {
    if (this.latestWritten) this.stats.repeated++;
    this.latestWritten = true;
    try {
      await this.sink.write(this.latest!);
      this.stats.written++;
    } catch (err) {
      this.failed = true;
      this.onError(new Error(`${this.label}: ${err instanceof Error ? err.message : String(err)}`));
    }
  }

  /** Sleep, but wake early when stopping (timers are the only way to pace without spinning). */
  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      const self = this;
      function done(): void {
        clearTimeout(t);
        self.wake = undefined;
        resolve();
      }
      this.wake = () => {
        if (this.stopping) done();
      };
    });
  }
}

/** A frame rate as an exact rational for encoders: 10 → 10/1, 7.5 → 15/2, 29.97 → 2997/100. */
export function fpsRational(fps: number): { num: number; den: number } {
  let den = 1;
  while (!Number.isInteger(Math.round(fps * den * 1e6) / 1e6) && den < 1000) den *= 10;
  let num = Math.round(fps * den);
  const g = gcd(num, den);
  num /= g;
  den /= g;
  return { num, den };
}

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}
