/**
 * How long a render will take, from dreams timed on this machine (video --preview, the video
 * job's up-front estimate): a throughput in pixel-steps per second (dream/cost.ts) measured
 * with the job's own runner, turned into seconds per frame.
 */
import { pixelSteps, REFERENCE_PIXEL_STEPS_PER_SECOND } from '../dream/cost.js';
import { dream, type DreamSettings } from '../dream/deepdream.js';
import type { Objective } from '../dream/objectives.js';
import type { GradientRunner } from '../dream/runner.js';
import { startImage } from '../sources/synthetic.js';
import { formatSeconds } from './progress.js';

/** Seconds of dreaming for `frames` frames: one full dream, then carried frames. */
export function renderSeconds(frames: number, firstSeconds: number, carriedSeconds: number): number {
  return frames <= 0 ? 0 : firstSeconds + (frames - 1) * carriedSeconds;
}

/** What a video render's plan says before its first frame. */
export interface RenderPlan {
  frames: number;
  width: number;
  height: number;
  /** The size was not asked for: the input's own. */
  defaultSize: boolean;
  octaves: number;
  octaveScale: number;
  iterations: number;
  /** Steps per octave on carried frames; undefined: every frame is a full dream (--no-flow). */
  frameIterations: number | undefined;
}

/** A frame's work besides dreaming (flow on small frames, its commit, its share of encoding), seconds. */
export const FRAME_OVERHEAD_SECONDS = 0.1;

/**
 * Seconds of one full dream and of one carried frame at a plan's size, at `rate` pixel-steps per
 * second. Every frame also measures its dream gain (two forward passes at full size, about two
 * thirds of a step) and has FRAME_OVERHEAD_SECONDS of other work.
 */
export function frameSeconds(plan: RenderPlan, rate: number, size: { width: number; height: number } = plan): { first: number; carried: number } {
  const steps = (iterations: number): number => pixelSteps(size.width, size.height, plan.octaves, plan.octaveScale, iterations);
  const gain = ((2 / 3) * size.width * size.height) / rate + FRAME_OVERHEAD_SECONDS;
  const first = steps(plan.iterations) / rate + gain;
  const carried = plan.frameIterations === undefined ? first : steps(plan.frameIterations) / rate + gain;
  return { first, carried };
}

/** Renders estimated below this many seconds say nothing up front. */
export const QUIET_BELOW_SECONDS = 5;

/**
 * The line printed before a render: frames, working size, the estimate from this machine's
 * throughput, and when the input's own size is slow, what smaller named sizes would take.
 */
export function planLine(plan: RenderPlan, rate: number): string | undefined {
  const { first, carried } = frameSeconds(plan, rate);
  const total = renderSeconds(plan.frames, first, carried);
  if (total < QUIET_BELOW_SECONDS) return undefined;
  const size = `${plan.width}x${plan.height}${plan.defaultSize ? " (the input's own size)" : ''}`;
  let line = `${plan.frames} frames at ${size}: about ${formatSeconds(total)} of dreaming on this machine (the first frame's full dream about ${formatSeconds(first)}, then about ${formatSeconds(carried)} a frame)`;
  if (plan.defaultSize && total > 600) {
    const short = Math.min(plan.width, plan.height);
    const options = [720, 480, 360]
      .filter((side) => side < short)
      .map((side) => {
        const scaled = { width: Math.round((plan.width * side) / short), height: Math.round((plan.height * side) / short) };
        const s = frameSeconds(plan, rate, scaled);
        return `--size ${side}p about ${formatSeconds(renderSeconds(plan.frames, s.first, s.carried))}`;
      });
    if (options.length > 0) line += `; the input's full size is slow here: ${options.join(', ')} (--preview 4 shows four frames first)`;
  }
  return line;
}

/**
 * This machine's throughput with this runner and objective, in pixel-steps per second: a noise
 * picture of the frame's shape (at most 640 wide) dreamed once to warm the engine up, then timed
 * for two steps (about a second on 2 cores).
 */
export async function measureThroughput(runner: GradientRunner, objective: Objective, settings: DreamSettings, frame: { width: number; height: number }): Promise<number> {
  const scale = Math.min(1, 640 / frame.width);
  const [width, height] = [Math.max(64, Math.round(frame.width * scale)), Math.max(64, Math.round(frame.height * scale))];
  const picture = startImage('noise', width, height, 0);
  const one = { ...settings, octaves: 1, iterations: 1 };
  await dream(runner, picture, objective, one);
  const started = performance.now();
  await dream(runner, picture, objective, { ...one, iterations: 2 });
  const seconds = (performance.now() - started) / 1000;
  return pixelSteps(width, height, 1, settings.octaveScale, 2) / Math.max(seconds, 1e-3);
}

/** A picture dream estimated above this many seconds (at the reference throughput) is measured and its cost said. */
export const PICTURE_NOTICE_SECONDS = 30;

/**
 * For a picture dreamed at its own size: when that is slow, its estimated time on this machine
 * (measured) and what --size 1024 and 512 would take; undefined when it is quick.
 */
export async function pictureCostLine(runner: GradientRunner, objective: Objective, settings: DreamSettings, size: { width: number; height: number }): Promise<string | undefined> {
  const cost = (s: { width: number; height: number }): number => pixelSteps(s.width, s.height, settings.octaves, settings.octaveScale, Math.max(1, settings.iterations));
  if (cost(size) / REFERENCE_PIXEL_STEPS_PER_SECOND < PICTURE_NOTICE_SECONDS) return undefined;
  const rate = await measureThroughput(runner, objective, settings, size);
  const seconds = cost(size) / rate;
  if (seconds < PICTURE_NOTICE_SECONDS) return undefined;
  const long = Math.max(size.width, size.height);
  const smaller = [1024, 512]
    .filter((side) => side < long)
    .map((side) => `--size ${side} about ${formatSeconds(cost({ width: (size.width * side) / long, height: (size.height * side) / long }) / rate)}`);
  return `${size.width}x${size.height} (the picture's own size): about ${formatSeconds(seconds)} of dreaming on this machine${smaller.length > 0 ? `; ${smaller.join(', ')}` : ''}`;
}
