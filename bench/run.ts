/**
 * `npm run bench [-- NAME ...]`: run the benchmarks (all by default) and write their JSON under
 * bench/results/. Benchmarks are measurements, never tests: nothing here passes or fails.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { packageRoot } from '../src/paths.js';

const shared = resolve(packageRoot(), '..', 'shared', 'weights');
if (!process.env.DREAMFLOW_WEIGHTS && existsSync(shared)) process.env.DREAMFLOW_WEIGHTS = shared;

const BENCHES: Record<string, () => Promise<Record<string, unknown>>> = {
  engine: async () => (await import('./engine.js')).benchEngine(),
  video: async () => (await import('./video.js')).benchVideo(),
  live: async () => (await import('./live.js')).benchLive(),
  farm: async () => (await import('./farm.js')).benchFarm(),
  vr: async () => (await import('./vr.js')).benchVr(),
  gpu: async () => (await import('./gpu.js')).benchGpu(),
};

const wanted = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const names = wanted.length > 0 ? wanted : Object.keys(BENCHES);
for (const name of names) {
  const bench = BENCHES[name];
  if (!bench) {
    process.stderr.write(`bench: unknown benchmark "${name}" (have ${Object.keys(BENCHES).join(', ')})\n`);
    process.exit(2);
  }
  const t = performance.now();
  const result = await bench();
  process.stderr.write(`bench ${name}: done in ${((performance.now() - t) / 1000).toFixed(0)} s\n`);
  console.log(JSON.stringify({ [name]: result }, null, 2));
}
process.exit(0);
