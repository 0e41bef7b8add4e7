/** Reading a media file's streams with ffprobe into a small typed summary. */
import { stat } from 'node:fs/promises';
import { missingFile, UserError } from '../errors.js';
import type { Rational } from '../frame.js';
import { MediaToolError, ffprobeRun, localFile } from './run.js';
import { locateTools } from './locate.js';

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
  /**
   * The rates the header states, r_frame_rate then avg_frame_rate (`fps` is one of them). A
   * header can be wrong about the rate (see FrameTiming): these are what probeFrameTiming checks
   * against the packets' timestamps first.
   */
  declaredRates?: Rational[];
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
      const bundled = (await locateTools()).ffprobe.origin === 'bundled';
      throw new UserError(bundled && crashed(err) ? bundledProbeCrash(path) : `${path}: not a readable media file (${probeReason(err.stderr, path)})`);
    }
    throw err;
  }
  return mediaInfoFromProbe(path, json);
}

/**
 * The first audio stream of `path`, which may hold no video (a soundtrack given with
 * `zoom --audio`); undefined when it has no sound. Problems are one line naming the file.
 */
export async function probeAudio(path: string): Promise<AudioInfo | undefined> {
  try {
    return (await probe(path)).audio;
  } catch (err) {
    // An audio-only file: the same probe, without the need for a video stream.
    if (!(err instanceof UserError) || !err.message.includes('no video stream (audio only')) throw err;
    const { stdout } = await ffprobeRun(['-v', 'error', '-print_format', 'json', '-show_streams', localFile(path)]);
    const audio = ((JSON.parse(stdout.toString('utf8')) as ProbeOutput).streams ?? []).find((s) => s.codec_type === 'audio')!;
    const a: AudioInfo = { codec: audio.codec_name ?? '', sampleRate: Number(audio.sample_rate ?? 0), channels: audio.channels ?? 0 };
    const ad = firstFinite(audio.duration);
    if (ad !== undefined) a.durationSeconds = ad;
    return a;
  }
}

/** A tool killed by a fault (SIGSEGV, SIGBUS, SIGILL, SIGABRT) rather than one that refused the input. */
function crashed(err: MediaToolError): boolean {
  return err.signal === 'SIGSEGV' || err.signal === 'SIGBUS' || err.signal === 'SIGILL' || err.signal === 'SIGABRT' || (err.exitCode !== null && err.exitCode >= 132 && err.exitCode <= 139);
}

/**
 * The bundled ffprobe (the npm package's static build) crashes on MPEG transport streams; the
 * message says so and how to get a current ffmpeg, which locate.ts then prefers. Pure.
 */
