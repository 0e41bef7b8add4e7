import { spawnSync } from 'node:child_process';
import type { OnnxDevice } from './runtime.js';

/**
 * Memory of the device a GPU provider runs on, for sizing whole-frame tiles
 * (docs/architecture.md, "Engines"). CUDA: the first GPU's total as nvidia-smi reports it.
 * WebGPU: ONNX Runtime's Node binding does not expose the adapter's limits, so a modest 4 GiB is
 * assumed (integrated GPUs share less; --tile bounds it).
 */
export const ASSUMED_WEBGPU_MEMORY = 4 * 1024 ** 3;

export function deviceMemoryBytes(device: OnnxDevice): number | undefined {
  if (device === 'cpu') return undefined;
  if (device === 'webgpu') return ASSUMED_WEBGPU_MEMORY;
  const r = spawnSync('nvidia-smi', ['--query-gpu=memory.total', '--format=csv,noheader,nounits'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 10_000 });
  const mib = r.status === 0 && typeof r.stdout === 'string' ? Number(r.stdout.split('\n')[0]) : NaN;
  return Number.isFinite(mib) && mib > 0 ? mib * 1024 ** 2 : undefined;
}
