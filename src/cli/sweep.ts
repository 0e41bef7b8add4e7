import { rename, rm, writeFile } from 'node:fs/promises';
import { basename, extname } from 'node:path';
import sharp, { type OverlayOptions } from 'sharp';
import { dream, dreamGain, type DreamSettings } from '../dream/deepdream.js';
import { toBytes, type RgbImage } from '../dream/image.js';
import type { Objective } from '../dream/objectives.js';
import { createRunner } from '../dream/runner.js';
import { UserError } from '../errors.js';
import { Progress } from '../pipeline/progress.js';
import { checkImageOutput, tempPathFor, writeEncoded } from '../sinks/imageFile.js';
import { commandLine, dreamflowVersion, makeRecipe, recipeArgs, runnerWorkers, startPicture, type DreamRecipe } from '../pipeline/recipe.js';
import { DREAM_OPTIONS, dreamFromFlags, dreamSettings, objective, parse, runnerOptions, str, type Values } from './options.js';

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
      --json             print one JSON line with the result
      --quiet            no progress output`;

/** Flags a comma list sweeps, and their short names in cell captions. */
const SWEEPABLE: Record<string, string> = {
  layers: '',
  iterations: 'it',
  step: 'step',
  octaves: 'oct',
  'octave-scale': 'scale',
  jitter: 'jitter',
  seed: 'seed',
  tv: 'tv',
  decay: 'decay',
  blur: 'blur',
};

/** More cells than this is a render farm's job, not a contact sheet's. */
const MAX_CELLS = 64;
const DEFAULT_SWEEP_SIZE = '160';
const CAPTION = 18;
const TITLE = 22;

export interface SweepAxis {
  flag: string;
  values: string[];
}

export interface SweepCell {
  row: number;
  col: number;
  /** Where the cell's image lies in the sheet, in pixels. */
  rect: { x: number; y: number; width: number; height: number };
  /** The swept flags' values for this cell. */
  values: Record<string, string>;
  dreamGain: number | null;
  recipe: DreamRecipe;
  /** `dreamflow image` arguments that reproduce the cell (output `cell-R-C.png`). */
  args: string[];
  command: string;
}

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

function caption(values: Record<string, string>): string {
  return Object.entries(values)
    .map(([flag, v]) => (flag === 'layers' ? v.replace(/\/(output|concat)$/, '').replace(/^inception_/, '') : `${SWEEPABLE[flag]} ${v}`))
    .join(' · ');
}

function escapeXml(s: string): string {
  return s.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** A dark strip with one line of text, its font shrunk (down to 7 px) until the line fits. */
function textStrip(width: number, height: number, text: string, maxSize: number): Buffer {
  // Sans-serif glyphs average about 0.58 em wide.
  const size = Math.max(7, Math.min(maxSize, Math.floor((width - 6) / (0.58 * Math.max(1, text.length)))));
  return Buffer.from(
    `<svg width="${width}" height="${height}"><rect width="100%" height="100%" fill="#111"/>` +
      `<text x="4" y="${height - 5}" font-family="sans-serif" font-size="${size}" fill="#eee">${escapeXml(text)}</text></svg>`,
  );
}

/** Run `fn` over `items` with at most `limit` running at once; results in item order. */
async function mapConcurrent<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, lane));
  return results;
}

/** Where the JSON goes: the sheet's path with `.json` for its extension. */
export function sweepJsonPath(sheet: string): string {
  return sheet.slice(0, sheet.length - extname(sheet).length) + '.json';
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
  const settings: DreamSettings[] = cellValues.map((v) => dreamSettings(v));
  const fixedSeed = axes.some((a) => a.flag === 'seed') ? 0 : settings[0]!.seed;
  const sizeValues: Values = { ...values, size: str(values, 'size') ?? (str(values, 'from') ? undefined : DEFAULT_SWEEP_SIZE) };
  const fromText = str(sizeValues, 'from');
  if (fromText !== undefined && fromText !== 'noise' && fromText !== 'gray') throw new UserError(`--from must be noise or gray (got "${fromText}")`);
  const start = await startPicture({ path: positionals[0], from: fromText, size: str(sizeValues, 'size') }, fixedSeed, 'sweep');
  if (start.from && axes.some((a) => a.flag === 'seed')) {
    throw new UserError('sweep: --seed cannot vary with --from noise: the start noise would differ from cell to cell');
  }
  const image = start.image;
  const started = performance.now();
  // Every cell runs on the same engine: the flags all cells share (the first cell's are theirs).
  const runner = await createRunner({ ...runnerOptions(cellValues[0]!), quiet: Boolean(values.quiet) });
  try {
    const objectives: Objective[] = [];
    for (const v of cellValues) objectives.push(await objective(v, runner, image));
    const quiet = Boolean(values.quiet) || Boolean(values.json);
    const progress = new Progress('sweep', grid.cells.length, quiet, 'cells');
    let done = 0;
    // Cells share the runner: its workers take tiles from every running cell, so both cores stay
    // busy; tiling depends only on the runner's parallelism, so a cell's pixels do not depend on
    // what runs beside it.
    const results = await mapConcurrent(grid.cells, runner.parallelism, async (_cell, i) => {
      const out = await dream(runner, image, objectives[i]!, settings[i]!);
      const gain = await dreamGain(runner, image, out, objectives[i]!, settings[i]!.tile);
      progress.update(++done, caption(grid.cells[i]!.values));
      return { out, gain };
    });
    progress.done();

    const cellW = image.width;
    const cellH = image.height + CAPTION;
    const composites: OverlayOptions[] = [];
    const cells: SweepCell[] = grid.cells.map((c, i) => {
      const { out, gain } = results[i]!;
      const x = c.col * cellW;
      const y = TITLE + c.row * cellH;
      composites.push(
        { input: Buffer.from(toBytes(out as RgbImage).buffer), raw: { width: out.width, height: out.height, channels: 3 }, left: x, top: y },
        { input: textStrip(cellW, CAPTION, caption(c.values), 11), left: x, top: y + out.height },
      );
      const recipe = makeRecipe('sweep', { ...start, size: recipeSize(sizeValues) }, out, runner, dreamFromFlags(cellValues[i]!), objectives[i]!, settings[i]!, gain);
      const cellArgs = recipeArgs(recipe, `cell-${c.row}-${c.col}.png`);
      return { ...c, rect: { x, y, width: out.width, height: out.height }, dreamGain: gain ?? null, recipe, args: cellArgs, command: commandLine(cellArgs) };
    });
    const sheetW = grid.cols * cellW;
    const sheetH = TITLE + grid.rows * cellH;
    const title = `${start.input ? basename(start.input) : `from ${start.from}`} · ${runner.manifest.name} · ${axes.map((a) => a.flag).join(' × ')}`;
    composites.push({ input: textStrip(sheetW, TITLE, title, 13), left: 0, top: 0 });
    const summary = {
      dreamflow: dreamflowVersion(),
      command: 'sweep',
      sheet: output,
      input: start.input,
      from: start.from,
      size: recipeSize(sizeValues),
      width: sheetW,
      height: sheetH,
      model: runner.manifest.name,
      backend: runner.backend,
      workers: runnerWorkers(runner),
      axes,
      rows: grid.rows,
      cols: grid.cols,
      seconds: Number(((performance.now() - started) / 1000).toFixed(2)),
      cells,
    };
    // The sheet carries the sweep without the per-cell command lines (they follow from the recipes).
    const embedded = { ...summary, cells: cells.map(({ args: _a, command: _c, ...rest }) => rest) };
    const jsonPath = sweepJsonPath(output);
    const canvas = sharp({ create: { width: sheetW, height: sheetH, channels: 3, background: '#000' } }).composite(composites);
    // Flatten the composite first: sharp applies composites once, at encoding.
    const flat = sharp(await canvas.png().toBuffer());
    await writeEncoded(output, flat, embedded);
    const temp = tempPathFor(jsonPath);
    try {
      await writeFile(temp, `${JSON.stringify(summary, null, 2)}\n`);
      await rename(temp, jsonPath);
    } catch (err) {
      await rm(temp, { force: true });
      throw err;
    }
    if (values.json) {
      console.log(JSON.stringify({ sheet: output, json: jsonPath, rows: grid.rows, cols: grid.cols, cells: cells.length, seconds: summary.seconds, backend: runner.backend }));
    } else if (!values.quiet) {
      console.log(`wrote ${output} (${grid.rows}x${grid.cols} cells) and ${jsonPath} in ${summary.seconds} s on ${runner.backend}`);
    }
  } finally {
    await runner.close();
  }
}

function recipeSize(values: Values): string | null {
  return str(values, 'size') ?? null;
}
