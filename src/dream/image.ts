/**
 * Float RGB images for the dreaming maths: row-major, 3 channels interleaved, values 0-255.
 * Everything here is a pure function on plain arrays, so it runs in any thread and is easy to test.
 */
export interface RgbImage {
  width: number;
  height: number;
  data: Float32Array;
}

export function createImage(width: number, height: number, data?: Float32Array): RgbImage {
  const size = width * height * 3;
  if (data && data.length !== size) throw new Error(`image data has ${data.length} values, expected ${size}`);
  return { width, height, data: data ?? new Float32Array(size) };
}

export function fromBytes(width: number, height: number, bytes: Uint8Array): RgbImage {
  return createImage(width, height, Float32Array.from(bytes));
}

/** Round and clamp to bytes. */
export function toBytes(img: RgbImage): Uint8Array {
  const out = new Uint8Array(img.data.length);
  for (let i = 0; i < out.length; i++) {
    const v = Math.round(img.data[i]!);
    out[i] = v < 0 ? 0 : v > 255 ? 255 : v;
  }
  return out;
}

export interface ResizeOptions {
  /**
   * Horizontal sampling wraps around (360° equirectangular frames: the left and right edges are
   * neighbours, so the first column is interpolated with the last instead of clamped).
   */
  wrapX?: boolean | undefined;
}

/**
 * Bilinear resize with pixel-centre alignment (like OpenCV / tf.image with halfPixelCenters).
 * Downscaling by more than 2× first box-filters, so octave pyramids do not alias.
 */
export function resize(img: RgbImage, width: number, height: number, opts: ResizeOptions = {}): RgbImage {
  if (width === img.width && height === img.height) return createImage(width, height, img.data.slice());
  let src = img;
  while (src.width >= 2 * width && src.height >= 2 * height) src = halve(src);
  const out = new Float32Array(width * height * 3);
  const sx = src.width / width;
  const sy = src.height / height;
  const w = src.width;
  const d = src.data;
  const wrap = opts.wrapX === true;
  for (let y = 0; y < height; y++) {
    let fy = (y + 0.5) * sy - 0.5;
    if (fy < 0) fy = 0;
    const y0 = Math.min(Math.floor(fy), src.height - 1);
    const y1 = Math.min(y0 + 1, src.height - 1);
    const wy = fy - y0;
    for (let x = 0; x < width; x++) {
      let fx = (x + 0.5) * sx - 0.5;
      let x0: number;
      let x1: number;
      let wx: number;
      if (wrap) {
        const f = Math.floor(fx);
        wx = fx - f;
        x0 = ((f % w) + w) % w;
        x1 = x0 + 1 === w ? 0 : x0 + 1;
      } else {
        if (fx < 0) fx = 0;
        x0 = Math.min(Math.floor(fx), w - 1);
        x1 = Math.min(x0 + 1, w - 1);
        wx = fx - x0;
      }
      const a = (y0 * w + x0) * 3;
      const b = (y0 * w + x1) * 3;
      const c = (y1 * w + x0) * 3;
      const e = (y1 * w + x1) * 3;
      const o = (y * width + x) * 3;
      for (let k = 0; k < 3; k++) out[o + k] = bilerp(d, a + k, b + k, c + k, e + k, wx, wy);
    }
  }
  return createImage(width, height, out);
}

/**
 * Bilinear blend of four samples of `d`: `a` top-left, `b` top-right, `c` bottom-left, `e`
 * bottom-right, at fractions `wx` across and `wy` down.
 */
export function bilerp(d: Float32Array, a: number, b: number, c: number, e: number, wx: number, wy: number): number {
  const top = d[a]! + (d[b]! - d[a]!) * wx;
  const bottom = d[c]! + (d[e]! - d[c]!) * wx;
  return top + (bottom - top) * wy;
}

