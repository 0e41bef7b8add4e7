/**
 * One temp folder for the whole run: every test's temp folders, and those of the processes the
 * tests start (they inherit TMPDIR), go inside it, and it is removed when the run ends, so a run
 * leaves nothing in the machine's temp folder however its tests end.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export default function setup(): () => void {
  const dir = mkdtempSync(join(tmpdir(), 'dreamflow-run-'));
  const previous = process.env.TMPDIR;
  process.env.TMPDIR = dir;
  return () => {
    if (previous === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = previous;
    rmSync(dir, { recursive: true, force: true });
  };
}
