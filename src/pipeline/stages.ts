/**
 * The stage registry: each stage kind of the spec adds what it does to a plan, in spec order
 * (dream → temporal → vr, checked by spec.ts), and `createStage` makes the per-frame Stage the
 * plan describes. A new stage is an entry here plus its fields in the spec table.
 */
import type { DreamSettings } from '../dream/deepdream.js';
import type { Objective } from '../dream/objectives.js';
import type { GradientRunner } from '../dream/runner.js';
import { DEFAULT_TEMPORAL, TemporalDreamStage, type TemporalSettings } from '../temporal/stage.js';
import type { StereoMode } from '../vr/layout.js';
import { VrStage, type Projection, type VrSettings } from '../vr/stage.js';
import { dreamOf, dreamSettingsOf, type DreamSpec } from './dream.js';
import { LIVE_TEMPORAL } from './liveDefaults.js';
import type { ResumableStage } from './videoJob.js';
import { sectionOf, type PipelineSpec, type StageKind } from './spec.js';
import { modulationOf, type Modulation, type TunableStage } from './modulate.js';
import type { Schedule } from './schedule.js';

export interface TemporalSpec {
  kind: 'temporal';
  flow: boolean;
  blend: number;
  frameIterations: number;
  flowWidth: number;
  schedule?: Schedule;
  ease?: boolean;
  crossfade?: number;
  react?: string[];
  reactSmoothing?: number;
}

export interface VrSpec {
  kind: 'vr';
  projection: Projection;
  stereo?: StereoMode;
  eyeIterations: number;
  faststart: boolean;
}

/** What the stages of a spec add up to. */
export interface StagePlan {
  dream: DreamSpec;
  settings: DreamSettings;
  /** How frames are carried from one to the next (absent: every frame dreamed from scratch). */
  temporal: TemporalSettings;
  /** 360° handling, when the spec has a vr stage. */
  vr?: VrSpec;
  /** Keyframed schedules and audio reaction of the temporal stage (modulate.ts), when it has any. */
  modulation?: Modulation | undefined;
}

type StageEntry = (spec: PipelineSpec, plan: StagePlan) => StagePlan;

export const STAGES: Record<StageKind, StageEntry> = {
  // The dream stage alone: every frame dreamed from scratch with the full settings.
  dream: (_spec, plan) => plan,
  temporal: (spec, plan) => {
    const t = sectionOf<TemporalSpec>(spec, 'stages', 'temporal')!;
    return {
      ...plan,
      temporal: { ...plan.temporal, flow: t.flow, blend: t.blend, frameIterations: t.frameIterations, flowMaxWidth: t.flowWidth },
      // Settings over time: --schedule and --react (modulate.ts, schedule.ts).
      modulation: modulationOf(t),
    };
  },
  // Everything that looks past the left or right border wraps around in longitude.
  vr: (spec, plan) => ({ ...plan, vr: sectionOf<VrSpec>(spec, 'stages', 'vr')!, temporal: { ...plan.temporal, wrapX: true } }),
};

/** The plan of a validated spec's stages, in order. */
export function stagePlan(spec: PipelineSpec): StagePlan {
  const dream = dreamOf(spec);
  const settings = dreamSettingsOf(dream);
  const live = spec.source.kind === 'live';
  const start: StagePlan = {
    dream,
    settings,
    // Without a temporal stage every frame is dreamed from scratch with the full settings.
    temporal: {
      ...DEFAULT_TEMPORAL,
      dream: settings,
      frameIterations: settings.iterations,
      blend: 0,
      flow: false,
      // Live feeds build their dream up over frames (bounded) and never stall on a fresh frame.
      ...(live ? { carryLimitRms: LIVE_TEMPORAL.carryLimitRms, progressiveFresh: true } : {}),
    },
  };
  return spec.stages.reduce((plan, s) => STAGES[s.kind as StageKind](spec, plan), start);
}

/** The per-frame stage of a plan (video and live sources). */
export function createStage(plan: StagePlan, runner: GradientRunner, objective: Objective, stereo: StereoMode = 'mono'): ResumableStage & TunableStage {
  if (plan.vr) {
    const vr: VrSettings = { projection: plan.vr.projection, stereo, eyeIterations: plan.vr.eyeIterations };
    return new VrStage(runner, objective, plan.temporal, vr);
  }
  return new TemporalDreamStage(runner, objective, plan.temporal);
}
