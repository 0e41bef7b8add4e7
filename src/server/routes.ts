/**
 * The live server's routes (docs/architecture.md, "Child processes, signals and viewers"): the
 * viewer pages, `/stats`, `/healthz`, `/stream.mjpg` and the WebSocket upgrade on `/ws`, with the
 * one admission rule that WebSocket viewers and MJPEG readers share. Functions of the hub's state
 * (RouteContext); the state itself lives in server/hub.ts.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { WebSocketServer } from 'ws';
import { addressKey, anonymousLimit, checkOrigin, isAnonymous, requestToken, rightsFor, type AccessPolicy, type Rights } from './access.js';
import type { MjpegReaders } from './mjpeg.js';
import { cleanPage, viewerPage } from './page.js';
import type { HubCounters, ViewerSet } from './viewers.js';

/** What the routes read and change of the hub. */
export interface RouteContext {
  readonly policy: AccessPolicy;
  readonly limits: { maxViewers: number; maxViewersPerAddress: number };
  readonly counters: HubCounters;
  readonly viewers: ViewerSet;
  readonly mjpeg: MjpegReaders;
  readonly wss: WebSocketServer;
  readonly closing: boolean;
  /** The newest JPEG, shown at once to a new MJPEG reader. */
  readonly lastJpeg: Buffer | undefined;
  health(perViewer: boolean): Record<string, unknown>;
  liveStats(): Record<string, unknown>;
  warn(message: string): void;
}

type Admission = { rights: Rights; anonymousFrom: string | undefined } | { status: number; reason: string };

// The page is self-contained: no external scripts, styles or connections.
const PAGE_POLICY =
  "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src 'self' blob: data:; media-src 'self' blob: mediastream:; connect-src 'self' ws: wss:; base-uri 'none'; form-action 'none'";

/** Every HTTP request but the upgrade. */
export function handleRequest(ctx: RouteContext, req: IncomingMessage, res: ServerResponse): void {
  try {
    const url = new URL(req.url ?? '/', 'http://x');
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain' }).end('method not allowed\n');
      return;
    }
    // Every route answers only to this server's own Host (DNS rebinding, docs/architecture.md).
    const hostProblem = checkOrigin(ctx.policy, req.headers.host, undefined);
    if (hostProblem) {
      res.writeHead(403, { 'Content-Type': 'text/plain' }).end(`${hostProblem}\n`);
      return;
    }
    if (url.pathname === '/' || url.pathname === '/index.html' || url.pathname === '/view') return servePage(req, res, url);
    if (url.pathname === '/stats') return serveStats(ctx, req, res, url);
    if (url.pathname === '/stream.mjpg') return serveMjpeg(ctx, req, res);
    if (url.pathname === '/healthz') {
      // Liveness only: it needs no token, so it tells nothing about the stream or its viewers.
      const body = JSON.stringify({ status: ctx.closing ? 'closing' : 'ok' });
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
    ctx.warn(`request failed: ${(err as Error).message}`);
    if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'text/plain' });
    res.end('internal error\n');
  }
}

function servePage(req: IncomingMessage, res: ServerResponse, url: URL): void {
  // `/view` and `/?view=clean`: the picture alone (OBS Browser Source, kiosks).
  const page = url.pathname === '/view' || url.searchParams.get('view') === 'clean' ? cleanPage() : viewerPage();
  res.writeHead(200, {
    'Content-Type': 'text/html; charset=utf-8',
    'Content-Length': page.length,
    'Cache-Control': 'no-store',
    'Content-Security-Policy': PAGE_POLICY,
    'X-Content-Type-Options': 'nosniff',
    // Tokens travel in the page URL: never leak them to other sites.
    'Referrer-Policy': 'no-referrer',
  });
  res.end(req.method === 'HEAD' ? undefined : page);
}

