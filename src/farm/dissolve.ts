/**
 * The cross-fade at a cut between two workers' segments, and the lossless transport of the
 * frames it needs (deflated raw RGB24: exact, and no codec a worker might lack).
 */
import { promisify } from 'node:util';
import { deflateRaw, inflateRaw } from 'node:zlib';

const deflate = promisify(deflateRaw);
const inflate = promisify(inflateRaw);

/** Frames of one size, concatenated and deflated (in libuv's pool: the event loop stays free). */
export async function packFrames(frames: readonly Uint8Array[]): Promise<Buffer> {
  return deflate(Buffer.concat(frames), { level: 1 });
}

/** Inflate at most `maxFrames` frames' bytes: a small part that would inflate to gigabytes stops there (and rejects). */
export async function unpackFrames(packed: Uint8Array, frameBytes: number, maxFrames: number): Promise<Uint8Array[]> {
  const raw = await inflate(packed, { maxOutputLength: Math.max(1, maxFrames * frameBytes) });
  if (raw.length % frameBytes !== 0) throw new Error(`packed frames hold ${raw.length} bytes, not a whole number of ${frameBytes}-byte frames`);
  const frames: Uint8Array[] = [];
  for (let at = 0; at < raw.length; at += frameBytes) frames.push(new Uint8Array(raw.buffer, raw.byteOffset + at, frameBytes));
  return frames;
}

/**
 * Weight of the next segment's dream in frame `j` of an `n`-frame dissolve: (j+1)/(n+1), so the
 * n+1 steps from the last frame of the old dream to the first of the new one are all equal
 * (the smallest possible largest jump). Pure.
 */
export function dissolveWeight(j: number, n: number): number {
  return (j + 1) / (n + 1);
}

/** (1−w)·from + w·to per channel value, rounded. Pure. */
export function crossFade(from: Uint8Array, to: Uint8Array, weight: number): Uint8Array {
  if (from.length !== to.length) throw new Error(`cannot cross-fade frames of ${from.length} and ${to.length} bytes`);
  const out = new Uint8Array(from.length);
  for (let i = 0; i < out.length; i++) out[i] = Math.round(from[i]! + weight * (to[i]! - from[i]!));
  return out;
}
