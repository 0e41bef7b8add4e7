/**
 * The 360° video stage: the temporal dream stage of docs/architecture.md with everything wrapping around in
 * longitude, optionally dreaming through a cubemap, and for stereo frames one eye dreamed and
 * carried to the other (see stereo.ts).
 */
import { dream, type DreamSettings } from '../dream/deepdream.js';
import { add, fromBytes, subtract, toBytes, type RgbImage } from '../dream/image.js';
import type { Objective } from '../dream/objectives.js';
import type { GradientRunner } from '../dream/runner.js';
import type { Frame, Stage } from '../frame.js';
import { TemporalDreamStage, type ImageDreamer, type TemporalSettings, type TemporalState } from '../temporal/stage.js';
import { cubeGeometryFor, cubemapToEquirect, equirectToCubemap } from './cubemap.js';
import { joinEyes, splitEyes, type StereoMode } from './layout.js';
import { carryAcrossEyes } from './stereo.js';

export type Projection = 'equirect' | 'cubemap';
export const PROJECTIONS: readonly Projection[] = ['equirect', 'cubemap'];

export interface VrSettings {
  /** How frames are dreamed: on the equirectangular frame with wrap-around, or on cube faces. */
  projection: Projection;
  stereo: StereoMode;
  /** Steps per octave that refine the dream carried to the second eye. */
  eyeIterations: number;
}

export const DEFAULT_VR: VrSettings = { projection: 'equirect', stereo: 'mono', eyeIterations: 2 };

/** Clip to 0-255 in place. */
function clip(img: RgbImage): RgbImage {
  const d = img.data;
  for (let i = 0; i < d.length; i++) d[i] = d[i]! < 0 ? 0 : d[i]! > 255 ? 255 : d[i]!;
  return img;
}

/**
 * Dream an equirectangular image on its six cube faces: reproject, dream every face (all at once,
 * so the runner's workers stay busy), reproject only what the dream added and blend it in the
 * overlaps. The picture itself is never resampled, so the round trip costs it nothing.
 */
export function cubemapDreamer(runner: GradientRunner): ImageDreamer {
  return async (image: RgbImage, objective: Objective, settings: DreamSettings): Promise<RgbImage> => {
    const geometry = cubeGeometryFor(image.width);
    const faces = equirectToCubemap(image, geometry);
    const residuals = await Promise.all(
      faces.map(async (face, k) => {
        const dreamed = await dream(runner, face, objective, { ...settings, wrapX: false, seed: (settings.seed + 1009 * k) >>> 0 });
        return subtract(dreamed, face);
      }),
    );
    return clip(add(image, cubemapToEquirect(residuals, image.width, image.height, geometry)));
  };
}

/** Dream an equirectangular image with wrap-around in longitude. */
export function equirectDreamer(runner: GradientRunner): ImageDreamer {
  return (image, objective, settings) => dream(runner, image, objective, { ...settings, wrapX: true });
}

export interface VrFrameReport {
  index: number;
  /** Share of the second eye whose dream was carried from the first (stereo only). */
  eyeCarried?: number;
}

/**
 * Frames in, dreamed 360° frames out. Mono: one temporal stage over the whole frame. Stereo:
 * the left eye goes through the temporal stage; the right eye starts from the left eye's dream
 * carried along the disparity and is refined with `eyeIterations` steps.
 */
export class VrStage implements Stage {
  private readonly left: TemporalDreamStage;
  private readonly dreamImage: ImageDreamer;
  lastReport: VrFrameReport | undefined;

  constructor(
    runner: GradientRunner,
    private objective: Objective,
    private temporal: TemporalSettings,
    private readonly vr: VrSettings = DEFAULT_VR,
  ) {
    this.dreamImage = vr.projection === 'cubemap' ? cubemapDreamer(runner) : equirectDreamer(runner);
    this.left = new TemporalDreamStage(runner, objective, { ...temporal, wrapX: true }, this.dreamImage);
  }

  /** Change settings between frames (schedules and audio reaction, pipeline/modulate.ts). */
  update(changes: { objective?: Objective; settings?: Partial<TemporalSettings> }): void {
    if (changes.objective) this.objective = changes.objective;
    if (changes.settings) this.temporal = { ...this.temporal, ...changes.settings };
    this.left.update({ ...changes, ...(changes.settings ? { settings: { ...changes.settings, wrapX: true } } : {}) });
  }

  async process(frame: Frame): Promise<Frame> {
    if (this.vr.stereo === 'mono') {
      const out = await this.left.process(frame);
      this.lastReport = { index: frame.index };
      return out;
    }
    const stereo = this.vr.stereo;
    const [leftIn, rightIn] = splitEyes(frame, stereo);
    const leftOut = await this.left.process(leftIn);
    const leftDream = fromBytes(leftOut.width, leftOut.height, leftOut.data);
    const carried = await carryAcrossEyes(leftIn, leftDream, rightIn, { flowMaxWidth: this.temporal.flowMaxWidth, wrapX: true });
    let right = carried.start;
    if (this.vr.eyeIterations > 0) {
      const seed = (this.temporal.dream.seed + frame.index * 7919 + 5413) >>> 0;
      right = await this.dreamImage(right, this.objective, { ...this.temporal.dream, iterations: this.vr.eyeIterations, seed });
    }
    const rightOut: Frame = { ...rightIn, data: toBytes(right) };
    this.lastReport = { index: frame.index, eyeCarried: carried.trusted };
    return joinEyes(leftOut, rightOut, stereo);
  }

  /** The left eye's temporal state is all there is: the right eye is rebuilt from it every frame. */
  snapshot(): TemporalState | undefined {
    return this.left.snapshot();
  }

  restore(state: TemporalState): void {
    this.left.restore(state);
  }
}
