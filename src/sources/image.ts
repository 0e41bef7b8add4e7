import { access, constants, stat } from 'node:fs/promises';
import sharp from 'sharp';
import { UserError } from '../errors.js';
import type { RgbImage } from '../dream/image.js';

/** `--size N` fits the image inside N×N; `--size WxH` is exact. */
export type SizeSpec = { fit: number } | { width: number; height: number };

export function parseSize(text: string, flag = '--size'): SizeSpec {
  const exact = /^(\d+)x(\d+)$/i.exec(text.trim());
  if (exact) {
    const width = Number(exact[1]);
    const height = Number(exact[2]);
    if (width < 16 || height < 16 || width > 16384 || height > 16384) {
      throw new UserError(`${flag} ${text}: each side must be from 16 to 16384 pixels`);
    }
    return { width, height };
  }
  const n = Number(text);
  if (!/^\d+$/.test(text.trim()) || n < 16 || n > 16384) {
    throw new UserError(`${flag} must be a number of pixels (16-16384) or WxH, e.g. 320 or 640x360 (got "${text}")`);
  }
  return { fit: n };
}

/** The output size for a source of width×height under a size spec (aspect kept for `fit`). */
export function targetSize(width: number, height: number, size?: SizeSpec): { width: number; height: number } {
  if (!size) return { width, height };
  if ('width' in size) return { width: size.width, height: size.height };
  const scale = size.fit / Math.max(width, height);
  return { width: Math.max(1, Math.round(width * scale)), height: Math.max(1, Math.round(height * scale)) };
}

/** Check that a path names a readable, non-empty file, with one clear message if not. */
export async function assertReadableFile(path: string, what = 'file'): Promise<void> {
  let info;
  try {
    info = await stat(path);
  } catch {
    throw new UserError(`no such ${what}: ${path}`);
  }
  if (!info.isFile()) throw new UserError(`${path} is not a ${what}`);
  try {
    await access(path, constants.R_OK);
  } catch {
    throw new UserError(`cannot read ${path}: permission denied`);
  }
  if (info.size === 0) throw new UserError(`${path} is empty (0 bytes)`);
}

/** Read any image sharp understands as float RGB (EXIF orientation applied, alpha flattened). */
export async function readImage(path: string, size?: SizeSpec): Promise<RgbImage> {
  await assertReadableFile(path, 'image');
  try {
    let pipeline = sharp(path).rotate().flatten({ background: '#000000' }).removeAlpha().toColourspace('srgb');
    if (size) {
      const meta = await sharp(path).rotate().metadata();
      const rotated = (meta.orientation ?? 1) >= 5;
      const w = (rotated ? meta.height : meta.width) ?? 1;
      const h = (rotated ? meta.width : meta.height) ?? 1;
      const t = targetSize(w, h, size);
      pipeline = pipeline.resize(t.width, t.height, { fit: 'fill' });
    }
    const { data, info } = await pipeline.raw().toBuffer({ resolveWithObject: true });
    return { width: info.width, height: info.height, data: Float32Array.from(data) };
  } catch (err) {
    if (err instanceof UserError) throw err;
    throw new UserError(`${path} is not an image that can be read (${(err as Error).message.split('\n')[0]})`);
  }
}
