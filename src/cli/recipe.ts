import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DreamSettings } from '../dream/deepdream.js';
import type { RgbImage } from '../dream/image.js';
import { describe, type Objective } from '../dream/objectives.js';
import type { GradientRunner } from '../dream/runner.js';
import { UserError } from '../errors.js';
import { packageRoot } from '../paths.js';
import type { Provenance } from '../sinks/provenance.js';
import { readImage } from '../sources/image.js';
import { parseSize } from '../media/size.js';
import { parseStartKind, startImage, type StartKind } from '../sources/synthetic.js';
import { str, type Values } from './options.js';

/**
 * A recipe is everything that decides a dreamed image's pixels, as data: it is embedded in every
 * output image (`dreamflow info` prints it) and in sweep JSON, and `recipeArgs` turns it back
 * into the `dreamflow image` flags that make the same pixels (same seed, backend and workers).
 */
export interface DreamRecipe {
  dreamflow: string;
  /** The subcommand that made the file (image, sweep, layers). */
  command: string;
  /** Input picture as given, or null for a synthetic start. */
  input: string | null;
  from: StartKind | null;
  /** `--size` as given (null: the picture's own size). */
  size: string | null;
  width: number;
  height: number;
  model: string;
  backend: string;
  /** Execution provider of the onnx backend, when not the CPU. */
  device?: string;
  /** Worker threads: tiles are split for them, so they are part of what fixes the pixels. */
  workers: number;
  /** The objective flags as given (layer, channel, guide, class, classScore, neuron). */
  objective: ObjectiveFlags;
  /** The objective's terms, described (e.g. `inception_4c/output`, `class#281`). */
  terms: string[];
  settings: DreamSettings;
  dreamGain?: number | null;
}

export interface ObjectiveFlags {
  layer?: string;
  channel?: string;
  guide?: string;
  class?: string;
  classScore?: string;
  neuron?: string;
}

let version: string | undefined;

export function dreamflowVersion(): string {
  version ??= (JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;
  return version;
}

export function objectiveFlags(values: Values): ObjectiveFlags {
  const out: ObjectiveFlags = {};
  const set = (key: keyof ObjectiveFlags, flag: string): void => {
    const v = str(values, flag);
    if (v !== undefined) out[key] = v;
  };
  set('layer', 'layer');
  set('channel', 'channel');
  set('guide', 'guide');
  set('class', 'class');
  set('classScore', 'class-score');
  set('neuron', 'neuron');
  return out;
}

/** Where a dream started, as `recipe` records it. */
export type RecipeStart = Pick<StartPicture, 'input' | 'from' | 'size'>;

/** The recipe of one dreamed picture: what `command` did to `start` to make `result`. */
export function makeRecipe(
  command: string,
  start: RecipeStart,
  result: { width: number; height: number },
  runner: GradientRunner,
  values: Values,
  obj: Objective,
  settings: DreamSettings,
  gain: number | undefined,
): DreamRecipe {
  return {
    dreamflow: dreamflowVersion(),
    command,
    input: start.input,
    from: start.from,
    size: start.size,
    width: result.width,
    height: result.height,
    model: runner.manifest.name,
    backend: runner.backend,
    ...(runner.device !== 'cpu' ? { device: runner.device } : {}),
    workers: runnerWorkers(runner),
    objective: objectiveFlags(values),
    terms: describe(obj),
    settings,
    dreamGain: gain ?? null,
  };
}

/** What an output image embeds: its recipe and the command line that remakes it into `output`. */
export function recipeProvenance(recipe: DreamRecipe, output: string): Provenance {
  return { ...recipe, reproduce: commandLine(recipeArgs(recipe, output)) };
}

/** How many workers reproduce the runner's tiling: its parallelism (0 = this thread on tensorflow). */
export function runnerWorkers(runner: GradientRunner): number {
  return runner.backend === 'tensorflow' && runner.parallelism === 1 ? 0 : runner.parallelism;
}

/** The flags of the dream settings and priors, every one explicit (defaults can change). */
export function settingsArgs(s: DreamSettings): string[] {
  const args = [
    '--octaves', String(s.octaves),
    '--octave-scale', String(s.octaveScale),
    '--iterations', String(s.iterations),
    '--step', String(s.step),
    '--jitter', String(s.jitter),
    '--tile', String(s.tile),
    '--seed', String(s.seed),
  ];
  const p = s.priors;
  if (p) {
    if (p.tv > 0) args.push('--tv', String(p.tv));
    if (p.decay > 0) args.push('--decay', String(p.decay));
    if (p.blur > 0 || p.blurEnd > 0) args.push('--blur', `${p.blur}:${p.blurEnd}`, '--blur-target', p.blurTarget);
    if (p.decorrelate) args.push('--decorrelate');
  }
  return args;
}

/** `dreamflow image` arguments (after the subcommand) that reproduce a recipe into `output`. */
export function recipeArgs(r: DreamRecipe, output: string): string[] {
  const args: string[] = r.input !== null ? [r.input] : ['--from', r.from ?? 'noise'];
  args.push('-o', output);
  if (r.size !== null) args.push('--size', r.size);
  args.push('--model', r.model, '--backend', r.backend, '--workers', String(r.workers));
  if (r.device !== undefined) args.push('--device', r.device);
  const o = r.objective;
  if (o.layer !== undefined) args.push('--layer', o.layer);
  if (o.channel !== undefined) args.push('--channel', o.channel);
  if (o.guide !== undefined) args.push('--guide', o.guide);
  if (o.class !== undefined) args.push('--class', o.class);
  if (o.classScore !== undefined) args.push('--class-score', o.classScore);
  if (o.neuron !== undefined) args.push('--neuron', o.neuron);
  args.push(...settingsArgs(r.settings));
  return args;
}

/** One argument quoted for a POSIX shell when it needs it (for printing, never for spawning). */
export function shellQuote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

/** The `dreamflow image …` command line for arguments from `recipeArgs`, quoted for a shell. */
export function commandLine(args: readonly string[]): string {
  return ['dreamflow', 'image', ...args].map(shellQuote).join(' ');
}

/** Side of a synthetic start when no --size is given: the network's training size. */
const DEFAULT_START_SIZE = 224;

export interface StartPicture {
  image: RgbImage;
  input: string | null;
  from: StartKind | null;
  size: string | null;
}

/**
 * The picture a dream starts from: the input file at `--size`, or with `--from noise|gray` (and
 * no input) a synthetic one of `--size` N (N×N) or WxH, seeded by `--seed`.
 */
export async function startPicture(values: Values, input: string | undefined, seed: number, command: string): Promise<StartPicture> {
  const fromText = str(values, 'from');
  const sizeText = str(values, 'size');
  if (fromText === undefined) {
    if (!input) throw new UserError(`${command}: missing input file (or --from noise|gray to start without one)`);
    const image = await readImage(input, sizeText ? parseSize(sizeText) : undefined);
    return { image, input, from: null, size: sizeText ?? null };
  }
  const from = parseStartKind(fromText);
  if (input) throw new UserError(`${command}: give an input file or --from ${from}, not both`);
  const size = parseSize(sizeText ?? String(DEFAULT_START_SIZE));
  const [w, h] = 'fit' in size ? [size.fit, size.fit] : [size.width, size.height];
  return { image: startImage(from, w, h, seed), input: null, from, size: sizeText ?? null };
}
