/** Who may connect and what they may do: tokens, Origin and Host checks. Pure functions. */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

export interface AccessPolicy {
  /** Needed to change settings and send camera frames (when set). */
  token?: string | undefined;
  /** Needed to watch (when set); the control token also lets a viewer watch. */
  viewerToken?: string | undefined;
  /** Origins allowed besides the server's own, e.g. "https://kiosk.example". */
  allowedOrigins?: readonly string[] | undefined;
  /** The address the server is bound to: loopback binds only answer to loopback host names. */
  bindHost: string;
}

export interface Rights {
  watch: boolean;
  control: boolean;
}

/** Constant-time comparison (hashing first makes the lengths equal). */
export function tokenMatches(given: string | undefined, expected: string | undefined): boolean {
  if (expected === undefined || given === undefined) return false;
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

export function rightsFor(policy: AccessPolicy, token: string | undefined): Rights {
  const control = policy.token === undefined || tokenMatches(token, policy.token);
  const watch = policy.viewerToken === undefined || tokenMatches(token, policy.viewerToken) || (policy.token !== undefined && tokenMatches(token, policy.token));
  return { watch, control };
}

/**
 * A client that presented no valid token: the only kind that can be had in any number by anyone
 * who reaches the port, so the hub limits how many of them one address may hold open.
 */
export function isAnonymous(policy: AccessPolicy, token: string | undefined): boolean {
  return !tokenMatches(token, policy.token) && !tokenMatches(token, policy.viewerToken);
}

/**
 * How many of `maxViewers` places sockets without a token may fill together: all of them when no
 * token is set (everyone is anonymous then), else all but an eighth (at least one), which stays
 * reserved for token holders however many addresses the anonymous sockets come from.
 */
export function anonymousLimit(policy: AccessPolicy, maxViewers: number): number {
  if (policy.token === undefined && policy.viewerToken === undefined) return maxViewers;
  return Math.max(0, maxViewers - Math.max(1, Math.ceil(maxViewers / 8)));
}

/**
 * The address a per-address limit counts by: IPv4 as is (also when it arrives IPv4-mapped on a
 * dual-stack socket), IPv6 by its /64 prefix, since one IPv6 host usually owns a whole /64.
 */
export function addressKey(remote: string | undefined): string {
  if (!remote) return 'unknown';
  const a = remote.toLowerCase().replace(/%.*$/, '');
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(a);
  if (mapped) return mapped[1]!;
  if (!a.includes(':')) return a;
  // Expand `::` to its run of zero groups, then keep the first four.
  const [head = '', tail] = a.split('::', 2);
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? left : [...left, ...Array<string>(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right];
  return `${groups.slice(0, 4).map((g) => g.replace(/^0+(?=.)/, '')).join(':')}::/64`;
}

/** The token a client presented: `?token=` (browsers cannot set WebSocket headers) or a Bearer header. */
export function requestToken(req: IncomingMessage): string | undefined {
  const auth = req.headers.authorization;
  if (auth && /^Bearer\s+/i.test(auth)) return auth.replace(/^Bearer\s+/i, '').trim();
  const url = new URL(req.url ?? '/', 'http://x');
  return url.searchParams.get('token') ?? undefined;
}

export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d+\.\d+\.\d+$/.test(h) || h.endsWith('.localhost');
}

/** `host:port` → host (handles [v6]:port). */
export function hostOnly(hostHeader: string): string {
  const m = /^\[([^\]]+)\](?::\d+)?$/.exec(hostHeader);
  if (m) return m[1]!;
  return hostHeader.replace(/:\d+$/, '');
}

/**
 * Whether a WebSocket upgrade may proceed. Browsers always send Origin: it must be this server
 * (same host and port) or an allowed origin, so another site open in the same browser cannot
 * drive the stream. On a loopback bind the Host header must be a loopback name too, which stops
 * DNS-rebinding pages from posing as "same origin". Clients without Origin (not browsers) pass.
 */
export function checkOrigin(policy: AccessPolicy, hostHeader: string | undefined, origin: string | undefined): string | undefined {
  if (!hostHeader) return 'missing Host header';
  if (isLoopbackHost(policy.bindHost) && !isLoopbackHost(hostOnly(hostHeader))) return `host ${hostHeader} is not this server`;
  if (origin === undefined) return undefined;
  if (policy.allowedOrigins?.includes(origin)) return undefined;
  let parsed: URL;
  try {
    parsed = new URL(origin);
  } catch {
    return 'malformed Origin';
  }
  if (parsed.host.toLowerCase() !== hostHeader.toLowerCase()) return `origin ${origin} is not allowed`;
  return undefined;
}
