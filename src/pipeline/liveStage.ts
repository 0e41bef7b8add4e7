/**
 * The live job's per-frame work as a stage of the run loop (docs/architecture.md, "The live
 * feed"): around the registry's dreaming stage, the adaptive controller picks the working size
 * and gradient steps (liveController.ts), the page's pending controls and the schedules' values
 * (liveModulation.ts) apply before each frame, and a dream at a smaller working size comes back
 * full size by its upscaled residual. The dream gain is measured after the outputs have the frame.
 */
import { dreamGain } from '../dream/deepdream.js';
import { add, createImage, fromBytes, resize, subtract, toBytes } from '../dream/image.js';
import { describe, layer, type Objective } from '../dream/objectives.js';
import type { GradientRunner } from '../dream/runner.js';
import { UserError } from '../errors.js';
import { RollingProfile, type PhaseStats } from '../metrics/profile.js';
import type { ControlChanges, LiveControls } from '../server/protocol.js';
import type { DreamedFrame, LiveFrame, Stage } from '../frame.js';
import type { TemporalDreamStage, TemporalState } from '../temporal/stage.js';
import { AdaptiveController, levelLadder, workingSize, type ControllerOptions, type LiveLevel } from './liveController.js';
import type { LiveModulator } from './liveModulation.js';

export interface AdaptiveOptions {
  /** Target frames per second. */
  fps: number;
  /** Adapt steps and resolution to hold fps (default true). */
  adaptive?: boolean | undefined;
  controller?: ControllerOptions | undefined;
  /** The quality ladder (default: levelLadder of the dreaming stage's frameIterations). */
  levels?: LiveLevel[] | undefined;
  /** The quality floor: gradient steps per frame the controller never goes below (default 1). */
  minSteps?: number | undefined;
  /** Measure the dream gain of a frame every this many seconds (0: never). Costs two forward passes. */
  gainEverySeconds?: number | undefined;
  /** Schedules and reaction (liveModulation.ts): what drives settings frame by frame, over the page's controls. */
  modulation?: LiveModulator | undefined;
  onWarning?: ((message: string) => void) | undefined;
}

/** What the adaptive stage knows of the frames it dreamed (live.ts adds the slot's counters). */
export interface AdaptiveStats {
  /** Frames dreamed. */
  frames: number;
  /** Dreamed frames per second over the last few seconds. */
  fps: number;
  /** Smoothed dreaming time per frame. */
  dreamMs: number;
  level: LiveLevel & { index: number; width: number; height: number };
  /** Latest measured dream gain per origin (absent until measured). */
  gain: { source?: number; browser?: number };
  /** The quality floor, and the frame rate held below the target to keep it (absent: target held). */
  floor: { minSteps: number; throttledFps?: number };
  /** Where each frame's time goes (rolling, ms). */
  profile: Record<string, PhaseStats>;
  /** The values schedules and --react gave the last frame (absent without them). */
  modulated?: Record<string, number>;
}

/** The working-size picture pair of the last frame, for the dream gain. */
interface WorkingPair {
  origin: LiveFrame['origin'];
  input: Uint8Array;
  output: Uint8Array;
  width: number;
  height: number;
}

/** A LiveFrame in, a DreamedFrame out; the registry's dreaming stage does the dreaming. */
export class AdaptiveStage implements Stage<LiveFrame, DreamedFrame> {
  private readonly controller: AdaptiveController;
  private objective: Objective;
  private step: number;
  private maxIterations: number;
  private pending: { objective?: Objective; step?: number; iterations?: number } = {};
  private readonly objectives = new Map<string, Objective>();
  private seq = 0;
  private readonly recent: number[] = [];
  private lastGainAt = 0;
  private readonly gain: { source?: number; browser?: number } = {};
  private lastWorking = { width: 0, height: 0 };
  private last: WorkingPair | undefined;
  private readonly minSteps: number;
  private modulated: Record<string, number> | undefined;
  readonly profile = new RollingProfile();

  constructor(
    private readonly runner: GradientRunner,
    objective: Objective,
    private readonly stage: TemporalDreamStage,
    private readonly opts: AdaptiveOptions,
  ) {
    this.objective = objective;
    this.step = stage.current.dream.step;
    this.maxIterations = stage.current.frameIterations;
    this.minSteps = opts.minSteps ?? 1;
    this.controller = new AdaptiveController(opts.levels ?? levelLadder(this.maxIterations, undefined, this.minSteps), opts.fps, {
      enabled: opts.adaptive ?? true,
      ...opts.controller,
    });
  }

