/**
 * The live controller (docs/architecture.md, "The live feed"): a quality ladder of gradient steps and
 * working sizes, and the AdaptiveController that moves along it to hold the target frame rate.
 * Pure apart from the controller's own state.
 */

/** One rung of the quality ladder: gradient steps per frame and working size as a share of --size. */
export interface LiveLevel {
  iterations: number;
  scale: number;
}

/**
 * Richest first: fewer steps at full size, then the floor's steps at smaller sizes. Never fewer
 * than `minSteps` (the quality floor, default 1): a live feed without gradient steps shows the
 * camera, not a hallucination. Steps go first because the temporal carry keeps deepening the
 * dream at a step or two a frame; resolution is what the viewer sees.
 */
export function levelLadder(maxIterations: number, scales: readonly number[] = [0.8, 0.64, 0.5], minSteps = 1): LiveLevel[] {
  const floor = Math.max(0, Math.min(minSteps, maxIterations));
  if (maxIterations <= 0) return [{ iterations: 0, scale: 1 }];
  const levels: LiveLevel[] = [];
  for (let i = maxIterations; i >= Math.max(1, floor); i--) levels.push({ iterations: i, scale: 1 });
  for (const scale of scales) levels.push({ iterations: Math.max(1, floor), scale });
  // Only a floor of 0 lets the controller drop the dream altogether.
  if (floor === 0) levels.push({ iterations: 0, scale: scales.length ? scales[scales.length - 1]! : 1 });
  return levels;
}

/** Relative cost of a level: a fixed part (flow, carry, resizing) plus the gradient steps. */
export function levelCost(level: LiveLevel): number {
  return 0.25 + level.iterations * level.scale * level.scale;
}

/** Working size for a level: even, at least 32 pixels on the short side, never above --size. */
export function workingSize(width: number, height: number, scale: number): { width: number; height: number } {
  if (scale >= 1) return { width, height };
  const minScale = Math.min(1, 32 / Math.min(width, height));
  const s = Math.max(scale, minScale);
  const even = (x: number, cap: number): number => Math.min(cap, Math.max(2, 2 * Math.round(x / 2)));
  return { width: even(width * s, width), height: even(height * s, height) };
}

export interface ControllerOptions {
  /** false: stay on the first level whatever the timing (tests, fixed-quality runs). */
  enabled?: boolean;
  /** Share of the frame period the per-frame work may use (default 0.9). */
  budgetShare?: number;
  /** After stepping down for lack of time, do not climb back to that level for this long (ms). */
  coolDownMs?: number;
}

/**
 * Holds --fps by moving along the ladder: measures each frame's dreaming time (smoothed), steps
 * to a cheaper level after two frames over budget, and back up only after several frames whose
 * time, scaled by the cost model, would fit the richer level with 20 % to spare. A level it had
 * to leave is not retried for a cool-down, so it does not flap between two neighbours.
 */
export class AdaptiveController {
  private levels: LiveLevel[];
  private i = 0;
  private ema: number | undefined;
  /** Frames to ignore: the first ones warm up caches and workers. */
  private settle = 2;
  private over = 0;
  private headroom = 0;
  private readonly blockedUntil = new Map<number, number>();
  private readonly enabled: boolean;
  private readonly budgetShare: number;
  private readonly coolDownMs: number;
  changes = 0;

  constructor(
    levels: LiveLevel[],
    private targetFps: number,
    opts: ControllerOptions = {},
  ) {
    this.levels = levels;
    this.enabled = opts.enabled ?? true;
    this.budgetShare = opts.budgetShare ?? 0.9;
    this.coolDownMs = opts.coolDownMs ?? 10_000;
  }

  get index(): number {
    return this.i;
  }

  get level(): LiveLevel {
    return this.levels[this.i]!;
  }

  /** Seconds of work a frame may take. */
  get budget(): number {
    return this.budgetShare / this.targetFps;
  }

  /** Smoothed seconds per frame at the current level (undefined before the first frame). */
  get smoothed(): number | undefined {
    return this.ema;
  }

  /**
   * At the floor (the cheapest level) and still over budget: the feed keeps its dream and runs
   * slower instead; this is the rate it can hold (undefined while it holds the target).
   */
  get throttledFps(): number | undefined {
    if (this.i < this.levels.length - 1 || this.ema === undefined || this.ema <= this.budget) return undefined;
    return this.budgetShare / this.ema;
  }

  /** New ladder (the iterations ceiling changed): start again from its richest level. */
  setLevels(levels: LiveLevel[]): void {
    this.levels = levels;
    this.blockedUntil.clear();
    this.move(0);
  }

  observe(seconds: number, now = performance.now()): void {
    if (!this.enabled) {
      this.ema = this.ema === undefined ? seconds : 0.7 * this.ema + 0.3 * seconds;
      return;
    }
    if (this.settle > 0) {
      // The first frames after a change start fresh or warm caches: not representative.
      this.settle--;
      return;
    }
    this.ema = this.ema === undefined ? seconds : 0.7 * this.ema + 0.3 * seconds;
    const budget = this.budget;
    if (this.ema > budget && this.i < this.levels.length - 1) {
      if (++this.over >= 2) {
        this.blockedUntil.set(this.i, now + this.coolDownMs);
        this.move(this.i + 1);
      }
      return;
    }
    this.over = 0;
    if (this.i === 0 || (this.blockedUntil.get(this.i - 1) ?? 0) > now) return;
    const predicted = (this.ema * levelCost(this.levels[this.i - 1]!)) / levelCost(this.level);
    if (predicted < 0.8 * budget) {
      if (++this.headroom >= 5) this.move(this.i - 1);
    } else {
      this.headroom = 0;
    }
  }

  private move(to: number): void {
    if (to !== this.i) this.changes++;
    const from = this.levels[this.i];
    this.i = Math.max(0, Math.min(this.levels.length - 1, to));
    // Carry the estimate over through the cost model, so the next decision has a baseline.
    if (this.ema !== undefined && from) this.ema = (this.ema * levelCost(this.level)) / levelCost(from);
    this.settle = 2;
    this.over = 0;
    this.headroom = 0;
  }
}
