/**
 * Flicker at the farm's cuts against flicker inside segments: the check that segments dreamed
 * on different machines join without a visible jump.
 */
import { measureVideos } from '../metrics/videoMetrics.js';
import { mean } from '../metrics/warpingError.js';

export interface CutFlicker {
  /** E_warp(output) / E_warp(input) over the frame pairs at the cuts: (c−1, c) and, with a dissolve of n frames, the n pairs before. */
  atCuts: number;
  /** The same over every other consecutive pair. */
  inside: number;
}

/**
 * `perFrame` as measureVideos gives it (entry t is the pair (t, t+1)); `cuts` are output frame
 * numbers where a segment starts, each preceded by a `dissolve` of that many frames. Pure.
 */
export function flickerAtCuts(perFrame: { input: readonly number[]; output: readonly number[] }, cuts: readonly number[], dissolve = 0): CutFlicker {
  const atCut = new Set<number>();
  for (const c of cuts) {
    for (let t = c - 1 - dissolve; t <= c - 1; t++) if (t >= 0 && t < perFrame.input.length) atCut.add(t);
  }
  const pick = (values: readonly number[], cut: boolean): number[] => values.filter((_, t) => atCut.has(t) === cut);
  const ratio = (cut: boolean): number => {
    const e = mean(pick(perFrame.input, cut));
    return e > 0 ? mean(pick(perFrame.output, cut)) / e : Number.NaN;
  };
  return { atCuts: ratio(true), inside: ratio(false) };
}

/** `farm --measure`: flicker ratio of the farmed clip, and at the cuts' dissolves against inside segments. */
export async function measureFarm(
  input: string,
  output: string,
  result: { width: number; height: number; cuts: number[]; warmup: number },
  window: { start?: number | undefined; duration?: number | undefined },
): Promise<{ flickerRatio: number | null; cutFlickerRatio: number | null; insideFlickerRatio: number | null }> {
  const m = await measureVideos(input, output, { ...window, width: result.width, height: result.height });
  const cuts = flickerAtCuts(m.perFrame, result.cuts, result.warmup);
  const round = (x: number): number | null => (Number.isFinite(x) ? Number(x.toFixed(3)) : null);
  return { flickerRatio: round(m.flickerRatio), cutFlickerRatio: round(cuts.atCuts), insideFlickerRatio: round(cuts.inside) };
}
