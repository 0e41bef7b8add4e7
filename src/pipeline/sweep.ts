/**
 * `dreamflow sweep`: one picture dreamed with every combination of up to three settings, as a
 * labelled contact sheet and a JSON file whose recipes remake each cell bit for bit.
 */
import { rename, rm, writeFile } from 'node:fs/promises';
import { basename, extname } from 'node:path';
import sharp, { type OverlayOptions } from 'sharp';
import { dream, dreamGain, type DreamSettings } from '../dream/deepdream.js';
import { toBytes, type RgbImage } from '../dream/image.js';
import type { Objective } from '../dream/objectives.js';
import { checkMemory, estimateMemory } from '../dream/memory.js';
import { createRunner } from '../dream/runner.js';
import { Stopped, UserError, writeError } from '../errors.js';
import { checkImageOutput, tempPathFor, writeEncoded } from '../sinks/imageFile.js';
import type { StartKind } from '../sources/synthetic.js';
import { dreamSettingsOf, objectiveOf, runnerOptionsOf, type DreamSpec } from './dream.js';
import { escapeXml } from '../metrics/plot.js';
import { dreamFootprint, pictureSize, plannedWorkers } from './footprint.js';
import { Progress } from './progress.js';
import { commandLine, dreamflowVersion, makeRecipe, recipeArgs, runnerWorkers, startPicture, type DreamRecipe } from './recipe.js';

/** Flags a comma list sweeps, and their short names in cell captions. */
export const SWEEPABLE: Record<string, string> = {
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

const CAPTION = 18;
const TITLE = 22;

function caption(values: Record<string, string>): string {
  return Object.entries(values)
    .map(([flag, v]) => (flag === 'layers' ? v.replace(/\/(output|concat)$/, '').replace(/^inception_/, '') : `${SWEEPABLE[flag]} ${v}`))
    .join(' · ');
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

export interface SweepJob {
  output: string;
  axes: SweepAxis[];
  grid: { rows: number; cols: number; cells: Array<{ row: number; col: number; values: Record<string, string> }> };
  /** Each cell's dream stage, in grid order. */
  cells: DreamSpec[];
  start: { path?: string | undefined; from?: StartKind | undefined; size?: string | undefined };
  quiet: boolean;
  /** Stops the sweep at the next tile, nothing written (exit 130; docs/architecture.md, "Signals"). */
  signal?: AbortSignal | undefined;
}

export async function runSweep(job: SweepJob): Promise<{ json: string; seconds: number; backend: string }> {
  checkImageOutput(job.output);
  const settings: DreamSettings[] = job.cells.map((d) => dreamSettingsOf(d));
  // As many cells are dreamed at once as the runner has workers: the costliest cell's footprint
  // that many times must fit, checked before the start picture is made.
  const size = await pictureSize(job.start);
  if (size) {
    const concurrent = Math.max(1, plannedWorkers(job.cells[0]!));
    const footprints = job.cells.map((d) => dreamFootprint(d, size, 'image', { concurrent }));
    const costliest = footprints.reduce((a, b) => (estimateMemory(b).total > estimateMemory(a).total ? b : a));
    checkMemory(costliest);
  }
  const { axes, grid, output } = job;
  const fixedSeed = axes.some((a) => a.flag === 'seed') ? 0 : settings[0]!.seed;
  const start = await startPicture(job.start, fixedSeed, 'sweep');
  if (start.from && axes.some((a) => a.flag === 'seed')) {
    throw new UserError('sweep: --seed cannot vary with --from noise: the start noise would differ from cell to cell');
  }
  const image = start.image;
  const started = performance.now();
  // Every cell runs on the same engine: the flags all cells share (the first cell's are theirs).
  const runner = await createRunner(runnerOptionsOf(job.cells[0]!, job.quiet));
  try {
    const objectives: Objective[] = [];
    for (const d of job.cells) objectives.push(await objectiveOf(d, runner, image));
    const quiet = job.quiet;
    const progress = new Progress('sweep', grid.cells.length, quiet, 'cells');
    let done = 0;
    // Cells share the runner: its workers take tiles from every running cell, so both cores stay
    // busy; tiling depends only on the runner's parallelism, so a cell's pixels do not depend on
    // what runs beside it.
    const results = await mapConcurrent(grid.cells, runner.parallelism, async (_cell, i) => {
      const out = await dream(runner, image, objectives[i]!, settings[i]!, undefined, job.signal);
      const gain = await dreamGain(runner, image, out, objectives[i]!, settings[i]!.tile);
      progress.update(++done, caption(grid.cells[i]!.values));
      return { out, gain };
    });
    progress.done();
    if (job.signal?.aborted) throw new Stopped();

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
      const recipe = makeRecipe('sweep', start, out, runner, job.cells[i]!, objectives[i]!, settings[i]!, gain);
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
      size: start.size,
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
      throw writeError(err, jsonPath) ?? err;
    }
    return { json: jsonPath, seconds: summary.seconds, backend: runner.backend };
  } finally {
    await runner.close();
  }
}
