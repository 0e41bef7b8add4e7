/**
 * The WebSocket viewers of the live server (docs/architecture.md, "Child processes, signals and
 * viewers"): the set of connected sockets, what they say (settings, the control token, camera
 * pictures) and what they are sent. Sending follows one rule: a socket that still holds more than
 * `maxBufferedBytes` unsent is skipped (frames) or not written to (text), never queued, so a slow
 * viewer costs no one else anything and memory stays bounded.
 */
import type { RawData, WebSocket } from 'ws';
import { UserError } from '../errors.js';
import type { CameraPicture, CameraRejection } from '../frame.js';
import { tokenMatches, type AccessPolicy, type Rights } from './access.js';
import { decodeCameraMessage, parseClientMessage, type ControlChanges, type LiveControls } from './protocol.js';

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

/** The hub's counters, shared by its routes, viewers and JPEG sink (HubStats less the live parts). */
export interface HubCounters {
  /** Frame messages handed to sockets, over all viewers. */
  sent: number;
  /** Frame messages not sent to a viewer because its socket was still full. */
  skipped: number;
  /** Messages refused (bad token, malformed, oversized, unknown type). */
  refused: number;
  cameraFrames: number;
  lastFrameBytes: number;
}

export interface ViewerLimits {
  /** Largest message a client may send (bytes). */
  maxPayload: number;
  /** Skip a viewer while its socket holds more than this unsent (bytes). */
  maxBufferedBytes: number;
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

/** Error replies before a client is considered abusive and disconnected, per 10 s. */
const MAX_ERRORS_PER_WINDOW = 50;

export class ViewerSet {
  private readonly clients = new Map<number, Client>();
  private nextId = 1;
  private handlers: LiveServerHandlers | undefined;

  constructor(
    private readonly policy: AccessPolicy,
    private readonly limits: ViewerLimits,
    private readonly counters: HubCounters,
    private readonly warn: (message: string) => void,
  ) {}

  get size(): number {
    return this.clients.size;
  }

  /** Whether the session is attached (until then viewers get no hello). */
  get ready(): boolean {
    return this.handlers !== undefined;
  }

  /** Connect the session and greet the viewers already here. */
  attach(handlers: LiveServerHandlers): void {
    this.handlers = handlers;
    for (const c of this.clients.values()) this.sendHello(c);
  }

  /** Sockets allowed to watch. */
  watchers(): number {
    let n = 0;
    for (const c of this.clients.values()) if (c.rights.watch) n++;
    return n;
  }

  /** Sockets without a token from this address key, or all sockets without a token. */
  anonymousCount(key?: string): number {
    let n = 0;
    for (const c of this.clients.values()) if (c.anonymousFrom !== undefined && (key === undefined || c.anonymousFrom === key)) n++;
    return n;
  }

  /** Sum of all sockets' unsent bytes now. */
  bufferedBytes(): number {
    let n = 0;
    for (const c of this.clients.values()) n += c.ws.bufferedAmount;
    return n;
  }

  /** Per-viewer counters (tests, /stats for the control token). */
  stats(): Array<{ id: number; sent: number; skipped: number; bufferedBytes: number }> {
    return [...this.clients.values()].map((c) => ({ id: c.id, sent: c.sent, skipped: c.skipped, bufferedBytes: c.ws.bufferedAmount }));
  }

  /** A socket admitted by the routes (server/routes.ts). */
  add(ws: WebSocket, rights: Rights, anonymousFrom: string | undefined): void {
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

  /** One frame message to every watching socket that has room for it (the backpressure rule). */
  sendFrame(msg: Buffer): void {
    for (const c of this.clients.values()) {
      if (!c.rights.watch || c.ws.readyState !== c.ws.OPEN) continue;
      // The one rule that keeps a slow viewer from costing anyone else anything.
      if (c.ws.bufferedAmount > this.limits.maxBufferedBytes) {
        c.skipped++;
        this.counters.skipped++;
        continue;
      }
      c.ws.send(msg, { binary: true });
      c.sent++;
      this.counters.sent++;
    }
  }

  /** The same text message to every socket. */
  broadcastJson(value: unknown): void {
    for (const c of this.clients.values()) this.sendJson(c, value);
  }

  /** Ping everyone; a socket that did not answer the last ping is cut off. */
  heartbeat(): void {
    for (const c of this.clients.values()) {
      if (!c.alive) {
        c.ws.terminate();
        continue;
      }
      c.alive = false;
      c.ws.ping();
    }
  }

  /** Say goodbye to every socket; one that does not answer the close handshake is cut off. */
  async closeAll(): Promise<void> {
    const gone = [...this.clients.values()].map(
      (c) =>
        new Promise<void>((resolve) => {
          if (c.ws.readyState === c.ws.CLOSED) return resolve();
          c.ws.once('close', () => resolve());
          c.ws.close(1001, 'server shutting down');
          setTimeout(() => {
            c.ws.terminate();
            resolve();
          }, 1000).unref();
        }),
    );
    await Promise.all(gone);
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
      maxCameraBytes: this.limits.maxPayload - 64,
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
    if (c.ws.readyState !== c.ws.OPEN || c.ws.bufferedAmount > this.limits.maxBufferedBytes) return;
    c.ws.send(JSON.stringify(value));
  }
}
