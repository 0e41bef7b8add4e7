/**
 * A live job: source(s) → latest-frame slot → dreaming loop → WebSocket viewers, recording and
 * push. `dreamflow live` is a thin command line over `startLive`; tests and the benchmark use it
 * directly.
 */
import { rm, writeFile } from 'node:fs/promises';
import { liveLook, liveLookFields } from '../dream/looks.js';
import { layer, type Objective } from '../dream/objectives.js';
import { createRunner, type GradientRunner } from '../dream/runner.js';
import { UserError } from '../errors.js';
import { redactText } from '../media/redact.js';
import { modelHasLayer } from '../models/manifest.js';
import { isLoopbackHost } from '../server/access.js';
import { LiveServer, type LiveServerOptions } from '../server/hub.js';
import { PacedWriter } from '../sinks/paced.js';
import { openPush, parsePushTarget } from '../sinks/push.js';
import { checkLiveRecording, openRecording } from '../sinks/record.js';
import { BrowserCameraSource } from '../sources/browserCamera.js';
import { LiveAudioCapture, PCM_CHANNELS, PCM_RATE, type PcmFeed } from '../media/liveAudio.js';
import { probe } from '../media/probe.js';
import { liveInputArgs, openLiveSource, parseLiveInput, type FfmpegLiveSource, type LiveInput } from '../sources/live.js';
import { TemporalDreamStage, type TemporalSettings } from '../temporal/stage.js';
import { objectiveOf, runnerOptionsOf } from './dream.js';
import { LIVE_TEMPORAL } from './liveDefaults.js';
import type { DreamedFrame, LiveFrame, Sink } from '../frame.js';
import { LiveScheduler } from './live.js';
import type { ControllerOptions, LiveLevel } from './liveController.js';
import type { JobResult, RunOptions } from './job.js';
import { section as pushSink } from './sinks/push.js';
import { section as recordSink } from './sinks/record.js';
import { MIN_TOKEN_LENGTH, section as viewersSink } from './sinks/viewers.js';
import { parseLiveSize, section as liveSource } from './sources/live.js';
import type { PipelineSpec } from './spec/fields.js';
import { sinkSettings, sourceSettings } from './spec/settings.js';
import { createLiveStage, stagePlan } from './stages.js';
import { layerObjectives } from './modulate.js';
import type { Modulation } from './schedule.js';
import { checkLiveSound, liveModulationProblem, LiveModulator, RunningLoudness } from './liveModulation.js';

export interface LiveOptions {
  /** `lavfi:testsrc2`, `/dev/video0`, `camera:0`, a URL, a file, or `browser` (viewers' cameras only). */
  input: string | LiveInput;
  /** Working and output size (even numbers: encoders need them). */
  size: { width: number; height: number };
  /** Target frames per second. */
  fps: number;
  /** Files: play in a loop. */
  loop?: boolean;
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  token?: string | undefined;
  viewerToken?: string | undefined;
  allowedOrigins?: readonly string[] | undefined;
  /** Recordings and pushes: each a kind of LIVE_OUTPUTS and its path or URL. */
  outputs?: readonly LiveOutputRequest[];
  /** A runner, or how to make one (made after the port is bound, so a busy port fails fast; closed with the session). */
  runner: GradientRunner | (() => Promise<GradientRunner>);
  /** Default: the model's default layer. */
  objective?: Objective | ((runner: GradientRunner) => Promise<Objective>);
  temporal?: TemporalSettings;
  /** The dreaming stage (default: the temporal dream stage with `temporal`); runLiveJob's comes from the stage registry. */
  stage?: (runner: GradientRunner, objective: Objective) => TemporalDreamStage;
  /** Adapt steps and resolution to hold fps (default true). */
  adaptive?: boolean;
  controller?: ControllerOptions;
  /** The controller's quality ladder (default: from frameIterations and minSteps; see levelLadder). */
  levels?: LiveLevel[];
  /** The quality floor: steps per frame never given up to hold the frame rate (default 1). */
  minSteps?: number;
  /** Measure the dream gain every this many seconds (default 5; 0: never). */
  gainEverySeconds?: number;
  /** Server limits (maxPayload, maxViewers, maxViewersPerAddress, maxBufferedBytes, jpegQuality, statsEveryMs, heartbeatMs). */
  server?: Partial<Omit<LiveServerOptions, 'host' | 'port' | 'token' | 'viewerToken' | 'allowedOrigins'>>;
  /** URL sources: reconnect back-off and stall timeout (ms). */
  reconnect?: { backoffMs?: { initial: number; max: number }; stallMs?: number };
  onWarning?: (message: string) => void;
  /** Each dreamed frame (tests and benchmarks); must not block. */
  onFrame?: (frame: DreamedFrame) => void;
  /** Carry a file input's sound into recordings and pushes (default true). */
  sound?: boolean;
  /** Schedules and --react (liveModulation.ts), with the objectives of a layer schedule's names. */
  modulation?: { spec: Modulation; layers: ReadonlyMap<string, Objective> } | undefined;
}

