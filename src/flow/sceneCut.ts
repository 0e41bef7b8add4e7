/**
 * A cheap scene-cut detector, so the temporal stage can stop carrying the dream across a cut
 * (flow between unrelated shots is meaningless and would smear the old dream over the new shot).
 *
 * Two measures on small greyscale thumbnails, both in [0, 1]:
 * - `histogram`: total-variation distance between 32-bin luma histograms. Blind to motion
 *   (a pan keeps the histogram), high when the shot changes;
 * - `difference`: mean absolute difference of the thumbnails. High on cuts, but also on fast
 *   motion over texture.
 * Requiring both to be high keeps pans and fast motion from counting as cuts; a very large
 * histogram change alone (cut to a different brightness) also counts.
 */
import type { FlowInput } from './types.js';

export interface SceneCutOptions {
  /** Thumbnail width (height follows the aspect). Default 64. */
  thumbWidth?: number;
  /** A cut when histogram ≥ this AND difference ≥ `difference`. Default 0.3. */
  histogram?: number;
  /** Default 0.12. */
  difference?: number;
  /** A cut on histogram distance alone at or above this. Default 0.6. */
  histogramAlone?: number;
}

export interface SceneCutScore {
  histogram: number;
  difference: number;
}

const BINS = 32;

/** Both change measures between two frames of the same size. Pure. */
export function sceneCutScore(a: FlowInput, b: FlowInput, opts: SceneCutOptions = {}): SceneCutScore {
  if (a.width !== b.width || a.height !== b.height) throw new Error('scene-cut frames must have the same size');
  const tw = Math.min(a.width, opts.thumbWidth ?? 64);
  const th = Math.max(1, Math.round((a.height * tw) / a.width));
  const ta = thumbnail(a, tw, th);
  const tb = thumbnail(b, tw, th);
  const n = tw * th;
  const ha = new Float64Array(BINS);
  const hb = new Float64Array(BINS);
  let diff = 0;
  for (let i = 0; i < n; i++) {
    const va = ta[i]!;
    const vb = tb[i]!;
    diff += Math.abs(va - vb);
    ha[Math.min(BINS - 1, Math.floor((va / 256) * BINS))]! += 1;
    hb[Math.min(BINS - 1, Math.floor((vb / 256) * BINS))]! += 1;
  }
  let tv = 0;
  for (let k = 0; k < BINS; k++) tv += Math.abs(ha[k]! - hb[k]!);
  return { histogram: tv / (2 * n), difference: diff / (255 * n) };
}

/** Whether b starts a new shot after a (see the module comment for the rule). Pure. */
export function isSceneCut(a: FlowInput, b: FlowInput, opts: SceneCutOptions = {}): boolean {
  const s = sceneCutScore(a, b, opts);
  const h = opts.histogram ?? 0.3;
  const d = opts.difference ?? 0.12;
  const alone = opts.histogramAlone ?? 0.6;
  return (s.histogram >= h && s.difference >= d) || s.histogram >= alone;
}

/** Box-averaged luma thumbnail (each source pixel counts once, in the cell it falls in). */
function thumbnail(img: FlowInput, tw: number, th: number): Float32Array {
  const { width: w, height: h, data } = img;
  const rgb = data.length === w * h * 3;
  if (!rgb && data.length !== w * h) throw new Error(`expected ${w}x${h} grey or RGB24 data`);
  const sum = new Float64Array(tw * th);
  const count = new Uint32Array(tw * th);
  const cellX = new Uint32Array(w);
  for (let x = 0; x < w; x++) cellX[x] = Math.floor((x * tw) / w);
  for (let y = 0; y < h; y++) {
    const row = Math.floor((y * th) / h) * tw;
    for (let x = 0; x < w; x++) {
      const i = y * w + x;
      const luma = rgb ? 0.299 * data[3 * i]! + 0.587 * data[3 * i + 1]! + 0.114 * data[3 * i + 2]! : data[i]!;
      const c = row + cellX[x]!;
      sum[c]! += luma;
      count[c]! += 1;
    }
  }
  const out = new Float32Array(tw * th);
  for (let c = 0; c < out.length; c++) out[c] = count[c]! > 0 ? sum[c]! / count[c]! : 0;
  return out;
}
