import { UserError } from '../errors.js';
import { filterPlane } from './fft.js';
import { createImage, meanAbs, subtract, type RgbImage } from './image.js';

/**
 * Natural-image priors for the dream step. Plain gradient ascent on pixels makes noisy,
 * high-frequency images; each of these prefers smoother, more natural statistics. All are off by
 * default (zero / false), which keeps the classic DeepDream look and its exact numbers.
 */
export interface DreamPriors {
  /**
   * Total variation: weight of the (smoothed L1) total-variation descent direction added to the
   * normalised objective gradient, whose mean magnitude is 1. 0 = off.
   */
  tv: number;
  /** L2 decay: fraction of the dreamed detail (image − octave base) removed after each step. 0 = off. */
  decay: number;
  /** Gaussian blur sigma in pixels at the first step of each octave. 0 = off. */
  blur: number;
  /** Sigma at the last step of each octave: the blur anneals linearly from `blur` to this. */
  blurEnd: number;
  /** Blur the gradient before the step, or the dreamed detail after it. */
  blurTarget: BlurTarget;
  /**
   * The decorrelated step of feature-visualisation work (Olah et al. 2017, Lucid): the step is
   * taken in a colour space decorrelated by the ImageNet colour correlation and in a Fourier basis
   * scaled by 1/frequency, so it has the colour and spectral statistics of natural images.
   */
  decorrelate: boolean;
}

export type BlurTarget = 'gradient' | 'image';
export const BLUR_TARGETS: readonly BlurTarget[] = ['gradient', 'image'];

export const NO_PRIORS: DreamPriors = { tv: 0, decay: 0, blur: 0, blurEnd: 0, blurTarget: 'gradient', decorrelate: false };

/** The priors if any is on, else undefined (the classic step). */
export function activePriors(p: DreamPriors | undefined): DreamPriors | undefined {
  if (!p) return undefined;
  return p.tv > 0 || p.decay > 0 || p.blur > 0 || p.blurEnd > 0 || p.decorrelate ? p : undefined;
}

/** The ranges validatePriors holds the priors to (the spec's fields take theirs from here). */
export const PRIOR_LIMITS = { tv: { min: 0, max: 100 }, blur: { min: 0, max: 50 } } as const;

export function validatePriors(p: DreamPriors): void {
  const check = (ok: boolean, what: string): void => {
    if (!ok) throw new UserError(what);
  };
  const { tv, blur } = PRIOR_LIMITS;
  check(Number.isFinite(p.tv) && p.tv >= tv.min && p.tv <= tv.max, `--tv must be from ${tv.min} to ${tv.max} (got ${p.tv})`);
  check(Number.isFinite(p.decay) && p.decay >= 0 && p.decay < 1, `--decay must be at least 0 and below 1 (got ${p.decay})`);
  check(Number.isFinite(p.blur) && p.blur >= blur.min && p.blur <= blur.max, `--blur sigma must be from ${blur.min} to ${blur.max} pixels (got ${p.blur})`);
  check(Number.isFinite(p.blurEnd) && p.blurEnd >= blur.min && p.blurEnd <= blur.max, `--blur end sigma must be from ${blur.min} to ${blur.max} pixels (got ${p.blurEnd})`);
  check(BLUR_TARGETS.includes(p.blurTarget), `--blur-target must be gradient or image (got ${p.blurTarget})`);
}

/** `--blur S[:E]`: sigma S at the first step of each octave, annealed linearly to E (default 0). */
export function parseBlur(text: string): { blur: number; blurEnd: number } {
  const m = /^\s*([\d.]+)\s*(?::\s*([\d.]+)\s*)?$/.exec(text);
  const blur = m ? Number(m[1]) : NaN;
  const blurEnd = m?.[2] === undefined ? 0 : Number(m[2]);
  const { max } = PRIOR_LIMITS.blur;
  if (!Number.isFinite(blur) || !Number.isFinite(blurEnd) || blur > max || blurEnd > max) {
    throw new UserError(`--blur must be a sigma in pixels (0-${max}), optionally annealed to another: e.g. 1 or 2:0.5 (got "${text}")`);
  }
  return { blur, blurEnd };
}

/** Sigma of step `i` of `n` within an octave: linear from `start` to `end`. */
export function annealedSigma(start: number, end: number, i: number, n: number): number {
  return n <= 1 ? start : start + ((end - start) * i) / (n - 1);
}

