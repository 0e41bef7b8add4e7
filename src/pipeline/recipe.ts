import type { DreamSettings } from '../dream/deepdream.js';
import { fromBytes, type RgbImage } from '../dream/image.js';
import { describe, type Objective } from '../dream/objectives.js';
import type { GradientRunner } from '../dream/runner.js';
import { UserError } from '../errors.js';
import { parseSize } from '../media/size.js';
import { dreamflowVersion } from '../paths.js';
import type { Provenance } from '../sinks/provenance.js';
import { readImage } from '../sources/image.js';
import { startImage, type StartKind } from '../sources/synthetic.js';
import type { DreamSpec } from './dream.js';
import { argsOfSpec, type PipelineSpec, type SectionConfig } from './spec.js';

/**
 * A recipe is everything that decides a dreamed picture's pixels, as data: the `dreamflow image`
 * pipeline spec that makes them (same seed, backend and workers, every setting written out),
 * embedded in every output picture (`dreamflow info` prints it) and in sweep JSON.
 */
export interface DreamRecipe {
  dreamflow: string;
  /** The subcommand that made the file (image, stills, sweep). */
  command: string;
  /** The image pipeline that remakes the picture; its sink path is a placeholder. */
  spec: PipelineSpec;
  width: number;
  height: number;
  /** The objective's terms, described (e.g. `inception_4c/output`, `class#281`). */
  terms: string[];
  settings: DreamSettings;
  dreamGain?: number | null;
}

export { dreamflowVersion };

/** How many workers reproduce the runner's tiling: its parallelism (0 = this thread on tensorflow). */
export function runnerWorkers(runner: GradientRunner): number {
  return runner.backend === 'tensorflow' && runner.parallelism === 1 ? 0 : runner.parallelism;
}

/** Where a dream started: an input picture, or a synthetic one. */
export interface StartPicture {
  image: RgbImage;
  input: string | null;
  from: StartKind | null;
  /** `--size` as given (null: the picture's own size). */
  size: string | null;
  /** `--at`: the time of the video frame the picture is (undefined: the input is a picture). */
  at?: number | undefined;
}

const VIDEO_EXTENSIONS = /\.(mp4|m4v|mov|mkv|webm|avi|mpg|mpeg|ts|mts|m2ts|wmv|flv|3gp|ogv)$/i;

/**
 * The frame of a video at `at` seconds, as `dreamflow video --start AT` decodes it: at the video's
 * working size (the input's own, or `size`, made even), so `image CLIP --at T` previews what the
 * video job makes of that frame.
 */
export async function videoFrameAt(path: string, at: number, size: string | undefined): Promise<RgbImage> {
  const { FrameDecoder } = await import('../media/decoder.js');
  const { workingSize } = await import('./videoJob.js');
  const probe = await FrameDecoder.open(path, { start: at, maxFrames: 1 });
  const seconds = probe.timing?.seconds ?? probe.media.durationSeconds;
  await probe.close();
  const decoder = await FrameDecoder.open(path, { start: at, maxFrames: 1, size: workingSize(probe.media.width, probe.media.height, size ? parseSize(size) : undefined) });
  try {
    for await (const frame of decoder) return fromBytes(frame.width, frame.height, frame.data);
  } finally {
    await decoder.close();
  }
  throw new UserError(`${path}: no frame at ${at} s (the video is ${seconds.toFixed(2)} s long)`);
}

/** Side of a synthetic start when no --size is given: the network's training size. */
export const DEFAULT_START_SIZE = 224;

/**
 * The picture a dream starts from: the input file at `size`, or with `from` (and no input) a
 * synthetic noise or grey picture of `size` N (N×N) or WxH, seeded by `seed`.
 */
export async function startPicture(start: { path?: string; from?: StartKind; size?: string; at?: number }, seed: number, command: string): Promise<StartPicture> {
  if (start.from === undefined) {
    if (!start.path) throw new UserError(`${command}: missing input file (or --from noise|gray to start without one)`);
    if (start.at !== undefined) return { image: await videoFrameAt(start.path, start.at, start.size), input: start.path, from: null, size: start.size ?? null, at: start.at };
    if (VIDEO_EXTENSIONS.test(start.path)) throw new UserError(`${start.path} is a video: add --at SECONDS to dream one of its frames as dreamflow video would (or use dreamflow video)`);
    const image = await readImage(start.path, start.size ? parseSize(start.size) : undefined);
    return { image, input: start.path, from: null, size: start.size ?? null };
  }
  if (start.path) throw new UserError(`${command}: give an input file or --from ${start.from}, not both`);
  if (start.at !== undefined) throw new UserError(`${command}: --at picks a frame of a video input, not of --from ${start.from}`);
  const size = parseSize(start.size ?? String(DEFAULT_START_SIZE));
  const [w, h] = 'fit' in size ? [size.fit, size.fit] : [size.width, size.height];
  return { image: startImage(start.from, w, h, seed), input: null, from: start.from, size: start.size ?? null };
}

/** The recipe of one dreamed picture: what `command` did to `start` with `dream` to make `result`. */
export function makeRecipe(
  command: string,
  start: Pick<StartPicture, 'input' | 'from' | 'size' | 'at'>,
  result: { width: number; height: number },
  runner: GradientRunner,
  dream: DreamSpec,
  obj: Objective,
  settings: DreamSettings,
  gain: number | undefined,
): DreamRecipe {
  const source: SectionConfig = { kind: 'image' };
  if (start.input !== null) source.path = start.input;
  else source.from = start.from ?? 'noise';
  if (start.size !== null) source.size = start.size;
  if (start.at !== undefined) source.at = start.at;
  // The engine that ran, not the one asked for: `auto` may pick another on another machine.
  const stage: SectionConfig = { ...dream, model: runner.manifest.name, backend: runner.backend, workers: runnerWorkers(runner) };
  if (runner.device !== 'cpu') stage.device = runner.device;
  else delete stage.device;
  return {
    dreamflow: dreamflowVersion(),
    command,
    spec: { source, stages: [stage], sinks: [{ kind: 'image', path: 'OUT' }] },
    width: result.width,
    height: result.height,
    terms: describe(obj),
    settings,
    dreamGain: gain ?? null,
  };
}

/** `dreamflow image` arguments (after the subcommand) that remake a recipe into `output`. */
export function recipeArgs(r: DreamRecipe, output: string): string[] {
  return argsOfSpec('image', { ...r.spec, sinks: [{ kind: 'image', path: output }] });
}

/** One argument quoted for a POSIX shell when it needs it (for printing, never for spawning). */
export function shellQuote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

/** The `dreamflow image …` command line for arguments from `recipeArgs`, quoted for a shell. */
export function commandLine(args: readonly string[]): string {
  return ['dreamflow', 'image', ...args].map(shellQuote).join(' ');
}

/** What an output picture embeds: its recipe and the command line that remakes it into `output`. */
export function recipeProvenance(recipe: DreamRecipe, output: string): Provenance {
  return { ...recipe, reproduce: commandLine(recipeArgs(recipe, output)) };
}