export interface LiveSession {
  readonly url: string;
  readonly port: number;
  readonly server: LiveServer;
  readonly scheduler: LiveScheduler;
  /** Settles when the session ends: by close(), a file input ending, or (rejecting) a source failing. */
  readonly done: Promise<void>;
  health(): Record<string, unknown>;
  /** Stop dreaming, finish the recording, say goodbye to viewers, stop ffmpeg. Safe to call twice. */
  close(): Promise<void>;
}

/**
 * A live output: checked before the server starts, opened once the job runs. What it opens is a
 * Sink wrapped in a PacedWriter (sinks/paced.ts), itself a Sink whose `write` never blocks.
 */
interface LiveOutput {
  check(target: string): void;
  open(target: string, size: { width: number; height: number }, fps: number, onError: (err: Error) => void, sound?: PcmFeed): Promise<PacedWriter<LiveFrame>>;
}

/** The live loop's outputs by sink kind (the `viewers` sink is the hub's JPEG sink, `LiveServer.sink`). */
const LIVE_OUTPUTS = {
  record: { check: (path) => checkLiveRecording(path), open: (path, size, fps, onError, sound) => openRecording(path, size, fps, onError, sound) },
  push: { check: (url) => void parsePushTarget(url), open: (url, size, fps, onError, sound) => openPush(parsePushTarget(url), size, fps, onError, sound) },
} satisfies Record<string, LiveOutput>;

export type LiveOutputKind = keyof typeof LIVE_OUTPUTS;

export interface LiveOutputRequest {
  kind: LiveOutputKind;
  target: string;
}

/**
 * The live outputs a spec's sinks ask for, in the order of LIVE_OUTPUTS (records open before
 * pushes), the first sink of each kind.
 */
function liveOutputsOf(spec: PipelineSpec): LiveOutputRequest[] {
  const targets: Record<LiveOutputKind, string | undefined> = { record: sinkSettings(spec, recordSink)?.path, push: sinkSettings(spec, pushSink)?.url };
  return (Object.keys(LIVE_OUTPUTS) as LiveOutputKind[]).flatMap((kind) => {
    const target = targets[kind];
    return target ? [{ kind, target }] : [];
  });
}

/** What a session has opened so far: closed in order when it ends, or when starting fails. */
interface LiveParts {
  server: LiveServer;
  camera: BrowserCameraSource;
  runner?: GradientRunner;
  primary?: FfmpegLiveSource;
  sound?: LiveAudioCapture;
  outputs: Array<PacedWriter<LiveFrame>>;
  ownsRunner: boolean;
  warn: (message: string) => void;
}

