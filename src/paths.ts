import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, extname, join, resolve } from 'node:path';
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

/**
 * Longest file name, in bytes, that the usual file systems take (ext4, xfs, btrfs, APFS): a
 * longer one fails with ENAMETOOLONG. The output guard refuses such outputs in one line
 * (docs/architecture.md, "Outputs").
 */
export const NAME_MAX_BYTES = 255;

/** Bytes of an output's name kept in the hidden names derived from it (temp files, work folders, locks). */
const STEM_BUDGET = 180;

/**
 * The part of an output's name that its hidden siblings (`.NAME.partial-PID.mp4`,
 * `.NAME.dreamflow/`, `.NAME.lock`) are named after: the name itself when it is short and
 * plain, else its first bytes with control characters replaced and a hash of the whole name, so
 * a 240-byte name still leaves room for the suffix and a name with a newline never reaches an
 * ffmpeg concat list, which is read line by line (docs/architecture.md, "Outputs").
 */
export function hiddenStem(name: string): string {
  const plain = name.replace(/[\u0000-\u001f\u007f]/g, '_');
  if (plain === name && Buffer.byteLength(name) <= STEM_BUDGET) return name;
  const hash = createHash('sha256').update(name).digest('hex').slice(0, 8);
  let kept = plain;
  while (Buffer.byteLength(kept) > STEM_BUDGET - 9) kept = kept.slice(0, -1);
  return `${kept}~${hash}`;
}

/**
 * A hidden file or folder beside `output`, in the output's resolved folder (so a rename into
 * place is atomic and ffmpeg finds it whatever its working folder): `.` + hiddenStem(NAME) +
 * `suffix`, where NAME is the output's name without its extension when `dropExtension`.
 */
export function besideOutput(output: string, suffix: string, dropExtension = false): string {
  const name = basename(output);
  const stem = dropExtension ? basename(output, extname(output)) : name;
  return join(dirname(resolve(output)), `.${hiddenStem(stem)}${suffix}`);
}
