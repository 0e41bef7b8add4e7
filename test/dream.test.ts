import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { DEFAULT_DREAM, dream, dreamGain, objectiveValue, octaveSizes } from '../src/dream/deepdream.js';
import { createImage, crop, resize, roll, type RgbImage } from '../src/dream/image.js';
import { channel, guide, layer, layersOf, parseLayerSpec, sum } from '../src/dream/objectives.js';
import { createRunner, type GradientRunner } from '../src/dream/runner.js';
import { tileGrid } from '../src/dream/tiles.js';
import { readImage } from '../src/sources/image.js';
import { SHARED_IMAGES } from './helpers/paths.js';

function ramp(width: number, height: number): RgbImage {
  const img = createImage(width, height);
  for (let i = 0; i < img.data.length; i++) img.data[i] = i % 251;
  return img;
}

describe('image maths', () => {
  it('roll wraps around and is undone by the opposite roll', () => {
    const img = ramp(7, 5);
    const rolled = roll(img, 3, -2);
    // Pixel (0,0) lands on (3, 3) after rolling by (3, -2) on a 7x5 image.
    expect(Array.from(rolled.data.subarray((3 * 7 + 3) * 3, (3 * 7 + 3) * 3 + 3))).toEqual(Array.from(img.data.subarray(0, 3)));
    expect(roll(rolled, -3, 2).data).toEqual(img.data);
  });

  it('resize keeps a constant image constant and crops copy exactly', () => {
    const flat = createImage(40, 30, new Float32Array(40 * 30 * 3).fill(77));
    const small = resize(flat, 13, 9);
    expect(small.width).toBe(13);
    for (const v of small.data) expect(v).toBeCloseTo(77, 4);
    const img = ramp(10, 8);
    const c = crop(img, 2, 3, 4, 2);
    expect(Array.from(c.data.subarray(0, 3))).toEqual(Array.from(img.data.subarray((3 * 10 + 2) * 3, (3 * 10 + 2) * 3 + 3)));
  });

  it('tiles cover every pixel exactly once and split for parallel workers', () => {
    for (const [w, h, maxTile, minTiles] of [
      [1000, 700, 512, 1],
      [320, 212, 512, 2],
      [97, 61, 64, 4],
    ] as const) {
      const tiles = tileGrid(w, h, { maxTile, margin: 16, minTiles, minSide: 32 });
      const seen = new Uint8Array(w * h);
      for (const t of tiles) {
        expect(t.core.width).toBeLessThanOrEqual(maxTile);
        expect(t.view.x).toBeLessThanOrEqual(t.core.x);
        expect(t.view.x + t.view.width).toBeGreaterThanOrEqual(t.core.x + t.core.width);
        for (let y = t.core.y; y < t.core.y + t.core.height; y++) for (let x = t.core.x; x < t.core.x + t.core.width; x++) seen[y * w + x]!++;
      }
      expect(seen.every((v) => v === 1)).toBe(true);
      expect(tiles.length).toBeGreaterThanOrEqual(Math.min(minTiles, 2));
    }
  });

  it('octave pyramid shrinks by the octave scale and stops at a useful size', () => {
    expect(octaveSizes(320, 212, 4, 1.4)).toEqual([
      [117, 77],
      [164, 108],
      [229, 151],
      [320, 212],
    ]);
    expect(octaveSizes(96, 64, 4, 1.4).length).toBeLessThan(4);
  });

  it('parses weighted layer lists', () => {
    const o = parseLayerSpec('inception_4c/output:1,inception_3b/output:0.5');
    expect(o.terms.map((t) => [t.layer, t.weight])).toEqual([
      ['inception_4c/output', 1],
      ['inception_3b/output', 0.5],
    ]);
    expect(layersOf(sum(layer('a'), channel('b', 3), layer('a', 2)))).toEqual(['a', 'b']);
  });
});