export async function startLive(opts: LiveOptions): Promise<LiveSession> {
  const input = typeof opts.input === 'string' ? parseLiveInput(opts.input) : opts.input;
  const wanted = opts.outputs ?? [];
  for (const o of wanted) LIVE_OUTPUTS[o.kind].check(o.target);
  const warn = opts.onWarning ?? ((m: string) => process.emitWarning(m, { code: 'DREAMFLOW_LIVE' }));
  const server = await listenFor(opts, warn);
  const parts: LiveParts = { server, camera: new BrowserCameraSource(opts.size.width, opts.size.height, opts.fps), outputs: [], ownsRunner: typeof opts.runner === 'function', warn };
  try {
    const r = (parts.runner = typeof opts.runner === 'function' ? await opts.runner() : opts.runner);
    const objective = opts.objective === undefined ? layer(r.layerName(r.manifest.defaultLayer)) : typeof opts.objective === 'function' ? await opts.objective(r) : opts.objective;
    const temporal = opts.temporal ?? LIVE_TEMPORAL;
    // The input's sound, when it has any and an output can carry it (docs/architecture.md, "Live
    // sound") or --react follows it ("Schedules and reaction").
    const carrySound = wanted.length > 0 && opts.sound !== false;
    const modulation = await openSound(opts, input, carrySound, parts);
    // Outputs must not stop the show: a failing recording or push is reported and dropped.
    const outputFailed = (err: Error): void => warn(err.message);
    for (const o of wanted) parts.outputs.push(await LIVE_OUTPUTS[o.kind].open(o.target, opts.size, opts.fps, outputFailed, carrySound ? parts.sound : undefined));
    // Every output is a Sink whose write never blocks: the viewers' JPEG first, then the paced
    // ones; the caller's callback after them (live.ts, fanOut).
    const sinks: Array<Sink<DreamedFrame>> = [server.sink, ...parts.outputs];
    const scheduler = new LiveScheduler(r, objective, {
      fps: opts.fps,
      adaptive: opts.adaptive ?? true,
      ...(opts.controller ? { controller: opts.controller } : {}),
      ...(opts.levels ? { levels: opts.levels } : {}),
      ...(opts.minSteps !== undefined ? { minSteps: opts.minSteps } : {}),
      gainEverySeconds: opts.gainEverySeconds ?? 5,
      modulation,
      onWarning: warn,
      sinks,
      onFrame: opts.onFrame,
      stage: opts.stage ? opts.stage(r, objective) : new TemporalDreamStage(r, objective, temporal),
    });
    await scheduler.warmUp(opts.size.width, opts.size.height);
    if (input.kind !== 'browser') {
      parts.primary = openLiveSource(input, { width: opts.size.width, height: opts.size.height, fps: opts.fps, loop: opts.loop ?? false, ...opts.reconnect, onWarning: warn });
      scheduler.addSource(parts.primary, 'primary');
    }
    scheduler.addSource(parts.camera, 'browser');
    const health = sessionHealth(opts, input, parts, scheduler, carrySound);
    server.attach({
      info: () => ({ width: opts.size.width, height: opts.size.height, fps: opts.fps, model: r.manifest.name, layers: r.manifest.galleryLayers ?? [], input: input.label }),
      controls: () => scheduler.controls,
      updateControls: (c) => scheduler.updateControls(c),
      ingest: (p) => parts.camera.push(p),
      health,
    });
    return runSession(parts, scheduler);
  } catch (err) {
    await abortParts(parts);
    throw err;
  }
}

/** The live server on the options' address (a busy port fails before the model loads). */
function listenFor(opts: LiveOptions, warn: (message: string) => void): Promise<LiveServer> {
  return LiveServer.listen({
    ...opts.server,
    host: opts.host ?? '127.0.0.1',
    port: opts.port ?? 8080,
    token: opts.token,
    viewerToken: opts.viewerToken,
    allowedOrigins: opts.allowedOrigins,
    maxPayload: opts.server?.maxPayload ?? Math.max(1 << 20, opts.size.width * opts.size.height * 3 + 64),
    onWarning: warn,
  });
}

/**
 * Opens the input's sound (`parts.sound`) for the outputs that carry it and for --react, and
 * returns the modulator of schedules and --react (liveModulation.ts), if any.
 */
async function openSound(opts: LiveOptions, input: LiveInput, carrySound: boolean, parts: LiveParts): Promise<LiveModulator | undefined> {
  const reacts = (opts.modulation?.spec.react.length ?? 0) > 0;
  if (reacts) await checkLiveSound(input);
  if ((carrySound || reacts) && input.kind === 'file' && (await probe(input.path).catch(() => undefined))?.audio) {
    parts.sound = await LiveAudioCapture.open(liveInputArgs(input, { width: opts.size.width, height: opts.size.height, fps: opts.fps, loop: opts.loop ?? false }), { queue: carrySound });
  }
  let loudness: RunningLoudness | undefined;
  if (reacts && parts.sound) {
    const l = new RunningLoudness(PCM_RATE, PCM_CHANNELS, opts.fps, opts.modulation!.spec.reactSmoothing);
    parts.sound.listen((pcm) => l.push(pcm));
    loudness = l;
  }
  return opts.modulation ? new LiveModulator(opts.modulation.spec, opts.modulation.layers, loudness) : undefined;
}

