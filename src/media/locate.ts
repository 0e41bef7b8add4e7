/**
 * Finding ffmpeg and ffprobe.
 *
 * Order: environment (`FFMPEG_PATH` / `FFPROBE_PATH`) → the first executable on `PATH` → the
 * binaries bundled by `@ffmpeg-installer/ffmpeg` and `@ffprobe-installer/ffprobe`.
 * A system ffmpeg wins over the bundled one because it is usually newer and maintained; the
 * bundled one (a 2018 4.x static build) exists so that `npm install` alone is enough.
 */
import { spawn } from 'node:child_process';
import { constants as fsConstants } from 'node:fs';
import { access, chmod, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { delimiter, join } from 'node:path';
import { UserError } from '../errors.js';

export type MediaToolName = 'ffmpeg' | 'ffprobe';

export interface LocatedTool {
  /** Absolute (or as given) path of the executable. */
  path: string;
  /** Where it was found. */
  origin: 'env' | 'path' | 'bundled';
}

export interface MediaTools {
  ffmpeg: LocatedTool;
  ffprobe: LocatedTool;
  /**
   * ffmpeg ≥ 5.1 spells "emit every frame once, keep timestamps" as `-fps_mode passthrough` and
   * deprecates `-vsync 0`; older builds (the bundled one) only know `-vsync`. These are the
   * arguments to use with this ffmpeg.
   */
  passthroughArgs: readonly string[];
}

const ENV_VAR: Record<MediaToolName, string> = { ffmpeg: 'FFMPEG_PATH', ffprobe: 'FFPROBE_PATH' };
const BUNDLE: Record<MediaToolName, string> = {
  ffmpeg: '@ffmpeg-installer/ffmpeg',
  ffprobe: '@ffprobe-installer/ffprobe',
};

let cached: Promise<MediaTools> | undefined;

/** Locate both tools once per process (the promise is cached; a failure is not). */
export function locateTools(): Promise<MediaTools> {
  if (!cached) {
    cached = (async () => {
      const [ffmpeg, ffprobe] = await Promise.all([locateTool('ffmpeg'), locateTool('ffprobe')]);
      return { ffmpeg, ffprobe, passthroughArgs: await passthroughArgsFor(ffmpeg.path) };
    })();
    cached.catch(() => {
      cached = undefined;
    });
  }
  return cached;
}

export async function ffmpegPath(): Promise<string> {
  return (await locateTools()).ffmpeg.path;
}

export async function ffprobePath(): Promise<string> {
  return (await locateTools()).ffprobe.path;
}

/** Forget the cached location (tests that change the environment). */
export function resetToolCache(): void {
  cached = undefined;
}

async function locateTool(name: MediaToolName): Promise<LocatedTool> {
  const envVar = ENV_VAR[name];
  const fromEnv = process.env[envVar];
  if (fromEnv !== undefined && fromEnv !== '') {
    if (!(await isExecutableFile(fromEnv))) {
      throw new UserError(`${envVar}=${fromEnv} is not an executable file`);
    }
    return { path: fromEnv, origin: 'env' };
  }
  const onPath = await findOnPath(name);
  if (onPath) return { path: onPath, origin: 'path' };
  return { path: await bundledTool(name), origin: 'bundled' };
}

async function findOnPath(name: string): Promise<string | undefined> {
  const dirs = (process.env.PATH ?? '').split(delimiter).filter((d) => d !== '');
  const exe = process.platform === 'win32' ? `${name}.exe` : name;
  for (const dir of dirs) {
    const candidate = join(dir, exe);
    if (await isExecutableFile(candidate)) return candidate;
  }
  return undefined;
}

async function bundledTool(name: MediaToolName): Promise<string> {
  const pkg = BUNDLE[name];
  let binary: string;
  try {
    // The installer packages are CommonJS and throw (sometimes a bare string) when the
    // platform binary is missing, so load them through require inside a try.
    const require = createRequire(import.meta.url);
    const mod = require(pkg) as { path?: unknown };
    if (typeof mod.path !== 'string') throw new Error('no path exported');
    binary = mod.path;
  } catch (err) {
    throw new UserError(
      `${name} not found: set ${ENV_VAR[name]}, install ${name} on PATH, or reinstall ${pkg} (${describe(err)})`,
    );
  }
  await ensureExecutable(binary, name);
  return binary;
}

/**
 * npm 11 can skip an installer's postinstall, leaving the bundled binary without its execute
 * bit: add it (0o755), or explain how to fix it.
 */
export async function ensureExecutable(binary: string, name: MediaToolName): Promise<void> {
  if (await isExecutableFile(binary)) return;
  try {
    await chmod(binary, 0o755);
  } catch (err) {
    throw new UserError(
      `bundled ${name} at ${binary} is not executable and chmod failed (${describe(err)}); ` +
        `run: chmod +x ${binary}, or set ${ENV_VAR[name]}`,
    );
  }
  if (!(await isExecutableFile(binary))) {
    throw new UserError(`bundled ${name} at ${binary} is still not executable; run: chmod +x ${binary}`);
  }
}

async function isExecutableFile(file: string): Promise<boolean> {
  try {
    const s = await stat(file);
    if (!s.isFile()) return false;
    await access(file, fsConstants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Decide between `-fps_mode passthrough` and `-vsync 0` from libavutil's version, which every
 * build prints (release numbers like "6.1" are missing from git snapshots such as the bundled
 * "N-47683-…"). `-fps_mode` arrived in ffmpeg 5.1 = libavutil 57.28.
 */
async function passthroughArgsFor(ffmpeg: string): Promise<readonly string[]> {
  const version = await new Promise<string>((resolve) => {
    // Its own process group, like every ffmpeg here (docs/architecture.md, child processes).
    const child = spawn(ffmpeg, ['-hide_banner', '-version'], { stdio: ['ignore', 'pipe', 'ignore'], detached: true });
    let text = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (s: string) => (text += s));
    child.on('error', () => resolve(''));
    child.on('close', () => resolve(text));
  });
  const m = /libavutil\s+(\d+)\.\s*(\d+)\./.exec(version);
  if (m) {
    const major = Number(m[1]);
    const minor = Number(m[2]);
    if (major > 57 || (major === 57 && minor >= 28)) return ['-fps_mode', 'passthrough'];
  }
  return ['-vsync', '0'];
}

function describe(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
