/**
 * The viewer page: one self-contained HTML file (no frameworks, no external URLs) kept as
 * src/server/viewer.html. It is read from the package folder, which is the same whether this
 * module runs from src/ (tests) or dist/src/ (built), so the HTML needs no build step.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../paths.js';

let cached: Buffer | undefined;

export function viewerPagePath(): string {
  return join(packageRoot(), 'src', 'server', 'viewer.html');
}

export function viewerPage(): Buffer {
  cached ??= readFileSync(viewerPagePath());
  return cached;
}

let cachedClean: Buffer | undefined;

/** The clean view (`/view`, `/?view=clean`): only the picture, no HUD or controls in its DOM. */
export function cleanPage(): Buffer {
  cachedClean ??= readFileSync(join(packageRoot(), 'src', 'server', 'clean.html'));
  return cachedClean;
}
