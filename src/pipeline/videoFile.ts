/**
 * Video-file jobs: a video source through the spec's stage chain (dream, temporal carry, 360°)
 * into a video sink, by the resumable file loop (videoJob.ts). The input is probed once; a vr
 * stage says what the output needs (stages/vr.ts: stereo layout, 2:1 eyes, spherical boxes).
 */
import { createRunner, stoppedBy } from '../dream/runner.js';
import { measureFlicker } from '../metrics/videoMetrics.js';
import { probe } from '../media/probe.js';
import { videoCodecFor } from '../media/encoder.js';
import { parseSize } from '../media/size.js';
import { objectiveOf, runnerOptionsOf } from './dream.js';
import { checkDreamMemory } from './footprint.js';
import { measureThroughput, planLine } from './estimate.js';
import { Progress } from './progress.js';
import type { JobResult, RunOptions } from './job.js';
import type { PipelineSpec } from './spec.js';
import { sinkSettings, sourceSettings } from './spec/settings.js';
import { section as videoSinkSection } from './sinks/video.js';
import { section as videoSourceSection, type VideoSourceSettings } from './sources/video.js';
import { stagePlan, stagesOf, type StagePlan } from './stages.js';
import { vrOutput, type VrOutput } from './stages/vr.js';
import { openSinks } from './sinkRegistry.js';
import { envelopeFor } from './modulate.js';
import { rateOf, renderFacts, runVideoJob, workingSize, type VideoJobOptions } from './videoJob.js';
import type { GradientRunner } from '../dream/runner.js';
import type { Objective } from '../dream/objectives.js';

/** What a video job reports (`--json`); a vr job adds its projection, stereo and metadata. */
export interface VideoSummary {
  output: string;
  frames: number;
  fps: number;
  frameRate: string;
  seconds: number;
  secondsPerFrame: number;
  dreamGain: number | null;
  flickerRatio: number | null;
  width: number;
  height: number;
  backend: string;
  model: string;
  layers: string[];
  flow: boolean;
  resumedFrom: number;
}

export async function runVideoFileJob(spec: PipelineSpec, opts: RunOptions): Promise<JobResult> {
  if (opts.preview !== undefined) return (await import('./preview.js')).runVideoPreview(spec, opts.preview, opts);
  const source = sourceSettings(spec, videoSourceSection)!;
  const sink = sinkSettings(spec, videoSinkSection)!;
  const plan = stagePlan(spec);
  const input = source.path;
  const output = sink.path;
  const size = source.size ? parseSize(source.size) : undefined;
  // The container must hold the codec: refused now, not at the join after every frame is dreamed.
  const codec = videoCodecFor(output, sink.codec);
  // The one probe of the input: the vr checks, the memory check and the decoder all read it.
  const probed = probe(input);
  probed.catch(() => undefined);
  const vr = plan.vr ? await vrOutput(plan.vr, input, output, probed, size) : undefined;
  // Before the model loads or a frame is decoded: a working size this machine has no memory for
  // is refused now (an input that cannot be probed is left to the job to report).
  const dims = await probed.catch(() => undefined);
  if (dims) checkDreamMemory(plan.dream, workingSize(dims.width, dims.height, vr?.size ?? size), vr ? 'vr' : 'video', { wrapX: vr !== undefined, onWarning: opts.onWarning });
  // The loudness per frame when a field follows the sound (--react), at the output's frame rate.
  const envelope = await envelopeFor(plan.modulation, dims ? { path: input, start: source.start, fps: source.fps === undefined ? dims.fps : rateOf(source.fps) } : undefined);
  const runner = await createRunner(runnerOptionsOf(plan.dream, opts.quiet));
  try {
    const obj = await objectiveOf(plan.dream, runner);
    // The first frame gets the full dream: its own step, and the rate counts recent frames only.
    const progress = new Progress('dreaming', undefined, opts.quiet, 'frames', 5000, { firstOwnStep: true });
    const stageIdentity = vr || plan.modulation ? { ...vr?.identity, ...(plan.modulation ? { modulation: plan.modulation } : {}) } : undefined;
    const result = await runVideoJob(runner, obj, {
      ...(vr ? { size: vr.size, faststart: vr.faststart, finalize: vr.finalize } : { size }),
      input,
      output,
      media: dims,
      start: source.start,
      duration: source.duration,
      rate: source.fps === undefined ? undefined : rateOf(source.fps),
      temporal: plan.temporal,
      // Tiles stop at Ctrl-C: a frame's dream left running after the job stopped ends at its next step.
      createStage: (r, o) => stagesOf(plan, { runner: stoppedBy(r, opts.signal), objective: o, stereo: vr?.stereo, envelope, origin: source.start ?? 0 }),
      stageIdentity,
      sinks: (frameSize, fps) => openSinks({ spec, size: frameSize, fps }),
      codec,
      crf: sink.crf,
      resume: opts.resume,
      signal: opts.signal,
      onWarning: opts.onWarning,
      onPlan: (p) => sayPlan(p, runner, obj, plan, source, opts.quiet),
      onFrame: (done, total) => {
        progress.setTotal(total);
        progress.update(done);
      },
    });
    progress.done();
    return await videoResult(result, runner, obj, plan, source, vr);
  } finally {
    await runner.close();
  }
}

