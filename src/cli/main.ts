import { UserError, writeError } from '../errors.js';
import { WorkerTaskError } from '../engine/workerPool.js';
import { dreamflowVersion } from '../paths.js';
import { redactText } from '../media/redact.js';

const HELP = `dreamflow — DeepDream for stills, video files, live streams and 360 VR

Commands:
  image IN -o OUT      dream a picture
  stills DIR -o DIR    dream every picture of a folder
  video IN -o OUT      dream a video file (sound kept, flicker-free, resumable)
  live --input SRC     dream a camera or stream live for browsers on a WebSocket
  vr IN -o OUT         dream a 360° video: seamless, cubemap or stereo, with 360° metadata
  zoom IMG -o OUT      Google's zoom: an animation dreamed into a still, frame after frame
  run FILE.json        run a pipeline file (pipelines/ has presets)
  metrics IN OUT       flicker ratio and dream gain of a dreamed video
  layers               list a model's layers, or render a --gallery of them
  looks                the named looks (--look NAME), or a contact sheet of them on a picture
  sweep IN -o SHEET    contact sheet of a parameter sweep (layers x iterations x step ...)
  info IMG             the settings an output image was dreamed with
  models list|pull     show or download model weights
  devices              what cpu, cuda and webgpu can do here: adapters, node placement, speed
  farm IN -o OUT       dream one video on many machines (segments queued on Redis)
  worker --redis URL   take and dream a farm's segments
  help COMMAND         options of a command

Run "dreamflow COMMAND --help" for the options of each command.`;

type Command = (args: string[]) => Promise<void>;

/** Commands load lazily, so `dreamflow layers` never pays for ffmpeg or the server. */
const COMMANDS: Record<string, () => Promise<Command>> = {
  image: async () => (await import('./preset.js')).presetCommand('image'),
  stills: async () => (await import('./preset.js')).presetCommand('stills'),
  video: async () => (await import('./preset.js')).presetCommand('video'),
  live: async () => (await import('./preset.js')).presetCommand('live'),
  vr: async () => (await import('./preset.js')).presetCommand('vr'),
  zoom: async () => (await import('./preset.js')).presetCommand('zoom'),
  run: async () => (await import('./run.js')).runCommand,
  metrics: async () => (await import('./metrics.js')).metricsCommand,
  layers: async () => (await import('./layers.js')).layersCommand,
  looks: async () => (await import('./looks.js')).looksCommand,
  sweep: async () => (await import('./sweep.js')).sweepCommand,
  info: async () => (await import('./info.js')).infoCommand,
  models: async () => (await import('./models.js')).modelsCommand,
  devices: async () => (await import('./devices.js')).devicesCommand,
  farm: async () => (await import('./farm.js')).farmCommand,
  worker: async () => (await import('./worker.js')).workerCommand,
};

/** Run the CLI; returns the exit code. User mistakes print one line, never a stack. */
export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || (name === 'help' && rest.length === 0)) {
    console.log(HELP);
    return 0;
  }
  if (name === '--version') {
    console.log(`dreamflow ${dreamflowVersion()}`);
    return 0;
  }
  const target = name === 'help' ? rest[0]! : name;
  const load = COMMANDS[target];
  if (!load) {
    process.stderr.write(`dreamflow: unknown command "${target}" (commands: ${Object.keys(COMMANDS).join(', ')})\n`);
    return 2;
  }
  try {
    await (await load())(name === 'help' ? ['--help'] : rest);
    return 0;
  } catch (err) {
    return reportError(err);
  }
}

export function reportError(err: unknown): number {
  if (err instanceof UserError || (err instanceof WorkerTaskError && err.userError)) {
    process.stderr.write(`dreamflow: ${redactText(err.message)}\n`);
    return err instanceof UserError ? err.exitCode : 2;
  }
  // A full disk, a read-only folder or missing rights met anywhere while writing is the user's
  // to fix, not a bug: one line naming the file, exit code 2 (call sites that know the final
  // output name say it themselves; this catches the rest).
  const disk = writeError(err);
  if (disk) {
    process.stderr.write(`dreamflow: ${redactText(disk.message)}\n`);
    if (process.env.DREAMFLOW_DEBUG && err instanceof Error) process.stderr.write(`${redactText(err.stack ?? '')}\n`);
    return disk.exitCode;
  }
  const e = err instanceof Error ? err : new Error(String(err));
  process.stderr.write(`dreamflow: internal error: ${redactText(e.message)}\n`);
  if (process.env.DREAMFLOW_DEBUG) process.stderr.write(`${redactText(e.stack ?? '')}\n`);
  else process.stderr.write('dreamflow: set DREAMFLOW_DEBUG=1 for details\n');
  return 1;
}
