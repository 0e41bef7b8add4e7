import { DEFAULT_DREAM, dream, type DreamSettings } from '../dream/deepdream.js';
import { createImage, fromBytes, toBytes, type RgbImage } from '../dream/image.js';
import type { Objective } from '../dream/objectives.js';
import type { GradientRunner } from '../dream/runner.js';
import { computeFlowPair, consistencyMask, isSceneCut, warp, type FlowField } from '../flow/index.js';
import type { Frame, Stage } from '../frame.js';
import { carryResidual, residualOf, rms } from './carry.js';

export interface TemporalSettings {
  /** Full dream for the first frame and the first frame after a scene cut. */
  dream: DreamSettings;
  /** Steps per octave for a frame that starts from the carried dream. */
  frameIterations: number;
  /** Share of the previous frame's (warped) dream carried onto the new frame, 0-1. */
  blend: number;
  /** false: the naive baseline, every frame dreamed from scratch (flickers; for comparison). */
  flow: boolean;
  /** Width the optical flow is estimated at. */
  flowMaxWidth: number;
  /** Horizontal wrap-around for 360° panoramas (flow, warping and occlusion all wrap). */
  wrapX: boolean;
  /**
   * Live build-up: the carried dream may deepen frame after frame up to this RMS (grey levels)
   * instead of the depth of the last fresh frame, so what stays in view keeps hallucinating more
   * (occlusions and fast motion still reset it locally through the flow mask). Absent: the
   * video behaviour, capped at the fresh frame's depth.
   */
  carryLimitRms?: number | undefined;
  /**
   * Live: a fresh frame (the first, a scene cut, a loop restart) gets `frameIterations` steps
   * like any other, and the dream builds up over the following frames instead of stalling the
   * feed for a full dream.
   */
  progressiveFresh?: boolean | undefined;
}

/**
 * Defaults, measured on a real panning clip (bench/video.ts, README): two steps per octave on the
 * carried dream and a carry of 0.9 keep the flicker ratio near 10 while the dream gain stays
 * above 3; more steps deepen the dream and flicker more.
 */
export const DEFAULT_TEMPORAL: TemporalSettings = {
  dream: DEFAULT_DREAM,
  frameIterations: 2,
  blend: 0.9,
  flow: true,
  flowMaxWidth: 256,
  wrapX: false,
};

/**
 * How one image is dreamed (default: `dream` on the image as it is). The 360° cubemap mode
 * swaps in a dreamer that reprojects to cube faces and back.
 */
export type ImageDreamer = (image: RgbImage, objective: Objective, settings: DreamSettings) => Promise<RgbImage>;

/** What the stage knows about the frame it just produced (for progress, metrics and tests). */
export interface FrameReport {
  index: number;
  /** The frame started from scratch: first frame, scene cut, or --no-flow. */
  fresh: boolean;
  sceneCut: boolean;
  /** RMS of dream − input after this frame (grey levels). */
  residualRms: number;
  /** Forward and backward flow between the previous input and this one (when computed). */
  flow?: { forward: FlowField; backward: FlowField };
  /** Where the frame's time went, in ms (flow, warp: mask, warp and carry; dream). */
  timings: { flow: number; warp: number; dream: number };
}

/** What must survive a restart to continue exactly where a run stopped. */
export interface TemporalState {
  index: number;
  width: number;
  height: number;
  previousInput: Uint8Array;
  previousDream: Float32Array;
  referenceRms: number;
}

/**
 * What a carrying stage remembers between frames (the last input, the last dream and the depth
 * of the last fresh dream), and its snapshot for --resume (checkpoint.ts stores it).
 */
export class CarryMemory {
  input: Frame | undefined;
  dream: RgbImage | undefined;
  /** Residual RMS of the last fresh frame: the carried residual is never allowed to exceed it. */
  referenceRms = 0;

  /** Keep this frame's input and dream; a fresh (uncarried) frame sets the reference depth. */
  remember(input: Frame, dreamed: RgbImage, residualRms: number, fresh: boolean): void {
    if (fresh) this.referenceRms = residualRms;
    this.input = input;
    this.dream = dreamed;
  }

