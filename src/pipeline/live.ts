/**
 * Real-time scheduling for live jobs (docs/architecture.md, "The live feed"): sources write into a
 * latest-frame slot, and the one run loop (runLoop.ts) always takes the newest frame from it
 * (stale ones are dropped and counted, so latency never grows) through the adaptive stage
 * (liveStage.ts), which trades gradient steps and working resolution to hold the target frame
 * rate, into the live outputs: Sinks whose write never blocks.
 */
import type { Objective } from '../dream/objectives.js';
import type { GradientRunner } from '../dream/runner.js';
import { Latest } from '../latest.js';
import type { ControlChanges, LiveControls } from '../server/protocol.js';
import type { DreamedFrame, LiveFrame, LiveSource, Sink } from '../frame.js';
import type { TemporalDreamStage } from '../temporal/stage.js';
import { AdaptiveStage, type AdaptiveOptions, type AdaptiveStats } from './liveStage.js';
import { runLoop, type ChainedFrame } from './runLoop.js';

/** The adaptive stage's options (liveStage.ts), and what the scheduler itself does with frames. */
export interface SchedulerOptions extends AdaptiveOptions {
  /** Browser camera frames take over from the --input source while they arrive (ms of grace). */
  browserHoldMs?: number;
  /**
   * Where each dreamed frame goes, as soon as it is ready, in this order. Their write must not
   * block (frame.ts, Sink): it is not awaited, and a rejection is reported (onWarning). Closing
   * them is the caller's.
   */
  sinks: ReadonlyArray<Sink<DreamedFrame>>;
  /** Each dreamed frame after the sinks have it (tests and benchmarks); must not block. */
  onFrame?: ((frame: DreamedFrame) => void) | undefined;
  /** The dreaming stage, made by the stage registry (pipeline/stages.ts, createLiveStage). */
  stage: TemporalDreamStage;
}

/** The adaptive stage's stats (liveStage.ts) and the slot's counters. */
export interface SchedulerStats extends AdaptiveStats {
  /** Input frames replaced by newer ones before the dream loop could take them. */
  drops: number;
  /** --input frames ignored while a browser camera was sending. */
  preempted: number;
}

/**
 * A live job's loop and what it shares with the page. Feed it sources with `addSource`, start it
 * with `run()`, stop it with `stop()`.
 */
export class LiveScheduler {
  private readonly slot = new Latest<LiveFrame>();
  private readonly adaptive: AdaptiveStage;
  private readonly opts: SchedulerOptions;
  private stopped = false;
  private failure: Error | undefined;
  private primaryEnded = false;
  private lastBrowserAt = -Infinity;
  private preempted = 0;

  constructor(runner: GradientRunner, objective: Objective, opts: SchedulerOptions) {
    this.opts = opts;
    this.adaptive = new AdaptiveStage(runner, objective, opts.stage, opts);
  }

  /**
   * Pump a source into the slot. The primary (--input) source ending ends the job; browser
   * frames take priority over it while they keep coming.
   */
  addSource(source: LiveSource, role: 'primary' | 'browser'): void {
    void (async () => {
      try {
        for await (const frame of source) {
          if (this.stopped) break;
          if (frame.origin === 'browser') {
            this.lastBrowserAt = performance.now();
          } else if (performance.now() - this.lastBrowserAt < (this.opts.browserHoldMs ?? 1500)) {
            this.preempted++;
            continue;
          }
          this.slot.put(frame);
        }
        if (role === 'primary') {
          this.primaryEnded = true;
          this.stop();
        }
      } catch (err) {
        this.fail(err instanceof Error ? err : new Error(String(err)));
      }
    })();
  }

  get controls(): LiveControls {
    return this.adaptive.controls;
  }

  /** Validate and queue changes; they apply before the next frame. Throws UserError when invalid. */
  updateControls(changes: ControlChanges): LiveControls {
    return this.adaptive.updateControls(changes);
  }

  stats(): SchedulerStats {
    const { frames, ...s } = this.adaptive.stats();
    return { frames, drops: this.slot.dropped, preempted: this.preempted, ...s };
  }

  /** Build the engine's first-frame work before any source runs (liveStage.ts, AdaptiveStage.warmUp). */
  warmUp(width: number, height: number): Promise<void> {
    return this.adaptive.warmUp(width, height);
  }

  /** Dream until stopped or the primary source ends; rejects with a source's error. */
  async run(): Promise<void> {
    try {
      await runLoop(this.frames(), this.adaptive, this.sinks());
    } finally {
      this.stopped = true;
      this.slot.close();
    }
    if (this.failure) throw this.failure;
  }

  /** Whether the primary source ended by itself (a file played to its end). */
  get inputEnded(): boolean {
    return this.primaryEnded;
  }

  stop(): void {
    this.stopped = true;
    this.slot.close();
  }

  /** The live source: the newest frame of the slot each time the loop asks, until stopped. */
  private async *frames(): AsyncGenerator<LiveFrame> {
    while (!this.stopped) {
      const frame = await this.slot.take();
      if (!frame || this.stopped) return;
      yield frame;
    }
  }

  /**
   * The outputs and the caller's callback, handed the frame without waiting (a frame goes to
   * viewers as soon as it is dreamed), then the dream gain, which the loop waits for before the
   * next frame.
   */
  private sinks(): Array<Sink<LiveChained>> {
    const { sinks, onFrame, onWarning } = this.opts;
    const gain: Sink<LiveChained> = { write: () => this.adaptive.measureGain(), close: () => Promise.resolve(), abort: () => Promise.resolve() };
    return [fanOut(sinks, onFrame, onWarning), gain];
  }

  private fail(err: Error): void {
    this.failure ??= err;
    this.stop();
  }
}

/** What the run loop hands the live outputs: the adaptive stage's dreamed frame and the frame that went in. */
type LiveChained = ChainedFrame<LiveFrame, DreamedFrame>;

/**
 * One sink over the live outputs: the dreamed frame, without the run loop's link to its input,
 * to each output in order without waiting (a rejection is reported, never left unhandled), then
 * to the callback. Closing the outputs is the session's.
 */
function fanOut(outputs: ReadonlyArray<Sink<DreamedFrame>>, onFrame: ((frame: DreamedFrame) => void) | undefined, onWarning: ((message: string) => void) | undefined): Sink<LiveChained> {
  const failed = (err: unknown): void => onWarning?.(`live output: ${err instanceof Error ? err.message : String(err)}`);
  return {
    write: (chained) => {
      const { input: _input, ...dreamed } = chained;
      for (const output of outputs) output.write(dreamed).catch(failed);
      onFrame?.(dreamed);
      return Promise.resolve();
    },
    close: () => Promise.resolve(),
    abort: () => Promise.resolve(),
  };
}
