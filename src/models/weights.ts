import { createHash } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { copyFile, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { UserError } from '../errors.js';
import type { ModelManifest } from './manifest.js';

/** Where a user's downloaded models live: $XDG_CACHE_HOME/dreamflow or ~/.cache/dreamflow. */
export function cacheRoot(): string {
  return join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'dreamflow');
}

/** A weights root holds one folder per model; a model folder holds the `weights/` files directly. */
function modelFolderIn(root: string, manifest: ModelManifest): string | undefined {
  for (const dir of [join(root, manifest.name), root]) {
    if (isComplete(dir, manifest)) return dir;
  }
  return undefined;
}

/** Every file present with its manifest size (cheap; hashes are checked when downloading). */
function isComplete(dir: string, manifest: ModelManifest): boolean {
  return manifest.files.every((f) => {
    try {
      return statSync(join(dir, f.path)).size === f.bytes;
    } catch {
      return false;
    }
  });
}

export interface WeightLookup {
  /** `--weights DIR`: a weights root or a model folder. */
  weightsDir?: string | undefined;
  /** Fetch from the manifest's source (or `baseUrl`) into the user cache when not found. */
  download?: boolean;
  baseUrl?: string | undefined;
  /** Progress reports while downloading (bytes so far, total bytes). */
  onProgress?: (done: number, total: number) => void;
}

/**
 * Find a model's weight folder: `--weights DIR` → $DREAMFLOW_WEIGHTS → the user cache → a verified
 * download into the cache → a clear error saying where to put the files.
 */
export async function locateWeights(manifest: ModelManifest, opts: WeightLookup = {}): Promise<string> {
  if (opts.weightsDir) {
    const found = modelFolderIn(opts.weightsDir, manifest);
    if (found) return found;
    throw new UserError(`--weights ${opts.weightsDir} does not hold a complete ${manifest.name} (expected ${manifest.name}/weights/...)`);
  }
  const env = process.env.DREAMFLOW_WEIGHTS;
  if (env) {
    const found = modelFolderIn(env, manifest);
    if (found) return found;
  }
  const cached = join(cacheRoot(), manifest.name);
  if (isComplete(cached, manifest)) return cached;
  if (opts.download !== false) {
    await downloadWeights(manifest, { baseUrl: opts.baseUrl, onProgress: opts.onProgress });
    return cached;
  }
  throw new UserError(missingMessage(manifest));
}

function missingMessage(manifest: ModelManifest): string {
  return (
    `weights for ${manifest.name} not found: run "dreamflow models pull ${manifest.name}", ` +
    `or put the files under ${join(cacheRoot(), manifest.name)} or in DREAMFLOW_WEIGHTS=DIR/${manifest.name}/weights/...`
  );
}

function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** The manifest's files in `dir` whose size and SHA-256 match (paths as the manifest names them). */
export async function verifiedFiles(dir: string, manifest: ModelManifest): Promise<Set<string>> {
  const ok = new Set<string>();
  for (const f of manifest.files) {
    const path = join(dir, f.path);
    try {
      if (statSync(path).size !== f.bytes) continue;
      if (sha256(await readFile(path)) === f.sha256) ok.add(f.path);
    } catch {
      // Missing or unreadable: not verified.
    }
  }
  return ok;
}

/** Where a pull found or put a model, and what it had to fetch. */
export interface PullResult {
  dir: string;
  /** Files downloaded now. */
  fetched: number;
  /** Files already there with their published SHA-256, kept. */
  kept: number;
  /** Where the folder came from: --weights, DREAMFLOW_WEIGHTS or the user cache. */
  origin: 'weights' | 'env' | 'cache';
}

/**
 * `dreamflow models pull`: a model folder that is already complete and verified (--weights DIR,
 * $DREAMFLOW_WEIGHTS, or the user cache, every file's SHA-256 checked) is reported and nothing is
 * fetched; otherwise the user cache is completed, fetching only the files that are not verified.
 */
export async function pullWeights(
  manifest: ModelManifest,
  opts: { weightsDir?: string | undefined; baseUrl?: string | undefined; onProgress?: ((done: number, total: number) => void) | undefined } = {},
): Promise<PullResult> {
  const candidates: Array<[string, PullResult['origin']]> = [];
  if (opts.weightsDir) candidates.push([join(opts.weightsDir, manifest.name), 'weights'], [opts.weightsDir, 'weights']);
  const env = process.env.DREAMFLOW_WEIGHTS;
  if (env) candidates.push([join(env, manifest.name), 'env'], [env, 'env']);
  candidates.push([join(cacheRoot(), manifest.name), 'cache']);
  for (const [dir, origin] of candidates) {
    if (!isComplete(dir, manifest)) continue;
    if ((await verifiedFiles(dir, manifest)).size === manifest.files.length) return { dir, fetched: 0, kept: manifest.files.length, origin };
  }
  let fetched = 0;
  const dir = await downloadWeights(manifest, { ...opts, onFetched: () => fetched++ });
  return { dir, fetched, kept: manifest.files.length - fetched, origin: 'cache' };
}

