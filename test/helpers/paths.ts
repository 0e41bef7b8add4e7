import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const ROOT = resolve(import.meta.dirname, '..', '..');
export const SHARED_IMAGES = resolve(ROOT, '..', 'shared', 'images');
export const SHARED_WEIGHTS = resolve(ROOT, '..', 'shared', 'weights');
export const SAMPLES = join(ROOT, 'samples');
export const BIN = join(ROOT, 'bin', 'dreamflow.js');

export function tempDir(prefix = 'dreamflow-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}
