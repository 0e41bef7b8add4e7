/**
 * The dream stage: DeepDream every frame. Its section (the options every dreaming command
 * shares) is declared here; `DreamSpec` (pipeline/dream.ts) is its inferred settings type
 * (docs/architecture.md, "The spec").
 */
import { DEFAULT_DREAM, DREAM_LIMITS } from '../../dream/deepdream.js';
import { LOOK_NAMES, liveLook, liveLookFields, lookNamed } from '../../dream/looks.js';
import { BLUR_TARGETS, parseBlur, PRIOR_LIMITS } from '../../dream/priors.js';
import type { ClassScore } from '../../dream/objectives.js';
import { BACKEND_REQUESTS } from '../../engine/backend.js';
import { ONNX_DEVICES } from '../../engine/onnx/runtime.js';
import { DEFAULT_MODEL, loadManifest, modelHasLayer } from '../../models/manifest.js';
import { LIVE_DREAM, LIVE_TEMPORAL } from '../liveDefaults.js';
import { parseLiveSize } from '../sources/live.js';
import type { DreamSettings } from '../../dream/deepdream.js';
import type { Frame } from '../../frame.js';
import { DEFAULT_TEMPORAL, TemporalDreamStage, type TemporalSettings, type TemporalState } from '../../temporal/stage.js';
import type { ChainStage, StageModule, StageSnapshot, TunableStage } from '../stageModule.js';
import { boolean, byLive, choice, defineSection, integer, number, string, userCheck, type SectionConfig, type SettingsOf, type SourceKind } from '../spec/fields.js';

/** `--class-score`: the scores classObjective (pipeline/dream.ts) raises. */
const CLASS_SCORES: readonly ClassScore[] = ['logit', 'probability'];

const { octaves, octaveScale, iterations, step, jitter, tile, seed } = DREAM_LIMITS;

export const section = defineSection({
  kind: 'dream',
  role: 'stage',
  help: 'DeepDream every frame',
  fields: [
    choice('look', LOOK_NAMES, 'a named look: layers, octaves, step, jitter and priors together (dreamflow looks shows them); options given with it win'),
    string('model', 'bvlc_googlenet or squeezenet', { default: DEFAULT_MODEL }),
    string('layer', "layer(s) to amplify with optional weights, e.g. inception_4c/output or a:1,b:-0.5 (default: the model's)"),
    integer('channel', 'one channel of the layer', { min: 0 }),
    string('guide', 'make the dream look like this picture’s features'),
    integer('octaves', 'octaves in the pyramid', { ...octaves, default: byLive(LIVE_DREAM.octaves, DEFAULT_DREAM.octaves) }),
    number('octaveScale', 'size ratio between octaves', { min: 1.01, max: octaveScale.max, default: DEFAULT_DREAM.octaveScale }),
    integer('iterations', 'gradient steps per octave (video: on the first frame and after scene cuts)', {
      ...iterations,
      default: byLive(LIVE_DREAM.iterations, DEFAULT_DREAM.iterations),
    }),
    number('step', 'normalised step size (about grey levels per pixel per step)', { min: 0.0001, max: step.max, default: DEFAULT_DREAM.step }),
    integer('jitter', 'random roll per step, pixels', { ...jitter, default: DEFAULT_DREAM.jitter }),
    integer('tile', 'largest tile the network sees at once (bounds memory)', { ...tile, default: DEFAULT_DREAM.tile }),
    integer('seed', 'seed of the jitter: same seed and backend, same result', { min: seed.min, max: 2 ** 32 - 1, default: DEFAULT_DREAM.seed }),
    choice('backend', BACKEND_REQUESTS, 'auto (onnx when it loads), onnx, wasm, cpu or tensorflow', { default: 'auto' }),
    choice('device', ONNX_DEVICES, 'where the onnx backend runs: cpu, cuda or webgpu', { default: 'cpu' }),
    string('weights', 'folder holding the model weights'),
    integer('workers', 'worker threads (default: 1 on onnx, one per core on wasm; 0 = this thread)', { min: 0, max: 64 }),
    string('class', 'class(es) to make the picture look like: name or index, optional :weight'),
    choice('classScore', CLASS_SCORES, 'class score to raise with --class', { shownDefault: 'logit' }),
    string('neuron', 'one unit: LAYER:CHANNEL[@X,Y][:weight] (X,Y pixels or percent; video and live: percent)'),
    number('tv', 'total-variation prior weight (0 = off)', PRIOR_LIMITS.tv),
    number('decay', 'L2 decay of the dreamed detail per step (0 = off)', { min: 0, max: 0.99 }),
    string('blur', 'Gaussian blur sigma S[:E] in pixels, annealed from S to E over each octave', { check: userCheck(parseBlur) }),
    choice('blurTarget', BLUR_TARGETS, 'what --blur smooths: the gradient, or the dreamed detail (image)', { shownDefault: 'gradient' }),
    boolean('decorrelate', 'step in a colour-decorrelated, 1/f-scaled space'),
  ],
  // A named look (dream/looks.ts) fills the fields the section does not give itself.
  expand: (given: SectionConfig): SectionConfig => {
    const look = typeof given.look === 'string' ? lookNamed(given.look) : undefined;
    return look ? { ...look.fields, ...given } : given;
  },
  complete: (filled: SectionConfig, given: SectionConfig, source: SectionConfig): void => {
    if (source.kind === 'live') {
      // The look the live working size can carry, as runLiveJob picks it (dream/looks.ts).
      const look = liveLook(parseLiveSize(String(source.size)), filled.device !== 'cpu');
      Object.assign(filled, liveLookFields(given, look, (name) => modelHasLayer(String(filled.model), name)));
    }
    // A class or neuron objective stands alone unless layers are named: no default layer then.
    const alone = given.layer === undefined && given.channel === undefined && (given.class !== undefined || given.neuron !== undefined);
    if (!alone && filled.layer === undefined) filled.layer = loadManifest(String(filled.model)).defaultLayer;
  },
});

