/**
 * A live job: source(s) → latest-frame slot → dreaming loop → WebSocket viewers, recording and
 * push. `dreamflow live` is a thin command line over `startLive`; tests and the benchmark use it
 * directly.
 */
import { layer, type Objective } from '../dream/objectives.js';
import type { GradientRunner } from '../dream/runner.js';
import { LiveServer, type LiveServerOptions } from '../server/hub.js';
import { PacedWriter } from '../sinks/paced.js';
import { openPush, parsePushTarget } from '../sinks/push.js';
import { openRecording } from '../sinks/record.js';
import { BrowserCameraSource } from '../sources/browserCamera.js';
import { openLiveSource, parseLiveInput, type FfmpegLiveSource, type LiveInput } from '../sources/live.js';
import type { TemporalSettings } from '../temporal/stage.js';
import { LIVE_TEMPORAL, LiveScheduler, type ControllerOptions, type DreamedFrame, type LiveLevel } from './live.js';

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
  record?: string | undefined;
  push?: string | undefined;
  /** A runner, or how to make one (made after the port is bound, so a busy port fails fast; closed with the session). */
  runner: GradientRunner | (() => Promise<GradientRunner>);
  /** Default: the model's default layer. */
  objective?: Objective | ((runner: GradientRunner) => Promise<Objective>);
  temporal?: TemporalSettings;
  /** Adapt steps and resolution to hold fps (default true). */
  adaptive?: boolean;
  controller?: ControllerOptions;
  /** The controller's quality ladder (default: from frameIterations; see levelLadder). */
  levels?: LiveLevel[];
  /** Measure the dream gain every this many seconds (default 5; 0: never). */
  gainEverySeconds?: number;
  /** Server limits (maxPayload, maxViewers, maxBufferedBytes, jpegQuality, statsEveryMs, heartbeatMs). */
  server?: Partial<Omit<LiveServerOptions, 'host' | 'port' | 'token' | 'viewerToken' | 'allowedOrigins'>>;
  /** URL sources: reconnect back-off and stall timeout (ms). */
  reconnect?: { backoffMs?: { initial: number; max: number }; stallMs?: number };
  onWarning?: (message: string) => void;
  /** Each dreamed frame (tests and benchmarks); must not block. */
  onFrame?: (frame: DreamedFrame) => void;
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

export async function startLive(opts: LiveOptions): Promise<LiveSession> {
  const input = typeof opts.input === 'string' ? parseLiveInput(opts.input) : opts.input;
  const pushTarget = opts.push ? parsePushTarget(opts.push) : undefined;
  const warn = opts.onWarning ?? ((m: string) => process.emitWarning(m, { code: 'DREAMFLOW_LIVE' }));
  const server = await LiveServer.listen({
    ...opts.server,
    host: opts.host ?? '127.0.0.1',
    port: opts.port ?? 8080,
    token: opts.token,
    viewerToken: opts.viewerToken,
    allowedOrigins: opts.allowedOrigins,
    maxPayload: opts.server?.maxPayload ?? Math.max(1 << 20, opts.size.width * opts.size.height * 3 + 64),
    onWarning: warn,
  });

  const ownsRunner = typeof opts.runner === 'function';
  let runner: GradientRunner | undefined;
  let primary: FfmpegLiveSource | undefined;
  const outputs: PacedWriter[] = [];
  const camera = new BrowserCameraSource(opts.size.width, opts.size.height, opts.fps);
  try {
    runner = typeof opts.runner === 'function' ? await opts.runner() : opts.runner;
    const r = runner;
    const objective = opts.objective === undefined ? layer(r.layerName(r.manifest.defaultLayer)) : typeof opts.objective === 'function' ? await opts.objective(r) : opts.objective;
    const temporal = opts.temporal ?? LIVE_TEMPORAL;
    // Outputs must not stop the show: a failing recording or push is reported and dropped.
    const outputFailed = (err: Error): void => warn(err.message);
    if (opts.record) outputs.push(await openRecording(opts.record, opts.size, opts.fps, outputFailed));
    if (pushTarget) outputs.push(await openPush(pushTarget, opts.size, opts.fps, outputFailed));

    const scheduler = new LiveScheduler(r, objective, temporal, {
      fps: opts.fps,
      adaptive: opts.adaptive ?? true,
      ...(opts.controller ? { controller: opts.controller } : {}),
      ...(opts.levels ? { levels: opts.levels } : {}),
      gainEverySeconds: opts.gainEverySeconds ?? 5,
      onWarning: warn,
      onFrame: (f) => {
        server.publish(f);
        for (const o of outputs) o.offer(f);
        opts.onFrame?.(f);
      },
    });
    if (input.kind !== 'browser') {
      primary = openLiveSource(input, { width: opts.size.width, height: opts.size.height, fps: opts.fps, loop: opts.loop ?? false, ...opts.reconnect, onWarning: warn });
      scheduler.addSource(primary, 'primary');
    }
    scheduler.addSource(camera, 'browser');

    const startedAt = Date.now();
    const health = (): Record<string, unknown> => {
      const s = scheduler.stats();
      const src = primary?.stats;
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
        gain: s.gain,
        reconnects: src?.reconnects ?? 0,
        sourceFrames: src?.frames ?? 0,
        camera: { frames: camera.stats.frames, active: camera.lastFrameAt > 0 && Date.now() - camera.lastFrameAt < 2000 },
        outputs: outputs.map((o) => o.stats),
      };
    };
    server.attach({
      info: () => ({ width: opts.size.width, height: opts.size.height, fps: opts.fps, model: r.manifest.name, layers: r.manifest.galleryLayers ?? [], input: input.label }),
      controls: () => scheduler.controls,
      updateControls: (c) => scheduler.updateControls(c),
      ingest: (p) => camera.push(p),
      health,
    });

    let closing: Promise<void> | undefined;
    const shutdown = (): Promise<void> =>
      (closing ??= (async () => {
        scheduler.stop();
        await running.catch(() => undefined);
        await primary?.close();
        await camera.close();
        // Recordings finish (rename into place) before the process may exit.
        for (const o of outputs) {
          try {
            await o.close();
          } catch (err) {
            warn((err as Error).message);
          }
        }
        await server.close();
        if (ownsRunner) await r.close();
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
    return {
      url: server.url,
      port: server.port,
      server,
      scheduler,
      done,
      health: () => server.health(),
      close: shutdown,
    };
  } catch (err) {
    await primary?.close();
    await camera.close();
    for (const o of outputs) await o.abort().catch(() => undefined);
    await server.close();
    if (ownsRunner && runner) await runner.close();
    throw err;
  }
}
