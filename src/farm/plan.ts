/**
 * Cutting one video into segments for the farm: every frame's presentation time and the
 * keyframes, read once with ffprobe (packets only, nothing decoded), then segments of about the
 * asked length that start at keyframes, each with its warm-up run-in and an exact seek.
 */
import { UserError } from '../errors.js';
import { MediaToolError, ffprobeRun } from '../media/run.js';

export interface FrameTable {
  /** Presentation time of every frame in display order, seconds from the file's start time. */
  times: number[];
  /** Indices (into `times`) of the frames a decoder can start at, ascending. */
  keyframes: number[];
}

/**
 * One unit of farm work: frames [first, end) of the file, in its own frame numbers.
 *
 * Two workers' dreams never agree at a cut (a carried dream keeps whatever the run started
 * with, see DEFAULT_WARMUP), so each cut dissolves from one to the other: the worker of a
 * segment also dreams the `first − warmupFrom` frames before it (its warm-up), and those are
 * cross-faded with the previous segment's last frames, [its tailFrom, its end).
 */
export interface SegmentPlan {
  index: number;
  first: number;
  end: number;
  /** First frame dreamed: `first` minus the warm-up, never before the previous segment's first frame. */
  warmupFrom: number;
  /** Frames [tailFrom, end) are the previous half of the next cut's dissolve (= end for the last segment). */
  tailFrom: number;
  /** Keyframe at or before `warmupFrom` where decoding starts (frames up to warmupFrom are skipped). */
  decodeFrom: number;
}

export interface PlanOptions {
  /** Wanted frames per segment (segments start at the keyframe nearest to this). */
  segmentFrames: number;
  /** Frames dreamed before each segment (except the first) and thrown away. */
  warmup: number;
}

/**
 * Every video frame's time and the keyframes of `path`'s first video stream. Packets the
 * container marks as discarded (edit lists) are not frames a decoder outputs and are skipped.
 */
