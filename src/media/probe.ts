/** Reading a media file's streams with ffprobe into a small typed summary. */
import { stat } from 'node:fs/promises';
import { UserError } from '../errors.js';
import type { Rational } from '../frame.js';
import { MediaToolError, ffprobeRun, localFile } from './run.js';

export interface AudioInfo {
  codec: string;
  sampleRate: number;
  channels: number;
  /** Seconds, when the container states it. */
  durationSeconds?: number;
}

export interface MediaInfo {
  path: string;
  /** Container, as ffprobe names it (e.g. "mov,mp4,m4a,3gp,3g2,mj2"). */
  formatName: string;
  videoCodec: string;
  /**
   * Size of the decoded frames: the stored size with the container's rotation applied (90/270
   * swap width and height), because ffmpeg rotates while decoding. The sample aspect ratio is
   * NOT applied (frames keep their stored pixel grid); see `sampleAspectRatio`.
   */
  width: number;
  height: number;
  /**
   * Counter-clockwise degrees (0, 90, 180, 270) by which ffmpeg turns the stored picture for
   * display (the display-matrix angle, as ffprobe prints it).
   */
  rotation: number;
  /** Exact frame rate (30000/1001 stays so), reduced. */
  fps: Rational;
  /** Seconds (container duration, else the video stream's). */
  durationSeconds: number;
  /** `nb_frames` when the container states it, else round(duration · fps). */
  frameCount: number;
  hasAudio: boolean;
  audio?: AudioInfo;
  /** Pixel aspect ratio, 1/1 for square pixels (also when unknown). */
  sampleAspectRatio: Rational;
}

interface ProbeStream {
  codec_type?: string;
  codec_name?: string;
  width?: number;
  height?: number;
  r_frame_rate?: string;
  avg_frame_rate?: string;
  duration?: string;
  nb_frames?: string;
  sample_rate?: string;
  channels?: number;
  sample_aspect_ratio?: string;
  tags?: Record<string, string>;
  side_data_list?: Array<{ side_data_type?: string; rotation?: number }>;
  disposition?: Record<string, number>;
}

interface ProbeOutput {
  streams?: ProbeStream[];
  format?: { format_name?: string; duration?: string };
}

/**
 * Probe `path`. Every problem a user can cause (missing, empty, not media, no video) becomes a
 * one-line UserError naming the file.
 */
export async function probe(path: string): Promise<MediaInfo> {
  await checkReadableFile(path);
  let json: ProbeOutput;
  try {
    const { stdout } = await ffprobeRun(['-v', 'error', '-print_format', 'json', '-show_streams', '-show_format', localFile(path)]);
    json = JSON.parse(stdout.toString('utf8')) as ProbeOutput;
  } catch (err) {
    if (err instanceof MediaToolError) {
      throw new UserError(`${path}: not a readable media file (${probeReason(err.stderr, path)})`);
    }
    throw err;
  }
  return mediaInfoFromProbe(path, json);
}

/** Turn ffprobe's JSON into MediaInfo (exported for tests and for lavfi probes). */
export function mediaInfoFromProbe(path: string, json: ProbeOutput): MediaInfo {
  const streams = json.streams ?? [];
  // Cover art in an mp3/m4a is a "video" stream too; it is not a video.
  const video = streams.find((s) => s.codec_type === 'video' && !s.disposition?.['attached_pic']);
  const audio = streams.find((s) => s.codec_type === 'audio');
  if (!video) {
    const what = audio ? `audio only (${audio.codec_name ?? 'unknown codec'})` : 'no streams ffprobe recognises';
    throw new UserError(`${path}: no video stream (${what})`);
  }
  const storedW = video.width ?? 0;
  const storedH = video.height ?? 0;
  if (storedW <= 0 || storedH <= 0) throw new UserError(`${path}: the video stream has no picture size`);

  const rotation = rotationOf(video);
  const swap = rotation === 90 || rotation === 270;
  const fps = chooseFrameRate(video.r_frame_rate, video.avg_frame_rate);
  if (!fps) throw new UserError(`${path}: the video stream has no usable frame rate`);

  const duration = firstFinite(json.format?.duration, video.duration) ?? 0;
  const nbFrames = Number(video.nb_frames);
  const frameCount =
    Number.isInteger(nbFrames) && nbFrames > 0 ? nbFrames : Math.round((duration * fps.num) / fps.den);

  const info: MediaInfo = {
    path,
    formatName: json.format?.format_name ?? '',
    videoCodec: video.codec_name ?? '',
    width: swap ? storedH : storedW,
    height: swap ? storedW : storedH,
    rotation,
    fps,
    durationSeconds: duration,
    frameCount,
    hasAudio: audio !== undefined,
    sampleAspectRatio: parseRational(video.sample_aspect_ratio, ':') ?? { num: 1, den: 1 },
  };
  if (audio) {
    const a: AudioInfo = {
      codec: audio.codec_name ?? '',
      sampleRate: Number(audio.sample_rate ?? 0),
      channels: audio.channels ?? 0,
    };
    const ad = firstFinite(audio.duration);
    if (ad !== undefined) a.durationSeconds = ad;
    info.audio = a;
  }
  return info;
}