  snapshot(): TemporalState | undefined {
    if (!this.input || !this.dream) return undefined;
    return { index: this.input.index, width: this.input.width, height: this.input.height, previousInput: this.input.data, previousDream: this.dream.data, referenceRms: this.referenceRms };
  }

  restore(state: TemporalState): void {
    this.input = { index: state.index, ptsSeconds: 0, width: state.width, height: state.height, data: state.previousInput };
    this.dream = createImage(state.width, state.height, state.previousDream);
    this.referenceRms = state.referenceRms;
  }
}

/**
 * The video stage of docs/architecture.md: for each frame, carry the previous dream along the optical flow
 * (masked where the flow is not trustworthy), then dream a few steps. The result keeps its
 * hallucinations attached to the scene instead of re-rolling them every frame.
 */
export class TemporalDreamStage implements Stage {
  private readonly memory = new CarryMemory();
  lastReport: FrameReport | undefined;
  private readonly dreamImage: ImageDreamer;

  constructor(
    private readonly runner: GradientRunner,
    private objective: Objective,
    private settings: TemporalSettings = DEFAULT_TEMPORAL,
    dreamImage?: ImageDreamer,
  ) {
    this.dreamImage = dreamImage ?? ((image, objective, settings) => dream(this.runner, image, objective, settings));
  }

  /** Change settings between frames (live controls, the adaptive controller). */
  update(changes: { objective?: Objective; settings?: Partial<TemporalSettings> }): void {
    if (changes.objective) this.objective = changes.objective;
    if (changes.settings) this.settings = { ...this.settings, ...changes.settings };
  }

  get current(): TemporalSettings {
    return this.settings;
  }

  async process(frame: Frame): Promise<Frame> {
    const s = this.settings;
    const input = fromBytes(frame.width, frame.height, frame.data);
    // Every frame has its own jitter sequence, so a resumed run repeats an uninterrupted one.
    const seed = (s.dream.seed + frame.index * 7919) >>> 0;
    const prev = this.memory.input;
    const sameSize = prev !== undefined && prev.width === frame.width && prev.height === frame.height;
    const sceneCut = sameSize && s.flow && isSceneCut(prev, frame);
    const carry = s.flow && sameSize && !sceneCut && this.memory.dream !== undefined;

    let start = input;
    let flow: FrameReport['flow'];
    const t0 = performance.now();
    let t1 = t0;
    if (carry) {
      flow = await computeFlowPair(prev, frame, { maxWidth: s.flowMaxWidth, wrapX: s.wrapX });
      t1 = performance.now();
      // flow.backward maps this frame's pixels to where they were: bring the old dream here.
      const mask = consistencyMask(flow.backward, flow.forward, { wrapX: s.wrapX });
      const residual = residualOf(this.memory.dream!, fromBytes(prev.width, prev.height, prev.data));
      const warped = warp(residual, frame.width, frame.height, 3, flow.backward, { wrapX: s.wrapX });
      start = carryResidual(input, warped, mask, s.blend, s.carryLimitRms ?? this.memory.referenceRms);
    }
    const t2 = performance.now();
    const settings: DreamSettings = carry || (s.progressiveFresh && s.flow) ? { ...s.dream, iterations: s.frameIterations, seed } : { ...s.dream, seed };
    // A 360° stage dreams with wrap-around too (the dream settings alone may not say so).
    if (s.wrapX) settings.wrapX = true;
    const dreamed = await this.dreamImage(start, this.objective, settings);
    const t3 = performance.now();
    const residualRms = rms(residualOf(dreamed, input));
    this.memory.remember(frame, dreamed, residualRms, !carry);
    this.lastReport = { index: frame.index, fresh: !carry, sceneCut, residualRms, ...(flow ? { flow } : {}), timings: { flow: t1 - t0, warp: t2 - t1, dream: t3 - t2 } };
    return { ...frame, data: toBytes(dreamed) };
  }

  snapshot(): TemporalState | undefined {
    return this.memory.snapshot();
  }

  restore(state: TemporalState): void {
    this.memory.restore(state);
  }
}
