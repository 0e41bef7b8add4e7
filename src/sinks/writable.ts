/**
 * Can an output be written where the user asked? Checked before any dreaming: a read-only file
 * system, a folder without rights or a full disk would otherwise be found only when the first
 * file is written, minutes or hours in. Root ignores permission bits, so the only real answer is
 * to try: a small hidden probe file is written in the folder and removed.
 */
import { closeSync, existsSync, openSync, statfsSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { UserError, writeProblem } from '../errors.js';

/**
 * Bytes the probe writes: one file-system block. Creating an empty file succeeds on a full disk
 * (only an inode is needed); writing a block does not.
 */
const PROBE_BYTES = 4096;

/** Whole bytes, in the largest unit that keeps them readable ("1.5 MB"). */
export function formatBytes(bytes: number): string {
  const units = ['bytes', 'kB', 'MB', 'GB', 'TB'];
  let v = bytes;
  let u = 0;
  while (v >= 1000 && u < units.length - 1) {
    v /= 1000;
    u++;
  }
  return u === 0 ? `${Math.round(v)} bytes` : `${v.toFixed(v < 10 ? 1 : 0)} ${units[u]}`;
}

/**
 * Throw a one-line UserError unless files can be created and written in `folder` (which must
 * exist), and, with `needBytes`, unless it has at least that much free space. `output` names the
 * file the user asked for, for the message.
 */
export function checkWritableFolder(folder: string, output: string, needBytes = 0): void {
  if (!existsSync(folder) || !statSync(folder).isDirectory()) throw new UserError(`output folder does not exist: ${folder}`);
  const probe = resolve(folder, `.dreamflow-probe-${process.pid}`);
  let fd: number | undefined;
  try {
    fd = openSync(probe, 'wx');
    writeSync(fd, new Uint8Array(PROBE_BYTES));
  } catch (err) {
    const problem = writeProblem(err);
    if (problem === undefined) throw err;
    throw new UserError(`cannot write ${output}: ${problem} (${folder})`);
  } finally {
    if (fd !== undefined) closeSync(fd);
    try {
      unlinkSync(probe);
    } catch {
      // Never created (read-only, no rights): nothing to remove.
    }
  }
  if (needBytes > 0) {
    const fs = statfsSync(folder);
    const free = fs.bavail * fs.bsize;
    if (free < needBytes) {
      throw new UserError(`cannot write ${output}: ${formatBytes(free)} free in ${folder}, at least ${formatBytes(needBytes)} needed to start`);
    }
  }
}

/**
 * The folder a not yet existing output folder would be created in: its nearest existing ancestor
 * (`mkdir -p` creates the rest there).
 */
export function existingAncestor(folder: string): string {
  let dir = resolve(folder);
  while (!existsSync(dir)) {
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return dir;
}
