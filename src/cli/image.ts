import { dream, dreamGain } from '../dream/deepdream.js';
import { describe } from '../dream/objectives.js';
import { createRunner } from '../dream/runner.js';
import { UserError } from '../errors.js';
import { Progress } from '../pipeline/progress.js';
import { checkImageOutput, writeImage } from '../sinks/imageFile.js';
import { DREAM_OPTIONS, dreamSettings, objective, parse, runnerOptions, str } from './options.js';
import { makeRecipe, recipeProvenance, startPicture } from './recipe.js';

export const IMAGE_HELP = `dreamflow image IN -o OUT [options]
dreamflow image --from noise|gray --size N|WxH -o OUT [options]

Dream one picture (any format sharp reads: jpg, png, webp, tiff, avif, gif), or dream from
nothing. The output carries its full settings (dreamflow info OUT prints them).

  -o, --output FILE      where to write the dreamed image (format from the extension)
      --size N|WxH       working size: fit inside NxN, or exactly WxH (default: the image's own;
                         with --from, N means NxN, default 224)
      --from noise|gray  start from faint noise or flat grey instead of an input picture
      --model NAME       bvlc_googlenet (default) or squeezenet
      --layer L[:w],...  layer(s) to amplify, with optional weights, negative to suppress
                         (default inception_4c/output)
      --channel N        amplify one channel of the layer instead of the whole layer
      --guide IMG        make the dream look like this image's features at the layer
      --class C[:w],...  make the image more like a class: name ("tabby cat") or index (281)
      --class-score S    logit (default) or probability
      --neuron L:N[@X,Y][:w]  one neuron: channel N of layer L at pixel X,Y (or X%,Y%;
                         default the centre)
      --tv W             total-variation prior weight (default 0 = off; try 0.3)
      --decay X          L2 decay of the dreamed detail per step (default 0 = off; try 0.05)
      --blur S[:E]       Gaussian blur sigma in pixels, annealed from S to E over each octave
                         (default off; E defaults to 0; try 1)
      --blur-target T    gradient (default) or image (the dreamed detail)
      --decorrelate      decorrelated step: ImageNet colour decorrelation and a 1/f spectrum
      --octaves N        octaves in the pyramid (default 4)
      --octave-scale X   size ratio between octaves (default 1.4)
      --iterations N     gradient steps per octave (default 10)
      --step X           normalised step size (default 1.5)
      --jitter N         random roll per step in pixels (default 32)
      --tile N           largest tile the network sees at once (default 512)
      --seed N           seed of the jitter (default 0): same seed, same backend, same image
      --backend B        auto | onnx | wasm | cpu | tensorflow (default auto: onnx when it loads)
      --device D         where onnx runs: cpu | cuda | webgpu (default cpu)
      --weights DIR      folder holding the model weights
      --workers N        worker threads (default: 1 on onnx, one per core on wasm; 0 = this thread)
      --json             print one JSON line with the result
      --quiet            no progress output`;

export async function imageCommand(args: string[]): Promise<void> {
  const { values, positionals } = parse(args, {
    ...DREAM_OPTIONS,
    output: { type: 'string', short: 'o' },
    size: { type: 'string' },
    from: { type: 'string' },
    json: { type: 'boolean' },
    quiet: { type: 'boolean' },
  });
  if (values.help) {
    console.log(IMAGE_HELP);
    return;
  }
  const output = str(values, 'output');
  if (!output) throw new UserError('image: missing -o OUT');
  checkImageOutput(output);
  const settings = dreamSettings(values);
  const start = await startPicture(values, positionals[0], settings.seed, 'image');
  const image = start.image;
  const started = performance.now();
  const runner = await createRunner({ ...runnerOptions(values), quiet: Boolean(values.quiet) });
  try {
    const obj = await objective(values, runner, image);
    const steps = settings.iterations * settings.octaves;
    const progress = new Progress('dreaming', steps, Boolean(values.quiet) || Boolean(values.json));
    let done = 0;
    const result = await dream(runner, image, obj, settings, (p) => progress.update(++done, `octave ${p.octave}/${p.octaves}`));
    progress.done();
    const gain = await dreamGain(runner, image, result, obj, settings.tile);
    const recipe = makeRecipe('image', start, result, runner, values, obj, settings, gain);
    await writeImage(output, result, recipeProvenance(recipe, output));
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
