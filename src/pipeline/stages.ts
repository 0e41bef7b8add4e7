/**
 * The runner's side of the stages (docs/architecture.md, "The data flow of one frame"): the kinds
 * are registered in stageRegistry.ts, one line each. `stagePlan` adds up what the dreaming stages
 * set (for memory checks, estimates and recipes); `composeStages` makes the spec's stages, in its
 * order, into one chain of per-frame stages, frame out of one into the next.
 */
import type { DreamSettings } from '../dream/deepdream.js';
import type { Objective } from '../dream/objectives.js';
import type { GradientRunner } from '../dream/runner.js';
import type { Frame } from '../frame.js';
import { TemporalDreamStage, type TemporalSettings } from '../temporal/stage.js';
import type { ZoomMove } from '../temporal/zoom.js';
import type { StereoMode } from '../vr/layout.js';
import { dreamOf, dreamSettingsOf, type DreamSpec } from './dream.js';
import { withModulation } from './modulate.js';
import type { Modulation } from './schedule.js';
import type { ChainStage, StageContext, StageSnapshot } from './stageModule.js';
import { sectionWithDefaults, sourceKindOf, type PipelineSpec, type SectionConfig } from './spec.js';
import { stageModule } from './stageRegistry.js';
import { DreamingStage, dreamOnly } from './stages/dream.js';
import type { TemporalSpec } from './stages/temporal.js';
import type { VrSpec } from './stages/vr.js';

export type { TemporalSpec, VrSpec };

/** What the stages of a spec add up to. */
export interface StagePlan {
  /** The spec whose stages these are (composeStages reads their sections from it). */
  spec: PipelineSpec;
  dream: DreamSpec;
  settings: DreamSettings;
  /** How frames are carried from one to the next (absent: every frame dreamed from scratch). */
  temporal: TemporalSettings;
  /** 360° handling, when the spec has a vr stage. */
  vr?: VrSpec;
  /** Keyframed schedules and audio reaction of the temporal stage (modulate.ts), when it has any. */
  modulation?: Modulation | undefined;
}

/** A stage's section as its module reads it: every field, defaults applied (a kind without fields in the spec table as given). */
function settingsOf(spec: PipelineSpec, section: SectionConfig): SectionConfig {
  return sectionWithDefaults(spec, 'stages', section);
}

/** The plan of a validated spec's stages, in order. */
export function stagePlan(spec: PipelineSpec): StagePlan {
  const dream = dreamOf(spec);
  const settings = dreamSettingsOf(dream);
  const start: StagePlan = { spec, dream, settings, temporal: dreamOnly(sourceKindOf(spec), settings) };
  return spec.stages.reduce((plan, s) => stageModule(s.kind).plan?.(settingsOf(spec, s), plan, spec) ?? plan, start);
}

/** What the runner gives the stages of one job besides the plan: engine, objective, and the job's facts. */
export interface JobStages {
  runner: GradientRunner;
  objective: Objective;
  stereo?: StereoMode | undefined;
  /** The loudness per frame when a field follows the sound (--react). */
  envelope?: Float32Array | undefined;
  /** Seconds of the job's first frame (schedules count from it). */
  origin?: number | undefined;
  /** How a dreaming stage dreams a frame (the zoom's stage), and what its schedules also move. */
  dreaming?: StageContext['dreaming'];
  move?: ZoomMove | undefined;
}

/** The chain of a spec's stages for one job: composed in the spec's order, schedules applied. */
export function stagesOf(plan: StagePlan, job: JobStages): StageChain {
  const base = { temporal: plan.temporal, objective: job.objective, ...(job.move ? { move: job.move } : {}) };
  return composeStages({
    spec: plan.spec,
    plan,
    runner: job.runner,
    objective: job.objective,
    stereo: job.stereo ?? 'mono',
    dreaming: job.dreaming,
    modulate: plan.modulation ? (stage) => withModulation(stage, plan.modulation, base, plan.dream, job.envelope, job.origin) : undefined,
  });
}

/**
 * The spec's stages as one chain: each stage's per-frame stage follows the one before it, except
 * where a module takes over the stage before it (`takesOver`, stageModule.ts); then each module's
 * `finish` has the last word on its group's stage.
 */
export function composeStages(context: StageContext, opts: { finish?: boolean } = {}): StageChain {
  const links: Array<{ kinds: string[]; stage: ChainStage }> = [];
  for (const section of context.spec.stages) {
    const module = stageModule(section.kind);
    const settings = settingsOf(context.spec, section);
    const last = links[links.length - 1];
    if (last && module.takesOver?.includes(last.kinds[last.kinds.length - 1]!)) {
      last.stage = module.create(context, settings, last.stage);
      last.kinds.push(module.kind);
    } else {
      links.push({ kinds: [module.kind], stage: module.create(context, settings) });
    }
  }
  if (opts.finish ?? true) {
    for (const link of links) for (const kind of link.kinds) link.stage = stageModule(kind).finish?.(context, link.stage) ?? link.stage;
  }
  return new StageChain(links.map((l) => l.stage));
}

/**
 * Per-frame stages in order, frame out of one into the next. A chain of one stage is that stage
 * (its snapshot as it is); a longer one keeps each stage's snapshot under its position.
 */
export class StageChain implements ChainStage {
  constructor(readonly stages: readonly ChainStage[]) {}

  async process(frame: Frame): Promise<Frame> {
    let out = frame;
    for (const stage of this.stages) out = await stage.process(out);
    return out;
  }

  snapshot(): StageSnapshot | undefined {
    if (this.stages.length === 1) return this.stages[0]!.snapshot();
    const header: Record<string, number> = {};
    const buffers: Uint8Array[] = [];
    this.stages.forEach((stage, i) => {
      const s = stage.snapshot();
      if (!s) return;
      for (const [key, value] of Object.entries(s.header)) header[`${i}.${key}`] = value;
      header[`${i}.buffers`] = s.buffers.length;
      buffers.push(...s.buffers);
    });
    return { header, buffers };
  }

  restore(snapshot: StageSnapshot): void {
    if (this.stages.length === 1) return this.stages[0]!.restore(snapshot);
    let next = 0;
    this.stages.forEach((stage, i) => {
      const count = snapshot.header[`${i}.buffers`];
      if (count === undefined) return;
      const prefix = `${i}.`;
      const header = Object.fromEntries(Object.entries(snapshot.header).filter(([k]) => k.startsWith(prefix) && k !== `${i}.buffers`).map(([k, v]) => [k.slice(prefix.length), v]));
      stage.restore({ header, buffers: snapshot.buffers.slice(next, next + count) });
      next += count;
    });
  }

  async close(): Promise<void> {
    for (const stage of this.stages) await stage.close?.();
  }
}

/**
 * The live loop's dreaming stage (live.ts, LiveScheduler): the spec's stages composed by the
 * registry, bare (no `finish`: the adaptive stage moves its settings frame by frame itself). A
 * live spec has a dream and maybe a temporal stage, so this is the temporal dream stage.
 */
export function createLiveStage(plan: StagePlan, runner: GradientRunner, objective: Objective): TemporalDreamStage {
  const chain = composeStages({ spec: plan.spec, plan, runner, objective, stereo: 'mono' }, { finish: false });
  const only = chain.stages.length === 1 ? chain.stages[0] : undefined;
  const dreaming = only instanceof DreamingStage ? only.inner : undefined;
  if (!(dreaming instanceof TemporalDreamStage)) throw new Error('a live spec dreams with the temporal dream stage');
  return dreaming;
}
