import { UserError } from '../errors.js';

/**
 * `--size`: fit the longer side to N pixels, or exactly WxH, or a video height name (`720p`, `4k`),
 * which fits the shorter side, so an upright phone clip at 720p is 720 wide.
 */
export type SizeSpec = { fit: number; side?: 'short' } | { width: number; height: number };

/** Video height names as people say them: the shorter side in pixels. */
export const NAMED_SIZES: Readonly<Record<string, number>> = { '240p': 240, '360p': 360, '480p': 480, '540p': 540, '720p': 720, '1080p': 1080, '1440p': 1440, '2160p': 2160, '4k': 2160 };

/** The scale that fits a width×height picture to a `fit` size spec. */
export function fitScale(size: { fit: number; side?: 'short' }, width: number, height: number): number {
  return size.fit / (size.side === 'short' ? Math.min(width, height) : Math.max(width, height));
}

export function parseSize(text: string, flag = '--size'): SizeSpec {
  const named = NAMED_SIZES[text.trim().toLowerCase()];
  if (named !== undefined) return { fit: named, side: 'short' };
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
    throw new UserError(`${flag} must be a number of pixels (16-16384), WxH or a video size (${Object.keys(NAMED_SIZES).join(', ')}), e.g. 320, 640x360 or 720p (got "${text}")`);
  }
  return { fit: n };
}

/** The output size for a source of width×height under a size spec (aspect kept for `fit`). */
export function targetSize(width: number, height: number, size?: SizeSpec): { width: number; height: number } {
  if (!size) return { width, height };
  if ('width' in size) return { width: size.width, height: size.height };
  const scale = fitScale(size, width, height);
  return { width: Math.max(1, Math.round(width * scale)), height: Math.max(1, Math.round(height * scale)) };
}
