import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../src/paths.js';

/** A real photo from the shared images ($DREAMFLOW_IMAGES, else ../shared/images beside the checkout). */
export function sharedImage(name: string): string {
  return join(process.env['DREAMFLOW_IMAGES'] ?? join(packageRoot(), '..', 'shared', 'images'), name);
}

/** Where and on what a benchmark ran: figures mean nothing without the machine. */
export function machine(): Record<string, unknown> {
  const c = cpus();
  return { cpu: c[0]?.model ?? 'unknown', cores: c.length, memoryGB: Math.round(totalmem() / 2 ** 30), node: process.version, platform: process.platform };
}

export function writeResult(name: string, result: Record<string, unknown>): string {
  const dir = join(packageRoot(), 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${name}.json`);
  writeFileSync(path, JSON.stringify({ benchmark: name, date: new Date().toISOString(), machine: machine(), ...result }, null, 2) + '\n');
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
