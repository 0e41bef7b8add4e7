/**
 * No Docker engine runs here, so the GPU image is checked for what can be checked without one:
 * what it copies exists, what it runs exists, and its versions match the project's.
 */
import { spawn } from 'node:child_process';
import { cpSync, existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { removeDir } from '../bench/fixtures/clips.js';
import { BIN, ROOT, tempDir } from './helpers/paths.js';

const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
/** Instructions with their continuation lines joined. */
const instructions = dockerfile
  .replace(/\\\n/g, ' ')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l && !l.startsWith('#'));
const of = (keyword: string): string[] => instructions.filter((l) => l.startsWith(`${keyword} `)).map((l) => l.slice(keyword.length + 1).trim());
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string>; bin: Record<string, string> };

describe('Dockerfile', () => {
  it('builds on the CUDA 12 and cuDNN 9 that the default engine’s CUDA provider (onnxruntime-node 1.30) loads', () => {
    const [from] = of('FROM');
    // nvidia/cuda's "cudnn" tags without a number carry cuDNN 9 from CUDA 12.4 on.
    expect(from).toMatch(/^nvidia\/cuda:12\.([4-9]|\d\d)\.\d+-cudnn-runtime-ubuntu2[24]\.04$/);
    const ort = /ARG ONNXRUNTIME_NODE_VERSION=(\S+)/.exec(dockerfile)?.[1];
    expect(ort).toBe(pkg.dependencies['onnxruntime-node']);
    expect(ort).toMatch(/^1\.30\./);
    // The provider libraries are fetched while the image builds, and their presence is checked.
    expect(dockerfile).toMatch(/ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules\/onnxruntime-node\/script\/install/);
    expect(dockerfile).toMatch(/libonnxruntime_providers_cuda\.so/);
    expect(/ARG NODE_VERSION=(\d+)\./.exec(dockerfile)?.[1]).toBe('20');
  });

  it('copies only paths that exist in the repository, and everything the build needs', () => {
    const sources = of('COPY').flatMap((c) => c.split(/\s+/).slice(0, -1));
    for (const s of sources) expect(existsSync(join(ROOT, s)), s).toBe(true);
    for (const needed of ['package.json', 'package-lock.json', 'tsconfig.json', 'bin', 'src', 'models']) expect(sources).toContain(needed);
    // tsconfig compiles every folder it includes: each must be copied.
    const tsconfig = JSON.parse(readFileSync(join(ROOT, 'tsconfig.json'), 'utf8')) as { include: string[] };
    for (const pattern of tsconfig.include) expect(sources).toContain(pattern.split('/')[0]);
  });

  it('runs the dreamflow command as a non-root user, with a health check on the live server', () => {
    expect(of('ENTRYPOINT')).toEqual(['["dreamflow"]']);
    const binLink = /ln -s (\S+) \/usr\/local\/bin\/dreamflow/.exec(dockerfile)?.[1];
    expect(binLink).toBe(`/opt/dreamflow/${pkg.bin.dreamflow}`);
    const bin = join(ROOT, pkg.bin.dreamflow);
    expect(readFileSync(bin, 'utf8').startsWith('#!/usr/bin/env node')).toBe(true);
    expect(statSync(bin).mode & 0o111).not.toBe(0);
    const users = of('USER');
    expect(users.length).toBeGreaterThan(0);
    expect(users.at(-1)).not.toMatch(/^(root|0)$/);
    expect(instructions.findIndex((l) => l.startsWith('USER '))).toBeLessThan(instructions.findIndex((l) => l.startsWith('ENTRYPOINT ')));
    const [health] = of('HEALTHCHECK');
    expect(health).toMatch(/healthz/);
    expect(readFileSync(join(ROOT, 'src', 'server', 'routes.ts'), 'utf8')).toMatch(/['"]\/healthz['"]/);
  });
});

describe('the image build context', () => {
  const copies = of('COPY').map((c) => c.split(/\s+/));
  let dir: string | undefined;
  afterAll(() => removeDir(dir));

  it('builds from exactly the files the Dockerfile copies (npm ci, then the TypeScript build)', async () => {
    dir = tempDir('dreamflow-docker-');
    for (const parts of copies) {
      const target = parts.at(-1)!;
      for (const source of parts.slice(0, -1)) {
        const to = target.endsWith('/') ? join(dir, target, source) : join(dir, target);
        cpSync(join(ROOT, source), to, { recursive: true });
      }
    }
    // What the image's `npm ci` does (its prepare script is the build), here without fetching
    // any install-time binary.
    const ci = await run('npm', ['ci', '--ignore-scripts', '--prefer-offline', '--no-audit', '--no-fund'], dir);
    expect(ci.code, ci.output).toBe(0);
    const build = await run(process.execPath, [join(dir, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], dir);
    expect(build.code, build.output).toBe(0);
    expect(existsSync(join(dir, 'dist', 'src', 'cli', 'main.js'))).toBe(true);
    expect(existsSync(join(dir, 'dist', 'bench', 'run.js'))).toBe(true);
  });

  it('health check finds the live server on whatever --port it listens', async () => {
    const [health] = of('HEALTHCHECK');
    const cmd = JSON.parse(health!.slice(health!.indexOf('CMD') + 3).trim()) as string[];
    expect(cmd[0]).toBe('node');
    const env = /DREAMFLOW_HEALTH_FILE=(\S+)/.exec(dockerfile)?.[1];
    expect(env).toBeDefined();
    const scratch = tempDir('dreamflow-health-');
    const healthFile = join(scratch, 'live.json');
    const check = () => run(process.execPath, cmd.slice(1), scratch, { DREAMFLOW_HEALTH_FILE: healthFile });
    const live = spawn(process.execPath, [BIN, 'live', '--input', 'lavfi:testsrc2', '--size', '96x64', '--fps', '4', '--port', '0', '--octaves', '1', '--iterations', '1', '--quiet'], {
      env: { ...process.env, DREAMFLOW_HEALTH_FILE: healthFile },
      stdio: 'ignore',
    });
    try {
      const until = Date.now() + 60_000;
      while (!existsSync(healthFile) && Date.now() < until) await new Promise((r) => setTimeout(r, 200));
      expect(existsSync(healthFile)).toBe(true);
      expect((await check()).code).toBe(0);
    } finally {
      live.kill('SIGINT');
      await new Promise((r) => live.once('exit', r));
    }
    // Stopped: no server, no health file, unhealthy.
    expect(existsSync(healthFile)).toBe(false);
    expect((await check()).code).toBe(1);
    await removeDir(scratch);
  });
});

function run(command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output: output.slice(-4000) }));
  });
}
