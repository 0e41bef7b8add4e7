import { UserError } from '../errors.js';
import { runSweep, sweepJsonPath, SWEEPABLE, type SweepAxis } from '../pipeline/sweep.js';
import { guardOutputs, overwritePolicy } from '../sinks/outputGuard.js';
import { interruptSignal } from './signals.js';
import { checkImageOutput } from '../sinks/imageFile.js';
import { DREAM_OPTIONS, dreamFromFlags, parse, str, type Values } from './options.js';

export const SWEEP_HELP = `dreamflow sweep IN -o SHEET.png [--layers a,b,c] [--iterations 10,50,100] [--step 0.01,0.1,1] [options]
dreamflow sweep --from noise|gray --size N -o SHEET.png ...

Dream one picture with every combination of one to three parameters given as comma lists, and
render a labelled contact sheet: the first parameter makes the rows, the second the columns,
a third splits each column (order as on the command line). SHEET.json (next to the sheet) holds
each cell's settings, dream gain, place in the sheet and the dreamflow image command that
reproduces it bit for bit (same seed, backend and workers). Cells run in parallel on all cores.

  -o, --output FILE      the sheet (png or jpg); the JSON goes next to it as .json
      --layers a,b,...   one cell per layer (block names such as inception_4c work)
      --iterations, --step, --octaves, --octave-scale, --jitter, --seed, --tv, --decay, --blur
                         a comma list sweeps that setting; a single value fixes it
      --size N|WxH       working size (default 160: fit inside 160x160)
      --from noise|gray  start from faint noise or flat grey instead of IN
      all other options of dreamflow image (layer, class, neuron, priors, model, backend ...)
  -y, --overwrite        replace an existing sheet or JSON (without it a terminal is asked)
  -n, --no-overwrite     never replace them (exit 2 when one exists)
      --json             print one JSON line with the result
      --quiet            no progress output`;


/** More cells than this is a render farm's job, not a contact sheet's. */
const MAX_CELLS = 64;
const DEFAULT_SWEEP_SIZE = '160';



/** The swept axes, in the order their flags appear on the command line. */
export function sweepAxes(args: readonly string[], values: Values): SweepAxis[] {
  const position = (flag: string): number => args.findIndex((a) => a === `--${flag}` || a.startsWith(`--${flag}=`));
  const axes = Object.keys(SWEEPABLE)
    .map((flag) => ({ flag, text: str(values, flag) }))
    .filter((a): a is { flag: string; text: string } => a.text !== undefined && (a.flag === 'layers' || a.text.includes(',')))
    .map((a) => ({
      flag: a.flag,
      values: a.text
        .split(',')
        .map((v) => v.trim())
        .filter((v) => v.length > 0),
    }))
    .sort((a, b) => position(a.flag) - position(b.flag));
  for (const a of axes) {
    if (a.values.length === 0) throw new UserError(`--${a.flag} is empty`);
    if (new Set(a.values).size !== a.values.length) throw new UserError(`--${a.flag} lists a value twice`);
  }
  return axes;
}

/** Rows × columns: rows from the first axis, columns from the second × third (third inner). */
export function sweepGrid(axes: readonly SweepAxis[]): { rows: number; cols: number; cells: Array<{ row: number; col: number; values: Record<string, string> }> } {
  const [a, b, c] = axes;
  const rows = a?.values.length ?? 1;
  const inner = c?.values.length ?? 1;
  const cols = (b?.values.length ?? 1) * inner;
  const cells = [];
  for (let row = 0; row < rows; row++) {
    for (let col = 0; col < cols; col++) {
      const values: Record<string, string> = {};
      if (a) values[a.flag] = a.values[row]!;
      if (b) values[b.flag] = b.values[Math.floor(col / inner)]!;
      if (c) values[c.flag] = c.values[col % inner]!;
      cells.push({ row, col, values });
    }
  }
  return { rows, cols, cells };
}






export async function sweepCommand(args: string[]): Promise<void> {
  const { values, positionals } = parse(args, {
    ...DREAM_OPTIONS,
    output: { type: 'string', short: 'o' },
    layers: { type: 'string' },
    size: { type: 'string' },
    from: { type: 'string' },
    json: { type: 'boolean' },
    quiet: { type: 'boolean' },
    overwrite: { type: 'boolean', short: 'y' },
    'no-overwrite': { type: 'boolean', short: 'n' },
  });
  if (values.help) {
    console.log(SWEEP_HELP);
    return;
  }
  const output = str(values, 'output');
  if (!output) throw new UserError('sweep: missing -o SHEET.png');
  const format = checkImageOutput(output);
  if (format !== 'png' && format !== 'jpeg') throw new UserError('sweep: the sheet must be .png or .jpg');
  if (values.layers !== undefined && values.layer !== undefined) throw new UserError('sweep: give --layers (one cell each) or --layer (every cell), not both');
  const axes = sweepAxes(args, values);
  if (axes.length === 0) throw new UserError('sweep: give one to three parameters as comma lists, e.g. --layers a,b --iterations 10,50');
  if (axes.length > 3) throw new UserError(`sweep: at most three parameters can vary (got ${axes.map((a) => `--${a.flag}`).join(', ')})`);
  const grid = sweepGrid(axes);
  if (grid.cells.length > MAX_CELLS) throw new UserError(`sweep: ${grid.cells.length} cells is too many (at most ${MAX_CELLS})`);
  // Each cell's flags: the common ones with the swept values in place (--layers becomes --layer).
  const cellValues = grid.cells.map((c) => {
    const v: Values = { ...values, layers: undefined };
    for (const [flag, value] of Object.entries(c.values)) v[flag === 'layers' ? 'layer' : flag] = value;
    return v;
  });
  const cellDreams = cellValues.map((v) => dreamFromFlags(v));
  const from = str(values, 'from');
  if (from !== undefined && from !== 'noise' && from !== 'gray') throw new UserError(`--from must be noise or gray (got "${from}")`);
  // The output guard on both files it writes (the sheet and its JSON), before any dreaming.
  const claim = await guardOutputs([{ path: output }, { path: sweepJsonPath(output) }], {
    inputs: [positionals[0], str(values, 'guide')],
    overwrite: overwritePolicy(Boolean(values.overwrite), Boolean(values['no-overwrite'])),
  });
  const interrupt = interruptSignal();
  let result: Awaited<ReturnType<typeof runSweep>>;
  try {
    result = await runSweep({
      output,
      axes,
      grid,
      cells: cellDreams,
      start: { path: positionals[0], from, size: str(values, 'size') ?? (from ? undefined : DEFAULT_SWEEP_SIZE) },
      quiet: Boolean(values.quiet) || Boolean(values.json),
      signal: interrupt.signal,
    });
  } finally {
    interrupt.release();
    claim.release();
  }
  if (values.json) {
    console.log(JSON.stringify({ sheet: output, json: result.json, rows: grid.rows, cols: grid.cols, cells: grid.cells.length, seconds: result.seconds, backend: result.backend }));
  } else if (!values.quiet) {
    console.log(`wrote ${output} (${grid.rows}x${grid.cols} cells) and ${result.json} in ${result.seconds} s on ${result.backend}`);
  }
}
