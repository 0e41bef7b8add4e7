import type { RgbImage } from '../dream/image.js';

/**
 * High-frequency energy of an image: the mean squared discrete Laplacian
 * (4·v − left − right − up − down) over interior channel-pixels, in grey levels². The Laplacian's
 * response grows with the square of frequency, so pixel-scale noise dominates it while smooth
 * shapes barely register: it is the measure the natural-image priors are meant to lower.
 */
export function highFrequencyEnergy(img: RgbImage): number {
  const { width: w, height: h, data } = img;
  if (w < 3 || h < 3) return 0;
  let sum = 0;
  for (let y = 1; y < h - 1; y++) {
    for (let x = 1; x < w - 1; x++) {
      const o = (y * w + x) * 3;
      for (let c = 0; c < 3; c++) {
        const lap = 4 * data[o + c]! - data[o - 3 + c]! - data[o + 3 + c]! - data[o - w * 3 + c]! - data[o + w * 3 + c]!;
        sum += lap * lap;
      }
    }
  }
  return sum / ((w - 2) * (h - 2) * 3);
}