/** Missing, not a file, or empty: say so before ffprobe says something vaguer. */
export async function checkReadableFile(path: string): Promise<number> {
  let size: number;
  try {
    const s = await stat(path);
    if (!s.isFile()) throw new UserError(`not a file: ${path}`);
    size = s.size;
  } catch (err) {
    if (err instanceof UserError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw new UserError(`no such file: ${path}`);
    if (code === 'EACCES') throw new UserError(`cannot read ${path}: permission denied`);
    throw err;
  }
  if (size === 0) throw new UserError(`${path}: file is empty (0 bytes)`);
  return size;
}

/**
 * r_frame_rate is the exact base rate (30000/1001) for constant-rate video but can be a
 * meaningless timebase (e.g. 90000/1) for variable-rate files; avg_frame_rate is right on average
 * but sometimes an ugly approximation. Take r when the two agree within 1 %, else avg.
 */
export function chooseFrameRate(r: string | undefined, avg: string | undefined): Rational | undefined {
  const rr = parseRational(r, '/');
  const ra = parseRational(avg, '/');
  if (rr && ra) {
    const vr = rr.num / rr.den;
    const va = ra.num / ra.den;
    return Math.abs(vr - va) <= 0.01 * va ? rr : ra;
  }
  return rr ?? ra;
}

/** "30000/1001" → {30000, 1001} reduced; undefined for 0/0, N/A, negatives. */
export function parseRational(text: string | undefined, sep: '/' | ':'): Rational | undefined {
  if (!text) return undefined;
  const parts = text.split(sep);
  if (parts.length !== 2) return undefined;
  const num = Number(parts[0]);
  const den = Number(parts[1]);
  if (!Number.isInteger(num) || !Number.isInteger(den) || num <= 0 || den <= 0) return undefined;
  return reduceRational({ num, den });
}

export function reduceRational(r: Rational): Rational {
  const g = gcd(r.num, r.den);
  return { num: r.num / g, den: r.den / g };
}

function gcd(a: number, b: number): number {
  a = Math.abs(a);
  b = Math.abs(b);
  while (b) [a, b] = [b, a % b];
  return a || 1;
}

function rotationOf(s: ProbeStream): number {
  // Newer ffprobe reports the display matrix (counter-clockwise); older ones a clockwise tag.
  const matrix = s.side_data_list?.find((d) => typeof d.rotation === 'number');
  let ccw = 0;
  if (matrix && typeof matrix.rotation === 'number') ccw = matrix.rotation;
  else if (s.tags?.['rotate'] !== undefined) ccw = -Number(s.tags['rotate']);
  if (!Number.isFinite(ccw)) return 0;
  const quarter = Math.round(ccw / 90) * 90;
  return ((quarter % 360) + 360) % 360;
}

function firstFinite(...values: Array<string | undefined>): number | undefined {
  for (const v of values) {
    if (v === undefined) continue;
    const n = Number(v);
    if (Number.isFinite(n) && n >= 0) return n;
  }
  return undefined;
}

/**
 * The last two distinct stderr lines without the "[mov,mp4… @ 0x…]" and "path: " prefixes:
 * the last line alone is often generic ("Invalid data found…") while the one before says why
 * ("moov atom not found" = a truncated mp4).
 */
function probeReason(stderr: string, path: string): string {
  const lines = stderr
    .split(/\r?\n|\r/)
    .map((l) => l.trim().replace(/^\[[^\]]*@ 0x[0-9a-f]+\]\s*/i, ''))
    .map((l) => (l.startsWith(`${path}: `) ? l.slice(path.length + 2) : l))
    .filter((l) => l !== '');
  const picked: string[] = [];
  for (let i = lines.length - 1; i >= 0 && picked.length < 2; i--) {
    if (!picked.includes(lines[i]!)) picked.unshift(lines[i]!);
  }
  return picked.join('; ') || 'ffprobe failed';
}

/**
 * Probe a lavfi source spec (e.g. "testsrc2=size=96x64:rate=10"), for synthetic inputs. Such
 * sources are endless, so duration and frame count come out as 0.
 */
export async function probeLavfi(spec: string): Promise<MediaInfo> {
  let json: ProbeOutput;
  try {
    const { stdout } = await ffprobeRun(['-v', 'error', '-print_format', 'json', '-show_streams', '-show_format', '-f', 'lavfi', spec]);
    json = JSON.parse(stdout.toString('utf8')) as ProbeOutput;
  } catch (err) {
    if (err instanceof MediaToolError) throw new UserError(`lavfi source "${spec}": ${err.lastLine}`);
    throw err;
  }
  return mediaInfoFromProbe(`lavfi:${spec}`, json);
}