/** The session's part of `/stats` and `/healthz` (the hub adds its own counters). */
function sessionHealth(opts: LiveOptions, input: LiveInput, parts: LiveParts, scheduler: LiveScheduler, carrySound: boolean): () => Record<string, unknown> {
  const startedAt = Date.now();
  const { camera, outputs, sound } = parts;
  return () => {
    const s = scheduler.stats();
    const src = parts.primary?.stats;
    return {
      input: input.label,
      uptimeSeconds: Math.round((Date.now() - startedAt) / 1000),
      fps: Number(s.fps.toFixed(2)),
      targetFps: opts.fps,
      frames: s.frames,
      drops: s.drops + (src?.dropped ?? 0) + camera.stats.dropped,
      preempted: s.preempted,
      dreamMs: Math.round(s.dreamMs),
      level: s.level,
      floor: s.floor,
      gain: s.gain,
      profile: s.profile,
      reconnects: src?.reconnects ?? 0,
      sourceFrames: src?.frames ?? 0,
      camera: { frames: camera.stats.frames, active: camera.lastFrameAt > 0 && Date.now() - camera.lastFrameAt < 2000 },
      outputs: outputs.map((o) => o.stats),
      ...(sound && carrySound ? { sound: { ...sound.stats, queuedSeconds: Number(sound.queuedSeconds.toFixed(3)) } } : {}),
      ...(s.modulated ? { modulated: s.modulated } : {}),
    };
  };
}

/** Start dreaming; the session ends by close(), the input ending, or a source failing. */
function runSession(parts: LiveParts, scheduler: LiveScheduler): LiveSession {
  const { server } = parts;
  let closing: Promise<void> | undefined;
  const shutdown = (): Promise<void> =>
    (closing ??= (async () => {
      scheduler.stop();
      await running.catch(() => undefined);
      await parts.primary?.close();
      await parts.camera.close();
      await parts.sound?.close();
      // Recordings finish (rename into place) before the process may exit.
      for (const o of parts.outputs) {
        try {
          await o.close();
        } catch (err) {
          parts.warn((err as Error).message);
        }
      }
      await server.close();
      if (parts.ownsRunner) await parts.runner!.close();
    })());
  const running = scheduler.run();
  const done = running.then(
    () => shutdown(),
    async (err: unknown) => {
      await shutdown();
      throw err;
    },
  );
  // Callers that never await `done` must not see an unhandled rejection; close() reports nothing.
  done.catch(() => undefined);
  return { url: server.url, port: server.port, server, scheduler, done, health: () => server.health(), close: shutdown };
}

/** Starting failed: close what was opened, remove partial outputs. */
async function abortParts(parts: LiveParts): Promise<void> {
  await parts.primary?.close();
  await parts.sound?.close();
  await parts.camera.close();
  for (const o of parts.outputs) await o.abort().catch(() => undefined);
  await parts.server.close();
  if (parts.ownsRunner && parts.runner) await parts.runner.close();
}

/** A token from the spec, else from the environment (so it need not appear in a command line). */
function tokenOf(given: string | undefined, env: string): string | undefined {
  const t = given ?? process.env[env];
  if (t === undefined || t === '') return undefined;
  if (t.length < MIN_TOKEN_LENGTH) throw new UserError(`${env} must be at least ${MIN_TOKEN_LENGTH} characters`);
  return t;
}

/**
 * A live spec run until its input ends or `opts.signal` aborts (Ctrl-C): the recording is
 * finished and viewers told goodbye before it resolves. The viewer URL goes to `opts.onReady`.
 */
