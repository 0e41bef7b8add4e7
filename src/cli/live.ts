import { createRunner } from '../dream/runner.js';
import { UserError } from '../errors.js';
import { LIVE_DREAM, LIVE_TEMPORAL } from '../pipeline/live.js';
import { startLive } from '../pipeline/liveSession.js';
import { isLoopbackHost } from '../server/access.js';
import { DREAM_OPTIONS, dreamSettings, num, objective, parse, runnerOptions, str, type Values } from './options.js';

export const LIVE_OPTIONS = {
  ...DREAM_OPTIONS,
  input: { type: 'string', short: 'i' },
  port: { type: 'string' },
  host: { type: 'string' },
  size: { type: 'string' },
  fps: { type: 'string' },
  token: { type: 'string' },
  'viewer-token': { type: 'string' },
  'allow-origin': { type: 'string', multiple: true },
  record: { type: 'string' },
  push: { type: 'string' },
  loop: { type: 'boolean' },
  blend: { type: 'string' },
  'frame-iterations': { type: 'string' },
  'no-adapt': { type: 'boolean' },
  quiet: { type: 'boolean' },
} as const;

export const LIVE_HELP = `dreamflow live --input SRC [options]

Dream a camera or stream in real time and serve it to any number of browsers: open the printed
URL. Viewers see the dream with its fps and latency, can change the layer and strength, and can
share their own camera to be dreamed.

  -i, --input SRC          lavfi:testsrc2 (synthetic), /dev/video0 or camera:0 (a camera),
                           rtsp:// http(s):// udp:// srt:// rtmp:// URLs, a video file played in
                           real time, or "browser" (only cameras shared from the viewer page)
      --port N             HTTP and WebSocket port (default 8080)
      --host ADDR          address to listen on (default 127.0.0.1: this machine only)
      --size WxH           working and output size, even numbers (default 320x180)
      --fps N              frame rate to hold (default 10); steps and resolution adapt to it
      --no-adapt           never lower steps or resolution (frames are dropped instead)
      --token T            needed to change settings and share a camera (or env DREAMFLOW_TOKEN)
      --viewer-token T     needed to watch (or env DREAMFLOW_VIEWER_TOKEN); open URL?token=T
      --allow-origin URL   also accept browsers from this origin (repeatable)
      --record FILE        also record the dreamed stream (.mp4, .mkv, .mov, .webm)
      --push URL|FILE      also stream it: rtmp://…, srt://…, udp://…, or an HLS playlist .m3u8
      --loop               play a file input in a loop
      --blend X            share of the previous dream carried along the flow, 0-1 (default ${LIVE_TEMPORAL.blend})
      --frame-iterations N steps per frame at most (default ${LIVE_TEMPORAL.frameIterations}); the controller lowers them to
                           hold --fps, the temporal carry deepens the dream over frames
      --quiet              print only the URL
  Dream options: --model --layer --channel --guide --octaves (default ${LIVE_DREAM.octaves}) --octave-scale
  --iterations (steps for the first frame and after scene cuts, default ${LIVE_DREAM.iterations}) --step --jitter
  --tile --seed --backend --device --weights --workers

Stop with Ctrl-C: the recording is finished and viewers are told goodbye.`;

export function parseLiveSize(text: string): { width: number; height: number } {
  const m = /^(\d+)x(\d+)$/i.exec(text.trim());
  if (!m) throw new UserError(`--size must be WxH, e.g. 320x180 (got "${text}")`);
  const width = Number(m[1]);
  const height = Number(m[2]);
  if (width < 32 || height < 32 || width > 3840 || height > 2160) throw new UserError(`--size ${text}: each side must be from 32 to 3840x2160`);
  if (width % 2 || height % 2) throw new UserError(`--size ${text}: use even numbers (video encoders need them)`);
  return { width, height };
}

function tokenOption(values: Values, name: string, env: string): string | undefined {
  const t = str(values, name) ?? process.env[env];
  if (t === undefined || t === '') return undefined;
  if (t.length < 8) throw new UserError(`--${name} must be at least 8 characters`);
  return t;
}

export async function liveCommand(args: string[]): Promise<void> {
  const { values, positionals } = parse(args, LIVE_OPTIONS, 0);
  if (values.help) {
    console.log(LIVE_HELP);
    return;
  }
  void positionals;
  const input = str(values, 'input');
  if (!input) throw new UserError('live: missing --input (e.g. --input lavfi:testsrc2 or --input /dev/video0)');
  const size = parseLiveSize(str(values, 'size') ?? '320x180');
  const fps = num(values, 'fps', 10, { min: 0.5, max: 60 });
  const port = num(values, 'port', 8080, { integer: true, min: 0, max: 65535 });
  const host = str(values, 'host') ?? '127.0.0.1';
  const token = tokenOption(values, 'token', 'DREAMFLOW_TOKEN');
  const viewerToken = tokenOption(values, 'viewer-token', 'DREAMFLOW_VIEWER_TOKEN');
  const dream = dreamSettings(values, LIVE_DREAM);
  const temporal = {
    ...LIVE_TEMPORAL,
    dream,
    frameIterations: num(values, 'frame-iterations', LIVE_TEMPORAL.frameIterations, { integer: true, min: 0, max: 8 }),
    blend: num(values, 'blend', LIVE_TEMPORAL.blend, { min: 0, max: 1 }),
  };
  const quiet = Boolean(values.quiet);
  const log = (m: string): void => {
    if (!quiet) process.stderr.write(`dreamflow: ${m}\n`);
  };
  const origins = values['allow-origin'] as unknown as string[] | undefined;
  if (!isLoopbackHost(host) && token === undefined) {
    log(`warning: listening on ${host} without --token: anyone who can reach it may change settings and send camera frames`);
  }

  const session = await startLive({
    input,
    size,
    fps,
    loop: Boolean(values.loop),
    host,
    port,
    token,
    viewerToken,
    allowedOrigins: origins,
    record: str(values, 'record'),
    push: str(values, 'push'),
    runner: () => createRunner({ ...runnerOptions(values), quiet }),
    objective: (r) => objective(values, r),
    temporal,
    adaptive: !values['no-adapt'],
    onWarning: (m) => log(`warning: ${m}`),
  });

  const viewerUrl = viewerToken ? `${session.url}?token=${encodeURIComponent(viewerToken)}` : session.url;
  console.log(`dreamflow live: open ${viewerUrl} to watch${token ? ` (${session.url}?token=… to control)` : ''}`);
  log(`dreaming ${input} at ${size.width}x${size.height}, ${fps} fps; Ctrl-C stops`);

  let stopping = false;
  const onSignal = (sig: NodeJS.Signals): void => {
    if (stopping) {
      // A second Ctrl-C means now: skip finishing the recording.
      process.stderr.write(`dreamflow: ${sig} again, exiting without finishing\n`);
      process.exit(130);
    }
    stopping = true;
    log('stopping…');
    void session.close();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    await session.done;
    if (!stopping) log('input ended');
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
