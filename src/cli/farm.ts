import { resolve } from 'node:path';
import type { GradientRunner } from '../dream/runner.js';
import { UserError } from '../errors.js';
import { DEFAULT_QUEUE } from '../farm/protocol.js';
import { DEFAULT_SEGMENT, DEFAULT_WARMUP, runFarm } from '../farm/coordinator.js';
import type { TemporalSettings } from '../temporal/stage.js';
import { flickerAtCuts } from '../farm/metrics.js';
import { parseRedisUrl } from '../farm/redis.js';
import { measureVideos } from '../metrics/videoMetrics.js';
import { resolveLayer } from '../models/catalog.js';
import { loadManifest } from '../models/manifest.js';
import { Progress } from '../pipeline/progress.js';
import { readImage } from '../sources/image.js';
import { parseSize } from '../media/size.js';
import { DREAM_OPTIONS, num, objective, parse, str, type Values } from './options.js';
import { VIDEO_OPTIONS, temporalSettings } from './video.js';

const { resume: _resume, ...VIDEO_OPTIONS_BUT_RESUME } = VIDEO_OPTIONS;

export const FARM_OPTIONS = {
  ...VIDEO_OPTIONS_BUT_RESUME,
  redis: { type: 'string' },
  queue: { type: 'string' },
  segment: { type: 'string' },
  warmup: { type: 'string' },
  measure: { type: 'boolean' },
} as const;

export const FARM_HELP = `dreamflow farm IN -o OUT --redis redis://HOST:PORT [options]

Dream one video on many machines: the video is cut at keyframes into segments, queued on Redis
(BullMQ), dreamed by any number of "dreamflow worker" processes, and joined without re-encoding
with the original sound. Workers read IN from the same path, so keep it on shared storage (NFS,
SMB, a bind mount). Stopped or crashed? Run the same command again: it picks up the queue's state.

  -o, --output FILE        output video (.mp4, .mov, .mkv, .webm)
      --redis URL          the queue's Redis, redis://[user:pass@]HOST:PORT[/DB] (rediss:// for TLS)
      --queue NAME         queue name, to keep farms apart on one Redis (default ${DEFAULT_QUEUE})
      --segment LEN        segment length, e.g. 10s, 500ms or 240f frames (default ${DEFAULT_SEGMENT});
                           cuts fall on the input's keyframes nearest to it
      --warmup N           frames dreamed before each segment by its worker and dissolved into
                           the previous segment's last frames, so cuts between workers do not
                           jump (default ${DEFAULT_WARMUP}; 0 for hard cuts; none with --no-flow)
      --measure            measure the flicker ratio, also at the cuts' dissolves and inside segments
      --json               print one JSON line with the result
      --quiet              no progress output
  Video options (as for "dreamflow video"): --size --flow/--no-flow --blend --frame-iterations
  --flow-width --start --duration --codec --crf; dream options: --model --layer --channel --guide
  --octaves --octave-scale --iterations --step --jitter --tile --seed. (--backend, --workers and
  --weights belong to each worker's own command line.)`;

/** Flags that decide what a segment looks like: sent with every job, parsed by the worker as `video` does. */
const JOB_FLAGS = [...Object.keys(DREAM_OPTIONS).filter((k) => !['backend', 'weights', 'workers'].includes(k)), 'flow', 'no-flow', 'blend', 'frame-iterations', 'flow-width'];

/** The job's flags in `dreamflow video` syntax; the guide image as an absolute path (workers run elsewhere). */
export function jobArgs(values: Values): string[] {
  const args: string[] = [];
  for (const name of JOB_FLAGS) {
    const v = values[name];
    if (v === true) args.push(`--${name}`);
    else if (typeof v === 'string') args.push(`--${name}`, name === 'guide' ? resolve(v) : v);
  }
  return args;
}

/**
 * Check the dreaming flags here, before anything is queued: a typo in a layer name should be one
 * line now, not a failed job on every worker later. Layer names need only the model's manifest.
 */
