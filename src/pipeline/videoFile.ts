/**
 * Video-file jobs: a video source through the stage plan (dream, temporal carry, 360°) into a
 * video sink, by the resumable file loop (videoJob.ts). With a vr stage the input's spherical
 * metadata decide the stereo layout, the frame must be 2:1 per eye, and the output gets
 * spherical boxes.
 */
import { createRunner, stoppedBy } from '../dream/runner.js';
import { UserError } from '../errors.js';
import { measureFlicker } from '../metrics/videoMetrics.js';
import { probe } from '../media/probe.js';
import { videoCodecFor } from '../media/encoder.js';
import { parseSize } from '../media/size.js';
import { checkEquirectAspect, panoramaSize } from '../vr/aspect.js';
import { outputMetadata, readSphericalMetadata, writeSphericalMetadata } from '../vr/spherical.js';
import { objectiveOf, runnerOptionsOf } from './dream.js';
import { checkDreamMemory } from './footprint.js';
import { measureThroughput, planLine } from './estimate.js';
import { Progress } from './progress.js';
import type { JobResult, RunOptions } from './job.js';
import { sectionOf, sourceOf, type PipelineSpec } from './spec.js';
import { createStage, stagePlan } from './stages.js';
import { envelopeFor, withModulation } from './modulate.js';
import { rateOf, renderFacts, runVideoJob, workingSize, type VideoJobOptions } from './videoJob.js';

interface VideoSourceSpec {
  kind: 'video';
  path: string;
  size?: string;
  start?: number;
  duration?: number;
  fps?: number;
}

interface VideoSinkSpec {
  kind: 'video';
  path: string;
  codec?: string | undefined;
  crf: number;
}

const MP4_EXTENSIONS = /\.(mp4|m4v|mov)$/i;

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
  const source = sourceOf<VideoSourceSpec>(spec);
  const sink = sectionOf<VideoSinkSpec>(spec, 'sinks', 'video')!;
  const plan = stagePlan(spec);
  const input = source.path;
  const output = sink.path;
  const size = source.size ? parseSize(source.size) : undefined;
  // The container must hold the codec: refused now, not at the join after every frame is dreamed.
  const codec = videoCodecFor(output, sink.codec);
  let extras: Partial<VideoJobOptions> = { size };
  let vrReport: Record<string, unknown> | undefined;
  let stereo: ReturnType<typeof outputMetadata>['stereo'] | undefined;
  if (plan.vr) {
    if (!MP4_EXTENSIONS.test(output)) throw new UserError(`vr: ${output}: the output must be .mp4, .m4v or .mov (spherical metadata are MP4 boxes)`);
    // The input's own spherical metadata: its stereo layout is the default, its pose and extra
    // V1 fields are kept; a cube-map or other projection is not something this reads.
    const media = await probe(input);
    const kept = await readSphericalMetadata(input);
    if (kept?.projection && kept.projection !== 'equirectangular') {
      throw new UserError(`${input}: its spherical metadata say ${kept.projection} projection; dreamflow vr reads equirectangular video`);
    }
    stereo = plan.vr.stereo ?? kept?.stereo ?? 'mono';
    checkEquirectAspect(input, media, stereo);
    const metadata = outputMetadata(stereo, kept);
    const vr = { projection: plan.vr.projection, stereo, eyeIterations: plan.vr.eyeIterations };
    extras = {
      size: panoramaSize(media, stereo, size),
      stageIdentity: { vr },
      faststart: plan.vr.faststart,
      finalize: (temp) => writeSphericalMetadata(temp, metadata),
    };
    vrReport = {
      projection: plan.vr.projection,
      stereo,
      faststart: plan.vr.faststart,
      spherical: { projection: metadata.projection, stereo: metadata.stereo, pose: metadata.pose, keptFromInput: kept !== undefined },
    };
  }
  // Before the model loads or a frame is decoded: a working size this machine has no memory for
  // is refused now (an input that cannot be probed is left to the job to report).
  const dims = await probe(input).catch(() => undefined);
  if (dims) {
    const frame = workingSize(dims.width, dims.height, extras.size);
    checkDreamMemory(plan.dream, frame, plan.vr ? 'vr' : 'video', { wrapX: plan.vr !== undefined, onWarning: opts.onWarning });
  }
  // The loudness per frame when a field follows the sound (--react), at the output's frame rate.
  const envelope = await envelopeFor(plan.modulation, dims ? { path: input, start: source.start, fps: source.fps === undefined ? dims.fps : rateOf(source.fps) } : undefined);
  const runner = await createRunner(runnerOptionsOf(plan.dream, opts.quiet));
  try {
    const obj = await objectiveOf(plan.dream, runner);
    // The first frame gets the full dream: its own step, and the rate counts recent frames only.
    const progress = new Progress('dreaming', undefined, opts.quiet, 'frames', 5000, { firstOwnStep: true });
    const result = await runVideoJob(runner, obj, {
      ...extras,
      input,
      output,
      start: source.start,
      duration: source.duration,
      rate: source.fps === undefined ? undefined : rateOf(source.fps),
      temporal: plan.temporal,
      // Tiles stop at Ctrl-C: a frame's dream left running after the job stopped ends at its next step.
      createStage: (r, o) => withModulation(createStage(plan, stoppedBy(r, opts.signal), o, stereo), plan.modulation, { temporal: plan.temporal, objective: o }, plan.dream, envelope, source.start ?? 0),
      ...(plan.modulation ? { stageIdentity: { ...(extras.stageIdentity ?? {}), modulation: plan.modulation } } : {}),
      codec,
      crf: sink.crf,
      resume: opts.resume,
      signal: opts.signal,
      onWarning: opts.onWarning,
      onPlan: async (p) => {
        if (opts.quiet || p.frames === undefined || p.frames === 0) return;
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
      },
      onFrame: (done, total) => {
        progress.setTotal(total);
        progress.update(done);
      },
    });
    progress.done();
    // Flicker is a property of frame pairs: a one-frame video has none (and is still a result).
    const flicker = result.frames >= 2 ? await measureFlicker(input, output, { start: source.start, duration: source.duration, width: result.width, height: result.height }) : NaN;
    const summary: VideoSummary & Record<string, unknown> = {
      ...renderFacts(result, runner, obj),
      output,
      flickerRatio: Number.isFinite(flicker) ? Number(flicker.toFixed(3)) : null,
      flow: plan.temporal.flow,
      ...vrReport,
    };
    const line = vrReport
      ? `wrote ${output}: ${summary.frames} frames ${summary.width}x${summary.height} (${stereo}, dreamed ${plan.vr!.projection}) at ${summary.frameRate} fps, ${summary.secondsPerFrame} s/frame, dream gain ${summary.dreamGain}, flicker ratio ${summary.flickerRatio}; 360° metadata written`
      : `wrote ${output}: ${summary.frames} frames at ${summary.frameRate} fps, ${summary.secondsPerFrame} s/frame, dream gain ${summary.dreamGain}, flicker ratio ${summary.flickerRatio}`;
    return { summary, line };
  } finally {
    await runner.close();
  }
}
