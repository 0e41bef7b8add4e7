/**
 * The live server: one HTTP port for the viewer page (`/`), liveness (`/healthz`, no token and
 * nothing but `status`), stats (`/stats`, behind the viewer token; the server's own counters
 * behind the control token) and the WebSocket hub (`/ws`) that fans dreamed frames out to
 * viewers and takes settings and camera pictures from them. This module holds the server's state
 * and its lifecycle; the routes are server/routes.ts, the sockets server/viewers.ts, the JPEG
 * encoding the viewers' Sink (server/jpegSink.ts) and the MJPEG readers server/mjpeg.ts.
 *
 * Memory stays bounded whatever the viewers do: each frame is encoded to JPEG once and the same
 * buffer goes to every viewer; a viewer whose socket still holds more than `maxBufferedBytes`
 * unsent is skipped for that frame (never queued); messages are capped at `maxPayload`; at most
 * `maxViewers` sockets, of which one address may hold at most `maxViewersPerAddress` without a
 * token (so a few hosts cannot take every slot) and all sockets without a token together all but
 * an eighth (so token holders always find a place); a client sending too many bad messages is
 * disconnected.
 */
import { createServer, type Server } from 'node:http';
import { WebSocketServer } from 'ws';
import type { DreamedFrame, Sink } from '../frame.js';
import { UserError } from '../errors.js';
import { RollingProfile, type PhaseStats } from '../metrics/profile.js';
import type { AccessPolicy } from './access.js';
import { JpegSink } from './jpegSink.js';
import { MjpegReaders } from './mjpeg.js';
import { cleanPage, viewerPage } from './page.js';
import { handleRequest, handleUpgrade, type RouteContext } from './routes.js';
import { ViewerSet, type HubCounters, type LiveServerHandlers } from './viewers.js';

export type { LiveServerHandlers } from './viewers.js';

export interface LiveServerOptions {
  host: string;
  /** 0 picks a free port. */
  port: number;
  token?: string | undefined;
  viewerToken?: string | undefined;
  allowedOrigins?: readonly string[] | undefined;
  /** Largest message a client may send (bytes). Default 1 MiB. */
  maxPayload?: number;
  /** Default 64. */
  maxViewers?: number;
  /**
   * Sockets one address (an IPv6 /64) may hold open without a token; 0: no limit (behind a
   * reverse proxy every viewer has the proxy's address). Default 8. Token holders are not counted.
   */
  maxViewersPerAddress?: number;
  /** Skip a viewer while its socket holds more than this unsent (bytes). Default 128 KiB. */
  maxBufferedBytes?: number;
  /** JPEG quality of the broadcast, 1-100. Default 80. */
  jpegQuality?: number;
  /** How often the stats text message goes out (ms; 0: never). Default 1000. */
  statsEveryMs?: number;
  /** Ping interval; a client that missed a pong is dropped at the next one (ms). Default 15000. */
  heartbeatMs?: number;
  onWarning?: (message: string) => void;
}

export interface HubStats {
  viewers: number;
  /** Frame messages handed to sockets, over all viewers. */
  sent: number;
  /** Frame messages not sent to a viewer because its socket was still full. */
  skipped: number;
  /** Dreamed frames not encoded because the encoder was still busy with the previous one. */
  encodeSkipped: number;
  /** Sum of all sockets' unsent bytes now. */
  bufferedBytes: number;
  /** Messages refused (bad token, malformed, oversized, unknown type). */
  refused: number;
  cameraFrames: number;
  lastFrameBytes: number;
}

export class LiveServer {
  private readonly http: Server;
  private readonly wss: WebSocketServer;
  private readonly policy: AccessPolicy;
  private readonly opts: Required<Pick<LiveServerOptions, 'maxPayload' | 'maxViewers' | 'maxViewersPerAddress' | 'maxBufferedBytes' | 'jpegQuality'>> & LiveServerOptions;
  private readonly viewers: ViewerSet;
  private readonly jpeg: JpegSink;
  private handlers: LiveServerHandlers | undefined;
  private boundPort = 0;
  private closing = false;
  private timers: NodeJS.Timeout[] = [];
  private readonly counters: HubCounters = { sent: 0, skipped: 0, refused: 0, cameraFrames: 0, lastFrameBytes: 0 };
  /** Encode and send times of the frames this hub published (the live profile's last phases). */
  private readonly profile = new RollingProfile();
  /** `/stream.mjpg` readers (server/mjpeg.ts), fed the same JPEG as the sockets. */
  private readonly mjpeg: MjpegReaders;
  /** The newest JPEG, shown at once to a new MJPEG reader. */
  private lastJpeg: Buffer | undefined;

