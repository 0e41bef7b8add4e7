/**
 * `dreamflow layers --gallery`: one picture dreamed at each of several layers, as a labelled
 * contact sheet that carries its settings (dreamflow info prints them).
 */
import sharp from 'sharp';
import { dream } from '../dream/deepdream.js';
import { toBytes } from '../dream/image.js';
import { layer } from '../dream/objectives.js';
import { escapeXml } from '../metrics/plot.js';
import { createRunner } from '../dream/runner.js';
import { parseSize } from '../media/size.js';
import { checkImageOutput, writeEncoded } from '../sinks/imageFile.js';
import { readImage } from '../sources/image.js';
import { dreamSettingsOf, runnerOptionsOf, type DreamSpec } from './dream.js';
import { checkDreamMemory, pictureSize } from './footprint.js';
import { Progress } from './progress.js';
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
  const label = 22;
  const cols = Math.ceil(Math.sqrt(names.length));
  const rows = Math.ceil(names.length / cols);
  const cellW = image.width;
  const cellH = image.height + label;
  const progress = new Progress('gallery', names.length, job.quiet, 'layers');
  try {
    const tiles: Array<{ input: Buffer; left: number; top: number }> = [];
    for (const [i, name] of names.entries()) {
      const out = await dream(runner, image, layer(name), settings);
      const left = (i % cols) * cellW;
      const top = Math.floor(i / cols) * cellH;
      const png = await sharp(Buffer.from(toBytes(out).buffer), { raw: { width: out.width, height: out.height, channels: 3 } }).png().toBuffer();
      const text = Buffer.from(
        `<svg width="${cellW}" height="${label}"><rect width="100%" height="100%" fill="#111"/>` +
          `<text x="4" y="${label - 6}" font-family="sans-serif" font-size="13" fill="#eee">${escapeXml(name)}</text></svg>`,
      );
      tiles.push({ input: png, left, top }, { input: text, left, top: top + out.height });
      progress.update(i + 1, name);
    }
    progress.done();
    const sheet = await sharp({ create: { width: cols * cellW, height: rows * cellH, channels: 3, background: '#000' } })
      .composite(tiles)
      .png()
      .toBuffer();
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