function gaussianKernel(sigma: number): Float32Array {
  const radius = Math.max(1, Math.ceil(3 * sigma));
  const k = new Float32Array(2 * radius + 1);
  let total = 0;
  for (let i = -radius; i <= radius; i++) {
    const v = Math.exp(-(i * i) / (2 * sigma * sigma));
    k[i + radius] = v;
    total += v;
  }
  for (let i = 0; i < k.length; i++) k[i] = k[i]! / total;
  return k;
}

/**
 * One pass of a separable blur with kernel `k` along x or along y, edges clamped (or, along x
 * with `wrap`, wrapped around): `n` samples along the axis, `stride` values between neighbours.
 */
function blurAxis(src: Float32Array, dst: Float32Array, w: number, h: number, k: Float32Array, alongX: boolean, wrap: boolean): void {
  const r = (k.length - 1) / 2;
  const n = alongX ? w : h;
  const stride = alongX ? 3 : w * 3;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const o = (y * w + x) * 3;
      const at = alongX ? x : y;
      let s0 = 0;
      let s1 = 0;
      let s2 = 0;
      for (let i = -r; i <= r; i++) {
        const t = at + i;
        const j = t >= 0 && t < n ? t : wrap ? t - Math.floor(t / n) * n : t < 0 ? 0 : n - 1;
        const q = o + (j - at) * stride;
        const kv = k[i + r]!;
        s0 += kv * src[q]!;
        s1 += kv * src[q + 1]!;
        s2 += kv * src[q + 2]!;
      }
      dst[o] = s0;
      dst[o + 1] = s1;
      dst[o + 2] = s2;
    }
  }
}

/**
 * Separable Gaussian blur of interleaved RGB values (an image or a gradient), edges clamped;
 * `wrapX` wraps around horizontally (360° panoramas). Sigmas below 0.05 px change nothing
 * measurable and return a copy.
 */
export function gaussianBlur(img: RgbImage, sigma: number, wrapX = false): RgbImage {
  const { width: w, height: h, data } = img;
  if (sigma < 0.05) return createImage(w, h, data.slice());
  const k = gaussianKernel(sigma);
  const tmp = new Float32Array(data.length);
  const out = new Float32Array(data.length);
  blurAxis(data, tmp, w, h, k, true, wrapX);
  blurAxis(tmp, out, w, h, k, false, false);
  return createImage(w, h, out);
}

/**
 * Descent direction of the total variation Σ √(Δ² + ε²) over horizontal and vertical neighbour
 * differences, per channel: the negative gradient, so adding it to the step smooths. The ε of one
 * grey level makes it differentiable at flat spots (no ±1 flicker there) while it stays about the
 * L1 total variation (which keeps edges) elsewhere. Values lie in [−4, 4]. `wrapX` also counts
 * the pair across the 0°/360° seam (last column, first column) of a 360° panorama.
 */
export function tvDescent(img: RgbImage, epsilon = 1, wrapX = false): Float32Array {
  const { width: w, height: h, data } = img;
  const out = new Float32Array(data.length);
  const e2 = epsilon * epsilon;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const o = (y * w + x) * 3;
      for (let c = 0; c < 3; c++) {
        const v = data[o + c]!;
        if (x + 1 < w || (wrapX && w > 1)) {
          const right = x + 1 < w ? o + 3 + c : y * w * 3 + c;
          const d = data[right]! - v;
          const g = d / Math.sqrt(d * d + e2);
          // d TV / d v = −g, d TV / d right = +g; descent is the opposite.
          out[o + c] = out[o + c]! + g;
          out[right] = out[right]! - g;
        }
        if (y + 1 < h) {
          const below = o + w * 3 + c;
          const d = data[below]! - v;
          const g = d / Math.sqrt(d * d + e2);
          out[o + c] = out[o + c]! + g;
          out[below] = out[below]! - g;
        }
      }
    }
  }
  return out;
}

/**
 * Square root of the ImageNet RGB colour correlation (its SVD square root, as used by Lucid),
 * rows R, G, B; normalised below so its largest column has unit length.
 */
const COLOUR_CORRELATION_SQRT: ReadonlyArray<readonly [number, number, number]> = [
  [0.26, 0.09, 0.02],
  [0.27, 0.0, -0.05],
  [0.27, -0.09, 0.03],
];

