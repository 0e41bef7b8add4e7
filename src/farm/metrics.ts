/**
 * Flicker at the farm's cuts against flicker inside segments: the check that segments dreamed
 * on different machines join without a visible jump.
 */
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
