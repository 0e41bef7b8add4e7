/**
 * `dreamflow looks IMG -o SHEET`: one picture dreamed in every named look (dream/looks.ts), as a
 * labelled contact sheet (sheet.ts) that carries its settings like every dreamed picture.
 */
import sharp from 'sharp';
import { dream } from '../dream/deepdream.js';
import { LOOKS } from '../dream/looks.js';
import { createRunner } from '../dream/runner.js';
import { parseSize } from '../media/size.js';
import { checkImageOutput, writeEncoded } from '../sinks/imageFile.js';
import { readImage } from '../sources/image.js';
import { checkedObjective, dreamFromSection, dreamSettingsOf, runnerOptionsOf } from './dream.js';
import { checkDreamMemory, pictureSize } from './footprint.js';
import { Progress } from './progress.js';
import { dreamflowVersion, runnerWorkers } from './recipe.js';
import { contactSheet, type SheetCell } from './sheet.js';
import type { SectionConfig } from './spec.js';

export interface LooksSheetJob {
  output: string;
  input: string;
  /** `--size` as given. */
  size: string;
  /** Dream-stage fields given on the command line (the machine: backend, workers…; a look's own fields win over none of them). */
  dream: SectionConfig;
  quiet: boolean;
  signal?: AbortSignal | undefined;
}

export async function renderLooksSheet(job: LooksSheetJob): Promise<void> {
  checkImageOutput(job.output);
  const specs = LOOKS.map((look) => ({ look, spec: dreamFromSection({ ...job.dream, kind: 'dream', look: look.name }) }));
  const size = await pictureSize({ path: job.input, size: job.size });
  if (size) for (const { spec } of specs) checkDreamMemory(spec, size, 'image');
  const image = await readImage(job.input, parseSize(job.size));
  const runner = await createRunner(runnerOptionsOf(specs[0]!.spec, job.quiet));
  const progress = new Progress('looks', specs.length, job.quiet, 'looks');
  try {
    const cells: SheetCell[] = [];
    for (const [i, { look, spec }] of specs.entries()) {
      const dreamed = await dream(runner, image, checkedObjective(spec, runner.manifest), dreamSettingsOf(spec), undefined, job.signal);
      cells.push({ image: dreamed, label: `--look ${look.name}` });
      progress.update(i + 1, look.name);
    }
    progress.done();
    const sheet = await contactSheet(cells);
    await writeEncoded(job.output, sharp(sheet), {
      dreamflow: dreamflowVersion(),
      command: 'looks',
      input: job.input,
      size: job.size,
      model: runner.manifest.name,
      backend: runner.backend,
      workers: runnerWorkers(runner),
      looks: LOOKS.map((l) => ({ name: l.name, ...l.fields })),
    });
  } finally {
    await runner.close();
  }
}
