/** The JSON Schema of pipeline files (`dreamflow run --schema`), generated from the sections' fields. */
import type { FieldSpec, SectionName } from './fields.js';
import { sections } from './kinds.js';

/** A JSON Schema (draft 2020-12) of pipeline files, for editors; generated from the same table. */
export function jsonSchema(): Record<string, unknown> {
  const property = (field: FieldSpec): Record<string, unknown> => {
    const base: Record<string, unknown> = { description: `${field.help}${field.flag ? ` (--${field.flag})` : ' (the positional argument)'}` };
    if (field.kind === 'strings') return { ...base, type: 'array', items: { type: 'string' } };
    if (field.kind === 'keyframes') {
      const keyframe = { type: 'array', prefixItems: [{ type: 'number', minimum: 0 }, { type: ['number', 'string'] }], minItems: 2, maxItems: 2 };
      return { ...base, type: 'object', additionalProperties: { type: 'array', minItems: 1, items: keyframe } };
    }
    if (field.values) return { ...base, enum: field.values };
    return { ...base, type: field.kind, ...(field.min !== undefined ? { minimum: field.min } : {}), ...(field.max !== undefined ? { maximum: field.max } : {}) };
  };
  const variants = (section: SectionName): Array<Record<string, unknown>> =>
    sections()
      .filter((s) => s.section === section).map((s) => ({
      type: 'object',
      description: s.help,
      properties: { kind: { const: s.kind }, ...Object.fromEntries(s.fields.map((x) => [x.name, property(x)])) },
      required: ['kind', ...s.fields.filter((x) => x.required).map((x) => x.name)],
      additionalProperties: false,
    }));
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    title: 'dreamflow pipeline',
    type: 'object',
    properties: {
      $schema: { type: 'string' },
      description: { type: 'string' },
      source: { oneOf: variants('source') },
      stages: { type: 'array', items: { oneOf: variants('stages') } },
      sinks: { type: 'array', items: { oneOf: variants('sinks') } },
    },
    required: ['source', 'stages', 'sinks'],
    additionalProperties: false,
  };
}
