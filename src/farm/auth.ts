/**
 * The farm's authentication: every job and every result carries an HMAC-SHA256 under a secret
 * that the coordinator and its workers share and Redis never sees. Anyone who can write to the
 * farm's Redis can queue or answer jobs; only holders of the secret can make ones that are
 * accepted (docs/architecture.md, "The farm's trust boundary"; SECURITY.md).
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { UserError } from '../errors.js';
import type { SegmentJob, SegmentPart, SignedJob } from './protocol.js';

/** The shared secret, or null on a farm started with `--insecure`. */
export type FarmSecret = Buffer | null;

export const SECRET_ENV = 'DREAMFLOW_FARM_SECRET';
const MIN_SECRET_BYTES = 16;

/**
 * The secret from `--secret-file` (surrounding whitespace dropped) or $DREAMFLOW_FARM_SECRET;
 * without either, refuse unless `insecure` says so. Not from a flag's value: command lines are
 * visible to every user of the machine.
 */
export async function loadSecret(opts: { file?: string | undefined; insecure: boolean; env?: NodeJS.ProcessEnv; command: string }): Promise<FarmSecret> {
  const env = opts.env ?? process.env;
  let text: string | undefined;
  let from: string;
  if (opts.file !== undefined) {
    from = opts.file;
    try {
      text = (await readFile(opts.file, 'utf8')).trim();
    } catch (err) {
      throw new UserError(`${opts.command}: cannot read --secret-file ${opts.file} (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
    }
  } else {
    from = `$${SECRET_ENV}`;
    text = env[SECRET_ENV]?.trim() || undefined;
  }
  if (text === undefined) {
    if (opts.insecure) return null;
    throw new UserError(
      `${opts.command}: no shared secret: set ${SECRET_ENV} (the same on the coordinator and every worker) or give --secret-file FILE; --insecure runs without one, and then anyone who can reach Redis can queue or answer jobs`,
    );
  }
  if (opts.insecure) throw new UserError(`${opts.command}: --insecure and a shared secret (${from}) contradict each other: drop one`);
  const secret = Buffer.from(text, 'utf8');
  if (secret.length < MIN_SECRET_BYTES) throw new UserError(`${opts.command}: the shared secret in ${from} is ${secret.length} bytes; use at least ${MIN_SECRET_BYTES} (e.g. openssl rand -hex 32)`);
  return secret;
}

function mac(secret: Buffer, ...parts: Array<string | Buffer>): string {
  const h = createHmac('sha256', secret);
  // Length-prefixed, so no two different part lists give the same bytes.
  for (const p of parts) h.update(`${Buffer.byteLength(p)}:`).update(p);
  return h.digest('hex');
}

function sameMac(expected: string, given: unknown): boolean {
  if (typeof given !== 'string' || given.length !== expected.length) return false;
  return timingSafeEqual(Buffer.from(expected), Buffer.from(given));
}

export function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

export function signJob(secret: FarmSecret, job: SegmentJob): SignedJob {
  const payload = JSON.stringify(job);
  return { payload, mac: secret ? mac(secret, 'dreamflow job', payload) : null };
}

/** Raised for a job this worker will not run: forged, tampered with, or of another format. */
export class RefusedJob extends Error {}

/** The job inside `data` if its MAC is right (or the farm is insecure); else RefusedJob. */
export function openJob(secret: FarmSecret, data: unknown): SegmentJob {
  const signed = data as Partial<SignedJob> | null;
  if (!signed || typeof signed.payload !== 'string') throw new RefusedJob('not a dreamflow job');
  if (secret && !sameMac(mac(secret, 'dreamflow job', signed.payload), signed.mac)) throw new RefusedJob('its signature does not match this worker\'s secret');
  let job: SegmentJob;
  try {
    job = JSON.parse(signed.payload) as SegmentJob;
  } catch {
    throw new RefusedJob('its payload is not JSON');
  }
  return job;
}

/**
 * A result's MAC: over the farm, the segment and the SHA-256 of each part in a fixed order, so
 * parts cannot be swapped between segments or farms, or replaced.
 */
export function resultMac(secret: Buffer, farmId: string, segment: number, parts: Partial<Record<SegmentPart, Uint8Array>>): string {
  const digests = (['body', 'head', 'tail'] as const).map((p) => `${p}=${parts[p] ? sha256(parts[p]) : '-'}`);
  return mac(secret, 'dreamflow result', farmId, String(segment), ...digests);
}

export function checkResultMac(secret: FarmSecret, farmId: string, segment: number, parts: Partial<Record<SegmentPart, Uint8Array>>, given: Uint8Array | undefined): boolean {
  if (!secret) return true;
  return sameMac(resultMac(secret, farmId, segment, parts), given === undefined ? undefined : Buffer.from(given).toString('utf8'));
}
