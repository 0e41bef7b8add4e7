/**
 * Picture jobs: an image source (a file or a synthetic start) into an image sink, and a folder
 * source into a folder sink, through the one run loop (runLoop.ts; the picture frames, dreaming
 * and sink are pictureLoop.ts). Each picture is dreamed whole by the stage plan's dream settings
 * and carries its recipe (recipe.ts).
 */
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, stat } from 'node:fs/promises';
import { extname, join, resolve } from 'node:path';
import { describe, type Objective } from '../dream/objectives.js';
import { createRunner, type GradientRunner } from '../dream/runner.js';
import { missingFile, Stopped, UserError, writeError } from '../errors.js';
import { parseSize } from '../media/size.js';
import type { Frame } from '../frame.js';
import { checkImageOutput, imageFormatOf } from '../sinks/imageFile.js';
import { confirmReplace } from '../sinks/outputGuard.js';
import { besideOutput } from '../paths.js';
import { writeAtomic } from './checkpoint.js';
import { readImage } from '../sources/image.js';
import { objectiveOf, runnerOptionsOf } from './dream.js';
import { checkDreamMemory, pictureSize } from './footprint.js';
import { pictureCostLine } from './estimate.js';
import { Progress } from './progress.js';
import { pictureDreaming, pictureFrame, PictureSink, type PictureFrame, type PictureHooks } from './pictureLoop.js';
import { startPicture } from './recipe.js';
import { runLoop } from './runLoop.js';
import type { JobResult, RunOptions } from './job.js';
import { section as folderSink } from './sinks/folder.js';
import { section as imageSink } from './sinks/image.js';
import { section as folderSource } from './sources/folder.js';
import { section as imageSource } from './sources/image.js';
import type { PipelineSpec } from './spec/fields.js';
import { sinkSettings, sourceSettings } from './spec/settings.js';
import { stagePlan, stagesOf, type StageChain, type StagePlan } from './stages.js';

const STILL_EXTENSIONS = ['.jpg', '.jpeg', '.png', '.webp', '.tif', '.tiff', '.avif'];

export async function runImageJob(spec: PipelineSpec, opts: RunOptions): Promise<JobResult> {
  const source = sourceSettings(spec, imageSource)!;
  const output = sinkSettings(spec, imageSink)!.path;
  checkImageOutput(output);
  const plan = stagePlan(spec);
  // A picture too large for this machine's memory was refused before this (run.ts, PRECHECKS).
  const start = await startPicture(source, plan.settings.seed, 'image');
  const image = start.image;
  const started = performance.now();
  const runner = await createRunner(runnerOptionsOf(plan.dream, opts.quiet));
  try {
    const obj = await objectiveOf(plan.dream, runner, image);
    // The picture's own size can be slow: say what it costs here, and what a smaller one would.
    if (!opts.quiet && source.size === undefined && source.from === undefined) {
      const line = await pictureCostLine(runner, obj, plan.settings, image);
      if (line) process.stderr.write(`dreamflow: ${line}\n`);
    }
    const steps = plan.settings.iterations * plan.settings.octaves;
    const progress = new Progress('dreaming', steps, opts.quiet);
    let done = 0;
    const hooks: PictureHooks = {
      onProgress: (p) => progress.update(++done, `octave ${p.octave}/${p.octaves}`),
      signal: opts.signal,
      onDreamed: () => {
        progress.done();
        if (opts.signal?.aborted) throw new Stopped();
      },
    };
    const sink = new PictureSink({ command: 'image', runner, objective: obj, dream: plan.dream, settings: plan.settings });
    await runLoop(picturesOf([pictureFrame(image, 0, start, output)]), pictureStages(plan, runner, obj, hooks), [sink]);
    // A dream keeps the size of the picture it starts from.
    const result = { width: image.width, height: image.height };
    const gain = sink.lastGain;
    const summary = {
      output,
      width: result.width,
      height: result.height,
      ...runFacts(runner, obj, plan.settings.seed, started, gain),
    };
    return { summary, line: `wrote ${output} (${result.width}x${result.height}, dream gain ${summary.dreamGain}, ${summary.seconds} s on ${runner.backend})` };
  } finally {
    await runner.close();
  }
}

/**
 * The settings an unfinished stills run dreams with, hidden beside its output folder
 * (`.OUT.dreamflow-stills.json`) until the run ends: a resume must match them.
 */
const STILLS_SETTINGS = '.dreamflow-stills.json';

async function listStills(folder: string): Promise<string[]> {
  const info = await stat(folder).catch(() => undefined);
  if (!info) throw missingFile('folder', folder);
  if (!info.isDirectory()) throw new UserError(`${folder} is not a folder (use "dreamflow image" for one picture)`);
  const names = (await readdir(folder)).filter((n) => !n.startsWith('.') && STILL_EXTENSIONS.includes(extname(n).toLowerCase()));
  if (names.length === 0) throw new UserError(`${folder} holds no pictures (${STILL_EXTENSIONS.join(' ')})`);
  return names.sort();
}

