import { join, resolve } from 'node:path';

export const ROOT = resolve(import.meta.dirname, '..', '..');
export { SHARED_IMAGES, tempDir } from '../../bench/fixtures/paths.js';
/** The pretrained weights (test/setup.ts points DREAMFLOW_WEIGHTS at ../shared/weights when unset). */
export const SHARED_WEIGHTS = process.env['DREAMFLOW_WEIGHTS'] ?? resolve(ROOT, '..', 'shared', 'weights');
export const SAMPLES = join(ROOT, 'samples');
export const BIN = join(ROOT, 'bin', 'dreamflow.js');