/** N·Nᵀ for the normalised colour matrix N: a pixel-space step for a decorrelated-space gradient. */
function colourPreconditioner(): number[][] {
  const m = COLOUR_CORRELATION_SQRT;
  let maxNorm = 0;
  for (let c = 0; c < 3; c++) maxNorm = Math.max(maxNorm, Math.hypot(m[0]![c]!, m[1]![c]!, m[2]![c]!));
  const n = m.map((row) => row.map((v) => v / maxNorm));
  return [0, 1, 2].map((i) => [0, 1, 2].map((j) => n[i]![0]! * n[j]![0]! + n[i]![1]! * n[j]![1]! + n[i]![2]! * n[j]![2]!));
}

const COLOUR_NNT = colourPreconditioner();

/**
 * The decorrelated step for a pixel gradient: with the image parametrised as x = N·F⁻¹(S·y)
 * (N the colour matrix, S a 1/frequency spectrum scale), gradient ascent on y moves x along
 * N·Nᵀ·F⁻¹(S·F(g)) — one factor of S, the amplitude spectrum natural images have, as the
 * per-parameter normalisation of Adam-style optimisers leaves it. The lowest frequency's scale
 * also bounds the constant (DC) term, so brightness does not run away.
 */
export function decorrelatedStep(grad: RgbImage): RgbImage {
  const { width: w, height: h, data } = grad;
  const n = w * h;
  const fMin = 1 / Math.max(w, h);
  const gain = (fx: number, fy: number): number => 1 / Math.max(Math.hypot(fx, fy), fMin);
  const planes = [0, 1, 2].map((c) => {
    const plane = new Float64Array(n);
    for (let i = 0; i < n; i++) plane[i] = data[i * 3 + c]!;
    return filterPlane(plane, w, h, gain);
  });
  const out = new Float32Array(data.length);
  const m = COLOUR_NNT;
  for (let i = 0; i < n; i++) {
    const r = planes[0]![i]!;
    const g = planes[1]![i]!;
    const b = planes[2]![i]!;
    out[i * 3] = m[0]![0]! * r + m[0]![1]! * g + m[0]![2]! * b;
    out[i * 3 + 1] = m[1]![0]! * r + m[1]![1]! * g + m[1]![2]! * b;
    out[i * 3 + 2] = m[2]![0]! * r + m[2]![1]! * g + m[2]![2]! * b;
  }
  return createImage(w, h, out);
}

/**
 * One regularised gradient-ascent step, in place on `x` (values kept in 0–255):
 * 1. blur the gradient (target `gradient`, annealed sigma) and/or take the decorrelated step;
 * 2. normalise it to mean magnitude 1 (the classic step's units) and add `tv` × the TV descent;
 * 3. x ← x + step · direction;
 * 4. decay the dreamed detail (x − base) by `decay`, and blur it (target `image`).
 * `base` is the octave's undreamed image: the photo itself is never blurred nor decayed.
 * `wrapX` (360° panoramas): the blur and the TV term wrap around horizontally; the decorrelated
 * step's Fourier basis is periodic anyway.
 */
export function priorStep(
  x: RgbImage,
  base: RgbImage,
  grad: Float32Array,
  step: number,
  priors: DreamPriors,
  iteration: number,
  iterations: number,
  wrapX = false,
): void {
  const sigma = annealedSigma(priors.blur, priors.blurEnd, iteration, iterations);
  let g = createImage(x.width, x.height, grad);
  if (priors.blurTarget === 'gradient' && sigma > 0) g = gaussianBlur(g, sigma, wrapX);
  if (priors.decorrelate) g = decorrelatedStep(g);
  const scale = 1 / (meanAbs(g.data) + 1e-8);
  const tv = priors.tv > 0 ? tvDescent(subtract(x, base), 1, wrapX) : undefined;
  const d = x.data;
  for (let i = 0; i < d.length; i++) {
    const dir = g.data[i]! * scale + (tv ? priors.tv * tv[i]! : 0);
    d[i] = d[i]! + step * dir;
  }
  if (priors.decay > 0 || (priors.blurTarget === 'image' && sigma > 0)) {
    let detail = createImage(x.width, x.height, new Float32Array(d.length));
    for (let i = 0; i < d.length; i++) detail.data[i] = (d[i]! - base.data[i]!) * (1 - priors.decay);
    if (priors.blurTarget === 'image' && sigma > 0) detail = gaussianBlur(detail, sigma, wrapX);
    for (let i = 0; i < d.length; i++) d[i] = base.data[i]! + detail.data[i]!;
  }
  for (let i = 0; i < d.length; i++) {
    const v = d[i]!;
    d[i] = v < 0 ? 0 : v > 255 ? 255 : v;
  }
}
