/**
 * `dreamflow video IN --preview N -o SHEET.png`: a look before a long render. N evenly spaced
 * frames, each dreamed fresh with the video's own settings (its working size, and the full dream
 * the video job gives a first frame), in a labelled contact sheet with the estimated time of the
 * whole render under it. The estimate comes from these dreams, timed on this machine: a full
 * dream per first frame, and one carried frame (flow, carry, --frame-iterations steps) timed
 * after the first cell.
 */
import sharp from 'sharp';
import { fromBytes } from '../dream/image.js';
import { createRunner } from '../dream/runner.js';
import { UserError } from '../errors.js';
import { FrameDecoder } from '../media/decoder.js';
import { parseSize } from '../media/size.js';
import { checkImageOutput, writeEncoded } from '../sinks/imageFile.js';
import { objectiveOf, runnerOptionsOf } from './dream.js';
import { renderSeconds } from './estimate.js';
import { checkDreamMemory } from './footprint.js';
import type { JobResult, RunOptions } from './job.js';
import { formatSeconds, Progress } from './progress.js';
import { dreamflowVersion, runnerWorkers } from './recipe.js';
import { contactSheet, type SheetCell } from './sheet.js';
import { section as videoSink } from './sinks/video.js';
import { section as videoSource } from './sources/video.js';
import { argsOfSpec, sinkSettings, sourceSettings, type PipelineSpec } from './spec.js';
import { stagePlan, stagesOf } from './stages.js';
import { rateOf, workingSize } from './videoJob.js';

/** Frame numbers of `count` evenly spaced frames of `total`: the middle of each of `count` equal parts. */
export function previewFrames(total: number, count: number): number[] {
  const n = Math.min(count, total);
  return Array.from({ length: n }, (_, k) => Math.min(total - 1, Math.floor(((k + 0.5) * total) / n)));
}

export async function runVideoPreview(spec: PipelineSpec, count: number, opts: RunOptions): Promise<JobResult> {
  const source = sourceSettings(spec, videoSource)!;
  const output = sinkSettings(spec, videoSink)!.path;
  checkImageOutput(output);
  const plan = stagePlan(spec);
  if (plan.vr) throw new UserError('--preview is for dreamflow video (a 360° preview: dreamflow image PANO.mp4 --at T)');
  const rate = source.fps === undefined ? undefined : rateOf(source.fps);
  const start = source.start ?? 0;
  const probe = await FrameDecoder.open(source.path, { start, duration: source.duration, rate });
  await probe.close();
  const fps = probe.info.fps;
  const total = probe.info.frameCount ?? Math.round(((probe.info.durationSeconds ?? 0) * fps.num) / fps.den);
  if (total < 1) throw new UserError(`${source.path}: no video frames to preview`);
  const size = workingSize(probe.media.width, probe.media.height, source.size ? parseSize(source.size) : undefined);
  checkDreamMemory(plan.dream, size, 'video', { onWarning: opts.onWarning });
  const frames = previewFrames(total, count);
  const runner = await createRunner(runnerOptionsOf(plan.dream, opts.quiet));
  const progress = new Progress('preview', frames.length, opts.quiet, 'frames');
  try {
    const objective = await objectiveOf(plan.dream, runner);
    const cells: SheetCell[] = [];
    let fullSeconds = 0;
    let carriedSeconds: number | undefined;
    for (const [k, index] of frames.entries()) {
      const at = start + (index * fps.den) / fps.num;
      // A fresh stage per cell: each frame gets the full dream the video job gives a first frame.
      // With --schedule each cell has the settings of its time (modulate.ts; the sound is not read).
      const stage = stagesOf(plan, { runner, objective, origin: start });
      const timeCarried = k === 0 && total > 1 && plan.temporal.flow;
      const decoder = await FrameDecoder.open(source.path, { start: at, size, rate, maxFrames: timeCarried ? 2 : 1 });
      try {
        let n = 0;
        for await (const frame of decoder) {
          const t0 = performance.now();
          const dreamed = await stage.process(frame);
          const seconds = (performance.now() - t0) / 1000;
          if (n++ === 0) {
            fullSeconds += seconds;
            cells.push({ image: fromBytes(dreamed.width, dreamed.height, dreamed.data), label: `${at.toFixed(2)} s, frame ${index + 1}/${total}` });
          } else carriedSeconds = seconds;
          if (opts.signal?.aborted) throw new UserError('preview interrupted', 130);
        }
      } finally {
        await decoder.close();
      }
      progress.update(k + 1);
    }
    progress.done();
    if (cells.length === 0) throw new UserError(`${source.path}: no video frames could be decoded for the preview`);
    const first = fullSeconds / cells.length;
    // Without flow every frame is a full dream; with it, the carried frame timed above.
    const carried = carriedSeconds ?? first;
    const estimate = renderSeconds(total, first, carried);
    const renderLine = `full render: ${total} frames at ${size.width}x${size.height}, about ${formatSeconds(estimate)} of dreaming on this machine (${runner.backend}; first frame ${first.toFixed(1)} s, then ${carried.toFixed(2)} s a frame)`;
    const sheet = await contactSheet(cells, [`dreamflow video ${source.path}: ${cells.length} frames dreamed fresh, as the render's first frame would be`, renderLine]);
    await writeEncoded(output, sharp(sheet), {
      dreamflow: dreamflowVersion(),
      command: 'video --preview',
      input: source.path,
      frames: frames.map((i) => i + 1),
      model: runner.manifest.name,
      backend: runner.backend,
      workers: runnerWorkers(runner),
      video: argsOfSpec('video', { ...spec, sinks: spec.sinks.map((s) => (s.kind === videoSink.kind ? { ...s, path: 'OUT.mp4' } : s)) }),
    });
    const summary = {
      output,
      preview: cells.length,
      frames: total,
      width: size.width,
      height: size.height,
      firstFrameSeconds: Number(first.toFixed(3)),
      carriedFrameSeconds: Number(carried.toFixed(3)),
      estimatedSeconds: Number(estimate.toFixed(1)),
      backend: runner.backend,
    };
    return { summary, line: `wrote ${output}: ${cells.length} preview frames; ${renderLine}` };
  } finally {
    await runner.close();
  }
}
