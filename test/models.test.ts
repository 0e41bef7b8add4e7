import { createServer, type Server } from 'node:http';
import { createReadStream, existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join, normalize } from 'node:path';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UserError } from '../src/errors.js';
import { dreamableLayers, resolveLayer } from '../src/models/catalog.js';
import { loadManifest } from '../src/models/manifest.js';
import { cacheRoot, downloadWeights, locateWeights, pullWeights, verifiedFiles } from '../src/models/weights.js';
import { runCli } from './helpers/cli.js';
import { SHARED_WEIGHTS, tempDir } from './helpers/paths.js';

/** A static file server on 127.0.0.1 standing in for the published weights host. */
function serve(root: string, corrupt?: string): Promise<{ server: Server; url: string; hits: () => number }> {
  let hits = 0;
  const server = createServer((req, res) => {
    hits++;
    const rel = normalize(decodeURIComponent(new URL(req.url!, 'http://x').pathname)).replace(/^\/+/, '');
    const path = join(root, rel);
    if (!path.startsWith(root) || !existsSync(path) || !statSync(path).isFile()) {
      res.writeHead(404).end();
      return;
    }
    if (corrupt && rel.endsWith(corrupt)) {
      const size = statSync(path).size;
      res.writeHead(200, { 'content-length': size }).end(Buffer.alloc(size, 1));
      return;
    }
    res.writeHead(200, { 'content-length': statSync(path).size });
    createReadStream(path).pipe(res);
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve({ server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, hits: () => hits })),
  );
}

describe('weights lookup', () => {
  const saved = { ...process.env };
  let cache: string;
  beforeAll(() => {
    cache = tempDir();
    process.env.XDG_CACHE_HOME = cache;
  });
  afterAll(() => {
    process.env = saved;
  });

  it('takes --weights first, then DREAMFLOW_WEIGHTS, then the user cache', async () => {
    const m = loadManifest('squeezenet');
    expect(await locateWeights(m, { weightsDir: SHARED_WEIGHTS, download: false })).toBe(join(SHARED_WEIGHTS, 'squeezenet'));
    process.env.DREAMFLOW_WEIGHTS = SHARED_WEIGHTS;
    expect(await locateWeights(m, { download: false })).toBe(join(SHARED_WEIGHTS, 'squeezenet'));
    delete process.env.DREAMFLOW_WEIGHTS;
    await expect(locateWeights(m, { download: false })).rejects.toThrow(/dreamflow models pull squeezenet/);
    await expect(locateWeights(m, { weightsDir: cache, download: false })).rejects.toThrow(UserError);
  });

  it('downloads from a server with SHA-256 verification into the cache, then finds it there', async () => {
    delete process.env.DREAMFLOW_WEIGHTS;
    const m = loadManifest('squeezenet');
    const { server, url, hits } = await serve(SHARED_WEIGHTS);
    try {
      const progress: number[] = [];
      const dir = await locateWeights(m, { baseUrl: url, onProgress: (done) => progress.push(done) });
      expect(dir).toBe(join(cacheRoot(), 'squeezenet'));
      expect(hits()).toBe(m.files.length);
      expect(progress[progress.length - 1]).toBe(m.files.reduce((s, f) => s + f.bytes, 0));
      // Found in the cache now: no further requests.
      expect(await locateWeights(m, { baseUrl: url })).toBe(dir);
      expect(hits()).toBe(m.files.length);
    } finally {
      server.close();
    }
  });

  it('refuses a corrupted download and leaves nothing that looks finished', async () => {
    const other = tempDir();
    process.env.XDG_CACHE_HOME = other;
    const m = loadManifest('squeezenet');
    const { server, url } = await serve(SHARED_WEIGHTS, 'fire5/squeeze1x1_filter.bin');
    try {
      await expect(downloadWeights(m, { baseUrl: url })).rejects.toThrow(/checksum mismatch/);
      expect(existsSync(join(other, 'dreamflow', 'squeezenet'))).toBe(false);
      expect(existsSync(join(other, 'dreamflow')) ? readdirSync(join(other, 'dreamflow')) : []).toEqual([]);
    } finally {
      server.close();
      process.env.XDG_CACHE_HOME = cache;
    }
  });

  it('says where to put the files when the host cannot be reached', async () => {
    const other = tempDir();
    process.env.XDG_CACHE_HOME = other;
    mkdirSync(join(other, 'dreamflow'), { recursive: true });
    writeFileSync(join(other, 'dreamflow', 'unrelated'), 'x');
    await expect(locateWeights(loadManifest('squeezenet'), { baseUrl: 'http://127.0.0.1:9/' })).rejects.toThrow(
      /cannot download .*DREAMFLOW_WEIGHTS/,
    );
    process.env.XDG_CACHE_HOME = cache;
  });
});

