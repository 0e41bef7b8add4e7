/** WebSocket viewers and small waiting helpers for the live tests (real sockets on 127.0.0.1). */
import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import WebSocket from 'ws';
import type { Objective } from '../../src/dream/objectives.js';
import type { GradientRunner } from '../../src/dream/runner.js';
import { startLive, type LiveOptions, type LiveSession } from '../../src/pipeline/liveSession.js';
import { decodeFrameMessage, type FrameHeader } from '../../src/server/protocol.js';
import type { TemporalSettings } from '../../src/temporal/stage.js';
import { BIN, ROOT } from './paths.js';

export interface Received {
  header: FrameHeader;
  arrivedAt: number;
  bytes: number;
}

export interface TestViewer {
  ws: WebSocket;
  /** Headers of every frame received (small; the JPEGs are not kept, except the last). */
  frames: Received[];
  lastJpeg: Uint8Array | undefined;
  texts: Array<Record<string, unknown>>;
  errors: string[];
  closed: { code: number; reason: string } | undefined;
  /** Frames that arrived in [from, to) (performance.now() is not used: arrival is Date.now()). */
  countBetween(from: number, to: number): number;
  close(): Promise<void>;
}

export function wsUrl(httpUrl: string, token?: string): string {
  return httpUrl.replace(/^http/, 'ws') + 'ws' + (token ? `?token=${encodeURIComponent(token)}` : '');
}

/**
 * Connect and wait for the hello. `paused`: never read anything (the socket's buffers fill up).
 * `localAddress`: the client's own address (another loopback one, e.g. 127.0.0.2, to be a
 * different host to the server).
 */
export function connectViewer(httpUrl: string, opts: { token?: string; origin?: string; paused?: boolean; localAddress?: string } = {}): Promise<TestViewer> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(wsUrl(httpUrl, opts.token), { ...(opts.origin ? { origin: opts.origin } : {}), ...(opts.localAddress ? { localAddress: opts.localAddress } : {}) });
    const viewer: TestViewer = {
      ws,
      frames: [],
      lastJpeg: undefined,
      texts: [],
      errors: [],
      closed: undefined,
      countBetween: (from, to) => viewer.frames.filter((f) => f.arrivedAt >= from && f.arrivedAt < to).length,
      close: () =>
        new Promise<void>((done) => {
          if (ws.readyState === ws.CLOSED) return done();
          ws.once('close', () => done());
          if (opts.paused) ws.terminate();
          else ws.close();
        }),
    };
    ws.on('message', (data, isBinary) => {
      const buf = data as Buffer;
      if (isBinary) {
        const m = decodeFrameMessage(buf);
        if (!m) return;
        viewer.frames.push({ header: m.header, arrivedAt: Date.now(), bytes: buf.length });
        viewer.lastJpeg = Uint8Array.from(m.jpeg);
        return;
      }
      const msg = JSON.parse(buf.toString('utf8')) as Record<string, unknown>;
      viewer.texts.push(msg);
      if (msg.type === 'error') viewer.errors.push(String(msg.message));
      if (msg.type === 'hello') {
        if (opts.paused) ws.pause();
        resolve(viewer);
      }
    });
    ws.on('close', (code, reason) => (viewer.closed = { code, reason: reason.toString() }));
    ws.on('error', (err) => {
      if (ws.readyState !== ws.OPEN) reject(err);
    });
    ws.on('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
  });
}

type UpgradeOptions = { token?: string; origin?: string; headers?: Record<string, string>; localAddress?: string };

/** The HTTP status a refused WebSocket upgrade got. */
export async function upgradeStatus(httpUrl: string, opts: UpgradeOptions = {}): Promise<number> {
  return (await upgradeReply(httpUrl, opts)).status;
}