export function bundledProbeCrash(path: string): string {
  return (
    `${path}: the ffprobe bundled from npm crashed reading it (that build cannot read MPEG-TS/M2TS files, .ts .m2ts .mts); ` +
    'install a current ffmpeg, which dreamflow then uses: apt-get install ffmpeg (or set FFMPEG_PATH and FFPROBE_PATH)'
  );
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
    declaredRates: [parseRational(video.r_frame_rate, '/'), parseRational(video.avg_frame_rate, '/')].filter((r): r is Rational => r !== undefined),
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
    if (code === 'ENOENT' || code === 'ENOTDIR') throw missingFile('file', path);
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

/**
 * How a file's frames are spaced in time, from its video packets' timestamps rather than from
 * its header. Headers can be wrong: an AVI from a camera that stores an empty chunk between
 * frames declares twice the frames (and twice the rate) that decode, and a variable-rate file
 * has no single rate to declare. The timestamps are what players follow, so dreamflow does too.
 */
export interface FrameTiming {
  /** Frames the packets hold (packets the container marks as discarded left out). */
  frames: number;
  /**
   * The constant rate frames come out at: each frame once when `variable` is false, else the
   * rate the frames are resampled to (repeated or dropped by their timestamps).
   */
  fps: Rational;
  /**
   * The steps between frames are too uneven for one constant rate: shown once each at any
   * constant rate, some frame would be more than one frame period early or late.
   */
  variable: boolean;
  /** Seconds from the first frame's start to the last frame's end. */
  seconds: number;
  /** Presentation time of the first frame, seconds on the stream's clock. */
  firstSeconds: number;
  /** Shortest and longest step between neighbouring frames, seconds. */
  minStep: number;
  maxStep: number;
  /** The last frame's own duration, seconds (what a resampler holds it for). */
  lastDuration: number;
}

/** The video packets' times in display order, in ticks of `timeBase`. */
export interface PacketTimes {
  timeBase: Rational;
  ticks: number[];
  /** Duration of the packet shown last, ticks, when the container states one. */
  lastDuration?: number;
}

const timingCache = new Map<string, Promise<FrameTiming | undefined>>();
const TIMING_CACHE_SIZE = 16;

/**
 * Read the first video stream's packet timestamps (a demux, no decode: fast even for long
 * files) and work out its frame timing; undefined when the packets carry no usable times (then
 * the header is all there is). Remembered per file version: a job opens its input several times.
 */
export function probeFrameTiming(path: string, media: MediaInfo): Promise<FrameTiming | undefined> {
  return (async () => {
    const s = await stat(path);
    const key = `${path}\0${s.size}\0${s.mtimeMs}`;
    let pending = timingCache.get(key);
    if (!pending) {
      pending = readFrameTiming(path, media);
      timingCache.set(key, pending);
      pending.catch(() => timingCache.delete(key));
      if (timingCache.size > TIMING_CACHE_SIZE) timingCache.delete(timingCache.keys().next().value!);
    }
    return pending;
  })();
}

async function readFrameTiming(path: string, media: MediaInfo): Promise<FrameTiming | undefined> {
  let text: string;
  try {
    const { stdout } = await ffprobeRun(['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'packet=pts,dts,duration,flags:stream=time_base', '-of', 'csv', localFile(path)]);
    text = stdout.toString('utf8');
  } catch (err) {
    // probe() already read this file; a listing that fails leaves the header's word.
    if (err instanceof MediaToolError) return undefined;
    throw err;
  }
  const packets = packetTimesFromCsv(text);
  // The rate already chosen from the header first: when it fits the timestamps nothing changes.
  return packets && analyseFrameTiming(packets, [media.fps, ...(media.declaredRates ?? [])]);
}

/**
 * Parse ffprobe's `packet,PTS,DTS,DURATION,FLAGS` and `stream,TIME_BASE` lines. Presentation
 * times when every packet has one; else decoding times (AVI stores none: its demuxer numbers the
 * chunks, empty ones included); else undefined. Pure.
 */
export function packetTimesFromCsv(text: string): PacketTimes | undefined {
  let timeBase: Rational | undefined;
  const packets: Array<{ pts: number; dts: number; duration: number }> = [];
  for (const line of text.split('\n')) {
    const fields = line.trim().split(',');
    if (fields[0] === 'stream' && fields[1]) timeBase = parseRational(fields[1], '/');
    else if (fields[0] === 'packet' && fields.length >= 5) {
      // Discarded packets (outside an MP4 edit list) are decoded but never shown.
      if (fields[4]![1] === 'D') continue;
      const num = (t: string | undefined): number => (t === undefined || t === 'N/A' || t === '' ? NaN : Number(t));
      packets.push({ pts: num(fields[1]), dts: num(fields[2]), duration: num(fields[3]) });
    }
  }
  if (!timeBase || packets.length === 0) return undefined;
  const field = packets.every((p) => Number.isFinite(p.pts)) ? 'pts' : packets.every((p) => Number.isFinite(p.dts)) ? 'dts' : undefined;
  if (!field) return undefined;
  // Packets come in decoding order; frames are shown in time order.
  packets.sort((a, b) => a[field] - b[field]);
  const last = packets[packets.length - 1]!;
  const out: PacketTimes = { timeBase, ticks: packets.map((p) => p[field]) };
  if (last.duration > 0) out.lastDuration = last.duration;
  return out;
}

/**
 * The frame timing of packets (pure). Frames are "steady" when some constant rate shows each of
 * them once within one frame period of its timestamp (a dropped frame, a millisecond clock's
 * rounding pass); the rate is then the first that does of: the header's rates, the mean rate of
 * the timestamps. Otherwise the file is variable-rate and gets the rate of its median step
 * (frames further apart are repeated, closer ones dropped: few of either).
 */
export function analyseFrameTiming(packets: PacketTimes, declared: readonly Rational[]): FrameTiming | undefined {
  const { ticks, timeBase } = packets;
  const n = ticks.length;
  const tick = timeBase.num / timeBase.den;
  const times = ticks.map((t) => (t - ticks[0]!) * tick);
  const span = times[n - 1]!;
  if (n < 2 || !(span > 0)) return undefined;
  const steps: number[] = [];
  for (let i = 1; i < n; i++) steps.push(times[i]! - times[i - 1]!);
  const sorted = steps.filter((s) => s > 0).sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)]!;
  // Not Math.min(...steps): an hour of video is more arguments than a call can take.
  const base = {
    frames: n,
    firstSeconds: ticks[0]! * tick,
    minStep: steps.reduce((a, b) => Math.min(a, b)),
    maxStep: steps.reduce((a, b) => Math.max(a, b)),
  };

  const meanRate = (n - 1) / span;
  // The mean rate as a fraction simple enough to read, yet within a tenth of a frame over the file.
  const tolerance = 0.1 / (n - 1);
  const candidates = [...declared, standardRate(meanRate, tolerance), simplestRational(meanRate, tolerance)];
  for (const fps of candidates) {
    if (!fps) continue;
    const period = fps.den / fps.num;
    if (maxDrift(times, period) <= period * (1 + 1e-6)) {
      return { ...base, fps, variable: false, seconds: n * period, lastDuration: period };
    }
  }
  const medianRate = 1 / median;
  const fps =
    declared.find((r) => Math.abs(r.num / r.den - medianRate) <= 0.01 * medianRate) ??
    standardRate(medianRate, 1e-3) ??
    simplestRational(medianRate, 1e-3);
  const lastDuration = packets.lastDuration !== undefined ? packets.lastDuration * tick : median;
  return { ...base, fps, variable: true, seconds: span + lastDuration, lastDuration };
}

/** Largest distance between frame i's time and i·period (first frame at 0). Pure. */
export function maxDrift(times: readonly number[], period: number): number {
  let worst = 0;
  for (let i = 0; i < times.length; i++) worst = Math.max(worst, Math.abs(times[i]! - times[0]! - i * period));
  return worst;
}

/** `x` as a whole rate or an NTSC-style N·1000/1001 one, when one is within `relTol · x`. Pure. */
export function standardRate(x: number, relTol: number): Rational | undefined {
  for (const den of [1, 1001]) {
    const num = den === 1 ? Math.round(x) : Math.round((x * den) / 1000) * 1000;
    if (num > 0 && Math.abs(num / den - x) <= relTol * x) return reduceRational({ num, den });
  }
  return undefined;
}

/**
 * The first continued-fraction convergent of `x` within `relTol · x`: (25.0000001, 1e-6) → 25/1,
 * (29.97002997, 1e-9) → 30000/1001, but (29.97002997, 1e-7) → 10999/367 (so standardRate is
 * tried first). Pure.
 */
export function simplestRational(x: number, relTol: number): Rational {
  let [h0, h1, k0, k1] = [0, 1, 1, 0];
  let y = x;
  for (let i = 0; i < 40; i++) {
    const a = Math.floor(y);
    [h0, h1] = [h1, a * h1 + h0];
    [k0, k1] = [k1, a * k1 + k0];
    const frac = y - a;
    if (Math.abs(h1 / k1 - x) <= relTol * x || frac < 1e-12) break;
    y = 1 / frac;
  }
  return reduceRational({ num: h1, den: k1 });
}
