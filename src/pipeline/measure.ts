/**
 * `dreamflow metrics`: flicker ratio and dream gain of a dreamed video against its input (the
 * definitions of metrics/), with an optional plot of the warping error over time.
 */
import { rename, rm } from 'node:fs/promises';
import { dreamGain } from '../dream/deepdream.js';
import { fromBytes } from '../dream/image.js';
import { createRunner } from '../dream/runner.js';
import { writeWarpingErrorPlot } from '../metrics/plot.js';
import { measureVideos, type VideoMetrics } from '../metrics/videoMetrics.js';
import { tempPathFor } from '../sinks/imageFile.js';
import { objectiveOf, runnerOptionsOf, type DreamSpec } from './dream.js';

export interface MeasureJob {
  input: string;
  output: string;
  plot?: string | undefined;
  start?: number | undefined;
  duration?: number | undefined;
  /** The objective whose gain is measured; undefined: no gain. */
  dream?: DreamSpec | undefined;
}

export async function measureDreamedVideo(job: MeasureJob): Promise<VideoMetrics> {
  const { input, output, plot } = job;
  const runner = job.dream ? await createRunner(runnerOptionsOf(job.dream, true)) : undefined;
  try {
    const obj = runner && job.dream ? await objectiveOf(job.dream, runner) : undefined;
    const m = await measureVideos(input, output, {
      start: job.start,
      duration: job.duration,
      ...(runner && obj
        ? { gainOf: (a, b) => dreamGain(runner, fromBytes(a.width, a.height, a.data), fromBytes(b.width, b.height, b.data), obj) }
        : {}),
    });
    if (plot) {
      const temp = tempPathFor(plot);
      try {
        await writeWarpingErrorPlot(temp, m.perFrame);
        await rename(temp, plot);
      } catch (err) {
        await rm(temp, { force: true });
        throw err;
      }
    }
    return m;
  } finally {
    await runner?.close();
  }
}
