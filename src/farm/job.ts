/**
 * `dreamflow farm` as a job: the checks made before anything is queued (the objective, the
 * guide, what the farm cannot split), the output guard, the coordinator's run and, when asked,
 * the flicker measures (docs/architecture.md, "The farm"). cli/farm.ts only parses flags into
 * the spec and these options and prints what comes back.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { UserError } from '../errors.js';
import { checkedObjective, dreamOf } from '../pipeline/dream.js';
import { specInputs } from '../pipeline/run.js';
import { sourceSettings, type PipelineSpec } from '../pipeline/spec.js';
import { section as videoSource } from '../pipeline/sources/video.js';
import { stagePlan } from '../pipeline/stages.js';
import { guardOutputs, type OverwritePolicy } from '../sinks/outputGuard.js';
import { readImage } from '../sources/image.js';
import { DEFAULT_WARMUP, runFarm, type FarmOptions, type FarmResult } from './coordinator.js';
import { measureFarm } from './metrics.js';
import { farmDirFor } from './segmentStore.js';
import { farmVideoOf } from './settings.js';

export interface FarmJobOptions extends Omit<FarmOptions, 'spec'> {
  overwrite: OverwritePolicy;
  /** Measure the flicker ratio, also at the cuts' dissolves and inside segments. */
  measure: boolean;
  /** Called once the output is joined, before measuring. */
  onJoined?: () => void;
}

export interface FarmJobResult {
  result: FarmResult;
  /** What `--json` prints. */
  summary: Record<string, unknown>;
}

export async function runFarmJob(given: PipelineSpec, opts: FarmJobOptions): Promise<FarmJobResult> {
  // Checked here, before anything is queued: a typo in a layer name is one line now, not a
  // failed job on every worker later. Layer names need only the model's manifest.
  const dreamStage = dreamOf(given);
  checkedObjective(dreamStage);
  if (dreamStage.guide !== undefined) await readImage(dreamStage.guide, { fit: 224 });
  // The coordinator reads the guide (its bytes go to the workers with each job).
  const spec = { ...given, stages: given.stages.map((s) => (s.kind === 'dream' && typeof s.guide === 'string' ? { ...s, guide: resolve(s.guide) } : s)) };
  const plan = stagePlan(spec);
  // Segments are cut at the input's keyframes and numbered at its rate: a resampled rate is not farmed.
  // Settings over time need every frame's time and the whole sound on each worker (pipeline/modulate.ts).
  if (plan.modulation) throw new UserError('farm: --schedule and --react are not farmed yet: run dreamflow video with them');
  if (sourceSettings(spec, videoSource)?.fps !== undefined) throw new UserError('farm: --fps is not farmed: dream at the input\'s rate, or resample it first (ffmpeg -r)');
  // Without flow every frame is dreamed on its own: both sides of a cut agree, nothing to dissolve.
  const warmup = plan.temporal.flow ? (opts.warmup ?? DEFAULT_WARMUP) : 0;
  const video = farmVideoOf(spec);
  // The output guard, before anything is queued: not an input, writable, replaced only with -y
  // (a rerun that picks up the queue's state continues its own), and locked against a second farm.
  const claim = await guardOutputs([{ path: video.output, continues: existsSync(farmDirFor(video.output)) }], {
    inputs: specInputs(spec),
    overwrite: opts.overwrite,
  });
  try {
    const result = await runFarm({ ...opts, spec, warmup });
    opts.onJoined?.();
    const summary: Record<string, unknown> = {
      output: result.output,
      frames: result.frames,
      segments: result.segments,
      seconds: Number(result.seconds.toFixed(2)),
      workers: result.workers.length,
      workerNames: result.workers,
      fps: Number((result.fps.num / result.fps.den).toFixed(3)),
      frameRate: `${result.fps.num}/${result.fps.den}`,
      width: result.width,
      height: result.height,
      segmentFrames: result.segmentFrames,
      warmup: result.warmup,
      dreamedFrames: result.dreamedFrames,
      cuts: result.cuts,
      resumedSegments: result.resumedSegments,
      stalled: result.stalled,
      maxEventLoopStallMs: result.maxEventLoopStallMs,
    };
    if (opts.measure) Object.assign(summary, await measureFarm(video.input, video.output, result, { start: video.start, duration: video.duration }));
    return { result, summary };
  } finally {
    claim.release();
  }
}
