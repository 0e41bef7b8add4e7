/**
 * Where the farm's queue lives: a Redis URL turned into connection options, and a first
 * connection that fails fast with one line (ioredis would otherwise retry forever in silence).
 */
import { Redis } from 'ioredis';
import { UserError } from '../errors.js';

export interface RedisTarget {
  host: string;
  port: number;
  db: number;
  username?: string;
  password?: string;
  tls: boolean;
  /** The URL without its password, for messages and logs. */
  display: string;
}

/** `redis://[user:pass@]host[:port][/db]` or `rediss://…` (TLS). Pure. */
export function parseRedisUrl(text: string): RedisTarget {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UserError(`--redis must be a URL like redis://HOST:PORT (got "${text}")`);
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
    throw new UserError(`--redis must start with redis:// or rediss:// (got "${text}")`);
  }
  if (!url.hostname) throw new UserError(`--redis has no host name (got "${text}")`);
  const port = url.port === '' ? 6379 : Number(url.port);
  const dbText = url.pathname.replace(/^\//, '');
  const db = dbText === '' ? 0 : Number(dbText);
  if (!Number.isInteger(db) || db < 0) throw new UserError(`--redis database must be a whole number (got "/${dbText}")`);
  const target: RedisTarget = {
    // URL keeps IPv6 literals in brackets; sockets want them bare.
    host: url.hostname.replace(/^\[(.*)\]$/, '$1'),
    port,
    db,
    tls: url.protocol === 'rediss:',
    display: `${url.protocol}//${url.username ? `${decodeURIComponent(url.username)}@` : ''}${url.host}${db ? `/${db}` : ''}`,
  };
  if (url.username) target.username = decodeURIComponent(url.username);
  if (url.password) target.password = decodeURIComponent(url.password);
  return target;
}

/** What both BullMQ and ioredis take as connection options. */
export interface ConnectionSettings {
  host: string;
  port: number;
  db: number;
  username?: string;
  password?: string;
  tls?: Record<string, never>;
  maxRetriesPerRequest: null;
}

/**
 * Options for BullMQ and ioredis. `maxRetriesPerRequest: null` is what BullMQ workers require:
 * a command waits through a reconnect instead of failing the job.
 */
export function connectionOptions(target: RedisTarget): ConnectionSettings {
  const opts: ConnectionSettings = { host: target.host, port: target.port, db: target.db, maxRetriesPerRequest: null };
  if (target.username !== undefined) opts.username = target.username;
  if (target.password !== undefined) opts.password = target.password;
  if (target.tls) opts.tls = {};
  return opts;
}

/**
 * Connect once without retries and PING, so a wrong address is a one-line error within seconds
 * instead of a process that hangs; then return a client that does retry (for the long run).
 */
export async function connectRedis(target: RedisTarget, timeoutMs = 5000): Promise<Redis> {
  const probe = new Redis({
    ...connectionOptions(target),
    lazyConnect: true,
    connectTimeout: timeoutMs,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
  });
  // connect() often rejects with only "Connection is closed."; the cause (a refused password, an
  // untrusted certificate) arrives as an 'error' event first.
  let cause: unknown;
  probe.on('error', (err) => (cause ??= err));
  try {
    await probe.connect();
    await probe.ping();
  } catch (err) {
    probe.disconnect();
    const closed = err instanceof Error && /connection is closed/i.test(err.message);
    throw new UserError(`cannot reach Redis at ${target.display}: ${describe(closed && cause !== undefined ? cause : err)}`);
  }
  probe.disconnect();
  const client = new Redis(connectionOptions(target));
  client.on('error', () => undefined);
  return client;
}

function describe(err: unknown): string {
  const e = err as NodeJS.ErrnoException & { errors?: Error[] };
  // Node's happy-eyeballs connect reports an AggregateError with an empty message.
  if (e.errors?.length) return e.errors.map((x) => x.message).join('; ');
  return e.message || e.code || String(err);
}
