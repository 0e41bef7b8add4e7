/**
 * The output guard: what every command that writes files checks before any work, in one place
 * (docs/architecture.md, "Outputs"; SECURITY.md):
 * - the output is none of the job's inputs (after resolving links; bind mounts by device and
 *   inode), so the dream never replaces what it is made from;
 * - its name fits the file system and its folder exists and takes files (writable.ts);
 * - an existing output is replaced only with -y/--overwrite (asked on a terminal, as ffmpeg
 *   does; -n never replaces);
 * - a lock file beside it (`.NAME.lock`, created with O_EXCL, holding the pid) keeps a second
 *   run off the same output; a lock whose pid is dead is taken over.
 */
import { closeSync, existsSync, linkSync, openSync, readFileSync, realpathSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { UserError, writeError } from '../errors.js';
import { besideOutput, NAME_MAX_BYTES } from '../paths.js';
import { checkWritableFolder, existingAncestor } from './writable.js';

/** What to do with an output that exists: ask on a terminal (default), replace it (-y), never (-n). */
export type OverwritePolicy = 'ask' | 'yes' | 'no';

export interface GuardedOutput {
  path: string;
  /** A folder of outputs (stills): it may exist; the files in it are checked by the job. */
  folder?: boolean | undefined;
  /** It may exist without -y: the job continues it (--resume of an unfinished run). */
  continues?: boolean | undefined;
  /** Take no lock (a second output of the same job, locked through its first). */
  noLock?: boolean | undefined;
}

export interface GuardOptions {
  /** Files the job reads: no output may be one of them. */
  inputs: ReadonlyArray<string | undefined>;
  overwrite: OverwritePolicy;
}

/** One file, however it is named: device and inode when it exists, else its resolved path. */
function fileIdentity(path: string): string {
  try {
    const s = statSync(path);
    return `${s.dev}:${s.ino}`;
  } catch {
    try {
      return realpathSync(path);
    } catch {
      return resolve(path);
    }
  }
}

/** Throw one line unless `path`'s name (and the hidden names derived from it) fit the file system. */
export function checkOutputName(path: string): void {
  const name = basename(path);
  const bytes = Buffer.byteLength(name);
  if (name === '' || name === '.' || name === '..') throw new UserError(`${JSON.stringify(path)} names a folder, not an output file`);
  if (bytes > NAME_MAX_BYTES) {
    throw new UserError(`output name too long: ${bytes} bytes (file systems take at most ${NAME_MAX_BYTES}): ${JSON.stringify(name.slice(0, 40))}…`);
  }
  if (Buffer.byteLength(resolve(path)) > 4095) throw new UserError(`output path too long (more than 4095 bytes): ${JSON.stringify(path.slice(0, 40))}…`);
}

/**
 * Does `pid` name a running dreamflow? (EPERM: it runs, as another user.) Where /proc tells more,
 * a zombie (killed, not yet reaped) is dead, and so is a process whose command line is no
 * dreamflow's: its pid was reused after the run that locked died.
 */
function alive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    if (/\)\s+Z\b/.test(stat)) return false;
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    if (cmdline !== '' && !cmdline.includes('dreamflow')) return false;
  } catch {
    // No /proc (macOS) or no rights: the signal check is the answer.
  }
  return true;
}

/** The lock file of an output: beside it, in its resolved folder. */
export function lockPathFor(output: string): string {
  return besideOutput(output, '.lock');
}

/**
 * Take the lock of `output`, or throw one line naming the run that holds it. The pid is written
 * to a temp file first and linked into place, so a lock is never seen half written.
 */
function takeLock(output: string): string {
  const lock = lockPathFor(output);
  const temp = `${lock}.${process.pid}`;
  try {
    const fd = openSync(temp, 'w');
    try {
      writeSync(fd, `${process.pid}\n`);
    } finally {
      closeSync(fd);
    }
  } catch (err) {
    try {
      unlinkSync(temp);
    } catch {
      // Never created.
    }
    throw writeError(err, lock) ?? err;
  }
  try {
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        linkSync(temp, lock);
        return lock;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      let holder = NaN;
      try {
        holder = Number.parseInt(readFileSync(lock, 'utf8'), 10);
      } catch {
        continue; // Removed meanwhile: try again.
      }
      if (holder !== process.pid && alive(holder)) {
        throw new UserError(`${output} is being written by another dreamflow run (pid ${holder}); wait for it to end or write to another file`);
      }
      // A dead run's lock (or our own from an earlier job of this process): take it over.
      try {
        unlinkSync(lock);
      } catch {
        // Someone else took it over first: the next link says who holds it.
      }
    }
    throw new UserError(`cannot lock ${output}: its lock file ${lock} keeps changing`);
  } finally {
    try {
      unlinkSync(temp);
    } catch {
      // Already gone.
    }
  }
}

