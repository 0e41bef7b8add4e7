/**
 * Test clips made with the real ffmpeg in a temp folder: synthetic lavfi patterns and camera
 * pans over a real photo (known motion, natural image statistics).
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { ffmpegRun } from '../../src/media/run.js';
import type { Frame, Rational } from '../../src/pipeline/types.js';
import { SHARED_IMAGES, tempDir } from './paths.js';

export { SHARED_IMAGES, tempDir } from './paths.js';

export const KITE = join(SHARED_IMAGES, 'kite.jpg');

export async function removeDir(dir: string | undefined): Promise<void> {
  if (dir) await rm(dir, { recursive: true, force: true });
}

export type Fps = number | string | Rational;

export function fpsArg(fps: Fps): string {
  if (typeof fps === 'number' || typeof fps === 'string') return String(fps);
  return `${fps.num}/${fps.den}`;
}

export interface ClipOptions {
  pattern?: 'testsrc2' | 'mandelbrot';
  width: number;
  height: number;
  fps: Fps;
  seconds: number;
  /** Add a 440 Hz sine as AAC audio. */
  audio?: boolean;
  /** Folder to write in (default: a new temp folder). */
  dir?: string;
  name?: string;
  /** MP4 index at the front (default false, ffmpeg's default layout). */
  faststart?: boolean;
  /** At most this many frames between keyframes (`-g`; default: x264's 250). */
  keyframeInterval?: number;
}

let clipCounter = 0;

/** Generate an H.264/AAC mp4 from a lavfi pattern (and a sine tone). Returns its path. */
export async function makeClip(opts: ClipOptions): Promise<string> {
  const dir = opts.dir ?? (await tempDir());
  const pattern = opts.pattern ?? 'testsrc2';
  const out = join(dir, opts.name ?? `${pattern}-${opts.width}x${opts.height}-${clipCounter++}.mp4`);
  const args = ['-y', '-f', 'lavfi', '-i', `${pattern}=size=${opts.width}x${opts.height}:rate=${fpsArg(opts.fps)}`];
  if (opts.audio) args.push('-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=44100');
  // -t on the output stops both endless inputs at the same time (no -shortest: see media/).
  args.push('-t', String(opts.seconds), '-map', '0:v');
  if (opts.audio) args.push('-map', '1:a', '-c:a', 'aac', '-b:a', '96k');
  args.push('-c:v', 'libx264', '-preset', 'veryfast', '-crf', '18', '-pix_fmt', 'yuv420p');
  if (opts.keyframeInterval !== undefined) args.push('-g', String(opts.keyframeInterval));
  if (opts.faststart) args.push('-movflags', '+faststart');
  args.push(out);
  await ffmpegRun(args);
  return out;
}

export interface PanClipOptions {
  /** Photo to pan over (default kite.jpg). */
  image?: string;
  width: number;
  height: number;
  fps: Fps;
  seconds: number;
  /** Camera motion in whole pixels per frame (content moves by −dx, −dy). Default 2, 0. */
  dx?: number;
  dy?: number;
  /** The photo is first scaled to this width (default 2 × width). */
  sourceWidth?: number;
  /** Top-left of the first crop window (default 0, 0 … chosen so the path stays inside). */
  x0?: number;
  y0?: number;
  audio?: boolean;
  dir?: string;
  name?: string;
  /** At most this many frames between keyframes (`-g`; default: x264's 250). */
  keyframeInterval?: number;
}

/**
 * A camera pan across a real photo: frame n is the crop at (x0 + n·dx, y0 + n·dy) of the
 * scaled photo, so the true optical flow from frame n to n+1 is (−dx, −dy) everywhere.
 * With dx = dy = 0 this is a still clip.
 */
