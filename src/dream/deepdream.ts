import { Stopped, UserError, unlessStopped } from '../errors.js';
import { add, ascend, createImage, crop, cropWrapX, resize, roll, subtract, type RgbImage } from './image.js';
import { needsWholeImage, type Objective } from './objectives.js';
import { activePriors, priorStep, validatePriors, type DreamPriors } from './priors.js';
import { randomShift, seededRandom } from './random.js';
import type { GradientRunner } from './runner.js';
import { tileGrid } from './tiles.js';

export interface DreamSettings {
  /** Scales in the pyramid (1 = no pyramid). */
  octaves: number;
  /** Size ratio between neighbouring octaves. */
  octaveScale: number;
  /** Gradient steps per octave. */
  iterations: number;
  /** Normalised step size: about this many grey levels per pixel per step. */
  step: number;
  /** Maximum random roll per step, in pixels (wraps around). */
  jitter: number;
  /** Largest tile side the network sees at once; bounds memory for big frames. */
  tile: number;
  /** Seed of the jitter sequence: the same seed on the same backend gives the same image. */
  seed: number;
  /**
   * 360° equirectangular input: the left and right edges are one. Tiles see wrapped columns
   * across them (circular padding for every layer), the pyramid resamples around them and the
   * blur and total-variation priors wrap, so no seam appears at 0°/360°. Absent or false: flat
   * images, results unchanged.
   */
  wrapX?: boolean | undefined;
  /** Natural-image priors (total variation, decay, blur, decorrelated step); absent or all off: the classic step. */
  priors?: DreamPriors | undefined;
}

/** Google's original notebook: GoogLeNet inception_4c/output, 4 octaves of 1.4, 10 steps of 1.5, jitter 32. */
export const DEFAULT_DREAM: DreamSettings = {
  octaves: 4,
  octaveScale: 1.4,
  iterations: 10,
  step: 1.5,
  jitter: 32,
  tile: 512,
  seed: 0,
};

/** Context around each tile, in pixels: enough that tile borders dream like the interior. */
export const TILE_MARGIN = 32;
/** Octaves below this size see almost nothing through GoogLeNet's 16-32 px strides. */
const MIN_OCTAVE_SIDE = 40;

/**
 * The ranges validateSettings holds the settings to; the spec's fields take theirs from here.
 * octaveScale and step must be above `above` (the fields' smallest value is a little over it).
 */
export const DREAM_LIMITS = {
  octaves: { min: 1, max: 12 },
  octaveScale: { above: 1, max: 4 },
  iterations: { min: 0, max: 10000 },
  step: { above: 0, max: 100 },
  jitter: { min: 0, max: 1024 },
  tile: { min: 64, max: 4096 },
  seed: { min: 0 },
} as const;

export function validateSettings(s: DreamSettings): void {
  const check = (ok: boolean, what: string): void => {
    if (!ok) throw new UserError(what);
  };
  const inRange = (v: number, r: { min: number; max: number }): boolean => Number.isInteger(v) && v >= r.min && v <= r.max;
  const { octaves, octaveScale, iterations, step, jitter, tile, seed } = DREAM_LIMITS;
  check(inRange(s.octaves, octaves), `--octaves must be an integer from ${octaves.min} to ${octaves.max} (got ${s.octaves})`);
  check(s.octaveScale > octaveScale.above && s.octaveScale <= octaveScale.max, `--octave-scale must be above ${octaveScale.above} and at most ${octaveScale.max} (got ${s.octaveScale})`);
  check(inRange(s.iterations, iterations), `--iterations must be an integer from ${iterations.min} to ${iterations.max} (got ${s.iterations})`);
  check(Number.isFinite(s.step) && s.step > step.above && s.step <= step.max, `--step must be above ${step.above} and at most ${step.max} (got ${s.step})`);
  check(inRange(s.jitter, jitter), `--jitter must be an integer from ${jitter.min} to ${jitter.max} (got ${s.jitter})`);
  check(inRange(s.tile, tile), `--tile must be an integer from ${tile.min} to ${tile.max} (got ${s.tile})`);
  check(Number.isInteger(s.seed) && s.seed >= seed.min, `--seed must be a non-negative integer (got ${s.seed})`);
  if (s.priors) validatePriors(s.priors);
}

function tilesFor(runner: GradientRunner, width: number, height: number, tile: number, wrapX = false, whole = false) {
  // Class and neuron objectives judge the whole image at once (see needsWholeImage).
  if (whole) return [{ core: { x: 0, y: 0, width, height }, view: { x: 0, y: 0, width, height } }];
  // On a GPU the default --tile gives way to what the device's memory takes whole (runner.ts);
  // a --tile set to anything else is kept.
  const maxTile = tile === DEFAULT_DREAM.tile && runner.deviceTile !== undefined ? runner.deviceTile : tile;
  return tileGrid(width, height, { maxTile, margin: TILE_MARGIN, minTiles: runner.parallelism, wrapX });
}

/**
 * The gradient of the objective for the whole image, computed tile by tile (in parallel when the
 * runner has workers) after a random roll, then rolled back.
 */