function releaseLock(lock: string): void {
  try {
    if (Number.parseInt(readFileSync(lock, 'utf8'), 10) === process.pid) unlinkSync(lock);
  } catch {
    // Gone already.
  }
}

/** Ask on the terminal, ffmpeg's way; anything but y/yes is no. */
async function askOverwrite(path: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = await new Promise<string>((done) => {
      rl.question(`File '${path}' already exists. Overwrite? [y/N] `, done);
      rl.once('close', () => done(''));
    });
    return /^y(es)?$/i.test(answer.trim());
  } finally {
    rl.close();
  }
}

/**
 * Refuse, or ask about, replacing existing files: -n never replaces, -y always does, otherwise a
 * terminal is asked and anything else is told to add -y. Exit code 2 when not replaced.
 */
export async function confirmReplace(paths: readonly string[], policy: OverwritePolicy): Promise<void> {
  const existing = paths.filter((p) => existsSync(p));
  if (existing.length === 0 || policy === 'yes') return;
  const first = existing[0]!;
  const more = existing.length > 1 ? ` (and ${existing.length - 1} more)` : '';
  if (policy === 'no') throw new UserError(`${first}${more} already exists; not replaced (-n)`);
  if (!process.stdin.isTTY) throw new UserError(`${first}${more} already exists: add -y (--overwrite) to replace it, or -n to never replace`);
  for (const p of existing) {
    if (!(await askOverwrite(p))) throw new UserError(`not overwriting ${p}`);
  }
}

/** Outputs claimed by this process, released on exit (a second Ctrl-C exits without the job's finally). */
const held = new Set<string>();
process.once('exit', () => {
  for (const lock of held) releaseLock(lock);
});

/** The claim on a job's outputs: release it when the job ends, however it ends. */
export class OutputClaim {
  constructor(private readonly locks: string[]) {}

  release(): void {
    for (const lock of this.locks.splice(0)) {
      releaseLock(lock);
      held.delete(lock);
    }
  }
}

/**
 * Check every output of a job before any work (the list at the top of this file) and lock them.
 * Throws one line (exit 2) for the first problem; nothing is locked then.
 */
export async function guardOutputs(outputs: readonly GuardedOutput[], opts: GuardOptions): Promise<OutputClaim> {
  const inputs = new Map<string, string>();
  for (const i of opts.inputs) if (i !== undefined) inputs.set(fileIdentity(i), i);
  const seen = new Map<string, string>();
  for (const o of outputs) {
    checkOutputName(o.path);
    const input = inputs.get(fileIdentity(o.path));
    if (input !== undefined) {
      throw new UserError(`${o.path} is the input ${input}: write the dream to another ${o.folder ? 'folder' : 'file'} (the input would be lost)`);
    }
    const key = resolve(o.path);
    const twice = seen.get(key);
    if (twice !== undefined) throw new UserError(`${o.path} is written twice by this job (also as ${twice}): give each output its own name`);
    seen.set(key, o.path);
    if (o.folder) {
      checkWritableFolder(existingAncestor(o.path), o.path);
      continue;
    }
    let isFolder = false;
    try {
      isFolder = statSync(o.path).isDirectory();
    } catch {
      // Not there yet.
    }
    if (isFolder) throw new UserError(`cannot write ${o.path}: it is a folder`);
    checkWritableFolder(dirname(resolve(o.path)), o.path);
  }
  await confirmReplace(
    outputs.filter((o) => !o.folder && !o.continues).map((o) => o.path),
    opts.overwrite,
  );
  const locks: string[] = [];
  const claim = new OutputClaim(locks);
  try {
    for (const o of outputs) {
      // A folder that does not exist yet is made inside the job; its lock needs the parent.
      if (o.noLock || (o.folder && !existsSync(dirname(resolve(o.path))))) continue;
      const lock = takeLock(o.path);
      locks.push(lock);
      held.add(lock);
    }
  } catch (err) {
    claim.release();
    throw err;
  }
  return claim;
}

/** The policy of -y/--overwrite and -n/--no-overwrite (both given is a mistake). */
export function overwritePolicy(yes: boolean, no: boolean): OverwritePolicy {
  if (yes && no) throw new UserError('give either -y (--overwrite) or -n (--no-overwrite), not both');
  return yes ? 'yes' : no ? 'no' : 'ask';
}