  get controls(): LiveControls {
    return { layer: describe(this.pending.objective ?? this.objective).join(','), step: this.pending.step ?? this.step, iterations: this.pending.iterations ?? this.maxIterations };
  }

  /** Validate and queue changes; they apply before the next frame. Throws UserError when invalid. */
  updateControls(changes: ControlChanges): LiveControls {
    const next: typeof this.pending = {};
    if (changes.layer !== undefined) {
      if (typeof changes.layer !== 'string' || changes.layer.length > 200) throw new UserError('layer must be a layer name');
      const name = this.runner.layerName(changes.layer);
      // One Objective object per layer: worker pools cache objectives by identity.
      let obj = this.objectives.get(name);
      if (!obj) this.objectives.set(name, (obj = layer(name)));
      next.objective = obj;
    }
    if (changes.step !== undefined) {
      if (typeof changes.step !== 'number' || !Number.isFinite(changes.step) || changes.step <= 0 || changes.step > 10) {
        throw new UserError('step (strength) must be a number above 0 and at most 10');
      }
      next.step = changes.step;
    }
    if (changes.iterations !== undefined) {
      if (!Number.isInteger(changes.iterations) || changes.iterations < 0 || changes.iterations > 8) {
        throw new UserError('iterations must be a whole number from 0 to 8');
      }
      next.iterations = changes.iterations;
    }
    this.pending = { ...this.pending, ...next };
    return this.controls;
  }

  stats(): AdaptiveStats {
    const now = performance.now();
    const window = this.recent.filter((t) => now - t < 5000);
    const fps = window.length >= 2 ? ((window.length - 1) * 1000) / Math.max(1, window[window.length - 1]! - window[0]!) : 0;
    const level = this.controller.level;
    return {
      frames: this.seq,
      fps,
      dreamMs: (this.controller.smoothed ?? 0) * 1000,
      level: { ...level, index: this.controller.index, ...this.lastWorking },
      gain: { ...this.gain },
      floor: { minSteps: this.minSteps, ...(this.controller.throttledFps !== undefined ? { throttledFps: Number(this.controller.throttledFps.toFixed(2)) } : {}) },
      profile: this.profile.snapshot(),
      ...(this.modulated ? { modulated: { ...this.modulated } } : {}),
    };
  }

  /**
   * Build what the first frame would otherwise pay for (worker threads, the objective's graph) on
   * a grey picture of the working size, before any source runs: a file played live then starts
   * at its first frame instead of skipping what played while the engine compiled. The stage's
   * carried state is untouched.
   */
  async warmUp(width: number, height: number): Promise<void> {
    const size = workingSize(width, height, this.controller.level.scale);
    const grey = fromBytes(size.width, size.height, new Uint8Array(size.width * size.height * 3).fill(128));
    await this.runner.gradients([{ image: grey, weight: 1 }], this.objective);
  }

  /** The page's controls and the schedules' values, then the frame dreamed at the controller's level. */
  async process(frame: LiveFrame): Promise<DreamedFrame> {
    this.applyPending();
    this.applyModulation();
    return this.dreamOne(frame);
  }

  private applyPending(): void {
    const p = this.pending;
    if (p.objective === undefined && p.step === undefined && p.iterations === undefined) return;
    this.pending = {};
    if (p.objective) this.objective = p.objective;
    if (p.step !== undefined) this.step = p.step;
    this.stage.update({ ...(p.objective ? { objective: p.objective } : {}), settings: { dream: { ...this.stage.current.dream, step: this.step } } });
    if (p.iterations !== undefined && p.iterations !== this.maxIterations) {
      this.maxIterations = p.iterations;
      this.controller.setLevels(levelLadder(p.iterations, undefined, this.minSteps));
    }
  }

  /** A schedule's or the sound's values for this frame, over the page's controls (liveModulation.ts). */
  private applyModulation(): void {
    const m = this.opts.modulation;
    if (!m) return;
    const a = m.next(performance.now(), this.objective);
    this.modulated = a.values;
    const current = this.stage.current;
    this.stage.update({
      settings: { dream: { ...current.dream, ...a.dream }, ...(a.blend !== undefined ? { blend: a.blend } : {}) },
      // Without a driven objective, the page's layer (a schedule's may have replaced it last frame).
      objective: a.objective ?? this.objective,
    });
    if (a.iterations !== undefined && a.iterations !== this.maxIterations) {
      this.maxIterations = a.iterations;
      this.controller.setLevels(levelLadder(a.iterations, undefined, this.minSteps));
    }
  }

