/**
 * Forward–backward consistency check (Ruder et al. 2016, as docs/architecture.md "Measures" states it).
 *
 * f₁ = flow A → B, f₂ = flow B → A, w̃(x) = f₂(x + f₁(x)) (bilinear). A pixel x of A is
 * - occluded / disoccluded when |f₁ + w̃|² ≥ 0.01(|f₁|² + |w̃|²) + 0.5
 *   (going there and back does not return to x);
 * - on a motion boundary when |∇u|² + |∇v|² > 0.01|f₁|² + 0.002 (gradients of f₁, central
 *   differences), where flow is unreliable.
 * M = 1 − occlusion is the weight used by the warping error and by the temporal stage.
 */
import { warpFlow } from './warp.js';
import type { FlowField } from './types.js';

export interface OcclusionOptions {
  /** Horizontal wrap-around (360° frames): gradients and the back-projection wrap. */
  wrapX?: boolean;
  /**
   * Also mark pixels whose f₁ leaves the image (their content is not in B at all; warping
   * would only repeat edge pixels). Default true, as in Ruder et al.'s consistency checker.
   */
  outOfFrame?: boolean;
}

/** 1 where x is occluded, a motion boundary (or leaves the frame), else 0. Pure. */
export function occlusionMask(forward: FlowField, backward: FlowField, opts: OcclusionOptions = {}): Float32Array {
  const { width: w, height: h } = forward;
  if (backward.width !== w || backward.height !== h) {
    throw new Error(`flow sizes differ: ${w}x${h} and ${backward.width}x${backward.height}`);
  }
  const wrap = opts.wrapX === true;
  const checkFrame = opts.outOfFrame !== false;
  const back = warpFlow(backward, forward, { wrapX: wrap });
  const { u, v } = forward;
  const mask = new Float32Array(w * h);
  for (let y = 0, i = 0; y < h; y++) {
    const rowUp = (y > 0 ? y - 1 : 0) * w;
    const rowDown = (y < h - 1 ? y + 1 : h - 1) * w;
    for (let x = 0; x < w; x++, i++) {
      const fu = u[i]!;
      const fv = v[i]!;
      const bu = back.u[i]!;
      const bv = back.v[i]!;
      const f1sq = fu * fu + fv * fv;
      const su = fu + bu;
      const sv = fv + bv;
      const inconsistent = su * su + sv * sv >= 0.01 * (f1sq + bu * bu + bv * bv) + 0.5;

      const xl = x > 0 ? x - 1 : wrap ? w - 1 : 0;
      const xr = x < w - 1 ? x + 1 : wrap ? 0 : w - 1;
      const rowI = y * w;
      const ux = (u[rowI + xr]! - u[rowI + xl]!) / 2;
      const vx = (v[rowI + xr]! - v[rowI + xl]!) / 2;
      const uy = (u[rowDown + x]! - u[rowUp + x]!) / 2;
      const vy = (v[rowDown + x]! - v[rowUp + x]!) / 2;
      const boundary = ux * ux + uy * uy + vx * vx + vy * vy > 0.01 * f1sq + 0.002;

      let outside = false;
      if (checkFrame) {
        const tx = x + fu;
        const ty = y + fv;
        outside = ty < 0 || ty > h - 1 || (!wrap && (tx < 0 || tx > w - 1));
      }
      mask[i] = inconsistent || boundary || outside ? 1 : 0;
    }
  }
  return mask;
}

/** M = 1 − occlusionMask: 1 where the flow is trusted. Pure. */
export function consistencyMask(forward: FlowField, backward: FlowField, opts: OcclusionOptions = {}): Float32Array {
  const m = occlusionMask(forward, backward, opts);
  for (let i = 0; i < m.length; i++) m[i] = 1 - m[i]!;
  return m;
}
