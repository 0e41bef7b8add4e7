import { UserError } from '../errors.js';

/** `--size`: fit the longer side to N pixels, or exactly WxH. */
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
