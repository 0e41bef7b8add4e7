import { rename, rm, writeFile } from 'node:fs/promises';
import { dirname, extname } from 'node:path';
import { besideOutput } from '../paths.js';
import sharp, { type Sharp } from 'sharp';
import { UserError, writeError } from '../errors.js';
import { toBytes, type RgbImage } from '../dream/image.js';
import { encodeWithProvenance, type Provenance } from './provenance.js';
import { checkWritableFolder } from './writable.js';

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

/** The image format an output path asks for (its extension), or a one-line error. */
export function imageFormatOf(path: string): ImageFormat {
  const format = FORMATS[extname(path).toLowerCase()];
  if (!format) {
    throw new UserError(`cannot tell the image format of ${path}: use one of ${Object.keys(FORMATS).join(' ')}`);
  }
  return format;
}

/**
 * Check an output path before any work is done: a known image extension and an existing folder
 * that files can be written in (not read-only, not full). Failing after minutes of dreaming
 * would be the worst time to learn of a typo or a full disk.
 */
export function checkImageOutput(path: string): ImageFormat {
  const format = imageFormatOf(path);
  checkWritableFolder(dirname(path), path);
  return format;
}

/** Temporary sibling of a final output path: same folder (so rename is atomic), same extension. */
export function tempPathFor(path: string): string {
  return besideOutput(path, `.partial-${process.pid}${extname(path)}`);
}

/**
 * Encode a sharp pipeline to the path's format and write it atomically (a temp file renamed into
 * place once complete), with the settings that made it embedded (see provenance.ts).
 */
export async function writeEncoded(path: string, pipeline: Sharp, provenance?: Provenance): Promise<void> {
  const format = imageFormatOf(path);
  const temp = tempPathFor(path);
  try {
    // PNG: adaptive row filters and the strongest deflate, still lossless: dreamed textures are
    // noisy and shrink by about 15 % more this way.
    const encoded =
      format === 'jpeg'
        ? pipeline.jpeg({ quality: 92 })
        : format === 'png'
          ? pipeline.png({ compressionLevel: 9, adaptiveFiltering: true })
          : pipeline.toFormat(format);
    await writeFile(temp, await encodeWithProvenance(encoded, format, provenance));
    await rename(temp, path);
  } catch (err) {
    await rm(temp, { force: true });
    // A disk that filled up (or went read-only) while dreaming: say so about the file asked for.
    throw writeError(err, path) ?? err;
  }
}

/**
 * Encode and write an image atomically. `provenance` is the full settings as an object (a plain
 * string is kept as `{ text }`), embedded so that `dreamflow info` can print them.
 */
export async function writeImage(path: string, image: RgbImage, provenance?: Provenance | string): Promise<void> {
  const pipeline = sharp(Buffer.from(toBytes(image).buffer), { raw: { width: image.width, height: image.height, channels: 3 } });
  await writeEncoded(path, pipeline, typeof provenance === 'string' ? { text: provenance } : provenance);
}
