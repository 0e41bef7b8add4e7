/**
 * Dense optical flow with OpenCV's Farnebäck method, computed on small greyscale frames (flow
 * is smooth, so a 256-pixel-wide estimate upscaled is nearly as good and ~10–20× cheaper than
 * full resolution) and returned at full resolution in full-resolution pixels.
 */
import { MatScope, loadOpenCv, type Cv, type CvMat } from './cv.js';
import type { FlowField, FlowInput, GreyImage } from './types.js';

export interface FarnebackParams {
  /** Pyramid scale between levels (<1). */
  pyrScale: number;
  levels: number;
  /** Averaging window: larger = smoother, more robust, blurrier motion boundaries. */
  winsize: number;
  iterations: number;
  polyN: number;
  polySigma: number;
  /** Gaussian instead of box window: a little more accurate, slower. */
  gaussian: boolean;
}

export const DEFAULT_FARNEBACK: Readonly<FarnebackParams> = {
  pyrScale: 0.5,
  levels: 3,
  winsize: 15,
  iterations: 3,
  polyN: 5,
  polySigma: 1.2,
  gaussian: false,
};

export interface FlowOptions {
  /** Estimate at most this wide (aspect kept); default 256. Larger inputs are area-downscaled. */
  maxWidth?: number;
  /** Size of the returned field (default: the inputs' size); vectors are scaled to it. */
  outputSize?: { width: number; height: number };
  params?: Partial<FarnebackParams>;
  /**
   * 360° equirectangular frames: the left and right edges are neighbours. The frames are padded
   * with wrapped columns before estimation and the flow cropped back, so motion across the
   * 0°/360° seam is estimated like motion anywhere else.
   */
  wrapX?: boolean;
}

export const DEFAULT_FLOW_MAX_WIDTH = 256;

/** BT.601 luma of an RGB24 frame (integer weights 77/150/29 ≈ 0.299/0.587/0.114). Pure. */
export function toGrey(img: FlowInput): GreyImage {
  const n = img.width * img.height;
  if (img.data.length === n) return { width: img.width, height: img.height, data: img.data };
  if (img.data.length !== n * 3) {
    throw new Error(`expected ${img.width}x${img.height} grey (${n} bytes) or RGB24 (${n * 3} bytes), got ${img.data.length} bytes`);
  }
  const out = new Uint8Array(n);
  const d = img.data;
  for (let i = 0, j = 0; i < n; i++, j += 3) out[i] = (77 * d[j]! + 150 * d[j + 1]! + 29 * d[j + 2]! + 128) >> 8;
  return { width: img.width, height: img.height, data: out };
}

/** Size flow is estimated at: at most maxWidth wide, aspect kept. */
export function flowWorkingSize(width: number, height: number, maxWidth: number): { width: number; height: number } {
  if (width <= maxWidth) return { width, height };
  return { width: maxWidth, height: Math.max(1, Math.round((height * maxWidth) / width)) };
}

/** Flow from `prev` to `next` (prev(x) ≈ next(x + F(x)), see FlowField). */
export async function computeFlow(prev: FlowInput, next: FlowInput, opts: FlowOptions = {}): Promise<FlowField> {
  const cv = await loadOpenCv();
  return computeFlowWith(cv, prev, next, opts, false).forward;
}

/** Forward (a → b) and backward (b → a) flow, sharing the greyscale/downscale work. */
export async function computeFlowPair(a: FlowInput, b: FlowInput, opts: FlowOptions = {}): Promise<{ forward: FlowField; backward: FlowField }> {
  const cv = await loadOpenCv();
  const r = computeFlowWith(cv, a, b, opts, true);
  return { forward: r.forward, backward: r.backward! };
}

