import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DARKNET_DATA, FIXTURE_PHOTOS, imageFolder } from '../bench/fixtures/paths.js';
import { ROOT, SHARED_IMAGES, tempDir } from './helpers/paths.js';

// The SHA-256 of the sample photos of Debian's darknet package (0.0.0+git20180914.61c9d02e-2,
// /usr/share/darknet/data), which ../shared/images holds byte for byte.
const DARKNET_SHA256: Record<string, string> = {
  'dog.jpg': '5a9522051c3cec2bbd2f6323fccba32e8fbf3ddcc2b3e2fd46b04c720bc6f866',
  'eagle.jpg': 'f95f57297fd51a6c5ddceb5ed6916fa759d1d65f402fee34c05b31a9608755c0',
  'horses.jpg': 'c8f0a677a1356569e2ce71d2fa88c1030c0ae57ecf5e14170e02d9a86a20dcb4',
  'kite.jpg': '87410f52f79cc256c3949b48a3548632c07c8e9943468ef8caa6250f6643be8e',
};

describe('test fixtures', () => {
  it('finds the photos in $DREAMFLOW_IMAGES, else ../shared/images, else Debian darknet data', () => {
    const root = '/src/dreamflow';
    const shared = resolve(root, '..', 'shared', 'images');
    const only = (...dirs: string[]) => (path: string): boolean => dirs.some((d) => path.startsWith(`${d}/`));
    expect(imageFolder({ DREAMFLOW_IMAGES: '/mine' }, root, only(shared, DARKNET_DATA))).toBe('/mine');
    expect(imageFolder({}, root, only(shared, DARKNET_DATA))).toBe(shared);
    expect(imageFolder({}, root, only(DARKNET_DATA))).toBe(DARKNET_DATA);
    // A shared folder missing one photo is passed over for one that holds them all.
    expect(imageFolder({}, root, (p) => (p.startsWith(shared) ? !p.endsWith('kite.jpg') : p.startsWith(DARKNET_DATA)))).toBe(DARKNET_DATA);
    // Found nowhere: the folder npm test provisions, so a missing file names it.
    expect(imageFolder({}, root, () => false)).toBe(DARKNET_DATA);
  });

  it('reads the darknet sample photos, byte for byte', () => {
    for (const name of FIXTURE_PHOTOS) {
      expect(createHash('sha256').update(readFileSync(join(SHARED_IMAGES, name))).digest('hex'), name).toBe(DARKNET_SHA256[name]);
    }
  });

  it('the dependency check stops with one line naming a missing photo or model', () => {
    const empty = tempDir();
    const script = join(ROOT, 'scripts', 'test-deps.mjs');
    const photos = spawnSync(process.execPath, [script], { env: { ...process.env, DREAMFLOW_IMAGES: empty }, encoding: 'utf8' });
    expect(photos.status).toBe(1);
    expect(photos.stderr.trim().split('\n')).toEqual([
      `npm test: DREAMFLOW_IMAGES=${empty} lacks dog.jpg, eagle.jpg, horses.jpg, kite.jpg; unset it to use Debian's darknet photos (${DARKNET_DATA})`,
    ]);
    const weights = spawnSync(process.execPath, [script], { env: { ...process.env, DREAMFLOW_WEIGHTS: empty, XDG_CACHE_HOME: empty }, encoding: 'utf8' });
    expect(weights.status).toBe(1);
    const lines = weights.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^npm test needs the weights of bvlc_googlenet and squeezenet, not found in DREAMFLOW_WEIGHTS=.*npx dreamflow models pull bvlc_googlenet/);
  });
});
