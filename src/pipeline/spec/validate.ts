/**
 * Checking a spec against its sections' fields: a pipeline file's (`validateSpec`, every problem
 * named by its field path and flag), and one value's (`problemWith`, which flags use too).
 */
import { UserError, nearestNames } from '../../errors.js';
import { scheduleProblem } from '../schedule.js';
import type { FieldSpec, FieldValue, PipelineSpec, SectionName } from './fields.js';
import { sourceKindOf } from './settings.js';
import { sinksFor } from '../sinkRegistry.js';
import { stageProblems } from '../stageRegistry.js';
import { SOURCE_RULES, sectionSpec, sections } from './kinds.js';

function typeName(v: unknown): string {
  if (v === undefined) return 'nothing';
  return Array.isArray(v) ? 'an array' : v === null ? 'null' : typeof v === 'object' ? 'an object' : `${typeof v} ${JSON.stringify(v)}`;
}

export function expected(field: FieldSpec): string {
  if (field.values) return `one of ${field.values.join(', ')}`;
  const base = { string: 'a string', number: 'a number', integer: 'a whole number', boolean: 'true or false', strings: 'an array of strings', keyframes: 'an object of FIELD: [[seconds, value], ...]' }[field.kind];
  if (field.min !== undefined && field.max !== undefined) return `${base} from ${field.min} to ${field.max}`;
  if (field.min !== undefined) return `${base} of at least ${field.min}`;
  return base;
}

/** What is wrong with a value for a field (type, range, own check), or undefined. */
export function problemWith(field: FieldSpec, v: unknown): string | undefined {
  let fits: boolean;
  switch (field.kind) {
    case 'string':
      fits = typeof v === 'string' && (!field.values || field.values.includes(v));
      break;
    case 'number':
      fits = typeof v === 'number' && Number.isFinite(v);
      break;
    case 'integer':
      fits = typeof v === 'number' && Number.isInteger(v);
      break;
    case 'boolean':
      fits = typeof v === 'boolean';
      break;
    case 'strings':
      fits = Array.isArray(v) && v.every((s) => typeof s === 'string');
      break;
    case 'keyframes': {
      const problem = scheduleProblem(v);
      if (problem) return problem;
      fits = true;
      break;
    }
  }
  if (fits && typeof v === 'number') fits = (field.min === undefined || v >= field.min) && (field.max === undefined || v <= field.max);
  if (!fits) return `expected ${expected(field)}, got ${typeName(v)}`;
  return field.check?.(v as FieldValue);
}

/** `stages[0].iterations (--iterations)`: where a field is, and the flag that sets it. */
function where(path: string, field: FieldSpec): string {
  return field.flag ? `${path}.${field.name} (--${field.flag})` : `${path}.${field.name}`;
}

function validateSection(value: unknown, section: SectionName, path: string, errors: string[]): void {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    errors.push(`${path}: expected an object with a "kind", got ${typeName(value)}`);
    return;
  }
  const obj = value as Record<string, unknown>;
  const kinds = sections()
    .filter((s) => s.section === section)
    .map((s) => s.kind);
  const noun = section === 'stages' ? 'stage' : section === 'sinks' ? 'sink' : 'source';
  if (typeof obj.kind !== 'string') {
    errors.push(`${path}.kind: expected one of ${kinds.join(', ')}, got ${typeName(obj.kind)}`);
    return;
  }
  const spec = sectionSpec(section, obj.kind);
  if (!spec) {
    errors.push(`${path}.kind: unknown ${noun} "${obj.kind}" (expected one of ${kinds.join(', ')})`);
    return;
  }
  for (const [name, v] of Object.entries(obj)) {
    if (name === 'kind') continue;
    const field = spec.fields.find((x) => x.name === name);
    if (!field) {
      const known = spec.fields.map((x) => x.name);
      errors.push(`${path}.${name}: unknown field of a ${spec.kind} ${noun} (did you mean ${nearestNames(name, known, 2).join(' or ')}?)`);
      continue;
    }
    const problem = problemWith(field, v);
    if (problem) errors.push(`${where(path, field)}: ${problem}`);
  }
  for (const field of spec.fields) {
    if (field.required && obj[field.name] === undefined) errors.push(`${where(path, field)}: required (${field.help})`);
  }
  if (section === 'source' && obj.kind === 'image' && obj.path === undefined && obj.from === undefined) {
    errors.push(`${path}.path: required (an image file, or "from": "noise" or "gray")`);
  }
}

/** Stage order and source/stage/sink compatibility, as field-path errors. */
function checkGraph(spec: PipelineSpec, errors: string[]): void {
  const source = sourceKindOf(spec);
  const rules = SOURCE_RULES[source];
  // What each stage kind follows and feeds on is its module's to say (stageRegistry.ts).
  errors.push(...stageProblems(spec.stages.map((s) => s.kind), source));
  const allowed = [...rules.sinks, ...sinksFor(source)];
  const sinks = new Set<string>();
  spec.sinks.forEach((s, i) => {
    if (sinks.has(s.kind)) errors.push(`sinks[${i}]: a second ${s.kind} sink`);
    else if (!allowed.includes(s.kind)) errors.push(`sinks[${i}]: a ${source} source cannot feed a ${s.kind} sink (it takes ${allowed.join(', ')})`);
    sinks.add(s.kind);
  });
  for (const k of rules.requiredSinks) if (!sinks.has(k)) errors.push(`sinks: a ${source} pipeline needs a ${k} sink`);
}

/** A document with no problems found is a spec: every section and field passed its check above. */
function isSpec(_doc: Record<string, unknown>, errors: readonly string[]): _doc is Record<string, unknown> & PipelineSpec {
  return errors.length === 0;
}

/**
 * Check a parsed JSON document; every problem names the field's path and its flag, e.g.
 * `stages[0].iterations (--iterations): expected a whole number from 0 to 10000, got string "ten"`.
 */
export function validateSpec(doc: unknown, label = 'pipeline'): PipelineSpec {
  const errors: string[] = [];
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new UserError(`${label}: expected a JSON object with source, stages and sinks`);
  const obj = doc as Record<string, unknown>;
  for (const key of Object.keys(obj)) {
    if (!['source', 'stages', 'sinks', 'description', '$schema'].includes(key)) errors.push(`${key}: unknown field (a pipeline has source, stages, sinks and description)`);
  }
  if (obj.description !== undefined && typeof obj.description !== 'string') errors.push(`description: expected a string, got ${typeName(obj.description)}`);
  validateSection(obj.source, 'source', 'source', errors);
  for (const name of ['stages', 'sinks'] as const) {
    const list = obj[name];
    if (!Array.isArray(list)) errors.push(`${name}: expected an array, got ${typeName(list)}`);
    else list.forEach((item, i) => validateSection(item, name, `${name}[${i}]`, errors));
  }
  if (isSpec(obj, errors)) checkGraph(obj, errors);
  if (!isSpec(obj, errors)) throw new UserError(`${label}: ${errors.join('; ')}`);
  const { $schema: _schema, ...spec } = obj;
  return spec;
}
