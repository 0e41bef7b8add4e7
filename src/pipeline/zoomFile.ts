/**
 * Zoom jobs (docs/architecture.md, "Zoom"): a still through the zoom stage (temporal/zoom.ts)
 * into a video sink, by the same resumable file loop as video files (videoJob.ts): the still is
 * the loop's frame supply (sources/zoom.ts) and `--audio` its soundtrack.
 */
import { createRunner, stoppedBy } from '../dream/runner.js';
import { videoCodecFor } from '../media/encoder.js';
import { parseSize } from '../media/size.js';
import { stillFrames, stillSize } from '../sources/zoom.js';
import { assertReadableFile } from '../sources/image.js';
import { parsePan, ZoomStage, type ZoomMove } from '../temporal/zoom.js';
import { objectiveOf, runnerOptionsOf } from './dream.js';
import { checkDreamMemory } from './footprint.js';
import { Progress } from './progress.js';
import type { JobResult, RunOptions } from './job.js';
import type { PipelineSpec } from './spec.js';
import { sinkSettings, sourceSettings } from './spec/settings.js';
import { section as videoSinkSection } from './sinks/video.js';
import { section as zoomSourceSection, type ZoomSourceSettings } from './sources/zoom.js';
import { stagePlan, stagesOf } from './stages.js';
import { openSinks } from './sinkRegistry.js';
import { envelopeFor } from './modulate.js';
import { rateOf, renderFacts, runVideoJob } from './videoJob.js';

export type ZoomSourceSpec = ZoomSourceSettings;

/** The per-frame transform a zoom source names. */
export function zoomMoveOf(source: ZoomSourceSpec): ZoomMove {
  return { zoom: source.zoom, rotate: source.rotate, ...parsePan(source.pan) };
}

export async function runZoomJob(spec: PipelineSpec, opts: RunOptions): Promise<JobResult> {
  const source = sourceSettings(spec, zoomSourceSection)!;
  const sink = sinkSettings(spec, videoSinkSection)!;
  const plan = stagePlan(spec);
  const codec = videoCodecFor(sink.path, sink.codec);
  await assertReadableFile(source.path, 'image');
  if (source.audio !== undefined) await assertReadableFile(source.audio, 'audio file');
  const size = await stillSize(source.path, parseSize(source.size));
  checkDreamMemory(plan.dream, size, 'video', { onWarning: opts.onWarning });
  const fps = rateOf(source.fps);
  const frameCount = Math.max(1, Math.round((source.duration * fps.num) / fps.den));
  const frames = await stillFrames(source.path, fps, frameCount);
  const move = zoomMoveOf(source);
  // The loudness per frame of --audio when a field follows the sound (--react).
  const envelope = await envelopeFor(plan.modulation, source.audio === undefined ? undefined : { path: source.audio, fps });
  const runner = await createRunner(runnerOptionsOf(plan.dream, opts.quiet));
  try {
    const obj = await objectiveOf(plan.dream, runner);
    const progress = new Progress('zooming', undefined, opts.quiet, 'frames', 5000, { firstOwnStep: true });
    const result = await runVideoJob(runner, obj, {
      input: source.path,
      output: sink.path,
      temporal: plan.temporal,
      supply: { ...frames, width: size.width, height: size.height },
      audio: source.audio === undefined ? undefined : { path: source.audio, duration: frameCount / source.fps },
      // The zoom's stage dreams each frame from the previous dream moved (temporal/zoom.ts).
      createStage: (r, o) => stagesOf(plan, { runner: stoppedBy(r, opts.signal), objective: o, envelope, origin: 0, move, dreaming: (runner, objective, t) => new ZoomStage(runner, objective, t, move) }),
      stageIdentity: { zoom: move, ...(plan.modulation ? { modulation: plan.modulation } : {}) },
      sinks: (frameSize, frameRate) => openSinks({ spec, size: frameSize, fps: frameRate }),
      codec,
      crf: sink.crf,
      resume: opts.resume,
      signal: opts.signal,
      onWarning: opts.onWarning,
      onFrame: (done, total) => {
        progress.setTotal(total);
        progress.update(done);
      },
    });
    progress.done();
    const summary = { ...renderFacts(result, runner, obj), output: sink.path, zoom: move };
    return { summary, line: `wrote ${sink.path}: ${summary.frames} frames ${summary.width}x${summary.height} at ${summary.frameRate} fps zooming ${move.zoom}x per frame, ${summary.secondsPerFrame} s/frame, dream gain ${summary.dreamGain}` };
  } finally {
    await runner.close();
  }
}
