/**
 * Equirectangular (360°) frames: longitude runs left to right over the full width, so the first
 * and last columns are neighbours on the sphere. The dreaming core, the pyramid, tiling and the
 * optical flow take a `wrapX` switch that honours this; here are the measures and checks.
 */

/** Anything with packed RGB pixels (a Frame or an RgbImage). */
export interface RgbPixels {
  width: number;
  height: number;
  data: ArrayLike<number>;
}

/**
 * The seam at 0°/360°: entry d is mean |column d − column (width−1−d)| over rows and channels,
 * for d = 0 … columns−1. Entry 0 compares the two columns that meet at the seam; the others
 * the pairs a few columns into each side (2d+1 apart across the seam), which a seam blurred over
 * a few columns still shows. Pure.
 */
export function seamProfile(img: RgbPixels, columns = 4): number[] {
  const { width: w, height: h, data } = img;
  const out: number[] = [];
  for (let d = 0; d < Math.min(columns, Math.floor(w / 2)); d++) {
    let sum = 0;
    for (let y = 0; y < h; y++) {
      const a = (y * w + d) * 3;
      const b = (y * w + (w - 1 - d)) * 3;
      for (let c = 0; c < 3; c++) sum += Math.abs(Number(data[a + c]) - Number(data[b + c]));
    }
    out.push(sum / (h * 3));
  }
  return out;
}

/**
 * How much of the dream reaches the seam: mean |output − input| over the `columns` columns on
 * each side of the 0°/360° seam, divided by the same over the whole frame. A panorama dreamed as
 * a flat picture fades out towards its left and right borders (the network sees zero padding
 * there), which shows as a stripe at the back of the sphere even when the pixels on the two
 * sides of the seam happen to match. Pure.
 */
export function seamDreamStrength(input: RgbPixels, output: RgbPixels, columns = 2): number {
  const { width: w, height: h } = input;
  if (output.width !== w || output.height !== h) throw new Error('seamDreamStrength: images differ in size');
  let near = 0;
  let all = 0;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = (y * w + x) * 3;
      let d = 0;
      for (let c = 0; c < 3; c++) d += Math.abs(Number(output.data[i + c]) - Number(input.data[i + c]));
      all += d;
      if (x < columns || x >= w - columns) near += d;
    }
  }
  const nearMean = near / (2 * columns * h);
  const allMean = all / (w * h);
  return allMean > 0 ? nearMean / allMean : 1;
}
