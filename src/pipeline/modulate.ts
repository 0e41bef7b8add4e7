/**
 * Settings that change over time (docs/architecture.md, "Schedules and reaction"): a stage
 * wrapped so that before each frame its settings are those of the keyframed schedule at the
 * frame's time and of the soundtrack's loudness at the frame (schedule.ts has the maths,
 * media/loudness.ts the envelope). The wrapped stage keeps its own state; only its settings move.
 */
import { scale, sum, type Objective } from '../dream/objectives.js';
import type { Frame, Rational, Stage } from '../frame.js';
import { UserError } from '../errors.js';
import { loudnessEnvelope } from '../media/loudness.js';
import { loadManifest } from '../models/manifest.js';
import type { TemporalSettings, TemporalState } from '../temporal/stage.js';
import type { ZoomMove } from '../temporal/zoom.js';
import { checkedObjective, type DreamSpec } from './dream.js';
import { layerWeightsAt, reactionValue, settle, valueAt, type Modulation } from './schedule.js';
import type { TunableStage } from './stageModule.js';

/** Where the loudness comes from: a file's sound from `start`, at the job's frame rate. */
export interface SoundSource {
  path: string;
  start?: number | undefined;
  fps: Rational;
}

/** The loudness per frame when a reaction needs it (undefined otherwise). */
export async function envelopeFor(m: Modulation | undefined, sound: SoundSource | undefined): Promise<Float32Array | undefined> {
  if (!m || m.react.length === 0) return undefined;
  if (!sound) throw new UserError('--react needs a soundtrack: zoom takes one with --audio FILE');
  return loudnessEnvelope(sound.path, { fps: sound.fps, start: sound.start, smoothing: m.reactSmoothing });
}

/**
 * The layers a `layer` schedule names, each checked against the model now (a typo fails before
 * any frame), as objectives with the dream stage's other settings.
 */
export function layerObjectives(m: Modulation, dream: DreamSpec): Map<string, Objective> {
  const out = new Map<string, Objective>();
  const manifest = loadManifest(dream.model);
  for (const [, name] of m.schedule.layer ?? []) {
    const key = String(name);
    if (!out.has(key)) out.set(key, checkedObjective({ ...dream, layer: key, channel: undefined, class: undefined, neuron: undefined }, manifest));
  }
  return out;
}

/**
 * The objective at a time under a modulation: the cross-faded layers of a `layer` schedule and
 * driven layer weights, or `base` when neither. The same object comes back while nothing
 * changes, because worker pools cache objectives by identity (dream/runner.ts): a new object
 * every frame would send and compile a new objective every frame.
 */
export class DrivenObjective {
  private last: { key: string; base: Objective; objective: Objective } | undefined;

  constructor(
    private readonly m: Modulation,
    private readonly layers: ReadonlyMap<string, Objective>,
  ) {}

  at(seconds: number, values: ReadonlyMap<string, number>, base: Objective): Objective {
    const keys = this.m.schedule.layer;
    const weights = keys ? [...layerWeightsAt(keys, seconds, this.m.crossfade, this.m.ease)].filter(([, w]) => w > 0) : [];
    const weighted = [...values].filter(([field]) => field.startsWith('weight:'));
    if (weights.length === 0 && weighted.length === 0) return base;
    const key = JSON.stringify([weights, weighted]);
    if (this.last && this.last.key === key && this.last.base === base) return this.last.objective;
    const layered = keys ? sum(...weights.map(([name, w]) => scale(this.layers.get(name)!, w))) : base;
    const objective: Objective =
      weighted.length === 0
        ? layered
        : {
            terms: layered.terms.map((term) => {
              const hit = weighted.find(([field]) => field.slice('weight:'.length) === term.layer);
              return hit ? { ...term, weight: hit[1] } : term;
            }),
          };
    this.last = { key, base, objective };
    return objective;
  }
}

