/**
 * The zoom's source (docs/architecture.md, "Zoom"): one still, read once at the working size and
 * handed to the file loop as `frameCount` frames at `fps`. Only the first is dreamed as it is;
 * the zoom stage (temporal/zoom.ts) makes every later frame from the previous dream.
 */
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { toBytes } from '../dream/image.js';
import { UserError } from '../errors.js';
import type { Frame, Rational } from '../frame.js';
import type { Size } from '../media/decoder.js';
import { targetSize, type SizeSpec } from '../media/size.js';
import { readImage } from './image.js';
import sharp from 'sharp';

/** An even size for the still at `size` (yuv420p needs even sides). */
export async function stillSize(path: string, size: SizeSpec): Promise<Size> {
  let meta;
  try {
    meta = await sharp(path).rotate().metadata();
  } catch (err) {
    throw new UserError(`${path} is not an image that can be read (${(err as Error).message.split('\n')[0]})`);
  }
  const rotated = (meta.orientation ?? 1) >= 5;
  const t = targetSize((rotated ? meta.height : meta.width) ?? 1, (rotated ? meta.width : meta.height) ?? 1, size);
  const even = (x: number): number => Math.max(2, x - (x % 2));
  return { width: even(t.width), height: even(t.height) };
}

/** The still as the file loop's frames: the same picture `frameCount` times, timed at `fps`. */
export async function stillFrames(path: string, fps: Rational, frameCount: number) {
  const info = await stat(path);
  return {
    fps,
    frameCount,
    identity: { still: resolve(path), bytes: info.size, mtimeMs: Math.round(info.mtimeMs) },
    async open(size: Size): Promise<AsyncIterable<Frame> & { close(): Promise<void> }> {
      const data = toBytes(await readImage(path, { width: size.width, height: size.height }));
      return {
        async *[Symbol.asyncIterator]() {
          for (let index = 0; index < frameCount; index++) yield { index, ptsSeconds: (index * fps.den) / fps.num, width: size.width, height: size.height, data };
        },
        close: async () => undefined,
      };
    },
  };
}
