import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../src/paths.js';
import { imageFolder } from './fixtures/paths.js';

/** A real photo ($DREAMFLOW_IMAGES, ../shared/images beside the checkout, or Debian's darknet data: fixtures/paths.ts). */
export function sharedImage(name: string): string {
  return join(imageFolder(), name);
}

/** Where and on what a benchmark ran: figures mean nothing without the machine. */
export function machine(): Record<string, unknown> {
  const c = cpus();
  return { cpu: c[0]?.model ?? 'unknown', cores: c.length, memoryGB: Math.round(totalmem() / 2 ** 30), node: process.version, platform: process.platform };
}

/** Write `bench/results/NAME.json`; the parts named in `keep` (set by addToResult) stay. */
export function writeResult(name: string, result: Record<string, unknown>, keep: readonly string[] = []): string {
  const dir = join(packageRoot(), 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${name}.json`);
  const existing = existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>) : {};
  const kept = Object.fromEntries(keep.filter((k) => existing[k] !== undefined).map((k) => [k, existing[k]]));
  writeFileSync(path, JSON.stringify({ benchmark: name, date: new Date().toISOString(), machine: machine(), ...result, ...kept }, null, 2) + '\n');
  return path;
}

/**
 * Set one part (`key`) of an existing result file, keeping the rest: a benchmark's separate
 * cases (the live look, the hour-long soak) sit beside its main figures in one file.
 */
export function addToResult(name: string, key: string, result: Record<string, unknown>): string {
  const path = join(packageRoot(), 'bench', 'results', `${name}.json`);
  const existing = existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>) : { benchmark: name };
  mkdirSync(join(packageRoot(), 'bench', 'results'), { recursive: true });
  writeFileSync(path, JSON.stringify({ ...existing, [key]: { date: new Date().toISOString(), machine: machine(), ...result } }, null, 2) + '\n');
  return path;
}

/** Median of `runs` timed calls after `warmup` untimed ones, in seconds. */
export async function timeIt(f: () => unknown | Promise<unknown>, runs = 3, warmup = 1): Promise<number> {
  for (let i = 0; i < warmup; i++) await f();
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    await f();
    times.push((performance.now() - t) / 1000);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)]!;
}

export const round = (x: number, digits = 3): number => Number(x.toFixed(digits));

/** CPU time of this process (all threads) over wall time: 2.0 means both cores busy. */
export function cpuMeter(): () => number {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  return () => {
    const c = process.cpuUsage(c0);
    return (c.user + c.system) / 1000 / (performance.now() - t0);
  };
}
