import { UserError } from '../errors.js';
import { guardOutputs, overwritePolicy } from '../sinks/outputGuard.js';
import { measureDreamedVideo } from '../pipeline/measure.js';
import { checkImageOutput } from '../sinks/imageFile.js';
import { DREAM_OPTIONS, dreamFromFlags, num, parse, str } from './options.js';

export const METRICS_HELP = `dreamflow metrics IN OUT [--json] [--plot PNG] [--no-gain] [--start S] [--duration S]

Temporal stability and strength of a dreamed video OUT made from IN (docs/architecture.md's definitions):
the warping error of input and output with flow on the input, their ratio (the flicker ratio:
1 = as steady as the input, lower is steadier) and the dream gain (objective(OUT)/objective(IN)
for --model/--layer, default GoogLeNet inception_4c/output; --no-gain skips it). The gain is of
the file as encoded: a little below what "video --json" reports, which measures each dreamed
frame before the encoder smooths its finest detail.
--start/--duration: the part of IN that OUT was made from. --plot draws E(t) of both over time.`;

export async function metricsCommand(args: string[]): Promise<void> {
  const { values, positionals } = parse(
    args,
    { ...DREAM_OPTIONS, json: { type: 'boolean' }, plot: { type: 'string' }, 'no-gain': { type: 'boolean' }, start: { type: 'string' }, duration: { type: 'string' }, overwrite: { type: 'boolean', short: 'y' }, 'no-overwrite': { type: 'boolean', short: 'n' } },
    2,
  );
  if (values.help) {
    console.log(METRICS_HELP);
    return;
  }
  const [input, output] = positionals;
  if (!input || !output) throw new UserError('metrics: give the input and the dreamed output (dreamflow metrics IN OUT)');
  const plot = str(values, 'plot');
  if (plot) checkImageOutput(plot);
  // The plot is an output like any other: not one of the two videos, -y to replace, locked.
  const claim = plot ? await guardOutputs([{ path: plot }], { inputs: [input, output], overwrite: overwritePolicy(Boolean(values.overwrite), Boolean(values['no-overwrite'])) }) : undefined;
  const m = await measureDreamedVideo({
    input,
    output,
    plot,
    start: str(values, 'start') === undefined ? undefined : num(values, 'start', 0, { min: 0 }),
    duration: str(values, 'duration') === undefined ? undefined : num(values, 'duration', 0, { min: 0.001 }),
    dream: values['no-gain'] ? undefined : dreamFromFlags(values),
  }).finally(() => claim?.release());
  const summary = {
    frames: m.frames,
    width: m.width,
    height: m.height,
    ewarpInput: m.ewarpInput,
    ewarpOutput: m.ewarpOutput,
    flickerRatio: m.flickerRatio,
    dreamGain: m.dreamGain ?? null,
    ...(plot ? { plot } : {}),
  };
  if (values.json) console.log(JSON.stringify(summary));
  else {
    console.log(`frames        ${m.frames} at ${m.width}x${m.height}`);
    console.log(`E_warp input  ${m.ewarpInput.toExponential(3)}`);
    console.log(`E_warp output ${m.ewarpOutput.toExponential(3)}`);
    console.log(`flicker ratio ${m.flickerRatio.toFixed(2)}`);
    if (m.dreamGain !== undefined) console.log(`dream gain    ${m.dreamGain.toFixed(2)}`);
    if (plot) console.log(`plot          ${plot}`);
  }
}
