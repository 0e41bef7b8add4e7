#!/usr/bin/env node
// Run by `npm test` before the suite: the tests drive real programs that npm cannot install,
// Debian's Chromium (the viewer page), redis-server and openssl (the farm, also over TLS), and
// read real photos, the sample photos of Debian's `darknet` package (its data folder).
// Present: nothing to do.
// Missing: installed with apt-get when this user may (root, or password-less sudo), else the
// suite is not started and one line says the command to run. Argument arrays only, no shell.
// The model weights are not an apt package: missing ones stop the suite with one line saying
// where to put them (DREAMFLOW_WEIGHTS) or how to fetch them (dreamflow models pull).
import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '..');

// The photos and the folders they are looked in, in the order of bench/fixtures/paths.ts
// (imageFolder): $DREAMFLOW_IMAGES, ../shared/images, then Debian's darknet data folder.
const PHOTOS = ['dog.jpg', 'eagle.jpg', 'horses.jpg', 'kite.jpg'];
const DARKNET_DATA = '/usr/share/darknet/data';
const holdsPhotos = (dir) => PHOTOS.every((name) => existsSync(join(dir, name)));
const photosGiven = process.env.DREAMFLOW_IMAGES;
if (photosGiven && !holdsPhotos(photosGiven)) {
  const absent = PHOTOS.filter((name) => !existsSync(join(photosGiven, name)));
  process.stderr.write(`npm test: DREAMFLOW_IMAGES=${photosGiven} lacks ${absent.join(', ')}; unset it to use Debian's darknet photos (${DARKNET_DATA})\n`);
  process.exit(1);
}
const photosFound = () => Boolean(photosGiven) || [resolve(ROOT, '..', 'shared', 'images'), DARKNET_DATA].some(holdsPhotos);

const SWIFTSHADER_DIR = '/usr/lib/chromium';
const SWIFTSHADER_FILES = ['vk_swiftshader_icd.json', 'libvk_swiftshader.so', 'libvulkan.so.1'];

const PACKAGES = [
  { program: process.env.CHROMIUM_PATH || 'chromium', pkg: 'chromium', why: 'the viewer-page test' },
  { program: 'redis-server', pkg: 'redis-server', why: 'the farm tests' },
  { program: 'openssl', pkg: 'openssl', why: 'the farm test over TLS (a self-signed certificate)' },
  { program: `${DARKNET_DATA}/{${PHOTOS.join(',')}}`, pkg: 'darknet', why: 'the real photos the tests dream', present: photosFound },
  // SwiftShader (a software Vulkan driver) and the Vulkan loader, in Chromium's library folder:
  // the WebGPU tests' adapter (test/webgpu.test.ts; src/engine/onnx/vulkan.ts finds it).
  { program: `${SWIFTSHADER_DIR}/{${SWIFTSHADER_FILES.join(',')}}`, pkg: 'chromium-common', why: 'the WebGPU tests (SwiftShader, a software GPU adapter)', present: () => SWIFTSHADER_FILES.every((f) => existsSync(join(SWIFTSHADER_DIR, f))) },
];

/** Model folders missing from where the tests look (test/setup.ts): $DREAMFLOW_WEIGHTS, else ../shared/weights, else the user cache. */
function missingWeights() {
  const roots = [process.env.DREAMFLOW_WEIGHTS || resolve(ROOT, '..', 'shared', 'weights'), join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'dreamflow')];
  const models = readdirSync(join(ROOT, 'models')).filter((n) => n.endsWith('.json')).map((n) => JSON.parse(readFileSync(join(ROOT, 'models', n), 'utf8')));
  const complete = (dir, m) => m.files.every((f) => {
    try {
      return statSync(join(dir, f.path)).size === f.bytes;
    } catch {
      return false;
    }
  });
  return models.filter((m) => !roots.some((root) => complete(join(root, m.name), m) || complete(root, m))).map((m) => m.name);
}

const weightsMissing = missingWeights();
if (weightsMissing.length > 0) {
  const where = process.env.DREAMFLOW_WEIGHTS ? `DREAMFLOW_WEIGHTS=${process.env.DREAMFLOW_WEIGHTS}` : resolve(ROOT, '..', 'shared', 'weights');
  process.stderr.write(`npm test needs the weights of ${weightsMissing.join(' and ')}, not found in ${where} or the user cache: set DREAMFLOW_WEIGHTS=DIR or run: ${weightsMissing.map((m) => `npx dreamflow models pull ${m}`).join(' && ')}\n`);
  process.exit(1);
}
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

const present = (p) => (p.present ? p.present() : found(p.program));
const missing = PACKAGES.filter((p) => !present(p));
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
const still = missing.filter((p) => !present(p));
if (still.length > 0) {
  process.stderr.write(`npm test: ${still.map((p) => p.program).join(' and ')} still not found after apt-get; set CHROMIUM_PATH or PATH\n`);
  process.exit(1);
}