async function jitteredGradient(
  runner: GradientRunner,
  x: RgbImage,
  objective: Objective,
  tile: number,
  dx: number,
  dy: number,
  wrapX = false,
): Promise<Float32Array> {
  const rolled = dx === 0 && dy === 0 ? x : roll(x, dx, dy);
  const tiles = tilesFor(runner, x.width, x.height, tile, wrapX, needsWholeImage(objective));
  const area = x.width * x.height;
  const cut = wrapX ? cropWrapX : crop;
  const results = await runner.gradients(
    tiles.map((t) => ({
      image: cut(rolled, t.view.x, t.view.y, t.view.width, t.view.height),
      weight: (t.core.width * t.core.height) / area,
    })),
    objective,
  );
  const grad = new Float32Array(x.data.length);
  tiles.forEach((t, i) => {
    // Keep each tile's core; its margin only gave the core context.
    const g = results[i]!.grad;
    const ox = t.core.x - t.view.x;
    const oy = t.core.y - t.view.y;
    for (let r = 0; r < t.core.height; r++) {
      const src = ((oy + r) * t.view.width + ox) * 3;
      grad.set(g.subarray(src, src + t.core.width * 3), ((t.core.y + r) * x.width + t.core.x) * 3);
    }
  });
  return dx === 0 && dy === 0 ? grad : roll(createImage(x.width, x.height, grad), -dx, -dy).data;
}

/** The objective's value over a whole image (tiled like the gradient, so any size fits). */
export async function objectiveValue(runner: GradientRunner, image: RgbImage, objective: Objective, tile = DEFAULT_DREAM.tile): Promise<number> {
  const tiles = tilesFor(runner, image.width, image.height, tile, false, needsWholeImage(objective));
  const area = image.width * image.height;
  const values = await runner.values(
    tiles.map((t) => ({
      image: crop(image, t.view.x, t.view.y, t.view.width, t.view.height),
      weight: (t.core.width * t.core.height) / area,
    })),
    objective,
  );
  return values.reduce((a, b) => a + b, 0);
}

/**
 * Dream gain (docs/architecture.md): objective(output) / objective(input) for the configured objective at
 * the working resolution. Undefined when the input gives the objective nothing to amplify.
 */
export async function dreamGain(
  runner: GradientRunner,
  input: RgbImage,
  output: RgbImage,
  objective: Objective,
  tile = DEFAULT_DREAM.tile,
): Promise<number | undefined> {
  const before = await objectiveValue(runner, input, objective, tile);
  const after = await objectiveValue(runner, output, objective, tile);
  return before > 0 ? after / before : undefined;
}

export interface DreamProgress {
  octave: number;
  octaves: number;
  iteration: number;
  iterations: number;
}

/** Sizes of the octave pyramid, smallest first, never below MIN_OCTAVE_SIDE. */
export function octaveSizes(width: number, height: number, octaves: number, scale: number): Array<[number, number]> {
  const sizes: Array<[number, number]> = [[width, height]];
  for (let i = 1; i < octaves; i++) {
    const [w, h] = sizes[0]!;
    const nw = Math.round(w / scale);
    const nh = Math.round(h / scale);
    if (Math.min(nw, nh) < MIN_OCTAVE_SIDE) break;
    sizes.unshift([nw, nh]);
  }
  return sizes;
}

/**
 * DeepDream on one image: from the smallest octave up, add the detail dreamed so far (upscaled)
 * to that octave's base, then take `iterations` normalised gradient-ascent steps with random roll
 * jitter; the detail carried upwards is what the steps added.
 */
export async function dream(
  runner: GradientRunner,
  image: RgbImage,
  objective: Objective,
  settings: DreamSettings = DEFAULT_DREAM,
  onProgress?: (p: DreamProgress) => void,
  /** Stops the dream at the next step with a Stopped error (docs/architecture.md, "Signals"). */
  signal?: AbortSignal,
): Promise<RgbImage> {
  validateSettings(settings);
  // No prior on: the classic step, bit for bit.
  const priors = activePriors(settings.priors);
  const random = seededRandom(settings.seed);
  const sizes = octaveSizes(image.width, image.height, settings.octaves, settings.octaveScale);
  const wrapX = settings.wrapX === true;
  const bases = sizes.map(([w, h]) => resize(image, w, h, { wrapX }));
  let detail: RgbImage | undefined;
  let x = image;
  for (let o = 0; o < bases.length; o++) {
    const base = bases[o]!;
    x = detail ? add(base, resize(detail, base.width, base.height, { wrapX })) : createImage(base.width, base.height, base.data.slice());
    for (let i = 0; i < settings.iterations; i++) {
      const jx = Math.min(settings.jitter, base.width - 1);
      const jy = Math.min(settings.jitter, base.height - 1);
      // A panorama rolled by any longitude is the same panorama: roll over the whole width, so
      // the network's view edges (where even wrapped context runs out) land at a different
      // longitude every step and none of them, the 0°/360° seam included, is special.
      const dx = wrapX ? Math.floor(random() * base.width) : randomShift(random, jx);
      const dy = randomShift(random, jy);
      if (signal?.aborted) throw new Stopped();
      const grad = await unlessStopped(jitteredGradient(runner, x, objective, settings.tile, dx, dy, wrapX), signal);
      if (priors) priorStep(x, base, grad, settings.step, priors, i, settings.iterations, wrapX);
      else ascend(x.data, grad, settings.step);
      onProgress?.({ octave: o + 1, octaves: bases.length, iteration: i + 1, iterations: settings.iterations });
    }
    detail = subtract(x, base);
  }
  return x;
}