describe.each(['onnx', 'wasm'] as const)('dreaming with GoogLeNet on %s', (backend) => {
  let runner: GradientRunner;
  let photo: RgbImage;
  const quick = { ...DEFAULT_DREAM, octaves: 2, iterations: 5 };

  beforeAll(async () => {
    runner = await createRunner({ backend, workers: 0 });
    photo = await readImage(join(SHARED_IMAGES, 'horses.jpg'), { width: 128, height: 96 });
  });
  afterAll(async () => runner.close());

  it('amplifies the layer: dream gain well above 1, pixels stay in range', async () => {
    const objective = layer('inception_4c/output');
    const out = await dream(runner, photo, objective, quick);
    expect(out.width).toBe(128);
    const gain = await dreamGain(runner, photo, out, objective);
    expect(gain).toBeGreaterThan(2);
    expect(Math.min(...out.data)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...out.data)).toBeLessThanOrEqual(255);
  });

  it('is reproducible with a seed and changes with another seed', async () => {
    const objective = layer('inception_3b/output');
    const settings = { ...quick, octaves: 1, iterations: 3 };
    const a = await dream(runner, photo, objective, { ...settings, seed: 5 });
    const b = await dream(runner, photo, objective, { ...settings, seed: 5 });
    const c = await dream(runner, photo, objective, { ...settings, seed: 6 });
    expect(b.data).toEqual(a.data);
    expect(c.data).not.toEqual(a.data);
  });

  it('a channel objective raises that channel more than a whole-layer dream does', async () => {
    const target = channel('inception_4c/output', 139);
    const byChannel = await dream(runner, photo, target, quick);
    const byLayer = await dream(runner, photo, layer('inception_4c/output'), quick);
    const base = await objectiveValue(runner, photo, target);
    const viaChannel = await objectiveValue(runner, byChannel, target);
    expect(viaChannel).toBeGreaterThan(2 * base);
    expect(viaChannel).toBeGreaterThan(await objectiveValue(runner, byLayer, target));
  });

  it('a guide image steers the dream towards its features', async () => {
    const guideImage = await readImage(join(SHARED_IMAGES, 'eagle.jpg'), { fit: 128 });
    const f = await runner.features(guideImage, 'inception_4c/output');
    const objective = guide('inception_4c/output', f.features, f.channels);
    const out = await dream(runner, photo, objective, quick);
    expect(await dreamGain(runner, photo, out, objective)).toBeGreaterThan(1.3);
  });

  it('large frames are dreamed tile by tile without visible tile seams', async () => {
    const wide = await readImage(join(SHARED_IMAGES, 'kite.jpg'), { width: 256, height: 96 });
    const settings = { ...quick, octaves: 1, iterations: 6, tile: 64 };
    const out = await dream(runner, wide, layer('inception_3b/output'), settings);
    // Horizontal gradient energy of the dreamed detail, per column: a seam would be a column
    // (a tile border at 64, 128, 192) much stronger than the typical one.
    const col = new Float64Array(wide.width - 1);
    for (let y = 0; y < wide.height; y++) {
      for (let x = 0; x < wide.width - 1; x++) {
        for (let k = 0; k < 3; k++) {
          const i = (y * wide.width + x) * 3 + k;
          const d0 = out.data[i]! - wide.data[i]!;
          const d1 = out.data[i + 3]! - wide.data[i + 3]!;
          col[x]! += Math.abs(d1 - d0);
        }
      }
    }
    const sorted = [...col].sort((a, b) => a - b);
    const median = sorted[Math.floor(sorted.length / 2)]!;
    for (const border of [63, 127, 191]) expect(col[border]! / median).toBeLessThan(2);
    expect(await dreamGain(runner, wide, out, layer('inception_3b/output'))).toBeGreaterThan(1.5);
  });
});

describe('dreaming in worker threads', () => {
  it('uses a pool of workers and gives the same gain as one thread', async () => {
    const runner = await createRunner({ backend: 'wasm', workers: 2 });
    try {
      expect(runner.parallelism).toBe(2);
      const photo = await readImage(join(SHARED_IMAGES, 'dog.jpg'), { width: 224, height: 160 });
      const objective = layer('inception_4c/output');
      const out = await dream(runner, photo, objective, { ...DEFAULT_DREAM, octaves: 2, iterations: 4 });
      expect(await dreamGain(runner, photo, out, objective)).toBeGreaterThan(2);
      await expect(runner.features(photo, 'no_such_layer')).rejects.toThrow();
    } finally {
      await runner.close();
    }
  });
});
