import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let root: string | undefined;

/**
 * The package's top folder (where package.json, models/ and samples/ live). Found by walking up
 * from this file, so it works from src/ under vitest and from dist/src/ when built.
 */
export function packageRoot(): string {
  if (root) return root;
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('dreamflow: cannot find package.json above ' + fileURLToPath(import.meta.url));
    dir = up;
  }
  root = dir;
  return dir;
}

/** The compiled twin of a module: workers must load JavaScript even when tests run TypeScript. */
export function compiledPath(relativeToRoot: string): string {
  return join(packageRoot(), 'dist', relativeToRoot.replace(/\.ts$/, '.js'));
}

let version: string | undefined;

/** dreamflow's version, from its package.json. */
export function dreamflowVersion(): string {
  version ??= (JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;
  return version;
}