  private constructor(opts: LiveServerOptions) {
    this.opts = { maxPayload: 1 << 20, maxViewers: 64, maxViewersPerAddress: 8, maxBufferedBytes: 128 << 10, jpegQuality: 80, ...opts };
    this.policy = { token: opts.token, viewerToken: opts.viewerToken, allowedOrigins: opts.allowedOrigins, bindHost: opts.host };
    this.mjpeg = new MjpegReaders(this.opts.maxBufferedBytes);
    const warn = (m: string): void => this.warn(m);
    this.viewers = new ViewerSet(this.policy, this.opts, this.counters, warn);
    this.jpeg = new JpegSink(this.opts.jpegQuality, { watching: () => this.viewers.watchers() + this.mjpeg.size > 0, deliver: (jpeg, msg) => this.deliver(jpeg, msg) }, this.profile, warn);
    const routes = this.routeContext();
    this.http = createServer((req, res) => handleRequest(routes, req, res));
    // perMessageDeflate off: JPEG does not compress, and deflate would cost CPU and memory per viewer.
    this.wss = new WebSocketServer({ noServer: true, maxPayload: this.opts.maxPayload, perMessageDeflate: false, clientTracking: false });
    this.http.on('upgrade', (req, socket, head) => handleUpgrade(routes, req, socket, head));
  }

