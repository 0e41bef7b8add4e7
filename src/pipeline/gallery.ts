/**
 * `dreamflow layers --gallery`: one picture dreamed at each of several layers, as a labelled
 * contact sheet that carries its settings (dreamflow info prints them).
 */
import sharp from 'sharp';
import { dream } from '../dream/deepdream.js';
import { layer } from '../dream/objectives.js';
import { createRunner } from '../dream/runner.js';
import { parseSize } from '../media/size.js';
import { checkImageOutput, writeEncoded } from '../sinks/imageFile.js';
import { readImage } from '../sources/image.js';
import { dreamSettingsOf, runnerOptionsOf, type DreamSpec } from './dream.js';
import { checkDreamMemory, pictureSize } from './footprint.js';
import { Progress } from './progress.js';
import { contactSheet, type SheetCell } from './sheet.js';
import { dreamflowVersion, runnerWorkers } from './recipe.js';

export interface GalleryJob {
  output: string;
  input: string;
  /** `--size` as given. */
  size: string;
  /** Canonical layer names, one cell each. */
  layers: string[];
  dream: DreamSpec;
  quiet: boolean;
  /** Stops at the next dream step, nothing written (docs/architecture.md, "Signals"). */
  signal?: AbortSignal | undefined;
}

export async function renderGallery(job: GalleryJob): Promise<void> {
  const gallery = job.output;
  const input = job.input;
  const names = job.layers;
  checkImageOutput(gallery);
  const settings = dreamSettingsOf(job.dream);
  // Cells are dreamed one after another: one picture's memory, checked before it is read.
  const size = await pictureSize({ path: input, size: job.size });
  if (size) checkDreamMemory(job.dream, size, 'image');
  const image = await readImage(input, parseSize(job.size));
  const runner = await createRunner(runnerOptionsOf(job.dream, job.quiet));
  const progress = new Progress('gallery', names.length, job.quiet, 'layers');
  try {
    const cells: SheetCell[] = [];
    for (const [i, name] of names.entries()) {
      cells.push({ image: await dream(runner, image, layer(name), settings, undefined, job.signal), label: name });
      progress.update(i + 1, name);
    }
    progress.done();
    // Labels wrap inside their cell (a small --size would cut "inception_3b/5x5_reduce").
    const sheet = await contactSheet(cells);
    // The gallery carries its settings like every output image (dreamflow info prints them).
    await writeEncoded(gallery, sharp(sheet), {
      dreamflow: dreamflowVersion(),
      command: 'layers',
      input,
      size: job.size,
      model: runner.manifest.name,
      backend: runner.backend,
      workers: runnerWorkers(runner),
      layers: names,
      settings,
    });
  } finally {
    await runner.close();
  }
}
