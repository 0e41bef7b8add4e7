import { UserError } from '../errors.js';
import { redactText } from '../media/redact.js';
import { DEFAULT_QUEUE } from '../farm/protocol.js';
import { DEFAULT_AHEAD, DEFAULT_REDIS_TIMEOUT_SECONDS, DEFAULT_SEGMENT, DEFAULT_STALL_SECONDS, DEFAULT_WARMUP } from '../farm/coordinator.js';
import { SECRET_ENV, loadSecret } from '../farm/auth.js';
import { runFarmJob } from '../farm/job.js';
import { parseRedisUrl } from '../farm/redis.js';
import { Progress } from '../pipeline/progress.js';
import { specFromArgs } from '../pipeline/spec.js';
import { overwritePolicy } from '../sinks/outputGuard.js';
import { interruptSignal } from './signals.js';
import { num, str, type Values } from './options.js';

/** The farm's own flags; every other flag is a `dreamflow video` flag and goes into the spec. */
const FARM_FLAGS: Record<string, 'string' | 'boolean'> = {
  redis: 'string',
  queue: 'string',
  segment: 'string',
  warmup: 'string',
  measure: 'boolean',
  'secret-file': 'string',
  insecure: 'boolean',
  'redis-timeout': 'string',
  'stall-timeout': 'string',
  ahead: 'string',
};

/** Flags of the machine that dreams: they belong to each worker's own command line. */
const WORKER_FLAGS = ['backend', 'device', 'workers', 'weights'];

export const FARM_HELP = `dreamflow farm IN -o OUT --redis redis://HOST:PORT [options]

Dream one video on many machines: the video is cut at keyframes into segments, queued on Redis
(BullMQ) with their stream-copied pieces of IN (workers need no shared storage), dreamed by any
number of "dreamflow worker" processes, and joined without re-encoding with the original sound.
Jobs and results are signed with a secret shared by the coordinator and the workers (set
${SECRET_ENV}, or --secret-file). Stopped or crashed? Run the same command again: it picks
up the queue's state.

  -o, --output FILE        output video (.mp4, .mov, .mkv, .webm)
      --redis URL          the queue's Redis, redis://[user:pass@]HOST:PORT[/DB] (rediss:// for TLS)
      --queue NAME         queue name, to keep farms apart on one Redis (default ${DEFAULT_QUEUE})
      --segment LEN        segment length, e.g. 10s, 500ms or 240f frames (default ${DEFAULT_SEGMENT});
                           cuts fall on the input's keyframes nearest to it
      --warmup N           frames dreamed before each segment by its worker and dissolved into
                           the previous segment's last frames, so cuts between workers do not
                           jump (default ${DEFAULT_WARMUP}; 0 for hard cuts; none with --no-flow)
      --secret-file FILE   read the farm's shared secret from FILE (default: $${SECRET_ENV})
      --insecure           run without a shared secret: anyone who can reach Redis can then
                           queue jobs for the workers and forge results (trusted networks only)
      --ahead N            segments kept queued, with their pieces of IN stored in Redis, ahead
                           of the collected ones (default ${DEFAULT_AHEAD}, at least twice the workers)
      --redis-timeout S    give up with one line when Redis does not answer for S seconds
                           (default ${DEFAULT_REDIS_TIMEOUT_SECONDS}); the collected segments are kept for a rerun
      --stall-timeout S    after S seconds with no progress and no active segment, queue again the
                           segments whose jobs completed without a result; stop with one line
                           when one keeps doing so (default ${DEFAULT_STALL_SECONDS})
      --measure            measure the flicker ratio, also at the cuts' dissolves and inside segments
      --json               print one JSON line with the result
      --quiet              no progress output
  Every other option is a "dreamflow video" option (dreamflow video --help) and makes the job's
  pipeline spec, which each segment job carries to the workers. --backend, --device, --workers
  and --weights belong to each worker's own command line and are refused here.`;

