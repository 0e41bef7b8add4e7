#!/usr/bin/env node
// Run by `npm test` before the suite: the tests drive real programs that npm cannot install,
// Debian's Chromium (the viewer page), redis-server and openssl (the farm, also over TLS).
// Present: nothing to do.
// Missing: installed with apt-get when this user may (root, or password-less sudo), else the
// suite is not started and one line says the command to run. Argument arrays only, no shell.
import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

const PACKAGES = [
  { program: process.env.CHROMIUM_PATH || 'chromium', pkg: 'chromium', why: 'the viewer-page test' },
  { program: 'redis-server', pkg: 'redis-server', why: 'the farm tests' },
  { program: 'openssl', pkg: 'openssl', why: 'the farm test over TLS (a self-signed certificate)' },
];

function found(program) {
  const candidates = program.includes('/') ? [program] : (process.env.PATH ?? '').split(delimiter).filter(Boolean).map((d) => join(d, program));
  return candidates.some((path) => {
    try {
      accessSync(path, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

function run(command, args) {
  const r = spawnSync(command, args, { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  return r.status === 0;
}

const missing = PACKAGES.filter((p) => !found(p.program));
if (missing.length === 0) process.exit(0);

const names = missing.map((p) => p.pkg);
const hint = `apt-get install -y --no-install-recommends ${names.join(' ')}`;
const asRoot = process.getuid?.() === 0;
const sudo = !asRoot && found('sudo') && run('sudo', ['-n', 'true']);
if (!found('apt-get') || !(asRoot || sudo)) {
  process.stderr.write(`npm test needs ${missing.map((p) => `${p.pkg} (${p.why})`).join(' and ')}; install with: sudo ${hint}\n`);
  process.exit(1);
}
const prefix = asRoot ? [] : ['sudo', '-n'];
const apt = (args) => (prefix.length ? run(prefix[0], [...prefix.slice(1), 'apt-get', ...args]) : run('apt-get', args));
process.stderr.write(`npm test: installing ${names.join(' and ')} (apt-get) for ${missing.map((p) => p.why).join(' and ')}\n`);
if (!apt(['update', '-qq']) || !apt(['install', '-y', '-qq', '--no-install-recommends', ...names])) {
  process.stderr.write(`npm test: apt-get could not install ${names.join(' and ')}; run: sudo ${hint}\n`);
  process.exit(1);
}
const still = missing.filter((p) => !found(p.program));
if (still.length > 0) {
  process.stderr.write(`npm test: ${still.map((p) => p.program).join(' and ')} still not found after apt-get; set CHROMIUM_PATH or PATH\n`);
  process.exit(1);
}
