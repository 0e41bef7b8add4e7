import { createImage, type RgbImage } from '../dream/image.js';

/** dream − input: what the dreaming added, in grey levels. Pure. */
export function residualOf(dreamed: RgbImage, input: RgbImage): Float32Array {
  const out = new Float32Array(input.data.length);
  for (let i = 0; i < out.length; i++) out[i] = dreamed.data[i]! - input.data[i]!;
  return out;
}

export function rms(values: Float32Array): number {
  let s = 0;
  for (let i = 0; i < values.length; i++) s += values[i]! * values[i]!;
  return Math.sqrt(s / Math.max(1, values.length));
}

/**
 * The start of a carried frame: x0 = I_t + blend · M · R̃, with R̃ the previous residual warped to
 * this frame, and two guards against drift over hundreds of frames:
 * - R̃'s per-channel mean over the trusted pixels is removed, so the dream cannot slowly
 *   brighten or tint the video;
 * - its RMS is capped at `limitRms` (the residual of the last fresh frame), so repeated
 *   dreaming on top of a carried dream cannot compound into a runaway.
 * Pure; returns a new image clipped to 0-255.
 */
export function carryResidual(input: RgbImage, warpedResidual: Float32Array, mask: Float32Array, blend: number, limitRms: number): RgbImage {
  const n = input.width * input.height;
  const mean = [0, 0, 0];
  let weight = 0;
  for (let p = 0; p < n; p++) {
    const m = mask[p]!;
    if (m === 0) continue;
    weight += m;
    for (let c = 0; c < 3; c++) mean[c]! += m * warpedResidual[p * 3 + c]!;
  }
  for (let c = 0; c < 3; c++) mean[c] = weight > 0 ? mean[c]! / weight : 0;
  const carried = new Float32Array(n * 3);
  let sq = 0;
  for (let p = 0; p < n; p++) {
    const m = mask[p]! * blend;
    for (let c = 0; c < 3; c++) {
      const v = m * (warpedResidual[p * 3 + c]! - mean[c]!);
      carried[p * 3 + c] = v;
      sq += v * v;
    }
  }
  const currentRms = Math.sqrt(sq / (n * 3));
  const shrink = limitRms > 0 && currentRms > limitRms ? limitRms / currentRms : 1;
  const out = new Float32Array(n * 3);
  for (let i = 0; i < out.length; i++) {
    const v = input.data[i]! + shrink * carried[i]!;
    out[i] = v < 0 ? 0 : v > 255 ? 255 : v;
  }
  return createImage(input.width, input.height, out);
}