  private async dreamOne(frame: LiveFrame): Promise<DreamedFrame> {
    const level = this.controller.level;
    const t0 = performance.now();
    // Capture, decode and the wait for the dream loop, on the wall clock the source stamped.
    this.profile.add('capture+queue', Math.max(0, Date.now() - frame.capturedAt));
    const size = workingSize(frame.width, frame.height, level.scale);
    if (size.width !== this.lastWorking.width || size.height !== this.lastWorking.height) {
      // A new working size keeps the dream going: the carried state is resized rather than
      // dropped, so a controller step costs neither a fresh (slow) frame nor the dream's depth.
      const snap = this.stage.snapshot();
      if (snap) this.stage.restore(rescaleState(snap, size.width, size.height));
    }
    this.lastWorking = size;
    this.stage.update({ settings: { frameIterations: level.iterations } });
    const small = size.width === frame.width && size.height === frame.height ? frame : resizeFrame(frame, size.width, size.height);
    const t1 = performance.now();
    const dreamedSmall = await this.stage.process(small);
    const t2 = performance.now();
    const data = small === frame ? dreamedSmall.data : addUpscaledResidual(frame, small, dreamedSmall.data);
    const dreamMs = performance.now() - t0;
    const timings = this.stage.lastReport?.timings;
    this.profile.add('scale', t1 - t0);
    if (timings) {
      this.profile.add('flow', timings.flow);
      this.profile.add('warp', timings.warp);
      this.profile.add('dream', timings.dream);
    }
    this.profile.add('upscale', performance.now() - t2);
    this.profile.add('frame', dreamMs);
    // Fresh frames (the first, scene cuts) take the full --iterations: not what a frame costs.
    if (!this.stage.lastReport?.fresh) this.controller.observe(dreamMs / 1000);
    const now = performance.now();
    this.recent.push(now);
    if (this.recent.length > 64) this.recent.shift();
    this.last = { origin: frame.origin, input: small.data, output: dreamedSmall.data, width: size.width, height: size.height };
    return { ...frame, data, seq: this.seq++, level: this.controller.index, dreamMs, workingWidth: size.width, workingHeight: size.height, dreamedAt: Date.now() };
  }

  /**
   * The dream gain of the last frame, when due: called once the outputs have it (live.ts, the
   * run loop's last sink), so measuring never delays a frame on its way to viewers.
   */
  async measureGain(): Promise<void> {
    const last = this.last;
    if (!last) return;
    this.last = undefined;
    const every = this.opts.gainEverySeconds ?? 0;
    const now = performance.now();
    // A browser frame is measured as soon as possible: it is the one a visitor is looking at.
    const due = every > 0 && (now - this.lastGainAt >= every * 1000 || (last.origin === 'browser' && this.gain.browser === undefined));
    if (!due) return;
    this.lastGainAt = now;
    try {
      const g = await dreamGain(this.runner, fromBytes(last.width, last.height, last.input), fromBytes(last.width, last.height, last.output), this.objective);
      this.profile.add('gain', performance.now() - now);
      if (g !== undefined) this.gain[last.origin] = g;
    } catch (err) {
      this.opts.onWarning?.(`dream gain not measured: ${(err as Error).message}`);
    }
  }
}

/** Bilinear resize of an RGB24 frame (same maths as the dream's octaves). Pure. */
export function resizeFrame<F extends LiveFrame>(frame: F, width: number, height: number): F {
  const img = resize(fromBytes(frame.width, frame.height, frame.data), width, height);
  return { ...frame, width, height, data: toBytes(img) };
}

/** The temporal stage's carried state at another working size (bilinear). Pure. */
export function rescaleState(state: TemporalState, width: number, height: number): TemporalState {
  if (state.width === width && state.height === height) return state;
  const input = resize(fromBytes(state.width, state.height, state.previousInput), width, height);
  const dreamed = resize(createImage(state.width, state.height, state.previousDream), width, height);
  return { ...state, width, height, previousInput: toBytes(input), previousDream: dreamed.data };
}

/**
 * Full-size output from a dream at a smaller working size: the full-size input plus the
 * upscaled residual (dream − input), so the scene keeps its full sharpness and only the
 * hallucination is upscaled. Pure.
 */
export function addUpscaledResidual(full: LiveFrame, small: LiveFrame, dreamedSmall: Uint8Array): Uint8Array {
  const residual = subtract(fromBytes(small.width, small.height, dreamedSmall), fromBytes(small.width, small.height, small.data));
  const up = resize(residual, full.width, full.height);
  return toBytes(add(fromBytes(full.width, full.height, full.data), up));
}
