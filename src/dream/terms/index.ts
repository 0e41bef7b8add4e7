import { channelTerm } from './channel.js';
import { classTerm } from './classScore.js';
import { guideTerm } from './guide.js';
import { layerTerm } from './layer.js';
import { neuronTerm } from './neuron.js';
import type { TermKind } from './term.js';

/**
 * Every kind of objective term, by its `kind`: one line each. The term types, `describe`,
 * `needsWholeImage` and both engines' objectives (objectives.ts, onnxObjective.ts) read this
 * table; docs/architecture.md, "Where to add things".
 */
export const TERM_KINDS = {
  layer: layerTerm,
  channel: channelTerm,
  guide: guideTerm,
  class: classTerm,
  neuron: neuronTerm,
};

type TermOf<K> = K extends TermKind<infer T> ? T : never;
/** Any objective term: the union of the term types of `TERM_KINDS`. */
export type ObjectiveTerm = { [K in keyof typeof TERM_KINDS]: TermOf<(typeof TERM_KINDS)[K]> }[keyof typeof TERM_KINDS];

/** The definition of a term's kind (TypeScript cannot narrow the table's entry by `t.kind` itself). */
export function termKindOf(t: ObjectiveTerm): TermKind<ObjectiveTerm> {
  return TERM_KINDS[t.kind] as TermKind<ObjectiveTerm>;
}
