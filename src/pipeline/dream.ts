/**
 * The dream stage of a spec, as what the dreaming core and the engines take: settings, runner
 * options and the objective. Every field has already been type- and range-checked by the spec
 * table (spec.ts); what is checked here needs the model (layer and class names).
 */
import { validateSettings, type DreamSettings } from '../dream/deepdream.js';
import { classScore, guide, neuron, parseLayerSpec, scale, sum, type ClassScore, type Objective } from '../dream/objectives.js';
import { activePriors, parseBlur, type DreamPriors } from '../dream/priors.js';
import type { GradientRunner, RunnerOptions } from '../dream/runner.js';
import { UserError } from '../errors.js';
import type { RgbImage } from '../dream/image.js';
import { resolveLayer } from '../models/catalog.js';
import { classifierLayers, loadLabels, resolveClass } from '../models/labels.js';
import { loadManifest, type ModelManifest } from '../models/manifest.js';
import { readImage } from '../sources/image.js';
import { section as dreamSection } from './stages/dream.js';
import type { PipelineSpec, SectionConfig, SettingsOf, SourceKind } from './spec/fields.js';
import { stageSettings } from './spec/settings.js';

/**
 * The dream stage's settings, defaults applied, inferred from its section (stages/dream.ts): the
 * core's numeric settings as they are (dreamSettingsOf adds the priors), plus the objective and
 * the machine.
 */
export type DreamSpec = SettingsOf<typeof dreamSection>;

/** The dream stage of a validated spec (every spec has one). */
export function dreamOf(spec: PipelineSpec): DreamSpec {
  const dream = stageSettings(spec, dreamSection);
  if (!dream) throw new Error('a spec without a dream stage (the spec was not validated)');
  return dream;
}

export function dreamSettingsOf(d: DreamSpec): DreamSettings {
  const s: DreamSettings = {
    octaves: d.octaves,
    octaveScale: d.octaveScale,
    iterations: d.iterations,
    step: d.step,
    jitter: d.jitter,
    tile: d.tile,
    seed: d.seed,
  };
  const blur = d.blur === undefined ? { blur: 0, blurEnd: 0 } : parseBlur(d.blur);
  const priors: DreamPriors = { tv: d.tv ?? 0, decay: d.decay ?? 0, ...blur, blurTarget: d.blurTarget ?? 'gradient', decorrelate: d.decorrelate ?? false };
  // Only a prior that is on enters the settings: without one they stay exactly the classic ones.
  const active = activePriors(priors);
  if (active) s.priors = active;
  validateSettings(s);
  return s;
}

export function runnerOptionsOf(d: DreamSpec, quiet = false): RunnerOptions {
  return { model: d.model, backend: d.backend, device: d.device, weightsDir: d.weights, workers: d.workers, quiet };
}

/** Side of the guide image fed to the network: about the network's training size. */
const GUIDE_SIZE = 224;

/**
 * The objective of a dream stage with layer, class and neuron names checked against the model
 * (typos get suggestions), guide features left out: `objectiveOf` adds them. Needs no network,
 * so a farm coordinator can check a job before any worker takes it.
 */
export function checkedObjective(d: DreamSpec, manifest: ModelManifest = loadManifest(d.model), imageSize?: { width: number; height: number }): Objective {
  const extra: Objective[] = [];
  if (d.class !== undefined) extra.push(classObjective(d.class, d.classScore, manifest));
  if (d.neuron !== undefined) extra.push(neuronObjective(d.neuron, manifest, imageSize));
  // A class or neuron stands alone unless layers are named too; then they add up.
  if (d.layer === undefined && d.channel === undefined && extra.length > 0) {
    if (d.guide !== undefined) throw new UserError('--guide works with --layer: name the layer(s) whose features the guide should set');
    return sum(...extra);
  }
  const spec = parseLayerSpec(d.layer ?? manifest.defaultLayer, d.channel);
  const canonical: Objective = {
    terms: spec.terms.map((t) => {
      const layer = resolveLayer(manifest, t.layer).name;
      if (t.kind === 'channel') {
        const channels = manifest.layers.find((l) => l.name === layer)!.channels;
        if (t.channel >= channels) throw new UserError(`--channel ${t.channel} is out of range: ${layer} has channels 0-${channels - 1}`);
      }
      return { ...t, layer };
    }),
  };
  return sum(canonical, ...extra);
}

/**
 * The objective of a dream stage: layers (weights, channel), a guide image's features at those
 * layers, classes and a neuron (`imageSize` places a neuron given in pixels).
 */
export async function objectiveOf(d: DreamSpec, runner: GradientRunner, imageSize?: { width: number; height: number }): Promise<Objective> {
  const objective = checkedObjective(d, runner.manifest, imageSize);
  if (d.guide === undefined) return objective;
  const guideImage: RgbImage = await readImage(d.guide, { fit: GUIDE_SIZE });
  const layered = objective.terms.filter((t) => t.kind === 'layer' || t.kind === 'channel');
  const rest = objective.terms.filter((t) => !(t.kind === 'layer' || t.kind === 'channel'));
  const guided = await Promise.all(
    layered.map(async (t) => {
      const f = await runner.features(guideImage, t.layer);
      return scale(guide(t.layer, f.features, f.channels), t.weight);
    }),
  );
  return sum(...guided, { terms: rest });
}

