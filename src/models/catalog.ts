import { nearestNames, UserError } from '../errors.js';
import type { LayerSpec, ModelManifest } from './manifest.js';

export interface DreamableLayer {
  name: string;
  type: LayerSpec['type'];
  channels: number;
  /** Position in the network (0 = first): deeper layers give more object-like dreams. */
  depth: number;
}

/** Layers whose activations make sense as dream objectives: everything before the classifier. */
export function dreamableLayers(manifest: ModelManifest): DreamableLayer[] {
  const out: DreamableLayer[] = [];
  manifest.layers.forEach((l, depth) => {
    if (l.type === 'fc' || l.type === 'softmax' || l.type === 'globalavgpool') return;
    out.push({ name: l.name, type: l.type, channels: l.channels, depth });
  });
  return out;
}

/**
 * Resolve a user-typed layer name. `fire5` means `fire5/concat` and `inception_4c` means
 * `inception_4c/output`: the block's output is what people mean by the block.
 */
export function resolveLayer(manifest: ModelManifest, name: string): LayerSpec {
  const candidates = [name, `${name}/output`, `${name}/concat`];
  for (const c of candidates) {
    const layer = manifest.layers.find((l) => l.name === c);
    if (layer) return layer;
  }
  const names = manifest.layers.map((l) => l.name);
  throw new UserError(
    `unknown layer "${name}" in ${manifest.name}; did you mean ${nearestNames(name, names).join(', ')}? (dreamflow layers lists them)`,
  );
}