async function checkDreamFlags(values: Values): Promise<TemporalSettings> {
  const temporal = temporalSettings(values);
  const manifest = loadManifest(str(values, 'model'));
  const unavailable = (): never => {
    throw new Error('the coordinator does not dream');
  };
  const layersOnly: GradientRunner = {
    backend: 'cpu',
    device: 'cpu',
    manifest,
    parallelism: 1,
    layerName: (name) => resolveLayer(manifest, name).name,
    gradients: async () => unavailable(),
    values: async () => unavailable(),
    features: async () => unavailable(),
    close: async () => undefined,
  };
  await objective({ ...values, guide: undefined }, layersOnly);
  const guide = str(values, 'guide');
  if (guide) await readImage(guide, { fit: 224 });
  return temporal;
}

export async function farmCommand(args: string[]): Promise<void> {
  const { values, positionals } = parse(args, FARM_OPTIONS);
  if (values.help) {
    console.log(FARM_HELP);
    return;
  }
  const input = positionals[0];
  const output = str(values, 'output');
  const redisUrl = str(values, 'redis');
  if (!input) throw new UserError('farm: missing input file (dreamflow farm IN -o OUT --redis URL)');
  if (!output) throw new UserError('farm: missing -o OUT');
  if (!redisUrl) throw new UserError('farm: missing --redis redis://HOST:PORT');
  const redis = parseRedisUrl(redisUrl);
  const temporal = await checkDreamFlags(values);
  const sizeText = str(values, 'size');
  const start = str(values, 'start') === undefined ? undefined : num(values, 'start', 0, { min: 0 });
  const duration = str(values, 'duration') === undefined ? undefined : num(values, 'duration', 0, { min: 0.001 });
  const crf = str(values, 'crf') === undefined ? undefined : num(values, 'crf', 18, { integer: true, min: 0, max: 63 });
  // Without flow every frame is dreamed on its own: both sides of a cut agree, nothing to dissolve.
  const warmup = temporal.flow ? num(values, 'warmup', DEFAULT_WARMUP, { integer: true, min: 0, max: 1000 }) : 0;
  const quiet = Boolean(values.quiet) || Boolean(values.json);
  const size = sizeText ? parseSize(sizeText) : undefined;

  const controller = new AbortController();
  const onSignal = (): void => controller.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  let bar: Progress | undefined;
  try {
    const result = await runFarm({
      input,
      output,
      redis,
      queue: str(values, 'queue') ?? DEFAULT_QUEUE,
      segment: str(values, 'segment'),
      warmup,
      size,
      start,
      duration,
      args: jobArgs(values),
      codec: str(values, 'codec'),
      crf,
      signal: controller.signal,
      onWarning: (m) => process.stderr.write(`dreamflow: warning: ${m}\n`),
      onPlan: (p) => {
        if (quiet) return;
        const resumed = p.alreadyDone > 0 ? `, ${p.alreadyDone} already done` : '';
        process.stderr.write(`farm: ${p.frames} frames in ${p.segments} segments on ${redis.display} (queue ${str(values, 'queue') ?? DEFAULT_QUEUE}${resumed}); workers: dreamflow worker --redis ${redis.display}\n`);
        bar = new Progress('farm', p.frames, quiet, 'frames');
      },
      onProgress: (p) => bar?.update(p.framesDone, `${p.segmentsDone}/${p.segments} segments, ${p.active} active, ${p.workers} worker${p.workers === 1 ? '' : 's'}`),
    });
    bar?.done();
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
    if (values.measure) {
      const m = await measureVideos(input, output, { start, duration, width: result.width, height: result.height });
      const cuts = flickerAtCuts(m.perFrame, result.cuts, result.warmup);
      const round = (x: number): number | null => (Number.isFinite(x) ? Number(x.toFixed(3)) : null);
      Object.assign(summary, { flickerRatio: round(m.flickerRatio), cutFlickerRatio: round(cuts.atCuts), insideFlickerRatio: round(cuts.inside) });
    }
    if (values.json) console.log(JSON.stringify(summary));
    else if (!quiet) {
      const measured = values.measure ? `, flicker ratio ${summary.flickerRatio} (at cuts ${summary.cutFlickerRatio}, inside ${summary.insideFlickerRatio})` : '';
      console.log(`wrote ${output}: ${result.frames} frames in ${result.segments} segments by ${result.workers.length} worker(s) in ${summary.seconds} s${measured}`);
    }
  } finally {
    bar?.done();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