export async function makePanClip(opts: PanClipOptions): Promise<string> {
  const dir = opts.dir ?? (await tempDir());
  const image = opts.image ?? KITE;
  const dx = opts.dx ?? 2;
  const dy = opts.dy ?? 0;
  const sourceWidth = opts.sourceWidth ?? 2 * opts.width;
  const meta = await sharp(image).metadata();
  const sourceHeight = 2 * Math.round((sourceWidth * (meta.height ?? 1)) / (meta.width ?? 1) / 2);
  const fps = fpsArg(opts.fps);
  const [num, den] = fps.includes('/') ? fps.split('/').map(Number) : [Number(fps), 1];
  const frames = Math.round((opts.seconds * num!) / den!);
  const span = (d: number): number => Math.abs(d) * Math.max(0, frames - 1);
  const x0 = opts.x0 ?? (dx < 0 ? span(dx) : 0);
  const y0 = opts.y0 ?? (dy < 0 ? span(dy) : 0);
  const xEnd = x0 + dx * (frames - 1);
  const yEnd = y0 + dy * (frames - 1);
  if (Math.min(x0, xEnd) < 0 || Math.max(x0, xEnd) + opts.width > sourceWidth || Math.min(y0, yEnd) < 0 || Math.max(y0, yEnd) + opts.height > sourceHeight) {
    throw new Error(`pan of ${frames} frames by (${dx},${dy}) leaves the ${sourceWidth}x${sourceHeight} photo; use a larger sourceWidth`);
  }
  const out = join(dir, opts.name ?? `pan-${opts.width}x${opts.height}-${clipCounter++}.mp4`);
  // rgb24 before crop: cropping yuv420p would round odd offsets to even (chroma alignment).
  const vf = `scale=${sourceWidth}:${sourceHeight},format=rgb24,crop=${opts.width}:${opts.height}:${x0}+n*${dx}:${y0}+n*${dy}`;
  const args = ['-y', '-loop', '1', '-framerate', fps, '-i', image];
  if (opts.audio) args.push('-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=44100');
  args.push('-vf', vf, '-frames:v', String(frames), '-t', String(opts.seconds), '-map', '0:v');
  if (opts.audio) args.push('-map', '1:a', '-c:a', 'aac', '-b:a', '96k');
  args.push('-c:v', 'libx264', '-preset', 'veryfast', '-crf', '16', '-pix_fmt', 'yuv420p');
  if (opts.keyframeInterval !== undefined) args.push('-g', String(opts.keyframeInterval));
  args.push(out);
  await ffmpegRun(args);
  return out;
}

export interface RgbImage {
  width: number;
  height: number;
  data: Uint8Array;
}

/** Load a photo as packed RGB24, optionally resized to `width` (aspect kept). */
export async function loadRgb(path: string, width?: number): Promise<RgbImage> {
  let img = sharp(path).removeAlpha();
  if (width !== undefined) img = img.resize({ width });
  const { data, info } = await img.raw().toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, data: new Uint8Array(data.buffer, data.byteOffset, data.length) };
}

/** A Frame cut from an RGB image at (x, y). */
export function cropFrame(img: RgbImage, x: number, y: number, width: number, height: number, index = 0): Frame {
  if (x < 0 || y < 0 || x + width > img.width || y + height > img.height) throw new Error('crop outside the image');
  const data = new Uint8Array(width * height * 3);
  for (let row = 0; row < height; row++) {
    const src = ((y + row) * img.width + x) * 3;
    data.set(img.data.subarray(src, src + width * 3), row * width * 3);
  }
  return { index, ptsSeconds: index / 30, width, height, data };
}

/** A frame of one solid colour. */
export function solidFrame(width: number, height: number, rgb: readonly [number, number, number], index = 0): Frame {
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < width * height; i++) data.set(rgb, i * 3);
  return { index, ptsSeconds: index / 30, width, height, data };
}

/** MD5 of every decoded video frame, in order: equal lists mean identical pictures. */
export async function frameHashes(path: string): Promise<string[]> {
  const { stdout } = await ffmpegRun(['-i', path, '-map', '0:v', '-f', 'framemd5', '-']);
  return stdout
    .toString()
    .split('\n')
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => l.split(',').pop()!.trim());
}
