/** The spec with every default written out (`--print-config`): what will run. */
import type { PipelineSpec, SectionConfig, SectionName } from './fields.js';
import { sectionSpec } from './kinds.js';
import { filled, sourceKindOf } from './settings.js';

/** The spec with every default written out (`--print-config`): what will run. */
export function withDefaults(spec: PipelineSpec): PipelineSpec {
  const source = sourceKindOf(spec);
  const fill = (sectionName: SectionName, item: SectionConfig): SectionConfig => filled(sectionSpec(sectionName, item.kind)!, item, source);
  const filledSource = fill('source', spec.source);
  const stages = spec.stages.map((stage) => {
    const out = fill('stages', stage);
    // What a kind adds once its defaults are in (a dream stage's live look and default layer).
    sectionSpec('stages', stage.kind)?.complete?.(out, stage, filledSource);
    return out;
  });
  return {
    ...(spec.description ? { description: spec.description } : {}),
    source: filledSource,
    stages,
    sinks: spec.sinks.map((sink) => fill('sinks', sink)),
  };
}

/** A section of the spec with its defaults filled, when its kind is one of the spec's (else as given). */
export function sectionWithDefaults(spec: PipelineSpec, sectionName: SectionName, item: SectionConfig): SectionConfig {
  const section = sectionSpec(sectionName, item.kind);
  return section ? filled(section, item, sourceKindOf(spec)) : item;
}
