/**
 * How much memory a dream will take, before it starts: a 16384×16384 picture would otherwise grow
 * for minutes until the machine runs out (each float RGB copy of it alone is 3.2 GB). The
 * estimate adds four parts, each calibrated against the peak RSS of real runs
 * (docs/architecture.md, "Memory"):
 *
 * - the runtime: Node, the libraries, each worker's engine and the model's weights;
 * - sessions: ONNX Runtime keeps one per tile shape (and objective), per worker;
 * - activations: one tile's forward and backward pass at a time in every worker;
 * - frames: the float copies of the picture the dream loop holds (image, octave pyramid, rolled
 *   copy, gradient, detail, tiles, output), and for videos the carried dream and flow.
 *
 * Everything here is pure except `machineMemory`, which reads the machine's and the cgroup's limits.
 */
import { readFileSync } from 'node:fs';
import { freemem, totalmem } from 'node:os';
import { UserError } from '../errors.js';
import { largestWithin, pixelSteps, REFERENCE_PIXEL_STEPS_PER_SECOND } from './cost.js';
import { TILE_MARGIN, octaveSizes } from './deepdream.js';
import { MODEL_COSTS } from './modelCost.js';
import { tileGrid } from './tiles.js';

const MiB = 1024 * 1024;

/** What decides a dream's memory. */
export interface DreamFootprint {
  /** Working size of the picture or video frame. */
  width: number;
  height: number;
  octaves: number;
  octaveScale: number;
  /** Largest tile side (`--tile`). */
  tile: number;
  /** Worker threads, each with its own engine (0: the main thread, which counts as one). */
  workers: number;
  model: string;
  /** `onnx` keeps a session per tile shape; the tfjs engines (wasm, cpu, tensorflow) do not. */
  engine: 'onnx' | 'tfjs';
  /** Class and neuron objectives judge the whole picture at once: one tile the picture's size. */
  wholeImage?: boolean | undefined;
  /** 360° frames wrap around: every tile gets its full margin. */
  wrapX?: boolean | undefined;
  /** What holds frames besides the dream loop: one picture, or a video (or vr) job's frame loop. */
  job: 'image' | 'video' | 'vr';
  /** Pictures dreamed at once on the one runner (sweep cells); default 1. */
  concurrent?: number | undefined;
  /** Steps per octave of one full dream: with it, a suggested --size also fits a time (TIME_BUDGET_SECONDS). */
  iterations?: number | undefined;
}

/** A suggested size must also dream one picture (a video's first frame) within this, on the reference machine (dream/cost.ts). */
export const TIME_BUDGET_SECONDS = 600;

export interface MemoryEstimate {
  /** Bytes in all, the sum of the parts below. */
  total: number;
  runtime: number;
  sessions: number;
  activations: number;
  frames: number;
}

// MODEL_COSTS (per-model bytes per tile pixel and per session) live in modelCost.ts, which
// runner.ts also reads (deviceTileSide) without importing this file's dependencies.

/** Node, sharp, ONNX Runtime and the first worker with its weights (a 64×64 dream peaks at 345 MB). */
const RUNTIME = 300 * MiB;
/** Each further worker: its own engine and weights (1024² with two workers: +565 MB, of which tiles are most). */
const PER_WORKER = 200 * MiB;
/**
 * Bytes per pixel of the working frame: about eight float RGB copies at once in the dream loop
 * (4096² against 2048² with the same tiles: +1.2 GB for 12.6 M pixels, 97 B per pixel), and the
 * carried dream, flow and per-frame copies of a video job besides.
 */
const FRAME_BYTES: Record<DreamFootprint['job'], number> = { image: 100, video: 160, vr: 200 };
/** Each smaller octave's base, kept for the whole dream: one float RGB copy. */
const OCTAVE_BASE_BYTES = 12;
/** ONNX Runtime sessions kept per engine (engine/onnx/runtime.ts, SessionCache). */
const SESSION_CAPACITY = 24;