function serveStats(ctx: RouteContext, req: IncomingMessage, res: ServerResponse, url: URL): void {
  // Viewer-level data: the same rights as watching; the server's own counters (memory,
  // refusals, per-viewer) only to holders of the control token, or to all when none is set.
  const rights = rightsFor(ctx.policy, requestToken(req));
  if (!rights.watch) {
    res.writeHead(401, { 'Content-Type': 'text/plain' }).end('viewer token required\n');
    return;
  }
  const body = JSON.stringify(rights.control ? { ...ctx.health(url.searchParams.has('viewers')), ...ctx.liveStats() } : ctx.liveStats());
  res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' });
  res.end(req.method === 'HEAD' ? undefined : body);
}

/** `/ws`: admitted sockets join the viewer set; the rest get a plain HTTP refusal. */
export function handleUpgrade(ctx: RouteContext, req: IncomingMessage, socket: Duplex, head: Buffer): void {
  const refuse = (status: number, reason: string): void => {
    ctx.counters.refused++;
    socket.on('error', () => undefined);
    socket.end(`HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(reason) + 1}\r\n\r\n${reason}\n`);
  };
  try {
    const url = new URL(req.url ?? '/', 'http://x');
    if (ctx.closing) return refuse(503, 'server shutting down');
    if (url.pathname !== '/ws') return refuse(404, 'not found');
    const admitted = admit(ctx, req);
    if ('status' in admitted) return refuse(admitted.status, admitted.reason);
    // handleUpgrade calls back synchronously here (no verifyClient, no deflate), so the counts
    // above cannot be raced past by upgrades arriving together.
    ctx.wss.handleUpgrade(req, socket, head, (ws) => ctx.viewers.add(ws, admitted.rights, admitted.anonymousFrom));
  } catch (err) {
    refuse(400, `bad request: ${(err as Error).message}`);
  }
}

/**
 * `/stream.mjpg`: the same rules as the WebSocket (Host and Origin, token, admission), then a
 * multipart answer that lasts until the reader goes or the server closes.
 */
function serveMjpeg(ctx: RouteContext, req: IncomingMessage, res: ServerResponse): void {
  const deny = (status: number, reason: string): void => {
    ctx.counters.refused++;
    res.writeHead(status, { 'Content-Type': 'text/plain', Connection: 'close' }).end(`${reason}\n`);
  };
  if (ctx.closing) return deny(503, 'server shutting down');
  const admitted = admit(ctx, req);
  if ('status' in admitted) return deny(admitted.status, admitted.reason);
  if (req.method === 'HEAD') {
    res.writeHead(200, { 'Content-Type': 'multipart/x-mixed-replace' }).end();
    return;
  }
  ctx.mjpeg.add(res, admitted.anonymousFrom, ctx.lastJpeg);
}

/**
 * Viewer admission, the same for WebSocket viewers and MJPEG readers: this server's Host and an
 * allowed Origin, the viewer token when one is set, at most `maxViewersPerAddress` sockets from
 * one address without a token, `maxViewers` in all, and sockets without a token below their own
 * total, so however many addresses fill it token holders still get in (docs/architecture.md).
 */
function admit(ctx: RouteContext, req: IncomingMessage): Admission {
  const originProblem = checkOrigin(ctx.policy, req.headers.host, req.headers.origin);
  if (originProblem) return { status: 403, reason: originProblem };
  const token = requestToken(req);
  const rights = rightsFor(ctx.policy, token);
  if (!rights.watch) return { status: 401, reason: 'a valid viewer token is needed (?token=)' };
  const anonymousFrom = isAnonymous(ctx.policy, token) ? addressKey(req.socket.remoteAddress) : undefined;
  const perAddress = ctx.limits.maxViewersPerAddress;
  const anonymous = (key?: string): number => ctx.mjpeg.anonymousCount(key) + ctx.viewers.anonymousCount(key);
  if (anonymousFrom !== undefined && perAddress > 0 && anonymous(anonymousFrom) >= perAddress) return { status: 429, reason: 'too many viewers from this address' };
  if (ctx.viewers.size + ctx.mjpeg.size >= ctx.limits.maxViewers) return { status: 503, reason: 'too many viewers' };
  if (anonymousFrom !== undefined && anonymous() >= anonymousLimit(ctx.policy, ctx.limits.maxViewers)) return { status: 503, reason: 'too many viewers without a token' };
  return { rights, anonymousFrom };
}
