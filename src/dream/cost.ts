/**
 * What a dream costs in time, as pixels × gradient steps summed over the octave pyramid: the
 * network's work grows with both. Pure; a throughput (pixel-steps per second) turns it into
 * seconds, measured on this machine (pipeline/estimate.ts) or the reference below.
 */
import { octaveSizes } from './deepdream.js';

/** Pixels × steps of one dream of width×height: Σ over the octaves of w·h·iterations. */
export function pixelSteps(width: number, height: number, octaves: number, octaveScale: number, iterations: number): number {
  return octaveSizes(width, height, octaves, octaveScale).reduce((sum, [w, h]) => sum + w * h * iterations, 0);
}

/**
 * Throughput of the reference machine: the default onnx engine on the 2 CPU cores of the
 * development machine dreams a 640×360 photo, 4 octaves × 2 steps, in 1.49 s (README,
 * "Benchmarks"). Used where nothing was measured yet (the memory guard runs before the engines load).
 */
export const REFERENCE_PIXEL_STEPS_PER_SECOND = pixelSteps(640, 360, 4, 1.4, 2) / 1.49;

/**
 * The largest size of the same shape (aspect kept) whose dream of `iterations` steps per octave
 * takes at most `seconds` at `rate` pixel-steps per second; undefined when even 64 pixels wide
 * would not. Bisection over the scale.
 */
export function largestWithin(
  d: { width: number; height: number; octaves: number; octaveScale: number; iterations: number },
  seconds: number,
  rate: number,
): { width: number; height: number } | undefined {
  const at = (s: number) => ({ width: Math.max(16, Math.round(d.width * s)), height: Math.max(16, Math.round(d.height * s)) });
  const cost = (s: number): number => {
    const { width, height } = at(s);
    return pixelSteps(width, height, d.octaves, d.octaveScale, Math.max(1, d.iterations)) / rate;
  };
  let lo = 64 / Math.max(d.width, d.height);
  if (cost(lo) > seconds) return undefined;
  let hi = Math.max(1, lo);
  while (cost(hi) <= seconds && hi < 1024) hi *= 2;
  for (let i = 0; i < 30; i++) {
    const mid = (lo + hi) / 2;
    if (cost(mid) <= seconds) lo = mid;
    else hi = mid;
  }
  return at(lo);
}
