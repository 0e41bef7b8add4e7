/**
 * What a stage kind is (docs/architecture.md, "Where to add things"): one module under
 * `pipeline/stages/` that says what frames it accepts and gives, which sources it may follow,
 * what it adds to the dreaming settings, and `create(context, settings)`, the per-frame stage
 * that owns its state and its snapshot for --resume. The registry (stageRegistry.ts) lists the
 * modules; the runner (stages.ts, composeStages) chains their stages in the spec's order.
 */
import type { DreamSettings } from '../dream/deepdream.js';
import type { Objective } from '../dream/objectives.js';
import type { GradientRunner } from '../dream/runner.js';
import type { Stage } from '../frame.js';
import type { TemporalSettings, TemporalState } from '../temporal/stage.js';
import type { ZoomMove } from '../temporal/zoom.js';
import type { StereoMode } from '../vr/layout.js';
import type { PipelineSpec, SectionConfig, SectionSpec, SourceKind } from './spec/fields.js';

/** What the dreaming stages of a spec set so far (stages.ts, StagePlan, has the whole). */
export interface DreamingPlan {
  settings: DreamSettings;
  /** How frames are carried from one to the next. */
  temporal: TemporalSettings;
}

/** A dreaming stage whose settings can change between frames (temporal, vr and zoom stages). */
export interface TunableStage extends Stage {
  update(changes: { objective?: Objective; settings?: Partial<TemporalSettings>; move?: Partial<ZoomMove> }): void;
  snapshot(): TemporalState | undefined;
  restore(state: TemporalState): void;
  /** What the stage knows of its last frame: a fresh frame's depth is the carry's reference. */
  readonly lastReport?: object | undefined;
}

/** What a stage takes and gives: any frame, or a frame dreamed (dream, temporal and vr stages). */
export type FrameKind = 'frame' | 'dreamed';

/**
 * A stage's state for --resume, whatever the stage: numbers in `header` (stored as JSON) and
 * byte arrays in `buffers` (stored raw after it, pipeline/checkpoint.ts).
 */
export interface StageSnapshot {
  header: Record<string, number>;
  buffers: Uint8Array[];
}

/** A per-frame stage of a chain: it owns its state, and says and takes back what it is. */
export interface ChainStage extends Stage {
  snapshot(): StageSnapshot | undefined;
  restore(snapshot: StageSnapshot): void;
}

/** How the dreaming stages dream one frame; a zoom source swaps in its own (temporal/zoom.ts). */
export type DreamingFactory = (runner: GradientRunner, objective: Objective, temporal: TemporalSettings) => TunableStage;

/** What every stage of one job shares: the engine, the objective, the merged settings, the job's facts. */
export interface StageContext {
  spec: PipelineSpec;
  plan: DreamingPlan;
  runner: GradientRunner;
  objective: Objective;
  /** The stereo layout of a 360° input (mono when not 360°). */
  stereo: StereoMode;
  /** How a dreaming stage dreams a frame (default: the temporal dream stage). */
  dreaming?: DreamingFactory | undefined;
  /** The dreaming stage following the temporal stage's schedules and --react (stages.ts). */
  modulate?: ((stage: TunableStage) => Pick<TunableStage, 'process' | 'snapshot' | 'restore'>) | undefined;
}

/**
 * One stage kind. `takesOver`: the stage kinds right before it whose per-frame stage this one
 * receives as `previous` and replaces in the chain (the temporal stage carries the dream stage's
 * dreaming between frames; the vr stage dreams it around the sphere); any other stage follows the
 * one before it, frame out of one into the next.
 */
export interface StageModule<S extends { kind: string } = SectionConfig> {
  kind: string;
  /** Its fields (spec/fields.ts); a stage without any takes its section as given. */
  section?: SectionSpec;
  accepts: readonly FrameKind[];
  gives: FrameKind;
  /** The source kinds this stage may follow. */
  sources: readonly SourceKind[];
  takesOver?: readonly string[];
  /** What the stage adds to the dreaming settings of the spec's stages (default: nothing). */
  plan?<P extends DreamingPlan>(section: S, plan: P, spec: PipelineSpec): P;
  create(context: StageContext, settings: S, previous?: ChainStage): ChainStage;
  /** Last word on the stage its group of taken-over stages made (e.g. settings that follow a schedule). */
  finish?(context: StageContext, stage: ChainStage): ChainStage;
}