/**
 * The distinct view widths and heights of tileGrid's tiles for a w×h picture. Tiles form a grid
 * (each column one width, each row one height), so the shapes are every width with every height.
 * A huge picture in small tiles has tens of thousands of them: when tileGrid keeps its first
 * choice of columns and rows (there are at least `minTiles`), a strip of the grid a few tiles
 * deep has the same columns (and one a few tiles wide the same rows), so only those are made.
 */
function viewSides(w: number, h: number, opts: { maxTile: number; margin: number; minTiles: number; wrapX?: boolean | undefined }): { widths: Set<number>; heights: Set<number> } {
  const cols = Math.ceil(w / opts.maxTile);
  const rows = Math.ceil(h / opts.maxTile);
  const widths = new Set<number>();
  const heights = new Set<number>();
  if (cols * rows < opts.minTiles || cols * rows <= 256) {
    for (const t of tileGrid(w, h, opts)) {
      widths.add(t.view.width);
      heights.add(t.view.height);
    }
  } else {
    const strip = Math.min(h, opts.maxTile * Math.ceil(opts.minTiles / cols));
    for (const t of tileGrid(w, strip, opts)) widths.add(t.view.width);
    const column = Math.min(w, opts.maxTile * Math.ceil(opts.minTiles / rows));
    for (const t of tileGrid(column, h, opts)) heights.add(t.view.height);
  }
  return { widths, heights };
}

/**
 * How many sessions the dream's tiles need (one per distinct view shape: the gradient's at every
 * octave, the dream gain's values at full size) and the largest view's pixels.
 */
export function tileShapes(f: Pick<DreamFootprint, 'width' | 'height' | 'octaves' | 'octaveScale' | 'tile' | 'workers' | 'wholeImage' | 'wrapX'>): { shapes: number; largest: number } {
  let largest = 0;
  const views = (w: number, h: number, into: Set<string>): void => {
    if (f.wholeImage) {
      into.add(`${w}x${h}`);
      largest = Math.max(largest, w * h);
      return;
    }
    const { widths, heights } = viewSides(w, h, { maxTile: f.tile, margin: TILE_MARGIN, minTiles: Math.max(1, f.workers), wrapX: f.wrapX });
    for (const vw of widths) for (const vh of heights) into.add(`${vw}x${vh}`);
    largest = Math.max(largest, Math.max(...widths) * Math.max(...heights));
  };
  const gradient = new Set<string>();
  for (const [w, h] of octaveSizes(f.width, f.height, f.octaves, f.octaveScale)) views(w, h, gradient);
  const value = new Set<string>();
  views(f.width, f.height, value);
  return { shapes: gradient.size + value.size, largest };
}

/** Peak memory of a dream, in bytes, by part. Pure; monotone in size, workers, octaves and tile. */
export function estimateMemory(f: DreamFootprint): MemoryEstimate {
  const cost = MODEL_COSTS[f.model] ?? MODEL_COSTS['bvlc_googlenet']!;
  const workers = Math.max(1, f.workers);
  const concurrent = Math.max(1, f.concurrent ?? 1);
  const { shapes, largest } = tileShapes(f);
  const runtime = RUNTIME + (workers - 1) * PER_WORKER;
  const sessions = f.engine === 'onnx' ? workers * Math.min(SESSION_CAPACITY, shapes) * cost.session : 0;
  const activations = workers * largest * cost.activationPerPixel;
  const pyramid = octaveSizes(f.width, f.height, f.octaves, f.octaveScale).reduce((sum, [w, h]) => sum + w * h, 0) - f.width * f.height;
  const frames = concurrent * (f.width * f.height * FRAME_BYTES[f.job] + pyramid * OCTAVE_BASE_BYTES);
  return { total: runtime + sessions + activations + frames, runtime, sessions, activations, frames };
}

/** Bytes as people read them, in powers of 1000 ("2.4 GB"). */
export function formatMemory(bytes: number): string {
  if (bytes >= 1e9) return `${(bytes / 1e9).toFixed(1)} GB`;
  return `${Math.max(1, Math.round(bytes / 1e6))} MB`;
}

