import { existsSync, statSync } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { basename, dirname, extname, join } from 'node:path';
import sharp from 'sharp';
import { UserError } from '../errors.js';
import { toBytes, type RgbImage } from '../dream/image.js';

type ImageFormat = 'jpeg' | 'png' | 'webp' | 'tiff' | 'avif' | 'gif';

const FORMATS: Record<string, ImageFormat> = {
  '.jpg': 'jpeg',
  '.jpeg': 'jpeg',
  '.png': 'png',
  '.webp': 'webp',
  '.tif': 'tiff',
  '.tiff': 'tiff',
  '.avif': 'avif',
  '.gif': 'gif',
};

/**
 * Check an output path before any work is done: a known image extension and an existing folder.
 * Failing after minutes of dreaming would be the worst time to learn of a typo.
 */
export function checkImageOutput(path: string): ImageFormat {
  const format = FORMATS[extname(path).toLowerCase()];
  if (!format) {
    throw new UserError(`cannot tell the image format of ${path}: use one of ${Object.keys(FORMATS).join(' ')}`);
  }
  const dir = dirname(path);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new UserError(`output folder does not exist: ${dir}`);
  return format;
}

/** Temporary sibling of a final output path: same folder (so rename is atomic), same extension. */
export function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.partial-${process.pid}${extname(path)}`);
}

/** Encode and write an image atomically: a temp file renamed into place once complete. */
export async function writeImage(path: string, image: RgbImage, comment?: string): Promise<void> {
  const format = checkImageOutput(path);
  const temp = tempPathFor(path);
  try {
    let s = sharp(Buffer.from(toBytes(image).buffer), { raw: { width: image.width, height: image.height, channels: 3 } });
    if (format === 'jpeg') s = s.jpeg({ quality: 92 });
    else s = s.toFormat(format);
    if (comment) s = s.withMetadata({ exif: { IFD0: { ImageDescription: comment } } });
    await s.toFile(temp);
    await rename(temp, path);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
}
