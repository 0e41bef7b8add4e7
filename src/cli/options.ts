import { parseArgs, type ParseArgsConfig } from 'node:util';
import { DEFAULT_DREAM, validateSettings, type DreamSettings } from '../dream/deepdream.js';
import { classScore, guide, neuron, parseLayerSpec, scale, sum, type ClassScore, type Objective } from '../dream/objectives.js';
import { BLUR_TARGETS, NO_PRIORS, activePriors, type BlurTarget, type DreamPriors } from '../dream/priors.js';
import { classifierLayers, loadLabels, resolveClass } from '../models/labels.js';
import type { GradientRunner, RunnerOptions } from '../dream/runner.js';
import { BACKEND_REQUESTS, type BackendRequest } from '../engine/backend.js';
import { ONNX_DEVICES, type OnnxDevice } from '../engine/onnx/runtime.js';
import { UserError } from '../errors.js';
import { readImage } from '../sources/image.js';

type OptionSpec = NonNullable<ParseArgsConfig['options']>;

/** Options every dreaming command shares (image, video, live, vr). */
export const DREAM_OPTIONS = {
  model: { type: 'string' },
  layer: { type: 'string' },
  channel: { type: 'string' },
  guide: { type: 'string' },
  octaves: { type: 'string' },
  'octave-scale': { type: 'string' },
  iterations: { type: 'string' },
  step: { type: 'string' },
  jitter: { type: 'string' },
  tile: { type: 'string' },
  seed: { type: 'string' },
  backend: { type: 'string' },
  device: { type: 'string' },
  weights: { type: 'string' },
  workers: { type: 'string' },
  class: { type: 'string' },
  'class-score': { type: 'string' },
  neuron: { type: 'string' },
  tv: { type: 'string' },
  decay: { type: 'string' },
  blur: { type: 'string' },
  'blur-target': { type: 'string' },
  decorrelate: { type: 'boolean' },
} as const satisfies OptionSpec;

export type Values = Record<string, string | boolean | undefined>;