/** A memory amount: bytes, or a number with K, M, G or T (powers of 1024), e.g. `16G`, `512M`. */
export function parseMemory(text: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*$/i.exec(text);
  if (!m) return undefined;
  const power = ' kmgt'.indexOf((m[2] || ' ').toLowerCase());
  const bytes = Number(m[1]) * 1024 ** power;
  return bytes > 0 ? Math.floor(bytes) : undefined;
}

export interface MemoryLimit {
  bytes: number;
  /** Where the figure comes from, for messages ("this machine's 25.3 GB"). */
  what: string;
  /** Set by DREAMFLOW_MEMORY_LIMIT: the user's own word, which the free memory does not lower. */
  byUser?: boolean;
}

/**
 * What a dream may use: the machine's memory, lowered by a cgroup limit (a container's
 * `memory.max`, v2, or `memory.limit_in_bytes`, v1; "max" and v1's huge "unlimited" do not
 * count) and by `DREAMFLOW_MEMORY_LIMIT`, the user's own cap. Pure: the caller reads the files.
 */
export function memoryLimit(from: { total: number; cgroupV2?: string | undefined; cgroupV1?: string | undefined; env?: string | undefined }): MemoryLimit {
  let limit: MemoryLimit = { bytes: from.total, what: `this machine's ${formatMemory(from.total)}` };
  for (const text of [from.cgroupV2, from.cgroupV1]) {
    const n = text === undefined ? NaN : Number(text.trim());
    if (Number.isFinite(n) && n > 0 && n < limit.bytes) limit = { bytes: n, what: `the container's limit of ${formatMemory(n)}` };
  }
  if (from.env !== undefined && from.env.trim() !== '') {
    const n = parseMemory(from.env);
    if (n === undefined) throw new UserError(`DREAMFLOW_MEMORY_LIMIT must be a number of bytes or one with K, M, G or T, e.g. 16G (got "${from.env}")`);
    limit = { bytes: n, what: `DREAMFLOW_MEMORY_LIMIT=${from.env.trim()} (${formatMemory(n)})`, byUser: true };
  }
  return limit;
}

