import { existsSync } from 'node:fs';
import { mkdir, readdir, stat } from 'node:fs/promises';
import { extname, join, resolve } from 'node:path';
import { dream, dreamGain } from '../dream/deepdream.js';
import { describe } from '../dream/objectives.js';
import { createRunner } from '../dream/runner.js';
import { UserError } from '../errors.js';
import { Progress } from '../pipeline/progress.js';
import { checkImageOutput, writeImage } from '../sinks/imageFile.js';
import { readImage } from '../sources/image.js';
import { parseSize } from '../media/size.js';
import { DREAM_OPTIONS, dreamSettings, objective, parse, runnerOptions, str } from './options.js';
import { makeRecipe, recipeProvenance } from './recipe.js';

export const STILLS_HELP = `dreamflow stills DIR -o OUTDIR [options]

Dream every picture of a folder (jpg, jpeg, png, webp, tif, tiff, avif) into another folder,
same names and formats. The model loads once for the whole folder.

  -o, --output DIR       folder for the dreamed pictures (created if missing)
      --size N|WxH       working size: fit inside NxN, or exactly WxH (default: each image's own)
      --resume           skip pictures already in the output folder (after an interruption)
      --json             print one JSON line with the result
      --quiet            no progress output
  Dream options (as for "dreamflow image"): --model --layer --channel --guide --octaves
  --octave-scale --iterations --step --jitter --tile --seed --backend --device --weights --workers
  --class --class-score --neuron --tv --decay --blur --blur-target --decorrelate`;

const STILL_EXTENSIONS = ['.jpg', '.jpeg', '.png', '.webp', '.tif', '.tiff', '.avif'];

async function listStills(folder: string): Promise<string[]> {
  const info = await stat(folder).catch(() => undefined);
  if (!info) throw new UserError(`no such folder: ${folder}`);
  if (!info.isDirectory()) throw new UserError(`${folder} is not a folder (use "dreamflow image" for one picture)`);
  const names = (await readdir(folder)).filter((n) => !n.startsWith('.') && STILL_EXTENSIONS.includes(extname(n).toLowerCase()));
  if (names.length === 0) throw new UserError(`${folder} holds no pictures (${STILL_EXTENSIONS.join(' ')})`);
  return names.sort();
}

export async function stillsCommand(args: string[]): Promise<void> {
  const { values, positionals } = parse(args, {
    ...DREAM_OPTIONS,
    output: { type: 'string', short: 'o' },
    size: { type: 'string' },
    resume: { type: 'boolean' },
    json: { type: 'boolean' },
    quiet: { type: 'boolean' },
  });
  if (values.help) {
    console.log(STILLS_HELP);
    return;
  }
  const input = positionals[0];
  const output = str(values, 'output');
  if (!input) throw new UserError('stills: missing input folder (dreamflow stills DIR -o OUTDIR)');
  if (!output) throw new UserError('stills: missing -o OUTDIR');
  if (resolve(input) === resolve(output)) throw new UserError('stills: the output folder must differ from the input folder');
  const names = await listStills(input);
  const settings = dreamSettings(values);
  const sizeText = str(values, 'size');
  const size = sizeText ? parseSize(sizeText) : undefined;
  const quiet = Boolean(values.quiet) || Boolean(values.json);
  await mkdir(output, { recursive: true }).catch((err: Error) => {
    throw new UserError(`cannot create output folder ${output}: ${err.message}`);
  });
  for (const name of names) checkImageOutput(join(output, name));

  const started = performance.now();
  const runner = await createRunner({ ...runnerOptions(values), quiet });
  try {
    const obj = await objective(values, runner);
    const progress = new Progress('dreaming', names.length, quiet, 'pictures');
    const gains: number[] = [];
    let skipped = 0;
    for (const [i, name] of names.entries()) {
      const target = join(output, name);
      if (values.resume && existsSync(target)) {
        skipped++;
      } else {
        const source = join(input, name);
        const image = await readImage(source, size);
        const result = await dream(runner, image, obj, settings);
        const gain = await dreamGain(runner, image, result, obj, settings.tile);
        if (gain !== undefined) gains.push(gain);
        // Each picture carries the settings that made it, like "dreamflow image" output does.
        const recipe = makeRecipe('stills', { input: source, from: null, size: sizeText ?? null }, result, runner, values, obj, settings, gain);
        await writeImage(target, result, recipeProvenance(recipe, target));
      }
      progress.update(i + 1, name);
    }
    progress.done();
    const meanGain = gains.length > 0 ? gains.reduce((a, b) => a + b, 0) / gains.length : undefined;
    const summary = {
      output,
      pictures: names.length,
      skipped,
      seconds: Number(((performance.now() - started) / 1000).toFixed(2)),
      dreamGain: meanGain === undefined ? null : Number(meanGain.toFixed(3)),
      backend: runner.backend,
      model: runner.manifest.name,
      layers: describe(obj),
      seed: settings.seed,
    };
    if (values.json) console.log(JSON.stringify(summary));
    else if (!values.quiet) console.log(`dreamed ${names.length - skipped} picture(s) into ${output} (mean dream gain ${summary.dreamGain}, ${summary.seconds} s)`);
  } finally {
    await runner.close();
  }
}
