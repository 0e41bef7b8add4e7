import { createImage, type RgbImage } from '../dream/image.js';
import { seededRandom } from '../dream/random.js';
import { UserError } from '../errors.js';

/** What a dream without an input picture starts from. */
export type StartKind = 'noise' | 'gray';
export const START_KINDS: readonly StartKind[] = ['noise', 'gray'];

/** Mid grey, and how far the noise start strays from it (a faint texture, as in feature visualisation). */
const GREY = 128;
const NOISE_AMPLITUDE = 12;

export function parseStartKind(text: string): StartKind {
  if (!START_KINDS.includes(text as StartKind)) throw new UserError(`--from must be noise or gray (got "${text}")`);
  return text as StartKind;
}

/**
 * A start image: flat mid grey, or grey with faint uniform noise (±12 levels per channel) from a
 * seeded generator, so the same seed gives the same start everywhere. The network needs some
 * texture to amplify; the grey start relies on its padding and biases alone.
 */
export function startImage(kind: StartKind, width: number, height: number, seed = 0): RgbImage {
  const img = createImage(width, height);
  if (kind === 'gray') {
    img.data.fill(GREY);
    return img;
  }
  // A different stream from the jitter's, which seededRandom(seed) drives.
  const random = seededRandom((seed ^ 0x9e3779b9) >>> 0);
  for (let i = 0; i < img.data.length; i++) img.data[i] = GREY + (random() * 2 - 1) * NOISE_AMPLITUDE;
  return img;
}