export type DreamStageSettings = SettingsOf<typeof section>;

/** A carrying stage's state (temporal/stage.ts) as a generic snapshot, and back. */
export function snapshotOfTemporal(state: TemporalState): StageSnapshot {
  const { previousInput, previousDream } = state;
  return {
    header: { index: state.index, width: state.width, height: state.height, referenceRms: state.referenceRms },
    buffers: [previousInput, new Uint8Array(previousDream.buffer, previousDream.byteOffset, previousDream.byteLength)],
  };
}

export function temporalOfSnapshot(snapshot: StageSnapshot): TemporalState {
  const { index, width, height, referenceRms } = snapshot.header as { index: number; width: number; height: number; referenceRms: number };
  const [input, dream] = snapshot.buffers as [Uint8Array, Uint8Array];
  const previousDream = new Float32Array(dream.byteLength / 4);
  new Uint8Array(previousDream.buffer).set(dream);
  return { index, width, height, referenceRms, previousInput: input, previousDream };
}

/**
 * The per-frame stage of the dreaming stages (dream, and the temporal and vr stages that take it
 * over): `inner` dreams, carries and wraps; its state goes to --resume as a generic snapshot.
 */
export class DreamingStage implements ChainStage {
  constructor(readonly inner: Pick<TunableStage, 'process' | 'snapshot' | 'restore'>) {}

  process(frame: Frame): Promise<Frame> {
    return this.inner.process(frame);
  }

  snapshot(): StageSnapshot | undefined {
    const state = this.inner.snapshot();
    return state && snapshotOfTemporal(state);
  }

  restore(snapshot: StageSnapshot): void {
    this.inner.restore(temporalOfSnapshot(snapshot));
  }
}

/** The stage before a taker-over, as the dreaming stage it must be (dream, temporal or vr). */
export function dreamingOf(previous: ChainStage | undefined, kind: string): TunableStage {
  if (!(previous instanceof DreamingStage)) throw new Error(`a ${kind} stage takes over a dream stage's dreaming`);
  return previous.inner as TunableStage;
}

/** Without a temporal stage every frame is dreamed from scratch with the full settings. */
export function dreamOnly(source: SourceKind, settings: DreamSettings): TemporalSettings {
  return {
    ...DEFAULT_TEMPORAL,
    dream: settings,
    frameIterations: settings.iterations,
    blend: 0,
    flow: false,
    // Live feeds build their dream up over frames (bounded) and never stall on a fresh frame.
    ...(source === 'live' ? { carryLimitRms: LIVE_TEMPORAL.carryLimitRms, progressiveFresh: true } : {}),
  };
}

export const stage: StageModule<DreamStageSettings> = {
  kind: 'dream',
  section,
  accepts: ['frame'],
  gives: 'dreamed',
  sources: ['image', 'folder', 'video', 'live', 'zoom'],
  // Dreams with the plan's settings, to which every stage of the spec has added its part
  // (stagePlan: the carry of a temporal stage, a vr stage's wrap-around).
  create: (context) => {
    const dreaming = context.dreaming ?? ((runner, objective, t) => new TemporalDreamStage(runner, objective, t));
    return new DreamingStage(dreaming(context.runner, context.objective, context.plan.temporal));
  },
};