/** Before the first frame: what the frames left will cost on this machine (estimate.ts). */
async function sayPlan(p: Parameters<NonNullable<VideoJobOptions['onPlan']>>[0], runner: GradientRunner, obj: Objective, plan: StagePlan, source: VideoSourceSettings, quiet: boolean): Promise<void> {
  if (quiet || p.frames === undefined || p.frames === 0) return;
  const rate = await measureThroughput(runner, obj, plan.settings, p);
  const line = planLine(
    {
      frames: p.frames,
      width: p.width,
      height: p.height,
      defaultSize: source.size === undefined,
      octaves: plan.settings.octaves,
      octaveScale: plan.settings.octaveScale,
      iterations: plan.settings.iterations,
      frameIterations: plan.temporal.flow ? plan.temporal.frameIterations : undefined,
    },
    rate,
  );
  if (line) process.stderr.write(`dreamflow: ${p.resumedFrom > 0 ? `resuming at frame ${p.resumedFrom + 1}: ` : ''}${line}\n`);
}

/** The summary and line of a finished video: its facts and flicker ratio, and the vr stage's report. */
async function videoResult(result: Awaited<ReturnType<typeof runVideoJob>>, runner: GradientRunner, obj: Objective, plan: StagePlan, source: VideoSourceSettings, vr: VrOutput | undefined): Promise<JobResult> {
  const output = result.output;
  // Flicker is a property of frame pairs: a one-frame video has none (and is still a result).
  const flicker = result.frames >= 2 ? await measureFlicker(source.path, output, { start: source.start, duration: source.duration, width: result.width, height: result.height }) : NaN;
  const summary: VideoSummary & Record<string, unknown> = {
    ...renderFacts(result, runner, obj),
    output,
    flickerRatio: Number.isFinite(flicker) ? Number(flicker.toFixed(3)) : null,
    flow: plan.temporal.flow,
    ...vr?.report,
  };
  const line = vr
    ? `wrote ${output}: ${summary.frames} frames ${summary.width}x${summary.height} (${vr.stereo}, dreamed ${plan.vr!.projection}) at ${summary.frameRate} fps, ${summary.secondsPerFrame} s/frame, dream gain ${summary.dreamGain}, flicker ratio ${summary.flickerRatio}; 360° metadata written`
    : `wrote ${output}: ${summary.frames} frames at ${summary.frameRate} fps, ${summary.secondsPerFrame} s/frame, dream gain ${summary.dreamGain}, flicker ratio ${summary.flickerRatio}`;
  return { summary, line };
}
