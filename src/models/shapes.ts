import type { LayerSpec, ModelManifest } from './manifest.js';

/** The inputs a layer reads. */
export function inputsOf(l: LayerSpec): string[] {
  return l.type === 'concat' ? l.inputs : [l.input];
}

/** The layers `targets` depend on, in manifest (topological) order. */
export function neededLayers(manifest: ModelManifest, targets: readonly string[]): LayerSpec[] {
  const byName = new Map(manifest.layers.map((l) => [l.name, l]));
  const needed = new Set<string>();
  const visit = (name: string): void => {
    if (name === 'data' || needed.has(name)) return;
    needed.add(name);
    for (const i of inputsOf(byName.get(name)!)) visit(i);
  };
  targets.forEach(visit);
  return manifest.layers.filter((l) => needed.has(l.name));
}

/** tfjs's padding for a pool: 'same' puts the odd pixel at the end, 'valid' pads nothing. */
export function poolPads(size: number, kernel: number, stride: number, padding: 'same' | 'valid'): { out: number; before: number; after: number } {
  if (padding === 'valid') return { out: Math.floor((size - kernel) / stride) + 1, before: 0, after: 0 };
  const out = Math.ceil(size / stride);
  const total = Math.max((out - 1) * stride + kernel - size, 0);
  const before = Math.floor(total / 2);
  return { out, before, after: total - before };
}

/** Output size of a convolution along one axis. */
export function convOut(size: number, kernel: number, stride: number, pad: number): number {
  return Math.floor((size + 2 * pad - kernel) / stride) + 1;
}

/**
 * [height, width, channels] of every layer `targets` need, for a width×height input (vectors
 * are [1, 1, N]).
 */
export function layerShapes(manifest: ModelManifest, targets: readonly string[], width: number, height: number): Map<string, [number, number, number]> {
  const sizes = new Map<string, [number, number, number]>([['data', [height, width, 3]]]);
  for (const l of neededLayers(manifest, targets)) {
    const inputs = inputsOf(l);
    const [h, w, c] = sizes.get(inputs[0]!)!;
    switch (l.type) {
      case 'conv':
        sizes.set(l.name, [convOut(h, l.kernel, l.stride, l.pad), convOut(w, l.kernel, l.stride, l.pad), l.filters]);
        break;
      case 'maxpool':
        sizes.set(l.name, [poolPads(h, l.kernel, l.stride, l.padding).out, poolPads(w, l.kernel, l.stride, l.padding).out, c]);
        break;
      case 'concat':
        sizes.set(l.name, [h, w, inputs.reduce((s, i) => s + sizes.get(i)![2], 0)]);
        break;
      case 'globalavgpool':
        sizes.set(l.name, [1, 1, c]);
        break;
      case 'fc':
        sizes.set(l.name, [1, 1, l.outputs]);
        break;
      default:
        sizes.set(l.name, [h, w, c]);
    }
  }
  return sizes;
}