export async function runLiveJob(spec: PipelineSpec, opts: RunOptions): Promise<JobResult> {
  const source = sourceSettings(spec, liveSource)!;
  const viewers = sinkSettings(spec, viewersSink)!;
  const plan = stagePlan(spec);
  const size = parseLiveSize(source.size);
  // Schedules and --react: refused before any work when live cannot follow them.
  const problem = plan.modulation ? liveModulationProblem(plan.modulation) : undefined;
  if (problem) throw new UserError(problem);
  if (plan.modulation && plan.modulation.react.length > 0) await checkLiveSound(parseLiveInput(source.input));
  const modulation = plan.modulation ? { spec: plan.modulation, layers: layerObjectives(plan.modulation, plan.dream) } : undefined;
  const token = tokenOf(viewers.token, 'DREAMFLOW_TOKEN');
  const viewerToken = tokenOf(viewers.viewerToken, 'DREAMFLOW_VIEWER_TOKEN');
  const warn = opts.onWarning ?? ((m: string) => process.stderr.write(`dreamflow: warning: ${redactText(m)}\n`));
  if (!isLoopbackHost(viewers.host) && token === undefined) {
    // A security warning: printed even with --quiet.
    process.stderr.write(`dreamflow: warning: listening on ${viewers.host} without --token: anyone who can reach it may change settings and send camera frames\n`);
  }
  // Not given on the command line or in the file: the look the working size can carry, on the
  // device the runner really opened (withDefaults writes the same for --print-config).
  const given: Record<string, unknown> = spec.stages.find((s) => s.kind === 'dream') ?? {};
  let fastDevice = false;
  const session = await startLive({
    input: source.input,
    size,
    fps: source.fps,
    loop: source.loop,
    host: viewers.host,
    port: viewers.port,
    token,
    viewerToken,
    allowedOrigins: viewers.allowOrigin,
    server: { maxViewersPerAddress: viewers.viewersPerAddress },
    outputs: liveOutputsOf(spec),
    runner: () => createRunner(runnerOptionsOf(plan.dream, opts.quiet)),
    objective: (r) => {
      fastDevice = r.device !== 'cpu';
      return objectiveOf(plan.dream, r);
    },
    stage: (r, objective) => createLiveStage(plan, r, objective),
    modulation,
    adaptive: source.adapt,
    minSteps: source.minSteps,
    onWarning: warn,
  });
  const look = liveLookFields(given, liveLook(size, fastDevice), (name) => modelHasLayer(plan.dream.model, name));
  if (look.layer !== undefined || look.step !== undefined) session.scheduler.updateControls(look);
  // Where a container's health check finds this server, whatever --port says (Dockerfile).
  const healthFile = process.env['DREAMFLOW_HEALTH_FILE'];
  if (healthFile) await writeFile(healthFile, JSON.stringify({ healthz: new URL('healthz', session.url).href, pid: process.pid }));
  const viewerUrl = viewerToken ? `${session.url}?token=${encodeURIComponent(viewerToken)}` : session.url;
  opts.onReady?.(`dreamflow live: open ${viewerUrl} to watch${token ? ` (${session.url}?token=… to control)` : ''}`);
  if (!opts.quiet) process.stderr.write(`dreamflow: dreaming ${redactText(source.input)} at ${size.width}x${size.height}, ${source.fps} fps; Ctrl-C stops\n`);
  const stop = (): void => void session.close();
  opts.signal?.addEventListener('abort', stop, { once: true });
  // Ctrl-C while the model was loading: the listener above came too late to hear it.
  if (opts.signal?.aborted) stop();
  try {
    await session.done;
  } finally {
    opts.signal?.removeEventListener('abort', stop);
    if (healthFile) await rm(healthFile, { force: true });
  }
  const stats = session.scheduler.stats();
  // The source also ends when it is closed by a stop, so the stop decides.
  const ended = opts.signal?.aborted ? 'stopped' : session.scheduler.inputEnded ? 'input ended' : 'stopped';
  const heard = session.health().sound as { delayMs: number } | undefined;
  const soundNote = heard ? `; sound delayed ${heard.delayMs} ms to match the dream` : '';
  if (!opts.quiet) process.stderr.write(`dreamflow: ${ended} after ${stats.frames} dreamed frames${soundNote}\n`);
  return { summary: { url: session.url, frames: stats.frames, drops: stats.drops, ended }, line: '' };
}