/** `stage` following `m` (the stage itself when there is nothing to follow). */
export function withModulation(
  stage: TunableStage,
  m: Modulation | undefined,
  base: { temporal: TemporalSettings; objective: Objective; move?: ZoomMove | undefined },
  dream: DreamSpec,
  envelope: Float32Array | undefined,
  origin?: number,
): TunableStage | ModulatedStage {
  return m ? new ModulatedStage(stage, base, m, dream, envelope, origin) : stage;
}

/**
 * Wraps a stage so its settings follow `m`. Times are the frame's timestamp less `origin` (the
 * job's start; a live feed's first frame when undefined); the loudness is read by frame index.
 */
export class ModulatedStage implements Stage {
  private readonly driven: DrivenObjective;
  private origin: number | undefined;
  /** The last fresh frame's residual RMS and the step it was dreamed with. */
  private fresh: { rms: number; step: number } | undefined;

  constructor(
    private readonly inner: TunableStage,
    private readonly base: { temporal: TemporalSettings; objective: Objective; move?: ZoomMove | undefined },
    private readonly m: Modulation,
    dream: DreamSpec,
    private readonly envelope: Float32Array | undefined,
    origin?: number,
  ) {
    this.driven = new DrivenObjective(m, layerObjectives(m, dream));
    this.origin = origin;
  }

  /** Each field's value at `seconds` (and frame `index` for the loudness). */
  valuesAt(seconds: number, index: number): Map<string, number> {
    const values = new Map<string, number>();
    for (const [field, keys] of Object.entries(this.m.schedule)) if (field !== 'layer') values.set(field, valueAt(keys, seconds, this.m.ease));
    if (this.envelope && this.envelope.length > 0) {
      const loudness = this.envelope[Math.min(index, this.envelope.length - 1)]!;
      for (const r of this.m.react) values.set(r.field, reactionValue(r, index < this.envelope.length ? loudness : 0));
    }
    return values;
  }

  async process(frame: Frame): Promise<Frame> {
    this.origin ??= frame.ptsSeconds;
    const seconds = Math.max(0, frame.ptsSeconds - this.origin);
    const values = this.valuesAt(seconds, frame.index);
    const got = (field: string, fallback: number): number => (values.has(field) ? settle(field, values.get(field)!) : fallback);
    const t = this.base.temporal;
    const dream = t.dream;
    const settings: Partial<TemporalSettings> = {
      dream: { ...dream, step: got('step', dream.step), iterations: got('iterations', dream.iterations), octaves: got('octaves', dream.octaves), octaveScale: got('octaveScale', dream.octaveScale), jitter: got('jitter', dream.jitter) },
      frameIterations: got('frameIterations', t.frameIterations),
      blend: got('blend', t.blend),
    };
    const move = this.base.move ? { zoom: got('zoom', this.base.move.zoom), rotate: got('rotate', this.base.move.rotate) } : undefined;
    // The video carry never deepens past the last fresh frame's depth (temporal/stage.ts); a
    // schedule or the sound raising the step raises that ceiling in proportion.
    if (this.fresh) settings.carryLimitRms = this.fresh.rms * Math.max(1, settings.dream!.step / this.fresh.step);
    this.inner.update({ settings, objective: this.driven.at(seconds, values, this.base.objective), ...(move ? { move } : {}) });
    const out = await this.inner.process(frame);
    const report = this.inner.lastReport as { fresh?: unknown; residualRms?: unknown } | undefined;
    if (report?.fresh === true && typeof report.residualRms === 'number') this.fresh = { rms: report.residualRms, step: settings.dream!.step };
    return out;
  }

  snapshot(): TemporalState | undefined {
    return this.inner.snapshot();
  }

  restore(state: TemporalState): void {
    this.inner.restore(state);
    // The fresh frame's step is not in the state: the first frame's is the usual one.
    const first = this.valuesAt(0, 0).get('step');
    this.fresh = { rms: state.referenceRms, step: first === undefined ? this.base.temporal.dream.step : settle('step', first) };
  }
}