export async function readFrameTable(path: string): Promise<FrameTable> {
  let text: string;
  try {
    const { stdout } = await ffprobeRun(['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'packet=pts_time,flags:format=start_time', '-of', 'csv', path]);
    text = stdout.toString('utf8');
  } catch (err) {
    if (err instanceof MediaToolError) throw new UserError(`${path}: cannot list its frames (${err.lastLine})`);
    throw err;
  }
  return frameTableFromCsv(text, path);
}

/** Parse ffprobe's `packet,PTS,FLAGS` / `format,START` lines. Pure (exported for tests). */
export function frameTableFromCsv(text: string, label: string): FrameTable {
  let startTime = 0;
  const packets: Array<{ pts: number; key: boolean }> = [];
  for (const line of text.split('\n')) {
    const fields = line.trim().split(',');
    if (fields[0] === 'format') {
      const s = Number(fields[1]);
      if (Number.isFinite(s)) startTime = s;
    } else if (fields[0] === 'packet' && fields.length >= 3) {
      const flags = fields[fields.length - 1]!;
      if (flags[1] === 'D') continue;
      const pts = Number(fields[1]);
      if (fields[1] === 'N/A' || !Number.isFinite(pts)) {
        throw new UserError(`${label}: its video packets carry no timestamps, so it cannot be cut exactly; remux it first (ffmpeg -i IN -c copy OUT.mkv)`);
      }
      packets.push({ pts, key: flags[0] === 'K' });
    }
  }
  if (packets.length === 0) throw new UserError(`${label}: no video frames found`);
  // Packets come in decoding order; display order is by presentation time.
  packets.sort((a, b) => a.pts - b.pts);
  const times = packets.map((p) => p.pts - startTime);
  const keyframes: number[] = [];
  packets.forEach((p, i) => {
    if (p.key) keyframes.push(i);
  });
  return { times, keyframes };
}

/** Frames [first, end) of the table that `--start S --duration D` select (as the decoder's -ss/-t). Pure. */
export function frameRange(times: readonly number[], start: number | undefined, duration: number | undefined): { first: number; end: number } {
  // Printed times have 6 decimals: a frame exactly at S must count as at S.
  const eps = 1e-4;
  const from = start ?? 0;
  let first = times.findIndex((t) => t >= from - eps);
  if (first < 0) first = times.length;
  let end = times.length;
  if (duration !== undefined) {
    const stop = times.findIndex((t) => t >= from + duration - eps);
    if (stop >= 0) end = stop;
  }
  return { first, end: Math.max(first, end) };
}

/** The largest keyframe ≤ frame, or 0 when none (decode from the file's first frame). Pure. */
export function keyframeAtOrBefore(keyframes: readonly number[], frame: number): number {
  let lo = 0;
  let hi = keyframes.length - 1;
  let found = 0;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (keyframes[mid]! <= frame) {
      found = keyframes[mid]!;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return found;
}

/**
 * Segments covering frames [range.first, range.end) exactly once, in order, each cut at the
 * keyframe nearest to `segmentFrames` after the previous cut (a remainder shorter than a quarter
 * segment joins the last one). Pure.
 */
export function planSegments(table: FrameTable, range: { first: number; end: number }, opts: PlanOptions): SegmentPlan[] {
  if (!(Number.isInteger(opts.segmentFrames) && opts.segmentFrames >= 1)) throw new Error(`segmentFrames must be ≥ 1, got ${opts.segmentFrames}`);
  if (!(Number.isInteger(opts.warmup) && opts.warmup >= 0)) throw new Error(`warmup must be ≥ 0, got ${opts.warmup}`);
  const cuts = [range.first];
  let cur = range.first;
  while (cur < range.end) {
    const target = cur + opts.segmentFrames;
    let next = range.end;
    if (target < range.end) {
      let best: number | undefined;
      for (const k of table.keyframes) {
        if (k <= cur || k >= range.end) continue;
        if (best === undefined || Math.abs(k - target) < Math.abs(best - target)) best = k;
        if (k > target) break;
      }
      if (best !== undefined && range.end - best >= opts.segmentFrames / 4) next = best;
    }
    cuts.push(next);
    cur = next;
  }
  const segments: SegmentPlan[] = [];
  for (let i = 0; i + 1 < cuts.length; i++) {
    const first = cuts[i]!;
    const end = cuts[i + 1]!;
    // The dissolve lies inside the previous segment, so dissolves never overlap.
    const warmupFrom = i === 0 ? first : Math.max(cuts[i - 1]!, first - opts.warmup);
    const tailFrom = i + 2 < cuts.length ? Math.max(first, end - opts.warmup) : end;
    const decodeFrom = keyframeAtOrBefore(table.keyframes, warmupFrom);
    segments.push({ index: i, first, end, warmupFrom, tailFrom, decodeFrom });
  }
  return segments;
}

/**
 * How the input is cut into stream-copied pieces that workers decode instead of the file: piece
 * i holds frames [edges[i], edges[i+1]). Every segment's decode start is an edge (so its first
 * piece starts with its keyframe), and so is the first keyframe at or after the last frame
 * needed (the rest of the file is never shipped). ffmpeg's segment muxer cuts at the first
 * keyframe at or after each of `splitTimes` (half a frame before each split's keyframe, so the
 * 6-decimal rounding of the times cannot miss it); `uses[n]` lists segment n's pieces in order. Pure.
 */
export function planPieces(table: FrameTable, segments: readonly SegmentPlan[]): { splits: number[]; splitTimes: number[]; edges: number[]; uses: number[][] } {
  const total = table.times.length;
  const lastNeeded = Math.max(...segments.map((s) => s.end));
  const after = table.keyframes.find((k) => k >= lastNeeded);
  const splits = [...new Set([...segments.map((s) => s.decodeFrom), ...(after === undefined ? [] : [after])])].filter((f) => f > 0 && f < total).sort((a, b) => a - b);
  const edges = [0, ...splits, total];
  const splitTimes = splits.map((k) => table.times[k]! - (table.times[k]! - table.times[k - 1]!) / 2);
  const uses = segments.map((s) => {
    const pieces: number[] = [];
    for (let i = 0; i + 1 < edges.length; i++) if (edges[i]! >= s.decodeFrom && edges[i]! < s.end) pieces.push(i);
    return pieces;
  });
  return { splits, splitTimes, edges, uses };
}

/** `10s`, `10`, `2.5s`, `500ms` (seconds) or `240f` (frames) → frames at `fps`. */
export function parseSegmentLength(text: string, fps: number): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|f)?\s*$/.exec(text);
  if (!m) throw new UserError(`--segment must be a length like 10s, 500ms or 240f (got "${text}")`);
  const value = Number(m[1]);
  const unit = m[2] ?? 's';
  const frames = unit === 'f' ? value : Math.round(((unit === 'ms' ? value / 1000 : value) * fps));
  if (!Number.isInteger(frames) || frames < 1) throw new UserError(`--segment must be at least one frame (got "${text}")`);
  return frames;
}