/** Split `what:weight` (weight optional, may be negative to suppress) at its last colon. */
function weighted(text: string): { what: string; weight: number } {
  const m = /^(.*?):(-?[\d.]+(?:[eE][-+]?\d+)?)$/.exec(text.trim());
  if (!m) return { what: text.trim(), weight: 1 };
  return { what: m[1]!.trim(), weight: Number(m[2]) };
}

const CLASS_SCORES: Record<string, ClassScore> = { logit: 'logit', probability: 'probability', prob: 'probability' };

/**
 * `--class "tabby cat"`, `--class 281`, `--class "tabby cat:2,bow tie:-1"`: the classes' logits
 * (or softmax probabilities with --class-score probability), by name or index, weights optional.
 */
export function classObjective(text: string, scoreText: string | undefined, manifest: ModelManifest): Objective {
  const score = CLASS_SCORES[scoreText ?? 'logit'];
  if (!score) throw new UserError(`--class-score must be logit or probability (got "${scoreText}")`);
  const layers = classifierLayers(manifest);
  const labels = loadLabels(manifest);
  const layerName = score === 'logit' ? layers.logits : layers.probability;
  // A whole label line (`tabby, tabby cat`) contains commas itself: try the text as one name first.
  const whole = weighted(text);
  let parts: Array<{ what: string; weight: number }>;
  try {
    resolveClass(labels, whole.what);
    parts = [whole];
  } catch {
    parts = text
      .split(',')
      .filter((p) => p.trim().length > 0)
      .map(weighted);
  }
  if (parts.length === 0) throw new UserError('--class is empty: name a class, e.g. "tabby cat" or 281');
  return sum(...parts.map((p) => classScore(layerName, resolveClass(labels, p.what), score, p.weight)));
}

/** One coordinate of `@x,y`: pixels of the dreamed image, or a percentage of its side. */
function positionFraction(text: string, side: number | undefined, axis: string): number {
  const t = text.trim();
  const percent = /^([\d.]+)%$/.exec(t);
  if (percent) {
    const v = Number(percent[1]) / 100;
    if (!(v >= 0 && v <= 1)) throw new UserError(`--neuron position ${axis}=${t} must lie from 0% to 100%`);
    return Math.min(v, 1 - 1e-9);
  }
  if (!/^\d+$/.test(t)) throw new UserError(`--neuron position ${axis}="${t}" must be whole pixels or a percentage, e.g. @40,30 or @50%,50%`);
  if (side === undefined) throw new UserError('--neuron: give the position in percent here (e.g. @50%,50%): the frame size is not known yet');
  const v = Number(t);
  if (v >= side) throw new UserError(`--neuron position ${axis}=${v} is outside the image (0-${side - 1})`);
  return (v + 0.5) / side;
}

/**
 * `--neuron LAYER:CHANNEL[@X,Y][:WEIGHT]`: one channel of a layer at one position (pixels of the
 * dreamed image or percentages; default the centre), mapped onto the layer's grid at each octave.
 */
export function neuronObjective(text: string, manifest: ModelManifest, imageSize?: { width: number; height: number }): Objective {
  const m = /^(.+?):(\d+)(?:@([^:]+))?(?::(-?[\d.]+(?:[eE][-+]?\d+)?))?$/.exec(text.trim());
  if (!m) throw new UserError(`--neuron must look like inception_4c/output:139 or inception_4c/output:139@40,30 (got "${text}")`);
  const layer = resolveLayer(manifest, m[1]!).name;
  const index = Number(m[2]);
  const channels = manifest.layers.find((l) => l.name === layer)!.channels;
  if (index >= channels) throw new UserError(`--neuron channel ${index} is out of range: ${layer} has channels 0-${channels - 1}`);
  let x = 0.5;
  let y = 0.5;
  if (m[3] !== undefined) {
    const xy = m[3].split(',');
    if (xy.length !== 2) throw new UserError(`--neuron position must be X,Y (got "${m[3]}")`);
    x = positionFraction(xy[0]!, imageSize?.width, 'x');
    y = positionFraction(xy[1]!, imageSize?.height, 'y');
  }
  const weight = m[4] === undefined ? 1 : Number(m[4]);
  return neuron(layer, index, x, y, weight);
}

/** A dream stage section with its defaults applied (for jobs whose flags are not a preset's). */
export function dreamFromSection(item: SectionConfig, source: SourceKind = 'image'): DreamSpec {
  const spec: PipelineSpec = { source: { kind: source }, stages: [item], sinks: [] };
  return dreamOf(spec);
}
