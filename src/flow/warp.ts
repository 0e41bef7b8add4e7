/**
 * Backward warping with bilinear sampling: out(x) = image(x + F(x)).
 * With F = flow(A → B) this brings image B into A's frame (see FlowField in types.ts):
 * warp(I_{t+1}, flow(I_t → I_{t+1})) ≈ I_t.
 */
import type { FlowField } from './types.js';

export interface WarpOptions {
  /**
   * Wrap horizontally instead of clamping (equirectangular 360° frames: leaving the right edge
   * re-enters on the left). Vertical positions are always clamped.
   */
  wrapX?: boolean;
  /** Write into this array (length width·height·channels) instead of allocating. */
  out?: Float32Array;
}

/**
 * Warp an interleaved H×W×C image (any numeric range; the output keeps it) by `flow`, which must
 * have the image's size. Samples outside the image clamp to the nearest edge pixel. Pure.
 */
export function warp(
  image: Float32Array | Uint8Array,
  width: number,
  height: number,
  channels: number,
  flow: FlowField,
  opts: WarpOptions = {},
): Float32Array {
  if (flow.width !== width || flow.height !== height) {
    throw new Error(`flow is ${flow.width}x${flow.height}, image is ${width}x${height}`);
  }
  if (image.length !== width * height * channels) {
    throw new Error(`image has ${image.length} values, expected ${width}x${height}x${channels}`);
  }
  const out = opts.out ?? new Float32Array(width * height * channels);
  if (out.length !== image.length) throw new Error('warp: `out` has the wrong length');
  const wrap = opts.wrapX === true;
  const { u, v } = flow;
  const maxX = width - 1;
  const maxY = height - 1;
  for (let y = 0, i = 0; y < height; y++) {
    for (let x = 0; x < width; x++, i++) {
      let sx = x + u[i]!;
      let sy = y + v[i]!;
      sy = sy < 0 ? 0 : sy > maxY ? maxY : sy;
      let x0: number;
      let x1: number;
      if (wrap) {
        sx -= Math.floor(sx / width) * width; // into [0, width)
        x0 = Math.floor(sx);
        if (x0 >= width) x0 = 0; // float rounding at the seam
        x1 = x0 + 1 === width ? 0 : x0 + 1;
      } else {
        sx = sx < 0 ? 0 : sx > maxX ? maxX : sx;
        x0 = Math.floor(sx);
        x1 = x0 < maxX ? x0 + 1 : maxX;
      }
      const y0 = Math.floor(sy);
      const y1 = y0 < maxY ? y0 + 1 : maxY;
      const fx = sx - x0;
      const fy = sy - y0;
      const w00 = (1 - fx) * (1 - fy);
      const w01 = fx * (1 - fy);
      const w10 = (1 - fx) * fy;
      const w11 = fx * fy;
      const p00 = (y0 * width + x0) * channels;
      const p01 = (y0 * width + x1) * channels;
      const p10 = (y1 * width + x0) * channels;
      const p11 = (y1 * width + x1) * channels;
      const o = i * channels;
      for (let c = 0; c < channels; c++) {
        out[o + c] = w00 * image[p00 + c]! + w01 * image[p01 + c]! + w10 * image[p10 + c]! + w11 * image[p11 + c]!;
      }
    }
  }
  return out;
}

/** Warp a flow field's own components by another flow: f(x + by(x)), e.g. the backward flow at x + f₁(x). */
export function warpFlow(field: FlowField, by: FlowField, opts: Pick<WarpOptions, 'wrapX'> = {}): FlowField {
  const w = opts.wrapX === undefined ? {} : { wrapX: opts.wrapX };
  return {
    width: field.width,
    height: field.height,
    u: warp(field.u, field.width, field.height, 1, by, w),
    v: warp(field.v, field.width, field.height, 1, by, w),
  };
}

/** A zero flow field (no motion). */
export function zeroFlow(width: number, height: number): FlowField {
  return { width, height, u: new Float32Array(width * height), v: new Float32Array(width * height) };
}
