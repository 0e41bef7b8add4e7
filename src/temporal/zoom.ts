/**
 * The zoom (docs/architecture.md, "Zoom"): Google's "let's do the zoom" with this project's
 * temporal carry. Each frame starts from the previous dream moved by a known transform (scale
 * about the centre, rotation, pan), which is the flow, so nothing is estimated; a few dream steps
 * then deepen it. Pixels moved in from outside the frame are read from the moved dream itself,
 * reflected at its border, so the edges never turn black.
 */
import { dream, type DreamSettings } from '../dream/deepdream.js';
import { createImage, fromBytes, toBytes, type RgbImage } from '../dream/image.js';
import type { Objective } from '../dream/objectives.js';
import type { GradientRunner } from '../dream/runner.js';
import type { Frame, Stage } from '../frame.js';
import { residualOf, rms } from './carry.js';
import { CarryMemory, type FrameReport, type TemporalSettings, type TemporalState } from './stage.js';
import { UserError } from '../errors.js';

/** The transform from one frame to the next. */
export interface ZoomMove {
  /** Scale per frame about the centre (> 1 zooms in). */
  zoom: number;
  /** Degrees per frame, counter-clockwise on screen. */
  rotate: number;
  /** Pixels per frame the picture moves right (x) and down (y). */
  panX: number;
  panY: number;
}

/** `--pan DX,DY`: pixels per frame right and down. */
export function parsePan(text: string): { panX: number; panY: number } {
  const m = /^\s*(-?[\d.]+)\s*,\s*(-?[\d.]+)\s*$/.exec(text);
  const panX = m ? Number(m[1]) : NaN;
  const panY = m ? Number(m[2]) : NaN;
  if (!Number.isFinite(panX) || !Number.isFinite(panY) || Math.abs(panX) > 1000 || Math.abs(panY) > 1000) {
    throw new UserError(`--pan must be DX,DY in pixels per frame, e.g. 2,0 or -1.5,0.5 (got "${text}")`);
  }
  return { panX, panY };
}

/** Reflect an index into 0..n-1 (…2 1 0 1 2… at the left, mirrored at the right). */
function reflect(i: number, n: number): number {
  if (n === 1) return 0;
  const period = 2 * (n - 1);
  let m = Math.abs(i) % period;
  if (m >= n) m = period - m;
  return m;
}

/**
 * `image` moved by `move`: output pixel p shows the input at R(−θ)·(p − c − pan)/s + c, sampled
 * bilinearly; positions outside the picture are reflected back into it.
 */
export function moveImage(image: RgbImage, move: ZoomMove): RgbImage {
  const { width: w, height: h, data } = image;
  const out = createImage(w, h);
  const cx = (w - 1) / 2;
  const cy = (h - 1) / 2;
  const theta = (move.rotate * Math.PI) / 180;
  const cos = Math.cos(theta) / move.zoom;
  const sin = Math.sin(theta) / move.zoom;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const dx = x - cx - move.panX;
      const dy = y - cy - move.panY;
      // Inverse rotation (screen y points down, so a positive angle turns counter-clockwise).
      const sx = cos * dx - sin * dy + cx;
      const sy = sin * dx + cos * dy + cy;
      const x0 = Math.floor(sx);
      const y0 = Math.floor(sy);
      const fx = sx - x0;
      const fy = sy - y0;
      const xa = reflect(x0, w);
      const xb = reflect(x0 + 1, w);
      const ya = reflect(y0, h);
      const yb = reflect(y0 + 1, h);
      const o = (y * w + x) * 3;
      for (let c = 0; c < 3; c++) {
        const top = data[(ya * w + xa) * 3 + c]! * (1 - fx) + data[(ya * w + xb) * 3 + c]! * fx;
        const bottom = data[(yb * w + xa) * 3 + c]! * (1 - fx) + data[(yb * w + xb) * 3 + c]! * fx;
        out.data[o + c] = top * (1 - fy) + bottom * fy;
      }
    }
  }
  return out;
}

/**
 * The zoom's per-frame stage. The first frame (the still) gets the full dream; every later frame
 * is the previous dream moved by `move`, then `frameIterations` steps at every octave. The input
 * frames after the first are ignored: the animation feeds on its own output.
 */
export class ZoomStage implements Stage {
  private readonly memory = new CarryMemory();
  lastReport: FrameReport | undefined;

  constructor(
    private readonly runner: GradientRunner,
    private objective: Objective,
    private settings: TemporalSettings,
    private move: ZoomMove,
  ) {}

  /** Change settings between frames (schedules, audio reaction). */
  update(changes: { objective?: Objective; settings?: Partial<TemporalSettings>; move?: Partial<ZoomMove> }): void {
    if (changes.objective) this.objective = changes.objective;
    if (changes.settings) this.settings = { ...this.settings, ...changes.settings };
    if (changes.move) this.move = { ...this.move, ...changes.move };
  }

  get current(): TemporalSettings {
    return this.settings;
  }

  get currentMove(): ZoomMove {
    return this.move;
  }

  async process(frame: Frame): Promise<Frame> {
    const s = this.settings;
    const input = fromBytes(frame.width, frame.height, frame.data);
    const seed = (s.dream.seed + frame.index * 7919) >>> 0;
    const previous = this.memory.dream;
    const carry = previous !== undefined && previous.width === frame.width && previous.height === frame.height;
    const t0 = performance.now();
    const start = carry ? moveImage(previous, this.move) : input;
    const t1 = performance.now();
    const settings: DreamSettings = carry ? { ...s.dream, iterations: s.frameIterations, seed } : { ...s.dream, seed };
    const dreamed = await dream(this.runner, start, this.objective, settings);
    const t2 = performance.now();
    const residualRms = rms(residualOf(dreamed, input));
    this.memory.remember(frame, dreamed, residualRms, !carry);
    this.lastReport = { index: frame.index, fresh: !carry, sceneCut: false, residualRms, timings: { flow: 0, warp: t1 - t0, dream: t2 - t1 } };
    return { ...frame, data: toBytes(dreamed) };
  }

  snapshot(): TemporalState | undefined {
    return this.memory.snapshot();
  }

  restore(state: TemporalState): void {
    this.memory.restore(state);
  }
}
