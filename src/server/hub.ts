/**
 * The live server: one HTTP port for the viewer page (`/`), liveness (`/healthz`, no token and
 * nothing but `status`), stats (`/stats`, behind the viewer token; the server's own counters
 * behind the control token) and the WebSocket hub (`/ws`) that fans dreamed frames out to
 * viewers and takes settings and camera pictures from them.
 *
 * Memory stays bounded whatever the viewers do: each frame is encoded to JPEG once and the same
 * buffer goes to every viewer; a viewer whose socket still holds more than `maxBufferedBytes`
 * unsent is skipped for that frame (never queued); messages are capped at `maxPayload`; at most
 * `maxViewers` sockets, of which one address may hold at most `maxViewersPerAddress` without a
 * token (so a few hosts cannot take every slot) and all sockets without a token together all but
 * an eighth (so token holders always find a place); a client sending too many bad messages is
 * disconnected.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import sharp from 'sharp';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { UserError } from '../errors.js';
import { LatestWorker } from '../latest.js';
import { RollingProfile, type PhaseStats } from '../metrics/profile.js';
import { addressKey, anonymousLimit, checkOrigin, isAnonymous, requestToken, rightsFor, tokenMatches, type AccessPolicy, type Rights } from './access.js';
import { MjpegReaders } from './mjpeg.js';
import { cleanPage, viewerPage } from './page.js';
import {
  FLAG_BROWSER,
  decodeCameraMessage,
  encodeFrameMessage,
  parseClientMessage,
  type CameraPicture,
  type CameraRejection,
  type ControlChanges,
  type LiveControls,
} from './protocol.js';

/** A dreamed frame as the hub sends it: the pixels and what the viewer page shows about them. */
export interface PublishedFrame {
  /** Output sequence number. */
  seq: number;
  /** Source frame number (browser frames: see clientSeq). */
  index: number;
  width: number;
  height: number;
  /** Packed RGB24. */
  data: Uint8Array;
  /** Capture time, ms since the epoch (glass-to-glass latency starts here). */
  capturedAt: number;
  origin: 'source' | 'browser';
  clientId?: number;
  clientSeq?: number;
  /** Quality level the controller dreamed it at (0 = richest). */
  level: number;
  dreamMs: number;
}

/** What the session behind the server provides. */
export interface LiveServerHandlers {
  /** Static facts for the hello message. */
  info(): { width: number; height: number; fps: number; model: string; layers: string[]; input: string };
  controls(): LiveControls;
  /** Validate and apply; throws UserError with a message for the client. */
  updateControls(changes: ControlChanges): LiveControls;
  /** A camera picture from a viewer; resolves null when used, or why not. */
  ingest(picture: CameraPicture): Promise<CameraRejection | null>;
  /** Extra fields for /healthz and the stats message. */
  health(): Record<string, unknown>;
}

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

interface Client {
  id: number;
  ws: WebSocket;
  rights: Rights;
  /** The remote address's key (addressKey) when it connected without a token, else undefined. */
  anonymousFrom: string | undefined;
  sent: number;
  skipped: number;
  errors: number;
  errorWindowStart: number;
  alive: boolean;
  connectedAt: number;
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

/** Error replies before a client is considered abusive and disconnected, per 10 s. */
const MAX_ERRORS_PER_WINDOW = 50;

export class LiveServer {
  private readonly http: Server;
  private readonly wss: WebSocketServer;
  private readonly clients = new Map<number, Client>();
  private readonly policy: AccessPolicy;
  private readonly opts: Required<Pick<LiveServerOptions, 'maxPayload' | 'maxViewers' | 'maxViewersPerAddress' | 'maxBufferedBytes' | 'jpegQuality'>> & LiveServerOptions;
  private readonly encoder: LatestWorker<PublishedFrame>;
  private handlers: LiveServerHandlers | undefined;
  private nextId = 1;
  private boundPort = 0;
  private closing = false;
  private timers: NodeJS.Timeout[] = [];
  private readonly counters = { sent: 0, skipped: 0, refused: 0, cameraFrames: 0, lastFrameBytes: 0 };
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
    this.http = createServer((req, res) => this.onRequest(req, res));
    // perMessageDeflate off: JPEG does not compress, and deflate would cost CPU and memory per viewer.
    this.wss = new WebSocketServer({ noServer: true, maxPayload: this.opts.maxPayload, perMessageDeflate: false, clientTracking: false });
    this.http.on('upgrade', (req, socket, head) => this.onUpgrade(req, socket, head));
    this.encoder = new LatestWorker<PublishedFrame>(
      (f) => this.encodeAndSend(f),
      (err) => this.warn(`could not encode a frame: ${(err as Error).message}`),
    );
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
    for (const c of this.clients.values()) this.sendHello(c);
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
    return this.clients.size;
  }