/** Status, status text and body of a WebSocket upgrade's answer (101 and empty text when accepted). */
export function upgradeReply(httpUrl: string, opts: UpgradeOptions = {}): Promise<{ status: number; text: string; body: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(wsUrl(httpUrl, opts.token), {
      ...(opts.origin ? { origin: opts.origin } : {}),
      ...(opts.headers ? { headers: opts.headers } : {}),
      ...(opts.localAddress ? { localAddress: opts.localAddress } : {}),
    });
    ws.on('unexpected-response', (_req, res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, text: res.statusMessage ?? '', body });
        ws.terminate();
      });
      res.on('error', reject);
    });
    ws.on('open', () => {
      ws.terminate();
      resolve({ status: 101, text: '', body: '' });
    });
    ws.on('error', (err) => reject(err));
  });
}

export interface LiveCommand {
  child: ChildProcess;
  /** Everything the command printed so far. */
  out: { stdout: string; stderr: string };
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * `dreamflow live ARGS` as a real process. `detached`: it leads its own process group, as a
 * command started from a terminal does, so a test can signal the whole group like Ctrl-C.
 */
export function startLiveCommand(args: string[], opts: { detached?: boolean; env?: NodeJS.ProcessEnv } = {}): LiveCommand {
  const child = spawn(process.execPath, [BIN, 'live', ...args], { cwd: ROOT, env: opts.env ?? process.env, detached: opts.detached ?? false, stdio: ['ignore', 'pipe', 'pipe'] });
  const out = { stdout: '', stderr: '' };
  child.stdout!.on('data', (d: Buffer) => (out.stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out.stderr += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.on('close', (code, signal) => r({ code, signal })));
  return { child, out, exited };
}

export async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * The server's counters and stream stats: `/stats` as a control-token holder sees it (any client
 * when the server has no --token). `/healthz` itself answers only liveness.
 */
export async function healthz(httpUrl: string, perViewer = false, token?: string): Promise<Record<string, any>> {
  const query = new URLSearchParams({ ...(perViewer ? { viewers: '1' } : {}), ...(token ? { token } : {}) }).toString();
  const res = await fetch(httpUrl + 'stats' + (query ? `?${query}` : ''));
  if (!res.ok) throw new Error(`/stats answered ${res.status}`);
  return (await res.json()) as Record<string, any>;
}

/** Wait for the next text message of a type (after those already seen). */
export async function nextText(v: TestViewer, type: string, timeoutMs = 10_000): Promise<Record<string, unknown>> {
  const seen = v.texts.length;
  let found: Record<string, unknown> | undefined;
  await waitFor(() => (found = v.texts.slice(seen).find((t) => t.type === type)) !== undefined, timeoutMs, `a "${type}" message`);
  return found!;
}

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

/**
 * Work around a hang of src/flow/cv.ts under vitest only: vitest's CommonJS interop exposes the
 * Emscripten Module's `then` on the imported namespace, so `await import('@techstark/opencv-js')`
 * re-resolves forever at 100 % CPU. Loading it once through require and deleting `then` first
 * avoids that (plain Node, i.e. the CLI, is not affected). Also drops the process listeners the
 * build installs, as loadOpenCv does.
 */
export function preloadOpenCv(): void {
  const before = { u: new Set(process.listeners('uncaughtException')), r: new Set(process.listeners('unhandledRejection')) };
  const mod = createRequire(import.meta.url)('@techstark/opencv-js') as { then?: unknown };
  delete mod.then;
  for (const l of process.listeners('uncaughtException')) if (!before.u.has(l)) process.removeListener('uncaughtException', l);
  for (const l of process.listeners('unhandledRejection')) if (!before.r.has(l)) process.removeListener('unhandledRejection', l);
}

/** A small in-process live session on the test source (96x64, no controller, no gain measure); `opts` win. */
export function startSmallLive(runner: GradientRunner, objective: Objective, temporal: TemporalSettings, opts: Partial<LiveOptions>): Promise<LiveSession> {
  return startLive({
    input: 'lavfi:testsrc2',
    size: { width: 96, height: 64 },
    fps: 8,
    port: 0,
    runner,
    objective,
    temporal,
    adaptive: false,
    gainEverySeconds: 0,
    onWarning: () => undefined,
    ...opts,
  });
}