/** parseArgs with one-line errors instead of exceptions with stacks. */
export function parse(args: string[], options: OptionSpec, maxPositionals = 1): { values: Values; positionals: string[] } {
  let parsed;
  try {
    parsed = parseArgs({ args, options: { ...options, help: { type: 'boolean', short: 'h' } }, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UserError((err as Error).message.replace(/\. To specify a positional argument.*$/, ''));
  }
  if (parsed.positionals.length > maxPositionals) {
    throw new UserError(`unexpected argument "${parsed.positionals[maxPositionals]}"`);
  }
  return { values: parsed.values as Values, positionals: parsed.positionals };
}

export function str(values: Values, name: string): string | undefined {
  const v = values[name];
  return typeof v === 'string' ? v : undefined;
}

export function num(values: Values, name: string, fallback: number, check?: { integer?: boolean; min?: number; max?: number }): number {
  const raw = str(values, name);
  if (raw === undefined) return fallback;
  const n = Number(raw);
  const range = `${check?.min ?? '-∞'} to ${check?.max ?? '∞'}`;
  if (raw.trim() === '' || !Number.isFinite(n)) throw new UserError(`--${name} must be a number (got "${raw}")`);
  if (check?.integer && !Number.isInteger(n)) throw new UserError(`--${name} must be a whole number (got ${raw})`);
  if ((check?.min !== undefined && n < check.min) || (check?.max !== undefined && n > check.max)) {
    throw new UserError(`--${name} must be from ${range} (got ${raw})`);
  }
  return n;
}

export function dreamSettings(values: Values, defaults: DreamSettings = DEFAULT_DREAM): DreamSettings {
  const s: DreamSettings = {
    octaves: num(values, 'octaves', defaults.octaves, { integer: true, min: 1, max: 12 }),
    octaveScale: num(values, 'octave-scale', defaults.octaveScale, { min: 1.01, max: 4 }),
    iterations: num(values, 'iterations', defaults.iterations, { integer: true, min: 0, max: 10000 }),
    step: num(values, 'step', defaults.step, { min: 0.0001, max: 100 }),
    jitter: num(values, 'jitter', defaults.jitter, { integer: true, min: 0, max: 1024 }),
    tile: num(values, 'tile', defaults.tile, { integer: true, min: 64, max: 4096 }),
    seed: num(values, 'seed', defaults.seed, { integer: true, min: 0, max: 2 ** 32 - 1 }),
  };
  const priors = dreamPriors(values, defaults.priors);
  // Only a prior that is on enters the settings: without one they stay exactly the classic ones.
  if (priors) s.priors = priors;
  validateSettings(s);
  return s;
}

/** `--blur S[:E]`: sigma S at the first step of each octave, annealed linearly to E (default 0). */
export function parseBlur(text: string): { blur: number; blurEnd: number } {
  const m = /^\s*([\d.]+)\s*(?::\s*([\d.]+)\s*)?$/.exec(text);
  const blur = m ? Number(m[1]) : NaN;
  const blurEnd = m?.[2] === undefined ? 0 : Number(m[2]);
  if (!Number.isFinite(blur) || !Number.isFinite(blurEnd) || blur > 50 || blurEnd > 50) {
    throw new UserError(`--blur must be a sigma in pixels (0-50), optionally annealed to another: e.g. 1 or 2:0.5 (got "${text}")`);
  }
  return { blur, blurEnd };
}

/** The priors from --tv, --decay, --blur, --blur-target and --decorrelate; undefined when all are off. */
export function dreamPriors(values: Values, defaults: DreamPriors = NO_PRIORS): DreamPriors | undefined {
  const target = str(values, 'blur-target') ?? defaults.blurTarget;
  if (!BLUR_TARGETS.includes(target as BlurTarget)) throw new UserError(`--blur-target must be gradient or image (got "${target}")`);
  const blurText = str(values, 'blur');
  const p: DreamPriors = {
    tv: num(values, 'tv', defaults.tv, { min: 0, max: 100 }),
    decay: num(values, 'decay', defaults.decay, { min: 0, max: 0.99 }),
    ...(blurText === undefined ? { blur: defaults.blur, blurEnd: defaults.blurEnd } : parseBlur(blurText)),
    blurTarget: target as BlurTarget,
    decorrelate: values.decorrelate === true || defaults.decorrelate,
  };
  return activePriors(p);
}

export function runnerOptions(values: Values): RunnerOptions {
  const backend = str(values, 'backend') ?? 'auto';
  if (!BACKEND_REQUESTS.includes(backend as BackendRequest)) {
    throw new UserError(`--backend must be one of ${BACKEND_REQUESTS.join(', ')} (got "${backend}")`);
  }
  const device = str(values, 'device') ?? 'cpu';
  if (!ONNX_DEVICES.includes(device as OnnxDevice)) {
    throw new UserError(`--device must be one of ${ONNX_DEVICES.join(', ')} (got "${device}")`);
  }
  const workers = str(values, 'workers');
  return {
    model: str(values, 'model'),
    backend: backend as BackendRequest,
    device: device as OnnxDevice,
    weightsDir: str(values, 'weights'),
    workers: workers === undefined ? undefined : num(values, 'workers', 0, { integer: true, min: 0, max: 64 }),
  };
}

/** Side of the guide image fed to the network: about the network's training size. */
const GUIDE_SIZE = 224;

/**
 * The objective from `--layer a:1,b:0.5`, `--channel N` and `--guide IMG`, with layer names
 * checked against the model (typos get suggestions).
 */
export async function objective(values: Values, runner: GradientRunner, imageSize?: { width: number; height: number }): Promise<Objective> {
  const channelText = str(values, 'channel');
  const channel = channelText === undefined ? undefined : num(values, 'channel', 0, { integer: true, min: 0 });
  const classText = str(values, 'class');
  const neuronText = str(values, 'neuron');
  const extra: Objective[] = [];
  if (classText !== undefined) extra.push(classObjective(classText, str(values, 'class-score'), runner));
  if (neuronText !== undefined) extra.push(neuronObjective(neuronText, runner, imageSize));
  const layerText = str(values, 'layer');
  // A class or neuron stands alone unless layers are named too; then they add up.
  if (layerText === undefined && channel === undefined && extra.length > 0) {
    if (str(values, 'guide')) throw new UserError('--guide works with --layer: name the layer(s) whose features the guide should set');
    return sum(...extra);
  }
  const spec = parseLayerSpec(layerText ?? runner.manifest.defaultLayer, channel);
  const canonical: Objective = {
    terms: spec.terms.map((t) => {
      const layer = runner.layerName(t.layer);
      if (t.kind === 'channel') {
        const channels = runner.manifest.layers.find((l) => l.name === layer)!.channels;
        if (t.channel >= channels) throw new UserError(`--channel ${t.channel} is out of range: ${layer} has channels 0-${channels - 1}`);
      }
      return { ...t, layer };
    }),
  };
  const guidePath = str(values, 'guide');
  if (!guidePath) return sum(canonical, ...extra);
  const guideImage = await readImage(guidePath, { fit: GUIDE_SIZE });
  const guided = await Promise.all(
    canonical.terms.map(async (t) => {
      const f = await runner.features(guideImage, t.layer);
      return scale(guide(t.layer, f.features, f.channels), t.weight);
    }),
  );
  return sum(...guided, ...extra);
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
export function classObjective(text: string, scoreText: string | undefined, runner: GradientRunner): Objective {
  const score = CLASS_SCORES[scoreText ?? 'logit'];
  if (!score) throw new UserError(`--class-score must be logit or probability (got "${scoreText}")`);
  const layers = classifierLayers(runner.manifest);
  const labels = loadLabels(runner.manifest);
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
export function neuronObjective(text: string, runner: GradientRunner, imageSize?: { width: number; height: number }): Objective {
  const m = /^(.+?):(\d+)(?:@([^:]+))?(?::(-?[\d.]+(?:[eE][-+]?\d+)?))?$/.exec(text.trim());
  if (!m) throw new UserError(`--neuron must look like inception_4c/output:139 or inception_4c/output:139@40,30 (got "${text}")`);
  const layer = runner.layerName(m[1]!);
  const index = Number(m[2]);
  const channels = runner.manifest.layers.find((l) => l.name === layer)!.channels;
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
