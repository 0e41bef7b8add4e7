import { exitBySignal, STOP_SIGNALS } from './signals.js';
import { UserError } from '../errors.js';
import { DEFAULT_QUEUE } from '../farm/protocol.js';
import { checkQueueName } from '../farm/coordinator.js';
import { parseRedisUrl } from '../farm/redis.js';
import { FarmWorker } from '../farm/worker.js';
import { SECRET_ENV, loadSecret } from '../farm/auth.js';
import { num, parse, runnerOptions, str } from './options.js';

export const WORKER_OPTIONS = {
  redis: { type: 'string' },
  queue: { type: 'string' },
  concurrency: { type: 'string' },
  heartbeat: { type: 'string' },
  backend: { type: 'string' },
  device: { type: 'string' },
  workers: { type: 'string' },
  weights: { type: 'string' },
  'secret-file': { type: 'string' },
  insecure: { type: 'boolean' },
  quiet: { type: 'boolean' },
} as const;

export const DEFAULT_HEARTBEAT_SECONDS = 30;

export const WORKER_HELP = `dreamflow worker --redis redis://HOST:PORT [options]

Take video segments from a render farm's queue (see "dreamflow farm"), dream them and store the
signed result in Redis, until stopped (Ctrl-C hands the segment in progress back to the queue).
Start any number, on any machines that reach the Redis: each job brings its piece of the video.
Jobs not signed with the farm's shared secret (${SECRET_ENV} or --secret-file) are refused.

      --redis URL          the farm's Redis, redis://[user:pass@]HOST:PORT[/DB] (rediss:// for TLS)
      --queue NAME         queue name (default ${DEFAULT_QUEUE})
      --secret-file FILE   read the farm's shared secret from FILE (default: $${SECRET_ENV})
      --insecure           accept unsigned jobs and sign nothing (trusted networks only)
      --concurrency N      segments dreamed at once by this process (default 1)
      --heartbeat S        seconds a worker that stopped answering keeps its segment before
                           another worker takes it over (default ${DEFAULT_HEARTBEAT_SECONDS})
      --backend B          auto, onnx, wasm, cpu or tensorflow (as for "dreamflow video")
      --device D           where onnx runs: cpu, cuda or webgpu
      --workers N          gradient threads of this process
      --weights DIR        where the model weights are
      --quiet              log only errors`;

export async function workerCommand(args: string[]): Promise<void> {
  const { values, positionals } = parse(args, WORKER_OPTIONS, 0);
  if (values.help) {
    console.log(WORKER_HELP);
    return;
  }
  void positionals;
  const redisUrl = str(values, 'redis');
  if (!redisUrl) throw new UserError('worker: missing --redis redis://HOST:PORT');
  const redis = parseRedisUrl(redisUrl);
  const queue = checkQueueName(str(values, 'queue') ?? DEFAULT_QUEUE);
  const secret = await loadSecret({ file: str(values, 'secret-file'), insecure: Boolean(values.insecure), command: 'worker' });
  const concurrency = num(values, 'concurrency', 1, { integer: true, min: 1, max: 64 });
  const heartbeatSeconds = num(values, 'heartbeat', DEFAULT_HEARTBEAT_SECONDS, { min: 0.5, max: 3600 });
  const machine = runnerOptions(values);
  const quiet = Boolean(values.quiet);

  let name = '';
  const log = (message: string): void => {
    if (!quiet) process.stderr.write(`dreamflow worker ${name}: ${message}\n`);
  };
  const worker = new FarmWorker({
    redis,
    queue,
    concurrency,
    heartbeatSeconds,
    log,
    machine,
    secret,
  });
  name = worker.name;
  let stopping = false;
  // The signal policy (docs/architecture.md, "Signals"): the first stops after handing the
  // segment back, a second quits at once by that signal.
  const onSignal = (sig: NodeJS.Signals): void => {
    if (stopping) exitBySignal(sig);
    stopping = true;
    log('stopping: the segment in progress goes back to the queue (Ctrl-C again to quit at once)');
    void worker.stop();
  };
  for (const s of STOP_SIGNALS) process.on(s, onSignal);
  try {
    // The default model is the likely one: load it before taking a job.
    await worker.start(machine);
    log(`waiting for segments on ${redis.display} (queue ${queue}, heartbeat ${heartbeatSeconds} s)`);
    await worker.done();
    log(`stopped after ${worker.segmentsDone} segment(s)`);
  } finally {
    for (const s of STOP_SIGNALS) process.off(s, onSignal);
  }
}
