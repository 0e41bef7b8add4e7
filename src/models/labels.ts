import { nearestNames, UserError } from '../errors.js';
import { loadLabels, type ModelManifest } from './manifest.js';

/** The classifier's two ends: the logits (before softmax) and the probabilities. */
export interface ClassifierLayers {
  logits: string;
  probability: string;
}

/** Found from the manifest's softmax layer, whose input is the logits layer. */
export function classifierLayers(manifest: ModelManifest): ClassifierLayers {
  const softmax = manifest.layers.find((l) => l.type === 'softmax');
  if (!softmax || softmax.type !== 'softmax') throw new UserError(`${manifest.name} has no classifier to take a class score from`);
  return { logits: softmax.input, probability: softmax.name };
}

/**
 * Every name a class goes by: a label line such as `tabby, tabby cat` has the synonyms `tabby`
 * and `tabby cat`, and the whole line also counts (people paste it).
 */
function namesOf(label: string): string[] {
  const parts = label
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p.length > 0);
  return [label.trim(), ...parts];
}

/**
 * A class index from what the user typed: an index (`281`) or any synonym of a label, ignoring
 * case (`tabby cat`). An unknown name gets the nearest names as suggestions.
 */
export function resolveClass(labels: readonly string[], wanted: string): number {
  const text = wanted.trim();
  if (/^\d+$/.test(text)) {
    const index = Number(text);
    if (index >= labels.length) throw new UserError(`class ${index} is out of range: the model has classes 0-${labels.length - 1}`);
    return index;
  }
  const key = text.toLowerCase();
  const index = labels.findIndex((l) => namesOf(l).some((n) => n.toLowerCase() === key));
  if (index >= 0) return index;
  const synonyms = [...new Set(labels.flatMap((l) => namesOf(l).slice(1)))];
  throw new UserError(`unknown class "${text}"; did you mean ${nearestNames(text, synonyms).map((n) => `"${n}"`).join(', ')}?`);
}

export { loadLabels };