function computeFlowWith(cv: Cv, a: FlowInput, b: FlowInput, opts: FlowOptions, both: boolean): { forward: FlowField; backward?: FlowField } {
  if (a.width !== b.width || a.height !== b.height) {
    throw new Error(`flow needs equal sizes, got ${a.width}x${a.height} and ${b.width}x${b.height}`);
  }
  const p = { ...DEFAULT_FARNEBACK, ...opts.params };
  const work = flowWorkingSize(a.width, a.height, opts.maxWidth ?? DEFAULT_FLOW_MAX_WIDTH);
  const out = opts.outputSize ?? { width: a.width, height: a.height };
  const scope = new MatScope(cv);
  try {
    const pad = opts.wrapX ? wrapPadding(work.width) : 0;
    const ga = wrapPadX(cv, scope, greyMat(cv, scope, toGrey(a), work), pad);
    const gb = wrapPadX(cv, scope, greyMat(cv, scope, toGrey(b), work), pad);
    const run = (from: CvMat, to: CvMat): FlowField => {
      const flow = scope.mat();
      cv.calcOpticalFlowFarneback(from, to, flow, p.pyrScale, p.levels, p.winsize, p.iterations, p.polyN, p.polySigma, p.gaussian ? cv.OPTFLOW_FARNEBACK_GAUSSIAN : 0);
      return upscaleFlow(cv, scope, cropFlowX(cv, scope, flow, pad, work.width), work, out);
    };
    const forward = run(ga, gb);
    return both ? { forward, backward: run(gb, ga) } : { forward };
  } finally {
    scope.free();
  }
}

function greyMat(cv: Cv, scope: MatScope, grey: GreyImage, work: { width: number; height: number }): CvMat {
  const full = scope.mat(grey.height, grey.width, cv.CV_8UC1);
  full.data.set(grey.data);
  if (work.width === grey.width && work.height === grey.height) return full;
  const small = scope.mat();
  // Area averaging: plain bilinear decimation aliases fine texture into false motion.
  cv.resize(full, small, new cv.Size(work.width, work.height), 0, 0, cv.INTER_AREA);
  return small;
}

/** Wrapped columns added on each side for wrapX: enough for the coarsest pyramid level's window. */
function wrapPadding(width: number): number {
  return Math.min(width, Math.max(32, Math.round(width / 8)));
}

/** The grey image with `pad` columns from the opposite side added left and right. */
function wrapPadX(cv: Cv, scope: MatScope, grey: CvMat, pad: number): CvMat {
  if (pad === 0) return grey;
  const w = grey.cols;
  const h = grey.rows;
  const wide = w + 2 * pad;
  const out = scope.mat(h, wide, cv.CV_8UC1);
  const src = grey.data;
  const dst = out.data;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < wide; x++) dst[y * wide + x] = src[y * w + ((((x - pad) % w) + w) % w)]!;
  }
  return out;
}

/** The middle `width` columns of a CV_32FC2 field computed on wrap-padded frames. */
function cropFlowX(cv: Cv, scope: MatScope, flow: CvMat, pad: number, width: number): CvMat {
  if (pad === 0) return flow;
  const out = scope.mat(flow.rows, width, cv.CV_32FC2);
  const src = flow.data32F;
  const dst = out.data32F;
  const wide = flow.cols;
  for (let y = 0; y < flow.rows; y++) dst.set(src.subarray((y * wide + pad) * 2, (y * wide + pad + width) * 2), y * width * 2);
  return out;
}

/** Resize the interleaved CV_32FC2 field to `out` and scale vectors by the size ratio. */
function upscaleFlow(cv: Cv, scope: MatScope, flow: CvMat, work: { width: number; height: number }, out: { width: number; height: number }): FlowField {
  let src = flow;
  if (out.width !== work.width || out.height !== work.height) {
    src = scope.mat();
    cv.resize(flow, src, new cv.Size(out.width, out.height), 0, 0, cv.INTER_LINEAR);
  }
  const sx = out.width / work.width;
  const sy = out.height / work.height;
  const n = out.width * out.height;
  const d = src.data32F;
  const u = new Float32Array(n);
  const v = new Float32Array(n);
  for (let i = 0, j = 0; i < n; i++, j += 2) {
    u[i] = d[j]! * sx;
    v[i] = d[j + 1]! * sy;
  }
  return { width: out.width, height: out.height, u, v };
}
