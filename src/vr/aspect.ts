/**
 * Frame geometry checks for 360° input: each eye must be an equirectangular 2:1 picture once
 * the sample aspect ratio is applied (1920×1080 stored with 9:8 pixels is shown 2160×1080,
 * i.e. 2:1), and frames are resampled to square pixels and exactly 2:1 per eye before dreaming,
 * because wrap-around and the cubemap assume a degree is as wide as it is high.
 */
import { UserError } from '../errors.js';
import type { Rational } from '../frame.js';
import { fitScale, type SizeSpec } from '../media/size.js';
import { eyeSize, frameSize, type StereoMode } from './layout.js';

/** Per-eye width:height may differ from 2:1 by this fraction (rounding, odd encoder sizes). */
export const ASPECT_TOLERANCE = 0.05;

export interface StoredFrame {
  width: number;
  height: number;
  sampleAspectRatio: Rational;
}

/** Per-eye display aspect (width / height) with the sample aspect ratio applied. Pure. */
export function eyeAspect(frame: StoredFrame, stereo: StereoMode): number {
  const displayWidth = (frame.width * frame.sampleAspectRatio.num) / frame.sampleAspectRatio.den;
  const eye = eyeSize(displayWidth, frame.height, stereo);
  return eye.width / eye.height;
}

/** Refuse frames whose eyes are far from 2:1 with a message that says what was found. */
export function checkEquirectAspect(label: string, frame: StoredFrame, stereo: StereoMode): void {
  const aspect = eyeAspect(frame, stereo);
  if (Math.abs(aspect / 2 - 1) <= ASPECT_TOLERANCE) return;
  const sar = frame.sampleAspectRatio;
  const pixels = sar.num === sar.den ? '' : ` with ${sar.num}:${sar.den} pixels`;
  const per = stereo === 'mono' ? '' : ` per eye (${stereo})`;
  let hint = '';
  if (stereo === 'mono' && Math.abs(aspect - 1) <= 2 * ASPECT_TOLERANCE) hint = '; if it holds two eyes stacked, add --stereo top-bottom';
  if (stereo === 'mono' && Math.abs(aspect - 4) <= 4 * ASPECT_TOLERANCE) hint = '; if it holds two eyes side by side, add --stereo left-right';
  throw new UserError(
    `${label}: ${frame.width}x${frame.height}${pixels} is ${aspect.toFixed(2)}:1${per}, not an equirectangular 360° picture (2:1 per eye)${hint}`,
  );
}

/**
 * Working frame size: square pixels, exactly 2:1 per eye, even sides (yuv420p), eye width a
 * multiple of 4. Default: the input's vertical resolution kept (a 9:8 1920×1080 becomes
 * 2160×1080). `--size N` fits the longer side of the frame to N; `--size WxH` must itself be
 * 2:1 per eye. Pure apart from the UserError.
 */
export function panoramaSize(frame: StoredFrame, stereo: StereoMode, size?: SizeSpec): { width: number; height: number } {
  const fromEyeWidth = (eyeWidth: number): { width: number; height: number } => {
    const w = Math.max(8, 4 * Math.round(eyeWidth / 4));
    return frameSize(w, w / 2, stereo);
  };
  if (!size) return fromEyeWidth(2 * eyeSize(1, frame.height, stereo).height);
  if ('fit' in size) {
    const unit = frameSize(2, 1, stereo); // frame shape for an eye of 2×1
    const scale = fitScale(size, unit.width, unit.height);
    return fromEyeWidth(2 * scale);
  }
  const eye = eyeSize(size.width, size.height, stereo);
  if (eye.width !== 2 * eye.height || eye.width % 4 !== 0) {
    const example = frameSize(1024, 512, stereo);
    throw new UserError(
      `--size ${size.width}x${size.height} is not 2:1 per eye with even sides${stereo === 'mono' ? '' : ` (${stereo})`}: try ${example.width}x${example.height}`,
    );
  }
  return { width: size.width, height: size.height };
}
