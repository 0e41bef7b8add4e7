/**
 * Stereo 360°: both eyes must show the same hallucinations, each at the depth of the surface it
 * grew on, or the brain cannot fuse them. So one eye is dreamed, its dream is carried to the
 * other eye along the disparity (the optical flow between the two eyes' pictures, wrapping
 * around in longitude), and the carried dream is refined with a few steps where the other eye
 * sees something the first did not.
 */
import { createImage, fromBytes, type RgbImage } from '../dream/image.js';
import { computeFlowPair, consistencyMask, warp } from '../flow/index.js';
import type { Frame } from '../frame.js';
import { residualOf } from '../temporal/carry.js';

export interface EyeCarryOptions {
  /** Width the disparity flow is estimated at. */
  flowMaxWidth: number;
  /** Horizontal wrap-around (always true for equirectangular eyes). */
  wrapX: boolean;
}

/**
 * The other eye's starting point: its own picture plus the first eye's dream residual warped
 * into it along the disparity, where the disparity is trusted (forward–backward consistent);
 * elsewhere (seen by one eye only) the picture as it is, for the refinement to dream. Colours and
 * strength are carried unchanged, unlike the temporal carry, because the two eyes must match.
 */
export async function carryAcrossEyes(
  firstInput: Frame,
  firstDream: RgbImage,
  otherInput: Frame,
  opts: EyeCarryOptions,
): Promise<{ start: RgbImage; trusted: number }> {
  const { width: w, height: h } = otherInput;
  // backward maps the other eye's pixels to where they are in the first eye: other(x) ≈ first(x + F(x)).
  const flow = await computeFlowPair(firstInput, otherInput, { maxWidth: opts.flowMaxWidth, wrapX: opts.wrapX });
  const mask = consistencyMask(flow.backward, flow.forward, { wrapX: opts.wrapX });
  const first = fromBytes(firstInput.width, firstInput.height, firstInput.data);
  const warped = warp(residualOf(firstDream, first), w, h, 3, flow.backward, { wrapX: opts.wrapX });
  const out = new Float32Array(w * h * 3);
  let trusted = 0;
  for (let p = 0; p < w * h; p++) {
    const m = mask[p]!;
    trusted += m;
    for (let c = 0; c < 3; c++) {
      const v = otherInput.data[p * 3 + c]! + m * warped[p * 3 + c]!;
      out[p * 3 + c] = v < 0 ? 0 : v > 255 ? 255 : v;
    }
  }
  return { start: createImage(w, h, out), trusted: trusted / (w * h) };
}