/**
 * Download every weight file of a model into the user cache, verifying each SHA-256. Files go to a
 * private temporary folder first and the folder is renamed into place only when all are verified,
 * so an interrupted pull never looks like a finished one.
 */
export async function downloadWeights(
  manifest: ModelManifest,
  opts: { baseUrl?: string | undefined; onProgress?: ((done: number, total: number) => void) | undefined; onFetched?: (() => void) | undefined } = {},
): Promise<string> {
  const base = (opts.baseUrl ?? process.env.DREAMFLOW_WEIGHTS_URL ?? manifest.source).replace(/\/?$/, '/');
  const target = join(cacheRoot(), manifest.name);
  const temp = `${target}.partial-${process.pid}`;
  const total = manifest.files.reduce((s, f) => s + f.bytes, 0);
  let done = 0;
  await rm(temp, { recursive: true, force: true });
  try {
    // Files already in the cache with their published SHA-256 are kept, not fetched again.
    const kept = existsSync(target) ? await verifiedFiles(target, manifest) : new Set<string>();
    for (const f of manifest.files.filter((x) => kept.has(x.path))) {
      await mkdir(dirname(join(temp, f.path)), { recursive: true });
      await copyFile(join(target, f.path), join(temp, f.path));
      done += f.bytes;
    }
    if (kept.size > 0) opts.onProgress?.(done, total);
    const queue = manifest.files.filter((x) => !kept.has(x.path));
    let failed = false;
    const fetchOne = async (): Promise<void> => {
      for (let f = queue.shift(); f && !failed; f = queue.shift()) {
        // The published layout keeps each model under its own folder, like ../shared/weights.
        const url = new URL(`${manifest.name}/${f.path}`, base).toString();
        let body: Uint8Array;
        try {
          const res = await fetch(url);
          if (!res.ok) throw new Error(`HTTP ${res.status}`);
          body = new Uint8Array(await res.arrayBuffer());
        } catch (err) {
          throw new UserError(`cannot download ${url}: ${(err as Error).message}. ${missingMessage(manifest)}`);
        }
        if (body.length !== f.bytes || sha256(body) !== f.sha256) {
          throw new UserError(`checksum mismatch for ${url}: the download is corrupt or not the published file`);
        }
        const out = join(temp, f.path);
        await mkdir(dirname(out), { recursive: true });
        await writeFile(out, body);
        opts.onFetched?.();
        done += f.bytes;
        opts.onProgress?.(done, total);
      }
    };
    // Four downloads at a time; the first failure stops the others before the cleanup below.
    const results = await Promise.allSettled(
      Array.from({ length: 4 }, () =>
        fetchOne().catch((err: unknown) => {
          failed = true;
          throw err;
        }),
      ),
    );
    const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failure) throw failure.reason;
    await mkdir(dirname(target), { recursive: true });
    if (existsSync(target)) await rm(target, { recursive: true, force: true });
    await rename(temp, target);
    return target;
  } catch (err) {
    await rm(temp, { recursive: true, force: true });
    throw err;
  }
}

/** A one-line progress bar on stderr when it is a terminal, else a line every 25 %. */
export function progressPrinter(label: string): (done: number, total: number) => void {
  let lastQuarter = -1;
  return (done, total) => {
    const frac = total > 0 ? done / total : 1;
    if (process.stderr.isTTY) {
      const width = 30;
      const fill = Math.round(frac * width);
      process.stderr.write(
        `\r${label} [${'#'.repeat(fill)}${'.'.repeat(width - fill)}] ${(done / 1e6).toFixed(1)}/${(total / 1e6).toFixed(1)} MB`,
      );
      if (done >= total) process.stderr.write('\n');
    } else {
      const quarter = Math.floor(frac * 4);
      if (quarter !== lastQuarter) {
        lastQuarter = quarter;
        process.stderr.write(`${label}: ${Math.round(frac * 100)}% of ${(total / 1e6).toFixed(1)} MB\n`);
      }
    }
  };
}
