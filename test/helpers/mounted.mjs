// Run as `unshare -rm node mounted.mjs PLAN.json` (its own user and mount namespace, so nothing
// outside it changes, even if the test dies): mounts small or read-only tmpfs file systems over
// the plan's folders, then runs the built CLI once per step (remounting or filling a folder
// first when the step asks), and writes each step's exit code, output, time and the files left
// in the mounted folders to the plan's report, which lies outside the mounts. Root ignores
// permission bits, so a real file system is the only way to test a read-only or full disk.
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** @type {{ bin: string, report: string, mounts: Array<{ dir: string, options: string }>, steps: Array<{ args: string[], remount?: Array<{ dir: string, options: string }>, fill?: string[], timeoutMs?: number }> }} */
const plan = JSON.parse(readFileSync(process.argv[2], 'utf8'));

for (const m of plan.mounts) execFileSync('mount', ['-t', 'tmpfs', '-o', m.options, 'tmpfs', m.dir]);

/** Every file under `dir`, relative, with its size (hidden ones included). */
function list(dir, prefix = '') {
  const out = {};
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    const info = statSync(path);
    if (info.isDirectory()) Object.assign(out, { [`${prefix}${name}/`]: 0 }, list(path, `${prefix}${name}/`));
    else out[`${prefix}${name}`] = info.size;
  }
  return out;
}

const results = [];
for (const step of plan.steps) {
  for (const r of step.remount ?? []) execFileSync('mount', ['-o', `remount,${r.options}`, r.dir]);
  for (const dir of step.fill ?? []) {
    try {
      writeFileSync(join(dir, 'filler'), Buffer.alloc(64 * 1024 * 1024));
    } catch {
      // Expected: the write runs until the file system is full, which is the point.
    }
  }
  const started = Date.now();
  const r = spawnSync(process.execPath, [plan.bin, ...step.args], { encoding: 'utf8', timeout: step.timeoutMs ?? 120_000 });
  results.push({
    code: r.status,
    signal: r.signal,
    stdout: r.stdout,
    stderr: r.stderr,
    ms: Date.now() - started,
    files: Object.fromEntries(plan.mounts.map((m) => [m.dir, list(m.dir)])),
  });
}
writeFileSync(plan.report, JSON.stringify(results));
