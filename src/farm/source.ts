/**
 * Shipping the input to the workers: the coordinator cuts the video stream into stream-copied
 * pieces (whole GOPs, no re-encoding) and stores them in Redis; a worker fetches the pieces of
 * its segment, checks their signed length and SHA-256, and decodes them from its own temp
 * folder. Workers therefore read no path a job names and need no storage shared with the
 * coordinator (docs/architecture.md, "The farm's trust boundary").
 */
import { existsSync } from 'node:fs';
import { readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { UserError } from '../errors.js';
import { MediaToolError, ffmpegRun, localFile } from '../media/run.js';
import { writeAtomic } from '../pipeline/checkpoint.js';
import { sha256 } from './auth.js';
import { readFrameTable } from './plan.js';
import { RESULT_TTL_SECONDS, type ShippedFile, type SourcePiece } from './protocol.js';

/**
 * Largest piece shipped (Redis strings stop at 512 MB; a piece holds a segment's GOPs). Workers
 * refuse anything larger before fetching it.
 */
export const MAX_PIECE_BYTES = 256 * 1024 * 1024;
/** Largest guide image shipped. */
export const MAX_GUIDE_BYTES = 32 * 1024 * 1024;

const FORMATS = [
  // mov keeps rotation and most codecs; Matroska takes the rest.
  { format: 'mov', muxer: 'mov' },
  { format: 'mkv', muxer: 'matroska' },
] as const;

/**
 * Cut `input`'s first video stream into pieces at `splitTimes` (ffmpeg's segment muxer, one
 * pass), keep those in `needed` and check each holds exactly its planned frame count. The
 * result is remembered in `dir/pieces.json`, so a restarted coordinator does not cut again.
 */
export async function cutPieces(input: string, edges: readonly number[], splitTimes: readonly number[], needed: ReadonlySet<number>, dir: string): Promise<Map<number, SourcePiece & { path: string }>> {
  const manifest = join(dir, 'pieces.json');
  if (existsSync(manifest)) {
    const saved = JSON.parse(await readFile(manifest, 'utf8')) as Array<SourcePiece & { index: number }>;
    return new Map(saved.map((p) => [p.index, { ...p, path: piecePath(dir, p.index, p.format) }]));
  }
  let lastError: MediaToolError | undefined;
  for (const { format, muxer } of FORMATS) {
    await removePieces(dir);
    const args = ['-i', localFile(input), '-map', '0:v:0', '-c', 'copy', '-an', '-sn', '-dn'];
    // The segment muxer splits every 2 s unless told where: one piece is a plain copy.
    if (splitTimes.length === 0) args.push('-f', muxer, piecePath(dir, 0, format));
    else args.push('-f', 'segment', '-segment_format', muxer, '-segment_times', splitTimes.map((t) => t.toFixed(6)).join(','), '-reset_timestamps', '1', join(dir, `piece-%05d.${format}`));
    try {
      await ffmpegRun(args);
    } catch (err) {
      if (!(err instanceof MediaToolError)) throw err;
      lastError = err;
      continue;
    }
    const pieces = new Map<number, SourcePiece & { path: string; index: number }>();
    for (let i = 0; i + 1 < edges.length; i++) {
      const path = piecePath(dir, i, format);
      if (!needed.has(i)) {
        await rm(path, { force: true });
        continue;
      }
      const want = edges[i + 1]! - edges[i]!;
      const frames = existsSync(path) ? (await readFrameTable(path)).times.length : 0;
      if (frames !== want) {
        throw new UserError(`${input}: cannot cut it into exact pieces for the workers (piece ${i + 1} holds ${frames} frames, not ${want}); remux it first (ffmpeg -i IN -c copy OUT.mkv)`);
      }
      const data = await readFile(path);
      if (data.length > MAX_PIECE_BYTES) {
        throw new UserError(`${input}: a piece between keyframes is ${(data.length / 2 ** 20).toFixed(0)} MB, over the farm's ${MAX_PIECE_BYTES / 2 ** 20} MB; use a shorter --segment, or re-encode with keyframes closer together (ffmpeg -g)`);
      }
      pieces.set(i, { index: i, key: '', bytes: data.length, sha256: sha256(data), frames, format, path });
    }
    await writeAtomic(manifest, JSON.stringify([...pieces.values()].map(({ path: _, ...p }) => p)));
    return pieces;
  }
  throw new UserError(`${input}: cannot cut its video stream into pieces for the workers (${lastError?.lastLine ?? 'unknown error'})`);
}

function piecePath(dir: string, index: number, format: string): string {
  return join(dir, `piece-${String(index).padStart(5, '0')}.${format}`);
}

async function removePieces(dir: string): Promise<void> {
  for (const f of await readdir(dir)) if (f.startsWith('piece-')) await rm(join(dir, f), { force: true });
}

/** Store a file's bytes under `key` unless the same bytes are there already (a restarted coordinator). */
export async function shipFile(store: Redis, key: string, path: string, expect: { bytes: number; sha256: string }): Promise<void> {
  if ((await store.strlen(key)) === expect.bytes && (await store.exists(key)) === 1) {
    await store.expire(key, RESULT_TTL_SECONDS);
    return;
  }
  const data = await readFile(path);
  if (data.length !== expect.bytes || sha256(data) !== expect.sha256) throw new Error(`${path} changed while the farm ran`);
  await store.set(key, data, 'EX', RESULT_TTL_SECONDS);
}

/**
 * Fetch a shipped file into `path` after checking its length (before reading it) and its
 * SHA-256 against the signed job. Throws a plain Error naming the key otherwise.
 */
export async function fetchShipped(store: Redis, file: ShippedFile, limit: number, path: string): Promise<void> {
  if (!Number.isInteger(file.bytes) || file.bytes < 0 || file.bytes > limit) throw new Error(`shipped file ${file.key} declares ${file.bytes} bytes (at most ${limit})`);
  const stored = await store.strlen(file.key);
  if (stored !== file.bytes) throw new Error(`shipped file ${file.key} holds ${stored} bytes, not ${file.bytes} (gone from Redis, or replaced)`);
  const data = await store.getBuffer(file.key);
  if (!data || data.length !== file.bytes || sha256(data) !== file.sha256) throw new Error(`shipped file ${file.key} does not match its signed SHA-256`);
  await writeFile(path, data);
}