  /** Bind and start serving. A busy port or bad address is a one-line UserError. */
  static async listen(opts: LiveServerOptions): Promise<LiveServer> {
    const server = new LiveServer(opts);
    viewerPage(); // fail now, not on the first visitor, if the page is missing
    cleanPage();
    await new Promise<void>((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException): void => {
        server.http.off('listening', onListening);
        if (err.code === 'EADDRINUSE') reject(new UserError(`port ${opts.port} on ${opts.host} is already in use: choose another with --port`));
        else if (err.code === 'EACCES') reject(new UserError(`not allowed to listen on port ${opts.port} (ports below 1024 need privileges): choose another with --port`));
        else if (err.code === 'EADDRNOTAVAIL' || err.code === 'ENOTFOUND') reject(new UserError(`cannot listen on ${opts.host}: no such local address (--host)`));
        else reject(new UserError(`cannot listen on ${opts.host}:${opts.port}: ${err.message}`));
      };
      const onListening = (): void => {
        server.http.off('error', onError);
        resolve();
      };
      server.http.once('error', onError);
      server.http.once('listening', onListening);
      server.http.listen(opts.port, opts.host);
    });
    const addr = server.http.address();
    server.boundPort = typeof addr === 'object' && addr ? addr.port : opts.port;
    server.http.on('error', (err) => server.warn(`server error: ${err.message}`));
    server.startTimers();
    return server;
  }

  /** Connect the session: until then, viewers can connect but get no hello. */
  attach(handlers: LiveServerHandlers): void {
    this.handlers = handlers;
    this.viewers.attach(handlers);
  }

  /**
   * The viewers' output (server/jpegSink.ts): a Sink whose `write` never blocks; each frame is
   * encoded to JPEG once for every WebSocket viewer and MJPEG reader, a busy encoder skips to the
   * newest, and nothing is encoded while nobody watches. `close()` closes it.
   */
  get sink(): Sink<DreamedFrame> {
    return this.jpeg;
  }

  get port(): number {
    return this.boundPort;
  }

  /** http://HOST:PORT/ with the host as a browser can reach it. */
  get url(): string {
    const h = this.opts.host;
    const shown = h === '0.0.0.0' || h === '::' ? 'localhost' : h.includes(':') ? `[${h}]` : h;
    return `http://${shown}:${this.boundPort}/`;
  }

  get viewerCount(): number {
    return this.viewers.size;
  }

  stats(): HubStats {
    return { viewers: this.viewers.size, ...this.counters, encodeSkipped: this.jpeg.skipped, bufferedBytes: this.viewers.bufferedBytes() };
  }

  /** Per-viewer counters (tests, /healthz?viewers=1). */
  viewerStats(): Array<{ id: number; sent: number; skipped: number; bufferedBytes: number }> {
    return this.viewers.stats();
  }

  /** MJPEG readers (tests, /stats for the control token). */
  mjpegStats(): ReturnType<MjpegReaders['stats']> {
    return this.mjpeg.stats();
  }

  /** Say goodbye to every client and stop listening. */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    for (const t of this.timers) clearInterval(t);
    await this.jpeg.close();
    await this.viewers.closeAll();
    this.mjpeg.closeAll();
    this.wss.close();
    await new Promise<void>((resolve) => {
      this.http.close(() => resolve());
      this.http.closeAllConnections();
    });
  }

  health(perViewer = false): Record<string, unknown> {
    const hub = this.stats();
    const mem = process.memoryUsage();
    return {
      status: this.closing ? 'closing' : 'ok',
      ...(this.handlers?.health() ?? {}),
      viewers: hub.viewers,
      mjpegReaders: this.mjpeg.size,
      sent: hub.sent,
      skipped: hub.skipped,
      encodeSkipped: hub.encodeSkipped,
      bufferedBytes: hub.bufferedBytes,
      refused: hub.refused,
      cameraFrames: hub.cameraFrames,
      memory: { rssBytes: mem.rss, heapUsedBytes: mem.heapUsed, externalBytes: mem.external + mem.arrayBuffers },
      ...(perViewer ? { perViewer: this.viewerStats() } : {}),
    };
  }

  /** What `/stats` answers and the HUD shows: rate, level, floor, gain and the time profile of a frame. */
  liveStats(): Record<string, unknown> {
    const h = this.handlers?.health() ?? {};
    const profile = { ...((h.profile as Record<string, PhaseStats> | undefined) ?? {}), ...this.profile.snapshot() };
    return { ...pick(h, ['fps', 'targetFps', 'dreamMs', 'level', 'floor', 'frames', 'drops', 'gain', 'input', 'modulated']), viewers: this.viewers.size, profile };
  }

  /** What the routes see of this server (server/routes.ts). */
  private routeContext(): RouteContext {
    const server = this;
    return {
      policy: this.policy,
      limits: this.opts,
      counters: this.counters,
      viewers: this.viewers,
      mjpeg: this.mjpeg,
      get wss() {
        return server.wss;
      },
      get closing() {
        return server.closing;
      },
      get lastJpeg() {
        return server.lastJpeg;
      },
      health: (perViewer) => this.health(perViewer),
      liveStats: () => this.liveStats(),
      warn: (m) => this.warn(m),
    };
  }

  /** One encoded frame to the MJPEG readers and the sockets (the JPEG sink's audience). */
  private deliver(jpeg: Buffer, msg: Buffer): void {
    this.counters.lastFrameBytes = msg.length;
    this.lastJpeg = jpeg;
    this.mjpeg.publish(jpeg);
    this.viewers.sendFrame(msg);
  }

  private startTimers(): void {
    const statsEvery = this.opts.statsEveryMs ?? 1000;
    if (statsEvery > 0) {
      const t = setInterval(() => this.sendStats(), statsEvery);
      t.unref();
      this.timers.push(t);
    }
    const beat = setInterval(() => this.viewers.heartbeat(), this.opts.heartbeatMs ?? 15_000);
    beat.unref();
    this.timers.push(beat);
  }

  private sendStats(): void {
    if (this.viewers.size === 0 || !this.handlers) return;
    this.viewers.broadcastJson({ type: 'stats', viewers: this.viewers.size, ...this.liveStats() });
  }

  private warn(message: string): void {
    if (this.opts.onWarning) this.opts.onWarning(message);
    else process.emitWarning(message, { code: 'DREAMFLOW_SERVER' });
  }
}

function pick(o: Record<string, unknown>, keys: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of keys) if (o[k] !== undefined) out[k] = o[k];
  return out;
}
