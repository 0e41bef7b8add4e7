import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const ROOT = resolve(import.meta.dirname, '..', '..');
/** Real photos shared beside the repository (not copied into it). */
export const SHARED_IMAGES = process.env['DREAMFLOW_IMAGES'] ?? resolve(ROOT, '..', 'shared', 'images');
/** The pretrained weights (test/setup.ts points DREAMFLOW_WEIGHTS at ../shared/weights when unset). */
export const SHARED_WEIGHTS = process.env['DREAMFLOW_WEIGHTS'] ?? resolve(ROOT, '..', 'shared', 'weights');
export const SAMPLES = join(ROOT, 'samples');
export const BIN = join(ROOT, 'bin', 'dreamflow.js');

/** A fresh temp folder; remove it with removeDir in afterAll. */
export function tempDir(prefix = 'dreamflow-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}