function readOptional(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** This machine's memory limit for dreamflow (see memoryLimit). */
export function machineMemory(): MemoryLimit {
  return memoryLimit({
    total: totalmem(),
    cgroupV2: readOptional('/sys/fs/cgroup/memory.max'),
    cgroupV1: readOptional('/sys/fs/cgroup/memory/memory.limit_in_bytes'),
    env: process.env['DREAMFLOW_MEMORY_LIMIT'],
  });
}

/** Share of the limit a dream may plan to fill: the OS, ffmpeg and the rest need some too. */
const HEADROOM = 0.9;

/**
 * The largest working size of the same shape whose dream fits in `bytes`, or undefined when not
 * even a 64-pixel-wide one does. Bisection over the scale: the estimate grows with the size.
 */
export function largestFitting(f: DreamFootprint, bytes: number): { width: number; height: number } | undefined {
  const at = (s: number): DreamFootprint => ({ ...f, width: Math.max(16, Math.round(f.width * s)), height: Math.max(16, Math.round(f.height * s)) });
  const smallest = 64 / Math.max(f.width, f.height);
  if (smallest >= 1 || estimateMemory(at(smallest)).total > bytes) return undefined;
  let lo = smallest;
  let hi = 1;
  for (let i = 0; i < 30; i++) {
    const mid = (lo + hi) / 2;
    if (estimateMemory(at(mid)).total <= bytes) lo = mid;
    else hi = mid;
  }
  const fit = at(lo);
  return { width: fit.width, height: fit.height };
}

/**
 * Refuse, with one line, a dream whose estimate exceeds what the machine has: the estimate and its
 * largest parts, the limit, and what to change (a smaller --size, a smaller --tile, fewer
 * --workers). Returns the estimate; `onWarning` hears when it is more than is free right now.
 */
export function checkMemory(f: DreamFootprint, opts: { limit?: MemoryLimit; free?: number; onWarning?: ((message: string) => void) | undefined } = {}): MemoryEstimate {
  const estimate = estimateMemory(f);
  const free = opts.free ?? availableMemory();
  const limit = lowerToFree(opts.limit ?? machineMemory(), free);
  const what = `a ${f.width}x${f.height} ${f.job === 'image' ? 'dream' : `${f.job} frame`}${(f.concurrent ?? 1) > 1 ? ` (${f.concurrent} at once)` : ''}`;
  if (estimate.total > limit.bytes) {
    const advice: string[] = [];
    let fit = largestFitting(f, limit.bytes * HEADROOM);
    // Class and neuron objectives see the whole picture at once: only the size helps them.
    const whole = f.wholeImage ? ', as --class and --neuron see the whole picture at once' : '';
    // A size that fits memory but takes days to dream is no advice: it must also fit a time.
    let timed = '';
    if (fit && f.iterations !== undefined) {
      const quick = largestWithin({ ...fit, octaves: f.octaves, octaveScale: f.octaveScale, iterations: f.iterations }, TIME_BUDGET_SECONDS, REFERENCE_PIXEL_STEPS_PER_SECOND);
      if (quick && quick.width * quick.height < fit.width * fit.height) fit = quick;
      const seconds = pixelSteps(fit.width, fit.height, f.octaves, f.octaveScale, Math.max(1, f.iterations)) / REFERENCE_PIXEL_STEPS_PER_SECOND;
      timed = ` in memory and dreams ${f.job === 'image' ? 'it' : 'a first frame'} in about ${Math.max(1, Math.round(seconds / 60))} min on 2 CPU cores`;
    }
    if (fit && (fit.width < f.width || fit.height < f.height)) advice.push(`a smaller --size (${fit.width}x${fit.height} fits${timed}${whole})`);
    // Smaller tiles help when the network's part is a large share (or is what does not fit).
    const smallTile = Math.min(256, f.tile);
    const network = estimate.sessions + estimate.activations;
    const smaller = estimateMemory({ ...f, tile: smallTile }).total;
    if (!f.wholeImage && smallTile < f.tile && smaller < estimate.total && (network >= 0.2 * estimate.total || smaller <= limit.bytes * HEADROOM)) {
      advice.push(`--tile ${smallTile}`);
    }
    if (f.workers > 1) advice.push('fewer --workers');
    if (advice.length === 0) advice.push('a machine with more memory');
    const parts = `frames ${formatMemory(estimate.frames)}, network ${formatMemory(estimate.sessions + estimate.activations)}, runtime ${formatMemory(estimate.runtime)}`;
    throw new UserError(`${what} needs about ${formatMemory(estimate.total)} of memory (${parts}), more than ${limit.what}: use ${advice.join(' or ')}`);
  }
  if (estimate.total > free) opts.onWarning?.(`${what} needs about ${formatMemory(estimate.total)} of memory and ${formatMemory(free)} is free now; it may swap or be stopped`);
  return estimate;
}

/**
 * The limit a job is held to: the machine's (or container's) memory, lowered to what is free now
 * (available memory plus free swap) when that is less. A long video would otherwise start with a
 * warning and be ended by the kernel hours later, its work lost. DREAMFLOW_MEMORY_LIMIT is the
 * user's word and is kept as given (the job then only warns).
 */
export function lowerToFree(limit: MemoryLimit, free: number): MemoryLimit {
  if (limit.byUser || !(free > 0) || free >= limit.bytes) return limit;
  return { bytes: free, what: `the ${formatMemory(free)} free now (set DREAMFLOW_MEMORY_LIMIT to go ahead anyway)` };
}

/** Memory that can be had now: the kernel's available memory (os.freemem) plus free swap. */
export function availableMemory(): number {
  const swap = /^SwapFree:\s+(\d+) kB$/m.exec(readOptional('/proc/meminfo') ?? '');
  return freemem() + (swap ? Number(swap[1]) * 1024 : 0);
}