function halve(img: RgbImage): RgbImage {
  const w = Math.floor(img.width / 2);
  const h = Math.floor(img.height / 2);
  const out = new Float32Array(w * h * 3);
  const d = img.data;
  const W = img.width;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const a = (2 * y * W + 2 * x) * 3;
      const c = a + W * 3;
      const o = (y * w + x) * 3;
      for (let k = 0; k < 3; k++) out[o + k] = (d[a + k]! + d[a + 3 + k]! + d[c + k]! + d[c + 3 + k]!) * 0.25;
    }
  }
  return createImage(w, h, out);
}

/**
 * Roll (circular shift) by (dx, dy): pixel (x, y) moves to (x+dx, y+dy) modulo the size.
 * DeepDream's jitter: the network sees a shifted image each step, and nothing is lost at the edges.
 */
export function roll(img: RgbImage, dx: number, dy: number): RgbImage {
  const { width: w, height: h, data } = img;
  const out = new Float32Array(data.length);
  const ox = ((dx % w) + w) % w;
  const oy = ((dy % h) + h) % h;
  for (let y = 0; y < h; y++) {
    const ty = (y + oy) % h;
    // Two contiguous copies per row: [0, w-ox) → [ox, w) and [w-ox, w) → [0, ox).
    const srcRow = y * w * 3;
    const dstRow = ty * w * 3;
    out.set(data.subarray(srcRow, srcRow + (w - ox) * 3), dstRow + ox * 3);
    out.set(data.subarray(srcRow + (w - ox) * 3, srcRow + w * 3), dstRow);
  }
  return createImage(w, h, out);
}

/** Element-wise a + b (same size). */
export function add(a: RgbImage, b: RgbImage): RgbImage {
  const out = new Float32Array(a.data.length);
  for (let i = 0; i < out.length; i++) out[i] = a.data[i]! + b.data[i]!;
  return createImage(a.width, a.height, out);
}

/** Element-wise a − b (same size). */
export function subtract(a: RgbImage, b: RgbImage): RgbImage {
  const out = new Float32Array(a.data.length);
  for (let i = 0; i < out.length; i++) out[i] = a.data[i]! - b.data[i]!;
  return createImage(a.width, a.height, out);
}

export function meanAbs(values: Float32Array): number {
  let s = 0;
  for (let i = 0; i < values.length; i++) s += Math.abs(values[i]!);
  return s / Math.max(1, values.length);
}

/**
 * The normalised gradient-ascent step, in place: x ← clip(x + step · g / mean|g|, 0, 255).
 * Normalising by the mean magnitude makes `step` mean "about `step` grey levels per pixel" at any
 * layer, octave and image size.
 */
export function ascend(x: Float32Array, grad: Float32Array, step: number): void {
  const scale = step / (meanAbs(grad) + 1e-8);
  for (let i = 0; i < x.length; i++) {
    const v = x[i]! + scale * grad[i]!;
    x[i] = v < 0 ? 0 : v > 255 ? 255 : v;
  }
}

/**
 * Copy a rectangle whose columns may run past either side of the image: they wrap around
 * (x modulo the width), so a tile of a 360° panorama sees across the 0°/360° seam. Rows must lie
 * inside the image.
 */
export function cropWrapX(img: RgbImage, x: number, y: number, width: number, height: number): RgbImage {
  const w = img.width;
  const out = new Float32Array(width * height * 3);
  for (let r = 0; r < height; r++) {
    const row = (y + r) * w * 3;
    let done = 0;
    // Contiguous runs: at most ceil(width / w) + 1 copies per row.
    while (done < width) {
      const sx = (((x + done) % w) + w) % w;
      const run = Math.min(width - done, w - sx);
      out.set(img.data.subarray(row + sx * 3, row + (sx + run) * 3), (r * width + done) * 3);
      done += run;
    }
  }
  return createImage(width, height, out);
}

/** Copy a rectangle out of an image. */
export function crop(img: RgbImage, x: number, y: number, width: number, height: number): RgbImage {
  const out = new Float32Array(width * height * 3);
  for (let r = 0; r < height; r++) {
    const src = ((y + r) * img.width + x) * 3;
    out.set(img.data.subarray(src, src + width * 3), r * width * 3);
  }
  return createImage(width, height, out);
}
