import { editDistance, UserError } from '../errors.js';
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
  throw new UserError(
    `unknown layer "${name}" in ${manifest.name}; did you mean ${nearestLayers(manifest, name).join(', ')}? (dreamflow layers lists them)`,
  );
}

/**
 * Suggestions for a misspelt layer: block outputs are matched by their short name too
 * (`inception_4cc` → `inception_4c/output`) and win ties, since they are what people dream with.
 */
function nearestLayers(manifest: ModelManifest, wanted: string): string[] {
  const w = wanted.toLowerCase();
  const scored = dreamableLayers(manifest).map((l) => {
    const block = l.name.replace(/\/(output|concat)$/, '');
    const isBlock = block !== l.name;
    return { name: l.name, d: Math.min(editDistance(w, l.name.toLowerCase()), editDistance(w, block.toLowerCase())) - (isBlock ? 0.5 : 0) };
  });
  scored.sort((a, b) => a.d - b.d);
  return scored.slice(0, 3).map((s) => s.name);
}