describe('models pull', () => {
  const saved = { ...process.env };
  afterAll(() => {
    process.env = saved;
  });

  it('reports a complete, verified DREAMFLOW_WEIGHTS folder and fetches nothing', async () => {
    process.env.XDG_CACHE_HOME = tempDir();
    process.env.DREAMFLOW_WEIGHTS = SHARED_WEIGHTS;
    const m = loadManifest('squeezenet');
    const { server, url, hits } = await serve(SHARED_WEIGHTS);
    try {
      expect(await pullWeights(m, { baseUrl: url })).toEqual({ dir: join(SHARED_WEIGHTS, 'squeezenet'), fetched: 0, kept: m.files.length, origin: 'env' });
      expect(hits()).toBe(0);
      const r = await runCli(['models', 'pull', 'squeezenet', '--from', url], { env: { DREAMFLOW_WEIGHTS: SHARED_WEIGHTS, XDG_CACHE_HOME: process.env.XDG_CACHE_HOME } });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout.trim()).toBe(`squeezenet: complete, all ${m.files.length} files verified (SHA-256) in ${join(SHARED_WEIGHTS, 'squeezenet')} (DREAMFLOW_WEIGHTS); nothing to download`);
      expect(hits()).toBe(0);
    } finally {
      server.close();
    }
  });

  it('--from fetches only what the cache lacks or holds corrupted', async () => {
    const cache = tempDir();
    delete process.env.DREAMFLOW_WEIGHTS;
    const m = loadManifest('squeezenet');
    const { server, url, hits } = await serve(SHARED_WEIGHTS);
    const pull = () => runCli(['models', 'pull', 'squeezenet', '--from', url], { env: { DREAMFLOW_WEIGHTS: '', XDG_CACHE_HOME: cache } });
    try {
      const first = await pull();
      expect(first.code, first.stderr).toBe(0);
      expect(hits()).toBe(m.files.length);
      const dir = join(cache, 'dreamflow', 'squeezenet');
      expect(first.stdout).toContain(`squeezenet: ${m.files.length} file(s) downloaded and 0 kept, all ${m.files.length} verified (SHA-256) in ${dir}`);
      // Again: verified in the cache, not one request.
      const again = await pull();
      expect(again.stdout).toContain('nothing to download');
      expect(hits()).toBe(m.files.length);
      // One file damaged (same size): only that one is fetched again.
      const damaged = m.files[3]!;
      writeFileSync(join(dir, damaged.path), Buffer.alloc(damaged.bytes, 7));
      const mend = await pull();
      expect(mend.code, mend.stderr).toBe(0);
      expect(mend.stdout).toContain(`squeezenet: 1 file(s) downloaded and ${m.files.length - 1} kept`);
      expect(hits()).toBe(m.files.length + 1);
      expect((await verifiedFiles(dir, m)).size).toBe(m.files.length);
    } finally {
      server.close();
    }
  });
});

describe('model manifests', () => {
  it('resolve block names and suggest near misses', () => {
    const g = loadManifest('googlenet');
    expect(resolveLayer(g, 'inception_4c').name).toBe('inception_4c/output');
    expect(resolveLayer(loadManifest('squeezenet'), 'fire5').name).toBe('fire5/concat');
    expect(() => resolveLayer(g, 'inception_4cc/output')).toThrow(/did you mean inception_4c\/output/);
    expect(() => loadManifest('googlnet')).toThrow(/did you mean/);
  });

  it('list dreamable layers with channel counts', () => {
    const layers = dreamableLayers(loadManifest('bvlc_googlenet'));
    expect(layers.find((l) => l.name === 'inception_4c/output')?.channels).toBe(512);
    expect(layers.find((l) => l.name === 'inception_5b/output')?.channels).toBe(1024);
    expect(layers.some((l) => l.name === 'prob')).toBe(false);
  });
});
