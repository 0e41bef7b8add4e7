/**
 * No Docker engine runs here, so the GPU image is checked for what can be checked without one:
 * what it copies exists, what it runs exists, and its versions match the project's.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from './helpers/paths.js';

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
    for (const needed of ['package.json', 'package-lock.json', 'tsconfig.json', '.npmrc', 'bin', 'src', 'models']) expect(sources).toContain(needed);
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
    expect(health).toMatch(/\/healthz/);
    expect(readFileSync(join(ROOT, 'src', 'server', 'hub.ts'), 'utf8')).toMatch(/['"]\/healthz['"]/);
  });
});
