/**
 * Stereo layouts of a 360° frame: one equirectangular picture (mono) or two, one per eye,
 * stacked (top-bottom: left eye on top) or side by side (left-right: left eye on the left), as
 * the Spherical Video metadata and every headset player define them.
 */
import type { Frame } from '../frame.js';

export type StereoMode = 'mono' | 'top-bottom' | 'left-right';
export const STEREO_MODES: readonly StereoMode[] = ['mono', 'top-bottom', 'left-right'];

/** Size of one eye's picture in a frame of this size. Pure. */
export function eyeSize(width: number, height: number, stereo: StereoMode): { width: number; height: number } {
  if (stereo === 'top-bottom') return { width, height: height / 2 };
  if (stereo === 'left-right') return { width: width / 2, height };
  return { width, height };
}

/** Size of the frame that holds eyes of this size. Pure. */
export function frameSize(eyeWidth: number, eyeHeight: number, stereo: StereoMode): { width: number; height: number } {
  if (stereo === 'top-bottom') return { width: eyeWidth, height: 2 * eyeHeight };
  if (stereo === 'left-right') return { width: 2 * eyeWidth, height: eyeHeight };
  return { width: eyeWidth, height: eyeHeight };
}

/** The left and right eye pictures of a stereo frame (copies). Pure. */
export function splitEyes(frame: Frame, stereo: Exclude<StereoMode, 'mono'>): [Frame, Frame] {
  const eye = eyeSize(frame.width, frame.height, stereo);
  if (!Number.isInteger(eye.width) || !Number.isInteger(eye.height)) {
    throw new Error(`a ${frame.width}x${frame.height} frame cannot be split into two ${stereo} eyes`);
  }
  const cut = (x0: number, y0: number): Frame => {
    const data = new Uint8Array(eye.width * eye.height * 3);
    for (let y = 0; y < eye.height; y++) {
      const src = ((y0 + y) * frame.width + x0) * 3;
      data.set(frame.data.subarray(src, src + eye.width * 3), y * eye.width * 3);
    }
    return { index: frame.index, ptsSeconds: frame.ptsSeconds, width: eye.width, height: eye.height, data };
  };
  return stereo === 'top-bottom' ? [cut(0, 0), cut(0, eye.height)] : [cut(0, 0), cut(eye.width, 0)];
}

/** Put two eye pictures back into one frame (the inverse of splitEyes). Pure. */
export function joinEyes(left: Frame, right: Frame, stereo: Exclude<StereoMode, 'mono'>): Frame {
  const size = frameSize(left.width, left.height, stereo);
  const data = new Uint8Array(size.width * size.height * 3);
  const put = (eye: Frame, x0: number, y0: number): void => {
    for (let y = 0; y < eye.height; y++) {
      const src = y * eye.width * 3;
      data.set(eye.data.subarray(src, src + eye.width * 3), ((y0 + y) * size.width + x0) * 3);
    }
  };
  put(left, 0, 0);
  if (stereo === 'top-bottom') put(right, 0, left.height);
  else put(right, left.width, 0);
  return { index: left.index, ptsSeconds: left.ptsSeconds, width: size.width, height: size.height, data };
}