/** Split the farm's flags from the video flags that make the spec. */
function splitArgs(args: readonly string[]): { farm: Values; video: string[] } {
  const farm: Values = {};
  const video: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const eq = arg.indexOf('=');
    const name = arg.startsWith('--') ? (eq > 0 ? arg.slice(2, eq) : arg.slice(2)) : '';
    const kind = FARM_FLAGS[name];
    if (WORKER_FLAGS.includes(name)) throw new UserError(`farm: --${name} belongs to each worker's command line (dreamflow worker --${name} …), not to the farm`);
    if (name === 'resume') throw new UserError('farm: no --resume needed: run the same command again and it picks up the queue\'s state');
    if (kind === 'boolean') farm[name] = true;
    else if (kind === 'string') {
      const value = eq > 0 ? arg.slice(eq + 1) : args[++i];
      if (value === undefined) throw new UserError(`option --${name} needs a value`);
      farm[name] = value;
    } else video.push(arg);
  }
  return { farm, video };
}

export async function farmCommand(args: string[]): Promise<void> {
  const { farm: values, video } = splitArgs(args);
  const { spec, run } = specFromArgs('video', video);
  if (run.help) {
    console.log(FARM_HELP);
    return;
  }
  const redisUrl = str(values, 'redis');
  if (!redisUrl) throw new UserError('farm: missing --redis redis://HOST:PORT');
  const redis = parseRedisUrl(redisUrl);
  const secret = await loadSecret({ file: str(values, 'secret-file'), insecure: Boolean(values.insecure), command: 'farm' });
  const redisTimeoutSeconds = num(values, 'redis-timeout', DEFAULT_REDIS_TIMEOUT_SECONDS, { min: 1, max: 86400 });
  const queue = str(values, 'queue') ?? DEFAULT_QUEUE;
  const quiet = run.quiet || run.json;
  const interrupt = interruptSignal();
  let bar: Progress | undefined;
  try {
    const { result, summary } = await runFarmJob(spec, {
      redis,
      queue,
      segment: str(values, 'segment'),
      warmup: num(values, 'warmup', DEFAULT_WARMUP, { integer: true, min: 0, max: 1000 }),
      secret,
      redisTimeoutSeconds,
      stallSeconds: num(values, 'stall-timeout', DEFAULT_STALL_SECONDS, { min: 0.1, max: 86400 }),
      ahead: num(values, 'ahead', DEFAULT_AHEAD, { integer: true, min: 1, max: 10000 }),
      overwrite: overwritePolicy(run.overwrite, run.noOverwrite),
      measure: Boolean(values.measure),
      signal: interrupt.signal,
      onWarning: (m) => process.stderr.write(`dreamflow: warning: ${redactText(m)}\n`),
      onPlan: (p) => {
        if (quiet) return;
        const resumed = p.alreadyDone > 0 ? `, ${p.alreadyDone} already done` : '';
        process.stderr.write(`farm: ${p.frames} frames in ${p.segments} segment${p.segments === 1 ? '' : 's'} on ${redis.display} (queue ${queue}${resumed}); workers: dreamflow worker --redis ${redis.display}${secret ? '' : ' --insecure'}\n`);
        bar = new Progress('farm', p.frames, quiet, 'frames');
      },
      onProgress: (p) => bar?.update(p.framesDone, `${p.segmentsDone}/${p.segments} segments, ${p.active} active, ${p.workers} worker${p.workers === 1 ? '' : 's'}`),
      onJoined: () => bar?.done(),
    });
    if (run.json) console.log(JSON.stringify(summary));
    else if (!quiet) {
      const measured = values.measure ? `, flicker ratio ${summary.flickerRatio} (at cuts ${summary.cutFlickerRatio}, inside ${summary.insideFlickerRatio})` : '';
      console.log(`wrote ${result.output}: ${result.frames} frames in ${result.segments} segments by ${result.workers.length} worker(s) in ${summary.seconds} s${measured}`);
    }
  } finally {
    bar?.done();
    interrupt.release();
  }
}