export async function runStillsJob(spec: PipelineSpec, opts: RunOptions): Promise<JobResult> {
  const source = sourceSettings(spec, folderSource)!;
  const input = source.path;
  const output = sinkSettings(spec, folderSink)!.path;
  if (resolve(input) === resolve(output)) throw new UserError('stills: the output folder must differ from the input folder');
  const names = await listStills(input);
  const plan = stagePlan(spec);
  const size = source.size ? parseSize(source.size) : undefined;
  for (const name of names) imageFormatOf(join(output, name));
  // The largest picture decides (they are dreamed one at a time), from the files' headers, before
  // the output folder is made.
  let largest: { width: number; height: number } | undefined;
  for (const name of names) {
    const s = await pictureSize({ path: join(input, name), size: source.size });
    if (s && (!largest || s.width * s.height > largest.width * largest.height)) largest = s;
  }
  if (largest) checkDreamMemory(plan.dream, largest, 'image', { onWarning: opts.onWarning });
  // A resume skips the pictures already there, so they must come from the same settings; without
  // --resume, pictures already there are replaced only as the overwrite policy says.
  const settingsFile = besideOutput(output, STILLS_SETTINGS);
  const settings = JSON.stringify({ version: 1, size: source.size ?? null, dream: plan.dream, settings: plan.settings });
  if (opts.resume) {
    const before = await readFile(settingsFile, 'utf8').catch(() => undefined);
    if (before !== undefined && before !== settings) {
      throw new UserError(`cannot resume: the pictures in ${output} were dreamed with other settings (size, layer or dream options); run without --resume to dream them again, or choose another folder`);
    }
  } else {
    await confirmReplace(names.map((n) => join(output, n)), opts.overwrite ?? 'ask');
  }
  await mkdir(output, { recursive: true }).catch((err: Error) => {
    throw writeError(err, output) ?? new UserError(`cannot create output folder ${output}: ${err.message}`);
  });
  checkImageOutput(join(output, names[0]!));
  await writeAtomic(settingsFile, settings);

  const started = performance.now();
  const runner = await createRunner(runnerOptionsOf(plan.dream, opts.quiet));
  try {
    const obj = await objectiveOf(plan.dream, runner);
    const progress = new Progress('dreaming', names.length, opts.quiet, 'pictures');
    let skipped = 0;
    let current = 0;
    // The folder's pictures in order; a resume skips those already there.
    async function* pictures(): AsyncGenerator<Frame> {
      for (const [i, name] of names.entries()) {
        current = i;
        const target = join(output, name);
        if (opts.resume && existsSync(target)) {
          skipped++;
          progress.update(i + 1, name);
          continue;
        }
        const picture = join(input, name);
        const image = await readImage(picture, size);
        yield pictureFrame(image, i, { input: picture, from: null, size: source.size ?? null }, target);
      }
    }
    const onWritten = (frame: PictureFrame): void => progress.update(frame.index + 1, names[frame.index]);
    const sink = new PictureSink({ command: 'stills', runner, objective: obj, dream: plan.dream, settings: plan.settings, onWritten });
    try {
      await runLoop(pictures(), pictureStages(plan, runner, obj, { signal: opts.signal }), [sink]);
    } catch (err) {
      if (err instanceof Stopped) throw new Stopped(`stopped after ${current} of ${names.length} pictures; run the same command with --resume to continue`);
      throw err;
    }
    const gains = sink.gains;
    progress.done();
    // Every picture is dreamed: nothing left to resume.
    await rm(settingsFile, { force: true });
    const meanGain = gains.length > 0 ? gains.reduce((a, b) => a + b, 0) / gains.length : undefined;
    const summary = {
      output,
      pictures: names.length,
      skipped,
      ...runFacts(runner, obj, plan.settings.seed, started, meanGain),
    };
    return { summary, line: `dreamed ${names.length - skipped} picture(s) into ${output} (mean dream gain ${summary.dreamGain}, ${summary.seconds} s)` };
  } finally {
    await runner.close();
  }
}

/** The spec's stage chain made by the registry, its dream stage dreaming each picture whole (pictureLoop.ts). */
function pictureStages(plan: StagePlan, runner: GradientRunner, objective: Objective, hooks: PictureHooks): StageChain {
  return stagesOf(plan, { runner, objective, dreaming: pictureDreaming(hooks) });
}

/** A picture source of frames already read. */
async function* picturesOf(frames: readonly PictureFrame[]): AsyncGenerator<Frame> {
  yield* frames;
}

/** What every picture job reports besides its outputs: time, gain, engine, model, objective, seed. */
function runFacts(runner: GradientRunner, obj: Objective, seed: number, started: number, gain: number | undefined) {
  return {
    seconds: Number(((performance.now() - started) / 1000).toFixed(2)),
    dreamGain: gain === undefined ? null : Number(gain.toFixed(3)),
    backend: runner.backend,
    model: runner.manifest.name,
    layers: describe(obj),
    seed,
  };
}
