import { parseArgs, type ParseArgsConfig } from 'node:util';
import { DEFAULT_DREAM, validateSettings, type DreamSettings } from '../dream/deepdream.js';
import { guide, parseLayerSpec, scale, sum, type Objective } from '../dream/objectives.js';
import type { GradientRunner, RunnerOptions } from '../dream/runner.js';
import { BACKEND_REQUESTS, type BackendRequest } from '../engine/backend.js';
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
  weights: { type: 'string' },
  workers: { type: 'string' },
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
  validateSettings(s);
  return s;
}

export function runnerOptions(values: Values): RunnerOptions {
  const backend = str(values, 'backend') ?? 'auto';
  if (!BACKEND_REQUESTS.includes(backend as BackendRequest)) {
    throw new UserError(`--backend must be one of ${BACKEND_REQUESTS.join(', ')} (got "${backend}")`);
  }
  const workers = str(values, 'workers');
  return {
    model: str(values, 'model'),
    backend: backend as BackendRequest,
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
export async function objective(values: Values, runner: GradientRunner): Promise<Objective> {
  const channelText = str(values, 'channel');
  const channel = channelText === undefined ? undefined : num(values, 'channel', 0, { integer: true, min: 0 });
  const spec = parseLayerSpec(str(values, 'layer') ?? runner.manifest.defaultLayer, channel);
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
  if (!guidePath) return canonical;
  const guideImage = await readImage(guidePath, { fit: GUIDE_SIZE });
  const guided = await Promise.all(
    canonical.terms.map(async (t) => {
      const f = await runner.features(guideImage, t.layer);
      return scale(guide(t.layer, f.features, f.channels), t.weight);
    }),
  );
  return sum(...guided);
}
