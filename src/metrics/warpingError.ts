import { consistencyMask, warp, type FlowField } from '../flow/index.js';

/** Forward and backward flow between two consecutive INPUT frames t → t+1 (docs/architecture.md, Measures). */
export interface FlowPair {
  forward: FlowField;
  backward: FlowField;
}

/**
 * Warping error of one pair of consecutive outputs (Lai et al. 2018, as docs/architecture.md defines it):
 * E(t) = Σ M·‖O_t − warp(O_{t+1})‖² / Σ M over channel-pixels, values scaled to [0, 1], with
 * the flow computed on the input frames and M = 1 − occlusion (forward–backward check).
 * Pure; `current` and `next` are packed RGB (bytes or 0-255 floats).
 */
export function warpingError(current: ArrayLike<number>, next: Float32Array | Uint8Array, width: number, height: number, flow: FlowPair, opts: { wrapX?: boolean } = {}): number {
  const mask = consistencyMask(flow.forward, flow.backward, opts);
  const aligned = warp(next, width, height, 3, flow.forward, opts);
  let sum = 0;
  let weight = 0;
  for (let p = 0; p < width * height; p++) {
    const m = mask[p]!;
    if (m === 0) continue;
    for (let c = 0; c < 3; c++) {
      const d = (current[p * 3 + c]! - aligned[p * 3 + c]!) / 255;
      sum += m * d * d;
    }
    weight += 3 * m;
  }
  return weight > 0 ? sum / weight : 0;
}

export function mean(values: readonly number[]): number {
  return values.length > 0 ? values.reduce((a, b) => a + b, 0) / values.length : Number.NaN;
}