  stats(): HubStats {
    let bufferedBytes = 0;
    for (const c of this.clients.values()) bufferedBytes += c.ws.bufferedAmount;
    return { viewers: this.clients.size, ...this.counters, encodeSkipped: this.encoder.skipped, bufferedBytes };
  }

  /** Per-viewer counters (tests, /healthz?viewers=1). */
  viewerStats(): Array<{ id: number; sent: number; skipped: number; bufferedBytes: number }> {
    return [...this.clients.values()].map((c) => ({ id: c.id, sent: c.sent, skipped: c.skipped, bufferedBytes: c.ws.bufferedAmount }));
  }

  /** Hand a dreamed frame to the viewers (never blocks; a busy encoder skips to the newest). */
  publish(frame: PublishedFrame): void {
    if (this.closing) return;
    let watchers = 0;
    for (const c of this.clients.values()) if (c.rights.watch) watchers++;
    if (watchers + this.mjpeg.size === 0) return;
    this.encoder.offer(frame);
  }

  /** Say goodbye to every client and stop listening. */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    for (const t of this.timers) clearInterval(t);
    await this.encoder.settled();
    const gone = [...this.clients.values()].map(
      (c) =>
        new Promise<void>((resolve) => {
          if (c.ws.readyState === c.ws.CLOSED) return resolve();
          c.ws.once('close', () => resolve());
          c.ws.close(1001, 'server shutting down');
          // A client that does not answer the close handshake is cut off.
          setTimeout(() => {
            c.ws.terminate();
            resolve();
          }, 1000).unref();
        }),
    );
    await Promise.all(gone);
    this.mjpeg.closeAll();
    this.wss.close();
    await new Promise<void>((resolve) => {
      this.http.close(() => resolve());
      this.http.closeAllConnections();
    });
  }

  private startTimers(): void {
    const statsEvery = this.opts.statsEveryMs ?? 1000;
    if (statsEvery > 0) {
      const t = setInterval(() => this.sendStats(), statsEvery);
      t.unref();
      this.timers.push(t);
    }
    const beat = setInterval(() => {
      for (const c of this.clients.values()) {
        if (!c.alive) {
          c.ws.terminate();
          continue;
        }
        c.alive = false;
        c.ws.ping();
      }
    }, this.opts.heartbeatMs ?? 15_000);
    beat.unref();
    this.timers.push(beat);
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    try {
      const url = new URL(req.url ?? '/', 'http://x');
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain' }).end('method not allowed\n');
        return;
      }
      // Every route answers only to this server's own Host (DNS rebinding, docs/architecture.md).
      const hostProblem = checkOrigin(this.policy, req.headers.host, undefined);
      if (hostProblem) {
        res.writeHead(403, { 'Content-Type': 'text/plain' }).end(`${hostProblem}\n`);
        return;
      }
      if (url.pathname === '/' || url.pathname === '/index.html' || url.pathname === '/view') {
        // `/view` and `/?view=clean`: the picture alone (OBS Browser Source, kiosks).
        const page = url.pathname === '/view' || url.searchParams.get('view') === 'clean' ? cleanPage() : viewerPage();
        res.writeHead(200, {
          'Content-Type': 'text/html; charset=utf-8',
          'Content-Length': page.length,
          'Cache-Control': 'no-store',
          // The page is self-contained: no external scripts, styles or connections.
          'Content-Security-Policy':
            "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src 'self' blob: data:; media-src 'self' blob: mediastream:; connect-src 'self' ws: wss:; base-uri 'none'; form-action 'none'",
          'X-Content-Type-Options': 'nosniff',
          // Tokens travel in the page URL: never leak them to other sites.
          'Referrer-Policy': 'no-referrer',
        });
        res.end(req.method === 'HEAD' ? undefined : page);
        return;
      }
      if (url.pathname === '/stats') {
        // Viewer-level data: the same rights as watching; the server's own counters (memory,
        // refusals, per-viewer) only to holders of the control token, or to all when none is set.
        const rights = rightsFor(this.policy, requestToken(req));
        if (!rights.watch) {
          res.writeHead(401, { 'Content-Type': 'text/plain' }).end('viewer token required\n');
          return;
        }
        const body = JSON.stringify(rights.control ? { ...this.health(url.searchParams.has('viewers')), ...this.liveStats() } : this.liveStats());
        res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' });
        res.end(req.method === 'HEAD' ? undefined : body);
        return;
      }
      if (url.pathname === '/stream.mjpg') return this.onMjpeg(req, res);
      if (url.pathname === '/healthz') {
        // Liveness only: it needs no token, so it tells nothing about the stream or its viewers.
        const body = JSON.stringify({ status: this.closing ? 'closing' : 'ok' });
        res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' });
        res.end(req.method === 'HEAD' ? undefined : body);
        return;
      }
      if (url.pathname === '/favicon.ico') {
        // Browsers ask for it on every visit; an empty answer keeps their consoles clean.
        res.writeHead(204, { 'Cache-Control': 'max-age=86400' }).end();
        return;
      }
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found\n');
    } catch (err) {
      this.warn(`request failed: ${(err as Error).message}`);
      if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'text/plain' });
      res.end('internal error\n');
    }
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

  private onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const refuse = (status: number, reason: string): void => {
      this.counters.refused++;
      socket.on('error', () => undefined);
      socket.end(`HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(reason) + 1}\r\n\r\n${reason}\n`);
    };
    try {
      const url = new URL(req.url ?? '/', 'http://x');
      if (this.closing) return refuse(503, 'server shutting down');
      if (url.pathname !== '/ws') return refuse(404, 'not found');
      const admitted = this.admit(req);
      if ('status' in admitted) return refuse(admitted.status, admitted.reason);
      // handleUpgrade calls back synchronously here (no verifyClient, no deflate), so the counts
      // above cannot be raced past by upgrades arriving together.
      this.wss.handleUpgrade(req, socket, head, (ws) => this.onConnection(ws, admitted.rights, admitted.anonymousFrom));
    } catch (err) {
      refuse(400, `bad request: ${(err as Error).message}`);
    }
  }

  /**
   * `/stream.mjpg`: the same rules as the WebSocket (Host and Origin, token, admission), then a
   * multipart answer that lasts until the reader goes or the server closes.
   */
  private onMjpeg(req: IncomingMessage, res: ServerResponse): void {
    const deny = (status: number, reason: string): void => {
      this.counters.refused++;
      res.writeHead(status, { 'Content-Type': 'text/plain', Connection: 'close' }).end(`${reason}\n`);
    };
    if (this.closing) return deny(503, 'server shutting down');
    const admitted = this.admit(req);
    if ('status' in admitted) return deny(admitted.status, admitted.reason);
    if (req.method === 'HEAD') {
      res.writeHead(200, { 'Content-Type': 'multipart/x-mixed-replace' }).end();
      return;
    }
    this.mjpeg.add(res, admitted.anonymousFrom, this.lastJpeg);
  }

  /** MJPEG readers (tests, /stats for the control token). */
  mjpegStats(): ReturnType<MjpegReaders['stats']> {
    return this.mjpeg.stats();
  }

  /**
   * Viewer admission, the same for WebSocket viewers and MJPEG readers: this server's Host and an
   * allowed Origin, the viewer token when one is set, at most `maxViewersPerAddress` sockets from
   * one address without a token, `maxViewers` in all, and sockets without a token below their own
   * total, so however many addresses fill it token holders still get in (docs/architecture.md).
   */
  private admit(req: IncomingMessage): { rights: Rights; anonymousFrom: string | undefined } | { status: number; reason: string } {
    const originProblem = checkOrigin(this.policy, req.headers.host, req.headers.origin);
    if (originProblem) return { status: 403, reason: originProblem };
    const token = requestToken(req);
    const rights = rightsFor(this.policy, token);
    if (!rights.watch) return { status: 401, reason: 'a valid viewer token is needed (?token=)' };
    const anonymousFrom = isAnonymous(this.policy, token) ? addressKey(req.socket.remoteAddress) : undefined;
    const perAddress = this.opts.maxViewersPerAddress;
    if (anonymousFrom !== undefined && perAddress > 0 && this.anonymousCount(anonymousFrom) >= perAddress) return { status: 429, reason: 'too many viewers from this address' };
    if (this.clients.size + this.mjpeg.size >= this.opts.maxViewers) return { status: 503, reason: 'too many viewers' };
    if (anonymousFrom !== undefined && this.anonymousTotal() >= anonymousLimit(this.policy, this.opts.maxViewers)) return { status: 503, reason: 'too many viewers without a token' };
    return { rights, anonymousFrom };
  }

  private anonymousTotal(): number {
    let n = this.mjpeg.anonymousCount();
    for (const c of this.clients.values()) if (c.anonymousFrom !== undefined) n++;
    return n;
  }

  private anonymousCount(key: string): number {
    let n = this.mjpeg.anonymousCount(key);
    for (const c of this.clients.values()) if (c.anonymousFrom === key) n++;
    return n;
  }

  private onConnection(ws: WebSocket, rights: Rights, anonymousFrom: string | undefined): void {
    const client: Client = { id: this.nextId++, ws, rights, anonymousFrom, sent: 0, skipped: 0, errors: 0, errorWindowStart: Date.now(), alive: true, connectedAt: Date.now() };
    this.clients.set(client.id, client);
    ws.on('pong', () => (client.alive = true));
    ws.on('message', (data, isBinary) => {
      try {
        this.onMessage(client, data, isBinary);
      } catch (err) {
        // Nothing a client sends may take the server down.
        this.reject(client, `internal error: ${(err as Error).message}`);
      }
    });
    ws.on('error', (err) => {
      // Oversized messages (1009) and protocol errors land here; ws closes the socket itself.
      this.counters.refused++;
      if (!/max payload|Max payload/i.test(err.message)) this.warn(`viewer ${client.id}: ${err.message}`);
    });
    ws.on('close', () => this.clients.delete(client.id));
    if (this.handlers) this.sendHello(client);
  }

  private sendHello(c: Client): void {
    if (!this.handlers) return;
    const info = this.handlers.info();
    this.sendJson(c, {
      type: 'hello',
      clientId: c.id,
      ...info,
      controls: this.handlers.controls(),
      canControl: c.rights.control,
      canSend: c.rights.control,
      maxCameraBytes: this.opts.maxPayload - 64,
    });
  }

  private onMessage(c: Client, data: RawData, isBinary: boolean): void {
    const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
    if (isBinary) return this.onCamera(c, buf);
    const parsed = parseClientMessage(buf.toString('utf8'));
    if ('error' in parsed) return this.reject(c, parsed.error);
    const m = parsed.message;
    if (m.type === 'auth') {
      if (!tokenMatches(m.token, this.policy.token)) return this.reject(c, 'wrong token');
      c.rights = { watch: true, control: true };
      this.sendJson(c, { type: 'auth', canControl: true, canSend: true });
      return;
    }
    if (!c.rights.control) return this.reject(c, 'changing settings needs the --token (connect with ?token=)');
    if (!this.handlers) return this.reject(c, 'not ready yet');
    try {
      const { type: _type, ...changes } = m;
      const controls = this.handlers.updateControls(changes);
      for (const other of this.clients.values()) this.sendJson(other, { type: 'settings', controls, by: c.id });
    } catch (err) {
      if (err instanceof UserError) return this.reject(c, err.message);
      throw err;
    }
  }

  private onCamera(c: Client, buf: Buffer): void {
    if (!c.rights.control) return this.reject(c, 'sending camera frames needs the --token (connect with ?token=)');
    const msg = decodeCameraMessage(buf);
    if (!msg) return this.reject(c, 'malformed camera frame: expected "DFC1", a sequence number and a JPEG');
    if (!this.handlers) return this.reject(c, 'not ready yet');
    this.handlers.ingest({ jpeg: msg.jpeg, clientId: c.id, clientSeq: msg.seq }).then(
      (why) => {
        if (why === null) this.counters.cameraFrames++;
        if (why === 'not-jpeg' || why === 'undecodable') this.reject(c, `camera frame ${msg.seq} refused: ${why === 'not-jpeg' ? 'not a JPEG' : 'could not decode the JPEG'}`);
        this.sendJson(c, why === null ? { type: 'ack', seq: msg.seq } : { type: 'ack', seq: msg.seq, dropped: why });
      },
      (err: unknown) => this.reject(c, `camera frame ${msg.seq} failed: ${(err as Error).message}`),
    );
  }

  /** Tell a client what was wrong; disconnect one that keeps sending garbage. */
  private reject(c: Client, message: string): void {
    this.counters.refused++;
    const now = Date.now();
    if (now - c.errorWindowStart > 10_000) {
      c.errorWindowStart = now;
      c.errors = 0;
    }
    if (++c.errors > MAX_ERRORS_PER_WINDOW) {
      c.ws.close(1008, 'too many bad messages');
      return;
    }
    this.sendJson(c, { type: 'error', message });
  }

  private sendJson(c: Client, value: unknown): void {
    // Control messages also respect the buffer limit: a stuck client cannot make us queue them.
    if (c.ws.readyState !== c.ws.OPEN || c.ws.bufferedAmount > this.opts.maxBufferedBytes) return;
    c.ws.send(JSON.stringify(value));
  }

  private sendStats(): void {
    if (this.clients.size === 0 || !this.handlers) return;
    const msg = { type: 'stats', viewers: this.clients.size, ...this.liveStats() };
    for (const c of this.clients.values()) this.sendJson(c, msg);
  }

  /** What `/stats` answers and the HUD shows: rate, level, floor, gain and the time profile of a frame. */
  liveStats(): Record<string, unknown> {
    const h = this.handlers?.health() ?? {};
    const profile = { ...((h.profile as Record<string, PhaseStats> | undefined) ?? {}), ...this.profile.snapshot() };
    return { ...pick(h, ['fps', 'targetFps', 'dreamMs', 'level', 'floor', 'frames', 'drops', 'gain', 'input', 'modulated']), viewers: this.clients.size, profile };
  }

  private async encodeAndSend(f: PublishedFrame): Promise<void> {
    const t0 = performance.now();
    const jpeg = await sharp(Buffer.from(f.data.buffer, f.data.byteOffset, f.data.length), { raw: { width: f.width, height: f.height, channels: 3 } })
      .jpeg({ quality: this.opts.jpegQuality })
      .toBuffer();
    const msg = encodeFrameMessage(
      {
        seq: f.seq,
        capturedAt: f.capturedAt,
        sentAt: Date.now(),
        width: f.width,
        height: f.height,
        flags: f.origin === 'browser' ? FLAG_BROWSER : 0,
        level: f.level,
        dreamMs: f.dreamMs,
        clientId: f.clientId ?? 0,
        sourceSeq: f.origin === 'browser' ? (f.clientSeq ?? 0) : f.index,
      },
      jpeg,
    );
    const t1 = performance.now();
    this.counters.lastFrameBytes = msg.length;
    this.lastJpeg = jpeg;
    this.mjpeg.publish(jpeg);
    for (const c of this.clients.values()) {
      if (!c.rights.watch || c.ws.readyState !== c.ws.OPEN) continue;
      // The one rule that keeps a slow viewer from costing anyone else anything.
      if (c.ws.bufferedAmount > this.opts.maxBufferedBytes) {
        c.skipped++;
        this.counters.skipped++;
        continue;
      }
      c.ws.send(msg, { binary: true });
      c.sent++;
      this.counters.sent++;
    }
    this.profile.add('encode', t1 - t0);
    this.profile.add('send', performance.now() - t1);
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
