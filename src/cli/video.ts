import { describe } from '../dream/objectives.js';
import { createRunner } from '../dream/runner.js';
import { UserError } from '../errors.js';
import { Progress } from '../pipeline/progress.js';
import { runVideoJob, type VideoJobOptions } from '../pipeline/videoJob.js';
import { parseSize } from '../media/size.js';
import { DEFAULT_TEMPORAL, type TemporalSettings } from '../temporal/stage.js';
import { measureFlicker } from '../metrics/videoMetrics.js';
import { DREAM_OPTIONS, dreamSettings, num, objective, parse, runnerOptions, str, type Values } from './options.js';

export const VIDEO_OPTIONS = {
  ...DREAM_OPTIONS,
  output: { type: 'string', short: 'o' },
  size: { type: 'string' },
  flow: { type: 'boolean' },
  'no-flow': { type: 'boolean' },
  blend: { type: 'string' },
  'frame-iterations': { type: 'string' },
  'flow-width': { type: 'string' },
  start: { type: 'string' },
  duration: { type: 'string' },
  codec: { type: 'string' },
  crf: { type: 'string' },
  resume: { type: 'boolean' },
  json: { type: 'boolean' },
  quiet: { type: 'boolean' },
} as const;

export const VIDEO_HELP = `dreamflow video IN -o OUT [options]

Dream a whole video file: same frames, frame rate and sound, hallucinations carried along the
optical flow so they stick to the scene. Resumable: after Ctrl-C or a crash, run the same command
with --resume.

  -o, --output FILE        output video (.mp4, .mov, .mkv, .webm)
      --size N|WxH         working and output size (default: the input's; smaller is faster)
      --flow / --no-flow   carry the dream along optical flow (default) or dream every frame
                           from scratch (the flickering baseline, for comparison)
      --blend X            share of the previous dream carried to the next frame, 0-1 (default ${DEFAULT_TEMPORAL.blend})
      --frame-iterations N steps per octave on carried frames (default ${DEFAULT_TEMPORAL.frameIterations}; the first
                           frame and frames after a scene cut get --iterations)
      --flow-width N       width optical flow is estimated at (default ${DEFAULT_TEMPORAL.flowMaxWidth})
      --start S            seconds into the input to start
      --duration S         seconds to dream
      --codec C            video encoder (default libx264)
      --crf N              quality, lower is better (default 18)
      --resume             continue an interrupted run of the same command
      --json               print one JSON line with the result
      --quiet              no progress output
  Dream options (as for "dreamflow image"): --model --layer --channel --guide --octaves
  --octave-scale --iterations --step --jitter --tile --seed --backend --device --weights --workers
  --class --class-score --neuron --tv --decay --blur --blur-target --decorrelate`;

export function temporalSettings(values: Values): TemporalSettings {
  if (values.flow && values['no-flow']) throw new UserError('give either --flow or --no-flow, not both');
  return {
    ...DEFAULT_TEMPORAL,
    dream: dreamSettings(values),
    flow: !values['no-flow'],
    blend: num(values, 'blend', DEFAULT_TEMPORAL.blend, { min: 0, max: 1 }),
    frameIterations: num(values, 'frame-iterations', DEFAULT_TEMPORAL.frameIterations, { integer: true, min: 0, max: 1000 }),
    flowMaxWidth: num(values, 'flow-width', DEFAULT_TEMPORAL.flowMaxWidth, { integer: true, min: 32, max: 4096 }),
  };
}

/** Where a video-writing command cuts the input and how hard it compresses (--start --duration --crf). */
export interface VideoWindow {
  start: number | undefined;
  duration: number | undefined;
  crf: number | undefined;
}

export function videoWindow(values: Values): VideoWindow {
  const given = (name: string): boolean => str(values, name) !== undefined;
  return {
    start: given('start') ? num(values, 'start', 0, { min: 0 }) : undefined,
    duration: given('duration') ? num(values, 'duration', 0, { min: 0.001 }) : undefined,
    crf: given('crf') ? num(values, 'crf', 18, { integer: true, min: 0, max: 63 }) : undefined,
  };
}

/** What "video --json" prints; other video-writing commands add their own fields. */
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

/** The parts of a video job a command may set beyond the shared flags (size, a custom stage ...). */
export type VideoJobExtras = Omit<VideoJobOptions, 'input' | 'output' | 'temporal' | 'start' | 'duration' | 'codec' | 'crf' | 'resume' | 'signal' | 'onWarning' | 'onFrame'>;

/**
 * Dream a video file from a command's flags: the runner, a progress bar, Ctrl-C and SIGTERM
 * stopping cleanly at a checkpoint (resume continues), then the flicker ratio of the result.
 */
export async function dreamVideoFile(values: Values, input: string, output: string, temporal: TemporalSettings, extras: VideoJobExtras): Promise<VideoSummary> {
  const { start, duration, crf } = videoWindow(values);
  const quiet = Boolean(values.quiet) || Boolean(values.json);
  const runner = await createRunner({ ...runnerOptions(values), quiet });
  const controller = new AbortController();
  const onSignal = (): void => controller.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const obj = await objective(values, runner);
    const progress = new Progress('dreaming', undefined, quiet, 'frames');
    let bar: Progress | undefined;
    const result = await runVideoJob(runner, obj, {
      ...extras,
      input,
      output,
      start,
      duration,
      temporal,
      codec: str(values, 'codec'),
      crf,
      resume: Boolean(values.resume),
      signal: controller.signal,
      onWarning: (m) => process.stderr.write(`dreamflow: warning: ${m}\n`),
      onFrame: (done, total) => {
        bar ??= total ? new Progress('dreaming', total, quiet, 'frames') : progress;
        bar.update(done);
      },
    });
    (bar ?? progress).done();
    const flicker = await measureFlicker(input, output, { start, duration, width: result.width, height: result.height });
    return {
      output,
      frames: result.frames,
      fps: Number((result.fps.num / result.fps.den).toFixed(3)),
      frameRate: `${result.fps.num}/${result.fps.den}`,
      seconds: Number(result.seconds.toFixed(2)),
      secondsPerFrame: Number(result.secondsPerFrame.toFixed(3)),
      dreamGain: result.dreamGain === undefined ? null : Number(result.dreamGain.toFixed(3)),
      flickerRatio: Number.isFinite(flicker) ? Number(flicker.toFixed(3)) : null,
      width: result.width,
      height: result.height,
      backend: runner.backend,
      model: runner.manifest.name,
      layers: describe(obj),
      flow: temporal.flow,
      resumedFrom: result.resumedFrom,
    };
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await runner.close();
  }
}

export async function videoCommand(args: string[]): Promise<void> {
  const { values, positionals } = parse(args, VIDEO_OPTIONS);
  if (values.help) {
    console.log(VIDEO_HELP);
    return;
  }
  const input = positionals[0];
  const output = str(values, 'output');
  if (!input) throw new UserError('video: missing input file (dreamflow video IN -o OUT)');
  if (!output) throw new UserError('video: missing -o OUT');
  const temporal = temporalSettings(values);
  const sizeText = str(values, 'size');
  const summary = await dreamVideoFile(values, input, output, temporal, { size: sizeText ? parseSize(sizeText) : undefined });
  if (values.json) console.log(JSON.stringify(summary));
  else if (!values.quiet) {
    console.log(
      `wrote ${output}: ${summary.frames} frames at ${summary.frameRate} fps, ${summary.secondsPerFrame} s/frame, dream gain ${summary.dreamGain}, flicker ratio ${summary.flickerRatio}`,
    );
  }
}
