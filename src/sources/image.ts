import { access, constants, stat } from 'node:fs/promises';
import sharp from 'sharp';
import { missingFile, UserError } from '../errors.js';
import { targetSize, type SizeSpec } from '../media/size.js';
import type { RgbImage } from '../dream/image.js';

/** `--size N` fits the image inside N×N; `--size WxH` is exact. */

/** Check that a path names a readable, non-empty file, with one clear message if not. */
export async function assertReadableFile(path: string, what = 'file'): Promise<void> {
  let info;
  try {
    info = await stat(path);
  } catch {
    throw missingFile(what, path);
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
