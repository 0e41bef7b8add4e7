import type { Frame } from '../frame.js';

/**
 * A dense flow field in pixels, planar: the vector at (x, y) is (u[i], v[i]), i = y·width + x.
 *
 * Convention (used by every function in flow/ and metrics/): the flow FROM image A TO image B
 * says where each pixel of A went in B:  A(x) ≈ B(x + F(x)).  So backward warping
 * `warp(B, F)(x) = B(x + F(x))` brings B into A's frame. Example: with F = flow(I_t → I_{t+1}),
 * warp(O_{t+1}, F) aligns O_{t+1} to frame t (the warping error); to carry D_{t−1} into frame t,
 * use the flow I_t → I_{t−1} (the `backward` of computeFlowPair(I_{t−1}, I_t)).
 */
export interface FlowField {
  width: number;
  height: number;
  u: Float32Array;
  v: Float32Array;
}

/** An 8-bit greyscale image, row-major, width · height bytes. */
export interface GreyImage {
  width: number;
  height: number;
  data: Uint8Array;
}

/** What flow functions accept: an RGB24 Frame or a greyscale image. */
export type FlowInput = Frame | GreyImage;
