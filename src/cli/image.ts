import { dream, dreamGain } from '../dream/deepdream.js';
import { describe } from '../dream/objectives.js';
import { createRunner } from '../dream/runner.js';
import { UserError } from '../errors.js';
import { Progress } from '../pipeline/progress.js';
import { checkImageOutput, writeImage } from '../sinks/imageFile.js';
import { parseSize, readImage } from '../sources/image.js';
import { DREAM_OPTIONS, dreamSettings, objective, parse, runnerOptions, str } from './options.js';

export const IMAGE_HELP = `dreamflow image IN -o OUT [options]

Dream one picture (any format sharp reads: jpg, png, webp, tiff, avif, gif).

  -o, --output FILE      where to write the dreamed image (format from the extension)
      --size N|WxH       working size: fit inside NxN, or exactly WxH (default: the image's own)
      --model NAME       bvlc_googlenet (default) or squeezenet
      --layer L[:w],...  layer(s) to amplify, with optional weights (default inception_4c/output)
      --channel N        amplify one channel of the layer instead of the whole layer
      --guide IMG        make the dream look like this image's features at the layer
      --octaves N        octaves in the pyramid (default 4)
      --octave-scale X   size ratio between octaves (default 1.4)
      --iterations N     gradient steps per octave (default 10)
      --step X           normalised step size (default 1.5)
      --jitter N         random roll per step in pixels (default 32)
      --tile N           largest tile the network sees at once (default 512)
      --seed N           seed of the jitter (default 0): same seed, same backend, same image
      --backend B        auto | wasm | cpu | tensorflow (default auto)
      --weights DIR      folder holding the model weights
      --workers N        worker threads (default: one per core; 0 = this thread)
      --json             print one JSON line with the result
      --quiet            no progress output`;

export async function imageCommand(args: string[]): Promise<void> {
  const { values, positionals } = parse(args, {
    ...DREAM_OPTIONS,
    output: { type: 'string', short: 'o' },
    size: { type: 'string' },
    json: { type: 'boolean' },
    quiet: { type: 'boolean' },
  });
  if (values.help) {
    console.log(IMAGE_HELP);
    return;
  }
  const input = positionals[0];
  const output = str(values, 'output');
  if (!input) throw new UserError('image: missing input file (dreamflow image IN -o OUT)');
  if (!output) throw new UserError('image: missing -o OUT');
  checkImageOutput(output);
  const settings = dreamSettings(values);
  const sizeText = str(values, 'size');
  const image = await readImage(input, sizeText ? parseSize(sizeText) : undefined);
  const started = performance.now();
  const runner = await createRunner({ ...runnerOptions(values), quiet: Boolean(values.quiet) });
  try {
    const obj = await objective(values, runner);
    const steps = settings.iterations * settings.octaves;
    const progress = new Progress('dreaming', steps, Boolean(values.quiet) || Boolean(values.json));
    let done = 0;
    const result = await dream(runner, image, obj, settings, (p) => progress.update(++done, `octave ${p.octave}/${p.octaves}`));
    progress.done();
    const gain = await dreamGain(runner, image, result, obj, settings.tile);
    await writeImage(output, result, `dreamflow ${describe(obj).join(',')} seed ${settings.seed}`);
    const summary = {
      output,
      width: result.width,
      height: result.height,
      seconds: Number(((performance.now() - started) / 1000).toFixed(2)),
      dreamGain: gain === undefined ? null : Number(gain.toFixed(3)),
      backend: runner.backend,
      model: runner.manifest.name,
      layers: describe(obj),
      seed: settings.seed,
    };
    if (values.json) console.log(JSON.stringify(summary));
    else if (!values.quiet) console.log(`wrote ${output} (${result.width}x${result.height}, dream gain ${summary.dreamGain}, ${summary.seconds} s on ${runner.backend})`);
  } finally {
    await runner.close();
  }
}
