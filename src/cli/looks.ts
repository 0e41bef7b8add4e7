/** `dreamflow looks`: the named looks (dream/looks.ts), and a contact sheet of them on a picture. */
import { LOOKS } from '../dream/looks.js';
import { UserError } from '../errors.js';
import { renderLooksSheet } from '../pipeline/looksSheet.js';
import { sectionFromValues } from '../pipeline/spec.js';
import { guardOutputs, overwritePolicy } from '../sinks/outputGuard.js';
import { interruptSignal } from './signals.js';
import { DREAM_OPTIONS, parse, str } from './options.js';

export const LOOKS_HELP = `dreamflow looks [--json]
dreamflow looks IMG -o SHEET.png [--size N] [-y|-n] [--backend ...] [--workers N]

List the named looks (dreamflow image|video|vr|zoom|live --look NAME), or dream IMG in each of
them into one labelled contact sheet. Options given with --look win over the look's own.`;

/** A look sets these itself: on the sheet they would change every look into the same one. */
const LOOK_FIELDS = ['look', 'layer', 'channel', 'guide', 'class', 'class-score', 'neuron', 'octaves', 'octave-scale', 'iterations', 'step', 'jitter', 'tv', 'decay', 'blur', 'blur-target', 'decorrelate'] as const;

export async function looksCommand(args: string[]): Promise<void> {
  const { values, positionals } = parse(
    args,
    { ...DREAM_OPTIONS, json: { type: 'boolean' }, output: { type: 'string', short: 'o' }, size: { type: 'string' }, quiet: { type: 'boolean' }, overwrite: { type: 'boolean', short: 'y' }, 'no-overwrite': { type: 'boolean', short: 'n' } },
    1,
  );
  if (values.help) {
    console.log(LOOKS_HELP);
    return;
  }
  const output = str(values, 'output');
  const input = positionals[0];
  if (!output) {
    if (input) throw new UserError(`looks: give the sheet to write with -o SHEET.png (dreamflow looks ${input} -o looks.png)`);
    if (values.json) console.log(JSON.stringify({ looks: LOOKS }));
    else for (const look of LOOKS) console.log(`${look.name.padEnd(14)} ${look.description}`);
    return;
  }
  if (!input) throw new UserError('looks: give the picture to dream (dreamflow looks IMG -o SHEET.png)');
  const fixed = LOOK_FIELDS.find((flag) => values[flag] !== undefined);
  if (fixed) throw new UserError(`looks: each look sets --${fixed} itself; the sheet takes only --size and the machine's options`);
  const claim = await guardOutputs([{ path: output }], { inputs: [input], overwrite: overwritePolicy(Boolean(values.overwrite), Boolean(values['no-overwrite'])) });
  const interrupt = interruptSignal();
  try {
    await renderLooksSheet({ output, input, size: str(values, 'size') ?? '224', dream: sectionFromValues('stages', 'dream', values), quiet: Boolean(values.quiet), signal: interrupt.signal });
  } finally {
    interrupt.release();
    claim.release();
  }
  if (!values.quiet) console.log(`wrote ${output} (${LOOKS.length} looks)`);
}
